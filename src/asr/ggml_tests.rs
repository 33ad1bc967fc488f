//! Converter tests on a small synthetic Whisper (1 encoder + 1 decoder layer), written as
//! a real CT2 file and parsed back, then read back from the ggml bytes.

use std::collections::BTreeMap;

use half::f16;

use super::*;
use crate::asr::ct2::{self, Ct2Model, DType, Variable};

const D: u32 = 4;
const MELS: u32 = 3;
const AUDIO_CTX: u32 = 5;
const TEXT_CTX: u32 = 7;
const VOCAB: u32 = 11;

/// An f16 variable whose element `i` (row-major) is `value(row, i)`.
fn f16_var(dims: &[u32], value: impl Fn(usize, usize) -> f32) -> Variable {
    let n: usize = dims.iter().map(|&d| d as usize).product();
    let row_len = if dims.len() > 1 {
        n / dims[0] as usize
    } else {
        1
    };
    let data = (0..n)
        .flat_map(|i| f16::from_f32(value(i / row_len, i)).to_le_bytes())
        .collect();
    Variable {
        dims: dims.to_vec(),
        dtype: DType::F16,
        data,
    }
}

fn seq(dims: &[u32], base: f32) -> Variable {
    f16_var(dims, |_, i| base + (i % 512) as f32 / 4.0)
}

fn scalar(dtype: DType, data: Vec<u8>) -> Variable {
    Variable {
        dims: vec![],
        dtype,
        data,
    }
}

fn add_linear(v: &mut BTreeMap<String, Variable>, name: &str, rows: u32, cols: u32, base: f32) {
    v.insert(format!("{name}/weight"), seq(&[rows, cols], base));
    v.insert(format!("{name}/bias"), seq(&[rows], base + 0.5));
}

fn add_norm(v: &mut BTreeMap<String, Variable>, name: &str, base: f32) {
    v.insert(format!("{name}/gamma"), seq(&[D], base));
    v.insert(format!("{name}/beta"), seq(&[D], -base));
}

/// Fused projection filled with its row index, so each part's rows are recognisable.
fn add_fused(v: &mut BTreeMap<String, Variable>, name: &str, parts: u32) {
    v.insert(
        format!("{name}/weight"),
        f16_var(&[parts * D, D], |row, _| row as f32),
    );
    v.insert(
        format!("{name}/bias"),
        f16_var(&[parts * D], |row, _| 1000.0 + row as f32),
    );
}

pub(crate) fn synthetic() -> Ct2Model {
    let mut v = BTreeMap::new();
    v.insert(
        "encoder/num_heads".into(),
        scalar(DType::I16, 2i16.to_le_bytes().to_vec()),
    );
    v.insert(
        "decoder/num_heads".into(),
        scalar(DType::I16, 2i16.to_le_bytes().to_vec()),
    );
    v.insert("decoder/activation".into(), scalar(DType::I8, vec![3]));
    v.insert("decoder/pre_norm".into(), scalar(DType::I8, vec![1]));
    v.insert(
        "encoder/position_encodings/encodings".into(),
        seq(&[AUDIO_CTX, D], 0.25),
    );
    v.insert("encoder/conv1/weight".into(), seq(&[D, MELS, 3], 1.0));
    v.insert("encoder/conv1/bias".into(), seq(&[D], -3.0));
    v.insert("encoder/conv2/weight".into(), seq(&[D, D, 3], 2.0));
    v.insert("encoder/conv2/bias".into(), seq(&[D], -5.0));
    add_fused(&mut v, "encoder/layer_0/self_attention/linear_0", 3);
    add_linear(&mut v, "encoder/layer_0/self_attention/linear_1", D, D, 3.0);
    add_norm(&mut v, "encoder/layer_0/self_attention/layer_norm", 1.5);
    add_linear(&mut v, "encoder/layer_0/ffn/linear_0", 4 * D, D, 4.0);
    add_linear(&mut v, "encoder/layer_0/ffn/linear_1", D, 4 * D, 5.0);
    add_norm(&mut v, "encoder/layer_0/ffn/layer_norm", 2.5);
    add_norm(&mut v, "encoder/layer_norm", 3.5);

    v.insert(
        "decoder/position_encodings/encodings".into(),
        seq(&[TEXT_CTX, D], 0.75),
    );
    v.insert("decoder/embeddings/weight".into(), seq(&[VOCAB, D], 6.0));
    add_fused(&mut v, "decoder/layer_0/self_attention/linear_0", 3);
    add_linear(&mut v, "decoder/layer_0/self_attention/linear_1", D, D, 7.0);
    add_norm(&mut v, "decoder/layer_0/self_attention/layer_norm", 4.5);
    add_linear(&mut v, "decoder/layer_0/attention/linear_0", D, D, 8.0);
    add_fused(&mut v, "decoder/layer_0/attention/linear_1", 2);
    add_linear(&mut v, "decoder/layer_0/attention/linear_2", D, D, 9.0);
    add_norm(&mut v, "decoder/layer_0/attention/layer_norm", 5.5);
    add_linear(&mut v, "decoder/layer_0/ffn/linear_0", 4 * D, D, 10.0);
    add_linear(&mut v, "decoder/layer_0/ffn/linear_1", D, 4 * D, 11.0);
    add_norm(&mut v, "decoder/layer_0/ffn/layer_norm", 6.5);
    add_norm(&mut v, "decoder/layer_norm", 7.5);

    let mut aliases = BTreeMap::new();
    aliases.insert(
        "decoder/projection/weight".into(),
        "decoder/embeddings/weight".into(),
    );
    // Through the real file format, so the parser and converter are tested together.
    let model = Ct2Model {
        spec: ct2::WHISPER_SPEC.into(),
        revision: ct2::WHISPER_SPEC_REVISION,
        variables: v,
        aliases,
    };
    ct2::read_whisper(&ct2::write(&model)[..]).unwrap()
}

fn vocab() -> Vec<Vec<u8>> {
    vec![
        b"!".to_vec(),
        b" the".to_vec(),
        Vec::new(),
        "场".as_bytes().to_vec(),
    ]
}

/// A tensor read back from a ggml file.
#[derive(Debug)]
struct Written {
    ne: Vec<i32>,
    ttype: i32,
    data: Vec<u8>,
}

struct Parsed {
    hparams: Hparams,
    mel: (i32, i32, Vec<f32>),
    vocab: Vec<Vec<u8>>,
    tensors: Vec<(String, Written)>,
}

fn parse(bytes: &[u8]) -> Parsed {
    let mut at = 0usize;
    let i32_at = |at: &mut usize| {
        let v = i32::from_le_bytes(bytes[*at..*at + 4].try_into().unwrap());
        *at += 4;
        v
    };
    let hparams = Hparams::read(bytes).unwrap().expect("magic");
    at += Hparams::BYTES;
    let (n_mel, n_fft) = (i32_at(&mut at), i32_at(&mut at));
    let mel = (0..(n_mel * n_fft) as usize)
        .map(|k| f32::from_le_bytes(bytes[at + 4 * k..at + 4 * k + 4].try_into().unwrap()))
        .collect();
    at += (n_mel * n_fft) as usize * 4;
    let count = i32_at(&mut at);
    let mut vocab = Vec::new();
    for _ in 0..count {
        let len = i32_at(&mut at) as usize;
        vocab.push(bytes[at..at + len].to_vec());
        at += len;
    }
    let mut tensors = Vec::new();
    while at < bytes.len() {
        let n_dims = i32_at(&mut at);
        let name_len = i32_at(&mut at) as usize;
        let ttype = i32_at(&mut at);
        let ne: Vec<i32> = (0..n_dims).map(|_| i32_at(&mut at)).collect();
        let name = String::from_utf8(bytes[at..at + name_len].to_vec()).unwrap();
        at += name_len;
        let elem = if ttype == 0 { 4 } else { 2 };
        let len = ne.iter().product::<i32>() as usize * elem;
        tensors.push((
            name,
            Written {
                ne,
                ttype,
                data: bytes[at..at + len].to_vec(),
            },
        ));
        at += len;
    }
    Parsed {
        hparams,
        mel: (n_mel, n_fft, mel),
        vocab,
        tensors,
    }
}

fn converted() -> (Summary, Parsed) {
    let mut out = Vec::new();
    let summary = convert(&synthetic(), &vocab(), &mut out).unwrap();
    (summary, parse(&out))
}

fn tensor<'p>(p: &'p Parsed, name: &str) -> &'p Written {
    &p.tensors
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no {name}"))
        .1
}

fn f32s(data: &[u8]) -> Vec<f32> {
    data.chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

fn f16s(data: &[u8]) -> Vec<f32> {
    data.chunks_exact(2)
        .map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32())
        .collect()
}

#[test]
fn header_carries_the_model_shape() {
    let (summary, p) = converted();
    let expected = Hparams {
        n_vocab: VOCAB as i32,
        n_audio_ctx: AUDIO_CTX as i32,
        n_audio_state: D as i32,
        n_audio_head: 2,
        n_audio_layer: 1,
        n_text_ctx: TEXT_CTX as i32,
        n_text_state: D as i32,
        n_text_head: 2,
        n_text_layer: 1,
        n_mels: MELS as i32,
        ftype: 1,
    };
    assert_eq!(p.hparams, expected);
    assert_eq!(summary.hparams, expected);
    assert!(!expected.is_multilingual());
}

#[test]
fn mel_filterbank_and_vocabulary_follow_the_header() {
    let (_, p) = converted();
    assert_eq!((p.mel.0, p.mel.1), (MELS as i32, 201));
    assert_eq!(
        p.mel.2,
        crate::asr::mel::mel_filters(16000, 400, MELS as usize)
    );
    assert_eq!(p.vocab, vocab());
}

#[test]
fn writes_exactly_the_tensors_whisper_cpp_allocates() {
    let (summary, p) = converted();
    // 7 + 15 per encoder layer + 4 + 24 per decoder layer.
    assert_eq!(summary.tensors, 7 + 15 + 4 + 24);
    assert_eq!(p.tensors.len(), summary.tensors);
    let mut names: Vec<&str> = p.tensors.iter().map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), summary.tensors, "duplicate tensor names");
    assert!(names.iter().all(|n| !n.ends_with("key.bias")));
    assert!(names.iter().all(|n| !n.contains("projection")));
    for name in [
        "encoder.positional_embedding",
        "encoder.blocks.0.attn.key.weight",
        "encoder.blocks.0.mlp.2.bias",
        "encoder.ln_post.bias",
        "decoder.token_embedding.weight",
        "decoder.blocks.0.cross_attn.value.bias",
        "decoder.blocks.0.cross_attn_ln.weight",
        "decoder.ln.weight",
    ] {
        assert!(names.contains(&name), "missing {name}");
    }
}

#[test]
fn dims_are_written_innermost_first() {
    let (_, p) = converted();
    let d = D as i32;
    assert_eq!(tensor(&p, "encoder.conv1.weight").ne, [3, MELS as i32, d]);
    assert_eq!(tensor(&p, "encoder.conv1.bias").ne, [1, d]);
    assert_eq!(
        tensor(&p, "decoder.token_embedding.weight").ne,
        [d, VOCAB as i32]
    );
    assert_eq!(tensor(&p, "encoder.blocks.0.mlp.0.weight").ne, [d, 4 * d]);
    assert_eq!(tensor(&p, "decoder.blocks.0.mlp.2.weight").ne, [4 * d, d]);
    assert_eq!(tensor(&p, "decoder.ln.bias").ne, [d]);
}

#[test]
fn matrices_stay_f16_byte_for_byte() {
    let model = synthetic();
    let (_, p) = converted();
    for (to, from) in [
        (
            "decoder.token_embedding.weight",
            "decoder/embeddings/weight",
        ),
        ("encoder.conv2.weight", "encoder/conv2/weight"),
        (
            "decoder.blocks.0.mlp.0.weight",
            "decoder/layer_0/ffn/linear_0/weight",
        ),
    ] {
        let t = tensor(&p, to);
        assert_eq!(t.ttype, 1, "{to}");
        assert_eq!(t.data, model.variables[from].data, "{to}");
    }
}

#[test]
fn vectors_positions_and_conv_biases_are_widened_to_f32() {
    let model = synthetic();
    let (_, p) = converted();
    for (to, from) in [
        (
            "encoder.positional_embedding",
            "encoder/position_encodings/encodings",
        ),
        (
            "decoder.positional_embedding",
            "decoder/position_encodings/encodings",
        ),
        ("encoder.conv1.bias", "encoder/conv1/bias"),
        ("encoder.conv2.bias", "encoder/conv2/bias"),
        (
            "encoder.blocks.0.attn_ln.weight",
            "encoder/layer_0/self_attention/layer_norm/gamma",
        ),
        (
            "encoder.blocks.0.attn_ln.bias",
            "encoder/layer_0/self_attention/layer_norm/beta",
        ),
        (
            "decoder.blocks.0.attn.out.bias",
            "decoder/layer_0/self_attention/linear_1/bias",
        ),
        ("decoder.ln.weight", "decoder/layer_norm/gamma"),
    ] {
        let t = tensor(&p, to);
        assert_eq!(t.ttype, 0, "{to}");
        assert_eq!(f32s(&t.data), f16s(&model.variables[from].data), "{to}");
    }
}

#[test]
fn fused_projections_split_by_rows_without_key_bias() {
    let (_, p) = converted();
    let d = D as usize;
    let rows = |name: &str| -> Vec<f32> {
        f16s(&tensor(&p, name).data)
            .chunks(d)
            .map(|r| r[0])
            .collect()
    };
    for prefix in ["encoder.blocks.0.attn", "decoder.blocks.0.attn"] {
        assert_eq!(
            rows(&format!("{prefix}.query.weight")),
            [0.0, 1.0, 2.0, 3.0]
        );
        assert_eq!(rows(&format!("{prefix}.key.weight")), [4.0, 5.0, 6.0, 7.0]);
        assert_eq!(
            rows(&format!("{prefix}.value.weight")),
            [8.0, 9.0, 10.0, 11.0]
        );
        assert_eq!(
            f32s(&tensor(&p, &format!("{prefix}.query.bias")).data),
            [1000.0, 1001.0, 1002.0, 1003.0]
        );
        assert_eq!(
            f32s(&tensor(&p, &format!("{prefix}.value.bias")).data),
            [1008.0, 1009.0, 1010.0, 1011.0]
        );
    }
    let cross = "decoder.blocks.0.cross_attn";
    assert_eq!(rows(&format!("{cross}.key.weight")), [0.0, 1.0, 2.0, 3.0]);
    assert_eq!(rows(&format!("{cross}.value.weight")), [4.0, 5.0, 6.0, 7.0]);
    assert_eq!(
        f32s(&tensor(&p, &format!("{cross}.value.bias")).data),
        [1004.0, 1005.0, 1006.0, 1007.0]
    );
}

fn convert_err(model: &Ct2Model) -> (ConvertError, Vec<u8>) {
    let mut out = Vec::new();
    let err = convert(model, &vocab(), &mut out).unwrap_err();
    (err, out)
}

#[test]
fn a_missing_variable_is_named_and_nothing_is_written() {
    let mut model = synthetic();
    model
        .variables
        .remove("decoder/layer_0/attention/linear_2/bias");
    let (err, out) = convert_err(&model);
    match err {
        ConvertError::Missing { name } => {
            assert_eq!(name, "decoder/layer_0/attention/linear_2/bias")
        }
        other => panic!("expected Missing, got {other:?}"),
    }
    assert!(out.is_empty());
}

#[test]
fn quantised_or_misshapen_models_are_rejected() {
    let mut int8 = synthetic();
    let w = int8
        .variables
        .get_mut("encoder/layer_0/ffn/linear_0/weight")
        .unwrap();
    w.dtype = DType::I8;
    w.data.truncate(w.data.len() / 2);
    let (err, out) = convert_err(&int8);
    assert!(
        matches!(err, ConvertError::Unexpected { ref name, .. } if name.ends_with("ffn/linear_0/weight")),
        "{err:?}"
    );
    assert!(out.is_empty());

    let mut narrow = synthetic();
    narrow.variables.insert(
        "encoder/layer_0/ffn/linear_0/weight".into(),
        seq(&[3 * D, D], 0.0),
    );
    assert!(matches!(
        convert_err(&narrow).0,
        ConvertError::Unexpected { .. }
    ));

    let mut gap = synthetic();
    let moved: Vec<(String, Variable)> = gap
        .variables
        .iter()
        .filter(|(k, _)| k.starts_with("decoder/layer_0/"))
        .map(|(k, v)| (k.replace("layer_0", "layer_1"), v.clone()))
        .collect();
    gap.variables
        .retain(|k, _| !k.starts_with("decoder/layer_0/"));
    gap.variables.extend(moved);
    assert!(matches!(
        convert_err(&gap).0,
        ConvertError::Unexpected { .. }
    ));
}

#[test]
fn header_reader_rejects_other_files() {
    assert_eq!(Hparams::read(&[0u8; Hparams::BYTES][..]).unwrap(), None);
    assert!(Hparams::read(&MAGIC.to_le_bytes()[..]).is_err());
}

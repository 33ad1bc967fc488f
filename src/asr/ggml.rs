//! Writes whisper.cpp's legacy ggml model file from a parsed CT2 Whisper model.
//!
//! File layout (little endian, i32 fields, no padding): magic, eleven hyperparameters,
//! the mel filterbank (n_mel, n_bins, f32 matrix), the vocabulary (count, then length +
//! bytes per token), then tensors until EOF: n_dims, name length, type (0 f32, 1 f16),
//! dims innermost first (the row-major shape reversed), name, data. Data is never
//! transposed; fused CT2 projections are split by contiguous row ranges.
//!
//! whisper.cpp rejects a file with a missing, extra, misshapen or mistyped tensor, so the
//! mapping here is exact. This module converts only; it must not fetch, name or verify
//! model files (that is `model`'s job).

use std::io::{self, Read, Write};

use super::ct2::{Ct2Model, DType, Variable};
use super::mel::mel_filters;

pub const MAGIC: u32 = 0x6767_6d6c;
/// ggml file type 1: "mostly f16" (matrices f16, vectors f32).
const FTYPE_MOSTLY_F16: i32 = 1;
const SAMPLE_RATE: u32 = 16_000;
const N_FFT: usize = 400;

/// Whisper's shape, as whisper.cpp reads it from the start of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hparams {
    pub n_vocab: i32,
    pub n_audio_ctx: i32,
    pub n_audio_state: i32,
    pub n_audio_head: i32,
    pub n_audio_layer: i32,
    pub n_text_ctx: i32,
    pub n_text_state: i32,
    pub n_text_head: i32,
    pub n_text_layer: i32,
    pub n_mels: i32,
    pub ftype: i32,
}

impl Hparams {
    /// Size of the header: magic plus eleven i32 fields.
    pub const BYTES: usize = 48;

    /// Multilingual Whisper vocabularies have 51865 or more tokens; English-only 51864.
    pub fn is_multilingual(&self) -> bool {
        self.n_vocab >= 51865
    }

    fn fields(&self) -> [i32; 11] {
        [
            self.n_vocab,
            self.n_audio_ctx,
            self.n_audio_state,
            self.n_audio_head,
            self.n_audio_layer,
            self.n_text_ctx,
            self.n_text_state,
            self.n_text_head,
            self.n_text_layer,
            self.n_mels,
            self.ftype,
        ]
    }

    /// Reads the header; `None` if the magic is wrong (not a ggml Whisper file).
    pub fn read(mut reader: impl Read) -> io::Result<Option<Hparams>> {
        let mut buf = [0u8; Self::BYTES];
        reader.read_exact(&mut buf)?;
        let field = |i: usize| i32::from_le_bytes(buf[4 * i..4 * i + 4].try_into().unwrap());
        if field(0) as u32 != MAGIC {
            return Ok(None);
        }
        Ok(Some(Hparams {
            n_vocab: field(1),
            n_audio_ctx: field(2),
            n_audio_state: field(3),
            n_audio_head: field(4),
            n_audio_layer: field(5),
            n_text_ctx: field(6),
            n_text_state: field(7),
            n_text_head: field(8),
            n_text_layer: field(9),
            n_mels: field(10),
            ftype: field(11),
        }))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("the CT2 model lacks `{name}`, which a Whisper model must have: not a complete Whisper model")]
    Missing { name: String },
    #[error("the CT2 model has `{name}` with {found}, expected {expected}: not a Whisper model this converter supports")]
    Unexpected {
        name: String,
        found: String,
        expected: String,
    },
    #[error("writing the ggml model failed: {0}")]
    Io(#[from] io::Error),
}

/// What was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub hparams: Hparams,
    pub tensors: usize,
}

/// Converts `model` (with its `vocab`, token bytes by id) and writes the ggml file to `out`.
/// Everything is checked before the first byte is written, so an unsupported model
/// produces no output at all.
pub fn convert(
    model: &Ct2Model,
    vocab: &[Vec<u8>],
    out: &mut impl Write,
) -> Result<Summary, ConvertError> {
    let hparams = hparams(model)?;
    let plan = plan(model, &hparams)?;

    for field in std::iter::once(MAGIC as i32).chain(hparams.fields()) {
        out.write_all(&field.to_le_bytes())?;
    }

    let filters = mel_filters(SAMPLE_RATE, N_FFT, hparams.n_mels as usize);
    write_i32(out, hparams.n_mels)?;
    write_i32(out, (N_FFT / 2 + 1) as i32)?;
    let mut bytes = Vec::with_capacity(filters.len() * 4);
    for w in &filters {
        bytes.extend_from_slice(&w.to_le_bytes());
    }
    out.write_all(&bytes)?;

    write_i32(out, len_i32(vocab.len())?)?;
    for token in vocab {
        write_i32(out, len_i32(token.len())?)?;
        out.write_all(token)?;
    }

    for tensor in &plan {
        tensor.write(out)?;
    }
    Ok(Summary {
        hparams,
        tensors: plan.len(),
    })
}

fn write_i32(out: &mut impl Write, v: i32) -> io::Result<()> {
    out.write_all(&v.to_le_bytes())
}

fn len_i32(len: usize) -> io::Result<i32> {
    i32::try_from(len).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "length over i32"))
}

fn var<'m>(model: &'m Ct2Model, name: &str) -> Result<&'m Variable, ConvertError> {
    model.get(name).ok_or_else(|| ConvertError::Missing {
        name: name.to_string(),
    })
}

fn unexpected(name: &str, found: String, expected: String) -> ConvertError {
    ConvertError::Unexpected {
        name: name.to_string(),
        found,
        expected,
    }
}

fn dims_i32(model: &Ct2Model, name: &str, rank: usize) -> Result<Vec<i32>, ConvertError> {
    let v = var(model, name)?;
    if v.dims.len() != rank {
        return Err(unexpected(
            name,
            format!("shape {:?}", v.dims),
            format!("rank {rank}"),
        ));
    }
    v.dims
        .iter()
        .map(|&d| {
            i32::try_from(d).map_err(|_| unexpected(name, format!("dim {d}"), "< 2^31".into()))
        })
        .collect()
}

fn heads(model: &Ct2Model, name: &str) -> Result<i32, ConvertError> {
    let v = var(model, name)?;
    v.scalar_int()
        .and_then(|h| i32::try_from(h).ok())
        .filter(|&h| h > 0)
        .ok_or_else(|| {
            unexpected(
                name,
                format!("{:?} {:?}", v.dtype, v.dims),
                "a positive integer scalar".into(),
            )
        })
}

/// Counts `prefix/layer_N/` blocks; they must be numbered 0..N without gaps.
fn layer_count(model: &Ct2Model, prefix: &str) -> Result<i32, ConvertError> {
    let start = format!("{prefix}/layer_");
    let mut seen = std::collections::BTreeSet::new();
    for name in model.variables.keys() {
        if let Some(rest) = name.strip_prefix(&start) {
            if let Some((n, _)) = rest.split_once('/') {
                if let Ok(n) = n.parse::<usize>() {
                    seen.insert(n);
                }
            }
        }
    }
    let count = seen.len();
    if count == 0 {
        return Err(ConvertError::Missing {
            name: format!("{start}0/..."),
        });
    }
    if seen.last() != Some(&(count - 1)) {
        return Err(unexpected(
            &format!("{prefix}/layer_*"),
            format!("layers {seen:?}"),
            "layers numbered from 0 without gaps".into(),
        ));
    }
    Ok(count as i32)
}

fn hparams(model: &Ct2Model) -> Result<Hparams, ConvertError> {
    let embed = dims_i32(model, "decoder/embeddings/weight", 2)?;
    let text_pos = dims_i32(model, "decoder/position_encodings/encodings", 2)?;
    let audio_pos = dims_i32(model, "encoder/position_encodings/encodings", 2)?;
    let conv1 = dims_i32(model, "encoder/conv1/weight", 3)?;
    Ok(Hparams {
        n_vocab: embed[0],
        n_audio_ctx: audio_pos[0],
        n_audio_state: audio_pos[1],
        n_audio_head: heads(model, "encoder/num_heads")?,
        n_audio_layer: layer_count(model, "encoder")?,
        n_text_ctx: text_pos[0],
        n_text_state: embed[1],
        n_text_head: heads(model, "decoder/num_heads")?,
        n_text_layer: layer_count(model, "decoder")?,
        n_mels: conv1[1],
        ftype: FTYPE_MOSTLY_F16,
    })
}

/// How a tensor's values are stored in the ggml file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Out {
    F32,
    F16,
}

/// One tensor to write: a row range of a CT2 variable (the whole of it, or a third or a
/// half of a fused projection) with its row-major ggml shape.
struct Tensor<'m> {
    name: String,
    shape: Vec<i32>,
    out: Out,
    bytes: &'m [u8],
}

impl Tensor<'_> {
    fn write(&self, out: &mut impl Write) -> io::Result<()> {
        write_i32(out, self.shape.len() as i32)?;
        write_i32(out, self.name.len() as i32)?;
        write_i32(out, if self.out == Out::F32 { 0 } else { 1 })?;
        for &d in self.shape.iter().rev() {
            write_i32(out, d)?;
        }
        out.write_all(self.name.as_bytes())?;
        match self.out {
            Out::F16 => out.write_all(self.bytes),
            Out::F32 => {
                let mut wide = Vec::with_capacity(self.bytes.len() * 2);
                for pair in self.bytes.chunks_exact(2) {
                    let value = half::f16::from_le_bytes([pair[0], pair[1]]).to_f32();
                    wide.extend_from_slice(&value.to_le_bytes());
                }
                out.write_all(&wide)
            }
        }
    }
}

/// Builds the list of tensors in the order of OpenAI's checkpoint, checking every source
/// variable's dtype and shape against what whisper.cpp will allocate.
fn plan<'m>(model: &'m Ct2Model, hp: &Hparams) -> Result<Vec<Tensor<'m>>, ConvertError> {
    let mut p = Planner {
        model,
        tensors: Vec::new(),
    };
    let (da, dt) = (hp.n_audio_state, hp.n_text_state);

    p.whole(
        "encoder.positional_embedding",
        "encoder/position_encodings/encodings",
        &[hp.n_audio_ctx, da],
        Out::F32,
    )?;
    p.whole(
        "encoder.conv1.weight",
        "encoder/conv1/weight",
        &[da, hp.n_mels, 3],
        Out::F16,
    )?;
    p.conv_bias("encoder.conv1.bias", "encoder/conv1/bias", da)?;
    p.whole(
        "encoder.conv2.weight",
        "encoder/conv2/weight",
        &[da, da, 3],
        Out::F16,
    )?;
    p.conv_bias("encoder.conv2.bias", "encoder/conv2/bias", da)?;
    for i in 0..hp.n_audio_layer {
        let (to, from) = (format!("encoder.blocks.{i}"), format!("encoder/layer_{i}"));
        p.self_attention(&to, &from, da)?;
        p.mlp(&to, &from, da)?;
    }
    p.layer_norm("encoder.ln_post", "encoder/layer_norm", da)?;

    p.whole(
        "decoder.positional_embedding",
        "decoder/position_encodings/encodings",
        &[hp.n_text_ctx, dt],
        Out::F32,
    )?;
    p.whole(
        "decoder.token_embedding.weight",
        "decoder/embeddings/weight",
        &[hp.n_vocab, dt],
        Out::F16,
    )?;
    for i in 0..hp.n_text_layer {
        let (to, from) = (format!("decoder.blocks.{i}"), format!("decoder/layer_{i}"));
        p.self_attention(&to, &from, dt)?;
        p.cross_attention(&to, &from, dt)?;
        p.mlp(&to, &from, dt)?;
    }
    p.layer_norm("decoder.ln", "decoder/layer_norm", dt)?;
    Ok(p.tensors)
}

struct Planner<'m> {
    model: &'m Ct2Model,
    tensors: Vec<Tensor<'m>>,
}

impl<'m> Planner<'m> {
    /// Checks that `from` is an f16 array of `dims` and returns its bytes.
    fn source(&self, from: &str, dims: &[i32]) -> Result<&'m [u8], ConvertError> {
        let v = var(self.model, from)?;
        if v.dtype != DType::F16 {
            return Err(unexpected(
                from,
                format!("dtype {:?}", v.dtype),
                "float16 (a quantised or f32 package is a different model)".into(),
            ));
        }
        let expected: Vec<u32> = dims.iter().map(|&d| d as u32).collect();
        if v.dims != expected {
            return Err(unexpected(
                from,
                format!("shape {:?}", v.dims),
                format!("shape {expected:?}"),
            ));
        }
        Ok(&v.data)
    }

    fn push(&mut self, name: String, shape: &[i32], out: Out, bytes: &'m [u8]) {
        self.tensors.push(Tensor {
            name,
            shape: shape.to_vec(),
            out,
            bytes,
        });
    }

    fn whole(&mut self, to: &str, from: &str, shape: &[i32], out: Out) -> Result<(), ConvertError> {
        let bytes = self.source(from, shape)?;
        self.push(to.to_string(), shape, out, bytes);
        Ok(())
    }

    /// A convolution bias: CT2 stores `(D)`, whisper.cpp allocates `(D, 1)` in f32.
    fn conv_bias(&mut self, to: &str, from: &str, d: i32) -> Result<(), ConvertError> {
        let bytes = self.source(from, &[d])?;
        self.push(to.to_string(), &[d, 1], Out::F32, bytes);
        Ok(())
    }

    /// Splits fused `(parts·d, d)` weight and `(parts·d)` bias into `parts` row ranges and
    /// pushes the ones named in `names` (`None` skips a part).
    fn split(
        &mut self,
        to: &str,
        from: &str,
        d: i32,
        names: &[(&str, bool)],
    ) -> Result<(), ConvertError> {
        let parts = names.len() as i32;
        let weight = self.source(&format!("{from}/weight"), &[parts * d, d])?;
        let bias = self.source(&format!("{from}/bias"), &[parts * d])?;
        let (w_len, b_len) = (d as usize * d as usize * 2, d as usize * 2);
        for (k, &(name, with_bias)) in names.iter().enumerate() {
            self.push(
                format!("{to}.{name}.weight"),
                &[d, d],
                Out::F16,
                &weight[k * w_len..(k + 1) * w_len],
            );
            if with_bias {
                self.push(
                    format!("{to}.{name}.bias"),
                    &[d],
                    Out::F32,
                    &bias[k * b_len..(k + 1) * b_len],
                );
            }
        }
        Ok(())
    }

    fn linear(&mut self, to: &str, from: &str, rows: i32, cols: i32) -> Result<(), ConvertError> {
        let weight = self.source(&format!("{from}/weight"), &[rows, cols])?;
        let bias = self.source(&format!("{from}/bias"), &[rows])?;
        self.push(format!("{to}.weight"), &[rows, cols], Out::F16, weight);
        self.push(format!("{to}.bias"), &[rows], Out::F32, bias);
        Ok(())
    }

    fn layer_norm(&mut self, to: &str, from: &str, d: i32) -> Result<(), ConvertError> {
        let gamma = self.source(&format!("{from}/gamma"), &[d])?;
        let beta = self.source(&format!("{from}/beta"), &[d])?;
        self.push(format!("{to}.weight"), &[d], Out::F32, gamma);
        self.push(format!("{to}.bias"), &[d], Out::F32, beta);
        Ok(())
    }

    // Whisper's key projections have no bias; CT2 fuses them with a zero bias third.
    // whisper.cpp allocates no key bias and rejects an extra tensor, so it is dropped
    // (harmless even if it were not zero: a per-query constant added to every attention
    // score cancels in the softmax).
    fn self_attention(&mut self, to: &str, from: &str, d: i32) -> Result<(), ConvertError> {
        let fused = format!("{from}/self_attention/linear_0");
        self.split(
            &format!("{to}.attn"),
            &fused,
            d,
            &[("query", true), ("key", false), ("value", true)],
        )?;
        self.linear(
            &format!("{to}.attn.out"),
            &format!("{from}/self_attention/linear_1"),
            d,
            d,
        )?;
        self.layer_norm(
            &format!("{to}.attn_ln"),
            &format!("{from}/self_attention/layer_norm"),
            d,
        )
    }

    fn cross_attention(&mut self, to: &str, from: &str, d: i32) -> Result<(), ConvertError> {
        let att = format!("{from}/attention");
        self.linear(
            &format!("{to}.cross_attn.query"),
            &format!("{att}/linear_0"),
            d,
            d,
        )?;
        self.split(
            &format!("{to}.cross_attn"),
            &format!("{att}/linear_1"),
            d,
            &[("key", false), ("value", true)],
        )?;
        self.linear(
            &format!("{to}.cross_attn.out"),
            &format!("{att}/linear_2"),
            d,
            d,
        )?;
        self.layer_norm(
            &format!("{to}.cross_attn_ln"),
            &format!("{att}/layer_norm"),
            d,
        )
    }

    fn mlp(&mut self, to: &str, from: &str, d: i32) -> Result<(), ConvertError> {
        // whisper.cpp allocates the hidden layer as 4·d; any other width would not load.
        self.linear(
            &format!("{to}.mlp.0"),
            &format!("{from}/ffn/linear_0"),
            4 * d,
            d,
        )?;
        self.linear(
            &format!("{to}.mlp.2"),
            &format!("{from}/ffn/linear_1"),
            d,
            4 * d,
        )?;
        self.layer_norm(
            &format!("{to}.mlp_ln"),
            &format!("{from}/ffn/layer_norm"),
            d,
        )
    }
}

#[cfg(test)]
#[path = "ggml_tests.rs"]
mod tests;

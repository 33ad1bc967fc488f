//! Quantizes a ggml f16 Whisper model the way whisper.cpp's `quantize` tool does: every
//! 2-D tensor except the positional embeddings and conv biases goes to a ggml block
//! format (q8_0 or q5_1, the reference row quantizers of ggml-quants.c), everything else
//! is copied byte for byte, and the header's ftype becomes `2 * 1000 + ftype`
//! (GGML_QNT_VERSION 2). The output is deterministic, so its checksum can be pinned.
//!
//! Converts only; must not fetch, name or verify model files (that is `model`'s job).

use std::io::{self, Read, Write};

/// Tensors whisper.cpp's quantize leaves alone although they are 2-D.
const SKIP: [&str; 4] = [
    "encoder.conv1.bias",
    "encoder.conv2.bias",
    "encoder.positional_embedding",
    "decoder.positional_embedding",
];
const QNT_VERSION_FACTOR: i32 = 1000;
const QNT_VERSION: i32 = 2;
/// Values per block in both formats.
const BLOCK: usize = 32;

/// The supported block formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quant {
    Q8_0,
    Q5_1,
}

impl Quant {
    /// ggml's tensor type id.
    pub fn ggml_type(self) -> i32 {
        match self {
            Quant::Q8_0 => 8,
            Quant::Q5_1 => 7,
        }
    }

    /// ggml's file type id (`GGML_FTYPE_MOSTLY_*`).
    pub fn ftype(self) -> i32 {
        match self {
            Quant::Q8_0 => 7,
            Quant::Q5_1 => 9,
        }
    }

    /// Bytes per block of 32 values.
    pub fn block_bytes(self) -> usize {
        match self {
            Quant::Q8_0 => 2 + BLOCK,
            Quant::Q5_1 => 2 + 2 + 4 + BLOCK / 2,
        }
    }

    /// Quantizes `x` (a multiple of 32 values) into `out`, block after block.
    pub fn quantize(self, x: &[f32], out: &mut Vec<u8>) {
        for block in x.chunks_exact(BLOCK) {
            match self {
                Quant::Q8_0 => q8_0(block, out),
                Quant::Q5_1 => q5_1(block, out),
            }
        }
    }
}

fn f16_bytes(v: f32) -> [u8; 2] {
    half::f16::from_f32(v).to_le_bytes()
}

/// `quantize_row_q8_0_ref`: scale = absmax / 127, values rounded half away from zero.
fn q8_0(x: &[f32], out: &mut Vec<u8>) {
    let amax = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let d = amax / 127.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    out.extend_from_slice(&f16_bytes(d));
    out.extend(x.iter().map(|&v| (v * id).round() as i8 as u8));
}

/// `quantize_row_q5_1_ref`: scale = (max - min) / 31 and the minimum, 5-bit values split
/// into low nibbles (value j and j + 16 share a byte) and a 32-bit mask of fifth bits.
fn q5_1(x: &[f32], out: &mut Vec<u8>) {
    let (mut min, mut max) = (f32::MAX, -f32::MAX);
    for &v in x {
        if v < min {
            min = v;
        }
        if v > max {
            max = v;
        }
    }
    let d = (max - min) / 31.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    out.extend_from_slice(&f16_bytes(d));
    out.extend_from_slice(&f16_bytes(min));
    let mut qh = 0u32;
    let mut qs = [0u8; BLOCK / 2];
    for j in 0..BLOCK / 2 {
        // C's (uint8_t)(x + 0.5f) truncates; the values are never negative.
        let xi0 = ((x[j] - min) * id + 0.5) as u8;
        let xi1 = ((x[j + BLOCK / 2] - min) * id + 0.5) as u8;
        qs[j] = (xi0 & 0x0f) | ((xi1 & 0x0f) << 4);
        qh |= u32::from((xi0 & 0x10) >> 4) << j;
        qh |= u32::from((xi1 & 0x10) >> 4) << (j + BLOCK / 2);
    }
    out.extend_from_slice(&qh.to_le_bytes());
    out.extend_from_slice(&qs);
}

fn read_i32(r: &mut impl Read) -> io::Result<i32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    Ok(i32::from_le_bytes(b))
}

fn copy_exact(r: &mut impl Read, w: &mut impl Write, n: usize) -> io::Result<()> {
    let copied = io::copy(&mut r.take(n as u64), w)?;
    if copied != n as u64 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(())
}

fn bad(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

/// Reads a ggml f16 Whisper model from `input` and writes its `q` quantization to `out`.
/// Returns how many tensors were quantized.
pub fn quantize_model(mut input: impl Read, out: &mut impl Write, q: Quant) -> io::Result<usize> {
    let mut header = [0i32; 12];
    for field in &mut header {
        *field = read_i32(&mut input)?;
    }
    if header[0] as u32 != super::ggml::MAGIC {
        return Err(bad("not a ggml model".into()));
    }
    if header[11] != 1 {
        return Err(bad(format!(
            "ftype {} is not a mostly-f16 model",
            header[11]
        )));
    }
    header[11] = QNT_VERSION * QNT_VERSION_FACTOR + q.ftype();
    for field in header {
        out.write_all(&field.to_le_bytes())?;
    }
    // Mel filterbank and vocabulary, as they are.
    let (n_mel, n_fft) = (read_i32(&mut input)?, read_i32(&mut input)?);
    out.write_all(&n_mel.to_le_bytes())?;
    out.write_all(&n_fft.to_le_bytes())?;
    copy_exact(&mut input, out, 4 * n_mel as usize * n_fft as usize)?;
    let n_vocab = read_i32(&mut input)?;
    out.write_all(&n_vocab.to_le_bytes())?;
    for _ in 0..n_vocab {
        let len = read_i32(&mut input)?;
        out.write_all(&len.to_le_bytes())?;
        copy_exact(&mut input, out, len as usize)?;
    }

    let mut quantized = 0;
    let mut data = Vec::new();
    let mut packed = Vec::new();
    loop {
        let mut first = [0u8; 4];
        match input.read(&mut first)? {
            0 => break,
            n if n < 4 => input.read_exact(&mut first[n..])?,
            _ => {}
        }
        let n_dims = i32::from_le_bytes(first);
        let name_len = read_i32(&mut input)?;
        let ttype = read_i32(&mut input)?;
        if !(1..=4).contains(&n_dims) || !(0..=1).contains(&ttype) {
            return Err(bad(format!("tensor with {n_dims} dims of type {ttype}")));
        }
        let ne: Vec<i32> = (0..n_dims)
            .map(|_| read_i32(&mut input))
            .collect::<io::Result<_>>()?;
        let mut name = vec![0u8; name_len as usize];
        input.read_exact(&mut name)?;
        let count: usize = ne.iter().map(|&d| d as usize).product();
        let name_str = String::from_utf8_lossy(&name);
        let quantize = n_dims == 2 && !SKIP.contains(&name_str.as_ref());
        if quantize && ne[0] as usize % BLOCK != 0 {
            return Err(bad(format!("{name_str}: rows of {} values", ne[0])));
        }
        out.write_all(&n_dims.to_le_bytes())?;
        out.write_all(&name_len.to_le_bytes())?;
        let out_type = if quantize { q.ggml_type() } else { ttype };
        out.write_all(&out_type.to_le_bytes())?;
        for d in &ne {
            out.write_all(&d.to_le_bytes())?;
        }
        out.write_all(&name)?;
        let width = if ttype == 0 { 4 } else { 2 };
        if !quantize {
            copy_exact(&mut input, out, count * width)?;
            continue;
        }
        data.resize(count * width, 0);
        input.read_exact(&mut data)?;
        let values: Vec<f32> = if ttype == 0 {
            data.chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect()
        } else {
            data.chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect()
        };
        packed.clear();
        q.quantize(&values, &mut packed);
        out.write_all(&packed)?;
        quantized += 1;
    }
    Ok(quantized)
}

#[cfg(test)]
mod tests {
    use super::*;
    use whisper_rs_sys as sys;

    /// Deterministic values with the spread of real weights, plus the awkward cases:
    /// an all-zero block, a constant block, exact halves.
    fn values(n: usize) -> Vec<f32> {
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        let mut v: Vec<f32> = (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.2
            })
            .collect();
        v[..32].fill(0.0);
        v[32..64].fill(0.037);
        for (i, x) in v[64..96].iter_mut().enumerate() {
            *x = (i as f32 - 16.0) * 0.5;
        }
        v
    }

    /// Our quantizers give exactly ggml's own bytes (the library whisper.cpp runs).
    #[test]
    fn blocks_match_ggml_byte_for_byte() {
        let (rows, per_row) = (8usize, 384usize);
        let x = values(rows * per_row);
        for q in [Quant::Q8_0, Quant::Q5_1] {
            let mut ours = Vec::new();
            q.quantize(&x, &mut ours);
            assert_eq!(ours.len(), rows * per_row / BLOCK * q.block_bytes());
            let mut theirs = vec![0u8; ours.len()];
            // SAFETY: `theirs` holds exactly the bytes ggml writes for `rows` rows of
            // `per_row` values (checked above against the block size); no imatrix.
            let written = unsafe {
                sys::ggml_quantize_chunk(
                    q.ggml_type() as sys::ggml_type,
                    x.as_ptr(),
                    theirs.as_mut_ptr().cast(),
                    0,
                    rows as i64,
                    per_row as i64,
                    std::ptr::null(),
                )
            };
            assert_eq!(written, ours.len(), "{q:?}");
            assert_eq!(ours, theirs, "{q:?}");
        }
    }

    #[test]
    fn q8_0_round_trips_within_half_a_step() {
        let x = values(64 * 32);
        let mut packed = Vec::new();
        Quant::Q8_0.quantize(&x, &mut packed);
        for (b, block) in packed.chunks_exact(34).zip(x.chunks_exact(32)) {
            let d = half::f16::from_le_bytes([b[0], b[1]]).to_f32();
            for (j, &v) in block.iter().enumerate() {
                let back = f32::from(b[2 + j] as i8) * d;
                // Half a step, plus the scale's own rounding to f16 times the largest value.
                let tolerance = d * 0.5 + 127.0 * d * 2f32.powi(-11) + 1e-6;
                assert!((back - v).abs() <= tolerance, "{v} → {back}");
            }
        }
    }
}

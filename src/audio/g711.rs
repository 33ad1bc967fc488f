//! G.711 mu-law and A-law companding (ITU-T G.711, the reference integer formulas).
//!
//! Owns the byte ↔ 16-bit linear mapping for telephone audio: RTP payloads (PCMU/PCMA)
//! and raw G.711 files. symphonia's WAV reader already decodes format tags 6 (A-law) and
//! 7 (mu-law), so files normally do not come through here. Must not know about packets,
//! files or sample rates.
//!
//! Decoded values use the 16-bit scale of the reference code: mu-law spans ±32124, A-law
//! ±32256. Encoding rounds toward the segment's lower edge exactly as the reference does,
//! so `linear_to_*(*_to_linear(b)) == b` for every byte (except mu-law's negative zero
//! 0x7F, which encodes back as positive zero 0xFF).

const ULAW_BIAS: i32 = 0x84;
/// Largest magnitude mu-law encodes, on the reference's 14-bit scale.
const ULAW_CLIP: i32 = 8159;
const ULAW_SEG_END: [i32; 8] = [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF];
const ALAW_SEG_END: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];

/// One mu-law byte to 16-bit linear PCM.
pub fn ulaw_to_linear(byte: u8) -> i16 {
    let u = !byte as i32;
    let mut t = ((u & 0x0F) << 3) + ULAW_BIAS;
    t <<= (u & 0x70) >> 4;
    let v = if u & 0x80 != 0 {
        ULAW_BIAS - t
    } else {
        t - ULAW_BIAS
    };
    v as i16
}

/// One A-law byte to 16-bit linear PCM.
pub fn alaw_to_linear(byte: u8) -> i16 {
    let a = (byte ^ 0x55) as i32;
    let mut t = (a & 0x0F) << 4;
    let seg = (a & 0x70) >> 4;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= seg - 1;
        }
    }
    (if a & 0x80 != 0 { t } else { -t }) as i16
}

/// 16-bit linear PCM to one mu-law byte (clips beyond ±32124).
pub fn linear_to_ulaw(sample: i16) -> u8 {
    let mut v = (sample as i32) >> 2;
    let mask = if v < 0 {
        v = -v;
        0x7F
    } else {
        0xFF
    };
    v = v.min(ULAW_CLIP) + (ULAW_BIAS >> 2);
    match segment(v, &ULAW_SEG_END) {
        Some(seg) => (((seg << 4) | ((v >> (seg + 1)) & 0x0F)) ^ mask) as u8,
        None => (0x7F ^ mask) as u8,
    }
}

/// 16-bit linear PCM to one A-law byte.
pub fn linear_to_alaw(sample: i16) -> u8 {
    let mut v = (sample as i32) >> 3;
    let mask = if v >= 0 {
        0xD5
    } else {
        v = -v - 1;
        0x55
    };
    match segment(v, &ALAW_SEG_END) {
        Some(seg) => {
            let quant = if seg < 2 { v >> 1 } else { v >> seg } & 0x0F;
            (((seg << 4) | quant) ^ mask) as u8
        }
        None => (0x7F ^ mask) as u8,
    }
}

fn segment(v: i32, ends: &[i32; 8]) -> Option<i32> {
    ends.iter().position(|&end| v <= end).map(|s| s as i32)
}

/// Decodes mu-law bytes to f32 in [-1, 1), appending to `out`.
pub fn decode_ulaw(bytes: &[u8], out: &mut Vec<f32>) {
    out.extend(
        bytes
            .iter()
            .map(|&b| f32::from(ulaw_to_linear(b)) / 32768.0),
    );
}

/// Decodes A-law bytes to f32 in [-1, 1), appending to `out`.
pub fn decode_alaw(bytes: &[u8], out: &mut Vec<f32>) {
    out.extend(
        bytes
            .iter()
            .map(|&b| f32::from(alaw_to_linear(b)) / 32768.0),
    );
}

/// f32 in [-1, 1] to 16-bit linear, saturating.
pub fn f32_to_i16(sample: f32) -> i16 {
    (sample * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulaw_every_byte_round_trips() {
        for b in 0..=255u8 {
            let back = linear_to_ulaw(ulaw_to_linear(b));
            let want = if b == 0x7F { 0xFF } else { b };
            assert_eq!(back, want, "byte {b:#04x}");
        }
    }

    #[test]
    fn alaw_every_byte_round_trips() {
        for b in 0..=255u8 {
            assert_eq!(linear_to_alaw(alaw_to_linear(b)), b, "byte {b:#04x}");
        }
    }

    #[test]
    fn reference_values() {
        // Values from the ITU/Sun reference tables.
        assert_eq!(ulaw_to_linear(0x00), -32124);
        assert_eq!(ulaw_to_linear(0x80), 32124);
        assert_eq!(ulaw_to_linear(0xFF), 0);
        assert_eq!(ulaw_to_linear(0x7F), 0);
        assert_eq!(alaw_to_linear(0xD5), 8);
        assert_eq!(alaw_to_linear(0x55), -8);
        assert_eq!(alaw_to_linear(0xAA), 32256);
        assert_eq!(alaw_to_linear(0x2A), -32256);
        assert_eq!(linear_to_ulaw(0), 0xFF);
        assert_eq!(linear_to_alaw(0), 0xD5);
        assert_eq!(linear_to_ulaw(i16::MAX), 0x80);
        assert_eq!(linear_to_ulaw(i16::MIN), 0x00);
        assert_eq!(linear_to_alaw(i16::MAX), 0xAA);
        assert_eq!(linear_to_alaw(i16::MIN), 0x2A);
    }

    /// Every 16-bit input encodes to the code whose level is nearest from below within
    /// one quantisation step, and encoding is monotonic.
    #[test]
    fn every_linear_value_encodes_within_one_step() {
        let mut prev_u = ulaw_to_linear(linear_to_ulaw(i16::MIN));
        let mut prev_a = alaw_to_linear(linear_to_alaw(i16::MIN));
        for x in i16::MIN..=i16::MAX {
            let u = ulaw_to_linear(linear_to_ulaw(x));
            let a = alaw_to_linear(linear_to_alaw(x));
            assert!(u >= prev_u && a >= prev_a, "not monotonic at {x}");
            prev_u = u;
            prev_a = a;
            let xi = i32::from(x).clamp(-32124, 32124);
            // Segment step doubles with magnitude; largest is 1024 (mu) / 1024 (A).
            let step = (xi.abs() / 16).max(16);
            assert!((i32::from(u) - xi).abs() <= step, "mu-law {x} -> {u}");
            let xa = i32::from(x).clamp(-32256, 32256);
            assert!(
                (i32::from(a) - xa).abs() <= (xa.abs() / 16).max(16),
                "A-law {x} -> {a}"
            );
        }
    }

    #[test]
    fn decoding_is_odd_symmetric() {
        for b in 0..=127u8 {
            assert_eq!(ulaw_to_linear(b), -ulaw_to_linear(b | 0x80));
            assert_eq!(alaw_to_linear(b), -alaw_to_linear(b | 0x80));
        }
    }
}

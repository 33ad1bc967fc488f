//! G.711 µ-law and A-law expansion to 16-bit linear PCM (ITU-T G.711).
//!
//! Private to `live` until `crate::audio::g711` lands; the two must agree bit for bit.
//! Must not resample or filter.

/// One µ-law code word → linear sample.
pub fn ulaw_to_linear(code: u8) -> i16 {
    let u = !code;
    let t = ((((u & 0x0F) as i16) << 3) + 0x84) << ((u & 0x70) >> 4);
    if u & 0x80 != 0 {
        0x84 - t
    } else {
        t - 0x84
    }
}

/// One A-law code word → linear sample.
pub fn alaw_to_linear(code: u8) -> i16 {
    let a = code ^ 0x55;
    let mut t = ((a & 0x0F) as i16) << 4;
    let seg = (a & 0x70) >> 4;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= seg - 1;
        }
    }
    if a & 0x80 != 0 {
        t
    } else {
        -t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_code_words() {
        assert_eq!(ulaw_to_linear(0xFF), 0);
        assert_eq!(ulaw_to_linear(0x7F), 0);
        assert_eq!(ulaw_to_linear(0x00), -32124);
        assert_eq!(ulaw_to_linear(0x80), 32124);
        assert_eq!(alaw_to_linear(0xD5), 8);
        assert_eq!(alaw_to_linear(0x55), -8);
        assert_eq!(alaw_to_linear(0xAA), 32256);
        assert_eq!(alaw_to_linear(0x2A), -32256);
    }

    #[test]
    fn expansion_is_monotonic_within_each_sign() {
        // µ-law: codes 0x80..=0xFF are positive, decreasing in magnitude as the code rises.
        for c in 0x80u8..0xFF {
            assert!(ulaw_to_linear(c) >= ulaw_to_linear(c + 1), "µ-law {c:#x}");
        }
        // A-law: after removing the even-bit inversion, magnitude rises with the code.
        for m in 0u8..0x7F {
            let a = |x: u8| alaw_to_linear((x | 0x80) ^ 0x55);
            assert!(a(m) < a(m + 1), "A-law {m:#x}");
        }
    }
}

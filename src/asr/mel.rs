//! The mel filterbank whisper.cpp reads from the ggml file: librosa's
//! `filters.mel(sr, n_fft, n_mels)` with its defaults (Slaney mel scale, Slaney area
//! normalisation, no fmin, fmax = sr / 2). The CT2 package does not carry it, so it is
//! computed here. This module only computes the matrix; it must not read or write files.

/// Returns an `n_mels × (n_fft / 2 + 1)` row-major matrix of f32 weights.
///
/// Computed in f64 the way librosa does, including its one intermediate rounding: librosa
/// stores the triangle weights in an f32 array before multiplying by the (f64)
/// normalisation, so each weight is rounded to f32 twice. Doing the same reproduces
/// Whisper's own `mel_filters.npz` values exactly, not merely within a tolerance.
pub fn mel_filters(sample_rate: u32, n_fft: usize, n_mels: usize) -> Vec<f32> {
    let n_bins = n_fft / 2 + 1;
    let sr = f64::from(sample_rate);

    // numpy.fft.rfftfreq(n_fft, 1 / sr): k * (1 / (n * d)).
    let bin_step = 1.0 / (n_fft as f64 * (1.0 / sr));
    let fft_freqs: Vec<f64> = (0..n_bins).map(|k| k as f64 * bin_step).collect();

    // librosa.mel_frequencies(n_mels + 2, fmin = 0, fmax = sr / 2): numpy.linspace in mel.
    let mel_max = hz_to_mel(sr / 2.0);
    let points = n_mels + 2;
    let mel_step = mel_max / (points - 1) as f64;
    let mel_freqs: Vec<f64> = (0..points)
        .map(|i| {
            if i == points - 1 {
                mel_to_hz(mel_max)
            } else {
                mel_to_hz(i as f64 * mel_step)
            }
        })
        .collect();

    let mut weights = Vec::with_capacity(n_mels * n_bins);
    for m in 0..n_mels {
        let (left, centre, right) = (mel_freqs[m], mel_freqs[m + 1], mel_freqs[m + 2]);
        let norm = 2.0 / (right - left);
        for &f in &fft_freqs {
            let lower = -(left - f) / (centre - left);
            let upper = (right - f) / (right - centre);
            // numpy's minimum/maximum, spelled out: `f64::min`/`max` may return either
            // zero for -0.0 vs 0.0 (and did differ between debug and release builds),
            // while Whisper's table has -0.0 where the first triangle starts.
            let smaller = if upper < lower { upper } else { lower };
            let triangle = if smaller < 0.0 { 0.0 } else { smaller } as f32;
            weights.push((f64::from(triangle) * norm) as f32);
        }
    }
    weights
}

// Slaney's scale: linear below 1 kHz (200/3 Hz per mel), logarithmic above.
const F_SP: f64 = 200.0 / 3.0;
const MIN_LOG_HZ: f64 = 1000.0;
const MIN_LOG_MEL: f64 = MIN_LOG_HZ / F_SP;

fn log_step() -> f64 {
    6.4f64.ln() / 27.0
}

fn hz_to_mel(hz: f64) -> f64 {
    if hz >= MIN_LOG_HZ {
        MIN_LOG_MEL + (hz / MIN_LOG_HZ).ln() / log_step()
    } else {
        hz / F_SP
    }
}

fn mel_to_hz(mel: f64) -> f64 {
    if mel >= MIN_LOG_MEL {
        MIN_LOG_HZ * (log_step() * (mel - MIN_LOG_MEL)).exp()
    } else {
        F_SP * mel
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whisper_filterbank_has_the_known_check_value() {
        let filters = mel_filters(16000, 400, 80);
        assert_eq!(filters.len(), 80 * 201);
        // The check value is printed to 8 decimals; the f32 is 0.024862595.
        assert!(
            (filters[1] - 0.024_862_59).abs() < 1e-8,
            "got {}",
            filters[1]
        );
        assert_eq!(filters[0], 0.0);
    }

    /// SHA-256 of the little-endian f32 bytes of `mel_80` in Whisper's own
    /// `whisper/assets/mel_filters.npz`: the result must be bit-identical, not close.
    const WHISPER_MEL_80_SHA256: &str =
        "4f2701b1d287d74a0dc9871026e9519d98cb76426615f2539b0d151a0ae4ec2e";

    #[test]
    fn filterbank_is_bit_identical_to_whisper_assets() {
        use sha2::{Digest, Sha256};
        let bytes: Vec<u8> = mel_filters(16000, 400, 80)
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .collect();
        assert_eq!(hex::encode(Sha256::digest(&bytes)), WHISPER_MEL_80_SHA256);
    }

    #[test]
    fn every_filter_is_a_single_nonnegative_triangle() {
        let filters = mel_filters(16000, 400, 80);
        for row in filters.chunks(201) {
            assert!(row.iter().all(|&w| w >= 0.0));
            let nonzero: Vec<usize> = (0..201).filter(|&k| row[k] > 0.0).collect();
            assert!(!nonzero.is_empty());
            // Contiguous support: one bump, no gaps.
            assert_eq!(nonzero.last().unwrap() - nonzero[0] + 1, nonzero.len());
        }
    }

    #[test]
    fn slaney_scale_is_continuous_at_one_kilohertz() {
        assert!((hz_to_mel(1000.0) - 15.0).abs() < 1e-12);
        assert!((mel_to_hz(hz_to_mel(3210.5)) - 3210.5).abs() < 1e-9);
        assert!((mel_to_hz(hz_to_mel(440.0)) - 440.0).abs() < 1e-9);
    }
}

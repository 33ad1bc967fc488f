//! Streaming conversion of one channel to the 16 kHz recognition clock (rubato).
//!
//! Owns time alignment across the rate change: output sample `k` is the input at time
//! `k / 16000` s (the filter delay is removed), and a stream of `n` input samples yields
//! exactly `ceil(n * 16000 / from_rate)` output samples, so word times on the 16 kHz clock
//! map back onto the original audio with `crate::time::rescale_*`. Must not mix channels
//! or decide what is speech.

use rubato::{FftFixedIn, Resampler};

use super::AudioError;
use crate::time::ASR_RATE;

/// Input frames per FFT call; ~64 ms at 16 kHz, a latency/efficiency compromise.
const CHUNK_IN: usize = 1024;
/// Rates above this are not audio a call recorder produces.
const MAX_RATE: u32 = 768_000;

/// One channel's resampler; feed it any chunk sizes, then call [`Resampler16k::finish`].
pub struct Resampler16k {
    from_rate: u32,
    /// `None` when the input is already at 16 kHz.
    inner: Option<FftFixedIn<f32>>,
    chunk: usize,
    pending: Vec<f32>,
    /// Output frames still to drop at the start (the filter's delay).
    skip: usize,
    total_in: u64,
    total_out: u64,
}

impl Resampler16k {
    pub fn new(from_rate: u32) -> Result<Self, AudioError> {
        if from_rate == 0 || from_rate > MAX_RATE {
            return Err(AudioError::Resample {
                from_rate,
                detail: format!("supported input rates are 1..={MAX_RATE} Hz"),
            });
        }
        let inner = if from_rate == ASR_RATE {
            None
        } else {
            // rubato's filter delays by floor(fft_size_in / 2) input frames; with an even
            // FFT length on both sides that is exactly `output_delay()` output frames, so
            // dropping that many leaves no fractional offset.
            let unit_in = (from_rate / gcd(from_rate, ASR_RATE)) as usize;
            let units = CHUNK_IN.div_ceil(unit_in).next_multiple_of(2);
            let r = FftFixedIn::<f32>::new(
                from_rate as usize,
                ASR_RATE as usize,
                units * unit_in,
                1,
                1,
            )
            .map_err(|e| AudioError::Resample {
                from_rate,
                detail: e.to_string(),
            })?;
            Some(r)
        };
        let skip = inner.as_ref().map_or(0, |r| r.output_delay());
        let chunk = inner.as_ref().map_or(0, |r| r.input_frames_next());
        Ok(Resampler16k {
            from_rate,
            inner,
            chunk,
            pending: Vec::with_capacity(chunk * 2),
            skip,
            total_in: 0,
            total_out: 0,
        })
    }

    pub fn from_rate(&self) -> u32 {
        self.from_rate
    }

    /// Resamples the next piece of the stream; returns whatever output is ready.
    pub fn process(&mut self, input: &[f32]) -> Vec<f32> {
        self.total_in += input.len() as u64;
        if self.inner.is_none() {
            self.total_out += input.len() as u64;
            return input.to_vec();
        }
        self.pending.extend_from_slice(input);
        self.run_full_chunks()
    }

    /// Flushes the filter: returns the rest of the output so the whole stream is exactly
    /// `ceil(total_in * 16000 / from_rate)` samples. The resampler is then ready for a new
    /// stream.
    pub fn finish(&mut self) -> Vec<f32> {
        let target = crate::time::rescale_ceil(self.total_in, self.from_rate, ASR_RATE);
        let mut out = Vec::new();
        if self.inner.is_some() {
            // Zero padding pushes the last real samples through the filter's delay.
            while self.total_out < target {
                let missing = self.chunk - self.pending.len() % self.chunk.max(1);
                self.pending.resize(self.pending.len() + missing, 0.0);
                let produced = self.run_full_chunks();
                out.extend_from_slice(&produced);
            }
            let excess = (self.total_out - target) as usize;
            out.truncate(out.len().saturating_sub(excess));
        }
        self.reset();
        out
    }

    /// Forgets the stream so far (filter state, counts) for a new stream at the same rate.
    pub fn reset(&mut self) {
        if let Some(inner) = self.inner.as_mut() {
            inner.reset();
            self.skip = inner.output_delay();
        }
        self.pending.clear();
        self.total_in = 0;
        self.total_out = 0;
    }

    fn run_full_chunks(&mut self) -> Vec<f32> {
        let Some(inner) = self.inner.as_mut() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut at = 0;
        while self.pending.len() - at >= self.chunk {
            let piece = [&self.pending[at..at + self.chunk]];
            // Input length is exactly the chunk the resampler asked for, one channel, so
            // rubato has no error to report here.
            let Ok(res) = inner.process(&piece, None) else {
                break;
            };
            at += self.chunk;
            let produced = &res[0];
            let drop = self.skip.min(produced.len());
            self.skip -= drop;
            out.extend_from_slice(&produced[drop..]);
        }
        self.pending.drain(..at);
        self.total_out += out.len() as u64;
        out
    }
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Resamples a whole signal in one go (tests, short clips).
pub fn resample_all(input: &[f32], from_rate: u32) -> Result<Vec<f32>, AudioError> {
    let mut r = Resampler16k::new(from_rate)?;
    let mut out = r.process(input);
    out.extend(r.finish());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expected_len(n: usize, rate: u32) -> usize {
        (n as u64 * 16_000).div_ceil(rate as u64) as usize
    }

    #[test]
    fn lengths_are_exact_for_common_rates_and_odd_chunks() {
        for rate in [
            8_000, 11_025, 16_000, 22_050, 32_000, 44_100, 48_000, 96_000,
        ] {
            for n in [0usize, 1, 7, 999, 8_000, 44_101] {
                let input = vec![0.1f32; n];
                let mut r = Resampler16k::new(rate).unwrap();
                let mut out = Vec::new();
                for piece in input.chunks(333) {
                    out.extend(r.process(piece));
                }
                out.extend(r.finish());
                assert_eq!(out.len(), expected_len(n, rate), "rate {rate}, n {n}");
            }
        }
    }

    #[test]
    fn click_lands_at_its_time() {
        for rate in [8_000u32, 11_025, 22_050, 44_100, 48_000] {
            let n = rate as usize * 2;
            // A click at 1.234 s.
            let at = (1.234 * rate as f64).round() as usize;
            let mut input = vec![0.0f32; n];
            input[at] = 1.0;
            let mut r = Resampler16k::new(rate).unwrap();
            let mut out = Vec::new();
            for piece in input.chunks(517) {
                out.extend(r.process(piece));
            }
            out.extend(r.finish());
            let peak = out
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
                .unwrap()
                .0;
            let want = at as f64 * 16_000.0 / rate as f64;
            assert!(
                (peak as f64 - want).abs() <= 1.0,
                "rate {rate}: click at {peak}, want {want:.1}"
            );
        }
    }

    #[test]
    fn sine_keeps_level_and_frequency() {
        let rate = 44_100;
        let input: Vec<f32> = (0..rate)
            .map(|i| (2.0 * std::f32::consts::PI * 440.0 * i as f32 / rate as f32).sin() * 0.5)
            .collect();
        let out = resample_all(&input, rate as u32).unwrap();
        let mid = &out[4_000..12_000];
        let want: Vec<f32> = (4_000..12_000)
            .map(|i| (2.0 * std::f32::consts::PI * 440.0 * i as f32 / 16_000.0).sin() * 0.5)
            .collect();
        let err = mid
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(err < 0.01, "max error {err}");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
        /// The output depends only on the stream, never on how it was cut into pieces.
        #[test]
        fn chunking_does_not_change_output(
            rate in proptest::sample::select(vec![8_000u32, 11_025, 44_100, 48_000]),
            cuts in proptest::collection::vec(0usize..3_000, 1..12),
        ) {
            let n: usize = 9_000;
            let input: Vec<f32> = (0..n).map(|i| ((i * 7919) % 2001) as f32 / 1000.0 - 1.0).collect();
            let whole = resample_all(&input, rate).unwrap();
            let mut r = Resampler16k::new(rate).unwrap();
            let mut out = Vec::new();
            let mut at = 0;
            for c in cuts {
                let end = (at + c).min(n);
                out.extend(r.process(&input[at..end]));
                at = end;
            }
            out.extend(r.process(&input[at..]));
            out.extend(r.finish());
            proptest::prop_assert_eq!(out, whole);
        }
    }

    #[test]
    fn rejects_zero_rate() {
        assert!(Resampler16k::new(0).is_err());
    }
}

//! Edge refinement: widening a span found from word times to the edges of the speech
//! around it, measured on the original-rate audio of one channel.
//!
//! Whisper's word times are often 0.2–0.5 s off at the edges of a number, so a bleep that
//! trusted them would leave the first or last digit audible. Each edge moves outward,
//! through speech and through gaps shorter than a pause, until it reaches a real pause
//! (where it stops just inside, with a guard) or the cap. Never shrinks a span. Must not
//! decide what is sensitive.

use super::vad::{classify, frame_len, frame_levels};
use crate::time::{from_seconds, Span};

/// Tuning for [`refine_span_with`].
#[derive(Debug, Clone, PartialEq)]
pub struct RefineConfig {
    /// A frame is speech when it is this far above the local noise floor (dB). Low, so
    /// the quiet onset or decay of a word on a phone line (4-6 dB over the line noise,
    /// 25-30 dB under the vowel) still counts as speech: smoothed frames of steady line
    /// noise stay within about 1.5 dB of the floor.
    pub threshold_db: f32,
    /// ... and at least this loud (dBFS).
    pub min_dbfs: f32,
    /// Louder frames are speech whatever the floor says (dBFS): inside long stretches of
    /// talk the floor estimate rises toward the speech itself.
    pub sure_dbfs: f32,
    /// A silence at least this long is a pause between phrases (seconds); shorter gaps
    /// (stop closures, the breaks between quickly read digits) are crossed. 0.2 s is the
    /// usual phonetic line between an articulatory stop and a silent pause.
    pub min_pause: f32,
    /// Kept beyond the speech edge found, inside the pause (seconds).
    pub guard: f32,
    /// Audio analysed beyond the cap on each side to learn the noise floor (seconds).
    pub context: f32,
}

impl Default for RefineConfig {
    fn default() -> Self {
        RefineConfig {
            threshold_db: 4.0,
            min_dbfs: -60.0,
            sure_dbfs: -35.0,
            min_pause: 0.2,
            guard: 0.04,
            context: 2.5,
        }
    }
}

/// [`refine_span_with`] with the default tuning.
///
/// `channel` is one channel at `rate`, its first sample at index `channel_offset` of the
/// stream; `span` is on the same clock. Each edge moves out by at most `max_extend`
/// samples, and never past the audio given.
pub fn refine_span(
    channel: &[f32],
    channel_offset: u64,
    rate: u32,
    span: Span,
    max_extend: u64,
) -> Span {
    refine_span_with(
        channel,
        channel_offset,
        rate,
        span,
        max_extend,
        &RefineConfig::default(),
    )
}

/// Moves each edge of `span` outward to the nearest pause (see the module doc).
pub fn refine_span_with(
    channel: &[f32],
    channel_offset: u64,
    rate: u32,
    span: Span,
    max_extend: u64,
    cfg: &RefineConfig,
) -> Span {
    let ch_len = channel.len() as u64;
    let ch_end = channel_offset + ch_len;
    if rate == 0 || max_extend == 0 || span.is_empty() {
        return span;
    }
    if span.end <= channel_offset || span.start >= ch_end {
        return span;
    }
    let hop = frame_len(rate) as u64;
    // Span relative to the channel, clipped to the audio we have.
    let rel_s = span.start.saturating_sub(channel_offset);
    let rel_e = (span.end - channel_offset).min(ch_len);
    let ctx = from_seconds(f64::from(cfg.context), rate);
    // Frame-aligned analysis window so frame k covers [a0 + k*hop, a0 + (k+1)*hop).
    let a0 = rel_s.saturating_sub(max_extend + ctx) / hop * hop;
    let a1 = (rel_e + max_extend + ctx).min(ch_len);
    let levels = frame_levels(&channel[a0 as usize..a1 as usize], hop as usize);
    let speech = classify(&levels, cfg.threshold_db, cfg.min_dbfs, cfg.sure_dbfs);
    let n = speech.len();
    let pause = (from_seconds(f64::from(cfg.min_pause), rate) / hop).max(1) as usize;
    let guard = from_seconds(f64::from(cfg.guard), rate);
    let cap = max_extend.div_ceil(hop) as usize;
    let first = ((rel_s - a0) / hop) as usize;
    let last = ((rel_e - 1 - a0) / hop) as usize;

    // Left edge: walk back until a pause ends the burst.
    let start = {
        let mut run = speech[first..=last].iter().take_while(|s| !**s).count();
        let mut i = first;
        let edge = loop {
            if run >= pause {
                // Speech resumes at frame i + run.
                break Some(a0 + (i + run) as u64 * hop);
            }
            if i == 0 || first - i >= cap {
                break None;
            }
            i -= 1;
            run = if speech[i] { 0 } else { run + 1 };
        };
        let lowest = rel_s.saturating_sub(max_extend);
        let rel = match edge {
            Some(e) => e.saturating_sub(guard).max(lowest),
            None => lowest,
        };
        channel_offset + rel.min(rel_s)
    };

    // Right edge: walk forward until a pause ends the burst.
    let end = {
        let mut run = speech[first..=last]
            .iter()
            .rev()
            .take_while(|s| !**s)
            .count();
        let mut i = last;
        let edge = loop {
            if run >= pause {
                // Speech ended at frame i - run (exclusive end i - run + 1).
                break Some(a0 + (i + 1 - run) as u64 * hop);
            }
            if i + 1 >= n || i - last >= cap {
                break None;
            }
            i += 1;
            run = if speech[i] { 0 } else { run + 1 };
        };
        let highest = (rel_e + max_extend).min(ch_len);
        let rel = match edge {
            Some(e) => (e + guard).min(highest),
            None => highest,
        };
        channel_offset + rel.max(rel_e)
    };

    // Never shrink, including the parts of the span outside the audio given.
    Span::new(start.min(span.start), end.max(span.end))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::vad::synth::{burst, noise};

    const RATE: u32 = 8_000;

    /// Noise at `noise_amp`, with bursts at the given (start, end) seconds.
    fn signal(len_s: f32, bursts: &[(f32, f32)], noise_amp: f32) -> Vec<f32> {
        let n = (len_s * RATE as f32) as usize;
        let mut x: Vec<f32> = noise(n, 11).iter().map(|v| v * noise_amp).collect();
        for &(s, e) in bursts {
            let s = (s * RATE as f32) as usize;
            let e = (e * RATE as f32) as usize;
            for (i, v) in burst(e - s, RATE, 0.3).into_iter().enumerate() {
                x[s + i] += v;
            }
        }
        x
    }

    fn secs(x: f32) -> u64 {
        (x * RATE as f32).round() as u64
    }

    /// Digits 0.5 s long with 60 ms gaps between them, pauses of 0.6 s around the number.
    fn number_call(noise_amp: f32) -> Vec<f32> {
        let mut bursts = vec![(0.5, 1.9)];
        let mut t = 2.5;
        for _ in 0..6 {
            bursts.push((t, t + 0.5));
            t += 0.56;
        }
        bursts.push((t + 0.6 - 0.06, t + 2.0));
        signal(t + 2.5, &bursts, noise_amp)
    }

    #[test]
    fn late_start_and_early_end_extend_to_the_number() {
        for noise_amp in [0.0, 0.003, 0.02] {
            let x = number_call(noise_amp);
            // True number: 2.5 .. 5.80 s; word times 0.3 s inside on both ends.
            let got = refine_span(&x, 0, RATE, Span::new(secs(2.8), secs(5.5)), secs(0.6));
            assert!(got.start <= secs(2.5), "noise {noise_amp}: start {got:?}");
            assert!(got.end >= secs(5.80), "noise {noise_amp}: end {got:?}");
            // ... and it stops in the pauses, not in the words around.
            assert!(got.start >= secs(1.9), "noise {noise_amp}: start {got:?}");
            assert!(got.end <= secs(6.34), "noise {noise_amp}: end {got:?}");
        }
    }

    #[test]
    fn quiet_decay_just_above_line_noise_is_kept() {
        let noise_amp = 0.004; // about -53 dBFS, a phone line's hiss
        let mut x = signal(7.0, &[(2.5, 4.0)], noise_amp);
        let noise_rms = noise_amp / 3f32.sqrt();
        // The word's decay: 0.2 s at 4.5 dB over the noise (its own power 1.82x the noise's).
        let tail = burst(secs(0.2) as usize, RATE, 1.0);
        let rms = (tail.iter().map(|v| v * v).sum::<f32>() / tail.len() as f32).sqrt();
        let gain = noise_rms * 1.82f32.sqrt() / rms;
        for (i, v) in tail.iter().enumerate() {
            x[secs(4.0) as usize + i] += v * gain;
        }
        let got = refine_span(&x, 0, RATE, Span::new(secs(2.8), secs(3.9)), secs(0.6));
        assert!(got.end >= secs(4.2), "{got:?}");
        assert!(got.end <= secs(4.2) + secs(0.08), "{got:?}");
        assert!(got.start <= secs(2.5) && got.start >= secs(2.4), "{got:?}");
    }

    #[test]
    fn never_shrinks_and_respects_the_cap() {
        let x = number_call(0.003);
        // A span already wider than the number stays as it is.
        let wide = Span::new(secs(2.2), secs(6.1));
        assert_eq!(refine_span(&x, 0, RATE, wide, secs(0.6)), wide);
        // Continuous speech: only the cap stops it.
        let talk = signal(6.0, &[(0.0, 6.0)], 0.003);
        let s = Span::new(secs(2.0), secs(3.0));
        let got = refine_span(&talk, 0, RATE, s, secs(0.4));
        assert_eq!(got, Span::new(secs(1.6), secs(3.4)));
        assert_eq!(refine_span(&talk, 0, RATE, s, 0), s);
    }

    #[test]
    fn works_with_an_offset_channel_and_at_the_audio_edges() {
        let x = number_call(0.003);
        let off = 1_000_000;
        let got = refine_span(
            &x,
            off,
            RATE,
            Span::new(off + secs(2.8), off + secs(5.5)),
            secs(0.6),
        );
        assert!(got.start <= off + secs(2.5) && got.end >= off + secs(5.8));
        // Span hanging off the end of the given audio: kept, never shrunk or panicking.
        let len = x.len() as u64;
        let s = Span::new(off + len - 100, off + len + 5_000);
        let got = refine_span(&x, off, RATE, s, secs(0.6));
        assert!(got.start <= s.start && got.end == s.end);
        let outside = Span::new(5, 10);
        assert_eq!(refine_span(&x, off, RATE, outside, 100), outside);
        assert_eq!(refine_span(&[], 0, RATE, outside, 100), outside);
    }

    #[test]
    fn span_inside_a_pause_stays_put() {
        let x = number_call(0.003);
        // A span entirely in the 0.6 s pause before the number does not grow into words.
        let s = Span::new(secs(2.0), secs(2.3));
        let got = refine_span(&x, 0, RATE, s, secs(0.6));
        assert!(got.end <= secs(2.5) + secs(0.05), "{got:?}");
        assert!(got.start >= secs(1.9), "{got:?}");
    }
}

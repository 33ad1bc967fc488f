//! Where speech is: an energy detector over an adaptive noise floor (no model), and edge
//! refinement of spans on the original audio.
//!
//! Owns the short-time energy analysis shared by both: 10 ms frames, levels in dBFS, and a
//! noise floor tracked locally as a low percentile of the surrounding frames, so steady
//! telephone hiss or hum raises the floor instead of passing for speech. Must not know
//! about words or what the speech says.

use crate::time::{Span, ASR_RATE};

pub use super::edges::{refine_span, refine_span_with, RefineConfig};

/// Level given to digital silence, in dBFS.
pub(crate) const SILENCE_DB: f32 = -100.0;
/// The floor never goes below this, so digital silence between words (exact zeros) does
/// not make every faint sound count as speech.
const FLOOR_MIN_DB: f32 = -75.0;

/// Tuning for [`speech_regions`]; the defaults suit telephone and studio speech alike.
#[derive(Debug, Clone, PartialEq)]
pub struct VadConfig {
    /// A frame is speech when it is this far above the local noise floor.
    pub threshold_db: f32,
    /// ... and at least this loud in absolute terms (dBFS).
    pub min_dbfs: f32,
    /// Louder frames are speech whatever the floor says (dBFS): inside long stretches of
    /// talk the floor estimate rises toward the speech itself.
    pub sure_dbfs: f32,
    /// Shorter bursts are clicks, not speech (seconds).
    pub min_speech: f32,
    /// Shorter gaps are pauses inside speech and are bridged (seconds).
    pub min_silence: f32,
    /// Added on both sides of each region so word edges are not clipped (seconds).
    pub pad: f32,
}

impl Default for VadConfig {
    fn default() -> Self {
        VadConfig {
            threshold_db: 9.0,
            min_dbfs: -50.0,
            sure_dbfs: -35.0,
            min_speech: 0.08,
            min_silence: 0.3,
            pad: 0.15,
        }
    }
}

/// Speech regions of 16 kHz mono `samples`, whose first sample is at index `offset` of
/// the 16 kHz stream. Regions are sorted, disjoint and within the input.
pub fn speech_regions(samples: &[f32], offset: u64, cfg: &VadConfig) -> Vec<Span> {
    speech_regions_at(samples, ASR_RATE, offset, cfg)
}

/// [`speech_regions`] for audio at any rate (spans are on that rate's clock).
pub fn speech_regions_at(samples: &[f32], rate: u32, offset: u64, cfg: &VadConfig) -> Vec<Span> {
    let hop = frame_len(rate);
    let levels = frame_levels(samples, hop);
    let floor = noise_floor(&levels, &[]);
    regions(&levels, &floor, hop, samples.len() as u64, offset, cfg)
}

/// Speech regions from frame levels and their floor; spans end at `len` at most.
fn regions(
    levels: &[f32],
    floor: &[f32],
    hop: usize,
    len: u64,
    offset: u64,
    cfg: &VadConfig,
) -> Vec<Span> {
    let is_speech =
        classify_with_floor(levels, floor, cfg.threshold_db, cfg.min_dbfs, cfg.sure_dbfs);
    let frames = |secs: f32| (secs.max(0.0) * 100.0).round() as usize;
    let mut runs = runs_of(&is_speech, true);
    // Bridge short pauses, then drop bursts too short to be speech.
    let mut merged: Vec<(usize, usize)> = Vec::new();
    for r in runs.drain(..) {
        match merged.last_mut() {
            Some(last) if r.0 - last.1 < frames(cfg.min_silence) => last.1 = r.1,
            _ => merged.push(r),
        }
    }
    merged.retain(|&(s, e)| e - s >= frames(cfg.min_speech).max(1));

    let pad = frames(cfg.pad);
    let mut out: Vec<Span> = Vec::new();
    for (s, e) in merged {
        let start = (s.saturating_sub(pad) * hop) as u64;
        let end = (((e + pad) * hop) as u64).min(len);
        let span = Span::new(offset + start, offset + end);
        match out.last_mut() {
            Some(last) if last.end >= span.start => *last = last.union(&span),
            _ => out.push(span),
        }
    }
    out
}

/// [`speech_regions`] over a stream fed piece by piece, with the same result as on the
/// whole stream. Keeps one level per 10 ms (about 1.4 MB per hour), not the audio.
pub struct SpeechTracker {
    hop: usize,
    offset: u64,
    cfg: VadConfig,
    powers: Vec<f32>,
    /// Samples of the frame not yet complete.
    partial: Vec<f32>,
    /// Noise floors of blocks whose ±4 s window is complete (they cannot change).
    floors: Vec<f32>,
    /// End of the last region handed out by [`SpeechTracker::take_settled`].
    emitted_end: u64,
    /// Everything before this is decided: audio not in a returned region is silence.
    settled_until: u64,
}

impl SpeechTracker {
    /// A tracker for mono audio at `rate` (16 kHz for the recognition stream) whose first
    /// sample is at `offset`.
    pub fn new(rate: u32, offset: u64, cfg: VadConfig) -> Self {
        let hop = frame_len(rate);
        SpeechTracker {
            hop,
            offset,
            cfg,
            powers: Vec::new(),
            partial: Vec::with_capacity(hop),
            floors: Vec::new(),
            emitted_end: offset,
            settled_until: offset,
        }
    }

    pub fn push(&mut self, samples: &[f32]) {
        let mut rest = samples;
        if !self.partial.is_empty() {
            let take = (self.hop - self.partial.len()).min(rest.len());
            self.partial.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.partial.len() == self.hop {
                self.powers.push(mean_power(&self.partial));
                self.partial.clear();
            }
        }
        let mut chunks = rest.chunks_exact(self.hop);
        self.powers.extend(chunks.by_ref().map(mean_power));
        self.partial.extend_from_slice(chunks.remainder());
    }

    /// Regions that later audio can no longer change, each returned once, in order.
    /// Regions settle about 5 s after they end (the noise floor looks 4 s ahead). A call
    /// costs time linear in the stream so far (cheap per frame: an hour is 360 000
    /// frames), so call it every second or so, not per packet.
    pub fn take_settled(&mut self) -> Vec<Span> {
        let levels = levels_from_powers(&self.powers);
        let mut scratch = Vec::new();
        // A block's floor is final once its window is complete; the `+ 1` frame keeps
        // the smoothing of the last frame out of it.
        while (self.floors.len() + 1) * BLOCK + REACH < levels.len() {
            let b = self.floors.len();
            self.floors.push(block_floor(&levels, b, &mut scratch));
        }
        // A region is final once any later speech would be too far away to merge with
        // it, padding included.
        let frames = |secs: f32| (secs.max(0.0) * 100.0).round() as usize;
        let margin = frames(self.cfg.min_silence) + 2 * frames(self.cfg.pad) + 2;
        let final_frames = (self.floors.len() * BLOCK).saturating_sub(margin);
        let limit = self.offset + (final_frames * self.hop) as u64;
        let floor = noise_floor(&levels, &self.floors);
        let len = (self.powers.len() * self.hop) as u64;
        let all = regions(&levels, &floor, self.hop, len, self.offset, &self.cfg);
        let out: Vec<Span> = all
            .iter()
            .filter(|r| r.start >= self.emitted_end && r.end <= limit)
            .copied()
            .collect();
        if let Some(last) = out.last() {
            self.emitted_end = last.end;
        }
        let open = all
            .iter()
            .find(|r| r.start >= self.emitted_end && r.end > limit);
        let frontier = open.map_or(limit, |r| r.start.min(limit));
        self.settled_until = self.settled_until.max(frontier.max(self.emitted_end));
        out
    }

    /// The point before which the stream is decided: any audio there that is not in a
    /// region already returned by [`SpeechTracker::take_settled`] is not speech, whatever
    /// comes later. Moves forward with each `take_settled`.
    pub fn settled_until(&self) -> u64 {
        self.settled_until
    }

    /// Ends the stream: the regions not yet returned.
    pub fn finish(mut self) -> Vec<Span> {
        let len = (self.powers.len() * self.hop + self.partial.len()) as u64;
        if !self.partial.is_empty() {
            self.powers.push(mean_power(&self.partial));
        }
        let levels = levels_from_powers(&self.powers);
        let floor = noise_floor(&levels, &self.floors);
        regions(&levels, &floor, self.hop, len, self.offset, &self.cfg)
            .into_iter()
            .filter(|r| r.start >= self.emitted_end)
            .collect()
    }
}

/// Samples per 10 ms analysis frame (at least one).
pub(crate) fn frame_len(rate: u32) -> usize {
    (rate as usize / 100).max(1)
}

/// Level of each `hop`-sample frame in dBFS, smoothed over three frames so a single
/// quiet frame inside a vowel does not read as a pause. The last partial frame counts.
pub(crate) fn frame_levels(samples: &[f32], hop: usize) -> Vec<f32> {
    let power: Vec<f32> = samples.chunks(hop).map(mean_power).collect();
    levels_from_powers(&power)
}

fn mean_power(frame: &[f32]) -> f32 {
    (frame
        .iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        / frame.len() as f64) as f32
}

fn levels_from_powers(power: &[f32]) -> Vec<f32> {
    (0..power.len())
        .map(|i| {
            let lo = i.saturating_sub(1);
            let hi = (i + 2).min(power.len());
            let p = power[lo..hi].iter().map(|&p| f64::from(p)).sum::<f64>() / (hi - lo) as f64;
            to_db(p)
        })
        .collect()
}

fn to_db(power: f64) -> f32 {
    if power <= 1e-10 {
        SILENCE_DB
    } else {
        (10.0 * power.log10()) as f32
    }
}

/// Speech flags for frame levels: above the local floor by `threshold_db` and above
/// `min_dbfs`, or above `sure_dbfs` whatever the floor.
pub(crate) fn classify(
    levels: &[f32],
    threshold_db: f32,
    min_dbfs: f32,
    sure_dbfs: f32,
) -> Vec<bool> {
    classify_with_floor(
        levels,
        &noise_floor(levels, &[]),
        threshold_db,
        min_dbfs,
        sure_dbfs,
    )
}

fn classify_with_floor(
    levels: &[f32],
    floor: &[f32],
    threshold_db: f32,
    min_dbfs: f32,
    sure_dbfs: f32,
) -> Vec<bool> {
    levels
        .iter()
        .zip(floor)
        .map(|(&l, &f)| l > sure_dbfs || l > (f + threshold_db).max(min_dbfs))
        .collect()
}

/// Frames per noise-floor block (0.5 s) and how far the floor looks each way (4 s).
const BLOCK: usize = 50;
const REACH: usize = 400;

/// The local noise floor for each frame: the 5th percentile of the frames within ±4 s
/// (long enough that a call almost always has a breath or a pause in it), updated every
/// 0.5 s, never below [`FLOOR_MIN_DB`]. `known` holds already computed leading blocks.
pub(crate) fn noise_floor(levels: &[f32], known: &[f32]) -> Vec<f32> {
    let mut floor = vec![FLOOR_MIN_DB; levels.len()];
    let mut scratch = Vec::with_capacity(2 * REACH + BLOCK);
    for (b, block_start) in (0..levels.len()).step_by(BLOCK).enumerate() {
        let block_end = (block_start + BLOCK).min(levels.len());
        let value = match known.get(b) {
            Some(&v) => v,
            None => block_floor(levels, b, &mut scratch),
        };
        floor[block_start..block_end].fill(value);
    }
    floor
}

fn block_floor(levels: &[f32], block: usize, scratch: &mut Vec<f32>) -> f32 {
    let block_start = block * BLOCK;
    let block_end = (block_start + BLOCK).min(levels.len());
    let lo = block_start.saturating_sub(REACH);
    let hi = (block_end + REACH).min(levels.len());
    scratch.clear();
    scratch.extend_from_slice(&levels[lo..hi]);
    let k = scratch.len() / 20;
    scratch
        .select_nth_unstable_by(k, f32::total_cmp)
        .1
        .max(FLOOR_MIN_DB)
}

/// Maximal runs `[start, end)` of frames equal to `value`.
pub(crate) fn runs_of(flags: &[bool], value: bool) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut start = None;
    for (i, &f) in flags.iter().enumerate() {
        match (f == value, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                runs.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        runs.push((s, flags.len()));
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::synth::{burst, noise};
    use super::*;

    #[test]
    fn finds_bursts_in_noise() {
        let rate = 16_000;
        let mut x: Vec<f32> = noise(rate * 6, 7).iter().map(|v| v * 0.01).collect();
        let b1 = burst(rate, rate as u32, 0.3);
        let b2 = burst(rate / 2, rate as u32, 0.3);
        for (i, v) in b1.iter().enumerate() {
            x[rate + i] += v;
        }
        for (i, v) in b2.iter().enumerate() {
            x[4 * rate + i] += v;
        }
        let cfg = VadConfig::default();
        let r = speech_regions(&x, 1000, &cfg);
        assert_eq!(r.len(), 2, "{r:?}");
        let tol = (cfg.pad * rate as f32) as u64 + 320;
        assert!(r[0].start.abs_diff(1000 + rate as u64) <= tol, "{r:?}");
        assert!(r[0].end.abs_diff(1000 + 2 * rate as u64) <= tol, "{r:?}");
        assert!(r[1].start.abs_diff(1000 + 4 * rate as u64) <= tol, "{r:?}");
        assert!(
            r[1].end.abs_diff(1000 + 9 * rate as u64 / 2) <= tol,
            "{r:?}"
        );
    }

    /// Streaming gives exactly the regions of the whole signal, whatever the pieces.
    #[test]
    fn tracker_matches_whole_signal() {
        let rate = 16_000usize;
        let mut x: Vec<f32> = noise(rate * 30, 5).iter().map(|v| v * 0.005).collect();
        let mut t = rate / 2;
        let mut k = 0;
        while t + rate < x.len() {
            let len = (rate / 4 + (k * 3_331) % rate).min(x.len() - t);
            let b = burst(len, rate as u32, 0.05 + 0.1 * (k % 3) as f32);
            for (i, v) in b.iter().enumerate() {
                x[t + i] += v;
            }
            t += len + rate / 10 + (k * 7_919) % rate;
            k += 1;
        }
        let cfg = VadConfig::default();
        let whole = speech_regions(&x, 777, &cfg);
        assert!(whole.len() > 5, "{whole:?}");
        for piece in [1usize, 159, 160, 4_000, 48_013] {
            let mut tr = SpeechTracker::new(rate as u32, 777, cfg.clone());
            let mut got = Vec::new();
            let mut pushed = 0;
            for c in x.chunks(piece) {
                tr.push(c);
                pushed += c.len();
                // As a pipeline would: every half second or so.
                if pushed >= rate / 2 {
                    pushed = 0;
                    got.extend(tr.take_settled());
                }
            }
            let settled_before_end = got.len();
            // Nothing returned later may start before the frontier.
            let frontier = tr.settled_until();
            assert!(frontier > 777, "the frontier never moved ({piece})");
            let rest = tr.finish();
            assert!(
                rest.iter().all(|r| r.start >= frontier),
                "a region before the frontier {frontier} came late: {rest:?}"
            );
            got.extend(rest);
            assert_eq!(got, whole, "pieces of {piece}");
            assert!(
                settled_before_end > 0,
                "nothing settled before the end ({piece})"
            );
        }
    }

    #[test]
    fn silence_and_steady_noise_have_no_speech() {
        let cfg = VadConfig::default();
        assert!(speech_regions(&vec![0.0; 32_000], 0, &cfg).is_empty());
        // Line hiss at about -45 dBFS (louder than -35 dBFS counts as speech by design).
        let hiss: Vec<f32> = noise(64_000, 3).iter().map(|v| v * 0.01).collect();
        assert!(speech_regions(&hiss, 0, &cfg).is_empty());
        assert!(speech_regions(&[], 0, &cfg).is_empty());
    }

    #[test]
    fn short_click_is_not_speech_and_pauses_are_bridged() {
        let rate = 16_000;
        let mut x = vec![0.0f32; rate * 3];
        x[rate] = 0.9;
        let cfg = VadConfig::default();
        assert!(speech_regions(&x, 0, &cfg).is_empty());
        // Two words 0.1 s apart form one region.
        let b = burst(rate / 4, rate as u32, 0.3);
        x[..b.len()].copy_from_slice(&b);
        let off = b.len() + rate / 10;
        x[off..off + b.len()].copy_from_slice(&b);
        assert_eq!(speech_regions(&x, 0, &cfg).len(), 1);
    }
}

/// Test signals shared by the detectors' unit tests.
#[cfg(test)]
pub(crate) mod synth {
    /// Deterministic noise in [-1, 1] (xorshift), so tests need no RNG crate.
    pub(crate) fn noise(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
            })
            .collect()
    }

    /// A voiced-like burst: 150 Hz harmonics with a 4 Hz syllable envelope.
    pub(crate) fn burst(n: usize, rate: u32, amp: f32) -> Vec<f32> {
        (0..n)
            .map(|i| {
                let t = i as f32 / rate as f32;
                let env = 0.6 + 0.4 * (2.0 * std::f32::consts::PI * 4.0 * t).sin().abs();
                let v: f32 = (1..6)
                    .map(|h| (2.0 * std::f32::consts::PI * 150.0 * h as f32 * t).sin() / h as f32)
                    .sum();
                amp * env * v / 2.3
            })
            .collect()
    }
}

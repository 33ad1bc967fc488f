//! Cuts long silences out of a 16 kHz mono stream, so recognition hears only speech and
//! short pauses, and maps times on the shortened stream back to the original clock.
//!
//! Speech is found by the energy [`SpeechTracker`] (permissive settings: when unsure it
//! keeps audio). A silence longer than [`CutConfig::max_gap_s`] keeps only
//! [`CutConfig::keep_s`] of itself (half after the speech before it, half before the
//! speech after it); shorter pauses stay whole. Holds only the audio whose fate is not
//! decided yet (a few seconds behind the input, plus at most one long silence's kept
//! edge). Must not know about words; it only shortens audio and keeps the time map.

use super::vad::{SpeechTracker, VadConfig};
use crate::time::{Span, ASR_RATE};

/// How much silence is cut.
#[derive(Debug, Clone, PartialEq)]
pub struct CutConfig {
    /// Silences longer than this are shortened (seconds).
    pub max_gap_s: f32,
    /// What remains of a shortened silence (seconds, split around the cut).
    pub keep_s: f32,
    pub vad: VadConfig,
}

impl Default for CutConfig {
    fn default() -> Self {
        CutConfig {
            max_gap_s: 1.5,
            keep_s: 1.0,
            // More permissive than the defaults: a missed quiet word would never be
            // transcribed, so lean towards keeping audio.
            vad: VadConfig {
                threshold_db: 6.0,
                min_dbfs: -55.0,
                min_speech: 0.05,
                pad: 0.25,
                ..VadConfig::default()
            },
        }
    }
}

/// Maps positions on the shortened stream to the original clock.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimeMap {
    /// (start on the shortened stream, start on the original), one per kept piece,
    /// ascending in both.
    pieces: Vec<(u64, u64)>,
}

impl TimeMap {
    /// Appends a kept piece of the original `[orig_start, orig_start + len)` at the end
    /// `at` of the shortened stream.
    fn push(&mut self, at: u64, orig_start: u64) {
        if let Some(&(c, o)) = self.pieces.last() {
            if orig_start - o == at - c {
                return; // contiguous with the previous piece
            }
        }
        self.pieces.push((at, orig_start));
    }

    /// The original position of shortened position `t`.
    pub fn to_original(&self, t: u64) -> u64 {
        let i = self.pieces.partition_point(|&(c, _)| c <= t);
        match i.checked_sub(1).map(|i| self.pieces[i]) {
            Some((c, o)) => o + (t - c),
            None => t,
        }
    }

    /// A span of the shortened stream on the original clock. An end that falls on a cut
    /// stays with the audio before the cut, so a span never swallows removed silence
    /// unless it spans the cut itself.
    pub fn span_to_original(&self, span: Span) -> Span {
        let start = self.to_original(span.start);
        let end = if span.end > span.start {
            self.to_original(span.end - 1) + 1
        } else {
            start
        };
        Span::new(start, end.max(start))
    }

    /// Number of kept pieces (1 when nothing was cut).
    pub fn pieces(&self) -> usize {
        self.pieces.len()
    }
}

/// The streaming cutter. Feed it with [`SilenceCutter::push`], read what to recognise
/// from the return values, and map times with [`SilenceCutter::map`].
pub struct SilenceCutter {
    tracker: SpeechTracker,
    max_gap: u64,
    half_keep: u64,
    /// Original samples from `pending_start` to the end of the input so far.
    pending: Vec<f32>,
    pending_start: u64,
    /// End of the last speech region handled (original clock); None before the first.
    speech_end: Option<u64>,
    /// The silence after `speech_end` already had its kept head emitted.
    head_done: bool,
    /// Samples handed out so far (the shortened stream's length).
    emitted: u64,
    map: TimeMap,
    /// Input samples seen.
    seen: u64,
    /// Input since the tracker was last asked for settled regions.
    since_poll: usize,
}

/// Ask the tracker for settled regions about every half second of input (each ask costs
/// time linear in the stream so far).
const POLL: usize = ASR_RATE as usize / 2;

impl SilenceCutter {
    pub fn new(cfg: CutConfig) -> Self {
        let secs = |s: f32| (f64::from(s.max(0.0)) * f64::from(ASR_RATE)).round() as u64;
        SilenceCutter {
            tracker: SpeechTracker::new(ASR_RATE, 0, cfg.vad.clone()),
            max_gap: secs(cfg.max_gap_s),
            half_keep: secs(cfg.keep_s) / 2,
            pending: Vec::new(),
            pending_start: 0,
            speech_end: None,
            head_done: false,
            emitted: 0,
            map: TimeMap::default(),
            seen: 0,
            since_poll: 0,
        }
    }

    /// Adds input; returns the audio of the shortened stream that is now decided.
    pub fn push(&mut self, samples: &[f32]) -> Vec<f32> {
        self.tracker.push(samples);
        self.pending.extend_from_slice(samples);
        self.seen += samples.len() as u64;
        self.since_poll += samples.len();
        let mut out = Vec::new();
        if self.since_poll >= POLL {
            self.since_poll = 0;
            for region in self.tracker.take_settled() {
                self.speech(region, &mut out);
            }
            self.silence_until(self.tracker.settled_until(), &mut out);
        }
        out
    }

    /// Ends the input; returns the rest of the shortened stream.
    pub fn finish(mut self) -> (Vec<f32>, TimeMap) {
        let mut out = Vec::new();
        let tracker = std::mem::replace(
            &mut self.tracker,
            SpeechTracker::new(ASR_RATE, 0, VadConfig::default()),
        );
        for region in tracker.finish() {
            self.speech(region, &mut out);
        }
        // Trailing silence: a short one stays, a long one keeps its head only.
        let end = self.seen;
        let from = self.speech_end.unwrap_or(0);
        if end - from <= self.max_gap && self.speech_end.is_some() {
            self.emit(from.max(self.pending_start), end, &mut out);
        } else {
            self.silence_until(end, &mut out);
        }
        (out, self.map)
    }

    /// The time map so far (covers everything returned).
    pub fn map(&self) -> &TimeMap {
        &self.map
    }

    /// A settled speech region: emit the silence before it (whole if short, its kept
    /// edges if long), then the region.
    fn speech(&mut self, region: Span, out: &mut Vec<f32>) {
        let gap_start = self.speech_end.unwrap_or(0).max(self.pending_start);
        let gap = region.start.saturating_sub(self.speech_end.unwrap_or(0));
        if self.speech_end.is_some() && gap <= self.max_gap {
            self.emit(gap_start, region.start, out);
        } else {
            self.head(out);
            let tail_start = region.start.saturating_sub(self.half_keep).max(gap_start);
            self.emit(tail_start, region.start, out);
        }
        self.emit(region.start.max(self.pending_start), region.end, out);
        self.speech_end = Some(region.end);
        self.head_done = false;
    }

    /// Everything before `until` that is not speech is known silence: once it is too long
    /// to stay whole, emit its kept head and drop it, keeping only what may become the
    /// kept tail before the next speech.
    fn silence_until(&mut self, until: u64, out: &mut Vec<f32>) {
        let from = self.speech_end.unwrap_or(0);
        if until <= from || until - from <= self.max_gap {
            return;
        }
        self.head(out);
        let keep_from = until.saturating_sub(self.half_keep);
        self.drop_before(keep_from);
    }

    /// Emits the kept head of the silence after the last speech, once.
    fn head(&mut self, out: &mut Vec<f32>) {
        if self.head_done {
            return;
        }
        self.head_done = true;
        if let Some(end) = self.speech_end {
            self.emit(end.max(self.pending_start), end + self.half_keep, out);
        }
    }

    /// Emits original `[from, to)` (clipped to what is pending) and drops what lies
    /// before `to`.
    fn emit(&mut self, from: u64, to: u64, out: &mut Vec<f32>) {
        let from = from.max(self.pending_start);
        let to = to.min(self.pending_start + self.pending.len() as u64);
        if to > from {
            self.map.push(self.emitted, from);
            let a = (from - self.pending_start) as usize;
            let b = (to - self.pending_start) as usize;
            out.extend_from_slice(&self.pending[a..b]);
            self.emitted += to - from;
        }
        self.drop_before(to);
    }

    fn drop_before(&mut self, at: u64) {
        if at > self.pending_start {
            let n = ((at - self.pending_start) as usize).min(self.pending.len());
            self.pending.drain(..n);
            self.pending_start += n as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::vad::synth::{burst, noise};
    use super::*;

    const RATE: usize = ASR_RATE as usize;

    /// Speech bursts at the given (start, length) seconds over faint noise.
    fn call(len_s: f64, bursts: &[(f64, f64)]) -> Vec<f32> {
        let n = (len_s * RATE as f64) as usize;
        let mut x: Vec<f32> = noise(n, 11).iter().map(|v| v * 0.0005).collect();
        for &(start, len) in bursts {
            let at = (start * RATE as f64) as usize;
            let b = burst((len * RATE as f64) as usize, ASR_RATE, 0.2);
            for (i, v) in b.iter().enumerate() {
                x[at + i] += v;
            }
        }
        x
    }

    /// Tight cutting, so the test can bound what is kept whatever the defaults are.
    fn tight() -> CutConfig {
        CutConfig {
            max_gap_s: 1.0,
            keep_s: 0.4,
            ..CutConfig::default()
        }
    }

    fn run(x: &[f32], piece: usize) -> (Vec<f32>, TimeMap) {
        let mut cutter = SilenceCutter::new(tight());
        let mut out = Vec::new();
        for c in x.chunks(piece) {
            out.extend(cutter.push(c));
        }
        let (rest, map) = cutter.finish();
        out.extend(rest);
        (out, map)
    }

    #[test]
    fn long_silences_are_cut_and_every_burst_survives_in_place() {
        let bursts = [(1.0, 1.5), (9.0, 2.0), (9.0 + 2.0 + 0.5, 1.0), (30.0, 0.8)];
        let x = call(40.0, &bursts);
        for piece in [777, 16_000, 100_000] {
            let (short, map) = run(&x, piece);
            // Every sample of the short stream is the original sample its map points to.
            for t in (0..short.len()).step_by(97) {
                let o = map.to_original(t as u64) as usize;
                assert_eq!(short[t], x[o], "piece {piece}, t {t}");
            }
            // Every burst sample is kept: map each kept index back and mark it.
            let mut kept = vec![false; x.len()];
            for t in 0..short.len() {
                kept[map.to_original(t as u64) as usize] = true;
            }
            for &(start, len) in &bursts {
                let a = (start * RATE as f64) as usize;
                let b = a + (len * RATE as f64) as usize;
                assert!(
                    kept[a..b].iter().all(|&k| k),
                    "burst at {start} lost ({piece})"
                );
            }
            // The 0.5 s pause stays whole; the long silences shrink to about keep_s.
            let speech_s: f64 = bursts.iter().map(|b| b.1).sum();
            let short_s = short.len() as f64 / RATE as f64;
            assert!(
                short_s < speech_s + 4.0,
                "{short_s} s kept of {speech_s} s speech"
            );
            assert!(short_s > speech_s + 0.5, "{short_s}");
            let pause = ((11.0 * RATE as f64) as usize)..((11.5 * RATE as f64) as usize);
            assert!(kept[pause].iter().all(|&k| k), "a short pause was cut");
        }
    }

    #[test]
    fn silence_only_yields_almost_nothing_and_speech_only_everything() {
        let quiet = call(20.0, &[]);
        let (short, _) = run(&quiet, 4_000);
        assert!(
            short.len() < RATE,
            "{} samples of silence kept",
            short.len()
        );

        let talk = call(12.0, &[(0.0, 12.0)]);
        let (short, map) = run(&talk, 4_000);
        assert_eq!(short.len(), talk.len());
        assert_eq!(map.pieces(), 1);
        assert_eq!(map.to_original(12_345), 12_345);
    }

    #[test]
    fn spans_map_back_without_swallowing_the_cut() {
        let mut map = TimeMap::default();
        map.push(0, 100);
        map.push(50, 1_000);
        assert_eq!(map.to_original(0), 100);
        assert_eq!(map.to_original(49), 149);
        assert_eq!(map.to_original(50), 1_000);
        // Ends at the cut: stays before it.
        assert_eq!(map.span_to_original(Span::new(10, 50)), Span::new(110, 150));
        // Across the cut: covers the removed silence too.
        assert_eq!(
            map.span_to_original(Span::new(40, 60)),
            Span::new(140, 1_010)
        );
        assert_eq!(map.span_to_original(Span::new(5, 5)), Span::new(105, 105));
    }
}

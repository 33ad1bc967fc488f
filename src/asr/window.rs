//! Long audio in bounded memory: cuts a 16 kHz stream into Whisper windows of ≤ 30 s and
//! stitches their words back into one timeline, each word once.
//!
//! A window ends at the quietest point of its last stretch (18–28 s in), so the cut
//! normally falls in a pause and no word straddles it; each word is then heard by exactly
//! one window. When no pause exists there, the next window starts 2 s before the cut and
//! words in the overlap are de-duplicated by text and time. Windows with no signal at
//! all never reach Whisper (no hallucinated text on digital silence). Speech a window's
//! pass left without words is heard again on its own ([`super::rehear`]). Holds at most
//! one window of samples. Must not know anything about what the words mean.

use super::pauses::trim_leading_pauses;
use super::rehear::{fill_unheard, timed};
use super::transcribe::{AsrError, Transcriber, MAX_WINDOW};
use super::{Segment, Word};
use crate::time::{Span, ASR_RATE};

const RATE: usize = ASR_RATE as usize;
/// Energy frame: 10 ms.
pub(crate) const FRAME: usize = RATE / 100;
/// A cut point is judged by the energy of ±100 ms around it.
const QUIET_HALF_FRAMES: usize = 10;
/// Where in a full window the cut is searched for.
const SEARCH_FROM: usize = 18 * RATE;
const SEARCH_TO: usize = 28 * RATE;
/// Audio re-heard by the next window when a cut could not be put in a pause.
const OVERLAP: usize = 2 * RATE;
/// How far apart (in samples) two hearings of the same word may be placed.
const SAME_WORD_TOLERANCE: u64 = ASR_RATE as u64;
/// Below this RMS (about -54 dBFS) on every 10 ms frame a window holds no speech.
const SIGNAL_FLOOR: f32 = 0.002;
/// A cut is "in a pause" if its neighbourhood is this much quieter than loud speech.
const PAUSE_RATIO: f32 = 0.1;

/// Feeds Whisper a stream of any length, one window at a time.
///
/// `push` returns the segments that are final (their audio has been fully heard);
/// `finish` flushes the rest. Times are on the 16 kHz clock, counted from the first
/// sample pushed. On [`AsrError::Loop`] the stream stays usable: the error lists the
/// unsure spans and the good segments of the same call, and later pushes continue after
/// them. Other errors leave the stream in an unspecified state.
pub struct StreamingTranscriber<'a> {
    asr: &'a Transcriber,
    buf: Vec<f32>,
    /// Stream index of `buf[0]`.
    buf_start: u64,
    /// Set after an overlapping cut: words of the next window before this point were
    /// already emitted (`tail` holds the last of them).
    boundary: Option<u64>,
    tail: Option<Word>,
}

impl<'a> StreamingTranscriber<'a> {
    pub fn new(asr: &'a Transcriber) -> Self {
        StreamingTranscriber {
            asr,
            buf: Vec::with_capacity(MAX_WINDOW),
            buf_start: 0,
            boundary: None,
            tail: None,
        }
    }

    /// Adds samples (16 kHz mono); decodes every window that is complete.
    pub fn push(&mut self, mut samples: &[f32]) -> Result<Vec<Segment>, AsrError> {
        let mut out = Vec::new();
        let mut loops = Vec::new();
        while !samples.is_empty() {
            let take = samples.len().min(MAX_WINDOW - self.buf.len());
            self.buf.extend_from_slice(&samples[..take]);
            samples = &samples[take..];
            if self.buf.len() == MAX_WINDOW {
                self.step(false, &mut out, &mut loops)?;
            }
        }
        finish_call(out, loops)
    }

    /// Decodes what is left and ends the stream.
    pub fn finish(mut self) -> Result<Vec<Segment>, AsrError> {
        let mut out = Vec::new();
        let mut loops = Vec::new();
        if !self.buf.is_empty() {
            self.step(true, &mut out, &mut loops)?;
        }
        finish_call(out, loops)
    }

    /// Decodes one window from the front of the buffer and drops the samples it finished.
    fn step(
        &mut self,
        last: bool,
        out: &mut Vec<Segment>,
        loops: &mut Vec<Span>,
    ) -> Result<(), AsrError> {
        let frames = frame_rms(&self.buf);
        let plan = if last {
            Cut {
                decode_to: self.buf.len(),
                commit_to: self.buf.len(),
                next_start: self.buf.len(),
            }
        } else {
            plan_cut(&frames, self.buf.len())
        };
        let decoded = &self.buf[..plan.decode_to];
        let commit = self.buf_start + plan.commit_to as u64;
        let heard = frames[..plan.decode_to.div_ceil(FRAME)]
            .iter()
            .any(|&r| r >= SIGNAL_FLOOR);
        let result = if heard {
            self.asr.transcribe_window(decoded, self.buf_start)
        } else {
            Ok(Vec::new())
        };
        let (boundary, tail) = (self.boundary.take(), self.tail.take());
        match result {
            Ok(mut segments) => {
                let window_frames = &frames[..plan.decode_to.div_ceil(FRAME)];
                trim_leading_pauses(
                    &mut segments,
                    window_frames,
                    self.buf_start,
                    pause_level(window_frames),
                );
                timed(|| fill_unheard(self.asr, decoded, self.buf_start, &mut segments))?;
                let segments = merge_overlap(segments, boundary, tail.as_ref());
                let overlapping = plan.next_start < plan.commit_to;
                let segments = if overlapping {
                    keep_before(segments, commit)
                } else {
                    segments
                };
                if overlapping {
                    self.boundary = Some(commit);
                    self.tail = segments.iter().flat_map(|s| &s.words).last().cloned();
                }
                out.extend(segments);
            }
            Err(AsrError::Loop { spans, completed }) => {
                // What the window heard before its decoder got stuck is kept (it ends
                // before the unsure span); the overlap is heard again by the next window.
                loops.extend(spans);
                let completed = merge_overlap(completed, boundary, tail.as_ref());
                if plan.next_start < plan.commit_to {
                    self.boundary = Some(commit);
                    out.extend(keep_before(completed, commit));
                } else {
                    out.extend(completed);
                }
            }
            Err(e) => return Err(e),
        }
        self.buf.drain(..plan.next_start);
        self.buf_start += plan.next_start as u64;
        Ok(())
    }
}

/// The result of a call: the segments, or a loop error carrying them with the unsure spans.
pub(super) fn finish_call(out: Vec<Segment>, loops: Vec<Span>) -> Result<Vec<Segment>, AsrError> {
    if loops.is_empty() {
        Ok(out)
    } else {
        Err(AsrError::Loop {
            spans: loops,
            completed: out,
        })
    }
}

/// Where one full window is decoded to, which of its words are kept, and where the next
/// window starts (all in samples from the buffer start).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cut {
    decode_to: usize,
    commit_to: usize,
    next_start: usize,
}

/// Chooses the cut for a full buffer of `len` samples given its 10 ms frame RMS.
fn plan_cut(frames: &[f32], len: usize) -> Cut {
    let from = (SEARCH_FROM / FRAME).min(frames.len());
    let to = (SEARCH_TO / FRAME).min(frames.len());
    let Some((frame, level)) = quietest(frames, from, to) else {
        return Cut {
            decode_to: len,
            commit_to: len,
            next_start: len,
        };
    };
    let at = (frame * FRAME + FRAME / 2).min(len);
    if level <= pause_level(frames) {
        Cut {
            decode_to: at,
            commit_to: at,
            next_start: at,
        }
    } else {
        Cut {
            decode_to: len,
            commit_to: at,
            next_start: at.saturating_sub(OVERLAP),
        }
    }
}

/// RMS of each 10 ms frame (the last one may be short).
/// Transcribes one clip of ≤ 30 s (16 kHz mono, first sample at `offset`) with the same
/// clean-up as the streaming path: a clip with no signal never reaches Whisper, and word
/// starts are moved past pauses they absorbed. For callers that choose their own windows
/// (live audio re-heard as it grows).
pub fn transcribe_clip(
    asr: &Transcriber,
    samples: &[f32],
    offset: u64,
) -> Result<Vec<Segment>, AsrError> {
    let frames = frame_rms(samples);
    if !frames.iter().any(|&r| r >= SIGNAL_FLOOR) {
        return Ok(Vec::new());
    }
    let mut segments = asr.transcribe_window(samples, offset)?;
    trim_leading_pauses(&mut segments, &frames, offset, pause_level(&frames));
    Ok(segments)
}

pub(crate) fn frame_rms(samples: &[f32]) -> Vec<f32> {
    samples
        .chunks(FRAME)
        .map(|c| (c.iter().map(|s| s * s).sum::<f32>() / c.len() as f32).sqrt())
        .collect()
}

/// The frame in `from..to` whose ±100 ms neighbourhood has the least energy, with that
/// neighbourhood's RMS. Ties go to the later frame, for longer windows.
fn quietest(frames: &[f32], from: usize, to: usize) -> Option<(usize, f32)> {
    let mut prefix = Vec::with_capacity(frames.len() + 1);
    prefix.push(0.0f64);
    for r in frames {
        prefix.push(prefix.last().copied().unwrap_or(0.0) + f64::from(r * r));
    }
    let mut best: Option<(usize, f64)> = None;
    for i in from..to {
        let lo = i.saturating_sub(QUIET_HALF_FRAMES);
        let hi = (i + QUIET_HALF_FRAMES + 1).min(frames.len());
        let mean = (prefix[hi] - prefix[lo]) / (hi - lo) as f64;
        if best.is_none_or(|(_, b)| mean <= b) {
            best = Some((i, mean));
        }
    }
    best.map(|(i, e)| (i, e.sqrt() as f32))
}

/// Energy under which a neighbourhood counts as a pause: a tenth of loud speech, but
/// never below the no-signal floor.
pub(crate) fn pause_level(frames: &[f32]) -> f32 {
    share_of_loud(frames, PAUSE_RATIO)
}

/// `ratio` times loud speech (the 90th percentile of the 10 ms `frames`), but never below
/// the no-signal floor.
pub(crate) fn share_of_loud(frames: &[f32], ratio: f32) -> f32 {
    let mut sorted: Vec<f32> = frames.to_vec();
    sorted.sort_by(f32::total_cmp);
    let p90 = sorted
        .get(sorted.len().saturating_sub(1) * 9 / 10)
        .copied()
        .unwrap_or(0.0);
    (p90 * ratio).max(SIGNAL_FLOOR)
}

/// Words of a window decoded after an overlapping cut at `boundary`: the ones already
/// emitted by the previous window are removed. If the previous window's last word is
/// heard again near the boundary, everything up to that hearing goes; otherwise the
/// boundary time decides (word midpoint before it = already emitted).
fn merge_overlap(
    segments: Vec<Segment>,
    boundary: Option<u64>,
    tail: Option<&Word>,
) -> Vec<Segment> {
    let Some(boundary) = boundary else {
        return segments;
    };
    let words: Vec<&Word> = segments.iter().flat_map(|s| &s.words).collect();
    let same = |w: &Word, t: &Word| {
        normalize(&w.text) == normalize(&t.text)
            && midpoint(w).abs_diff(midpoint(t)) <= SAME_WORD_TOLERANCE
    };
    let heard_again = tail.and_then(|t| {
        words
            .iter()
            .rposition(|w| w.span.start < boundary + SAME_WORD_TOLERANCE && same(w, t))
    });
    let mut index = 0;
    filter_words(segments, |w| {
        let keep = match heard_again {
            Some(last_dup) => index > last_dup,
            None => midpoint(w) >= boundary,
        };
        index += 1;
        keep
    })
}

/// Only words whose midpoint lies before `commit` (the rest is heard again by the next
/// window).
fn keep_before(segments: Vec<Segment>, commit: u64) -> Vec<Segment> {
    filter_words(segments, |w| midpoint(w) < commit)
}

fn filter_words(segments: Vec<Segment>, mut keep: impl FnMut(&Word) -> bool) -> Vec<Segment> {
    segments
        .into_iter()
        .filter_map(|mut seg| {
            seg.words.retain(|w| keep(w));
            let span = seg
                .words
                .iter()
                .map(|w| w.span)
                .reduce(|a, b| a.union(&b))?;
            seg.span = span;
            Some(seg)
        })
        .collect()
}

fn midpoint(w: &Word) -> u64 {
    w.span.start + w.span.len() / 2
}

fn normalize(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asr::Token;

    fn word(text: &str, start_s: f64, end_s: f64) -> Word {
        let span = Span::new((start_s * 16_000.0) as u64, (end_s * 16_000.0) as u64);
        Word {
            text: text.into(),
            span,
            confidence: 0.9,
            tokens: vec![Token {
                text: format!(" {text}"),
                span,
                probability: 0.9,
            }],
        }
    }

    fn seg(words: Vec<Word>) -> Segment {
        Segment {
            span: words
                .iter()
                .map(|w| w.span)
                .reduce(|a, b| a.union(&b))
                .unwrap(),
            words,
            no_speech_probability: 0.0,
            second_hearing: false,
        }
    }

    fn texts(segments: &[Segment]) -> Vec<String> {
        segments
            .iter()
            .flat_map(|s| s.words.iter().map(|w| w.text.clone()))
            .collect()
    }

    /// Speech-like bursts (a tone) with a quiet gap at `gap_s`.
    fn audio_with_gap(len_s: f64, gap_s: f64) -> Vec<f32> {
        let n = (len_s * 16_000.0) as usize;
        (0..n)
            .map(|i| {
                let t = i as f64 / 16_000.0;
                if (t - gap_s).abs() < 0.2 {
                    0.0
                } else {
                    (0.3 * (t * 2.0 * std::f64::consts::PI * 220.0).sin()) as f32
                }
            })
            .collect()
    }

    #[test]
    fn cut_falls_in_the_pause_without_overlap() {
        let audio = audio_with_gap(30.0, 23.4);
        let cut = plan_cut(&frame_rms(&audio), audio.len());
        let at = cut.commit_to as f64 / 16_000.0;
        assert!((at - 23.4).abs() < 0.1, "cut at {at}");
        assert_eq!(cut.decode_to, cut.commit_to);
        assert_eq!(cut.next_start, cut.commit_to);
    }

    #[test]
    fn cut_without_pause_overlaps_the_next_window() {
        let audio = audio_with_gap(30.0, 100.0);
        let cut = plan_cut(&frame_rms(&audio), audio.len());
        assert_eq!(cut.decode_to, audio.len());
        assert!(cut.commit_to >= SEARCH_FROM && cut.commit_to <= SEARCH_TO);
        assert_eq!(cut.next_start, cut.commit_to - OVERLAP);
    }

    #[test]
    fn silence_is_a_pause_and_ties_go_late() {
        let audio = vec![0.0f32; MAX_WINDOW];
        let frames = frame_rms(&audio);
        let cut = plan_cut(&frames, audio.len());
        assert_eq!(cut.commit_to, cut.next_start);
        assert!(cut.commit_to >= SEARCH_TO - FRAME);
        assert!(frames.iter().all(|&r| r < SIGNAL_FLOOR));
    }

    #[test]
    fn overlap_duplicate_found_by_text_is_dropped_once() {
        // Previous window emitted "... four five" up to the boundary at 24 s.
        let tail = word("five", 23.5, 23.9);
        let new = vec![seg(vec![
            word("three", 22.4, 22.8),
            word("four", 22.9, 23.3),
            // Same word heard again, placed 0.4 s later by the new window.
            word("Five,", 23.9, 24.3),
            word("six", 24.4, 24.8),
        ])];
        let merged = merge_overlap(new, Some(24 * 16_000), Some(&tail));
        assert_eq!(texts(&merged), ["six"]);
    }

    #[test]
    fn overlap_without_text_match_uses_the_boundary_time() {
        let tail = word("five", 23.5, 23.9);
        let new = vec![seg(vec![
            word("for", 22.9, 23.3),
            word("fine", 23.6, 23.95),
            word("six", 24.4, 24.8),
        ])];
        let merged = merge_overlap(new, Some(24 * 16_000), Some(&tail));
        assert_eq!(texts(&merged), ["six"]);
        // A word straddling the boundary with its midpoint after it is kept, not lost.
        let new = vec![seg(vec![word("seven", 23.8, 24.4)])];
        let merged = merge_overlap(new, Some(24 * 16_000), Some(&tail));
        assert_eq!(texts(&merged), ["seven"]);
    }

    #[test]
    fn repeated_word_far_from_boundary_is_not_a_duplicate() {
        let tail = word("one", 23.5, 23.8);
        let new = vec![seg(vec![word("one", 24.2, 24.5), word("one", 27.0, 27.3)])];
        let merged = merge_overlap(new, Some(24 * 16_000), Some(&tail));
        // The first "one" is within tolerance of the tail: a re-hearing; the later one is new.
        assert_eq!(texts(&merged), ["one"]);
        assert_eq!(merged[0].words[0].span.start, (27.0 * 16_000.0) as u64);
    }

    #[test]
    fn no_boundary_keeps_everything() {
        let new = vec![seg(vec![word("hello", 0.1, 0.5)])];
        assert_eq!(texts(&merge_overlap(new, None, None)), ["hello"]);
    }

    #[test]
    fn keep_before_commits_by_midpoint_and_drops_empty_segments() {
        let segments = vec![
            seg(vec![word("a", 1.0, 1.4), word("b", 23.8, 24.4)]),
            seg(vec![word("c", 25.0, 25.5)]),
        ];
        let kept = keep_before(segments, 24 * 16_000);
        assert_eq!(texts(&kept), ["a"]);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].span, Span::new(16_000, (1.4 * 16_000.0) as u64));
    }

    #[test]
    fn pause_level_never_below_signal_floor() {
        assert_eq!(pause_level(&[]), SIGNAL_FLOOR);
        assert_eq!(pause_level(&[0.0; 100]), SIGNAL_FLOOR);
        let loud: Vec<f32> = (0..100).map(|i| i as f32 / 100.0).collect();
        assert!((pause_level(&loud) - 0.089).abs() < 1e-3);
    }
}

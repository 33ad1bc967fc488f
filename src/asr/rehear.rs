//! Speech a pass left unheard, and a second hearing of it.
//!
//! Whisper sometimes stops early, or skips a short utterance between long pauses, and
//! leaves speech with no word on it. [`unheard`] finds such stretches (speech regions no
//! word covers); [`fill_unheard`] hears each one again on its own and adds the words
//! that land inside it. What stays unheard after that is for the caller to treat as
//! unsure. Must not decide what the words mean, nor drop or move a word the first pass
//! heard.

use std::cell::Cell;
use std::time::{Duration, Instant};

use super::transcribe::{AsrError, Transcriber};
use super::{Segment, Word};
use crate::audio::vad::{speech_regions, VadConfig};
use crate::time::{Span, ASR_RATE};

/// Speech at least this long (1 s) with no word on it is unheard: longer than the
/// breaths, clicks and "mm" Whisper rightly leaves out, shorter than a digit group.
pub const MIN_UNHEARD: u64 = ASR_RATE as u64;
/// Word edges from DTW are this uncertain (0.3 s); speech this close to a word is its.
pub const WORD_EDGE_SLACK: u64 = ASR_RATE as u64 * 3 / 10;
/// Audio either side of an unheard stretch heard with it (0.3 s), so a word clipped by
/// the VAD's edge is heard whole.
const REHEAR_MARGIN: u64 = ASR_RATE as u64 * 3 / 10;

thread_local! {
    /// Time this thread spent hearing audio again, not yet taken by [`take_time`].
    static HEARING_AGAIN: Cell<Duration> = const { Cell::new(Duration::ZERO) };
    /// Whether a timed second hearing is running on this thread (nested ones, such as
    /// a loop inside a re-heard stretch, are counted once).
    static TIMING: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f`, a second hearing, and counts its time on this thread.
pub(super) fn timed<T>(f: impl FnOnce() -> T) -> T {
    if TIMING.with(|t| t.replace(true)) {
        return f();
    }
    let started = Instant::now();
    let out = f();
    HEARING_AGAIN.with(|t| t.set(t.get() + started.elapsed()));
    TIMING.with(|t| t.set(false));
    out
}

/// Time this thread spent on second hearings (looped windows heard again, unheard speech
/// heard again) since the last call; for the pipeline's per-stage timings.
pub fn take_time() -> Duration {
    HEARING_AGAIN.with(|t| t.replace(Duration::ZERO))
}

/// The parts of speech `regions` (sorted) at least [`MIN_UNHEARD`] long that no word of
/// `segments` (widened by [`WORD_EDGE_SLACK`]) and no span of `covered` (already unsure,
/// or a keypad tone) covers.
pub fn unheard(regions: &[Span], segments: &[Segment], covered: &[Span]) -> Vec<Span> {
    let mut spans: Vec<Span> = segments
        .iter()
        .flat_map(|s| &s.words)
        .map(|w| {
            Span::new(
                w.span.start.saturating_sub(WORD_EDGE_SLACK),
                w.span.end + WORD_EDGE_SLACK,
            )
        })
        .chain(covered.iter().copied())
        .collect();
    spans.sort_by_key(|s| s.start);
    let mut out = Vec::new();
    for region in regions {
        let mut at = region.start;
        for c in spans
            .iter()
            .filter(|c| c.end > region.start && c.start < region.end)
        {
            if c.start > at && c.start - at >= MIN_UNHEARD {
                out.push(Span::new(at, c.start));
            }
            at = at.max(c.end);
        }
        if region.end > at && region.end - at >= MIN_UNHEARD {
            out.push(Span::new(at, region.end));
        }
    }
    out
}

/// Hears again, one by one, the stretches of `samples` (16 kHz, first sample at
/// `offset`) that are speech but that no word of `segments` covers, and adds the words
/// each second hearing puts inside its stretch. A second hearing that loops adds
/// nothing: the stretch stays unheard. Returns how many stretches were heard again.
pub fn fill_unheard(
    asr: &Transcriber,
    samples: &[f32],
    offset: u64,
    segments: &mut Vec<Segment>,
) -> Result<usize, AsrError> {
    let regions = speech_regions(samples, offset, &VadConfig::default());
    let gaps = unheard(&regions, segments, &[]);
    let end = offset + samples.len() as u64;
    for gap in &gaps {
        let clip = Span::new(
            gap.start.saturating_sub(REHEAR_MARGIN).max(offset),
            (gap.end + REHEAR_MARGIN).min(end),
        );
        let audio = &samples[(clip.start - offset) as usize..(clip.end - offset) as usize];
        let heard = match asr.transcribe_window(audio, clip.start) {
            Ok(heard) => heard,
            Err(AsrError::Loop { .. }) => continue,
            Err(e) => return Err(e),
        };
        let inside = words_inside(heard, *gap, segments);
        if !inside.is_empty() {
            segments.push(Segment {
                span: inside
                    .iter()
                    .map(|w| w.span)
                    .reduce(|a, b| a.union(&b))
                    .expect("not empty"),
                words: inside,
                no_speech_probability: 0.0,
                second_hearing: true,
            });
        }
    }
    if !gaps.is_empty() {
        segments.sort_by_key(|s| s.span.start);
        tracing::debug!(stretches = gaps.len(), "heard unheard speech again");
    }
    Ok(gaps.len())
}

/// Words of a second hearing whose middle lies in `gap` (widened by the word-edge
/// slack) and on no word the first pass heard.
fn words_inside(heard: Vec<Segment>, gap: Span, first: &[Segment]) -> Vec<Word> {
    let lo = gap.start.saturating_sub(WORD_EDGE_SLACK);
    let hi = gap.end + WORD_EDGE_SLACK;
    let on_heard_word = |at: u64| {
        first
            .iter()
            .flat_map(|s| &s.words)
            .any(|w| w.span.start <= at && at < w.span.end)
    };
    heard
        .into_iter()
        .flat_map(|s| s.words)
        .filter(|w| {
            let mid = w.span.start + w.span.len() / 2;
            lo <= mid && mid < hi && !on_heard_word(mid)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sec(s: f64) -> u64 {
        (s * ASR_RATE as f64) as u64
    }

    fn words_at(spans: &[(f64, f64)]) -> Vec<Segment> {
        let words: Vec<Word> = spans
            .iter()
            .map(|&(a, b)| Word {
                text: "word".into(),
                span: Span::new(sec(a), sec(b)),
                confidence: 0.9,
                tokens: Vec::new(),
            })
            .collect();
        vec![Segment {
            span: Span::new(sec(spans[0].0), sec(spans[spans.len() - 1].1)),
            words,
            no_speech_probability: 0.0,
            second_hearing: false,
        }]
    }

    #[test]
    fn speech_after_the_last_word_is_unheard() {
        // Whisper stopped at 10 s; the caller went on reading digits until 19 s.
        let regions = [Span::new(sec(1.0), sec(19.0))];
        let segments = words_at(&[(1.0, 4.0), (4.2, 9.0), (9.1, 10.0)]);
        assert_eq!(
            unheard(&regions, &segments, &[]),
            vec![Span::new(sec(10.3), sec(19.0))]
        );
    }

    #[test]
    fn gaps_between_words_and_short_sounds_are_heard() {
        let regions = [
            Span::new(sec(1.0), sec(6.0)),
            // A breath or an "mm" Whisper leaves out.
            Span::new(sec(8.0), sec(8.6)),
        ];
        let segments = words_at(&[(1.1, 2.0), (2.5, 3.6), (4.0, 5.8)]);
        assert!(unheard(&regions, &segments, &[]).is_empty());
    }

    #[test]
    fn speech_already_bleeped_for_a_loop_is_not_counted_twice() {
        let regions = [Span::new(sec(0.0), sec(12.0))];
        let segments = words_at(&[(0.0, 2.0)]);
        let looped = [Span::new(sec(2.0), sec(12.0))];
        assert!(unheard(&regions, &segments, &looped).is_empty());
    }

    #[test]
    fn a_second_hearing_adds_only_words_inside_the_gap_and_off_heard_words() {
        let first = words_at(&[(1.0, 2.0), (6.0, 7.0)]);
        let gap = Span::new(sec(2.3), sec(5.7));
        let heard = words_at(&[(1.2, 1.8), (2.5, 3.0), (3.2, 4.0), (6.2, 6.8), (9.0, 9.5)]);
        let got: Vec<Span> = words_inside(heard, gap, &first)
            .iter()
            .map(|w| w.span)
            .collect();
        assert_eq!(
            got,
            vec![Span::new(sec(2.5), sec(3.0)), Span::new(sec(3.2), sec(4.0))]
        );
    }
}

//! Moves word starts past pauses they absorbed. DTW timing runs each token from the end
//! of the previous one, so the first word after a silence starts where the silence
//! began; later stages would then see no gap and stitch unrelated numbers together.
//!
//! Only ever moves a start later, to just before the sound resumes (with a guard), and
//! only across a clear pause inside the word's first token, measured on the window's own
//! audio. Later tokens are left alone: Whisper glues digit groups read with pauses
//! between them into one word ("601-1-7728-3783-2664."), and every group of it must
//! stay covered. Must not touch ends.

use super::window::FRAME;
use super::Segment;

/// A pause inside a word is at least this many 10 ms frames below the pause level.
const MIN_PAUSE_FRAMES: usize = 25;
/// Kept before the sound resumes, so soft onsets stay inside the word.
const GUARD_FRAMES: usize = 8;

/// `frames` are 10 ms RMS values of the window whose first sample is `window_start`;
/// a frame under `level` is quiet.
pub(crate) fn trim_leading_pauses(
    segments: &mut [Segment],
    frames: &[f32],
    window_start: u64,
    level: f32,
) {
    let frame_of = |sample: u64| (sample.saturating_sub(window_start) / FRAME as u64) as usize;
    for word in segments.iter_mut().flat_map(|s| s.words.iter_mut()) {
        let lead = word.tokens.first().map_or(word.span, |t| t.span);
        let first = frame_of(lead.start).min(frames.len());
        let last = frame_of(lead.end).min(frames.len());
        let Some(onset) = last_onset_after_pause(&frames[first..last], level) else {
            continue;
        };
        let new_start =
            window_start + ((first + onset.saturating_sub(GUARD_FRAMES)) * FRAME) as u64;
        if new_start <= word.span.start || new_start >= word.span.end {
            continue;
        }
        word.span.start = new_start;
        for token in &mut word.tokens {
            token.span.start = token.span.start.max(new_start).min(token.span.end);
        }
    }
}

/// Index of the last frame where sound resumes after at least MIN_PAUSE_FRAMES quiet ones.
fn last_onset_after_pause(frames: &[f32], level: f32) -> Option<usize> {
    let mut quiet_run = 0;
    let mut onset = None;
    for (i, &rms) in frames.iter().enumerate() {
        if rms < level {
            quiet_run += 1;
        } else {
            if quiet_run >= MIN_PAUSE_FRAMES {
                onset = Some(i);
            }
            quiet_run = 0;
        }
    }
    onset
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asr::{Token, Word};
    use crate::time::Span;

    fn segment(start: u64, end: u64) -> Segment {
        let span = Span::new(start, end);
        Segment {
            span,
            words: vec![Word {
                text: "6265".into(),
                span,
                confidence: 0.9,
                tokens: vec![Token {
                    text: " 62".into(),
                    span,
                    probability: 0.9,
                }],
            }],
            no_speech_probability: 0.0,
            second_hearing: false,
        }
    }

    #[test]
    fn a_word_that_absorbed_a_pause_starts_where_sound_resumes() {
        // 1 s quiet then 1 s of sound, word spanning both.
        let frames: Vec<f32> = (0..200).map(|i| if i < 100 { 0.0 } else { 0.3 }).collect();
        let mut segs = vec![segment(0, 200 * FRAME as u64)];
        trim_leading_pauses(&mut segs, &frames, 0, 0.03);
        let w = &segs[0].words[0];
        assert_eq!(w.span.start, ((100 - GUARD_FRAMES) * FRAME) as u64);
        assert_eq!(w.tokens[0].span.start, w.span.start);
        assert_eq!(w.span.end, (200 * FRAME) as u64);
    }

    #[test]
    fn a_pause_inside_a_word_keeps_the_sound_before_it() {
        // Whisper's one word for digit groups read with a pause between them: the tail of
        // the previous word, 0.5 s quiet, a group (the first token), 1 s quiet, the next
        // group (the second token). Only the first token's pause is trimmed.
        let frames: Vec<f32> = (0..300)
            .map(|i| match i {
                0..10 | 60..100 | 200..300 => 0.3,
                _ => 0.0,
            })
            .collect();
        let f = |i: u64| i * FRAME as u64;
        let mut segs = vec![segment(0, f(300))];
        let word = &mut segs[0].words[0];
        word.tokens[0].span = Span::new(0, f(150));
        word.tokens.push(Token {
            text: "65".into(),
            span: Span::new(f(150), f(300)),
            probability: 0.9,
        });
        trim_leading_pauses(&mut segs, &frames, 0, 0.03);
        let w = &segs[0].words[0];
        assert_eq!(w.span.start, f(60 - GUARD_FRAMES as u64));
        assert_eq!(w.tokens[1].span, Span::new(f(150), f(300)));
    }

    #[test]
    fn short_gaps_and_continuous_speech_leave_words_alone() {
        let frames: Vec<f32> = (0..200)
            .map(|i| if (50..60).contains(&i) { 0.0 } else { 0.3 })
            .collect();
        let mut segs = vec![segment(0, 200 * FRAME as u64)];
        trim_leading_pauses(&mut segs, &frames, 0, 0.03);
        assert_eq!(segs[0].words[0].span.start, 0);
    }
}

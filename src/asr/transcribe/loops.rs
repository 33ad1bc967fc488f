//! Hearing past a decoder loop: a window whose greedy and beam passes both repeated
//! themselves is heard again in parts (before the loop, then afresh after it, or in two
//! halves), and only parts that loop every way are unsure. Everything heard where the
//! first pass looped is marked a second hearing; what to trust of it is the caller's
//! call. Must not decide what the words mean.

use super::{extend_squeezed_end, AsrError, Pass, Search, Transcriber};
use crate::asr::window::{frame_rms, FRAME};
use crate::asr::words::RawSegment;
use crate::asr::Segment;
use crate::time::{Span, ASR_RATE};

/// Audio before a loop's start left unsure too (1 s): the last words before a decoder
/// gets stuck are often already wrong.
const LOOP_GUARD: usize = ASR_RATE as usize;
/// Shortest stretch before a loop worth hearing again on its own (3 s).
const MIN_TRUSTED_PREFIX: usize = 3 * ASR_RATE as usize;
/// How many times a looped window is split to hear past its loops (each split costs one
/// or two passes of a shorter part).
const MAX_LOOP_DEPTH: usize = 3;
/// Shorter parts of a looped window are not heard again: unsure (1 s).
const MIN_PIECE: usize = ASR_RATE as usize;

/// What a looped window's parts gave: words in time order, and the parts that looped
/// every way.
#[derive(Default)]
struct Parts {
    heard: Vec<Segment>,
    unsure: Vec<Span>,
}

/// Where a looped window is cut in two: the quietest 10 ms frame within 5 s of its middle.
fn quiet_middle(samples: &[f32]) -> usize {
    let frames = frame_rms(samples);
    let mid = frames.len() / 2;
    let reach = 5 * ASR_RATE as usize / FRAME;
    let lo = mid.saturating_sub(reach);
    let hi = (mid + reach).min(frames.len());
    let quietest = (lo..hi)
        .min_by(|&a, &b| frames[a].total_cmp(&frames[b]))
        .unwrap_or(mid);
    (quietest * FRAME).clamp(MIN_TRUSTED_PREFIX, samples.len() - MIN_TRUSTED_PREFIX)
}

impl Transcriber {
    /// A window whose passes all looped, heard in parts that get past the loop: what
    /// came before the loop (from sample `from`, the later of the passes' loop starts)
    /// is heard again on its own, then the rest afresh from there, as Whisper itself
    /// seeks past a stuck segment; a part that loops from its first words is heard in two
    /// halves. Only parts that loop every way are unsure, and everything heard where the
    /// first pass looped is marked a second hearing. On robotic and telephone voices whole
    /// windows looped and were bleeped whole, most of them innocent speech.
    pub(super) fn heard_around_loop(
        &self,
        samples: &[f32],
        offset: u64,
        from: usize,
    ) -> Result<Vec<Segment>, AsrError> {
        let mut parts = Parts::default();
        self.hear_past_loop(samples, offset, from, 0, &mut parts)?;
        if parts.unsure.is_empty() {
            tracing::debug!(
                start = offset,
                end = offset + samples.len() as u64,
                "whisper decoder looped; heard the window in parts around it"
            );
            return Ok(parts.heard);
        }
        for span in &parts.unsure {
            tracing::warn!(
                start = span.start,
                end = span.end,
                "whisper decoder looped; part of the window marked unsure"
            );
        }
        Err(AsrError::Loop {
            spans: parts.unsure,
            completed: parts.heard,
        })
    }

    /// `piece` (at `offset`), whose pass looped from sample `from`: the audio before the
    /// loop, then the rest; or, when the loop came at once, its two halves.
    fn hear_past_loop(
        &self,
        piece: &[f32],
        offset: u64,
        from: usize,
        depth: usize,
        parts: &mut Parts,
    ) -> Result<(), AsrError> {
        let cut = from.saturating_sub(LOOP_GUARD).min(piece.len());
        let whole = Span::new(offset, offset + piece.len() as u64);
        if depth >= MAX_LOOP_DEPTH {
            parts.unsure.push(whole);
        } else if cut >= MIN_TRUSTED_PREFIX {
            let before = &piece[..cut];
            match self.decode(before, false, Search::Greedy)? {
                Pass::Heard(raw) => {
                    let heard = self.heard_again(&raw, before, offset, depth > 0);
                    parts.heard.extend(heard);
                    self.hear_piece(&piece[cut..], offset + cut as u64, depth + 1, parts)?;
                }
                Pass::Looped { .. } => parts.unsure.push(whole),
            }
        } else if piece.len() >= 2 * MIN_TRUSTED_PREFIX {
            let mid = quiet_middle(piece);
            self.hear_piece(&piece[..mid], offset, depth + 1, parts)?;
            self.hear_piece(&piece[mid..], offset + mid as u64, depth + 1, parts)?;
        } else {
            parts.unsure.push(whole);
        }
        Ok(())
    }

    /// One part of a looped window heard on its own (a second hearing).
    fn hear_piece(
        &self,
        piece: &[f32],
        offset: u64,
        depth: usize,
        parts: &mut Parts,
    ) -> Result<(), AsrError> {
        if piece.len() < MIN_PIECE {
            parts
                .unsure
                .push(Span::new(offset, offset + piece.len() as u64));
            return Ok(());
        }
        match self.decode(piece, false, Search::Greedy)? {
            Pass::Heard(raw) => {
                let heard = self.heard_again(&raw, piece, offset, true);
                parts.heard.extend(heard);
                Ok(())
            }
            Pass::Looped { from } => self.hear_past_loop(piece, offset, from, depth, parts),
        }
    }

    /// The words of a pass over part of a looped window, `second` when that part was
    /// unsure after the first pass.
    fn heard_again(
        &self,
        raw: &[RawSegment],
        audio: &[f32],
        offset: u64,
        second: bool,
    ) -> Vec<Segment> {
        let mut heard = self.assembled(raw, offset, audio.len() as u64);
        extend_squeezed_end(&mut heard, audio, offset);
        for segment in &mut heard {
            segment.second_hearing = second;
        }
        heard
    }
}

//! Unsure answers: what is said right after a request for a sensitive number, when the
//! recogniser doubted the words it wrote there. On the phone band a card read by an
//! unfamiliar voice comes out as "time. I may time. For photo booth", an SSN as "nearly
//! a big, and we're pre-do six": no run forms and too few digits for an answer, yet the
//! number is fully audible. The words' own confidence (mean token probability) is what
//! tells such a stretch from a real reply, in any language: where recognition is least
//! sure exactly when a number was asked for, the stretch is redacted (fail closed).
//!
//! Owns where such an answer starts and ends; must not look at audio or at digit values.

use crate::time::{from_seconds, Span, ASR_RATE};

use super::super::classify::Hit;
use super::super::lexicon::LexKind;
use super::super::normalize::{Piece, PieceKind};
use super::super::rules::Thresholds;
use super::super::EntityKind;
use super::{first_answer_piece, is_code, spoken_words, Answer, AnswerRules, ChannelPieces};

/// The unsure-answer settings, on the 16 kHz clock.
pub(super) struct UnsureRules {
    wait: u64,
    confidence: f32,
    min_words: usize,
    end_words: usize,
    max_len: u64,
    max_code_len: u64,
}

impl UnsureRules {
    pub fn new(th: &Thresholds) -> Self {
        UnsureRules {
            wait: from_seconds(th.unsure_answer_wait_s, ASR_RATE),
            confidence: th.unsure_answer_confidence,
            min_words: th.unsure_answer_min_words,
            end_words: th.unsure_answer_end_words,
            max_len: from_seconds(th.unsure_answer_max_s, ASR_RATE),
            max_code_len: from_seconds(th.unsure_answer_max_code_s, ASR_RATE),
        }
    }

    fn max_len(&self, kind: &EntityKind) -> u64 {
        if is_code(kind) {
            self.max_code_len
        } else {
            self.max_len
        }
    }
}

/// A request: its context phrase, the lexeme ending its sentence when that is a
/// question (on the asker's channel), and when the request was done being said.
pub(super) struct Asked<'a> {
    pub hit: &'a Hit,
    pub question: Option<usize>,
    pub until: u64,
}

/// Whether the recogniser doubted a word piece `p` of channel `ch` was read from (its
/// lowest confidence is under the unsure answers' threshold).
pub(super) fn doubted(rules: &AnswerRules, ch: &ChannelPieces, p: &Piece) -> bool {
    (p.lex.0..=p.lex.1)
        .filter_map(|i| ch.lexes.get(i))
        .map(|l| l.confidence)
        .fold(1.0, f32::min)
        < rules.unsure.confidence
}

/// Whether every word of context phrase `o` was doubted by the recogniser.
pub(super) fn doubted_hit(rules: &AnswerRules, channels: &[ChannelPieces], o: &Hit) -> bool {
    channels
        .iter()
        .find(|c| c.id == o.channel)
        .and_then(|c| c.lexes.get(o.lex.0..=o.lex.1))
        .is_some_and(|lexes| {
            !lexes.is_empty()
                && lexes
                    .iter()
                    .all(|l| l.kind == LexKind::Punct || l.confidence < rules.unsure.confidence)
        })
}

/// Whether request `asked`, said as a statement, names the item only in passing: its
/// sentence goes on past the phrase with at least `end_words` words heard with
/// confidence and then ends ("I need to update the card on my account."). Such a
/// sentence is no request, and the doubted words after it are no answer. A doubted or
/// digit-like word before the sentence ends may be the number itself: not in passing.
pub(super) fn said_in_passing(
    rules: &AnswerRules,
    asked_on: &ChannelPieces,
    asked: &Asked,
) -> bool {
    if asked.question.is_some() {
        return false;
    }
    let after = asked.hit.lex.1;
    let Some(end) = (after + 1..asked_on.lexes.len()).find(|&k| asked_on.lexes[k].ends_sentence())
    else {
        return false;
    };
    let mut words = 0;
    for p in asked_on
        .pieces
        .iter()
        .filter(|p| p.lex.0 > after && p.lex.1 < end)
    {
        if p.is_digit_like() || doubted(rules, asked_on, p) {
            return false;
        }
        // Counted in languages written in words; a character of Chinese is no word.
        let alpha = asked_on.lexes[p.lex.0].kind == LexKind::Alpha;
        words += usize::from(p.kind == PieceKind::Other && alpha);
    }
    words >= rules.unsure.end_words
}

/// The unsure answer to request `h` on channel `ch`: from the first doubted word within
/// the wait after the request, over doubted and digit-like words and short runs of
/// confident ones, to the last doubted or digit-like word before the answer ends (see
/// `rules.toml`). `None` when fewer than the minimum of doubted words are in it.
pub(super) fn answer_on(
    rules: &AnswerRules,
    ch: &ChannelPieces,
    asker: Option<&ChannelPieces>,
    asked: &Asked,
    block_at: u64,
    kind: &EntityKind,
) -> Option<Answer> {
    let u = &rules.unsure;
    let begin = first_answer_piece(ch, asked.hit, asked.question)?;
    let start_by = asked.until + u.wait;
    // Digits extend the answer but do not make one: digits heard with confidence are
    // the other answer rule's to judge (a date, "12 days", "two cards").
    let mut first: Option<usize> = None;
    let (mut last, mut count, mut digits, mut confident_run) = (0usize, 0usize, 0usize, 0usize);
    let mut open = true;
    for (i, p) in ch.pieces.iter().enumerate().skip(begin) {
        if !matches!(p.kind, PieceKind::Other) && !p.is_digit_like() {
            continue;
        }
        if p.span.start >= block_at {
            open = false;
            break;
        }
        let Some(f) = first else {
            if p.span.start > start_by {
                return None;
            }
            if doubted(rules, ch, p) {
                first = Some(i);
                (last, count, digits) = (i, 1, usize::from(p.is_digit_like()));
            }
            continue;
        };
        let prev = ch.pieces[last].span.end;
        let ends = p.span.start.saturating_sub(prev) > rules.gap
            || p.span.end.saturating_sub(ch.pieces[f].span.start) > u.max_len(kind)
            || asker.is_some_and(|a| {
                spoken_words(a, Span::new(prev, p.span.start.max(prev))) >= rules.asker_words
            });
        if ends {
            open = false;
            break;
        }
        if doubted(rules, ch, p) || p.is_digit_like() {
            (last, confident_run) = (i, 0);
            count += usize::from(doubted(rules, ch, p));
            digits += usize::from(p.is_digit_like());
        } else {
            confident_run += 1;
            if confident_run >= u.end_words {
                open = false;
                break;
            }
        }
    }
    let first = first?;
    (count >= u.min_words).then(|| Answer {
        digits,
        open,
        unsure: true,
        ..Answer::over(ch, kind, first, last, asked.until)
    })
}

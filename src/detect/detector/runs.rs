//! A detector's digit runs: what each run (or runs read in parts) is, the fail-closed
//! stretches of digits read out densely, and the spans items cover. Must not follow the
//! dialogue (that is `answer`) or mask text.

use crate::time::Span;

use super::{Channel, Detector};
use crate::detect::answer::{Answer, CODE_WHOLE_DIGITS};
use crate::detect::classify::{self, Classifier, Decision, Hit};
use crate::detect::dense::DensePieces;
use crate::detect::items::Item;
use crate::detect::lexicon::{Category, LexKind};
use crate::detect::normalize::PieceKind;
use crate::detect::validate::{is_card, is_cn_id};
use crate::detect::EntityKind;

impl Detector {
    /// Items of one run. Homophones at the run's edges ("thanks for 4539…", "oh eight
    /// twenty seven") are tried both ways: without them only if that validates and the
    /// run with them does not; otherwise the run with them, so a digit heard as a
    /// homophone is never left audible beside a redacted item (fail closed).
    pub(super) fn run_items(
        &self,
        cl: &Classifier,
        ch: &Channel,
        hits: &[Hit],
        run: &[usize],
        card_end: Option<u64>,
    ) -> Vec<Item> {
        let has_real_digit = run.iter().any(|&i| {
            matches!(
                ch.pieces[i].kind,
                PieceKind::Digit {
                    weak: false,
                    month: false,
                    ..
                }
            )
        });
        if !has_real_digit {
            return Vec::new();
        }
        let trimmed = strong_part(ch, run);
        let t = self.decide_candidate(cl, ch, hits, trimmed, card_end);
        if trimmed.len() == run.len() {
            return t;
        }
        let f = self.decide_candidate(cl, ch, hits, run, card_end);
        let t_valid = t.iter().any(|it| it.validated);
        let f_valid = f.iter().any(|it| it.validated);
        if (t_valid && !f_valid) || f.is_empty() {
            t
        } else {
            f
        }
    }

    fn decide_candidate(
        &self,
        cl: &Classifier,
        ch: &Channel,
        hits: &[Hit],
        idx: &[usize],
        card_end: Option<u64>,
    ) -> Vec<Item> {
        let digits = digits_of(ch, idx);
        let first = &ch.pieces[idx[0]];
        let last = &ch.pieces[idx[idx.len() - 1]];
        let span = self.cover(ch, idx[0], idx[idx.len() - 1]);
        // Keys are pressed when asked; what the caller says after keying ("… not in
        // time") is not about the keyed number. An amount, date or time is never this
        // long: a quantity word before it is no label of it, though a unit right after
        // a numeral written as an amount still names it ("1,234,567,890,123 dollars").
        // Digits read out in groups are no amount: "… 2-4, 4-8 time time" is a card's
        // "nine five".
        let keyed = ch.keyed[ch.lexes[first.lex.0].word];
        let spoken = ch.pieces[idx[0]..=idx[idx.len() - 1]]
            .iter()
            .filter(|p| p.is_digit() || p.kind == PieceKind::SoundAlike)
            .count();
        let too_long = spoken > self.rules.thresholds.quantity_max_digits;
        let as_amount = too_long && written_as_amount(&classify::groups(&ch.pieces, idx));
        let relevant: Vec<Hit>;
        let hits = if keyed || too_long {
            relevant = hits
                .iter()
                .filter(|h| !(keyed && h.channel == ch.id && h.lex.0 > last.lex.1))
                .filter(|h| !(too_long && quantity_label(h, ch.id, last.lex.1, as_amount)))
                .cloned()
                .collect();
            &relevant[..]
        } else {
            hits
        };
        let mut ctx = classify::nearby_context(
            hits,
            ch.id,
            span,
            (first.lex.0, last.lex.1),
            &ch.lexes,
            &self.rules.thresholds,
            self.context_before,
        );
        // Digits soon after a card on the same channel are likely its expiry or code,
        // even unasked; this is the weakest context, tried last.
        if card_end.is_some_and(|end| span.start >= end && span.start - end <= self.context_before)
            && !date_in_a_statement(ch, idx)
        {
            ctx.push(Category::AfterCard);
        }
        let groups = classify::groups(&ch.pieces, idx);
        cl.decide(&digits, &groups, &ctx)
            .into_iter()
            .map(|(r, dec)| self.item(ch, idx[r.start], idx[r.end - 1], dec))
            .collect()
    }

    /// Parts of one spoken ID that Whisper broke up with words it guessed ("腰三 什么
    /// 動五 哪 幺八…"): consecutive ID items on a channel, at most `max_fillers` words
    /// and `max_gap` apart, become one item, so the audio under the guesses (likely
    /// digits) is covered too.
    pub(super) fn join_id_parts(&self, mut items: Vec<Item>) -> Vec<Item> {
        items.sort_by_key(|it| it.span.start);
        let mut out: Vec<Item> = Vec::with_capacity(items.len());
        for it in items {
            if let Some(prev) = out.last_mut() {
                let words_between = it.first.0.saturating_sub(prev.last.0 + 1);
                if prev.kind == EntityKind::CnId
                    && it.kind == EntityKind::CnId
                    && !(prev.validated && it.validated)
                    && words_between <= self.rules.thresholds.max_fillers
                    && it.span.start.saturating_sub(prev.span.end) <= self.max_gap
                {
                    prev.last = it.last;
                    prev.span = prev.span.union(&it.span);
                    prev.validated = false;
                    prev.reason = "fail-closed:id-context".to_string();
                    prev.confidence = prev.confidence.min(it.confidence);
                    continue;
                }
            }
            out.push(it);
        }
        out
    }

    /// Digit pieces read out densely with a few other words among them (a card read in
    /// pairs and heard half as words), outside negative context: fail closed (see
    /// [`dense_decision`]). Amounts and times label no number this long. Piece ranges.
    pub(super) fn dense_stretches(
        &self,
        ch: &Channel,
        hits: &[Hit],
        breaks: &[Span],
        phrases: &[(usize, usize)],
    ) -> Vec<(usize, usize)> {
        let th = &self.rules.thresholds;
        let dense = DensePieces {
            phrases,
            min_digits: th.long_run_min_digits,
            min_density: th.dense_min_density,
            max_other: th.dense_max_gap_words,
            max_pause: self.max_gap,
            breaks,
        };
        dense
            .stretches(&ch.pieces)
            .into_iter()
            .filter(|&(p0, p1)| {
                let lex = (ch.pieces[p0].lex.0, ch.pieces[p1].lex.1);
                let digits: Vec<usize> = (p0..=p1).filter(|&i| ch.pieces[i].is_digit()).collect();
                let as_amount = written_as_amount(&classify::groups(&ch.pieces, &digits));
                let starts = ch.pieces[p0].span.start;
                let labels: Vec<Hit> = hits
                    .iter()
                    .filter(|h| !quantity_label(h, ch.id, lex.1, as_amount))
                    .filter(|h| !named_an_earlier_number(h, ch, starts))
                    .cloned()
                    .collect();
                classify::nearby_context(
                    &labels,
                    ch.id,
                    self.cover(ch, p0, p1),
                    lex,
                    &ch.lexes,
                    th,
                    self.context_before,
                )
                .first()
                    != Some(&Category::Negative)
            })
            .collect()
    }

    /// The item for pieces `p0..=p1` of a channel.
    pub(super) fn item(&self, ch: &Channel, p0: usize, p1: usize, dec: Decision) -> Item {
        let l0 = &ch.lexes[ch.pieces[p0].lex.0];
        let l1 = &ch.lexes[ch.pieces[p1].lex.1];
        Item {
            kind: dec.kind,
            channel: ch.id,
            span: self.cover(ch, p0, p1),
            reason: dec.reason,
            confidence: dec.confidence,
            validated: dec.validated,
            first: (l0.word, l0.bytes.start),
            last: (l1.word, l1.bytes.end),
        }
    }

    /// A card or ID read in two or three parts with other words between ("4539 1488,
    /// hang on, let me find my glasses, 0343 6467"): consecutive runs within the context
    /// window whose digits together pass a checksum, none in negative context. Each part
    /// becomes an item of its own, so the words between stay audible. Returns how many
    /// runs were used.
    pub(super) fn joined_items(
        &self,
        ch: &Channel,
        hits: &[Hit],
        runs: &[Vec<usize>],
    ) -> Option<(usize, Vec<Item>)> {
        for k in [2, 3] {
            let parts = runs.get(..k)?;
            let trimmed: Vec<&[usize]> = parts.iter().map(|r| strong_part(ch, r)).collect();
            if trimmed.iter().any(|t| {
                let d = digits_of(ch, t);
                t.is_empty() || is_card(&d) || is_cn_id(&d)
            }) {
                return None;
            }
            let joined: Vec<u8> = trimmed.iter().flat_map(|t| digits_of(ch, t)).collect();
            let n = joined.len();
            let kind = if n == 18 && is_cn_id(&joined) {
                EntityKind::CnId
            } else if is_card(&joined) {
                EntityKind::Card
            } else {
                if n > 19 {
                    return None;
                }
                continue;
            };
            let close = trimmed.windows(2).all(|w| {
                let a = ch.pieces[w[0][w[0].len() - 1]].span.end;
                let b = ch.pieces[w[1][0]].span.start;
                b.saturating_sub(a) <= self.context_before
            });
            let negative = trimmed.iter().any(|t| {
                let span = self.cover(ch, t[0], t[t.len() - 1]);
                let lex = (ch.pieces[t[0]].lex.0, ch.pieces[t[t.len() - 1]].lex.1);
                classify::nearby_context(
                    hits,
                    ch.id,
                    span,
                    lex,
                    &ch.lexes,
                    &self.rules.thresholds,
                    self.context_before,
                )
                .first()
                    == Some(&Category::Negative)
            });
            if !close || negative {
                return None;
            }
            let items = trimmed
                .iter()
                .map(|t| {
                    let dec = Decision {
                        kind: kind.clone(),
                        reason: "checksum-across-words".to_string(),
                        confidence: 0.85,
                        validated: true,
                    };
                    self.item(ch, t[0], t[t.len() - 1], dec)
                })
                .collect();
            return Some((k, items));
        }
        None
    }

    /// A run of real digits right before or after unheard (or untrusted) speech of its
    /// channel, or right after the other speaker went unheard (whatever they asked for,
    /// nobody heard: a looped agent channel hides "and the security code?"), as a
    /// fail-closed number.
    pub(super) fn run_beside_unheard(
        &self,
        ch: &Channel,
        run: &[usize],
        unheard: &[(u16, Span)],
        untrusted: &[(u16, Span)],
    ) -> Option<Item> {
        let (&p0, &p1) = (run.first()?, run.last()?);
        let span = self.cover(ch, p0, p1);
        let before_run =
            |u: &Span| u.start <= span.start && u.end.saturating_add(self.max_gap) >= span.start;
        let beside_own = |u: &Span| {
            (u.start >= span.end && u.start - span.end <= self.max_gap)
                || before_run(u)
                || u.overlaps(&span)
        };
        let beside = unheard.iter().any(|&(c, u)| {
            if c == ch.id {
                beside_own(&u)
            } else {
                before_run(&u)
            }
        }) || untrusted.iter().any(|&(c, u)| c == ch.id && beside_own(&u));
        let real_digits = run
            .iter()
            .filter(|&&i| matches!(ch.pieces[i].kind, PieceKind::Digit { weak: false, .. }))
            .count();
        if !beside || real_digits < MIN_DIGITS_BESIDE_UNHEARD {
            return None;
        }
        let dec = classify::decision(
            EntityKind::LongDigitRun,
            "fail-closed:beside-unheard-speech",
            0.5,
            false,
        )?;
        Some(self.item(ch, p0, p1, dec))
    }

    /// Union of the spans of pieces `p0..=p1` (digits and whatever was merged between).
    pub(super) fn cover(&self, ch: &Channel, p0: usize, p1: usize) -> Span {
        ch.pieces[p0..=p1]
            .iter()
            .map(|p| p.span)
            .reduce(|a, b| a.union(&b))
            .unwrap_or_default()
    }
}

/// Whether quantity phrase `h` ("time", "dollars") says nothing about a run too long to
/// be a quantity that ends at lexeme `last` of channel `channel`: true for every quantity
/// phrase but a unit after the run on its channel when the run is written `as_amount`.
fn quantity_label(h: &Hit, channel: u16, last: usize, as_amount: bool) -> bool {
    h.cat == Category::Quantity && !(as_amount && h.channel == channel && h.lex.0 > last)
}

/// Whether negative phrase `h` ("in case we get cut off", "order number") already named
/// the digits said on channel `ch` after it and before `starts`: a label names the number
/// read right after it, not the next one (a card read after the callback number it
/// asked for).
fn named_an_earlier_number(h: &Hit, ch: &Channel, starts: u64) -> bool {
    h.cat == Category::Negative
        && ch
            .pieces
            .iter()
            .filter(|p| p.is_digit() && p.span.start > h.span.end && p.span.start < starts)
            .count()
            >= NAMED_NUMBER_DIGITS
}

/// Digits said after a negative label that make the number it named: three, so a lone
/// "one" ("one moment") between it and a stretch does not.
const NAMED_NUMBER_DIGITS: usize = 3;

/// Whether numeral groups of these sizes are written the way Whisper writes an amount:
/// one numeral, or thousands ("1,234,567"), never the fours and pairs of a read-out.
fn written_as_amount(groups: &[usize]) -> bool {
    match groups {
        [_] => true,
        [first, rest @ ..] => (1..=3).contains(first) && rest.iter().all(|&g| g == 3),
        [] => false,
    }
}

/// The run without homophones at its edges.
fn strong_part<'r>(ch: &Channel, run: &'r [usize]) -> &'r [usize] {
    let strong = |&i: &usize| ch.pieces[i].is_strong_digit();
    match (run.iter().position(strong), run.iter().rposition(strong)) {
        (Some(a), Some(b)) => &run[a..=b],
        _ => &[],
    }
}

/// Digits a run needs to be redacted for lying beside unheard speech: two, so a lone
/// "one" or "a" beside a mumble stays, while "5289 6" before a number Whisper stopped
/// hearing does not.
const MIN_DIGITS_BESIDE_UNHEARD: usize = 2;

/// Runs without the digit words that belong to a context phrase of their channel ("the
/// three-digit code", "four digit code"): they name a number, they are not one. A run is
/// split where such a word was. A digit guessed from a misheard word (weak) is no digit
/// word of a phrase: "double-time" is "double nine" whatever "time" means elsewhere.
pub(super) fn without_phrase_digits(
    runs: Vec<Vec<usize>>,
    ch: &Channel,
    phrases: &[(usize, usize)],
) -> Vec<Vec<usize>> {
    let names_a_number = |i: usize| {
        let p = &ch.pieces[i];
        !matches!(p.kind, PieceKind::Digit { weak: true, .. })
            && classify::in_phrase(phrases, p.lex)
    };
    let mut out = Vec::with_capacity(runs.len());
    for run in runs {
        for part in run.split(|&i| names_a_number(i)) {
            if !part.is_empty() {
                out.push(part.to_vec());
            }
        }
    }
    out
}

/// ASCII digits of pieces `idx`, `X` for a check character.
/// Whether run `idx` is a calendar date ending a statement ("It will be posted to your
/// account on March 23"): a month name and a day (1-31) after at least
/// [`STATEMENT_WORDS`] words of its sentence. A caller reading an expiry unasked reads
/// the card's digits, alone ("… 6467. Oh three, twenty eight."), so such a date is not
/// taken for one.
fn date_in_a_statement(ch: &Channel, idx: &[usize]) -> bool {
    let is_month = |i: &usize| matches!(ch.pieces[*i].kind, PieceKind::Digit { month: true, .. });
    if !idx.first().is_some_and(is_month) {
        return false;
    }
    let day_idx: Vec<usize> = idx.iter().copied().filter(|i| !is_month(i)).collect();
    let day = digits_of(ch, &day_idx);
    let day_ok = (1..=2).contains(&day.len())
        && std::str::from_utf8(&day)
            .ok()
            .and_then(|s| s.parse::<u32>().ok())
            .is_some_and(|d| (1..=31).contains(&d));
    let words = ch.lexes[..ch.pieces[idx[0]].lex.0]
        .iter()
        .rev()
        .take_while(|l| !l.ends_sentence() && l.kind != LexKind::Num)
        .filter(|l| l.kind == LexKind::Alpha)
        .count();
    day_ok && words >= STATEMENT_WORDS
}

/// Words of a sentence before a date that make it a statement, not a caller's answer.
const STATEMENT_WORDS: usize = 3;

fn digits_of(ch: &Channel, idx: &[usize]) -> Vec<u8> {
    idx.iter()
        .map(|&i| match ch.pieces[i].kind {
            PieceKind::Digit { d, .. } => d,
            _ => b'X',
        })
        .collect()
}

/// Requests for a security code or an expiry date that a channel has answered: such a
/// request names the digits that answer it, not the ones said after its answer ("… 119.
/// And the billing list code, 34685": a zip code whose label was misheard).
pub(super) struct CodesAnswered {
    /// What was asked for, and the span of an answer to it.
    answers: Vec<(Category, Span)>,
}

/// Lexemes apart (a comma between counts) for a quantity word to be beside a request.
const BESIDE_LEXEMES: usize = 2;

fn code_category(kind: &EntityKind) -> Option<Category> {
    match kind {
        EntityKind::Cvv => Some(Category::Cvv),
        EntityKind::Expiry => Some(Category::Expiry),
        _ => None,
    }
}

impl CodesAnswered {
    /// Starts from the channel's answers read as digits.
    pub(super) fn from_answers(answers: &[&Answer]) -> Self {
        let answers = answers
            .iter()
            .filter(|a| !a.unsure && a.digits >= CODE_WHOLE_DIGITS)
            .filter_map(|a| Some((code_category(&a.kind)?, a.span)))
            .collect();
        CodesAnswered { answers }
    }

    /// Records the items found in runs holding `digits` digits in all.
    pub(super) fn record(&mut self, items: &[Item], digits: usize) {
        if digits < CODE_WHOLE_DIGITS {
            return;
        }
        for it in items {
            if let Some(cat) = code_category(&it.kind) {
                self.answers.push((cat, it.span));
            }
        }
    }

    /// The context phrases that may still name digits starting at `start`: all but
    /// requests for a code or date answered between the request and `start`.
    /// A quantity word beside such a request is its own word ("valid through date",
    /// "… through date, month and year") and goes with it.
    pub(super) fn still_asking(&self, hits: &[Hit], start: u64) -> Vec<Hit> {
        let answered = |h: &Hit| {
            self.answers
                .iter()
                .any(|(cat, s)| *cat == h.cat && s.start >= h.span.end && s.end <= start)
        };
        let done: Vec<&Hit> = hits.iter().filter(|h| answered(h)).collect();
        let beside_done = |h: &Hit| {
            h.cat == Category::Quantity
                && done.iter().any(|d| {
                    d.channel == h.channel
                        && (h.lex.0.abs_diff(d.lex.1) <= BESIDE_LEXEMES
                            || d.lex.0.abs_diff(h.lex.1) <= BESIDE_LEXEMES)
                })
        };
        hits.iter()
            .filter(|h| !answered(h) && !beside_done(h))
            .cloned()
            .collect()
    }
}

/// What a dense stretch of digits is: a long run, failed closed.
pub(super) fn dense_decision() -> Decision {
    Decision {
        kind: EntityKind::LongDigitRun,
        reason: "fail-closed:dense-digits".to_string(),
        confidence: 0.6,
        validated: false,
    }
}

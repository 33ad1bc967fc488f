//! Stitching and classification: finds context phrases, stitches digit pieces into runs
//! (across separators, fillers and short pauses, per channel), and decides what each run
//! is (validators first, then the nearest context, then the fail-closed rules). Must not
//! look at audio and must never put a digit of a run into a reason, log or error.

use regex::Regex;

use crate::time::Span;

use super::cn_numbers;
use super::lexicon::{Category, Lex, LexKind, Lexicon};
use super::normalize::{Piece, PieceKind};
use super::phonetic::Codes;
use super::pinyin_context::Readings;
use super::rules::Thresholds;
use super::validate::{is_card, is_cn_id, is_expiry, is_ssn, luhn};
use super::EntityKind;

/// A context phrase found in the words of one channel.
#[derive(Debug, Clone)]
pub(crate) struct Hit {
    pub channel: u16,
    pub cat: Category,
    pub span: Span,
    /// First and last lexeme (inclusive) in the channel's lexeme list.
    pub lex: (usize, usize),
    /// Matched with a word heard as a sound-alike ("car number"), not word for word.
    pub guessed: bool,
}

fn is_context_lexeme(l: &Lex) -> bool {
    l.kind != LexKind::Punct || "$€£¥%#".contains(l.text.as_str())
}

/// Whether lexeme `l` is the phrase word `t`. A numeral digit is its digit word, so
/// "3-digit code" is the phrase "three digit code".
fn same_word(lx: &Lexicon, l: &Lex, t: &str) -> bool {
    l.text == t
        || (l.kind == LexKind::Num && lx.digit.get(t) == Some(&(l.text.as_bytes()[0], false)))
}

/// The phrase-table keys a phrase starting at `l` may be filed under.
fn phrase_keys<'a>(lx: &'a Lexicon, l: &'a Lex) -> impl Iterator<Item = &'a str> + 'a {
    let words = lx
        .digit
        .iter()
        .filter(move |_| l.kind == LexKind::Num)
        .filter(move |(_, &(d, weak))| !weak && d == l.text.as_bytes()[0])
        .map(|(w, _)| w.as_str());
    std::iter::once(l.text.as_str()).chain(words)
}

/// Leftmost-longest phrase matches, so "expiration date" is expiry, not a date.
pub(crate) fn context_hits(lx: &Lexicon, channel: u16, lexes: &[Lex]) -> Vec<Hit> {
    let idx: Vec<usize> = (0..lexes.len())
        .filter(|&i| is_context_lexeme(&lexes[i]))
        .collect();
    let codes: Vec<Option<Codes>> = match &lx.phonetic {
        Some(p) if !lx.sound_phrases.is_empty() => lexes
            .iter()
            .map(|l| (l.kind == LexKind::Alpha).then(|| p.codes(&l.text)))
            .collect(),
        _ => Vec::new(),
    };
    let readings: Vec<Option<Readings>> = match &lx.pinyin {
        Some(_) => lexes
            .iter()
            .map(|l| Readings::of(l, |t| lx.is_digit(t)))
            .collect(),
        None => Vec::new(),
    };
    let mut hits = Vec::new();
    let mut k = 0;
    while k < idx.len() {
        let found = phrase_keys(lx, &lexes[idx[k]]).find_map(|first| {
            lx.phrases.get(first)?.iter().find(|(toks, _)| {
                toks.len() <= idx.len() - k
                    && toks
                        .iter()
                        .enumerate()
                        .all(|(j, t)| same_word(lx, &lexes[idx[k + j]], t))
            })
        });
        let exact = found.map(|(toks, cat)| (toks.len(), *cat));
        let guessed = exact.is_none();
        let found = exact
            .or_else(|| sound_alike_phrase(lx, lexes, &idx[k..], &codes))
            .or_else(|| lx.pinyin.as_ref()?.phrase_at_lexemes(&idx[k..], &readings));
        match found {
            Some((n, cat)) => {
                let (a, b) = (idx[k], idx[k + n - 1]);
                hits.push(Hit {
                    channel,
                    cat,
                    span: lexes[a].span.union(&lexes[b].span),
                    lex: (a, b),
                    guessed,
                });
                k += n;
            }
            None => k += 1,
        }
    }
    hits
}

/// A phrase asking for a sensitive item said at `at` (context lexeme indices) with one
/// of its words heard as a sound-alike ("car number", "security cold"): every other word
/// exactly as in the phrase. Returns its length in lexemes and its category. Only
/// phrases that widen redaction are matched this way, never negative ones.
fn sound_alike_phrase(
    lx: &Lexicon,
    lexes: &[Lex],
    at: &[usize],
    codes: &[Option<Codes>],
) -> Option<(usize, Category)> {
    let p = lx.phonetic.as_ref()?;
    lx.sound_phrases.iter().find_map(|(toks, tcodes, cat)| {
        let window = at.get(..toks.len())?;
        let mut alike = 0;
        for ((&i, t), tc) in window.iter().zip(toks).zip(tcodes) {
            if same_word(lx, &lexes[i], t) {
                continue;
            }
            if lx.is_number_word(&lexes[i].text) {
                return None;
            }
            match codes.get(i).and_then(Option::as_ref) {
                Some(c) if p.sounds_like(c, tc) => alike += 1,
                _ => return None,
            }
        }
        (alike <= 1).then_some((toks.len(), *cat))
    })
}

/// Digit runs of one channel: indices into `pieces` of the digits (and a trailing check
/// character) of each run. A run continues across separators, at most `max_fillers`
/// fillers and gaps of at most `max_gap` samples; anything else ends it, and so does a
/// context phrase on another channel (`breaks`, sorted by start) inside the gap.
///
/// One unknown word right between two digits of a number already
/// [`DIGITS_BEFORE_GUESS`] long is a digit Whisper misheard ("double one" → "Devil")
/// and counts as a filler, unless it belongs to a context phrase of this channel
/// (`phrases`: lexeme ranges).
pub(crate) fn runs(
    pieces: &[Piece],
    max_gap: u64,
    max_fillers: usize,
    breaks: &[Span],
    phrases: &[(usize, usize)],
) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    let mut cur: Vec<usize> = Vec::new();
    let mut fillers = 0;
    let mut guessed = false;
    let mut last_end = 0u64;
    for (i, p) in pieces.iter().enumerate() {
        match p.kind {
            PieceKind::Digit { .. } | PieceKind::CheckX => {
                let joins = !cur.is_empty()
                    && fillers <= max_fillers
                    // A guessed digit sits right between digits, with no filler beside it.
                    && !(guessed && fillers > 1)
                    && p.span.start.saturating_sub(last_end) <= max_gap
                    && !broken_by(breaks, Span::new(last_end, p.span.start.max(last_end)));
                fillers = 0;
                guessed = false;
                if joins {
                    cur.push(i);
                    last_end = last_end.max(p.span.end);
                } else {
                    if !cur.is_empty() {
                        out.push(std::mem::take(&mut cur));
                    }
                    if p.kind == PieceKind::CheckX {
                        continue;
                    }
                    cur.push(i);
                    last_end = p.span.end;
                }
                if p.kind == PieceKind::CheckX {
                    out.push(std::mem::take(&mut cur));
                }
            }
            // A sound-alike lies between two digits by construction: neutral, like a
            // separator.
            PieceKind::Sep | PieceKind::SoundAlike => {}
            PieceKind::Filler => fillers += 1,
            PieceKind::Other
                if cur.len() >= DIGITS_BEFORE_GUESS && !guessed && !in_phrase(phrases, p.lex) =>
            {
                guessed = true;
                fillers += 1;
            }
            PieceKind::Other => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Whether lexemes `lex` lie inside one of `phrases` (inclusive lexeme ranges).
pub(crate) fn in_phrase(phrases: &[(usize, usize)], lex: (usize, usize)) -> bool {
    phrases.iter().any(|&(a, b)| a <= lex.0 && lex.1 <= b)
}

/// Digits a run must have before an unknown word inside it is taken for a misheard digit.
const DIGITS_BEFORE_GUESS: usize = 4;

/// What to do with a candidate run (or part of one).
#[derive(Debug, Clone)]
pub(crate) struct Decision {
    pub kind: EntityKind,
    pub reason: String,
    pub confidence: f32,
    /// Decided by a checksum rather than by context or a fail-closed rule.
    pub validated: bool,
}

pub(crate) fn decision(
    kind: EntityKind,
    reason: &str,
    confidence: f32,
    validated: bool,
) -> Option<Decision> {
    Some(Decision {
        kind,
        reason: reason.to_string(),
        confidence,
        validated,
    })
}

pub(crate) struct CustomDigits {
    pub index: usize,
    pub name: String,
    pub regex: Regex,
    pub needs_context: bool,
}

pub(crate) struct Classifier<'a> {
    pub th: &'a Thresholds,
    pub custom: &'a [CustomDigits],
    /// Whether mainland mobile numbers are redacted (opt-in in the rules).
    pub mobile: bool,
}

/// Digits before a trailing X that make a damaged resident ID (17 in a whole one; 15 to
/// 18 allow two lost or one heard twice; 14 covers a first-generation ID misheard with X).
const ID_WITH_X_MIN_DIGITS: usize = 14;
const ID_WITH_X_MAX_DIGITS: usize = 18;

fn is_payment(cat: &Category) -> bool {
    matches!(cat, Category::Card | Category::Cvv | Category::Expiry)
}

impl Classifier<'_> {
    /// The decision for digits `d` (ASCII, a trailing `X` for a spoken check character),
    /// written in numeral groups `groups`, with `ctxs` the nearby context, nearest first.
    /// Negative context wins only when nearest; otherwise the first category the digits
    /// fit decides.
    pub fn decide_one(&self, d: &[u8], groups: &[usize], ctxs: &[Category]) -> Option<Decision> {
        let th = self.th;
        let pure: &[u8] = match d.split_last() {
            Some((b'X', rest)) => rest,
            _ => d,
        };
        let n = pure.len();
        let card_ctx = ctxs.contains(&Category::Card);
        if d.len() == 18 && is_cn_id(d) && !(card_ctx && is_card(d)) {
            return decision(
                EntityKind::CnId,
                "cn-id-checksum+birth-date+region",
                0.98,
                true,
            );
        }
        if n == d.len() {
            if let Some(dec) = cn_numbers::decide(pure, ctxs, self.mobile) {
                return Some(dec);
            }
        }
        if n == d.len() && is_card(pure) {
            return decision(EntityKind::Card, "luhn+issuer", 0.97, true);
        }
        if n == d.len() && (13..=19).contains(&n) && luhn(pure) && card_ctx {
            return decision(EntityKind::Card, "luhn+context:card", 0.9, true);
        }
        let text = std::str::from_utf8(pure).unwrap_or("");
        for c in self.custom {
            let ctx_ok = if c.needs_context {
                ctxs.contains(&Category::Custom(c.index))
            } else {
                ctxs.first() != Some(&Category::Negative)
            };
            if ctx_ok && c.regex.is_match(text) {
                return decision(
                    EntityKind::Custom(c.name.clone()),
                    "custom:digits",
                    0.85,
                    false,
                );
            }
        }
        // Only a resident ID ends in the check character X: with a digit or few lost or
        // misheard, and its request unheard, such a run is still an ID.
        if pure.len() < d.len() && (ID_WITH_X_MIN_DIGITS..=ID_WITH_X_MAX_DIGITS).contains(&n) {
            return decision(EntityKind::CnId, "fail-closed:id-check-x", 0.7, false);
        }
        if ctxs.first() == Some(&Category::Negative) {
            return None;
        }
        for ctx in ctxs {
            let dec = match ctx {
                Category::Cvv if (3..=4).contains(&n) => {
                    decision(EntityKind::Cvv, "context:cvv", 0.9, false)
                }
                // Whisper drops repeated digits ("five three three" → "3-3"): what is
                // left of a code right after it was asked for is still the code.
                Category::Cvv if (1..=2).contains(&n) => {
                    decision(EntityKind::Cvv, "fail-closed:cvv-partial", 0.6, false)
                }
                Category::Expiry if (1..=6).contains(&n) => {
                    if is_expiry(pure) {
                        decision(EntityKind::Expiry, "context:expiry+date", 0.92, false)
                    } else {
                        decision(EntityKind::Expiry, "context:expiry", 0.75, false)
                    }
                }
                Category::Ssn if n == 9 => {
                    if is_ssn(pure) {
                        decision(EntityKind::Ssn, "ssn-rules+context:ssn", 0.95, false)
                    } else {
                        decision(EntityKind::Ssn, "context:ssn", 0.75, false)
                    }
                }
                // A repeated digit dropped, or one heard twice, right after the
                // number was asked for: still the number.
                Category::Ssn if (7..=11).contains(&n) => {
                    decision(EntityKind::Ssn, "fail-closed:ssn-partial", 0.6, false)
                }
                Category::Ssn if n == 4 => {
                    decision(EntityKind::Ssn, "context:ssn-last-four", 0.8, false)
                }
                Category::AfterCard if (3..=4).contains(&n) => {
                    if n == 4 && is_expiry(pure) {
                        decision(EntityKind::Expiry, "fail-closed:after-card", 0.6, false)
                    } else {
                        decision(EntityKind::Cvv, "fail-closed:after-card", 0.6, false)
                    }
                }
                Category::CnId if d.len() >= th.id_context_min_digits => {
                    decision(EntityKind::CnId, "fail-closed:id-context", 0.7, false)
                }
                _ => None,
            };
            if dec.is_some() {
                return dec;
            }
        }
        if looks_like_date(pure, groups) {
            return None;
        }
        if ctxs.iter().any(is_payment) && n >= th.payment_min_digits {
            return decision(
                EntityKind::LongDigitRun,
                "fail-closed:payment-context",
                0.7,
                false,
            );
        }
        if n == 9 && groups == [3, 2, 4] && is_ssn(pure) {
            return decision(EntityKind::Ssn, "ssn-rules+grouping", 0.8, false);
        }
        if d.len() >= th.long_run_min_digits {
            return decision(EntityKind::LongDigitRun, "fail-closed:long-run", 0.6, false);
        }
        None
    }

    /// Decisions for `d`, split into parts when a card or ID is merged with more digits
    /// (a card read straight into its expiry): each part is (range in `d`, decision).
    pub fn decide(
        &self,
        d: &[u8],
        groups: &[usize],
        ctxs: &[Category],
    ) -> Vec<(std::ops::Range<usize>, Decision)> {
        let n = d.len();
        let whole = self.decide_one(d, groups, ctxs);
        if whole.is_none() {
            // Asked for both, or said right after a card unasked and unlabelled ("…
            // 0560. 01, 2026, 540."): an expiry and a code read as one run.
            let reason = if ctxs.contains(&Category::Expiry) && ctxs.contains(&Category::Cvv) {
                Some("context:expiry+cvv")
            } else {
                (ctxs.contains(&Category::AfterCard) && !ctxs.contains(&Category::Negative))
                    .then_some("fail-closed:after-card")
            };
            if let Some(parts) = reason.and_then(|why| expiry_and_cvv(d, groups, why)) {
                return parts;
            }
        }
        if n < 20 {
            return whole.map(|w| vec![(0..n, w)]).unwrap_or_default();
        }
        // Where a card or ID sits in a longer run: a prefix or suffix, preferring edges on
        // a written group boundary and the common lengths.
        let mut bounds = vec![0];
        for g in groups {
            bounds.push(bounds.last().copied().unwrap_or(0) + g);
        }
        let aligned_ok = bounds.last() == Some(&n);
        let mut found = None;
        'search: for aligned in [true, false] {
            if aligned && !aligned_ok {
                continue;
            }
            for len in [16, 15, 19, 18, 17, 14, 13] {
                for r in [0..len, n - len..n] {
                    let edge = if r.start == 0 { r.end } else { r.start };
                    if aligned && !bounds.contains(&edge) {
                        continue;
                    }
                    let w = &d[r.clone()];
                    let dec = if len == 18 && is_cn_id(w) {
                        decision(
                            EntityKind::CnId,
                            "cn-id-checksum+birth-date+region",
                            0.95,
                            true,
                        )
                    } else if is_card(w) {
                        decision(EntityKind::Card, "luhn+issuer", 0.95, true)
                    } else {
                        None
                    };
                    if let Some(dec) = dec {
                        found = Some((r, dec));
                        break 'search;
                    }
                }
            }
        }
        let Some((r, dec)) = found else {
            return whole.map(|w| vec![(0..n, w)]).unwrap_or_default();
        };
        // The rest is decided the same way (a card read twice is two cards); what is
        // left undecided is the card's expiry or code, or fails closed.
        let rest = |range: std::ops::Range<usize>, after: bool| {
            let sub = self.decide(&d[range.clone()], &[], ctxs);
            if sub.iter().any(|(_, x)| x.validated) {
                sub.into_iter()
                    .map(|(r, x)| (r.start + range.start..r.end + range.start, x))
                    .collect()
            } else {
                vec![(range.clone(), self.merged_part(&d[range], after))]
            }
        };
        let mut out = Vec::new();
        if r.start > 0 {
            out.extend(rest(0..r.start, false));
        }
        let end = r.end;
        out.push((r, dec));
        if end < n {
            out.extend(rest(end..n, true));
        }
        out
    }

    /// Digits spoken straight before or after a card or ID: its expiry or security code
    /// when they look like one, otherwise redacted as a fail-closed run.
    fn merged_part(&self, d: &[u8], after: bool) -> Decision {
        let dec = if after && d.len() == 4 && is_expiry(d) {
            decision(EntityKind::Expiry, "adjacent-to-card+date", 0.8, false)
        } else if after && (3..=4).contains(&d.len()) {
            decision(EntityKind::Cvv, "adjacent-to-card", 0.7, false)
        } else {
            decision(
                EntityKind::LongDigitRun,
                "fail-closed:merged-with-card",
                0.7,
                false,
            )
        };
        dec.expect("always some")
    }
}

/// A written calendar date ("12/05/2024", "2024-05-12"): day, month and year groups
/// that make a real date. Dates are negative context in themselves.
pub(crate) fn looks_like_date(d: &[u8], groups: &[usize]) -> bool {
    let num = |r: std::ops::Range<usize>| -> u32 {
        d[r].iter().fold(0, |acc, x| acc * 10 + (x - b'0') as u32)
    };
    if !d.iter().all(u8::is_ascii_digit)
        || groups.len() != 3
        || groups.iter().sum::<usize>() != d.len()
    {
        return false;
    }
    let (a, b, c) = (groups[0], groups[1], groups[2]);
    let (y, m_or_d1, m_or_d2) = match (a, b, c) {
        (4, 1..=2, 1..=2) => (num(0..4), num(4..4 + b), num(4 + b..4 + b + c)),
        (1..=2, 1..=2, 4) => (num(a + b..a + b + 4), num(0..a), num(a..a + b)),
        _ => return false,
    };
    let day_month = |x: u32, y: u32| (1..=12).contains(&x) && (1..=31).contains(&y);
    (1900..=2099).contains(&y) && (day_month(m_or_d1, m_or_d2) || day_month(m_or_d2, m_or_d1))
}

/// "08 27 and 123" asked for together: an expiry and a code in one run, cut at a group
/// boundary.
fn expiry_and_cvv(
    d: &[u8],
    groups: &[usize],
    reason: &str,
) -> Option<Vec<(std::ops::Range<usize>, Decision)>> {
    let n = d.len();
    let mut cut = 0;
    for g in groups {
        cut += g;
        if cut >= n {
            break;
        }
        let (a, b) = (&d[..cut], &d[cut..]);
        let parts = if is_expiry(a) && (3..=4).contains(&b.len()) {
            [(EntityKind::Expiry, 0..cut), (EntityKind::Cvv, cut..n)]
        } else if (3..=4).contains(&a.len()) && is_expiry(b) {
            [(EntityKind::Cvv, 0..cut), (EntityKind::Expiry, cut..n)]
        } else {
            continue;
        };
        return Some(
            parts
                .into_iter()
                .filter_map(|(kind, r)| Some((r, decision(kind, reason, 0.8, false)?)))
                .collect(),
        );
    }
    None
}

/// Sizes of the written numeral groups of a run ("123-45-6789" → 3, 2, 4); each spoken
/// digit is a group of its own.
pub(crate) fn groups(pieces: &[Piece], idx: &[usize]) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::new();
    let mut prev: Option<u32> = None;
    for &i in idx {
        let g = pieces[i].num_group;
        match (prev, out.last_mut()) {
            (Some(p), Some(last)) if g != 0 && p == g => *last += 1,
            _ => out.push(1),
        }
        prev = Some(g);
    }
    out
}

/// True when the sentence holding lexeme `at` ends in a question mark. A question after
/// a number asks for the next one ("12 30. And the security code?"), so it is not that
/// number's context; a statement after it can be ("… that's my card number.").
fn in_question(lexes: &[Lex], at: usize) -> bool {
    question_end(lexes, at).is_some()
}

/// The lexeme index of the question mark ending the sentence that holds lexeme `at`, if
/// that sentence is a question.
pub(crate) fn question_end(lexes: &[Lex], at: usize) -> Option<usize> {
    let (i, l) = lexes
        .iter()
        .enumerate()
        .skip(at)
        .find(|(_, l)| l.ends_sentence())?;
    l.is_question_mark().then_some(i)
}

/// Categories of the context phrases near a run, nearest first: before the run on any
/// channel within `before` samples, or after it on the same channel within
/// `context_after_words` words (word for word: a phrase only guessed from a sound-alike,
/// "that's all gone through" for "good through", may ask for a number but does not name
/// the one before it). Only phrases within `CLUSTER` of the nearest one count,
/// so "the expiration date on the card" offers both expiry and card.
pub(crate) fn nearby_context(
    hits: &[Hit],
    channel: u16,
    span: Span,
    lex: (usize, usize),
    lexes: &[Lex],
    th: &Thresholds,
    before: u64,
) -> Vec<Category> {
    let mut found: Vec<(u64, bool, Category)> = Vec::new();
    for h in hits {
        let same = h.channel == channel;
        let cand = if (same && h.lex.1 < lex.0) || (!same && h.span.start < span.start) {
            let dist = span.start.saturating_sub(h.span.end);
            let asked_since =
                same && h.cat.is_negative() && question_between(lexes, h.lex.1, lex.0);
            (dist <= before && !asked_since).then_some((dist, false))
        } else if !same && h.span.start < span.end && !h.cat.is_negative() {
            // The other speaker asked for a number while this run was being read, as
            // Whisper timed it: its word times smear over the pause the question was
            // asked in, so the run may hold the answer. As near as context gets.
            Some((0, false))
        } else if same && h.lex.0 > lex.1 && !h.guessed && !introduces_numerals(lexes, h.lex.1) {
            if unit_after(lexes, lex.1, h) {
                // A unit right after the digits ("945 PM", "45 dollars") names them,
                // even when Whisper ran the sentence on into a question; not one followed
                // by numerals of its own ("… 5.3. 6th, 0, 3, 3": "th" is about the "6").
                Some((0, true))
            } else if in_question(lexes, h.lex.1) {
                None
            } else {
                let words_between = lexes[lex.1 + 1..h.lex.0]
                    .iter()
                    .filter(|l| is_context_lexeme(l))
                    .count();
                (words_between <= th.context_after_words)
                    .then_some((h.span.start.saturating_sub(span.end), true))
            }
        } else {
            None
        };
        if let Some((dist, after)) = cand {
            let cat = match h.cat {
                Category::Quantity => Category::Negative,
                cat => cat,
            };
            found.push((dist, after, cat));
        }
    }
    found.sort_by_key(|&(dist, after, _)| (dist, after));
    let Some(&(nearest, _, _)) = found.first() else {
        return Vec::new();
    };
    let mut out: Vec<Category> = Vec::new();
    for (dist, _, cat) in found {
        if dist <= nearest + CLUSTER && !out.contains(&cat) {
            out.push(cat);
        }
    }
    out
}

/// Whether hit `h` is a quantity word said right after lexeme `last` (a run's last),
/// punctuation aside: "945 PM", "8:30 p.m", "45 dollars".
fn unit_after(lexes: &[Lex], last: usize, h: &Hit) -> bool {
    h.cat == Category::Quantity
        && lexes
            .get(last + 1..h.lex.0)
            .is_some_and(|between| between.iter().all(|l| !is_context_lexeme(l)))
}

/// Whether a question was asked between the sentence holding lexeme `from` and lexeme
/// `to` ("… my order. The number is 22141660. Can I have the card number? 4829 …"): a
/// new request, so a label said before it no longer speaks for what follows.
fn question_between(lexes: &[Lex], from: usize, to: usize) -> bool {
    let Some(own_end) = (from..to).find(|&i| lexes[i].ends_sentence()) else {
        return false;
    };
    lexes[own_end + 1..to].iter().any(Lex::is_question_mark)
}

/// Whether the phrase ending at lexeme `end` is followed by numerals of its own within
/// [`OWN_NUMBER_WORDS`] words and before its sentence ends ("…，我的订单号是7962…",
/// "order number 4417…"): then it says what those are, not what came before it.
fn introduces_numerals(lexes: &[Lex], end: usize) -> bool {
    lexes
        .iter()
        .skip(end + 1)
        .take_while(|l| !l.ends_sentence())
        .filter(|l| is_context_lexeme(l))
        .take(OWN_NUMBER_WORDS + 1)
        .any(|l| l.kind == LexKind::Num)
}

/// Words between a phrase and the numerals it introduces ("是", "is the").
const OWN_NUMBER_WORDS: usize = 2;

/// Phrases this close (samples, 16 kHz) to the nearest one belong to the same request.
const CLUSTER: u64 = 3 * crate::time::ASR_RATE as u64;

/// Whether a context hit on another channel falls inside `gap`: a question between
/// two digits ("… 6467. And the CVV? 123") ends the run.
pub(crate) fn broken_by(breaks: &[Span], gap: Span) -> bool {
    let i = breaks.partition_point(|b| b.start < gap.start);
    breaks.get(i).is_some_and(|b| b.start < gap.end)
}

#[cfg(test)]
mod tests;

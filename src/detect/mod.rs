//! Detection of spoken sensitive numbers: payment cards, national IDs, SSNs, CVVs,
//! expiry dates and user-defined entities, in transcribed words with timings.
//!
//! Owns spoken-number normalisation (English and Chinese), validators (Luhn, issuer
//! ranges, GB 11643 checksum, SSN rules), context rules, stitching across pauses and
//! segments, and text masking. It takes words and returns spans plus masked words.
//! Must not touch audio, files or keys, and must never log or return a detected value.
//!
//! How a call's words become redactions, per channel (speaker):
//! 1. [`lexicon`] cuts each word into lexemes, each with its share of the word's time
//!    (from Whisper's tokens when they spell the word).
//! 2. [`normalize`] reads lexemes as digits ("forty one eleven" → 4 1 1 1, 腰 → 1 when
//!    next to digits), separators, fillers and other words.
//! 3. [`classify`] stitches digits into runs across separators, fillers and short pauses,
//!    finds context phrases on both channels, and decides each run: checksums first
//!    (card, CN ID), then the nearest context (CVV, expiry, SSN, ID, negative), then the
//!    fail-closed rules for long runs.
//! 4. [`mask`] replaces each item in the words by its tag.
//!
//! [`Detector::detect`] is pure and takes a whole call; a live caller can run it over a
//! sliding window of recent words (longer than the gap and context settings) and keep
//! the items that end before the window's unsettled tail.

mod classify;
mod lexicon;
mod mask;
mod normalize;
mod rules;
pub mod validate;

use std::collections::BTreeMap;
use std::path::PathBuf;

use regex::Regex;

use crate::asr::Word;
use crate::time::{from_seconds, Span, ASR_RATE};

use classify::{Classifier, CustomDigits, Hit};
use lexicon::{Category, Lex, Lexicon};
use normalize::{Piece, PieceKind};

pub use rules::{ContextRules, CustomRule, LangRules, Language, Rules, Thresholds};

/// A word heard on one channel (speaker) of a call.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelWord {
    pub channel: u16,
    pub word: Word,
}

/// What a redacted item is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EntityKind {
    Card,
    CnId,
    Ssn,
    Cvv,
    Expiry,
    /// A long digit run no validator accepted, redacted to fail closed.
    LongDigitRun,
    /// Digits keyed on the phone (RFC 4733 events).
    Dtmf,
    /// A user-defined entity from the rules file, by name.
    Custom(String),
}

impl EntityKind {
    /// The tag that replaces the item in masked text, e.g. `[CARD]`.
    pub fn tag(&self) -> String {
        match self {
            EntityKind::Custom(name) => format!("[{}]", name.to_uppercase()),
            other => format!("[{}]", other.as_str().to_uppercase()),
        }
    }

    /// The name used in transcript JSON, e.g. `card`.
    pub fn as_str(&self) -> &str {
        match self {
            EntityKind::Card => "card",
            EntityKind::CnId => "cn_id",
            EntityKind::Ssn => "ssn",
            EntityKind::Cvv => "cvv",
            EntityKind::Expiry => "expiry",
            EntityKind::LongDigitRun => "number",
            EntityKind::Dtmf => "dtmf",
            EntityKind::Custom(name) => name,
        }
    }
}

/// One item to redact. Carries no digit of the value.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    pub kind: EntityKind,
    pub channel: u16,
    /// On the 16 kHz recognition clock: from the first digit's start to the last digit's
    /// end, including the words merged into the item.
    pub span: Span,
    /// Why, e.g. `luhn+issuer`, `context:cvv`, `fail-closed:long-run`; never a digit.
    pub reason: String,
    pub confidence: f32,
}

/// A word of the masked transcript.
#[derive(Debug, Clone, PartialEq)]
pub struct MaskedWord {
    pub channel: u16,
    /// The original word, or, for the word where an item starts, the text before the
    /// item followed by the tag. Words wholly inside an item are left out.
    pub text: String,
    /// The word's span; for a tag word, widened to cover the whole item.
    pub span: Span,
    /// Set on the word that carries an item's tag.
    pub redacted: Option<EntityKind>,
}

/// Everything [`Detector::detect`] found in a call.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Detections {
    /// Sorted by start time, then channel.
    pub items: Vec<Detection>,
    /// The words in input order, masked.
    pub masked: Vec<MaskedWord>,
}

/// Errors of building a detector from rules. Messages name the rule or file, never a value.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    #[error(
        "cannot read detection rules file {path}: {source}; check the path and its permissions"
    )]
    RulesRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("detection rules are not valid: {message}; compare with the default rules.toml")]
    RulesSyntax { message: String },
    #[error("invalid detection rule: {0}")]
    InvalidRule(String),
    #[error("unknown detection language `{0}`; use en or zh")]
    UnknownLanguage(String),
    #[error("custom rule `{name}` has an invalid {field}: {message}")]
    BadRegex {
        name: String,
        field: &'static str,
        message: String,
    },
}

/// A compiled set of rules; cheap to share between threads.
pub struct Detector {
    rules: Rules,
    lexicon: Lexicon,
    custom_digits: Vec<CustomDigits>,
    custom_text: Vec<(String, Regex)>,
    max_gap: u64,
    context_before: u64,
}

/// Internal form of an item, in channel-local word indices.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub kind: EntityKind,
    pub channel: u16,
    pub span: Span,
    pub reason: String,
    pub confidence: f32,
    /// Decided by a checksum, not by context or a fail-closed rule.
    pub validated: bool,
    /// (word, byte offset) where the item starts and (word, byte offset) where it ends.
    pub first: (usize, usize),
    pub last: (usize, usize),
}

struct Channel<'a> {
    id: u16,
    /// Global indices of this channel's words, in time order.
    order: Vec<usize>,
    words: Vec<&'a Word>,
    lexes: Vec<Lex>,
    pieces: Vec<Piece>,
}

impl Detector {
    pub fn new(rules: Rules) -> Result<Self, DetectError> {
        let mut custom_digits = Vec::new();
        let mut custom_text = Vec::new();
        let mut custom_context = Vec::new();
        for (index, c) in rules.custom.iter().enumerate() {
            let compile = |field: &'static str, re: &str| {
                Regex::new(re).map_err(|e| DetectError::BadRegex {
                    name: c.name.clone(),
                    field,
                    message: e.to_string(),
                })
            };
            if let Some(re) = &c.digits_regex {
                custom_digits.push(CustomDigits {
                    index,
                    name: c.name.clone(),
                    regex: compile("digits_regex", re)?,
                    needs_context: !c.context.is_empty(),
                });
                custom_context.push((index, c.context.clone()));
            }
            if let Some(re) = &c.text_regex {
                custom_text.push((c.name.clone(), compile("text_regex", re)?));
            }
        }
        let lexicon = Lexicon::new(&rules, &custom_context)?;
        let max_gap = from_seconds(rules.thresholds.max_gap_s, ASR_RATE);
        let context_before = from_seconds(rules.thresholds.context_before_s, ASR_RATE);
        Ok(Detector {
            rules,
            lexicon,
            custom_digits,
            custom_text,
            max_gap,
            context_before,
        })
    }

    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// Finds the items to redact in all words of a call (channels interleaved or grouped,
    /// any order) and masks them. Pure: no I/O, and the same words give the same result.
    pub fn detect(&self, words: &[ChannelWord]) -> Detections {
        let channels = self.channels(words);
        let hits: Vec<Hit> = channels
            .iter()
            .flat_map(|c| classify::context_hits(&self.lexicon, c.id, &c.lexes))
            .collect();
        let classifier = Classifier {
            th: &self.rules.thresholds,
            custom: &self.custom_digits,
        };
        let mut items: Vec<(usize, Item)> = Vec::new();
        for (ci, ch) in channels.iter().enumerate() {
            let mut breaks: Vec<Span> = hits
                .iter()
                .filter(|h| h.channel != ch.id)
                .map(|h| h.span)
                .collect();
            breaks.sort_by_key(|s| s.start);
            let mut found: Vec<Item> = Vec::new();
            for (name, re) in &self.custom_text {
                let more = text_items(ch, name, re, &found);
                found.extend(more);
            }
            let th = &self.rules.thresholds;
            let mut card_end: Option<u64> = None;
            for run in classify::runs(&ch.pieces, self.max_gap, th.max_fillers, &breaks) {
                for it in self.run_items(&classifier, ch, &hits, &run, card_end) {
                    if matches!(it.kind, EntityKind::Card | EntityKind::LongDigitRun) {
                        card_end = Some(it.span.end);
                    }
                    merge_item(&mut found, it);
                }
            }
            items.extend(found.into_iter().map(|it| (ci, it)));
        }
        items.sort_by_key(|(_, it)| (it.span.start, it.channel));
        for (_, it) in &items {
            tracing::debug!(
                kind = it.kind.as_str(),
                channel = it.channel,
                reason = %it.reason,
                "redacting item"
            );
        }
        let masked = mask::mask(words.len(), &channels_view(&channels), &items);
        Detections {
            items: items
                .into_iter()
                .map(|(_, it)| Detection {
                    kind: it.kind,
                    channel: it.channel,
                    span: it.span,
                    reason: it.reason,
                    confidence: it.confidence,
                })
                .collect(),
            masked,
        }
    }

    fn channels<'a>(&self, words: &'a [ChannelWord]) -> Vec<Channel<'a>> {
        let mut by: BTreeMap<u16, Vec<usize>> = BTreeMap::new();
        for (i, w) in words.iter().enumerate() {
            by.entry(w.channel).or_default().push(i);
        }
        by.into_iter()
            .map(|(id, mut order)| {
                order.sort_by_key(|&i| (words[i].word.span.start, i));
                let ws: Vec<&Word> = order.iter().map(|&i| &words[i].word).collect();
                let mut lexes = Vec::new();
                let mut group = 0;
                for (wi, w) in ws.iter().enumerate() {
                    lexicon::lex_word(w, wi, &mut group, &mut lexes);
                }
                let pieces = normalize::pieces(&self.lexicon, &lexes);
                Channel {
                    id,
                    order,
                    words: ws,
                    lexes,
                    pieces,
                }
            })
            .collect()
    }

    /// Items of one run. Homophones at the run's edges ("thanks for 4539…", "oh eight
    /// twenty seven") are tried both ways: without them only if that validates and the
    /// run with them does not; otherwise the run with them, so a digit heard as a
    /// homophone is never left audible beside a redacted item (fail closed).
    fn run_items(
        &self,
        cl: &Classifier,
        ch: &Channel,
        hits: &[Hit],
        run: &[usize],
        card_end: Option<u64>,
    ) -> Vec<Item> {
        let strong = |&i: &usize| {
            matches!(
                ch.pieces[i].kind,
                PieceKind::Digit { weak: false, .. } | PieceKind::CheckX
            )
        };
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
        let a = run.iter().position(strong).unwrap_or(0);
        let b = run.iter().rposition(strong).unwrap_or(run.len() - 1);
        let trimmed = &run[a..=b];
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
        let digits: Vec<u8> = idx
            .iter()
            .map(|&i| match ch.pieces[i].kind {
                PieceKind::Digit { d, .. } => d,
                _ => b'X',
            })
            .collect();
        let first = &ch.pieces[idx[0]];
        let last = &ch.pieces[idx[idx.len() - 1]];
        let span = self.cover(ch, idx[0], idx[idx.len() - 1]);
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
        {
            ctx.push(Category::AfterCard);
        }
        let groups = classify::groups(&ch.pieces, idx);
        cl.decide(&digits, &groups, &ctx)
            .into_iter()
            .map(|(r, dec)| {
                let (p0, p1) = (idx[r.start], idx[r.end - 1]);
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
            })
            .collect()
    }

    /// Union of the spans of pieces `p0..=p1` (digits and whatever was merged between).
    fn cover(&self, ch: &Channel, p0: usize, p1: usize) -> Span {
        ch.pieces[p0..=p1]
            .iter()
            .map(|p| p.span)
            .reduce(|a, b| a.union(&b))
            .unwrap_or_default()
    }
}

/// Adds a digit item to a channel's items. One that touches a word of a custom text
/// item is merged into it (both are redacted as one), taking the digit item's kind
/// only if a checksum decided it.
fn merge_item(items: &mut Vec<Item>, it: Item) {
    let touching = items
        .iter_mut()
        .find(|o| o.first.0 <= it.last.0 && it.first.0 <= o.last.0);
    let Some(o) = touching else {
        items.push(it);
        return;
    };
    o.first = o.first.min(it.first);
    o.last = o.last.max(it.last);
    o.span = o.span.union(&it.span);
    if it.validated {
        o.kind = it.kind;
        o.reason = it.reason;
        o.confidence = it.confidence;
        o.validated = true;
    }
}

/// Items matched by a custom text regular expression over the channel's words joined by
/// spaces; matches overlapping an item already found are left to that item.
fn text_items(ch: &Channel, name: &str, re: &Regex, found: &[Item]) -> Vec<Item> {
    let mut text = String::new();
    let mut starts = Vec::with_capacity(ch.words.len());
    for w in &ch.words {
        if !text.is_empty() {
            text.push(' ');
        }
        starts.push(text.len());
        text.push_str(&w.text);
    }
    let locate = |byte: usize| -> (usize, usize) {
        let wi = starts.partition_point(|&s| s <= byte).saturating_sub(1);
        (wi, (byte - starts[wi]).min(ch.words[wi].text.len()))
    };
    let mut out = Vec::new();
    for m in re.find_iter(&text) {
        if m.as_str().trim().is_empty() {
            continue;
        }
        let first = locate(m.start());
        let last = locate(m.end().saturating_sub(1));
        let last = (last.0, (last.1 + 1).min(ch.words[last.0].text.len()));
        let last = (last.0, ceil_char_boundary(&ch.words[last.0].text, last.1));
        let span = (first.0..=last.0)
            .map(|w| ch.words[w].span)
            .reduce(|a, b| a.union(&b))
            .unwrap_or_default();
        let overlaps = found
            .iter()
            .chain(out.iter())
            .any(|it: &Item| it.first.0 <= last.0 && first.0 <= it.last.0);
        if !overlaps {
            out.push(Item {
                kind: EntityKind::Custom(name.to_string()),
                channel: ch.id,
                span,
                reason: "custom:text".to_string(),
                confidence: 0.85,
                validated: false,
                first,
                last,
            });
        }
    }
    out
}

fn ceil_char_boundary(s: &str, mut i: usize) -> usize {
    while i < s.len() && !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

fn channels_view<'a>(channels: &'a [Channel<'a>]) -> Vec<mask::ChannelView<'a>> {
    channels
        .iter()
        .map(|c| mask::ChannelView {
            id: c.id,
            order: &c.order,
            words: &c.words,
        })
        .collect()
}

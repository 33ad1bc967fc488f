//! The detector: compiled rules, and the per-call flow from words to items and masked
//! words (lexemes → pieces → runs → decisions → masking), per channel. Must stay pure:
//! no I/O, and nothing about a value in a log line.

use std::collections::{BTreeMap, HashSet};

use regex::Regex;

use crate::asr::Word;
use crate::time::{from_seconds, Span, ASR_RATE};

use super::answer::{self, Answer, AnswerRules, ChannelPieces};
use super::classify::{self, Classifier, CustomDigits, Hit};
use super::dense::dense_stretches;
use super::items::{absorb, merge_item, Item};
use super::keypad;
use super::lexicon::{self, Lex, Lexicon};
use super::mask;
use super::normalize::{self, Piece};
use super::{ChannelWord, DetectError, Detection, Detections, DigitRun, EntityKind, Rules, Source};

mod runs;

use runs::{dense_decision, without_phrase_digits, CodesAnswered};

/// A compiled set of rules; cheap to share between threads.
pub struct Detector {
    rules: Rules,
    lexicon: Lexicon,
    custom_digits: Vec<CustomDigits>,
    custom_text: Vec<(String, Regex)>,
    max_gap: u64,
    context_before: u64,
    answer_rules: AnswerRules,
    /// Characters that read as digits in a character-written language (zh), for the
    /// dense-stretch rule; empty when no such language is enabled.
    digit_like_chars: HashSet<char>,
}

struct Channel<'a> {
    id: u16,
    /// Global indices of this channel's words, in time order.
    order: Vec<usize>,
    words: Vec<&'a Word>,
    /// Which of `words` were keyed on the phone.
    keyed: Vec<bool>,
    lexes: Vec<Lex>,
    pieces: Vec<Piece>,
    /// Context phrases said on this channel.
    hits: Vec<Hit>,
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
        let digit_like_chars = rules
            .lang
            .get("zh")
            .filter(|_| rules.languages.contains(&super::Language::Zh))
            .map(|zh| {
                zh.digits
                    .keys()
                    .chain(zh.homophones.keys())
                    .filter(|k| k.chars().count() == 1)
                    .flat_map(|k| k.chars())
                    .collect()
            })
            .unwrap_or_default();
        let answer_rules = AnswerRules::new(&rules.thresholds);
        Ok(Detector {
            answer_rules,
            rules,
            lexicon,
            custom_digits,
            custom_text,
            max_gap,
            context_before,
            digit_like_chars,
        })
    }

    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// Finds the items to redact in all words of a call (channels interleaved or grouped,
    /// any order) and masks them. Pure: no I/O, and the same words give the same result.
    pub fn detect(&self, words: &[ChannelWord]) -> Detections {
        self.detect_around(words, &[], &[])
    }

    /// [`Detector::detect`] for a call with stretches of speech nobody transcribed
    /// (`unheard`: channel and span on the words' clock). A digit run that ends or
    /// starts within the digit gap of one may be the visible part of a longer number,
    /// so it is redacted as a number even when it would not be on its own (fail closed).
    /// `untrusted` stretches were transcribed, and their words are among `words`, but
    /// not trusted to hold every digit: they count as unheard for their own channel's
    /// runs only (a request in them was read, so the other speaker's runs need not
    /// answer for it).
    pub fn detect_around(
        &self,
        words: &[ChannelWord],
        unheard: &[(u16, Span)],
        untrusted: &[(u16, Span)],
    ) -> Detections {
        let channels = self.channels(words);
        let hits: Vec<Hit> = channels.iter().flat_map(|c| c.hits.clone()).collect();
        let classifier = Classifier {
            th: &self.rules.thresholds,
            custom: &self.custom_digits,
            mobile: self.rules.mobile.enabled,
        };
        let answers = self.answers(&channels, &hits);
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
            let n_text = found.len();
            let th = &self.rules.thresholds;
            let mut card_end: Option<u64> = None;
            // Lexeme ranges of this channel's context phrases.
            let phrases: Vec<(usize, usize)> = hits
                .iter()
                .filter(|h| h.channel == ch.id)
                .map(|h| h.lex)
                .collect();
            let runs = classify::runs(&ch.pieces, self.max_gap, th.max_fillers, &breaks, &phrases);
            let runs = without_phrase_digits(runs, ch, &phrases);
            let runs =
                keypad::split_at_entries(runs, |p| ch.lexes[ch.pieces[p].lex.0].word, &ch.keyed);
            let answers: Vec<&Answer> = answers.iter().filter(|a| a.channel == ch.id).collect();
            let mut codes_answered = CodesAnswered::from_answers(&answers);
            let mut r = 0;
            while r < runs.len() {
                let start = ch.pieces[runs[r][0]].span.start;
                let after_card = latest_card_end(card_end, &answers, start);
                let asking = codes_answered.still_asking(&hits, start);
                let (used, run_items) = match self.joined_items(ch, &asking, &runs[r..]) {
                    Some(joined) => joined,
                    None => (
                        1,
                        self.run_items(&classifier, ch, &asking, &runs[r], after_card),
                    ),
                };
                let digits: usize = runs[r..r + used].iter().map(Vec::len).sum();
                codes_answered.record(&run_items, digits);
                let run_items = if run_items.is_empty() {
                    self.run_beside_unheard(ch, &runs[r], unheard, untrusted)
                        .into_iter()
                        .collect()
                } else {
                    run_items
                };
                r += used;
                for it in run_items {
                    if matches!(it.kind, EntityKind::Card | EntityKind::LongDigitRun) {
                        card_end = Some(it.span.end);
                    }
                    merge_item(&mut found, n_text, it);
                }
            }
            if !self.digit_like_chars.is_empty() {
                for (first, last) in dense_stretches(
                    &ch.words,
                    &self.digit_like_chars,
                    th.dense_min_digits,
                    th.dense_min_density,
                    th.dense_max_gap_chars,
                ) {
                    absorb(
                        &mut found,
                        Item {
                            kind: EntityKind::LongDigitRun,
                            channel: ch.id,
                            span: ch.words[first.0].span.union(&ch.words[last.0].span),
                            reason: "fail-closed:dense-digit-characters".to_string(),
                            confidence: 0.6,
                            validated: false,
                            first,
                            last,
                        },
                    );
                }
            }
            // Items already found inside a dense stretch judged their own digits; what
            // they leave of it is the rest of the number ("625, 住121, 住223,66853": a
            // card heard in groups, one group taken for a code after it).
            for (p0, p1) in self.dense_stretches(ch, &hits, &breaks, &phrases) {
                let covered = |i: usize| {
                    let (s, e) = piece_bounds(ch, i);
                    found.iter().any(|it| it.first <= s && e <= it.last)
                };
                // Homophones at a remainder's edges are words ("thanks for", "oh"), as
                // at a run's.
                let real_digit = |&i: &usize| ch.pieces[i].is_strong_digit();
                let rest: Vec<(usize, usize)> =
                    normalize::content_runs(&ch.pieces, p0, p1, covered)
                        .into_iter()
                        .filter_map(|(a, b)| {
                            let a = (a..=b).find(real_digit)?;
                            Some((a, (a..=b).rev().find(real_digit)?))
                        })
                        .filter(|&(a, b)| (a..=b).filter(real_digit).count() >= MIN_REST_DIGITS)
                        .collect();
                for (a, b) in rest {
                    found.push(self.item(ch, a, b, dense_decision()));
                }
            }
            // Answers read as digits first: a doubted answer stands only for a request
            // that nothing heard after it answered.
            for a in answers.iter().filter(|a| !a.unsure) {
                self.add_answer(ch, a, &mut found);
            }
            for a in answers.iter().filter(|a| a.unsure) {
                if !answered(ch, &found, a) {
                    self.add_answer(ch, a, &mut found);
                }
            }
            let mut found = self.join_id_parts(found);
            let keys = keypad::uncovered_keys(ch.id, &ch.words, &ch.keyed, &found);
            found.extend(keys);
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
                .map(|(ci, it)| Detection {
                    source: if channels[ci].keyed[it.first.0..=it.last.0].contains(&true) {
                        Source::Keypad
                    } else {
                        Source::Speech
                    },
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

    /// Where digits are being read out, per channel: every digit run as the detector
    /// stitches it (same gap and filler rules), with its span and length only. A live
    /// caller uses the runs still growing at the edge of what has been heard, which
    /// [`Detector::detect`] cannot judge yet. Unlike `detect`, digit words inside a
    /// context phrase ("three-digit") stay in: at the heard edge the phrase may not be
    /// complete yet, and a provisional run fails closed.
    pub fn digit_runs(&self, words: &[ChannelWord]) -> Vec<DigitRun> {
        let th = &self.rules.thresholds;
        self.channels(words)
            .iter()
            .flat_map(|ch| {
                classify::runs(&ch.pieces, self.max_gap, th.max_fillers, &[], &[])
                    .into_iter()
                    .map(move |run| DigitRun {
                        channel: ch.id,
                        span: self.cover(ch, run[0], run[run.len() - 1]),
                        digits: run.len(),
                    })
            })
            .collect()
    }

    /// Spans of answers still open at the end of `words` (nothing has ended them yet),
    /// per channel, from their first digit to their last. A live caller bleeps from there
    /// to the edge of what it has heard, as long as that edge is within an answer's
    /// longest pause ([`Detector::answer_gap`]) of the last digit.
    pub fn open_answers(&self, words: &[ChannelWord]) -> Vec<DigitRun> {
        let channels = self.channels(words);
        let hits: Vec<Hit> = channels.iter().flat_map(|c| c.hits.clone()).collect();
        self.answers(&channels, &hits)
            .into_iter()
            .filter(|a| a.open)
            .map(|a| DigitRun {
                channel: a.channel,
                span: a.span,
                digits: a.digits,
            })
            .collect()
    }

    /// The longest pause inside an answer, on the 16 kHz clock.
    pub fn answer_gap(&self) -> u64 {
        self.answer_rules.gap()
    }

    /// Where someone asked for a sensitive number (card, ID, SSN, CVV, expiry), on any
    /// channel: each request phrase's span and the time a digitless answer to it may
    /// take (`unsure_answer_max_s` after it). Only where and how long; never what.
    pub fn request_windows(&self, words: &[ChannelWord]) -> Vec<Span> {
        let answer_len = from_seconds(self.rules.thresholds.unsure_answer_max_s, ASR_RATE);
        self.channels(words)
            .iter()
            .flat_map(|c| &c.hits)
            .filter(|h| answer::requested(h.cat).is_some())
            .map(|h| Span::new(h.span.start, h.span.end + answer_len))
            .collect()
    }

    fn answers(&self, channels: &[Channel], hits: &[Hit]) -> Vec<Answer> {
        let views: Vec<ChannelPieces> = channels
            .iter()
            .map(|c| ChannelPieces {
                id: c.id,
                lexes: &c.lexes,
                pieces: &c.pieces,
            })
            .collect();
        answer::answers(&self.answer_rules, &views, hits)
    }

    /// Adds the parts of answer `a` that no item in `found` covers as items of the kind
    /// asked for. Long runs and pieces of the same kind that merely fail closed inside it
    /// become part of it, so the answer is one item; items decided by a checksum or by their context (a code read
    /// right after the card) stay what they are.
    fn add_answer(&self, ch: &Channel, a: &Answer, found: &mut Vec<Item>) {
        let at = |i: usize| piece_bounds(ch, i);
        let kind = answer_kind(a);
        let absorbed =
            |it: &Item| !it.validated && (it.kind == EntityKind::LongDigitRun || it.kind == kind);
        // Keyed entries are the keypad's own items; an answer is what was said.
        let covered = |i: usize| {
            let (s, e) = at(i);
            ch.keyed[s.0]
                || found
                    .iter()
                    .any(|it| !absorbed(it) && it.first <= s && e <= it.last)
        };
        let parts = answer::uncovered_parts(&ch.pieces, a, covered);
        let why = if a.unsure {
            "fail-closed:unsure-answer"
        } else {
            "fail-closed:answer"
        };
        for (p0, p1) in parts {
            let Some(dec) = classify::decision(kind.clone(), why, 0.6, false) else {
                continue;
            };
            let mut part = self.item(ch, p0, p1, dec);
            found.retain(|it| {
                let inside = absorbed(it) && it.first <= part.last && part.first <= it.last;
                if inside {
                    part.first = part.first.min(it.first);
                    part.last = part.last.max(it.last);
                    part.span = part.span.union(&it.span);
                }
                !inside
            });
            found.push(part);
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
                let keyed = order
                    .iter()
                    .map(|&i| words[i].source == Source::Keypad)
                    .collect();
                let mut lexes = Vec::new();
                let mut group = 0;
                for (wi, w) in ws.iter().enumerate() {
                    lexicon::lex_word(w, wi, &mut group, &mut lexes);
                }
                let mut pieces = normalize::pieces(&self.lexicon, &lexes);
                let hits = classify::context_hits(&self.lexicon, id, &lexes);
                let requests: Vec<(usize, usize)> = hits
                    .iter()
                    .filter(|h| answer::requested(h.cat).is_some())
                    .map(|h| h.lex)
                    .collect();
                normalize::request_homophones_are_words(&lexes, &mut pieces, &requests);
                Channel {
                    id,
                    order,
                    words: ws,
                    keyed,
                    lexes,
                    pieces,
                    hits,
                }
            })
            .collect()
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
            keyed: &c.keyed,
        })
        .collect()
}

/// Whether items of the kind answer `a` was asked for (or long runs, for a card, ID or
/// SSN), starting after the request and before the answer ends, hold the digits a whole
/// one has: then the request was answered, and the doubted words are not its answer. A
/// part (eight digits of a card heard between "I made for" and "near love") answers
/// nothing: the doubted words around it are likely the rest.
fn answered(ch: &Channel, found: &[Item], a: &Answer) -> bool {
    let accepts = |kind: &EntityKind| {
        *kind == a.kind
            || (*kind == EntityKind::LongDigitRun
                && matches!(
                    a.kind,
                    EntityKind::Card | EntityKind::CnId | EntityKind::Ssn
                ))
    };
    let digits: usize = found
        .iter()
        .filter(|it| {
            it.channel == a.channel
                && accepts(&it.kind)
                && it.span.start >= a.asked_end
                && it.span.start < a.span.end
        })
        .map(|it| {
            (0..ch.pieces.len())
                .filter(|&i| ch.pieces[i].is_digit())
                .filter(|&i| {
                    let (s, e) = piece_bounds(ch, i);
                    it.first <= s && e <= it.last
                })
                .count()
        })
        .sum();
    digits >= answer::whole_number_digits(&a.kind)
}

/// Digits the rest of a dense stretch needs to be bleeped as part of its number: one
/// digit word beside a number is as often a word ("that's the one").
const MIN_REST_DIGITS: usize = 2;

/// Where piece `i` of channel `ch` lies in its words: (word, byte) of its first and
/// just past its last character, as items record their bounds.
fn piece_bounds(ch: &Channel, i: usize) -> ((usize, usize), (usize, usize)) {
    let p = &ch.pieces[i];
    let (l0, l1) = (&ch.lexes[p.lex.0], &ch.lexes[p.lex.1]);
    ((l0.word, l0.bytes.start), (l1.word, l1.bytes.end))
}

/// What an answer is redacted as: the kind asked for, unless it holds more digits than
/// that kind has (a card read when the code was asked for), then a number.
fn answer_kind(a: &Answer) -> EntityKind {
    match a.kind {
        EntityKind::Cvv if a.digits > 4 => EntityKind::LongDigitRun,
        EntityKind::Expiry if a.digits > 6 => EntityKind::LongDigitRun,
        _ => a.kind.clone(),
    }
}

/// The later of a card item's end and the ends of card answers before `start`: digits
/// soon after either are likely the card's expiry or code.
fn latest_card_end(card_end: Option<u64>, answers: &[&Answer], start: u64) -> Option<u64> {
    answers
        .iter()
        .filter(|a| a.kind == EntityKind::Card && a.span.end <= start)
        .map(|a| a.span.end)
        .chain(card_end)
        .max()
}

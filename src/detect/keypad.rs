//! Keyed digits as detection input: key presses of a channel (RFC 4733 events or in-band
//! tones) become words the detector reads like spoken ones, flagged [`Source::Keypad`].
//!
//! The digits keyed in one go are one word (an entry), whose tokens are the presses, so
//! a keyed card is one run with each digit's own time; a key that is not a digit (`*`,
//! `#`, A-D) ends the entry and is a word of its own; so does a long pause. In the
//! detector an entry never joins another word's digits, and whatever of a keyed word no
//! item covers becomes a [`EntityKind::Dtmf`] item: every key press is redacted and
//! listed, a keyed PIN as surely as a card. Must not log or return a key.

use std::fmt;

use crate::asr::{Token, Word};
use crate::time::{from_seconds, Span, ASR_RATE};

use super::items::Item;
use super::{ChannelWord, EntityKind, Source};

/// A pause this long between two digit presses ends an entry, as an IVR's inter-digit
/// timeout would (callers keying a card from its face pause between groups, not longer).
const ENTRY_GAP_S: f64 = 4.0;

/// A key pressed on a phone, on the 16 kHz recognition clock. `Debug` hides the key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct KeyPress {
    pub channel: u16,
    pub key: char,
    pub span: Span,
}

impl fmt::Debug for KeyPress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPress")
            .field("channel", &self.channel)
            .field("key", &"<hidden>")
            .field("span", &self.span)
            .finish()
    }
}

/// `events` (RFC 4733) and `tones` (found in the audio) as one list of presses: a tone
/// that overlaps an event of its channel is the same press, heard twice.
pub fn merge_presses(events: &[KeyPress], tones: &[KeyPress]) -> Vec<KeyPress> {
    let mut out: Vec<KeyPress> = events.to_vec();
    out.extend(tones.iter().filter(|t| {
        !events
            .iter()
            .any(|e| e.channel == t.channel && e.span.overlaps(&t.span))
    }));
    out.sort_by_key(|p| (p.channel, p.span.start));
    out
}

/// The detector's words for `presses` (any order, any channels): one word per entry of
/// digits, one per other key.
pub fn keypad_words(presses: &[KeyPress]) -> Vec<ChannelWord> {
    let mut sorted = presses.to_vec();
    sorted.sort_by_key(|p| (p.channel, p.span.start));
    let gap = from_seconds(ENTRY_GAP_S, ASR_RATE);
    let mut out = Vec::new();
    let mut entry: Vec<KeyPress> = Vec::new();
    for p in sorted {
        let continues = entry.last().is_some_and(|last| {
            last.channel == p.channel && p.span.start.saturating_sub(last.span.end) < gap
        });
        if !continues || !p.key.is_ascii_digit() {
            out.extend(word_of(&entry));
            entry.clear();
        }
        if p.key.is_ascii_digit() {
            entry.push(p);
        } else {
            out.extend(word_of(&[p]));
        }
    }
    out.extend(word_of(&entry));
    out
}

fn word_of(presses: &[KeyPress]) -> Option<ChannelWord> {
    let first = presses.first()?;
    let span = presses.iter().fold(first.span, |s, p| s.union(&p.span));
    Some(ChannelWord {
        channel: first.channel,
        word: Word {
            text: presses.iter().map(|p| p.key).collect(),
            span,
            confidence: 1.0,
            tokens: presses
                .iter()
                .map(|p| Token {
                    text: p.key.to_string(),
                    span: p.span,
                    probability: 1.0,
                })
                .collect(),
        },
        source: Source::Keypad,
    })
}

/// Runs of digit pieces split wherever the next piece comes from another word and
/// either word was keyed: an entry is complete as keyed, never the part of a longer
/// number. `word_of_piece[i]` is the channel word piece `i` was read from.
pub(crate) fn split_at_entries(
    runs: Vec<Vec<usize>>,
    word_of_piece: impl Fn(usize) -> usize,
    keyed: &[bool],
) -> Vec<Vec<usize>> {
    let mut out = Vec::with_capacity(runs.len());
    for run in runs {
        let mut part: Vec<usize> = Vec::with_capacity(run.len());
        for i in run {
            if let Some(&prev) = part.last() {
                let (a, b) = (word_of_piece(prev), word_of_piece(i));
                if a != b && (keyed[a] || keyed[b]) {
                    out.push(std::mem::take(&mut part));
                }
            }
            part.push(i);
        }
        if !part.is_empty() {
            out.push(part);
        }
    }
    out
}

/// Items for the keys of keyed words that no item in `found` covers, so every press is
/// redacted and listed. `words` are the channel's words, `keyed` which were keyed.
pub(crate) fn uncovered_keys(
    channel: u16,
    words: &[&Word],
    keyed: &[bool],
    found: &[Item],
) -> Vec<Item> {
    let mut out = Vec::new();
    for (w, word) in words.iter().enumerate().filter(|&(w, _)| keyed[w]) {
        let len = word.text.len();
        let mut covered: Vec<(usize, usize)> = found
            .iter()
            .filter(|it| it.first.0 <= w && w <= it.last.0)
            .map(|it| {
                let from = if it.first.0 == w { it.first.1 } else { 0 };
                let to = if it.last.0 == w { it.last.1 } else { len };
                (from, to)
            })
            .collect();
        covered.sort_unstable();
        let mut at = 0;
        for (from, to) in covered.into_iter().chain([(len, len)]) {
            if from > at {
                out.push(Item {
                    kind: EntityKind::Dtmf,
                    channel,
                    span: keys_span(word, at, from),
                    reason: "keypad".to_string(),
                    confidence: 1.0,
                    validated: false,
                    first: (w, at),
                    last: (w, from),
                });
            }
            at = at.max(to);
        }
    }
    out
}

/// The span of the presses behind bytes `from..to` of a keyed word (one byte per key).
fn keys_span(word: &Word, from: usize, to: usize) -> Span {
    word.tokens
        .get(from..to.min(word.tokens.len()))
        .and_then(|t| t.iter().map(|t| t.span).reduce(|a, b| a.union(&b)))
        .unwrap_or(word.span)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(channel: u16, key: char, at_s: f64) -> KeyPress {
        let start = from_seconds(at_s, ASR_RATE);
        KeyPress {
            channel,
            key,
            span: Span::new(start, start + 1_600),
        }
    }

    fn keyed(digits: &str, channel: u16, from_s: f64, step_s: f64) -> Vec<KeyPress> {
        digits
            .chars()
            .enumerate()
            .map(|(i, k)| press(channel, k, from_s + i as f64 * step_s))
            .collect()
    }

    fn texts(words: &[ChannelWord]) -> Vec<(u16, String)> {
        words
            .iter()
            .map(|w| (w.channel, w.word.text.clone()))
            .collect()
    }

    #[test]
    fn entries_end_at_other_keys_long_pauses_and_channel_changes() {
        let mut presses = keyed("4539148803436467#123", 1, 2.0, 0.3);
        presses.extend(keyed("12", 1, 20.0, 0.5));
        presses.extend(keyed("7", 0, 3.0, 0.5));
        presses.reverse();
        let words = keypad_words(&presses);
        assert_eq!(
            texts(&words),
            [
                (0, "7".to_string()),
                (1, "4539148803436467".to_string()),
                (1, "#".to_string()),
                (1, "123".to_string()),
                (1, "12".to_string()),
            ]
        );
        let card = &words[1].word;
        assert_eq!(card.tokens.len(), 16);
        assert_eq!(card.span.start, card.tokens[0].span.start);
        assert_eq!(card.span.end, card.tokens[15].span.end);
        assert!(words.iter().all(|w| w.source == Source::Keypad));
    }

    #[test]
    fn a_tone_heard_with_its_event_is_one_press() {
        let events = keyed("45", 0, 1.0, 0.5);
        let mut tones = keyed("45", 0, 1.02, 0.5);
        tones.extend(keyed("9", 0, 3.0, 0.5));
        tones.extend(keyed("4", 1, 1.0, 0.5));
        let merged = merge_presses(&events, &tones);
        let keys: String = merged.iter().map(|p| p.key).collect();
        assert_eq!(keys, "4594");
        assert_eq!(merged[0].span, events[0].span);
    }

    fn spoken(channel: u16, text: &str, from_s: f64) -> Vec<ChannelWord> {
        text.split(' ')
            .enumerate()
            .map(|(i, t)| {
                let start = from_seconds(from_s + 0.3 * i as f64, ASR_RATE);
                ChannelWord {
                    channel,
                    word: Word {
                        text: t.to_string(),
                        span: Span::new(start, start + 4_000),
                        confidence: 0.9,
                        tokens: Vec::new(),
                    },
                    source: Source::Speech,
                }
            })
            .collect()
    }

    fn detector() -> crate::detect::Detector {
        crate::detect::Detector::new(crate::detect::Rules::default()).unwrap()
    }

    #[test]
    fn a_keyed_card_and_code_are_items_from_the_keypad_and_never_text() {
        let mut words = spoken(0, "please key in your card number then the hash key", 0.0);
        let mut presses = keyed("4539148803436467", 1, 4.0, 0.2);
        presses.extend(keyed("#", 1, 7.4, 0.2));
        presses.extend(keyed("123", 1, 8.0, 0.2));
        words.extend(keypad_words(&presses));
        words.extend(spoken(1, "there you go", 10.0));
        let d = detector().detect(&words);
        let kinds: Vec<(&str, Source)> = d
            .items
            .iter()
            .map(|i| (i.kind.as_str(), i.source))
            .collect();
        assert_eq!(
            kinds,
            [
                ("card", Source::Keypad),
                ("dtmf", Source::Keypad),
                ("cvv", Source::Keypad)
            ]
        );
        let card = &d.items[0];
        assert_eq!(card.span.start, presses[0].span.start);
        assert_eq!(card.span.end, presses[15].span.end);
        let text: Vec<&str> = d.masked.iter().map(|w| w.text.as_str()).collect();
        assert!(
            !text
                .join(" ")
                .chars()
                .any(|c| c.is_ascii_digit() || c == '#'),
            "{text:?}"
        );
        let keyed_text: Vec<&str> = d
            .masked
            .iter()
            .filter(|w| w.source == Source::Keypad)
            .map(|w| w.text.as_str())
            .collect();
        assert_eq!(keyed_text, ["[CARD]", "[DTMF]", "[CVV]"]);
    }

    #[test]
    fn keys_that_are_no_item_are_still_redacted_and_an_entry_joins_no_spoken_digits() {
        // A keyed PIN right after spoken digits: neither joins the other.
        let mut words = spoken(0, "my order is 5 5 1", 0.0);
        words.extend(keypad_words(&keyed("4321", 0, 2.2, 0.2)));
        let d = detector().detect(&words);
        assert_eq!(d.items.len(), 1, "{:?}", d.items);
        assert_eq!(d.items[0].kind, EntityKind::Dtmf);
        assert_eq!(d.items[0].source, Source::Keypad);
        let text: Vec<&str> = d.masked.iter().map(|w| w.text.as_str()).collect();
        assert_eq!(text, ["my", "order", "is", "5", "5", "1", "[DTMF]"]);
    }

    #[test]
    fn debug_output_hides_the_key() {
        assert!(!format!("{:?}", press(0, '7', 0.0)).contains('7'));
    }

    #[test]
    fn words_said_after_keying_do_not_judge_the_keyed_code() {
        // Whisper heard the caller's closing words as "not in time": negative context
        // right after the keyed code, which must still be its code.
        let mut words = Vec::new();
        let mut presses = keyed("4539148803436467", 0, 1.0, 0.2);
        presses.extend(keyed("#", 0, 4.4, 0.2));
        presses.extend(keyed("123", 0, 5.0, 0.2));
        words.extend(keypad_words(&presses));
        words.extend(spoken(0, "I'm not in time", 6.0));
        let d = detector().detect(&words);
        let kinds: Vec<&str> = d.items.iter().map(|i| i.kind.as_str()).collect();
        assert_eq!(kinds, ["card", "dtmf", "cvv"]);
    }
}

//! The word tables of the active languages, compiled from [`Rules`] into lookups, and
//! the lexer that cuts a Whisper word into lexemes (letters, single digits, single CJK
//! characters, punctuation), each with its byte range and its share of the word's time.
//! Must not decide what a number is; that is `normalize` and `classify`.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use crate::asr::Word;
use crate::time::Span;

use super::phonetic::{Codes, Phonetic};
use super::pinyin_context::PinyinContext;
use super::rules::{Language, Rules};
use super::DetectError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LexKind {
    Alpha,
    Num,
    Cjk,
    Punct,
}

/// One lexeme of one word of one channel.
#[derive(Debug, Clone)]
pub(crate) struct Lex {
    /// Lower-cased; full-width forms (digits, letters, punctuation) folded to ASCII.
    pub text: String,
    pub kind: LexKind,
    /// Index of the word in the channel's word list.
    pub word: usize,
    /// Byte range in the word's text.
    pub bytes: Range<usize>,
    pub span: Span,
    /// Digits of one written numeral ("4539") share a group id.
    pub num_group: u32,
    /// The confidence of the word it came from (mean token probability, 0..=1).
    pub confidence: f32,
}

impl Lex {
    /// Whether it is a full stop, question or exclamation mark (ASCII or full-width).
    pub fn ends_sentence(&self) -> bool {
        self.kind == LexKind::Punct && ".?!。？！".contains(self.text.as_str())
    }

    pub fn is_question_mark(&self) -> bool {
        self.kind == LexKind::Punct && (self.text == "?" || self.text == "？")
    }
}

/// What a context phrase says about a nearby number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Category {
    Card,
    Cvv,
    Expiry,
    Ssn,
    CnId,
    /// Order, ticket and phone numbers, addresses: never redacted unless a validator says so.
    Negative,
    /// Amounts, dates, times, durations, ages: negative context, but only for a number
    /// short enough to be one (`quantity_max_digits`); "time" before fifteen digits is
    /// a digit word misheard, not what they are.
    Quantity,
    Custom(usize),
    /// Not a phrase: the run follows a card on the same channel.
    AfterCard,
}

impl Category {
    /// Whether the phrase says a nearby number is not sensitive.
    pub fn is_negative(self) -> bool {
        matches!(self, Category::Negative | Category::Quantity)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Multi {
    Filler,
    CheckX,
    Separator,
}

pub(crate) struct Lexicon {
    /// digit word → (ASCII digit, weak): weak entries are homophones.
    pub digit: HashMap<String, (u8, bool)>,
    pub teens: HashMap<String, [u8; 2]>,
    pub tens: HashMap<String, u8>,
    pub repeats: HashMap<String, u8>,
    pub hundred: HashSet<String>,
    pub thousand: HashSet<String>,
    pub ten_zh: HashSet<String>,
    pub separators: HashSet<String>,
    pub fillers: HashSet<String>,
    pub check_x: HashSet<String>,
    pub months: HashMap<String, [u8; 2]>,
    /// Entries of more than one lexeme ("一下", "艾克斯", "uh huh"), longest first.
    pub multi: Vec<(Vec<String>, Multi)>,
    /// First lexeme → (phrase lexemes, category), longest first.
    pub phrases: HashMap<String, Vec<(Vec<String>, Category)>>,
    /// Sound-alike tests for English digit words and phrase words (None without English).
    pub phonetic: Option<Phonetic>,
    /// Phrases of two or more words that ask for a sensitive item, with each word's
    /// codes, for matching with one word heard as a sound-alike; longest first.
    pub sound_phrases: Vec<(Vec<String>, Vec<Codes>, Category)>,
    /// Chinese phrases that ask for a sensitive item, by pinyin, for matching when
    /// Whisper wrote them in homophones (None without Chinese).
    pub pinyin: Option<PinyinContext>,
}

fn one_digit(value: &str) -> Option<u8> {
    let b = value.as_bytes();
    (b.len() == 1 && b[0].is_ascii_digit()).then_some(b[0])
}

fn bad_entry(what: &str, key: &str) -> DetectError {
    DetectError::InvalidRule(format!("{what} entry `{key}` has an invalid value"))
}

impl Lexicon {
    pub fn new(
        rules: &Rules,
        custom_context: &[(usize, Vec<String>)],
    ) -> Result<Self, DetectError> {
        let mut lx = Lexicon {
            digit: HashMap::new(),
            teens: HashMap::new(),
            tens: HashMap::new(),
            repeats: HashMap::new(),
            hundred: HashSet::new(),
            thousand: HashSet::new(),
            ten_zh: HashSet::new(),
            separators: HashSet::new(),
            fillers: HashSet::new(),
            check_x: HashSet::new(),
            months: HashMap::new(),
            multi: Vec::new(),
            phrases: HashMap::new(),
            phonetic: None,
            sound_phrases: Vec::new(),
            pinyin: None,
        };
        for lang in rules.active_langs() {
            for (weak, map) in [(true, &lang.homophones), (false, &lang.digits)] {
                for (k, v) in map {
                    let d = one_digit(v).ok_or_else(|| bad_entry("digits/homophones", k))?;
                    lx.digit.insert(k.to_lowercase(), (d, weak));
                }
            }
            for (k, v) in &lang.teens {
                let b = v.as_bytes();
                if b.len() != 2 || !b.iter().all(u8::is_ascii_digit) {
                    return Err(bad_entry("teens", k));
                }
                lx.teens.insert(k.to_lowercase(), [b[0], b[1]]);
            }
            for (k, v) in &lang.tens {
                lx.tens.insert(
                    k.to_lowercase(),
                    one_digit(v).ok_or_else(|| bad_entry("tens", k))?,
                );
            }
            for (k, v) in &lang.repeats {
                if !(2..=4).contains(v) {
                    return Err(bad_entry("repeats", k));
                }
                lx.repeats.insert(k.to_lowercase(), *v);
            }
            for (k, v) in &lang.months {
                let b = v.as_bytes();
                if b.len() != 2 || !b.iter().all(u8::is_ascii_digit) {
                    return Err(bad_entry("months", k));
                }
                lx.months.insert(k.to_lowercase(), [b[0], b[1]]);
            }
            lx.hundred
                .extend(lang.hundred.iter().map(|s| s.to_lowercase()));
            lx.thousand
                .extend(lang.thousand.iter().map(|s| s.to_lowercase()));
            lx.ten_zh.extend(lang.ten.iter().cloned());
            for (list, kind) in [
                (&lang.separators, Multi::Separator),
                (&lang.fillers, Multi::Filler),
                (&lang.check_x, Multi::CheckX),
            ] {
                for entry in list {
                    let toks = phrase_lexemes(entry);
                    match (toks.len(), kind) {
                        (0, _) => {}
                        (1, Multi::Separator) => {
                            lx.separators.insert(toks[0].clone());
                        }
                        (1, Multi::Filler) => {
                            lx.fillers.insert(toks[0].clone());
                        }
                        (1, Multi::CheckX) => {
                            lx.check_x.insert(toks[0].clone());
                        }
                        _ => lx.multi.push((toks, kind)),
                    }
                }
            }
            let c = &lang.context;
            for (list, cat) in [
                (&c.card, Category::Card),
                (&c.cvv, Category::Cvv),
                (&c.expiry, Category::Expiry),
                (&c.ssn, Category::Ssn),
                (&c.cn_id, Category::CnId),
                (&c.negative, Category::Negative),
                (&c.quantity, Category::Quantity),
            ] {
                for p in list {
                    lx.add_phrase(p, cat);
                }
            }
        }
        for (idx, phrases) in custom_context {
            for p in phrases {
                lx.add_phrase(p, Category::Custom(*idx));
            }
        }
        if rules.languages.contains(&Language::En) {
            let phonetic = Phonetic::new(
                lx.digit
                    .iter()
                    .filter(|(w, &(_, weak))| !weak && w.chars().all(|c| c.is_ascii_alphabetic()))
                    .map(|(w, _)| w.as_str()),
            );
            lx.sound_phrases = lx
                .phrases
                .values()
                .flatten()
                .filter(|(toks, cat)| {
                    toks.len() >= 2
                        && !cat.is_negative()
                        && !matches!(cat, Category::Custom(_))
                        && toks
                            .iter()
                            .all(|t| t.chars().all(|c| c.is_ascii_alphabetic()))
                })
                .map(|(toks, cat)| {
                    let codes = toks.iter().map(|t| phonetic.codes(t)).collect();
                    (toks.clone(), codes, *cat)
                })
                .collect();
            lx.sound_phrases
                .sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
            lx.phonetic = Some(phonetic);
        }
        if rules.languages.contains(&Language::Zh) {
            let pinyin = PinyinContext::new(
                lx.phrases
                    .values()
                    .flatten()
                    .map(|(toks, cat)| (&toks[..], *cat)),
                |t| lx.is_digit(t),
            );
            lx.pinyin = Some(pinyin);
        }
        lx.multi.sort_by_key(|(t, _)| std::cmp::Reverse(t.len()));
        for v in lx.phrases.values_mut() {
            v.sort_by_key(|(t, _)| std::cmp::Reverse(t.len()));
        }
        Ok(lx)
    }

    /// Whether a lexeme's text is a digit ("7", "七", "幺", "seven"), not a homophone.
    pub fn is_digit(&self, text: &str) -> bool {
        matches!(self.digit.get(text), Some(&(_, false)))
    }

    /// Whether a lexeme's text is itself part of a spoken number ("twenty", "hundred",
    /// "for"): such a word is never taken for a sound-alike of a phrase word, or "eighty
    /// three twenty one" would hold the phrase "three digit" and cut its number in two.
    pub fn is_number_word(&self, text: &str) -> bool {
        self.digit.contains_key(text)
            || self.teens.contains_key(text)
            || self.tens.contains_key(text)
            || self.repeats.contains_key(text)
            || self.hundred.contains(text)
            || self.thousand.contains(text)
    }

    fn add_phrase(&mut self, phrase: &str, cat: Category) {
        let toks = phrase_lexemes(phrase);
        if let Some(first) = toks.first() {
            self.phrases
                .entry(first.clone())
                .or_default()
                .push((toks, cat));
        }
    }
}

/// Lexeme texts of a rules entry, cut exactly as words are cut.
fn phrase_lexemes(phrase: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut group = 0;
    let word = Word {
        text: phrase.to_string(),
        span: Span::new(0, 0),
        confidence: 1.0,
        tokens: Vec::new(),
    };
    lex_word(&word, 0, &mut group, &mut out);
    out.into_iter().map(|l| l.text).collect()
}

pub(crate) fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x3007 | 0x25CB)
}

fn fold_digit(c: char) -> Option<char> {
    match c {
        '0'..='9' => Some(c),
        '０'..='９' => char::from_digit(c as u32 - '０' as u32, 10),
        _ => None,
    }
}

/// A full-width form (Ｘ, ，, ？, as Chinese input writes them) read as its ASCII
/// character; every other character as it is.
fn fold_width(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFF01 + 0x21).unwrap_or(c),
        _ => c,
    }
}

/// Cuts `word` into lexemes appended to `out`. A hyphen between letters ("forty-one",
/// "mm-hm") is dropped so both halves are words of their own.
pub(crate) fn lex_word(word: &Word, word_idx: usize, group: &mut u32, out: &mut Vec<Lex>) {
    let text = word.text.as_str();
    let timing = Timing::new(word);
    let chars: Vec<(usize, char)> = text
        .char_indices()
        .map(|(b, c)| (b, fold_width(c)))
        .collect();
    let mut i = 0;
    let mut in_numeral = false;
    while i < chars.len() {
        let (b, c) = chars[i];
        let next_b = |j: usize| chars.get(j).map_or(text.len(), |x| x.0);
        if let Some(d) = fold_digit(c) {
            if !in_numeral {
                *group += 1;
                in_numeral = true;
            }
            out.push(timing.lex(
                d.to_string(),
                LexKind::Num,
                word_idx,
                b..next_b(i + 1),
                *group,
            ));
            i += 1;
            continue;
        }
        in_numeral = false;
        if c.is_whitespace() {
            i += 1;
        } else if is_cjk(c) {
            out.push(timing.lex(c.to_string(), LexKind::Cjk, word_idx, b..next_b(i + 1), 0));
            i += 1;
        } else if c.is_alphabetic() {
            let mut j = i;
            let mut s = String::new();
            while j < chars.len() {
                let ch = chars[j].1;
                let apostrophe = matches!(ch, '\'' | '’')
                    && j > i
                    && chars.get(j + 1).is_some_and(|x| x.1.is_alphabetic());
                if (ch.is_alphabetic() && !is_cjk(ch)) || apostrophe {
                    s.push(if apostrophe { '\'' } else { ch });
                    j += 1;
                } else {
                    break;
                }
            }
            out.push(timing.lex(s.to_lowercase(), LexKind::Alpha, word_idx, b..next_b(j), 0));
            i = j;
        } else {
            let between_letters = c == '-'
                && i > 0
                && chars[i - 1].1.is_alphabetic()
                && chars
                    .get(i + 1)
                    .is_some_and(|x| x.1.is_alphabetic() && !is_cjk(x.1));
            if !between_letters {
                out.push(timing.lex(c.to_string(), LexKind::Punct, word_idx, b..next_b(i + 1), 0));
            }
            i += 1;
        }
    }
}

/// Maps byte ranges of a word to time. Uses the word's tokens when their texts spell the
/// word, so "4539" cut into tokens "453" + "9" gives each digit its token's share;
/// otherwise the word's span is shared out evenly by characters.
struct Timing<'a> {
    word: &'a Word,
    /// (char range in the word, span) per token, or one entry for the whole word.
    parts: Vec<(Range<usize>, Span)>,
    /// Byte offset → char index.
    char_at: Vec<usize>,
}

impl<'a> Timing<'a> {
    fn new(word: &'a Word) -> Self {
        let text = word.text.as_str();
        // Byte offset → char index; only char boundaries are ever looked up.
        let mut char_at = vec![0; text.len() + 1];
        let mut n = 0;
        for (i, (b, _)) in text.char_indices().enumerate() {
            char_at[b] = i;
            n = i + 1;
        }
        char_at[text.len()] = n;
        let parts = Self::token_parts(word, n).unwrap_or_else(|| vec![(0..n, word.span)]);
        Timing {
            word,
            parts,
            char_at,
        }
    }

    fn token_parts(word: &Word, n_chars: usize) -> Option<Vec<(Range<usize>, Span)>> {
        if word.tokens.is_empty() {
            return None;
        }
        let joined: String = word.tokens.iter().map(|t| t.text.as_str()).collect();
        let lead = joined.chars().take_while(|c| c.is_whitespace()).count();
        let word_lead = word.text.chars().take_while(|c| c.is_whitespace()).count();
        if joined.trim() != word.text.trim() {
            return None;
        }
        let mut parts = Vec::new();
        let mut pos = 0usize; // chars into `joined`
        for t in &word.tokens {
            let len = t.text.chars().count();
            let start = (pos.max(lead) - lead) + word_lead;
            let end = ((pos + len).max(lead) - lead) + word_lead;
            if end > start {
                parts.push((start.min(n_chars)..end.min(n_chars), t.span));
            }
            pos += len;
        }
        Some(parts)
    }

    fn span(&self, bytes: &Range<usize>) -> Span {
        let x = self.char_at[bytes.start.min(self.char_at.len() - 1)];
        let y = self.char_at[bytes.end.min(self.char_at.len() - 1)];
        let mut out: Option<Span> = None;
        for (r, s) in &self.parts {
            let (a, b) = (r.start, r.end);
            let (lo, hi) = (x.max(a), y.min(b));
            if lo >= hi {
                continue;
            }
            let len = s.len() as u128;
            let w = (b - a) as u128;
            let start = s.start + ((lo - a) as u128 * len / w) as u64;
            let end = s.start + ((hi - a) as u128 * len).div_ceil(w) as u64;
            let piece = Span::new(start, end.max(start));
            out = Some(out.map_or(piece, |o| o.union(&piece)));
        }
        out.unwrap_or(self.word.span)
    }

    fn lex(
        &self,
        text: String,
        kind: LexKind,
        word: usize,
        bytes: Range<usize>,
        num_group: u32,
    ) -> Lex {
        let span = self.span(&bytes);
        Lex {
            text,
            kind,
            word,
            bytes,
            span,
            num_group,
            confidence: self.word.confidence,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asr::Token;

    fn word(text: &str, span: (u64, u64), tokens: &[(&str, u64, u64)]) -> Word {
        Word {
            text: text.into(),
            span: Span::new(span.0, span.1),
            confidence: 0.9,
            tokens: tokens
                .iter()
                .map(|(t, a, b)| Token {
                    text: (*t).into(),
                    span: Span::new(*a, *b),
                    probability: 0.9,
                })
                .collect(),
        }
    }

    #[test]
    fn digits_take_their_token_share() {
        let w = word("4539,", (0, 1000), &[(" 453", 0, 600), ("9,", 600, 1000)]);
        let mut out = Vec::new();
        lex_word(&w, 0, &mut 0, &mut out);
        let texts: Vec<_> = out.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["4", "5", "3", "9", ","]);
        assert_eq!(out[0].span, Span::new(0, 200));
        assert_eq!(out[2].span, Span::new(400, 600));
        assert_eq!(out[3].span, Span::new(600, 800));
        assert!(out[..4].iter().all(|l| l.num_group == out[0].num_group));
    }

    #[test]
    fn full_width_forms_read_as_ascii() {
        let w = word("００２Ｘ，", (0, 500), &[]);
        let mut out = Vec::new();
        lex_word(&w, 0, &mut 0, &mut out);
        let texts: Vec<_> = out.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["0", "0", "2", "x", ","]);
        assert_eq!(out[3].kind, LexKind::Alpha);
        assert_eq!(&w.text[out[3].bytes.clone()], "Ｘ");
    }

    #[test]
    fn words_without_matching_tokens_share_evenly() {
        let w = word("forty-one", (0, 900), &[]);
        let mut out = Vec::new();
        lex_word(&w, 3, &mut 0, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].text, "forty");
        assert_eq!(out[1].text, "one");
        assert_eq!(out[0].span, Span::new(0, 500));
        assert_eq!(out[1].span, Span::new(600, 900));
        let w = word("号码是幺三", (0, 500), &[]);
        let mut out = Vec::new();
        lex_word(&w, 0, &mut 0, &mut out);
        assert_eq!(out.len(), 5);
        assert_eq!(out[4].span, Span::new(400, 500));
        assert_eq!(&w.text[out[3].bytes.clone()], "幺");
    }
}

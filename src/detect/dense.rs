//! Fail-closed rule for numbers read out but heard broken: a dense stretch of digit-like
//! characters (digits and the homophones Whisper writes for them) is redacted even
//! without context. Whisper `base` hears a spoken Chinese ID as something like
//! "要 要零 要零 五, 要 求 怕 其 林 三 要 四 四 二" and may garble the context words too;
//! such a stretch is a number being read out, whatever the words around it say. Words
//! get the same rule over digit pieces: tiny.en hears a card read in pairs on the phone
//! band as "22, 20, 1, 48, 60, I'm 20, I'm open. 6, 3, 8, 8, 4, 32, 1, 1, 1", no run long
//! enough alone.
//!
//! Must not decide item types: what it finds is a `LongDigitRun`. Pure, no logging.

use std::collections::HashSet;

use crate::asr::Word;
use crate::time::Span;

use super::classify::{broken_by, in_phrase};
use super::normalize::{Piece, PieceKind};

/// (word, byte offset) of the first and last digit-like character of a dense stretch.
pub(crate) type Stretch = ((usize, usize), (usize, usize));

/// Stretches of `words` (time order) holding at least `min_digits` digit-like characters
/// at a density of at least `min_density` among letters, with at most `max_gap` other
/// characters in a row, at least half of them characters rather than ASCII numerals.
/// Punctuation and spaces are neutral.
pub(crate) fn dense_stretches(
    words: &[&Word],
    digit_like: &HashSet<char>,
    min_digits: usize,
    min_density: f32,
    max_gap: usize,
) -> Vec<Stretch> {
    let mut out = Vec::new();
    let mut current: Option<Run> = None;
    for (wi, word) in words.iter().enumerate() {
        for (byte, c) in word.text.char_indices() {
            if !c.is_alphanumeric() {
                continue;
            }
            let at = (wi, byte + c.len_utf8());
            if c.is_ascii_digit() || digit_like.contains(&c) {
                let run = current.get_or_insert(Run::start((wi, byte)));
                run.digits += 1;
                run.characters += usize::from(!c.is_ascii_digit());
                run.letters += run.pending_gap + 1;
                run.pending_gap = 0;
                run.last = at;
            } else if let Some(run) = current.as_mut() {
                run.pending_gap += 1;
                if run.pending_gap > max_gap {
                    let done = current.take().expect("run exists");
                    done.emit(min_digits, min_density, &mut out);
                }
            }
        }
    }
    if let Some(run) = current {
        run.emit(min_digits, min_density, &mut out);
    }
    out
}

struct Run {
    first: (usize, usize),
    last: (usize, usize),
    digits: usize,
    /// Digit-like characters that are not ASCII numerals.
    characters: usize,
    letters: usize,
    pending_gap: usize,
}

impl Run {
    fn start(first: (usize, usize)) -> Self {
        Run {
            first,
            last: first,
            digits: 0,
            characters: 0,
            letters: 0,
            pending_gap: 0,
        }
    }

    fn emit(self, min_digits: usize, min_density: f32, out: &mut Vec<Stretch>) {
        // Numerals alone are the ordinary detector's (with its negative context); this
        // rule is for numbers read out in characters.
        let in_characters = self.characters * 2 >= self.digits;
        if in_characters
            && self.digits >= min_digits
            && self.digits as f32 >= min_density * self.letters as f32
        {
            out.push((self.first, self.last));
        }
    }
}

/// How a stretch of digit pieces is dense enough to be a number read out.
pub(crate) struct DensePieces<'a> {
    pub min_digits: usize,
    pub min_density: f32,
    /// Most other words in a row inside the stretch.
    pub max_other: usize,
    /// Longest pause inside the stretch (samples).
    pub max_pause: u64,
    /// Context phrases on other channels, sorted by start: one inside a pause ends it.
    pub breaks: &'a [Span],
    /// Lexeme ranges of this channel's context phrases: a word of one ends it.
    pub phrases: &'a [(usize, usize)],
}

impl DensePieces<'_> {
    /// Stretches `first..=last` of `pieces` holding at least `min_digits` digit-like
    /// pieces (digits, homophones, sound-alikes), at least `min_density` of their words,
    /// with at most `max_other` other words in a row (fillers aside), none of them a
    /// context phrase's. Separators are neutral.
    pub fn stretches(&self, pieces: &[Piece]) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        // (first, last, digit-like, words) of the stretch being read.
        let mut cur: Option<(usize, usize, usize, usize)> = None;
        // Words since the stretch's last digit, and how many of them were not fillers.
        let (mut between, mut other_in_row) = (0, 0);
        for (i, p) in pieces.iter().enumerate() {
            if in_phrase(self.phrases, p.lex) {
                self.emit(cur.take(), &mut out);
                continue;
            }
            match p.kind {
                PieceKind::Sep => {}
                PieceKind::Digit { .. } | PieceKind::CheckX | PieceKind::SoundAlike => {
                    let joins = cur.is_some_and(|(_, last, _, _)| {
                        let end = pieces[last].span.end;
                        p.span.start.saturating_sub(end) <= self.max_pause
                            && !broken_by(self.breaks, Span::new(end, p.span.start.max(end)))
                    });
                    if !joins {
                        self.emit(cur.take(), &mut out);
                    }
                    let (first, _, digits, words) = cur.unwrap_or((i, i, 0, 0));
                    let words = if joins { words + between } else { words };
                    cur = Some((first, i, digits + 1, words + 1));
                }
                // Fillers ("mm", "go on") count against density only.
                PieceKind::Filler | PieceKind::Other if cur.is_some() => {
                    between += 1;
                    other_in_row += usize::from(p.kind == PieceKind::Other);
                    if other_in_row > self.max_other {
                        self.emit(cur.take(), &mut out);
                    }
                }
                PieceKind::Filler | PieceKind::Other => {}
            }
            if cur.is_none() || p.is_digit_like() {
                between = 0;
                other_in_row = 0;
            }
        }
        self.emit(cur, &mut out);
        out
    }

    fn emit(&self, stretch: Option<(usize, usize, usize, usize)>, out: &mut Vec<(usize, usize)>) {
        if let Some((first, last, digits, words)) = stretch {
            if digits >= self.min_digits && digits as f32 >= self.min_density * words as f32 {
                out.push((first, last));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Span;

    fn words(texts: &[&str]) -> Vec<Word> {
        texts
            .iter()
            .enumerate()
            .map(|(i, t)| Word {
                text: t.to_string(),
                span: Span::new(i as u64 * 100, i as u64 * 100 + 90),
                confidence: 0.5,
                tokens: vec![],
            })
            .collect()
    }

    fn digit_like() -> HashSet<char> {
        "零一二三四五六七八九幺两洞要林其".chars().collect()
    }

    #[test]
    fn a_garbled_id_reading_is_one_dense_stretch() {
        let ws = words(&[
            "我的", "神豹", "馬", "是,", "要", "要零", "要零", "五,", "要", "求", "怕", "其", "林",
            "三", "要", "四", "四", "二。", "謝謝",
        ]);
        let refs: Vec<&Word> = ws.iter().collect();
        let found = dense_stretches(&refs, &digit_like(), 12, 0.75, 2);
        assert_eq!(found.len(), 1);
        let ((w0, _), (w1, _)) = found[0];
        assert_eq!((w0, w1), (4, 17));
    }

    #[test]
    fn ordinary_sentences_and_phone_numbers_are_not_dense_stretches() {
        let ws = words(&[
            "我", "要", "去", "期末", "考试,", "林", "老师", "说", "三", "点", "见",
        ]);
        let refs: Vec<&Word> = ws.iter().collect();
        assert!(dense_stretches(&refs, &digit_like(), 12, 0.75, 2).is_empty());
        let phone = words(&["一三八", "一二三四", "五六七八"]); // 11 digits
        let refs: Vec<&Word> = phone.iter().collect();
        assert!(dense_stretches(&refs, &digit_like(), 12, 0.75, 2).is_empty());
        let numerals = words(&["订单号", "000000000000"]);
        let refs: Vec<&Word> = numerals.iter().collect();
        assert!(dense_stretches(&refs, &digit_like(), 12, 0.75, 2).is_empty());
    }

    /// Pieces from a spec: `d` a digit, `w` another word, `,` a separator; 0.3 s apart.
    fn pieces(spec: &str) -> Vec<Piece> {
        spec.chars()
            .enumerate()
            .map(|(i, c)| Piece {
                kind: match c {
                    'd' => PieceKind::Digit {
                        d: b'1',
                        weak: false,
                        month: false,
                    },
                    ',' => PieceKind::Sep,
                    _ => PieceKind::Other,
                },
                lex: (i, i),
                span: Span::new(i as u64 * 4800, i as u64 * 4800 + 4000),
                num_group: 0,
            })
            .collect()
    }

    fn rule<'a>(phrases: &'a [(usize, usize)]) -> DensePieces<'a> {
        DensePieces {
            min_digits: 13,
            min_density: 0.75,
            max_other: 2,
            max_pause: 48_000,
            breaks: &[],
            phrases,
        }
    }

    #[test]
    fn digits_read_in_pairs_with_words_among_them_are_one_stretch() {
        let p = pieces("wdd,dd,dww,dd,ddwdd,dd,dddw");
        assert_eq!(rule(&[]).stretches(&p), vec![(1, 25)]);
    }

    #[test]
    fn three_words_in_a_row_or_a_context_phrase_end_a_stretch() {
        let p = pieces("dddddddwwwdddddddd");
        assert!(rule(&[]).stretches(&p).is_empty());
        let p = pieces("ddddddddwdddddddd");
        assert_eq!(rule(&[]).stretches(&p), vec![(0, 16)]);
        assert!(rule(&[(8, 8)]).stretches(&p).is_empty());
    }

    #[test]
    fn sparse_digits_are_no_stretch() {
        // 13 digits, but two other words for every one: a story with numbers in it.
        let p = pieces(&"dww".repeat(13));
        assert!(rule(&[]).stretches(&p).is_empty());
    }
}

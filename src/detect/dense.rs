//! Fail-closed rule for languages written in characters: a dense stretch of digit-like
//! characters (digits and the homophones Whisper writes for them) is redacted even
//! without context. Whisper `base` hears a spoken Chinese ID as something like
//! "要 要零 要零 五, 要 求 怕 其 林 三 要 四 四 二" and may garble the context words too;
//! such a stretch is a number being read out, whatever the words around it say.
//!
//! Must not decide item types: what it finds is a `LongDigitRun`. Pure, no logging.

use std::collections::HashSet;

use crate::asr::Word;

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
}

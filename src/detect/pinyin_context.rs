//! Mandarin context phrases heard as homophones: Whisper writes what it heard by sound,
//! so 身份证号 comes out as 身份正好 and 卡号 as 卡好, the same syllables in other
//! characters. A phrase is matched by its toneless pinyin (every reading of each
//! character, through the `pinyin` crate) instead of its characters, with one syllable
//! allowed to be close rather than equal. The Mandarin counterpart of `phonetic`, which
//! does this for English words with Double Metaphone.
//!
//! Owns the likeness of Chinese syllables only; must not decide what a number is, and is
//! used only where a match widens what is redacted (never for negative context).

use pinyin::ToPinyinMulti;

use super::lexicon::{is_cjk, Category, Lex, LexKind};

/// The toneless readings of one heard character or digit ("号" → hao; "长" → chang, zhang).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Readings {
    syllables: Vec<&'static str>,
    /// A digit (numeral or Chinese digit character, not a homophone): a digit said is
    /// part of a number, so it never stands for a phrase word that is not a digit
    /// ("到7" is not 到期, "有效七" is not 有效期), only for one that is ("后3位").
    digit: bool,
}

/// Mandarin readings of the digits 0–9 as numerals are read out (1 also yāo, 2 also liǎng),
/// so a numeral written inside a phrase ("后3位") is heard as its syllable.
const DIGIT_READINGS: [&[&str]; 10] = [
    &["ling"],
    &["yi", "yao"],
    &["er", "liang"],
    &["san"],
    &["si"],
    &["wu"],
    &["liu"],
    &["qi"],
    &["ba"],
    &["jiu"],
];

/// Shortest phrase matched by sound: one syllable alone sounds like too much.
const MIN_SYLLABLES: usize = 2;
/// Shortest phrase in which the close syllable may also be one letter off (截止日期 heard
/// as 截止日记); in shorter ones it must be one of the regular mergers, or 银行可以 ("the
/// bank can") would be 银行卡.
const MIN_SYLLABLES_FOR_LETTER_OFF: usize = 4;

impl Readings {
    /// The readings of a heard lexeme: a Chinese character or a numeral digit;
    /// `is_digit` tells a Chinese digit character (一, 幺, 两) from other characters.
    pub fn of(l: &Lex, is_digit: impl Fn(&str) -> bool) -> Option<Readings> {
        match l.kind {
            LexKind::Num => {
                let d = l.text.as_bytes().first()?.checked_sub(b'0')?;
                DIGIT_READINGS.get(usize::from(d)).map(|r| Readings {
                    syllables: r.to_vec(),
                    digit: true,
                })
            }
            LexKind::Cjk => Self::of_char(l.text.chars().next()?, is_digit(&l.text)),
            _ => None,
        }
    }

    fn of_char(c: char, digit: bool) -> Option<Readings> {
        let mut syllables: Vec<&'static str> = Vec::new();
        for p in c.to_pinyin_multi()? {
            let plain = p.plain();
            if !syllables.contains(&plain) {
                syllables.push(plain);
            }
        }
        (!syllables.is_empty()).then_some(Readings { syllables, digit })
    }

    /// Whether this heard syllable may stand for the phrase's at all.
    fn may_be(&self, phrase: &Readings) -> bool {
        !self.digit || phrase.digit
    }

    fn equal(&self, other: &Readings) -> bool {
        self.syllables.iter().any(|a| other.syllables.contains(a))
    }

    /// Close but not equal: the same once the usual mergers are folded (zh/z, ch/c,
    /// sh/s, n/l, -ng/-n: southern accents and the phone band blur exactly these), or,
    /// when `letter_off`, one letter apart.
    fn close(&self, other: &Readings, letter_off: bool) -> bool {
        self.syllables.iter().any(|a| {
            other.syllables.iter().any(|b| {
                let (fa, fb) = (fold_mergers(a), fold_mergers(b));
                fa == fb || (letter_off && strsim::levenshtein(&fa, &fb) == 1)
            })
        })
    }
}

/// A syllable with the mergers of [`Readings::close`] folded.
fn fold_mergers(syllable: &str) -> String {
    let s = syllable.replace('ü', "v");
    let s = match s.as_bytes() {
        [b'z' | b'c' | b's', b'h', ..] => format!("{}{}", &s[..1], &s[2..]),
        [b'l', ..] => format!("n{}", &s[1..]),
        _ => s,
    };
    match s.strip_suffix("ng") {
        Some(stem) if !stem.is_empty() => format!("{stem}n"),
        _ => s,
    }
}

/// The context phrases of the active Chinese tables, as syllables, longest first.
pub(crate) struct PinyinContext {
    phrases: Vec<(Vec<Readings>, Category)>,
}

impl PinyinContext {
    /// A table of the phrases (lexeme texts and category) that ask for a sensitive item;
    /// phrases with anything but Chinese characters, or under two syllables, are left out.
    /// `is_digit` tells the digit characters (三 in 后三位).
    pub fn new<'a>(
        phrases: impl IntoIterator<Item = (&'a [String], Category)>,
        is_digit: impl Fn(&str) -> bool,
    ) -> Self {
        let mut out: Vec<(Vec<Readings>, Category)> = phrases
            .into_iter()
            .filter(|(_, cat)| !cat.is_negative() && !matches!(cat, Category::Custom(_)))
            .filter_map(|(toks, cat)| {
                let mut readings = Vec::with_capacity(toks.len());
                for t in toks {
                    let mut chars = t.chars();
                    let (Some(c), None) = (chars.next(), chars.next()) else {
                        return None;
                    };
                    let digit = is_digit(t);
                    readings.push(Readings::of_char(c, digit).filter(|_| is_cjk(c))?);
                }
                (readings.len() >= MIN_SYLLABLES).then_some((readings, cat))
            })
            .collect();
        // Longest first; then by sound, so the order does not hang on the phrase table's
        // hashing and a phrase written in both scripts is kept once.
        out.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        out.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
        PinyinContext { phrases: out }
    }

    /// Syllables of the longest phrase: how much of what was heard a match can use.
    fn longest(&self) -> usize {
        self.phrases.first().map_or(0, |p| p.0.len())
    }

    /// [`PinyinContext::phrase_at`] for a phrase said at `at` (indices of context lexemes,
    /// as `classify` walks them), given the readings of every lexeme of the channel:
    /// "身份正好" for 身份证号.
    pub fn phrase_at_lexemes(
        &self,
        at: &[usize],
        readings: &[Option<Readings>],
    ) -> Option<(usize, Category)> {
        let heard: Vec<Option<&Readings>> = at
            .iter()
            .take(self.longest())
            .map(|&i| readings.get(i).and_then(Option::as_ref))
            .collect();
        self.phrase_at(&heard)
    }

    /// The longest phrase said at the start of `heard` (readings of consecutive context
    /// lexemes), as its length and category: every syllable equal but at most one, and
    /// that one close.
    pub fn phrase_at(&self, heard: &[Option<&Readings>]) -> Option<(usize, Category)> {
        self.phrases.iter().find_map(|(syllables, cat)| {
            let window = heard.get(..syllables.len())?;
            let letter_off = syllables.len() >= MIN_SYLLABLES_FOR_LETTER_OFF;
            let mut close = 0;
            for (h, s) in window.iter().zip(syllables) {
                let h = (*h)?;
                if !h.may_be(s) {
                    return None;
                }
                if h.equal(s) {
                    continue;
                }
                if h.close(s, letter_off) {
                    close += 1;
                } else {
                    return None;
                }
            }
            (close <= 1).then_some((syllables.len(), *cat))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Span;

    fn lexes(text: &str) -> Vec<Lex> {
        text.chars()
            .map(|c| Lex {
                text: c.to_string(),
                kind: if c.is_ascii_digit() {
                    LexKind::Num
                } else {
                    LexKind::Cjk
                },
                word: 0,
                bytes: 0..c.len_utf8(),
                span: Span::new(0, 0),
                num_group: 0,
                confidence: 1.0,
            })
            .collect()
    }

    fn is_digit(t: &str) -> bool {
        "零一二三四五六七八九幺两洞".contains(t) && t.chars().count() == 1
    }

    fn table() -> PinyinContext {
        let phrase = |p: &str| p.chars().map(|c| c.to_string()).collect::<Vec<String>>();
        let phrases = [
            (phrase("身份证号"), Category::CnId),
            (phrase("卡号"), Category::Card),
            (phrase("银行卡"), Category::Card),
            (phrase("安全码"), Category::Cvv),
            (phrase("后三位"), Category::Cvv),
            (phrase("有效期"), Category::Expiry),
            (phrase("截止日期"), Category::Expiry),
            (phrase("订单"), Category::Negative),
        ];
        PinyinContext::new(phrases.iter().map(|(p, c)| (&p[..], *c)), is_digit)
    }

    fn heard(ctx: &PinyinContext, text: &str) -> Option<(usize, Category)> {
        let readings: Vec<Option<Readings>> = lexes(text)
            .iter()
            .map(|l| Readings::of(l, is_digit))
            .collect();
        let refs: Vec<Option<&Readings>> = readings.iter().map(Option::as_ref).collect();
        ctx.phrase_at(&refs)
    }

    #[test]
    fn homophones_of_a_phrase_match_it() {
        let t = table();
        assert_eq!(heard(&t, "身份正好"), Some((4, Category::CnId)));
        assert_eq!(heard(&t, "身份正號"), Some((4, Category::CnId)));
        assert_eq!(heard(&t, "卡好"), Some((2, Category::Card)));
        assert_eq!(heard(&t, "有笑期"), Some((3, Category::Expiry)));
        assert_eq!(heard(&t, "后3位"), Some((3, Category::Cvv)));
    }

    #[test]
    fn one_syllable_may_be_close() {
        let t = table();
        // zhen for zheng (-ng/-n), and sen for shen (sh/s): one close syllable each.
        assert_eq!(heard(&t, "身份真好"), Some((4, Category::CnId)));
        assert_eq!(heard(&t, "森份证号"), Some((4, Category::CnId)));
        // Two close syllables are too far.
        assert_eq!(heard(&t, "森份真好"), None);
        // One letter off only in long phrases: "jie zhi ri qi" heard as "jie zhi ri ji",
        // but "yin hang ke" (银行可以, "the bank can") is not 银行卡, nor "kan hao" 卡号.
        assert_eq!(heard(&t, "截止日记"), Some((4, Category::Expiry)));
        assert_eq!(heard(&t, "银行可以"), None);
        assert_eq!(heard(&t, "有效地"), None);
        assert_eq!(heard(&t, "看好"), None);
    }

    #[test]
    fn a_digit_said_stands_only_for_a_digit_of_a_phrase() {
        let t = table();
        assert_eq!(heard(&t, "有效七"), None);
        assert_eq!(heard(&t, "有效7"), None);
        assert_eq!(heard(&t, "有效起"), Some((3, Category::Expiry)));
        assert_eq!(heard(&t, "后三位"), Some((3, Category::Cvv)));
    }

    #[test]
    fn other_words_and_negative_phrases_do_not_match() {
        let t = table();
        assert_eq!(heard(&t, "你好"), None);
        assert_eq!(heard(&t, "好的"), None);
        assert_eq!(heard(&t, "订单"), None);
        assert_eq!(heard(&t, "身份"), None);
    }

    #[test]
    fn mergers_fold_to_one_spelling() {
        assert_eq!(fold_mergers("zheng"), "zen");
        assert_eq!(fold_mergers("shen"), "sen");
        assert_eq!(fold_mergers("liang"), "nian");
        assert_eq!(fold_mergers("ng"), "ng");
        assert_eq!(fold_mergers("ka"), "ka");
    }
}

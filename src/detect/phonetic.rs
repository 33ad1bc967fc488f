//! Sound-alikes of English words, for what Whisper mishears on the phone band: a word
//! inside a number that sounds like a digit word ("two" heard as "to", "time"), and a
//! context phrase with one word heard as a near sound-alike ("car number" for "card
//! number", "security cold"). Words are compared by their Double Metaphone codes
//! (rphonetic) at an edit distance of at most one.
//!
//! Owns the likeness test only; must not decide what a number is, and is used only
//! where a match widens what is redacted (never for negative context).

use rphonetic::DoubleMetaphone;

/// Primary and alternate Double Metaphone codes of one word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Codes {
    primary: String,
    alternate: String,
    letters: usize,
}

pub(crate) struct Phonetic {
    dm: DoubleMetaphone,
    /// The codes of the active languages' digit words.
    digits: Vec<Codes>,
}

/// Longest and shortest words taken for a misheard digit word: digit words have 2 to 5
/// letters, and two-letter words ("at", "on", "in") sit between numbers in plain speech
/// ("10 at 3").
const MAX_DIGIT_LETTERS: usize = 6;
const MIN_DIGIT_LETTERS: usize = 3;
/// Shortest word compared inside a context phrase: shorter ones ("a", "on") sound like
/// too much.
const MIN_PHRASE_LETTERS: usize = 3;
/// Short words whose one-sound code may still be one edit from a digit's ("time" for
/// "two", "high" for "oh"); longer ones must share two sounds.
const SHORT_WORD_LETTERS: usize = 4;

impl Phonetic {
    /// A table for these digit words.
    pub fn new<'a>(digit_words: impl IntoIterator<Item = &'a str>) -> Self {
        // Whole codes: the usual cut to four sounds makes "agent" (AJNT) one sound from
        // "identification" (ATNT…), and "agent number" asked for an ID.
        let dm = DoubleMetaphone::new(None);
        let digits = digit_words.into_iter().map(|w| codes(&dm, w)).collect();
        Phonetic { dm, digits }
    }

    pub fn codes(&self, word: &str) -> Codes {
        codes(&self.dm, word)
    }

    /// Whether a word inside a number sounds like a digit word.
    pub fn sounds_like_digit(&self, word: &str) -> bool {
        let letters = word.chars().count();
        (MIN_DIGIT_LETTERS..=MAX_DIGIT_LETTERS).contains(&letters)
            && word.chars().all(|c| c.is_ascii_alphabetic())
            && {
                let c = self.codes(word);
                let short = letters <= SHORT_WORD_LETTERS;
                self.digits
                    .iter()
                    .any(|dc| distance(&c, dc, short).is_some())
            }
    }

    /// Whether a heard word may be a phrase word said on a bad line: both at least three
    /// letters, their codes at most one sound apart and at least two sounds long.
    pub fn sounds_like(&self, heard: &Codes, phrase_word: &Codes) -> bool {
        heard.letters >= MIN_PHRASE_LETTERS
            && phrase_word.letters >= MIN_PHRASE_LETTERS
            && distance(heard, phrase_word, false).is_some()
    }
}

/// The codes of `word`; none for a word with letters outside ASCII, which Double
/// Metaphone (an English algorithm) does not code and rphonetic cuts mid-character
/// ("CᎠ" panicked the detector). A word without codes sounds like nothing.
fn codes(dm: &DoubleMetaphone, word: &str) -> Codes {
    if !word.is_ascii() {
        return Codes {
            primary: String::new(),
            alternate: String::new(),
            letters: word.chars().count(),
        };
    }
    let r = dm.double_metaphone(word);
    Codes {
        primary: r.primary(),
        alternate: r.alternate(),
        letters: word.chars().count(),
    }
}

/// The smallest edit distance (0 or 1) between any code of `a` and any of `b`; one edit
/// counts only between codes of two sounds or more, unless `short` allows it for a
/// one-sound code.
fn distance(a: &Codes, b: &Codes, short: bool) -> Option<usize> {
    let mut best: Option<usize> = None;
    for x in [&a.primary, &a.alternate] {
        for y in [&b.primary, &b.alternate] {
            if x.is_empty() || y.is_empty() {
                continue;
            }
            let k = strsim::levenshtein(x, y);
            let ok = k == 0 || (k == 1 && (x.len().min(y.len()) >= 2 || short));
            if ok {
                best = Some(best.map_or(k, |b| b.min(k)));
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Phonetic {
        Phonetic::new([
            "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
        ])
    }

    #[test]
    fn words_heard_for_digits_sound_like_them() {
        let p = table();
        for heard in [
            "won", "when", "free", "tree", "ate", "sex", "fine", "heaven", "nigh", "time",
        ] {
            assert!(p.sounds_like_digit(heard), "{heard}");
        }
        for other in [
            "at", "on", "number", "glasses", "please", "account", "security", "4539",
        ] {
            assert!(!p.sounds_like_digit(other), "{other}");
        }
    }

    #[test]
    fn phrase_words_match_one_sound_off_and_short_words_never() {
        let p = table();
        let like = |a: &str, b: &str| p.sounds_like(&p.codes(a), &p.codes(b));
        assert!(like("car", "card"));
        assert!(like("cold", "code"));
        assert!(like("expire", "expiry"));
        assert!(!like("on", "one"));
        assert!(!like("glasses", "card"));
        assert!(!like("order", "card"));
        assert!(!like("agent", "identification"));
        assert!(like("identifications", "identification"));
    }

    #[test]
    fn words_outside_ascii_have_no_codes_and_do_not_panic() {
        let p = table();
        for word in ["cᎠ", "café", "ｃａｒｄ", "卡号"] {
            assert!(!p.sounds_like(&p.codes(word), &p.codes("card")), "{word}");
            assert!(!p.sounds_like_digit(word), "{word}");
        }
    }
}

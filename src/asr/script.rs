//! Chinese script of recognised words: Whisper's multilingual model writes Mandarin in
//! traditional characters as often as in simplified ones (長, 號, 證), and mainland
//! readers, the 400-line users, expect simplified. The words (and tokens) of every
//! Mandarin pass are folded to simplified characters as the transcriber makes them, so
//! detection, masking, stored transcripts and live output all see one script.
//!
//! Owns the traditional → simplified fold (OpenCC's tables through `ferrous-opencc`).
//! Must not touch other languages (Japanese kanji are not traditional Chinese), nor
//! change the number of characters of a token (token times are shared out by
//! characters), and must not log text.

use std::sync::OnceLock;

use ferrous_opencc::config::BuiltinConfig;
use ferrous_opencc::OpenCC;

use super::words::is_cjk;
use super::Segment;

/// Whisper's code for Mandarin, the language whose words are folded.
const MANDARIN: &str = "zh";

/// Folds the words and tokens of `segments`, heard in `language` (a Whisper code), to
/// simplified characters when that language is Mandarin.
pub(crate) fn fold_segments(language: &str, segments: &mut [Segment]) {
    if language != MANDARIN {
        return;
    }
    for word in segments.iter_mut().flat_map(|s| s.words.iter_mut()) {
        word.text = to_simplified(&word.text);
        for token in &mut word.tokens {
            token.text = to_simplified(&token.text);
        }
    }
}

/// The converter, built once per process (its tables are compiled in).
fn converter() -> Option<&'static OpenCC> {
    static CONVERTER: OnceLock<Option<OpenCC>> = OnceLock::new();
    CONVERTER
        .get_or_init(|| OpenCC::from_config(BuiltinConfig::T2s).ok())
        .as_ref()
}

/// `text` with traditional Chinese characters written as simplified ones. Text without
/// Chinese characters, and any conversion that would change the number of characters
/// (a phrase rule), comes back unchanged, so per-character timing still holds.
pub fn to_simplified(text: &str) -> String {
    if !text.chars().any(is_cjk) {
        return text.to_string();
    }
    match converter() {
        Some(cc) => {
            let out = cc.convert(text);
            if out.chars().count() == text.chars().count() {
                out
            } else {
                text.to_string()
            }
        }
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traditional_becomes_simplified() {
        assert_eq!(to_simplified("身份證號碼"), "身份证号码");
        assert_eq!(to_simplified("信用卡號是"), "信用卡号是");
        assert_eq!(to_simplified("長"), "长");
        assert_eq!(to_simplified("驗證碼"), "验证码");
    }

    fn segment(texts: &[&str]) -> Segment {
        let words = texts
            .iter()
            .map(|t| crate::asr::Word {
                text: t.to_string(),
                span: crate::time::Span::new(0, 10),
                confidence: 0.9,
                tokens: vec![crate::asr::Token {
                    text: format!(" {t}"),
                    span: crate::time::Span::new(0, 10),
                    probability: 0.9,
                }],
            })
            .collect();
        Segment {
            span: crate::time::Span::new(0, 10),
            words,
            no_speech_probability: 0.0,
            second_hearing: false,
        }
    }

    #[test]
    fn mandarin_words_and_tokens_are_folded_other_languages_not() {
        let mut zh = [segment(&["身份證號", "4539"])];
        fold_segments("zh", &mut zh);
        assert_eq!(zh[0].words[0].text, "身份证号");
        assert_eq!(zh[0].words[0].tokens[0].text, " 身份证号");
        assert_eq!(zh[0].words[1].text, "4539");
        let mut ja = [segment(&["國"])];
        fold_segments("ja", &mut ja);
        assert_eq!(ja[0].words[0].text, "國");
    }

    #[test]
    fn simplified_latin_and_digits_are_left_alone() {
        assert_eq!(to_simplified("身份证号"), "身份证号");
        assert_eq!(to_simplified(" 4539, 1488"), " 4539, 1488");
        assert_eq!(to_simplified("card number"), "card number");
        assert_eq!(to_simplified("6217 號"), "6217 号");
        // A token holding part of a character's bytes is left as it is.
        assert_eq!(to_simplified("\u{FFFD}"), "\u{FFFD}");
    }
}

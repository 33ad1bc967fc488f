//! Turns Whisper's decoded tokens into [`Word`]s with per-token spans, and spots decoder
//! repetition loops.
//!
//! Pure functions over plain data (no whisper-rs types) so the rules are unit-tested
//! without a model. Must not decide what is sensitive, and must not log token text.

use super::{Segment, Token, Word};
use crate::time::{Span, ASR_RATE};

/// Samples per Whisper centisecond on the 16 kHz clock.
const SAMPLES_PER_CS: i64 = (ASR_RATE / 100) as i64;

/// How token times are derived from what whisper.cpp reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimingMode {
    /// Dynamic time warping over the alignment heads' cross-attention
    /// (`t_dtw`, which marks the end of a token); a token starts where the previous
    /// spoken token of the same window ended. Measured better than `TokenTimestamps`
    /// (see `benches/asr.rs`), and its errors lean toward covering more audio.
    Dtw,
    /// whisper.cpp's heuristic per-token `t0`/`t1` from timestamp-token probabilities.
    TokenTimestamps,
}

/// One decoded token as whisper.cpp reports it; times in centiseconds from the window
/// start, negative when whisper.cpp did not compute them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawToken {
    pub id: i32,
    pub bytes: Vec<u8>,
    pub p: f32,
    pub t0: i64,
    pub t1: i64,
    pub t_dtw: i64,
}

/// One whisper.cpp segment; times in centiseconds from the window start.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawSegment {
    pub t0: i64,
    pub t1: i64,
    pub no_speech_probability: f32,
    pub tokens: Vec<RawToken>,
}

/// Builds segments of words from one window's raw segments.
///
/// `eot` is the model's end-of-text id (every id at or above it is special and skipped);
/// `offset` is the window's first sample on the 16 kHz clock and `len` its length in
/// samples (spans are clamped into the window). A word starts at a token with a leading
/// space or at a CJK character (Chinese has no spaces); punctuation and digits glued to
/// the previous token stay in its word, each token keeping its own span.
pub(crate) fn assemble(
    segments: &[RawSegment],
    eot: i32,
    mode: TimingMode,
    offset: u64,
    len: u64,
) -> Vec<Segment> {
    let clamp = |cs: i64| -> u64 { offset + ((cs.max(0) * SAMPLES_PER_CS) as u64).min(len) };
    // End of the previous text token (DTW mode), carried across segments of the window.
    let mut prev_end: Option<i64> = None;
    let mut out = Vec::new();
    for seg in segments {
        let mut words: Vec<(Vec<u8>, Vec<Token>)> = Vec::new();
        for tok in seg.tokens.iter().filter(|t| t.id < eot) {
            let (start_cs, end_cs) = token_times(tok, seg, mode, prev_end);
            if !is_punctuation(&tok.bytes) {
                prev_end = Some(end_cs);
            }
            let span = Span::new(clamp(start_cs), clamp(end_cs.max(start_cs)));
            let token = Token {
                text: String::from_utf8_lossy(&tok.bytes).into_owned(),
                span,
                probability: tok.p.clamp(0.0, 1.0),
            };
            match words.last_mut() {
                Some((bytes, tokens)) if !starts_word(&tok.bytes) => {
                    bytes.extend_from_slice(&tok.bytes);
                    tokens.push(token);
                }
                _ => words.push((tok.bytes.clone(), vec![token])),
            }
        }
        let words: Vec<Word> = words
            .into_iter()
            .filter_map(|(bytes, tokens)| make_word(&bytes, tokens))
            .collect();
        if let Some(span) = cover(&words) {
            out.push(Segment {
                span,
                words,
                no_speech_probability: seg.no_speech_probability,
                second_hearing: false,
            });
        }
    }
    out
}

fn token_times(
    tok: &RawToken,
    seg: &RawSegment,
    mode: TimingMode,
    prev_end: Option<i64>,
) -> (i64, i64) {
    // A token whisper.cpp gave no times spans its whole segment: unknown timing covers
    // more audio, never less.
    let t0 = if tok.t0 >= 0 { tok.t0 } else { seg.t0.max(0) };
    let t1 = if tok.t1 >= t0 { tok.t1 } else { seg.t1.max(t0) };
    match mode {
        TimingMode::TokenTimestamps => (t0, t1),
        TimingMode::Dtw if tok.t_dtw >= 0 => {
            let end = tok.t_dtw;
            // The DTW path is monotonic: a token occupies the audio from the previous
            // spoken token's end to its own. After a pause that start lies early, in the
            // silence, which errs toward covering more audio, never less.
            let start = match prev_end {
                Some(p) if p <= end => p,
                _ => t0.min(end),
            };
            (start, end)
        }
        TimingMode::Dtw => (t0, t1),
    }
}

fn starts_word(bytes: &[u8]) -> bool {
    match bytes.first() {
        None => false,
        Some(b' ') => true,
        Some(_) => std::str::from_utf8(bytes)
            .ok()
            .and_then(|s| s.chars().next())
            .is_some_and(is_cjk),
    }
}

/// A CJK ideograph (the unified blocks, extension A and B on, compatibility forms).
pub(crate) fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F)
}

fn make_word(bytes: &[u8], tokens: Vec<Token>) -> Option<Word> {
    let text = String::from_utf8_lossy(bytes).trim().to_string();
    if text.is_empty() {
        return None;
    }
    // Punctuation is not heard: it must not stretch the word over the pause after it.
    let spoken = tokens.iter().filter(|t| !is_punctuation(t.text.as_bytes()));
    let span = spoken
        .map(|t| t.span)
        .reduce(|a, b| a.union(&b))
        .or_else(|| tokens.iter().map(|t| t.span).reduce(|a, b| a.union(&b)))?;
    let confidence = tokens.iter().map(|t| t.probability).sum::<f32>() / tokens.len() as f32;
    Some(Word {
        text,
        span,
        confidence,
        tokens,
    })
}

/// A token of only punctuation and spaces (",", ".", " -"): it has no sound of its own.
fn is_punctuation(bytes: &[u8]) -> bool {
    !bytes.is_empty()
        && bytes
            .iter()
            .all(|b| b.is_ascii_punctuation() || b.is_ascii_whitespace())
}

fn cover(words: &[Word]) -> Option<Span> {
    words.iter().map(|w| w.span).reduce(|a, b| a.union(&b))
}

/// Index of the first token of a decoder repetition loop in `ids`, if there is one.
///
/// A loop is an n-gram (1..=12 tokens) repeated back to back either at least 4 times over
/// at least 16 tokens, or at least 3 times over at least 30 tokens. Short legitimate
/// repeats ("no, no, no", a card read as "1111 1111 1111 1111") stay under both bars;
/// the runaway output of a stuck decoder does not.
pub(crate) fn find_loop(ids: &[i32]) -> Option<usize> {
    for start in 0..ids.len() {
        for n in 1..=12usize {
            if start + 2 * n > ids.len() {
                break;
            }
            let gram = &ids[start..start + n];
            let mut reps = 1;
            while start + (reps + 1) * n <= ids.len()
                && &ids[start + reps * n..start + (reps + 1) * n] == gram
            {
                reps += 1;
            }
            let covered = reps * n;
            if (reps >= 4 && covered >= 16) || (reps >= 3 && covered >= 30) {
                return Some(start);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const EOT: i32 = 50256;

    fn tok(text: &str, t0: i64, t1: i64, t_dtw: i64) -> RawToken {
        RawToken {
            id: 100,
            bytes: text.as_bytes().to_vec(),
            p: 0.5,
            t0,
            t1,
            t_dtw,
        }
    }

    fn special(id: i32) -> RawToken {
        RawToken {
            id,
            bytes: b"[_TT_100]".to_vec(),
            p: 1.0,
            t0: 0,
            t1: 0,
            t_dtw: -1,
        }
    }

    fn seg(tokens: Vec<RawToken>) -> RawSegment {
        RawSegment {
            t0: 0,
            t1: 300,
            no_speech_probability: 0.01,
            tokens,
        }
    }

    #[test]
    fn words_start_at_leading_space_and_keep_token_spans() {
        let s = seg(vec![
            special(EOT + 1),
            tok(" card", 10, 40, 40),
            tok(" 45", 50, 70, 70),
            tok("39", 70, 90, 90),
            tok(",", 90, 95, 95),
            tok(" thanks", 100, 130, 130),
            special(EOT),
        ]);
        let out = assemble(&[s], EOT, TimingMode::TokenTimestamps, 1_000, 480_000);
        assert_eq!(out.len(), 1);
        let words: Vec<&str> = out[0].words.iter().map(|w| w.text.as_str()).collect();
        assert_eq!(words, ["card", "4539,", "thanks"]);
        let num = &out[0].words[1];
        assert_eq!(num.tokens.len(), 3);
        assert_eq!(
            num.tokens[0].span,
            Span::new(1_000 + 50 * 160, 1_000 + 70 * 160)
        );
        assert_eq!(
            num.tokens[1].span,
            Span::new(1_000 + 70 * 160, 1_000 + 90 * 160)
        );
        // The comma is silent: the word ends with its last digit.
        assert_eq!(num.span, Span::new(1_000 + 50 * 160, 1_000 + 90 * 160));
        assert_eq!(out[0].span, Span::new(1_000 + 10 * 160, 1_000 + 130 * 160));
    }

    #[test]
    fn confidence_is_mean_token_probability() {
        let mut a = tok(" twelve", 0, 10, 10);
        a.p = 0.9;
        let mut b = tok("34", 10, 20, 20);
        b.p = 0.3;
        let out = assemble(&[seg(vec![a, b])], EOT, TimingMode::Dtw, 0, 480_000);
        assert!((out[0].words[0].confidence - 0.6).abs() < 1e-6);
    }

    #[test]
    fn dtw_token_starts_where_previous_token_ended() {
        let s = seg(vec![
            tok(" four", 5, 30, 40),
            tok(" five", 35, 60, 70),
            // After a pause the start stays at the previous end (covers more, not less).
            tok(" six", 200, 230, 240),
            // Punctuation neither moves the next start nor stretches its word.
            tok(".", 240, 300, 300),
            tok(" seven", 310, 330, 340),
        ]);
        let out = assemble(&[s], EOT, TimingMode::Dtw, 0, 480_000);
        let spans: Vec<Span> = out[0].words.iter().map(|w| w.span).collect();
        assert_eq!(spans[0], Span::new(5 * 160, 40 * 160));
        assert_eq!(spans[1], Span::new(40 * 160, 70 * 160));
        assert_eq!(spans[2], Span::new(70 * 160, 240 * 160));
        assert_eq!(out[0].words[2].text, "six.");
        assert_eq!(spans[3], Span::new(240 * 160, 340 * 160));
    }

    #[test]
    fn dtw_missing_falls_back_to_token_timestamps() {
        let s = seg(vec![tok(" one", 10, 20, -1)]);
        let out = assemble(&[s], EOT, TimingMode::Dtw, 0, 480_000);
        assert_eq!(out[0].words[0].span, Span::new(1_600, 3_200));
    }

    #[test]
    fn a_token_with_no_times_at_all_spans_its_segment() {
        let s = seg(vec![tok(" one", -1, -1, -1)]);
        let out = assemble(&[s], EOT, TimingMode::Dtw, 0, 480_000);
        assert_eq!(out[0].words[0].span, Span::new(0, 300 * 160));
    }

    #[test]
    fn spans_are_clamped_into_the_window() {
        let s = seg(vec![tok(" late", 2_990, 3_100, 3_050)]);
        let out = assemble(&[s], EOT, TimingMode::TokenTimestamps, 10, 480_000);
        let w = &out[0].words[0];
        assert_eq!(w.span, Span::new(10 + 2_990 * 160, 10 + 480_000));
    }

    #[test]
    fn only_special_tokens_make_no_segment() {
        let out = assemble(
            &[seg(vec![special(EOT), special(EOT + 5)])],
            EOT,
            TimingMode::Dtw,
            0,
            480_000,
        );
        assert!(out.is_empty());
    }

    #[test]
    fn chinese_characters_start_words_and_split_utf8_is_rejoined() {
        let bytes = "四五".as_bytes();
        let s = seg(vec![
            RawToken {
                id: 1,
                bytes: bytes[..2].to_vec(),
                p: 0.5,
                t0: 0,
                t1: 10,
                t_dtw: 10,
            },
            RawToken {
                id: 2,
                bytes: bytes[2..3].to_vec(),
                p: 0.5,
                t0: 10,
                t1: 20,
                t_dtw: 20,
            },
            RawToken {
                id: 3,
                bytes: bytes[3..].to_vec(),
                p: 0.5,
                t0: 20,
                t1: 30,
                t_dtw: 30,
            },
        ]);
        let out = assemble(&[s], EOT, TimingMode::Dtw, 0, 480_000);
        let words: Vec<&str> = out[0].words.iter().map(|w| w.text.as_str()).collect();
        assert_eq!(words, ["四", "五"]);
    }

    #[test]
    fn runaway_repetition_is_a_loop() {
        let mut ids = vec![1, 2, 3];
        for _ in 0..10 {
            ids.extend([7, 8]);
        }
        assert_eq!(find_loop(&ids), Some(3));
        let long_phrase: Vec<i32> = (0..3).flat_map(|_| 10..22).collect();
        assert_eq!(find_loop(&long_phrase), Some(0));
    }

    #[test]
    fn short_legitimate_repeats_are_not_loops() {
        // "no, no, no"
        assert_eq!(find_loop(&[5, 6, 5, 6, 5, 6, 9]), None);
        // "1111 1111 1111 1111" as " 11" "11" tokens.
        let card: Vec<i32> = (0..4).flat_map(|_| [40, 41]).collect();
        assert_eq!(find_loop(&card), None);
        assert_eq!(find_loop(&[]), None);
        let distinct: Vec<i32> = (0..200).collect();
        assert_eq!(find_loop(&distinct), None);
    }
}

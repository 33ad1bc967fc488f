//! Helpers shared by the detection tests: words as Whisper writes them, with times and
//! tokens, built from a compact text form.
#![allow(dead_code)]

use hushline::asr::{Token, Word};
use hushline::detect::{ChannelWord, Source};
use hushline::time::{from_seconds, Span, ASR_RATE};

/// Whisper-like tokens for a word: digit runs cut into chunks of at most three (as the
/// GPT-2 vocabulary does), other runs whole; the first token carries the leading space.
/// Token times share the word's span by characters.
pub fn tokens_for(text: &str, span: Span) -> Vec<Token> {
    let chars: Vec<char> = text.chars().collect();
    let mut chunks: Vec<String> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let digit = chars[i].is_ascii_digit();
        let mut j = i;
        while j < chars.len() && chars[j].is_ascii_digit() == digit && (!digit || j - i < 3) {
            j += 1;
        }
        chunks.push(chars[i..j].iter().collect());
        i = j;
    }
    let n = chars.len().max(1) as u64;
    let mut pos = 0u64;
    chunks
        .into_iter()
        .enumerate()
        .map(|(k, c)| {
            let len = c.chars().count() as u64;
            let s = span.start + pos * span.len() / n;
            let e = span.start + (pos + len) * span.len() / n;
            pos += len;
            Token {
                text: if k == 0 { format!(" {c}") } else { c },
                span: Span::new(s, e),
                probability: 0.8,
            }
        })
        .collect()
}

/// A word of `text` starting at `start` seconds; its length grows with its characters.
pub fn word_at(channel: u16, text: &str, start: f64, with_tokens: bool) -> (ChannelWord, f64) {
    let dur = (0.22 + 0.07 * text.chars().count() as f64).min(1.4);
    let span = Span::new(
        from_seconds(start, ASR_RATE),
        from_seconds(start + dur, ASR_RATE),
    );
    let tokens = if with_tokens {
        tokens_for(text, span)
    } else {
        Vec::new()
    };
    (
        ChannelWord {
            channel,
            word: Word {
                text: text.to_string(),
                span,
                confidence: 0.8,
                tokens,
            },
            source: Source::Speech,
        },
        start + dur,
    )
}

/// Gap between words of one speaker, seconds.
pub const WORD_GAP: f64 = 0.12;

/// The span of `words` (in time order) less the share of punctuation before the first and
/// after the last: Whisper's "6467." has no audio for the full stop.
pub fn speech_span(first: &Word, last: &Word) -> Span {
    let share = |w: &Word, punct: usize| {
        (w.span.len() * punct as u64).div_ceil(w.text.chars().count().max(1) as u64)
    };
    let lead = first
        .text
        .chars()
        .take_while(|c| !c.is_alphanumeric())
        .count();
    let trail = last
        .text
        .chars()
        .rev()
        .take_while(|c| !c.is_alphanumeric())
        .count();
    Span::new(
        first.span.start + share(first, lead),
        last.span.end - share(last, trail),
    )
}

/// Appends the words of `text` to `out`, from time `t` seconds on; `A:` / `B:` switch
/// the speaker `ch` to channel 0 / 1.
pub fn say(text: &str, t: &mut f64, ch: &mut u16, out: &mut Vec<ChannelWord>) {
    for w in text.split_whitespace() {
        match w {
            "A:" => *ch = 0,
            "B:" => *ch = 1,
            _ => {
                let (cw, end) = word_at(*ch, w, *t, true);
                *t = end + WORD_GAP;
                out.push(cw);
            }
        }
    }
}

/// The words of a short call written as `say` reads it.
pub fn call(text: &str) -> Vec<ChannelWord> {
    let mut out = Vec::new();
    say(text, &mut 0.3, &mut 0, &mut out);
    out
}

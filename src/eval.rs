//! Scoring a redaction against ground truth: how much of each sensitive item's audio was
//! bleeped, how much innocent speech and how many decoy numbers were hit, and whether
//! any item's digits survive in the masked text.
//!
//! Bleeping is measured on the audio itself (original vs. redacted samples), not taken
//! from hushline's own account of what it did. Owns the ground-truth format of
//! `samples/S.truth.json`. Must not write anything.

use std::path::Path;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use crate::store::Keyring;

/// Below this level a sample counts as silence: leaving it unbleeped leaks nothing.
const SILENCE: f32 = 1.0e-3;
/// Original and redacted samples closer than this are "unchanged" (16-bit requantisation
/// of float or lossy input moves a sample by at most one step).
const UNCHANGED: f32 = 2.5 / 32768.0;
/// Shortest unchanged stretch inside an item that counts as leaked audio.
const MIN_LEAK_RUN_S: f64 = 0.005;
/// Consecutive item digits that count as a text leak.
pub const LEAK_DIGITS: usize = 4;

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Truth {
    pub file: String,
    #[serde(default = "english")]
    pub language: String,
    #[serde(default)]
    pub items: Vec<TruthItem>,
    #[serde(default)]
    pub decoys: Vec<TruthItem>,
    #[serde(default)]
    pub speech: Vec<TruthSpeech>,
}

fn english() -> String {
    "en".into()
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct TruthItem {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub channel: u16,
    pub start: f64,
    pub end: f64,
    pub digits: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct TruthSpeech {
    #[serde(default)]
    pub channel: u16,
    pub start: f64,
    pub end: f64,
    #[serde(default)]
    pub text: String,
}

pub fn load_truth(path: &Path) -> anyhow::Result<Truth> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", path.display()))
}

/// Scores hushline's outputs for `input`: decrypts `recording` in memory (never to disk),
/// checks it kept the input's rate, layout and duration, and compares it with the input.
pub fn score_outputs(
    input: &Path,
    recording: &Path,
    transcript: &Path,
    truth: &Truth,
    keyring: &Keyring,
) -> anyhow::Result<EvalReport> {
    let (info, original) = crate::audio::decode_file(input)?;
    let rate = info.rate;
    let wav = crate::store::decrypt_to_vec(recording, keyring)?;
    let mut reader = hound::WavReader::new(std::io::Cursor::new(&wav[..]))?;
    let spec = reader.spec();
    if spec.sample_rate != rate || spec.channels as usize != original.len() {
        bail!(
            "recording is {} Hz x{}, input {} Hz x{}",
            spec.sample_rate,
            spec.channels,
            rate,
            original.len()
        );
    }
    let scale = (1u64 << (spec.bits_per_sample - 1)) as f32;
    let channels = spec.channels as usize;
    let mut redacted: Vec<Vec<f32>> = vec![Vec::new(); channels];
    for (i, sample) in reader.samples::<i32>().enumerate() {
        redacted[i % channels].push(sample? as f32 / scale);
    }
    if redacted[0].len() != original[0].len() {
        bail!(
            "recording has {} frames, input {}",
            redacted[0].len(),
            original[0].len()
        );
    }
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(transcript)?)?;
    let text = doc["text"].as_str().unwrap_or_default();
    Ok(evaluate(truth, &original, &redacted, rate, text))
}

#[derive(Debug, Clone, Serialize)]
pub struct ItemScore {
    pub kind: String,
    pub channel: u16,
    pub start: f64,
    pub end: f64,
    /// Share of the item's audible samples that were bleeped (1.0 = none leaked).
    pub covered: f64,
    /// Seconds of audible item audio left unbleeped.
    pub leaked_s: f64,
    pub text_leak: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct SpanScore {
    pub kind: String,
    pub channel: u16,
    pub start: f64,
    pub end: f64,
    /// Share of the span's samples that were bleeped.
    pub bleeped: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub file: String,
    pub items: Vec<ItemScore>,
    pub decoys: Vec<SpanScore>,
    /// Innocent speech stretches (from the truth's `speech` list) and how much of each
    /// was bleeped.
    pub speech: Vec<SpanScore>,
}

impl EvalReport {
    /// Any audible item sample unbleeped, or any item digits in the text.
    pub fn leaks(&self) -> bool {
        self.items.iter().any(|i| i.covered < 1.0 || i.text_leak)
    }

    /// Seconds of innocent speech that were bleeped.
    pub fn over_bleep_s(&self) -> f64 {
        self.speech
            .iter()
            .map(|s| s.bleeped * (s.end - s.start))
            .sum()
    }
}

/// Scores one file. `original` and `redacted` are planar samples at `rate`.
pub fn evaluate(
    truth: &Truth,
    original: &[Vec<f32>],
    redacted: &[Vec<f32>],
    rate: u32,
    masked_text: &str,
) -> EvalReport {
    let runs = digit_runs(masked_text);
    let items = truth
        .items
        .iter()
        .map(|item| {
            let (audible, leaked) =
                audible_unchanged(original, redacted, rate, item.channel, item.start, item.end);
            ItemScore {
                kind: item.kind.clone(),
                channel: item.channel,
                start: item.start,
                end: item.end,
                covered: if audible == 0 {
                    1.0
                } else {
                    1.0 - leaked as f64 / audible as f64
                },
                leaked_s: leaked as f64 / rate as f64,
                text_leak: leaks_in_text(&item.digits, &runs),
            }
        })
        .collect();
    let score_spans = |kind: &str, channel: u16, start: f64, end: f64| SpanScore {
        kind: kind.to_string(),
        channel,
        start,
        end,
        bleeped: changed_share(original, redacted, rate, channel, start, end),
    };
    EvalReport {
        file: truth.file.clone(),
        items,
        decoys: truth
            .decoys
            .iter()
            .map(|d| score_spans(&d.kind, d.channel, d.start, d.end))
            .collect(),
        speech: truth
            .speech
            .iter()
            .map(|s| score_spans("speech", s.channel, s.start, s.end))
            .collect(),
    }
}

fn sample_range(len: usize, rate: u32, start: f64, end: f64) -> std::ops::Range<usize> {
    let from = ((start * rate as f64).floor().max(0.0) as usize).min(len);
    let to = ((end * rate as f64).ceil().max(0.0) as usize).min(len);
    from..to.max(from)
}

/// One channel of both signals and the sample range of `start..end` seconds in it.
fn channel_span<'a>(
    original: &'a [Vec<f32>],
    redacted: &'a [Vec<f32>],
    rate: u32,
    channel: u16,
    start: f64,
    end: f64,
) -> Option<(&'a [f32], &'a [f32], std::ops::Range<usize>)> {
    let orig = original.get(channel as usize)?;
    let red = redacted.get(channel as usize)?;
    let range = sample_range(orig.len().min(red.len()), rate, start, end);
    Some((orig, red, range))
}

/// (audible samples, audible samples left unchanged) in a span of one channel. Only
/// unchanged stretches of at least [`MIN_LEAK_RUN_S`] count: a tone crossing the speech
/// waveform matches it at isolated samples, which leaks nothing audible.
fn audible_unchanged(
    original: &[Vec<f32>],
    redacted: &[Vec<f32>],
    rate: u32,
    channel: u16,
    start: f64,
    end: f64,
) -> (usize, usize) {
    let Some((orig, red, range)) = channel_span(original, redacted, rate, channel, start, end)
    else {
        return (0, 0);
    };
    let min_run = ((MIN_LEAK_RUN_S * rate as f64) as usize).max(1);
    let mut audible = 0;
    let mut leaked = 0;
    let mut run_start = None;
    let mut run_audible = 0;
    for i in range.clone().chain(std::iter::once(range.end)) {
        let unchanged = i < range.end && (orig[i] - red[i]).abs() <= UNCHANGED;
        if i < range.end && orig[i].abs() > SILENCE {
            audible += 1;
        }
        if unchanged {
            run_start.get_or_insert(i);
            run_audible += (orig[i].abs() > SILENCE) as usize;
        } else if let Some(from) = run_start.take() {
            if i - from >= min_run {
                leaked += run_audible;
            }
            run_audible = 0;
        }
    }
    (audible, leaked)
}

fn changed_share(
    original: &[Vec<f32>],
    redacted: &[Vec<f32>],
    rate: u32,
    channel: u16,
    start: f64,
    end: f64,
) -> f64 {
    let Some((orig, red, range)) = channel_span(original, redacted, rate, channel, start, end)
    else {
        return 0.0;
    };
    if range.is_empty() {
        return 0.0;
    }
    let n = range.len();
    let changed = range
        .filter(|&i| (orig[i] - red[i]).abs() > UNCHANGED)
        .count();
    changed as f64 / n as f64
}

/// Digit runs in text as a reader would hear them: numerals and number words ("four",
/// "oh", "double"), joined across spaces, dashes and commas, broken by other words.
/// Chinese text has no spaces, so every CJK character counts as a word of its own: a
/// Chinese numeral (幺, 两, 洞 and 〇 too) or a full-width digit is a digit, any other
/// ideograph breaks the run, CJK punctuation joins like a comma.
pub fn digit_runs(text: &str) -> Vec<String> {
    let mut runs = Vec::new();
    let mut current = String::new();
    let mut repeat = 1;
    let text = space_out_cjk(text);
    for raw in
        text.split(|c: char| c.is_whitespace() || c == '-' || c == ',' || c == '.' || c == '/')
    {
        let word = raw
            .trim_matches(|c: char| !c.is_alphanumeric())
            .to_lowercase();
        if word.is_empty() {
            continue;
        }
        let digits: Option<String> = if word.chars().all(|c| c.is_ascii_digit()) {
            Some(word.clone())
        } else {
            spoken_digit(&word).map(|d| d.to_string())
        };
        match (digits, word.as_str()) {
            (Some(d), _) => {
                for _ in 0..repeat {
                    current.push_str(&d);
                }
                repeat = 1;
            }
            (None, "double") => repeat = 2,
            (None, "triple") => repeat = 3,
            (None, _) => {
                if !current.is_empty() {
                    runs.push(std::mem::take(&mut current));
                }
                repeat = 1;
            }
        }
    }
    if !current.is_empty() {
        runs.push(current);
    }
    runs
}

fn spoken_digit(word: &str) -> Option<char> {
    Some(match word {
        "zero" | "oh" | "o" | "零" | "〇" | "洞" | "０" => '0',
        "one" | "一" | "幺" | "１" => '1',
        "two" | "二" | "两" | "２" => '2',
        "three" | "三" | "３" => '3',
        "four" | "四" | "４" => '4',
        "five" | "五" | "５" => '5',
        "six" | "六" | "６" => '6',
        "seven" | "七" | "７" => '7',
        "eight" | "八" | "８" => '8',
        "nine" | "九" | "９" => '9',
        _ => return None,
    })
}

/// CJK punctuation (with 〇), both CJK ideograph blocks most text uses, full-width forms.
fn is_cjk(c: char) -> bool {
    matches!(
        c,
        '\u{3000}'..='\u{303F}' | '\u{3400}'..='\u{4DBF}' | '\u{4E00}'..='\u{9FFF}' | '\u{FF00}'..='\u{FFEF}'
    )
}

/// `text` with a space either side of every CJK character (ideographs, CJK punctuation,
/// full-width forms), so each is split out as a word.
fn space_out_cjk(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for c in text.chars() {
        if is_cjk(c) {
            out.extend([' ', c, ' ']);
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether the text's digit runs ([`digit_runs`]) hold [`LEAK_DIGITS`] consecutive digits of
/// an item (all of it, for shorter items).
pub fn leaks_in_text(item_digits: &str, runs: &[String]) -> bool {
    let digits: Vec<char> = item_digits
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    if digits.len() < LEAK_DIGITS {
        // Short items (CVV, expiry): any full occurrence leaks.
        let needle: String = digits.iter().collect();
        return !needle.is_empty() && runs.iter().any(|r| r.contains(&needle));
    }
    digits.windows(LEAK_DIGITS).any(|w| {
        let needle: String = w.iter().collect();
        runs.iter().any(|r| r.contains(&needle))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digit_runs_read_words_and_numerals() {
        assert_eq!(
            digit_runs("my card is 4539, 1-488 oh double four"),
            vec!["45391488044"]
        );
        assert_eq!(digit_runs("order 123 thanks 456"), vec!["123", "456"]);
        assert!(digit_runs("[CARD] thank you").is_empty());
    }

    #[test]
    fn digit_runs_read_chinese_numerals_and_mixed_scripts() {
        assert_eq!(
            digit_runs("我的身份证号是幺幺零幺零五，1987 0314四四二二。"),
            vec!["110105198703144422"]
        );
        assert_eq!(
            digit_runs("卡号6214，8368，828，722好的"),
            vec!["62148368828722"]
        );
        assert_eq!(digit_runs("两洞〇１２"), vec!["20012"]);
        assert_eq!(
            digit_runs("工号[STAFF]请问有什么可以帮您"),
            Vec::<String>::new()
        );
        // One number in two scripts, as base wrote an ID (issue 16).
        assert_eq!(
            digit_runs("身份正好是 自 二零 一 一 一 198312207537"),
            vec!["20111198312207537"]
        );
    }

    #[test]
    fn four_item_digits_in_text_leak() {
        let runs = digit_runs("ending in 1 1 1 8 right");
        assert!(
            leaks_in_text("4111111111111111", &runs) || leaks_in_text("4111111111111118", &runs)
        );
        assert!(!leaks_in_text(
            "4539148803436467",
            &digit_runs("[CARD] ok 12")
        ));
        assert!(leaks_in_text(
            "123",
            &digit_runs("the code is one two three")
        ));
    }

    #[test]
    fn audio_coverage_ignores_silence_and_counts_unchanged_speech() {
        let rate = 10;
        let original = vec![vec![0.0, 0.5, 0.5, 0.5, 0.0, 0.5, 0.5, 0.5, 0.5, 0.5]];
        let mut redacted = original.clone();
        for s in &mut redacted[0][1..3] {
            *s = -0.2;
        }
        let truth = Truth {
            file: "x".into(),
            language: "en".into(),
            items: vec![TruthItem {
                kind: "card".into(),
                channel: 0,
                start: 0.0,
                end: 0.4,
                digits: "4111".into(),
            }],
            decoys: vec![],
            speech: vec![TruthSpeech {
                channel: 0,
                start: 0.5,
                end: 1.0,
                text: String::new(),
            }],
        };
        let report = evaluate(&truth, &original, &redacted, rate, "");
        // Three audible samples in [0, 0.4), two bleeped.
        assert!((report.items[0].covered - 2.0 / 3.0).abs() < 1e-9);
        assert!(report.leaks());
        assert_eq!(report.speech[0].bleeped, 0.0);
    }

    #[test]
    fn isolated_coincidences_inside_a_bleep_are_not_leaks_but_stretches_are() {
        let rate = 1000; // a leak needs 5 unchanged samples in a row
        let original = vec![vec![0.5f32; 100]];
        let mut redacted = vec![vec![-0.3f32; 100]];
        redacted[0][40] = 0.5; // the tone crossing the waveform
        let (audible, leaked) = audible_unchanged(&original, &redacted, rate, 0, 0.0, 0.1);
        assert_eq!((audible, leaked), (100, 0));
        redacted[0][60..66].copy_from_slice(&[0.5; 6]);
        let (_, leaked) = audible_unchanged(&original, &redacted, rate, 0, 0.0, 0.1);
        assert_eq!(leaked, 6);
    }
}

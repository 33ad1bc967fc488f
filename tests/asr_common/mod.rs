//! Shared by the asr tests and bench: the model location, the committed fixture with its
//! ground truth, and scoring of a transcript against that truth (text and timing).
#![allow(dead_code)]

use std::path::PathBuf;

use hushline::asr::{Segment, Transcriber, TranscriberConfig, Word};

pub const RATE: f64 = 16_000.0;

/// `HUSHLINE_MODEL`, else `models/ggml-tiny.en.bin` in the crate; `None` if absent.
pub fn model_path() -> Option<PathBuf> {
    let path = std::env::var_os("HUSHLINE_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/ggml-tiny.en.bin")
        });
    if path.is_file() {
        Some(path)
    } else {
        eprintln!(
            "SKIPPED: no Whisper model at {} (run `make model` or set HUSHLINE_MODEL)",
            path.display()
        );
        None
    }
}

pub fn load(cfg: TranscriberConfig) -> Option<Transcriber> {
    let path = model_path()?;
    Some(Transcriber::load(&path, cfg).expect("the model must load"))
}

/// One known piece of the fixture: a word or a digit group, on the 16 kHz clock.
#[derive(Debug, Clone)]
pub struct Item {
    pub text: String,
    pub kind: String,
    pub start: u64,
    pub end: u64,
}

pub struct Fixture {
    pub samples: Vec<f32>,
    pub items: Vec<Item>,
}

/// The clean fixture.
pub fn fixture() -> Fixture {
    fixture_wav("asr_call.wav")
}

/// The same call after a G.711 (8 kHz mu-law) line; same truth.
pub fn phone_fixture() -> Fixture {
    fixture_wav("asr_call_phone.wav")
}

fn fixture_wav(name: &str) -> Fixture {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut reader = hound::WavReader::open(dir.join(name)).expect("fixture wav");
    let spec = reader.spec();
    assert_eq!((spec.sample_rate, spec.channels), (16_000, 1));
    let samples: Vec<f32> = reader
        .samples::<i16>()
        .map(|s| s.expect("pcm") as f32 / 32768.0)
        .collect();
    let truth: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("asr_call.json")).expect("truth json"))
            .expect("truth parses");
    assert_eq!(truth["samples"].as_u64(), Some(samples.len() as u64));
    let items = truth["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| Item {
            text: i["text"].as_str().expect("text").to_string(),
            kind: i["kind"].as_str().expect("kind").to_string(),
            start: i["start"].as_u64().expect("start"),
            end: i["end"].as_u64().expect("end"),
        })
        .collect();
    Fixture { samples, items }
}

/// The fixture cut to `margin_s` of audio before its first and after its last item.
pub fn trimmed(f: &Fixture, margin_s: f64) -> Fixture {
    let margin = (margin_s * RATE) as u64;
    let from = f.items[0].start.saturating_sub(margin);
    let to = (f.items[f.items.len() - 1].end + margin).min(f.samples.len() as u64);
    Fixture {
        samples: f.samples[from as usize..to as usize].to_vec(),
        items: f
            .items
            .iter()
            .map(|i| Item {
                start: i.start - from,
                end: i.end - from,
                ..i.clone()
            })
            .collect(),
    }
}

/// `copies` of the fixture joined by `gap_s` of silence, with the truth shifted to match.
pub fn repeated(f: &Fixture, copies: usize, gap_s: f64) -> Fixture {
    let gap = (gap_s * RATE) as usize;
    let mut samples = Vec::new();
    let mut items = Vec::new();
    for _ in 0..copies {
        let base = samples.len() as u64;
        samples.extend_from_slice(&f.samples);
        samples.extend(std::iter::repeat_n(0.0, gap));
        items.extend(f.items.iter().map(|i| Item {
            start: i.start + base,
            end: i.end + base,
            ..i.clone()
        }));
    }
    Fixture { samples, items }
}

/// Lowercase letters and digits only; spelled digits become numerals, so "four five"
/// and "45" compare equal. Nothing else is forgiven.
pub fn normalize(text: &str) -> String {
    let mut out = String::new();
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let w = word.to_lowercase();
        let digit = match w.as_str() {
            "zero" | "oh" => "0",
            "one" => "1",
            "two" => "2",
            "three" => "3",
            "four" => "4",
            "five" => "5",
            "six" => "6",
            "seven" => "7",
            "eight" => "8",
            "nine" => "9",
            _ => &w,
        };
        out.push_str(digit);
    }
    out
}

pub fn words(segments: &[Segment]) -> Vec<Word> {
    segments.iter().flat_map(|s| s.words.clone()).collect()
}

/// How a transcript compares with the truth.
#[derive(Debug, Default)]
pub struct Score {
    pub items: usize,
    /// Items whose every character was heard, in order.
    pub correct: usize,
    pub digit_items: usize,
    pub digit_correct: usize,
    /// Transcript characters matching nothing in the truth (insertions, doubles).
    pub extra_chars: usize,
    pub ref_chars: usize,
    /// Start and end errors in seconds (hypothesis − truth) of correct items whose words
    /// belong to them alone.
    pub start_errors: Vec<f64>,
    pub end_errors: Vec<f64>,
}

impl Score {
    pub fn accuracy(&self) -> f64 {
        self.correct as f64 / self.items.max(1) as f64
    }
    pub fn digit_accuracy(&self) -> f64 {
        self.digit_correct as f64 / self.digit_items.max(1) as f64
    }
    pub fn boundary_errors(&self) -> Vec<f64> {
        let mut all: Vec<f64> = self
            .start_errors
            .iter()
            .chain(&self.end_errors)
            .map(|e| e.abs())
            .collect();
        all.sort_by(f64::total_cmp);
        all
    }
}

/// `q`-quantile (0..=1) of sorted values, nearest rank.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Scores `hyp` against `truth` by a character-level longest common subsequence of the
/// normalised texts, which tolerates Whisper's regrouping of digits.
pub fn score(truth: &[Item], hyp: &[Word]) -> Score {
    let r: Vec<(char, usize)> = truth
        .iter()
        .enumerate()
        .flat_map(|(i, it)| {
            normalize(&it.text)
                .chars()
                .map(move |c| (c, i))
                .collect::<Vec<_>>()
        })
        .collect();
    let h: Vec<(char, usize)> = hyp
        .iter()
        .enumerate()
        .flat_map(|(i, w)| {
            normalize(&w.text)
                .chars()
                .map(move |c| (c, i))
                .collect::<Vec<_>>()
        })
        .collect();
    let (n, m) = (r.len(), h.len());
    let mut dp = vec![0u32; (n + 1) * (m + 1)];
    let at = |i: usize, j: usize| i * (m + 1) + j;
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            dp[at(i, j)] = if r[i].0 == h[j].0 {
                dp[at(i + 1, j + 1)] + 1
            } else {
                dp[at(i + 1, j)].max(dp[at(i, j + 1)])
            };
        }
    }
    let mut matched_ref = vec![None; n];
    let mut matched_hyp = vec![false; m];
    let (mut i, mut j) = (0, 0);
    while i < n && j < m {
        if r[i].0 == h[j].0 && dp[at(i, j)] == dp[at(i + 1, j + 1)] + 1 {
            matched_ref[i] = Some(h[j].1);
            matched_hyp[j] = true;
            i += 1;
            j += 1;
        } else if dp[at(i + 1, j)] >= dp[at(i, j + 1)] {
            i += 1;
        } else {
            j += 1;
        }
    }
    // Which items each transcript word contributed characters to.
    let mut word_items: Vec<Vec<usize>> = vec![Vec::new(); hyp.len()];
    for (k, m) in matched_ref.iter().enumerate() {
        if let Some(w) = m {
            if !word_items[*w].contains(&r[k].1) {
                word_items[*w].push(r[k].1);
            }
        }
    }
    let mut s = Score {
        items: truth.len(),
        ref_chars: n,
        extra_chars: matched_hyp.iter().filter(|x| !**x).count(),
        ..Score::default()
    };
    for (idx, item) in truth.iter().enumerate() {
        let chars: Vec<Option<usize>> = r
            .iter()
            .zip(&matched_ref)
            .filter(|((_, it), _)| *it == idx)
            .map(|(_, m)| *m)
            .collect();
        let digits = item.kind == "digits";
        s.digit_items += digits as usize;
        if chars.is_empty() || chars.iter().any(Option::is_none) {
            continue;
        }
        s.correct += 1;
        s.digit_correct += digits as usize;
        let mut ws: Vec<usize> = chars.iter().flatten().copied().collect();
        ws.dedup();
        if ws.iter().any(|w| word_items[*w].len() > 1) {
            continue;
        }
        let start = hyp[ws[0]].span.start as f64 / RATE;
        let end = hyp[*ws.last().expect("non-empty")].span.end as f64 / RATE;
        s.start_errors.push(start - item.start as f64 / RATE);
        s.end_errors.push(end - item.end as f64 / RATE);
    }
    s
}

pub fn transcript(hyp: &[Word]) -> String {
    hyp.iter()
        .map(|w| w.text.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

//! The sample calls against their ground truth, through the audio stage only: decoding,
//! the 16 kHz stream, speech detection and edge refinement on real synthesised speech.

use std::path::{Path, PathBuf};

use hushline::audio::{decode_file, refine_span, speech_regions, Resampler16k, VadConfig};
use hushline::time::{from_seconds, Span, ASR_RATE};
use serde_json::Value;

fn samples() -> Vec<(PathBuf, Value)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if let Some(stem) = name.strip_suffix(".truth.json") {
            let truth: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
            let audio = dir.join(truth["file"].as_str().unwrap());
            assert!(audio.exists(), "{stem}: {} missing", audio.display());
            out.push((audio, truth));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(out.len() >= 6, "expected at least six sample calls");
    out
}

/// The whole file, planar, at its own rate.
fn decode(path: &Path) -> (u32, Vec<Vec<f32>>) {
    let (info, chans) = decode_file(path).unwrap();
    (info.rate, chans)
}

/// One channel streamed through the resampler in decoder-sized pieces.
fn to_16k(x: &[f32], rate: u32) -> Vec<f32> {
    let mut r = Resampler16k::new(rate).unwrap();
    let mut out = Vec::new();
    for piece in x.chunks(4_096) {
        out.extend(r.process(piece));
    }
    out.extend(r.finish());
    out
}

struct Entry {
    kind: String,
    channel: usize,
    span: Span,
}

fn entries(truth: &Value, key: &str) -> Vec<Entry> {
    truth[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| Entry {
            kind: e["type"].as_str().unwrap_or("speech").to_string(),
            channel: e["channel"].as_u64().unwrap() as usize,
            span: Span::new(
                e["start_sample"].as_u64().unwrap(),
                e["end_sample"].as_u64().unwrap(),
            ),
        })
        .collect()
}

fn covered(span: Span, by: &[Span]) -> u64 {
    by.iter()
        .map(|b| {
            let s = span.start.max(b.start);
            let e = span.end.min(b.end);
            e.saturating_sub(s)
        })
        .sum()
}

/// The 10 ms frames of `span` within 30 dB of its loudest frame.
fn audible_frames(x: &[f32], span: Span) -> Vec<Span> {
    let hop = 160u64;
    let frames: Vec<(Span, f32)> = (span.start..span.end.min(x.len() as u64))
        .step_by(hop as usize)
        .map(|s| {
            let f = Span::new(s, (s + hop).min(span.end));
            let p = x[f.start as usize..f.end as usize]
                .iter()
                .map(|v| v * v)
                .sum::<f32>()
                / f.len() as f32;
            (f, p)
        })
        .collect();
    let peak = frames.iter().map(|f| f.1).fold(0.0, f32::max);
    frames
        .into_iter()
        .filter(|f| f.1 > peak * 1e-3)
        .map(|f| f.0)
        .collect()
}

#[test]
fn samples_decode_as_their_truth_says() {
    for (path, truth) in samples() {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let (rate, chans) = decode(&path);
        assert_eq!(u64::from(rate), truth["rate"].as_u64().unwrap(), "{name}");
        assert_eq!(
            chans.len() as u64,
            truth["channels"].as_u64().unwrap(),
            "{name}"
        );
        let want = from_seconds(truth["duration"].as_f64().unwrap(), rate);
        assert!(
            chans[0].len() as u64 == want,
            "{name}: {} frames, truth says {want}",
            chans[0].len()
        );
        let all: Vec<Entry> = ["items", "decoys", "speech"]
            .iter()
            .flat_map(|k| entries(&truth, k))
            .collect();
        for e in &all {
            assert!(
                e.span.end <= want && !e.span.is_empty(),
                "{name}: {}",
                e.kind
            );
            // Every entry is audible: well above the quietest part of its channel.
            let x = &chans[e.channel][e.span.start as usize..e.span.end as usize];
            let rms = (x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32).sqrt();
            assert!(rms > 0.02, "{name}: {} at {:?} is silent", e.kind, e.span);
        }
    }
}

/// Speech detection on the 16 kHz stream keeps every word of every call: skipping
/// silence must never skip a number.
#[test]
fn vad_on_the_16k_stream_keeps_all_speech() {
    let cfg = VadConfig::default();
    for (path, truth) in samples() {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let (rate, chans) = decode(&path);
        for (c, x) in chans.iter().enumerate() {
            let y = to_16k(x, rate);
            assert_eq!(
                y.len() as u64,
                (x.len() as u64 * 16_000).div_ceil(u64::from(rate))
            );
            let regions = speech_regions(&y, 0, &cfg);
            let total: u64 = regions.iter().map(Span::len).sum();
            for e in ["items", "decoys", "speech"]
                .iter()
                .flat_map(|k| entries(&truth, k))
                .filter(|e| e.channel == c)
            {
                // Entries include the pauses between digit groups; what must be kept is
                // every audible 10 ms frame of them.
                let s = e.span.rescale(rate, ASR_RATE);
                let frames = audible_frames(&y, s);
                let lost: Vec<&Span> = frames
                    .iter()
                    .filter(|f| covered(**f, &regions) < f.len())
                    .collect();
                assert!(
                    lost.is_empty(),
                    "{name} ch {c}: {} loses {} of {} audible frames, first at {:?}",
                    e.kind,
                    lost.len(),
                    frames.len(),
                    lost[0]
                );
            }
            // ... while it does skip something: the pauses.
            assert!(
                total < y.len() as u64,
                "{name} ch {c}: everything is speech"
            );
        }
    }
}

/// Whisper's word times are often 0.2–0.5 s inside a number's true edges: refinement on
/// the audio must win that back without running into the words around.
#[test]
fn refine_span_recovers_late_and_early_edges() {
    let mut worst_miss = 0.0f64;
    let mut over = Vec::new();
    for (path, truth) in samples() {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let (rate, chans) = decode(&path);
        let cap = from_seconds(0.6, rate);
        for e in entries(&truth, "items")
            .into_iter()
            .chain(entries(&truth, "decoys"))
        {
            for inward in [0.1, 0.3, 0.45] {
                let d = from_seconds(inward, rate);
                if e.span.len() <= 2 * d + rate as u64 / 10 {
                    continue;
                }
                let guess = Span::new(e.span.start + d, e.span.end - d);
                let got = refine_span(&chans[e.channel], 0, rate, guess, cap);
                assert!(got.start <= guess.start && got.end >= guess.end, "shrunk");
                let miss = (got.start.saturating_sub(e.span.start)
                    + e.span.end.saturating_sub(got.end)) as f64
                    / rate as f64;
                worst_miss = worst_miss.max(miss);
                assert!(
                    miss <= 0.02,
                    "{name}: {} off by {inward} s inward, refined {got:?} misses {miss:.3} s of {:?}",
                    e.kind,
                    e.span
                );
                over.push(
                    (e.span.start.saturating_sub(got.start) + got.end.saturating_sub(e.span.end))
                        as f64
                        / rate as f64,
                );
            }
        }
    }
    over.sort_by(f64::total_cmp);
    eprintln!(
        "refine_span on samples: worst miss {worst_miss:.3} s; over-extension median {:.3} s, max {:.3} s",
        over[over.len() / 2],
        over[over.len() - 1]
    );
}

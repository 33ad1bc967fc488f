//! Whisper transcription speed and timing accuracy, printed as a table.
//!
//! `cargo bench --bench asr`: real-time factor of the model on ~67 s of the committed
//! fixture (streamed, 2 threads) and median / p95 word-boundary error, for both timing
//! modes. `HUSHLINE_BENCH_MINUTES=60` also streams that many minutes of audio and
//! reports the process's peak resident memory (instead of the table). Uses `HUSHLINE_MODEL` or
//! `models/ggml-tiny.en.bin`.

#[path = "../tests/asr_common/mod.rs"]
mod asr_common;

use std::time::Instant;

use asr_common::*;
use hushline::asr::{StreamingTranscriber, TimingMode, Transcriber, TranscriberConfig};

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this binary without
    // it, and the real tests already cover transcription, so only check the fixture.
    if !std::env::args().any(|a| a == "--bench") {
        assert!(!fixture().items.is_empty());
        return;
    }
    let Some(path) = model_path() else {
        return;
    };
    // The long run alone, so the peak memory is that of streaming only.
    if let Some(minutes) = std::env::var("HUSHLINE_BENCH_MINUTES")
        .ok()
        .and_then(|m| m.parse::<f64>().ok())
    {
        long_run(&path, &fixture(), minutes);
        return;
    }
    let f = repeated(&fixture(), 3, 0.3);
    let seconds = f.samples.len() as f64 / RATE;
    println!(
        "model {}, {seconds:.1} s of speech, 2 threads",
        path.display()
    );
    println!(
        "{:<16} {:>6} {:>9} {:>12} {:>12} {:>12}",
        "timing", "RTF", "items ok", "median err", "p95 err", "max err"
    );
    for timing in [TimingMode::Dtw, TimingMode::TokenTimestamps] {
        let cfg = TranscriberConfig {
            threads: 2,
            timing,
            ..TranscriberConfig::default()
        };
        let asr = Transcriber::load(&path, cfg).expect("model loads");
        let t = Instant::now();
        let mut st = StreamingTranscriber::new(&asr);
        let mut segments = st.push(&f.samples).expect("push");
        segments.extend(st.finish().expect("finish"));
        let rtf = t.elapsed().as_secs_f64() / seconds;
        let s = score(&f.items, &words(&segments));
        let e = s.boundary_errors();
        println!(
            "{:<16} {:>6.3} {:>5}/{:<3} {:>10.3} s {:>10.3} s {:>10.3} s",
            format!("{timing:?}"),
            rtf,
            s.correct,
            s.items,
            quantile(&e, 0.5),
            quantile(&e, 0.95),
            quantile(&e, 1.0)
        );
        let starts = sorted_abs(&s.start_errors);
        let ends = sorted_abs(&s.end_errors);
        println!(
            "{:<16} starts: median {:.3} s p95 {:.3} s (signed median {:+.3}); ends: median {:.3} s p95 {:.3} s (signed median {:+.3})",
            "",
            quantile(&starts, 0.5),
            quantile(&starts, 0.95),
            signed_median(&s.start_errors),
            quantile(&ends, 0.5),
            quantile(&ends, 0.95),
            signed_median(&s.end_errors),
        );
    }
}

/// Streams `minutes` of the fixture (looped, fed in 1 s chunks) and reports peak memory.
fn long_run(path: &std::path::Path, f: &Fixture, minutes: f64) {
    let asr = Transcriber::load(path, TranscriberConfig::default()).expect("model loads");
    let total = (minutes * 60.0 * RATE) as usize;
    let mut st = StreamingTranscriber::new(&asr);
    let (mut fed, mut n_words) = (0usize, 0usize);
    let t = Instant::now();
    while fed < total {
        let pos = fed % f.samples.len();
        let n = 16_000.min(f.samples.len() - pos).min(total - fed);
        n_words += words(&st.push(&f.samples[pos..pos + n]).expect("push")).len();
        fed += n;
    }
    n_words += words(&st.finish().expect("finish")).len();
    println!(
        "long input: {minutes} min streamed in {:.0} s (RTF {:.3}), {n_words} words, peak RSS {}",
        t.elapsed().as_secs_f64(),
        t.elapsed().as_secs_f64() / (minutes * 60.0),
        peak_rss().unwrap_or_else(|| "n/a".into())
    );
}

fn peak_rss() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line.trim_start_matches("VmHWM:").trim().to_string())
}

fn sorted_abs(v: &[f64]) -> Vec<f64> {
    let mut a: Vec<f64> = v.iter().map(|e| e.abs()).collect();
    a.sort_by(f64::total_cmp);
    a
}

fn signed_median(v: &[f64]) -> f64 {
    let mut a = v.to_vec();
    a.sort_by(f64::total_cmp);
    quantile(&a, 0.5)
}

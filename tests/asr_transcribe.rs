//! One-window transcription with the real model: words, numbers and their times on the
//! committed fixture; silence and noise; errors that need no model.

mod asr_common;

use asr_common::*;
use hushline::asr::{AsrError, TimingMode, Transcriber, TranscriberConfig};
use std::path::Path;

/// Transcribes a fixture in one window and checks text and times against its truth.
///
/// Text: at least 80 % of items (tiny.en mishears some isolated short words, e.g. "pay"
/// as "make") and every digit group. Times: median edge error ≤ 0.25 s; in the
/// directions that would uncover speech (start late, end early) no edge beyond 0.5 s;
/// in the directions that cover more (start early, end late) none beyond 1.0 s.
fn check_fixture(f: &Fixture, label: &str) {
    let Some(asr) = load(TranscriberConfig::default()) else {
        return;
    };
    let segments = asr.transcribe_window(&f.samples, 0).expect("transcribes");
    let hyp = words(&segments);
    let s = score(&f.items, &hyp);
    let errs = s.boundary_errors();
    eprintln!(
        "{label}: heard: {}\nitems {}/{}, digit groups {}/{}, extra chars {}, boundary error median {:.3} s p95 {:.3} s max {:.3} s",
        transcript(&hyp),
        s.correct,
        s.items,
        s.digit_correct,
        s.digit_items,
        s.extra_chars,
        quantile(&errs, 0.5),
        quantile(&errs, 0.95),
        quantile(&errs, 1.0),
    );
    assert!(
        s.accuracy() >= 0.8,
        "{label}: too few items heard right: {s:?}"
    );
    assert_eq!(
        s.digit_correct, s.digit_items,
        "{label}: digit groups misheard: {s:?}"
    );
    assert!(
        s.extra_chars * 10 <= s.ref_chars,
        "{label}: too much extra text: {s:?}"
    );
    assert!(
        errs.len() * 10 >= s.items * 7,
        "{label}: too few items timed: {s:?}"
    );
    assert!(
        quantile(&errs, 0.5) <= 0.25,
        "{label}: median boundary error: {errs:?}"
    );
    for &e in &s.start_errors {
        assert!(
            (-1.0..=0.5).contains(&e),
            "{label}: start off by {e:+.3} s: {s:?}"
        );
    }
    for &e in &s.end_errors {
        assert!(
            (-0.5..=1.0).contains(&e),
            "{label}: end off by {e:+.3} s: {s:?}"
        );
    }
    for w in &hyp {
        assert!(w.span.start <= w.span.end && w.span.end <= f.samples.len() as u64);
        assert!((0.0..=1.0).contains(&w.confidence));
        for t in &w.tokens {
            assert!(t.span.start <= t.span.end && t.span.end <= f.samples.len() as u64);
        }
    }
}

#[test]
fn clean_fixture_words_numbers_and_times() {
    check_fixture(&fixture(), "clean");
}

#[test]
fn telephone_fixture_words_numbers_and_times() {
    check_fixture(&phone_fixture(), "G.711");
}

#[test]
fn times_follow_the_offset() {
    let Some(asr) = load(TranscriberConfig::default()) else {
        return;
    };
    let f = fixture();
    let clip = &f.samples[..10 * 16_000];
    let a = words(&asr.transcribe_window(clip, 0).expect("transcribes"));
    let offset = 7_777_777u64;
    let b = words(&asr.transcribe_window(clip, offset).expect("transcribes"));
    assert!(!a.is_empty());
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.text, y.text);
        assert_eq!(x.span.start + offset, y.span.start);
        assert_eq!(x.span.end + offset, y.span.end);
    }
}

#[test]
fn silence_and_noise_give_no_words() {
    let Some(asr) = load(TranscriberConfig::default()) else {
        return;
    };
    let silence = vec![0.0f32; 20 * 16_000];
    let heard = words(&asr.transcribe_window(&silence, 0).expect("silence"));
    assert!(heard.is_empty(), "silence heard as: {}", transcript(&heard));
    // White noise at about -34 dBFS RMS (a hissing line), from a fixed-seed generator.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let noise: Vec<f32> = (0..20 * 16_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ((x >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.07
        })
        .collect();
    let heard = words(&asr.transcribe_window(&noise, 0).expect("noise"));
    assert!(heard.is_empty(), "noise heard as: {}", transcript(&heard));
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let Some(asr) = load(TranscriberConfig::default()) else {
        return;
    };
    let long = vec![0.0f32; 30 * 16_000 + 1];
    assert!(matches!(
        asr.transcribe_window(&long, 0),
        Err(AsrError::WindowTooLong { .. })
    ));
    let mut nan = vec![0.0f32; 16_000];
    nan[5] = f32::NAN;
    assert!(matches!(
        asr.transcribe_window(&nan, 0),
        Err(AsrError::NonFiniteSamples)
    ));
    assert!(asr.transcribe_window(&[], 0).expect("empty").is_empty());
}

#[test]
fn english_only_model_refuses_chinese() {
    let Some(path) = model_path() else {
        return;
    };
    let cfg = TranscriberConfig {
        language: "zh".into(),
        ..TranscriberConfig::default()
    };
    assert!(matches!(
        Transcriber::load(&path, cfg),
        Err(AsrError::Language { .. })
    ));
}

#[test]
fn missing_or_corrupt_model_is_a_clear_error() {
    for timing in [TimingMode::Dtw, TimingMode::TokenTimestamps] {
        let cfg = TranscriberConfig {
            timing,
            ..TranscriberConfig::default()
        };
        let err = Transcriber::load(Path::new("no/such/model.bin"), cfg.clone()).unwrap_err();
        assert!(matches!(err, AsrError::ModelLoad { .. }), "{err}");
        assert!(err.to_string().contains("model fetch"));
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.bin");
        std::fs::write(&junk, b"this is not a model, just some bytes to read").unwrap();
        let err = Transcriber::load(&junk, cfg).unwrap_err();
        assert!(matches!(err, AsrError::ModelLoad { .. }), "{err}");
    }
}

/// Two lanes (one decoding state each, sharing the weights) serve two callers at once,
/// and each caller hears exactly what a lone caller hears: states are not mixed up.
#[test]
fn lanes_serve_concurrent_callers_independently() {
    let cfg = TranscriberConfig {
        threads: 1,
        lanes: 2,
        ..TranscriberConfig::default()
    };
    let Some(asr) = load(cfg) else {
        return;
    };
    let clean = fixture();
    let phone = phone_fixture();
    let text = |f: &Fixture| transcript(&words(&asr.transcribe_window(&f.samples, 0).unwrap()));
    let alone = (text(&clean), text(&phone));
    let together = std::thread::scope(|s| {
        let a = s.spawn(|| text(&clean));
        let b = s.spawn(|| text(&phone));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert!(!alone.0.is_empty() && !alone.1.is_empty());
    assert_eq!(together, alone);
}

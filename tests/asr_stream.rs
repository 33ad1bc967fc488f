//! Long audio through the streaming transcriber with the real model: words at window
//! edges are neither lost nor doubled, silence yields nothing, memory stays bounded.

mod asr_common;

use asr_common::*;
use hushline::asr::{Segment, StreamingTranscriber, Transcriber, TranscriberConfig};

/// Pushes `samples` in uneven chunks (as a decoder would deliver them).
fn stream(asr: &Transcriber, samples: &[f32]) -> Vec<Segment> {
    let mut st = StreamingTranscriber::new(asr);
    let mut out = Vec::new();
    let chunks = [3_217usize, 160_000, 77, 1_000_003, 48_000];
    let mut rest = samples;
    let mut k = 0;
    while !rest.is_empty() {
        let n = chunks[k % chunks.len()].min(rest.len());
        out.extend(st.push(&rest[..n]).expect("push"));
        rest = &rest[n..];
        k += 1;
    }
    out.extend(st.finish().expect("finish"));
    out
}

fn check_order(segments: &[Segment]) {
    let hyp = words(segments);
    for pair in hyp.windows(2) {
        assert!(
            pair[0].span.start <= pair[1].span.start,
            "words out of order: {:?} then {:?}",
            pair[0].span,
            pair[1].span
        );
    }
}

fn check_long(asr: &Transcriber, f: &Fixture, label: &str) {
    let segments = stream(asr, &f.samples);
    check_order(&segments);
    let hyp = words(&segments);
    let s = score(&f.items, &hyp);
    let errs = s.boundary_errors();
    eprintln!(
        "{label}: {:.1} s, items {}/{}, digit groups {}/{}, extra chars {}/{}, boundary median {:.3} s p95 {:.3} s",
        f.samples.len() as f64 / RATE,
        s.correct,
        s.items,
        s.digit_correct,
        s.digit_items,
        s.extra_chars,
        s.ref_chars,
        quantile(&errs, 0.5),
        quantile(&errs, 0.95),
    );
    // Lost words show up as missed items, doubled words as extra characters.
    assert!(
        s.accuracy() >= 0.9,
        "{label}: words lost: {}",
        transcript(&hyp)
    );
    assert!(
        s.extra_chars * 20 <= s.ref_chars,
        "{label}: words doubled or invented: {}",
        transcript(&hyp)
    );
}

#[test]
fn long_audio_loses_and_doubles_nothing_at_window_edges() {
    let Some(asr) = load(TranscriberConfig::default()) else {
        return;
    };
    // Copies joined by a short pause: window cuts land between words inside phrases.
    let f = repeated(&fixture(), 4, 0.3);
    assert!(f.samples.len() > 60 * 16_000);
    check_long(&asr, &f, "4 copies, 0.3 s apart");
}

#[test]
fn long_audio_without_pauses_uses_overlap_and_dedupes() {
    let Some(asr) = load(TranscriberConfig::default()) else {
        return;
    };
    // A steady hum under the speech leaves no pause quiet enough to cut in, so the
    // windows overlap and the words heard twice must be merged.
    let mut f = repeated(&fixture(), 3, 0.3);
    for (i, s) in f.samples.iter_mut().enumerate() {
        *s += 0.04 * (i as f32 * 2.0 * std::f32::consts::PI * 50.0 / 16_000.0).sin();
    }
    check_long(&asr, &f, "3 copies over a 50 Hz hum");
}

#[test]
fn long_silence_yields_nothing() {
    let Some(asr) = load(TranscriberConfig::default()) else {
        return;
    };
    let silence = vec![0.0f32; 75 * 16_000];
    let heard = words(&stream(&asr, &silence));
    assert!(heard.is_empty(), "silence heard as: {}", transcript(&heard));
}

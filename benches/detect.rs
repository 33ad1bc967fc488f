//! Detection speed on a long two-channel call (1,750 words). Target: a 10-minute call
//! (≈ 1,500 words) in well under 50 ms on one core, so detection is negligible next to
//! Whisper (RTF ≈ 0.05) and cheap enough to rerun over a sliding window on live calls.

#[path = "../tests/detect_support/mod.rs"]
mod detect_support;

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use hushline::detect::{ChannelWord, Detector, Rules};

use detect_support::say;

/// About ten minutes of call: chatter, with a card, expiry, code and an order number
/// read every so often, in numerals and in words.
fn call() -> Vec<ChannelWord> {
    let chatter = "thanks for calling how can I help you today I would like to check on my \
                   order it has not arrived yet and I was charged twice for it last week";
    let items = [
        "A: can I have the card number please B: sure it's 4539 1488 0343 6467",
        "A: and the expiry B: oh eight twenty seven A: security code B: seven one three",
        "B: my order number is 88213977 and the phone is 415-555-0132",
        "B: four five three nine one four eight eight zero three four three six four six seven",
    ];
    let mut words = Vec::new();
    let mut t = 0.0;
    for round in 0..40 {
        let mut ch = (round % 2) as u16;
        say(chatter, &mut t, &mut ch, &mut words);
        say(items[round % items.len()], &mut t, &mut ch, &mut words);
    }
    words
}

fn bench(c: &mut Criterion) {
    let det = Detector::new(Rules::default()).unwrap();
    let words = call();
    let minutes = words
        .last()
        .map_or(0.0, |w| w.word.span.end as f64 / 16_000.0 / 60.0);
    let name = format!("detect {} words ({minutes:.1} min of call)", words.len());
    c.bench_function(&name, |b| b.iter(|| det.detect(black_box(&words))));
    c.bench_function("Detector::new (compile default rules)", |b| {
        b.iter(|| Detector::new(black_box(Rules::default())).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);

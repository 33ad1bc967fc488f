//! Bleep rendering throughput, and span merging at a realistic scale.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hushline::redact::{pad_and_merge, BleepConfig, BleepSignal, Bleeper};
use hushline::time::Span;

const N: usize = 1 << 20;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("bleep_1M_samples");
    g.throughput(Throughput::Elements(N as u64));
    let signals = [
        ("tone", BleepConfig::default().signal),
        (
            "comfort_noise",
            BleepSignal::ComfortNoise { level_dbfs: -40.0 },
        ),
        ("silence", BleepSignal::Silence),
    ];
    let input: Vec<f32> = (0..N).map(|i| ((i % 97) as f32 / 97.0) - 0.5).collect();
    for (name, signal) in signals {
        let b = Bleeper::new(
            &BleepConfig {
                signal,
                ..BleepConfig::default()
            },
            8000,
        );
        // Every sample inside a span: the worst case.
        let spans = [Span::new(0, N as u64)];
        let mut buf = input.clone();
        g.bench_function(name, |bench| {
            bench.iter(|| b.apply(black_box(&mut buf), 1_000_000, black_box(&spans)))
        });
    }
    let b = Bleeper::new(&BleepConfig::default(), 8000);
    let mut buf = input.clone();
    g.bench_function("untouched (no span in the buffer)", |bench| {
        bench.iter(|| {
            b.apply(
                black_box(&mut buf),
                0,
                black_box(&[Span::new(5 * N as u64, 6 * N as u64)]),
            )
        })
    });
    g.finish();

    let spans: Vec<Span> = (0..10_000u64)
        .map(|i| Span::new(i * 7919 % 9_000_000, i * 7919 % 9_000_000 + 4000))
        .collect();
    c.bench_function("pad_and_merge_10k_spans", |bench| {
        bench.iter(|| pad_and_merge(black_box(&spans), 2000, Some(10_000_000)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! Throughput of the audio stage: decoding, resampling to 16 kHz, speech detection, edge
//! refinement and keypad tones. Targets (2 cores, shared): each runs far faster than real
//! time, so the audio stage stays a rounding error next to Whisper (≈ 20x real time). The
//! keypad detector's cost per second of audio is its time over 60 s divided by 60: over
//! speech (most blocks end at the first checks) and over nonstop keying (every block is
//! a candidate and fully checked, the worst case).

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hushline::audio::dtmf::{key_tone, ToneDetector, ToneSpec};
use hushline::audio::{decode_file, refine_span, speech_regions, Resampler16k, VadConfig};
use hushline::time::Span;

fn sample(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("samples")
        .join(name)
}

fn decode_all(path: &Path) -> (u32, Vec<Vec<f32>>) {
    let (info, chans) = decode_file(path).unwrap();
    (info.rate, chans)
}

/// A minute of speech-like audio at `rate`: a sample call repeated.
fn minute(rate: u32) -> Vec<f32> {
    let (src_rate, chans) = decode_all(&sample("card_digits.wav"));
    let base = if rate == src_rate {
        chans[0].clone()
    } else {
        // Only used to build inputs: nearest-sample stretch is enough here.
        let n = chans[0].len() as u64 * u64::from(rate) / u64::from(src_rate);
        (0..n)
            .map(|i| chans[0][(i * u64::from(src_rate) / u64::from(rate)) as usize])
            .collect()
    };
    base.iter()
        .cycle()
        .take(rate as usize * 60)
        .copied()
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("audio");
    g.sample_size(10);

    for name in ["card_digits.wav", "g711_stereo.wav", "card_mp3.mp3"] {
        let path = sample(name);
        let (rate, chans) = decode_all(&path);
        g.throughput(Throughput::Elements(
            chans[0].len() as u64 * chans.len() as u64,
        ));
        g.bench_function(format!("decode {name} ({rate} Hz)"), |b| {
            b.iter(|| black_box(decode_all(&path)))
        });
    }

    for rate in [8_000u32, 44_100, 48_000] {
        let x = minute(rate);
        g.throughput(Throughput::Elements(x.len() as u64));
        g.bench_function(format!("resample 60 s {rate} Hz -> 16 kHz"), |b| {
            b.iter(|| {
                let mut r = Resampler16k::new(rate).unwrap();
                let mut n = 0;
                for piece in x.chunks(16_384) {
                    n += r.process(piece).len();
                }
                n += r.finish().len();
                black_box(n)
            })
        });
    }

    let x = minute(16_000);
    g.throughput(Throughput::Elements(x.len() as u64));
    let cfg = VadConfig::default();
    g.bench_function("speech_regions 60 s 16 kHz", |b| {
        b.iter(|| black_box(speech_regions(&x, 0, &cfg)))
    });

    for rate in [8_000u32, 16_000, 48_000] {
        let speech = minute(rate);
        let keying: Vec<f32> = "4539148803436467#123*0"
            .chars()
            .flat_map(|k| {
                let mut tone = key_tone(rate, k, &ToneSpec::default());
                tone.resize(tone.len() * 2, 0.0);
                tone
            })
            .cycle()
            .take(rate as usize * 60)
            .collect();
        for (what, x) in [("speech", &speech), ("nonstop keying", &keying)] {
            g.throughput(Throughput::Elements(x.len() as u64));
            g.bench_function(format!("keypad tones 60 s {what} {rate} Hz"), |b| {
                b.iter(|| {
                    let mut d = ToneDetector::new(rate, 0);
                    let mut n = 0;
                    for piece in x.chunks(1_600) {
                        n += d.push(piece).len();
                    }
                    black_box(n + d.finish().len())
                })
            });
        }
    }

    let x8 = minute(8_000);
    g.throughput(Throughput::Elements(1));
    g.bench_function("refine_span one item, 8 kHz", |b| {
        b.iter(|| {
            black_box(refine_span(
                &x8,
                0,
                8_000,
                Span::new(90_000, 125_000),
                4_800,
            ))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

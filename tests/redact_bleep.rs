//! Bleeping: chunk invariance, untouched samples outside spans, and a bleeped call that
//! goes through the encrypted store and comes back with its exact format and length.

use hushline::redact::{pad_and_merge, BleepConfig, BleepSignal, Bleeper};
use hushline::store::{decrypt_file, Keyring, MasterKey, RecordingWriter};
use hushline::time::{from_seconds, Span};
use proptest::prelude::*;

fn signal() -> impl Strategy<Value = BleepSignal> {
    prop_oneof![
        (50f32..4000.0, -40f32..0.0)
            .prop_map(|(hz, level_dbfs)| BleepSignal::Tone { hz, level_dbfs }),
        Just(BleepSignal::Silence),
        (-60f32..-10.0).prop_map(|level_dbfs| BleepSignal::ComfortNoise { level_dbfs }),
    ]
}

fn noise(n: usize, seed: u32) -> Vec<f32> {
    let mut x = seed.wrapping_add(1);
    (0..n)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 8) as f32 / (1u32 << 24) as f32 * 1.6 - 0.8
        })
        .collect()
}

proptest! {
    #[test]
    fn applying_in_pieces_equals_applying_whole(
        sig in signal(),
        fade_ms in 0f64..20.0,
        rate in prop_oneof![Just(8000u32), Just(16000), Just(44100), Just(48000)],
        raw in proptest::collection::vec((0u64..6000, 0u64..2000), 0..6),
        cuts in proptest::collection::vec(0usize..6000, 0..8),
        offset in 0u64..10_000_000_000,
        seed in any::<u32>(),
    ) {
        let cfg = BleepConfig { signal: sig, padding_s: 0.0, fade_ms };
        let b = Bleeper::new(&cfg, rate);
        let input = noise(6000, seed);
        let spans: Vec<Span> = raw.iter().map(|&(s, l)| Span::new(offset + s, offset + s + l)).collect();
        let spans = pad_and_merge(&spans, 3, None);

        let mut whole = input.clone();
        b.apply(&mut whole, offset, &spans);

        let mut cuts = cuts;
        cuts.push(0);
        cuts.push(input.len());
        cuts.sort_unstable();
        let mut pieces = input.clone();
        for w in cuts.windows(2) {
            b.apply(&mut pieces[w[0]..w[1]], offset + w[0] as u64, &spans);
        }
        prop_assert_eq!(
            whole.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            pieces.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        for (i, (a, x)) in whole.iter().zip(&input).enumerate() {
            let n = offset + i as u64;
            let inside = spans.iter().any(|s| s.start <= n && n < s.end);
            if !inside {
                prop_assert_eq!(a.to_bits(), x.to_bits());
            }
            prop_assert!(a.abs() <= 1.0);
        }
    }
}

#[test]
fn interleaved_matches_per_channel() {
    let b = Bleeper::new(&BleepConfig::default(), 8000);
    let (l, r) = (noise(5000, 1), noise(5000, 2));
    let mut inter: Vec<f32> = l.iter().zip(&r).flat_map(|(a, b)| [*a, *b]).collect();
    let left_spans = [Span::new(100, 900)];
    let right_spans = [Span::new(800, 2000), Span::new(4990, 6000)];
    b.apply_interleaved(&mut inter, 2, 0, &[&left_spans, &right_spans]);
    let (mut l2, mut r2) = (l.clone(), r.clone());
    b.apply(&mut l2, 0, &left_spans);
    b.apply(&mut r2, 0, &right_spans);
    let expect: Vec<f32> = l2.iter().zip(&r2).flat_map(|(a, b)| [*a, *b]).collect();
    assert_eq!(inter, expect);
}

/// A stereo 8 kHz 16-bit call, bleeped per channel in streaming blocks, stored encrypted
/// and read back: same rate, channels, width and length; every sample outside the padded
/// spans identical to the input PCM; inside, the tone replaced the speech.
#[test]
fn bleeped_call_keeps_its_format_and_untouched_samples() {
    let dir = tempfile::tempdir().unwrap();
    let rate = 8000u32;
    let frames = rate as usize * 7 + 123;
    let input: Vec<i16> = noise(frames * 2, 9)
        .iter()
        .map(|v| (v * 20000.0) as i16)
        .collect();

    let cfg = BleepConfig::default();
    let b = Bleeper::new(&cfg, rate);
    let pad = from_seconds(cfg.padding_s, rate);
    let left = pad_and_merge(
        &[Span::new(8000, 16000), Span::new(17000, 20000)],
        pad,
        Some(frames as u64),
    );
    let right = pad_and_merge(&[Span::new(50_000, 60_000)], pad, Some(frames as u64));
    // The two spans are closer than twice the guard band: one padded span.
    assert_eq!(left, vec![Span::new(8000 - pad, 20000 + pad)]);

    let keys = Keyring::from_keys(vec![MasterKey::from_bytes("k", [3; 32]).unwrap()]).unwrap();
    let enc = dir.path().join("call.wav.enc");
    let mut w = RecordingWriter::create(&enc, keys.primary(), rate, 2, 16).unwrap();
    for (block_no, block) in input.chunks(2 * 1111).enumerate() {
        let mut f: Vec<f32> = block.iter().map(|&s| f32::from(s) / 32768.0).collect();
        b.apply_interleaved(&mut f, 2, block_no as u64 * 1111, &[&left, &right]);
        w.write_interleaved(&f).unwrap();
    }
    w.finish().unwrap();

    let out = dir.path().join("call.wav");
    decrypt_file(&enc, &out, &keys).unwrap();
    let r = hound::WavReader::open(&out).unwrap();
    let spec = r.spec();
    assert_eq!(
        (spec.sample_rate, spec.channels, spec.bits_per_sample),
        (rate, 2, 16)
    );
    assert_eq!(r.duration() as usize, frames);
    let got: Vec<i16> = r.into_samples::<i16>().map(Result::unwrap).collect();
    assert_eq!(got.len(), input.len());
    let mut changed = 0;
    for (i, (g, x)) in got.iter().zip(&input).enumerate() {
        let (n, spans) = ((i / 2) as u64, if i % 2 == 0 { &left } else { &right });
        if spans.iter().any(|s| s.start <= n && n < s.end) {
            changed += usize::from(g != x);
            // Past the 5 ms (40-sample) crossfades only the tone is left.
            if spans.iter().any(|s| s.start + 40 <= n && n + 40 < s.end) {
                assert!(g.unsigned_abs() <= 5830, "tone at -15 dBFS peaks at 5827");
            }
        } else {
            assert_eq!(g, x, "sample {i} outside every span must be untouched");
        }
    }
    assert!(changed > 23_000, "{changed}"); // 16000 + 8123 samples lie in spans
}

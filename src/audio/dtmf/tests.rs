//! The detector on synthetic keypad signals, G.711-coded where telephone audio would be.
//! The Q.24 accept/reject table through sox and the talk-off run over real speech are
//! integration tests (tests/dtmf_detect.rs).

use super::*;

/// One part of a synthetic keypad signal.
#[derive(Debug, Clone, Copy)]
enum Part {
    Key(char, ToneSpec),
    Pause(f64),
}

fn key(k: char, ms: f64) -> Part {
    Part::Key(
        k,
        ToneSpec {
            ms,
            ..ToneSpec::default()
        },
    )
}

/// The signal at `rate`, with the span of every key part.
fn synth(rate: u32, parts: &[Part]) -> (Vec<f32>, Vec<Span>) {
    let mut out = Vec::new();
    let mut spans = Vec::new();
    for p in parts {
        match p {
            Part::Pause(ms) => out.resize(out.len() + samples(rate, *ms), 0.0),
            Part::Key(k, spec) => {
                let start = out.len() as u64;
                out.extend(key_tone(rate, *k, spec));
                spans.push(Span::new(start, out.len() as u64));
            }
        }
    }
    (out, spans)
}

fn samples(rate: u32, ms: f64) -> usize {
    (f64::from(rate) * ms / 1000.0).round() as usize
}

fn detect(rate: u32, audio: &[f32]) -> Vec<Tone> {
    let mut d = ToneDetector::new(rate, 0);
    let mut out = d.push(audio);
    out.extend(d.finish());
    out
}

/// The keys heard clearly; fails if any tone was heard only under other sound.
fn keys(tones: &[Tone]) -> String {
    assert!(tones.iter().all(|t| t.heard == Heard::Clearly), "{tones:?}");
    tones.iter().map(|t| t.key).collect()
}

#[test]
fn goertzel_is_the_dft_at_one_frequency() {
    let x: Vec<f64> = (0..205)
        .map(|n| ((n * 37 % 101) as f64 - 50.0) / 50.0)
        .collect();
    let omega = 0.7;
    let (mut re, mut im) = (0.0, 0.0);
    for (n, v) in x.iter().enumerate() {
        re += v * (omega * n as f64).cos();
        im -= v * (omega * n as f64).sin();
    }
    let g = goertzel(&x, omega);
    assert!(
        (g.re - re).abs() < 1e-9 && (g.im - im).abs() < 1e-9,
        "{g:?} vs {re} {im}"
    );
}

/// Through G.711 mu-law and back, as a telephone call carries it.
fn ulaw(x: &[f32]) -> Vec<f32> {
    use crate::audio::g711::{f32_to_i16, linear_to_ulaw, ulaw_to_linear};
    x.iter()
        .map(|&v| f32::from(ulaw_to_linear(linear_to_ulaw(f32_to_i16(v)))) / 32768.0)
        .collect()
}

#[test]
fn every_key_at_every_rate_is_found_once_with_its_tone_covered() {
    let all = "123A456B789C*0#D";
    for rate in [8_000, 16_000, 22_050, 44_100, 48_000] {
        let mut parts = vec![Part::Pause(100.0)];
        for k in all.chars() {
            parts.extend([key(k, 60.0), Part::Pause(60.0)]);
        }
        let (audio, spans) = synth(rate, &parts);
        let audio = if rate == 8_000 { ulaw(&audio) } else { audio };
        let tones = detect(rate, &audio);
        assert_eq!(keys(&tones), all, "at {rate} Hz");
        let block = (205.0 * f64::from(rate) / 8000.0).round() as u64;
        for (t, s) in tones.iter().zip(&spans) {
            assert!(
                t.span.start <= s.start && t.span.end >= s.end,
                "{t:?} covers {s:?}"
            );
            assert!(s.start - t.span.start <= 2 * block && t.span.end - s.end <= 3 * block);
        }
    }
}

#[test]
fn chunks_of_any_size_give_the_same_presses() {
    let (audio, _) = synth(
        8_000,
        &[
            Part::Pause(30.0),
            key('7', 45.0),
            Part::Pause(40.0),
            key('#', 80.0),
            Part::Pause(50.0),
        ],
    );
    let whole = detect(8_000, &audio);
    assert_eq!(keys(&whole), "7#");
    for size in [1, 7, 51, 160, 999] {
        let mut d = ToneDetector::new(8_000, 0);
        let mut got = Vec::new();
        for chunk in audio.chunks(size) {
            got.extend(d.push(chunk));
        }
        got.extend(d.finish());
        assert_eq!(got, whole, "chunks of {size}");
    }
}

#[test]
fn spans_are_on_the_clock_the_detector_started_at() {
    let (audio, _) = synth(
        8_000,
        &[Part::Pause(50.0), key('5', 60.0), Part::Pause(60.0)],
    );
    let at_zero = detect(8_000, &audio);
    let mut d = ToneDetector::new(8_000, 1_000_000);
    let mut later = d.push(&audio);
    later.extend(d.finish());
    assert_eq!(later.len(), 1);
    assert_eq!(later[0].span.start, at_zero[0].span.start + 1_000_000);
}

#[test]
fn fast_keying_at_the_limits_keeps_every_press_repeats_included() {
    // 40 ms tones, 40 ms pauses: 12.5 presses a second, a key twice in a row included.
    let digits = "4539148803436467#123";
    let mut parts = vec![Part::Pause(50.0)];
    for k in digits.chars() {
        parts.extend([key(k, 40.0), Part::Pause(40.0)]);
    }
    let (audio, _) = synth(8_000, &parts);
    assert_eq!(keys(&detect(8_000, &ulaw(&audio))), digits);
}

#[test]
fn a_short_dropout_is_one_press_and_a_pause_is_two() {
    let dropout = [
        key('9', 60.0),
        Part::Pause(10.0),
        key('9', 60.0),
        Part::Pause(60.0),
    ];
    let (audio, _) = synth(8_000, &dropout);
    assert_eq!(keys(&detect(8_000, &audio)), "9");
    let pause = [
        key('9', 60.0),
        Part::Pause(40.0),
        key('9', 60.0),
        Part::Pause(60.0),
    ];
    let (audio, _) = synth(8_000, &pause);
    assert_eq!(keys(&detect(8_000, &audio)), "99");
}

#[test]
fn a_press_in_progress_is_pending_from_its_span_start() {
    let (audio, _) = synth(8_000, &[Part::Pause(50.0), key('1', 400.0)]);
    let mut d = ToneDetector::new(8_000, 0);
    assert!(d.push(&audio).is_empty(), "the key is still held");
    let since = d.pending_since().expect("a press is sounding");
    assert!(since <= 400, "{since}");
    let done = d.finish();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].span.start, since);
    assert_eq!(d.pending_since(), None);
}

/// A sum of sines (Hz, dBm0) for `ms` at 8 kHz, G.711-coded.
fn lines(parts: &[(f64, f64)], ms: f64) -> Vec<f32> {
    let n = samples(8_000, ms);
    let mut out = vec![0.0f32; 4_000];
    out.extend((0..n).map(|i| {
        let t = i as f64 / 8_000.0;
        parts
            .iter()
            .enumerate()
            .map(|(k, &(hz, dbm0))| DBM0_PEAK * db(dbm0) * (2.0 * PI * hz * t + k as f64).sin())
            .sum::<f64>() as f32
    }));
    out.resize(out.len() + 4_000, 0.0);
    ulaw(&out)
}

#[test]
fn other_tones_are_not_keys() {
    let cases: [(&str, Vec<(f64, f64)>); 6] = [
        ("one tone", vec![(697.0, -8.0)]),
        ("dial tone", vec![(350.0, -13.0), (440.0, -13.0)]),
        ("busy tone", vec![(480.0, -20.0), (620.0, -20.0)]),
        (
            "two rows and a column",
            vec![(697.0, -8.0), (852.0, -8.0), (1209.0, -8.0)],
        ),
        (
            "a key with its second harmonics",
            vec![
                (770.0, -8.0),
                (1336.0, -8.0),
                (1540.0, -18.0),
                (2672.0, -18.0),
            ],
        ),
        (
            "a key with a third line as strong",
            vec![(770.0, -8.0), (1336.0, -8.0), (1000.0, -12.0)],
        ),
    ];
    for (what, parts) in cases {
        assert!(detect(8_000, &lines(&parts, 300.0)).is_empty(), "{what}");
    }
    let key5 = lines(&[(770.0, -8.0), (1336.0, -8.0), (1000.0, -35.0)], 300.0);
    assert_eq!(
        keys(&detect(8_000, &key5)),
        "5",
        "a faint third line is noise"
    );
}

#[test]
fn a_key_under_a_voice_is_removed_but_not_read() {
    // A key with a voice's harmonics around it, 8 dB under the tones: not a clear press,
    // but a tone a lenient decoder would read, so it is reported to be removed.
    let mut parts = vec![(852.0, -8.0), (1477.0, -6.0)];
    parts.extend([1, 2, 3, 5, 6].map(|h| (205.0 * f64::from(h), -22.0)));
    let x = lines(&parts, 200.0);
    let tones = detect(8_000, &x);
    assert_eq!(tones.len(), 1, "{tones:?}");
    assert_eq!(tones[0].heard, Heard::UnderSound);
    assert_eq!(tones[0].key, '9');
}

#[test]
fn a_vowel_whose_harmonics_sit_on_a_key_is_not_one() {
    // Voiced speech at f0 = 192.5 Hz: its 4th and 7th harmonics are 770 and 1347.5 Hz (key
    // 5, column 0.9 % high), boosted by formants; the harmonics between are 6 dB weaker
    // and the pitch glides 1 % over the vowel, as a synthetic voice did that passed every
    // per-block check.
    let n = samples(8_000, 120.0);
    let mut audio = vec![0.0f32; 2_000];
    let mut phase = 0.0f64;
    for i in 0..n {
        let f0 = 192.5 * (1.0 - 0.01 * i as f64 / n as f64);
        phase += 2.0 * PI * f0 / 8_000.0;
        let v: f64 = [(4, -8.0), (7, -10.0), (5, -16.0), (6, -16.0), (3, -24.0)]
            .iter()
            .map(|&(h, dbm0)| DBM0_PEAK * db(dbm0) * (h as f64 * phase).sin())
            .sum();
        audio.push(v as f32);
    }
    audio.resize(audio.len() + 2_000, 0.0);
    assert!(detect(8_000, &ulaw(&audio)).is_empty());
}

#[test]
fn debug_output_hides_the_key() {
    let t = Tone {
        key: '7',
        span: Span::new(1, 2),
        heard: Heard::Clearly,
    };
    assert!(!format!("{t:?}").contains('7'));
}

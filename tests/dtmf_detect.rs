//! The keypad-tone detector on real files: an ITU-T Q.24 accept/reject table rendered at
//! several rates and coded by sox as G.711 mu-law and A-law, and a talk-off run over
//! every speech recording of the repository (as stored and as telephone audio), which
//! must not yield a single tone.

mod dtmf_support;

use std::path::{Path, PathBuf};

use dtmf_support::sox;
use hushline::audio::decode_file;
use hushline::audio::dtmf::{key_tone, Heard, Tone, ToneDetector, ToneSpec};

/// One row of the table: what is played and which keys a receiver must report.
struct Case {
    what: String,
    /// (key, tone, pause after in ms)
    play: Vec<(char, ToneSpec, f64)>,
    expect: String,
}

fn case(what: &str, key: char, spec: ToneSpec, accept: bool) -> Case {
    Case {
        what: what.to_string(),
        play: vec![(key, spec, 0.0)],
        expect: if accept {
            key.to_string()
        } else {
            String::new()
        },
    }
}

fn table() -> Vec<Case> {
    let nominal = ToneSpec::default();
    let levels = |row_dbm0: f64, col_dbm0: f64| ToneSpec {
        row_dbm0,
        col_dbm0,
        ..nominal
    };
    let mut cases = vec![
        case("loud, -3 dBm0 each", '5', levels(-3.0, -3.0), true),
        case("weakest, -40 dBm0 each", '5', levels(-40.0, -40.0), true),
        case("too weak, -45 dBm0 each", '5', levels(-45.0, -45.0), false),
        case("one tone too weak", '5', levels(-45.0, -20.0), false),
        case("normal twist 8 dB", '8', levels(-4.0, -12.0), true),
        case("normal twist 10 dB", '8', levels(-4.0, -14.0), false),
        case("reverse twist 4 dB", '8', levels(-10.0, -6.0), true),
        case("reverse twist 6 dB", '8', levels(-12.0, -6.0), false),
        case(
            "40 ms tone",
            '0',
            ToneSpec {
                ms: 40.0,
                ..nominal
            },
            true,
        ),
        case(
            "20 ms tone",
            '0',
            ToneSpec {
                ms: 20.0,
                ..nominal
            },
            false,
        ),
        Case {
            what: "40 ms pause between presses".into(),
            play: vec![('9', nominal, 40.0), ('9', nominal, 0.0)],
            expect: "99".into(),
        },
        Case {
            what: "10 ms dropout inside a press".into(),
            play: vec![('9', nominal, 10.0), ('9', nominal, 0.0)],
            expect: "9".into(),
        },
        Case {
            what: "fastest keying, 40 ms on, 40 ms off, every key".into(),
            play: "1234567890*#ABCD1"
                .chars()
                .map(|k| {
                    (
                        k,
                        ToneSpec {
                            ms: 40.0,
                            ..nominal
                        },
                        40.0,
                    )
                })
                .collect(),
            expect: "1234567890*#ABCD1".into(),
        },
    ];
    // Every frequency off by 1.5 % (accepted) and by 3.5 % (rejected), both ways: the
    // rows through the first column's keys, the columns through the first row's.
    for (tone, keys) in [("row", "147*"), ("column", "123A")] {
        for k in keys.chars() {
            for (dev, accept) in [
                (0.015, true),
                (-0.015, true),
                (0.035, false),
                (-0.035, false),
            ] {
                let spec = if tone == "row" {
                    ToneSpec {
                        row_dev: dev,
                        ..nominal
                    }
                } else {
                    ToneSpec {
                        col_dev: dev,
                        ..nominal
                    }
                };
                let what = format!("{tone} of {k} off by {:+.1} %", dev * 100.0);
                cases.push(case(&what, k, spec, accept));
            }
        }
    }
    cases
}

/// Renders the table at `rate`, each case between stretches of silence; returns the
/// audio and each case's span in seconds.
fn render(cases: &[Case], rate: u32) -> (Vec<f32>, Vec<(f64, f64)>) {
    let gap = vec![0.0f32; rate as usize / 4];
    let mut audio = gap.clone();
    let mut spans = Vec::new();
    for c in cases {
        let start = audio.len() as f64 / f64::from(rate);
        for (k, spec, pause_ms) in &c.play {
            audio.extend(key_tone(rate, *k, spec));
            audio.resize(
                audio.len() + (f64::from(rate) * pause_ms / 1000.0) as usize,
                0.0,
            );
        }
        spans.push((start, audio.len() as f64 / f64::from(rate)));
        audio.extend(&gap);
    }
    (audio, spans)
}

fn detect_file(path: &Path) -> (u32, Vec<Vec<Tone>>) {
    let (info, channels) = decode_file(path).unwrap();
    let tones = channels
        .iter()
        .map(|samples| {
            let mut d = ToneDetector::new(info.rate, 0);
            let mut tones = d.push(samples);
            tones.extend(d.finish());
            tones
        })
        .collect();
    (info.rate, tones)
}

#[test]
fn q24_table_holds_at_every_rate_and_through_g711() {
    let cases = table();
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for (rate, coding) in [
        (8_000, Some("mu-law")),
        (8_000, Some("a-law")),
        (16_000, None),
        (48_000, None),
    ] {
        let (audio, spans) = render(&cases, rate);
        let linear = dir.path().join(format!("table{rate}.wav"));
        dtmf_support::write_wav(&linear, rate, &[audio]);
        let file = match coding {
            Some(e) => {
                let coded = dir.path().join(format!("table-{e}.wav"));
                sox(&[
                    linear.to_str().unwrap(),
                    "-e",
                    e,
                    "-b",
                    "8",
                    coded.to_str().unwrap(),
                ]);
                coded
            }
            None => linear,
        };
        let (rate, tones) = detect_file(&file);
        // Nothing else sounds: every tone found is a clear press.
        assert!(
            tones[0].iter().all(|t| t.heard == Heard::Clearly),
            "{:?}",
            tones[0]
        );
        for (c, &(start, end)) in cases.iter().zip(&spans) {
            let got: String = tones[0]
                .iter()
                .filter(|t| {
                    let mid = (t.span.start + t.span.end) as f64 / 2.0 / f64::from(rate);
                    mid >= start && mid < end
                })
                .map(|t| t.key)
                .collect();
            if got != c.expect {
                failures.push(format!(
                    "{} Hz {}: {}: expected {:?}, got {:?}",
                    rate,
                    coding.unwrap_or("linear"),
                    c.what,
                    c.expect,
                    got
                ));
            }
        }
        let placed: usize = cases.iter().map(|c| c.expect.len()).sum();
        assert_eq!(
            tones[0].len(),
            placed,
            "no press outside the cases at {rate} Hz"
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every recording of speech in the repository: the sample calls and the tests' calls.
fn speech_files() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["samples", "tests/data", "tests/sipp"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            if ["wav", "mp3"].contains(&ext) {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn no_speech_recording_holds_a_tone() {
    let dir = tempfile::tempdir().unwrap();
    let files = speech_files();
    assert!(files.len() >= 10, "{files:?}");
    let mut seconds = 0.0;
    for path in files {
        // As stored, and as a telephone line would carry it.
        let phone = dir.path().join("phone.wav");
        sox(&[
            path.to_str().unwrap(),
            "-r",
            "8000",
            "-e",
            "mu-law",
            "-b",
            "8",
            phone.to_str().unwrap(),
            "sinc",
            "300-3400",
        ]);
        for file in [path.as_path(), phone.as_path()] {
            let (rate, tones) = detect_file(file);
            let (info, _) = decode_file(file).unwrap();
            seconds += info.frames.unwrap_or(0) as f64 / f64::from(rate) * tones.len() as f64;
            for (c, t) in tones.iter().enumerate() {
                assert!(
                    t.is_empty(),
                    "{} channel {c}: talk-off at {:?}",
                    path.display(),
                    t.iter().map(|t| t.span).collect::<Vec<_>>()
                );
            }
        }
    }
    assert!(seconds > 300.0, "only {seconds:.0} s of speech checked");
}

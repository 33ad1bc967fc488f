//! Keypad-tone test calls and the real tools around them: speech from espeak-ng, G.711
//! coding and resampling by sox, and multimon-ng as the independent DTMF decoder.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Stdio};

use hushline::audio::dtmf::{key_tone, ToneSpec};

/// The card keyed in the test calls (passes Luhn), then `#`, then the security code.
pub const CARD: &str = "4539148803436467";
pub const CODE: &str = "294";

/// How each card digit is keyed, in turn: at Q.24's limits (weakest level, normal and
/// reverse twist, 1.5 % off on either tone) slowly, then the same again at the fastest
/// keying (40 ms tones, 40 ms pauses). Returns the tone and the pause after it.
pub fn limit_tone(i: usize) -> (ToneSpec, f64) {
    let base = ToneSpec::default();
    let spec = match i % 8 {
        0 => base,
        1 => ToneSpec {
            row_dbm0: -40.0,
            col_dbm0: -40.0,
            ..base
        },
        2 => ToneSpec {
            row_dbm0: -4.0,
            col_dbm0: -12.0,
            ..base
        },
        3 => ToneSpec {
            row_dbm0: -10.0,
            col_dbm0: -6.0,
            ..base
        },
        4 => ToneSpec {
            row_dev: 0.015,
            ..base
        },
        5 => ToneSpec {
            row_dev: -0.015,
            ..base
        },
        6 => ToneSpec {
            col_dev: 0.015,
            ..base
        },
        _ => ToneSpec {
            row_dev: 0.015,
            col_dev: -0.015,
            ..base
        },
    };
    if i < 8 {
        (ToneSpec { ms: 90.0, ..spec }, 0.15)
    } else {
        (ToneSpec { ms: 40.0, ..spec }, 0.04)
    }
}

/// A call being put together, channel by channel, at one rate.
pub struct Call {
    pub rate: u32,
    pub channels: Vec<Vec<f32>>,
    /// The same call without its tones (silence where they were): what a decoder reads
    /// from it comes from the speech alone.
    pub speech_only: Vec<Vec<f32>>,
    /// Every key pressed: (channel, key, start and end in seconds).
    pub presses: Vec<(usize, char, f64, f64)>,
}

impl Call {
    pub fn new(rate: u32, channels: usize) -> Self {
        Call {
            rate,
            channels: vec![Vec::new(); channels],
            speech_only: vec![Vec::new(); channels],
            presses: Vec::new(),
        }
    }

    /// Seconds so far (the longest channel).
    pub fn now(&self) -> f64 {
        self.channels.iter().map(Vec::len).max().unwrap_or(0) as f64 / f64::from(self.rate)
    }

    /// Every channel padded with silence to the same length.
    pub fn align(&mut self) {
        let n = self.channels.iter().map(Vec::len).max().unwrap_or(0);
        for c in self.channels.iter_mut().chain(&mut self.speech_only) {
            c.resize(n, 0.0);
        }
    }

    pub fn pause(&mut self, channel: usize, seconds: f64) {
        let n = (seconds * f64::from(self.rate)).round() as usize;
        for c in [&mut self.channels[channel], &mut self.speech_only[channel]] {
            c.resize(c.len() + n, 0.0);
        }
    }

    /// `text` spoken by espeak-ng on `channel`, the other channels silent meanwhile.
    pub fn say(&mut self, channel: usize, voice: &str, text: &str) {
        self.align();
        let speech = speak(voice, text, self.rate);
        self.channels[channel].extend(&speech);
        self.speech_only[channel].extend(&speech);
        self.align();
    }

    /// The keys of `keys` on `channel`, each rendered by `how(i)` (tone, pause after).
    pub fn key(&mut self, channel: usize, keys: &str, how: impl Fn(usize) -> (ToneSpec, f64)) {
        self.align();
        for (i, k) in keys.chars().enumerate() {
            let (spec, pause) = how(i);
            let tone = key_tone(self.rate, k, &spec);
            let silent = &mut self.speech_only[channel];
            silent.resize(silent.len() + tone.len(), 0.0);
            let start = self.channels[channel].len() as f64 / f64::from(self.rate);
            self.channels[channel].extend(tone);
            let end = self.channels[channel].len() as f64 / f64::from(self.rate);
            self.presses.push((channel, k, start, end));
            self.pause(channel, pause);
        }
        self.align();
    }

    /// `text` spoken on `channel` while `keys` are pressed on `keys_on` as `spec` renders
    /// them: each where the voice is loudest, at least `apart` seconds from the others.
    pub fn say_over_keys(
        &mut self,
        (channel, voice, text): (usize, &str, &str),
        (keys_on, keys, spec): (usize, &str, ToneSpec),
        apart: f64,
    ) {
        self.align();
        let at = self.channels[keys_on].len();
        let speech = speak(voice, text, self.rate);
        let len = key_tone(self.rate, '0', &spec).len();
        let step = self.rate as usize / 100;
        let mut loud: Vec<(f32, usize)> = (0..speech.len().saturating_sub(len))
            .step_by(step)
            .map(|i| (speech[i..i + len].iter().map(|v| v * v).sum::<f32>(), i))
            .collect();
        loud.sort_by(|a, b| b.0.total_cmp(&a.0));
        let gap = (apart * f64::from(self.rate)) as usize;
        let mut starts: Vec<usize> = Vec::new();
        for (_, i) in loud {
            if starts.len() < keys.chars().count() && starts.iter().all(|&s| s.abs_diff(i) >= gap) {
                starts.push(i);
            }
        }
        starts.sort_unstable();
        self.channels[channel].extend(&speech);
        self.speech_only[channel].extend(&speech);
        self.align();
        let seconds = |n: usize| n as f64 / f64::from(self.rate);
        for (k, start) in keys.chars().zip(starts) {
            let tone = key_tone(self.rate, k, &spec);
            for (j, v) in tone.iter().enumerate() {
                self.channels[keys_on][at + start + j] += v;
            }
            let start = at + start;
            self.presses
                .push((keys_on, k, seconds(start), seconds(start + tone.len())));
        }
    }

    /// The card, `#` and the code, keyed at Q.24's limits, with pauses as a caller
    /// leaves them.
    pub fn key_card_and_code(&mut self, channel: usize) {
        self.key(channel, CARD, limit_tone);
        self.pause(channel, 0.6);
        self.key(channel, "#", |_| (ToneSpec::default(), 0.8));
        self.key(channel, CODE, |_| (ToneSpec::default(), 0.12));
        self.pause(channel, 0.5);
    }

    /// Writes 16-bit PCM, then lets sox re-code it when `encoding` is given (e.g.
    /// `mu-law`, `a-law`: 8-bit G.711 in WAV).
    pub fn write(&self, path: &Path, encoding: Option<&str>) {
        write_coded(path, self.rate, &self.channels, encoding);
    }

    /// [`Call::write`] for the call without its tones.
    pub fn write_speech_only(&self, path: &Path, encoding: Option<&str>) {
        write_coded(path, self.rate, &self.speech_only, encoding);
    }
}

fn write_coded(path: &Path, rate: u32, channels: &[Vec<f32>], encoding: Option<&str>) {
    let linear = path.with_extension("linear.wav");
    write_wav(&linear, rate, channels);
    match encoding {
        None => std::fs::rename(&linear, path).unwrap(),
        Some(e) => {
            sox(&[
                linear.to_str().unwrap(),
                "-e",
                e,
                "-b",
                "8",
                path.to_str().unwrap(),
            ]);
            std::fs::remove_file(&linear).unwrap();
        }
    }
}

pub fn write_wav(path: &Path, rate: u32, channels: &[Vec<f32>]) {
    let spec = hound::WavSpec {
        channels: channels.len() as u16,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..channels[0].len() {
        for c in channels {
            w.write_sample(hushline::audio::g711::f32_to_i16(c[i]))
                .unwrap();
        }
    }
    w.finalize().unwrap();
}

/// Runs sox with `args`, failing the test on any error.
pub fn sox(args: &[&str]) {
    let out = Command::new("sox")
        .args(args)
        .output()
        .expect("sox is installed by scripts/install-deps.sh");
    assert!(
        out.status.success(),
        "sox {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `text` by espeak-ng at `rate`, about -20 dBFS, as telephone speech is.
pub fn speak(voice: &str, text: &str, rate: u32) -> Vec<f32> {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("speech.wav");
    let status = Command::new("espeak-ng")
        .args(["-v", voice, "-s", "150", "-w"])
        .arg(&raw)
        .arg(text)
        .stderr(Stdio::null())
        .status()
        .expect("espeak-ng is installed by scripts/install-deps.sh");
    assert!(status.success(), "espeak-ng failed");
    let out = dir.path().join("speech8.wav");
    let rate_s = rate.to_string();
    sox(&[
        raw.to_str().unwrap(),
        "-r",
        &rate_s,
        "-b",
        "16",
        out.to_str().unwrap(),
        "norm",
        "-14",
    ]);
    let mut reader = hound::WavReader::open(&out).unwrap();
    reader
        .samples::<i16>()
        .map(|s| f32::from(s.unwrap()) / 32768.0)
        .collect()
}

/// What multimon-ng, an independent DTMF decoder, reads from channel `channel` of the
/// audio file `path` (resampled by sox to the 22050 Hz it expects).
pub fn multimon(path: &Path, channel: usize) -> String {
    let remix = (channel + 1).to_string();
    let mut sox = Command::new("sox")
        .arg(path)
        .args([
            "-t", "raw", "-r", "22050", "-e", "signed", "-b", "16", "-c", "1", "-",
        ])
        .args(["remix", &remix])
        .stdout(Stdio::piped())
        .spawn()
        .expect("sox");
    let out = Command::new("multimon-ng")
        .args(["-q", "-a", "DTMF", "-t", "raw", "-"])
        .stdin(sox.stdout.take().expect("sox output"))
        .output()
        .expect("multimon-ng is installed by scripts/install-deps.sh");
    assert!(
        sox.wait().unwrap().success(),
        "sox failed on {}",
        path.display()
    );
    assert!(out.status.success(), "multimon-ng failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("DTMF: "))
        .collect()
}

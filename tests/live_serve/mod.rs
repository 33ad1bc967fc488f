//! Shared helpers for tests that drive the `hushline serve` binary with the real model:
//! starting and stopping it (with extra flags), reading its feed, reading a call's outputs
//! back in memory, and checking that a card was bleeped and never reached the text.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use hushline::eval::{digit_runs, leaks_in_text, load_truth};
use hushline::store::{self, TranscriptDoc};
use serde_json::Value;

use crate::live_common::sipp_dir;

pub const CARD: &str = "4539972281866204";
pub const KEYED: &str = "4539148803436467";

/// The card call of samples/card_digits.wav, which the card pcaps carry.
pub fn card_item() -> (f64, f64) {
    let truth = load_truth(&root().join("samples/card_digits.truth.json")).unwrap();
    let item = &truth.items[0];
    assert_eq!(item.digits, CARD);
    (item.start, item.end)
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub struct Serve {
    child: Child,
    dir: tempfile::TempDir,
    lines: mpsc::Receiver<String>,
    pub feed: Vec<Value>,
    sip: u16,
}

impl Serve {
    pub fn start(sip: u16, rtp: (u16, u16)) -> Serve {
        Serve::start_with(sip, rtp, &[])
    }

    /// A server with a fresh key and these extra `serve` flags.
    pub fn start_with(sip: u16, rtp: (u16, u16), extra: &[String]) -> Serve {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("master.key");
        let status = Command::new(env!("CARGO_BIN_EXE_hushline"))
            .args(["keygen", "--out"])
            .arg(&key)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        Serve::start_in_with(dir, sip, rtp, extra)
    }

    /// Starts a server on an existing folder (its key and outputs).
    pub fn start_in(dir: tempfile::TempDir, sip: u16, rtp: (u16, u16)) -> Serve {
        Serve::start_in_with(dir, sip, rtp, &[])
    }

    fn start_in_with(dir: tempfile::TempDir, sip: u16, rtp: (u16, u16), extra: &[String]) -> Serve {
        let key = dir.path().join("master.key");
        let mut child = Command::new(env!("CARGO_BIN_EXE_hushline"))
            .current_dir(root())
            .args(["serve", "--sip", &format!("127.0.0.1:{sip}")])
            .arg("--out")
            .arg(dir.path().join("out"))
            .args(["--rtp-ports", &format!("{}-{}", rtp.0, rtp.1)])
            .arg("--key-file")
            .arg(&key)
            .args(["--inactivity", "10"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start hushline serve");
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let feed_tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = feed_tx.send(line);
            }
        });
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("listening for SIP") {
                    let _ = tx.send("#listening".into());
                }
                eprintln!("serve: {line}");
            }
        });
        let s = Serve {
            child,
            dir,
            lines,
            feed: Vec::new(),
            sip,
        };
        let line = s
            .lines
            .recv_timeout(Duration::from_secs(120))
            .expect("serve did not start");
        assert_eq!(line, "#listening");
        s
    }

    pub fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    /// Reads the feed until `calls` calls have ended; returns their `call_ended` lines.
    pub fn ended(&mut self, calls: usize, limit: Duration) -> Vec<Value> {
        let deadline = Instant::now() + limit;
        loop {
            let ended: Vec<Value> = self
                .feed
                .iter()
                .filter(|l| l["event"] == "call_ended")
                .cloned()
                .collect();
            if ended.len() >= calls {
                return ended;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("{} of {calls} calls ended", ended.len()));
            let v: Value = serde_json::from_str(&line).expect("feed lines are JSON");
            self.feed.push(v);
        }
    }

    /// SIGTERM, then the process must finish its calls and exit 0.
    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "serve exited with {status}");
                return;
            }
            assert!(Instant::now() < deadline, "serve did not stop");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn keyring(&self) -> store::Keyring {
        store::load_keyring(&self.dir.path().join("master.key")).unwrap()
    }

    /// Kills the server as a crash would (SIGKILL) and hands back its folder.
    pub fn crash(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let empty = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.dir, empty)
    }

    /// SIPp placing `calls` calls of `scenario` from tests/sipp; `base` and the next two
    /// ports are its SIP, control and media ports.
    pub fn sipp_command(&self, scenario: &str, calls: u32, base: u16) -> Command {
        self.sipp_command_at(&sipp_dir(), self.sip, scenario, calls, base)
    }

    /// SIPp calling `port` on loopback (a proxy in front of this server).
    pub fn sipp_command_to(&self, port: u16, scenario: &str, calls: u32, base: u16) -> Command {
        self.sipp_command_at(&sipp_dir(), port, scenario, calls, base)
    }

    /// SIPp running a scenario (and the pcaps it plays) from `dir` against `port`.
    fn sipp_command_at(
        &self,
        dir: &Path,
        port: u16,
        scenario: &str,
        calls: u32,
        base: u16,
    ) -> Command {
        let mut cmd = Command::new("sipp");
        cmd.current_dir(dir)
            .arg(format!("127.0.0.1:{port}"))
            .args(["-sf", scenario, "-m", &calls.to_string()])
            .args(["-l", &calls.to_string(), "-r", "10", "-i", "127.0.0.1"])
            .args(["-p", &base.to_string(), "-cp", &(base + 1).to_string()])
            .args(["-mp", &(base + 2).to_string()])
            .args(["-nostdin", "-timeout", "90s", "-timeout_error"])
            .stdin(Stdio::null());
        cmd
    }

    /// Runs SIPp in the background; joining fails the test if any call failed.
    pub fn sipp(&self, scenario: &str, calls: u32, base: u16) -> std::thread::JoinHandle<()> {
        self.sipp_to(self.sip, scenario, calls, base)
    }

    /// [`Serve::sipp`] calling `port` (a proxy in front of this server).
    pub fn sipp_to(
        &self,
        port: u16,
        scenario: &str,
        calls: u32,
        base: u16,
    ) -> std::thread::JoinHandle<()> {
        run_sipp(self.sipp_command_to(port, scenario, calls, base), scenario)
    }

    /// [`Serve::sipp`] for a scenario in `dir`.
    pub fn sipp_in(
        &self,
        dir: &Path,
        scenario: &str,
        calls: u32,
        base: u16,
    ) -> std::thread::JoinHandle<()> {
        run_sipp(
            self.sipp_command_at(dir, self.sip, scenario, calls, base),
            scenario,
        )
    }
}

fn run_sipp(mut cmd: Command, scenario: &str) -> std::thread::JoinHandle<()> {
    let scenario = scenario.to_string();
    std::thread::spawn(move || {
        let out = cmd.output().expect("run sipp");
        assert!(
            out.status.success(),
            "sipp {scenario} failed:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
    })
}

impl Drop for Serve {
    /// A failed test must not leave its server holding the ports.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One call's outputs, read back the way an authorised listener would (in memory).
pub struct Outputs {
    pub doc: TranscriptDoc,
    /// The recording's channels, as samples in [-1, 1].
    pub channels: Vec<Vec<f32>>,
    pub rate: u32,
}

pub fn outputs(serve: &Serve, ended: &Value) -> Outputs {
    assert!(ended["error"].is_null(), "{ended}");
    let out = serve.out();
    let transcript = out.join(ended["transcript"].as_str().expect("transcript written"));
    let recording = out.join(ended["recording"].as_str().expect("recording written"));
    let doc: TranscriptDoc =
        serde_json::from_slice(&std::fs::read(transcript).unwrap()).expect("transcript JSON");
    let wav = store::decrypt_to_vec(&recording, &serve.keyring()).expect("recording decrypts");
    let mut reader = hound::WavReader::new(std::io::Cursor::new(&wav[..])).unwrap();
    let spec = reader.spec();
    let n = spec.channels as usize;
    let mut channels = vec![Vec::new(); n];
    for (i, s) in reader.samples::<i16>().enumerate() {
        channels[i % n].push(f32::from(s.unwrap()) / 32768.0);
    }
    Outputs {
        doc,
        channels,
        rate: spec.sample_rate,
    }
}

/// Share of the energy of `x` in a 1 kHz tone (the bleep); 80 samples at 8 kHz hold
/// exactly ten cycles.
pub fn tone_share(x: &[f32], rate: u32, first: usize) -> f64 {
    let (mut re, mut im, mut energy) = (0.0f64, 0.0f64, 0.0f64);
    for (k, &v) in x.iter().enumerate() {
        let phase = 2.0 * std::f64::consts::PI * 1000.0 * (first + k) as f64 / f64::from(rate);
        re += f64::from(v) * phase.cos();
        im += f64::from(v) * phase.sin();
        energy += f64::from(v) * f64::from(v);
    }
    if energy == 0.0 {
        return 0.0;
    }
    (re * re + im * im) * 2.0 / x.len() as f64 / energy
}

/// Every 10 ms of channel `c` within `[start, end]` seconds of the stream (placed by its
/// start in the recording) is bleeped; with `original` (the stream as sent), only the
/// frames that held sound there count (a pause between digit groups carries nothing).
pub fn assert_bleeped(
    o: &Outputs,
    c: usize,
    start: f64,
    end: f64,
    original: Option<&[f32]>,
    what: &str,
) {
    let live = o.doc.metadata.live.as_ref().expect("live metadata");
    let offset = live.streams[c].start_s;
    let rate = f64::from(o.rate);
    let frame = (o.rate / 100) as usize;
    let x = &o.channels[c];
    let base = (offset * rate).round() as usize;
    let from = base + ((start * rate) as usize).div_ceil(frame) * frame;
    let to = (base + (end * rate) as usize).min(x.len());
    assert!(from + frame <= to, "{what}: nothing to check");
    let mut audible = Vec::new();
    let mut i = from;
    while i + frame <= to {
        let sounded = original.is_none_or(|orig| {
            let f = &orig[(i - base).min(orig.len())..(i - base + frame).min(orig.len())];
            f.iter().map(|v| v * v).sum::<f32>() / frame as f32 > 1e-5
        });
        if sounded && tone_share(&x[i..i + frame], o.rate, i) < 0.9 {
            audible.push(i as f64 / rate);
        }
        i += frame;
    }
    assert!(
        audible.is_empty(),
        "{what}: audible at {:?} s of the recording (stream starts at {offset} s); redactions {:?}; masked text: {}",
        audible.iter().take(10).collect::<Vec<_>>(),
        o.doc.redactions,
        o.doc.text
    );
}

/// The audio of a card pcap as the server decodes it.
pub fn pcap_audio(name: &str) -> Vec<f32> {
    let law: fn(u8) -> i16 = if name.contains("pcma") {
        hushline::audio::g711::alaw_to_linear
    } else {
        hushline::audio::g711::ulaw_to_linear
    };
    pcap_rtp(&sipp_dir().join(name))
        .iter()
        .flat_map(|p| p[12..].iter().map(move |&b| f32::from(law(b)) / 32768.0))
        .collect()
}

pub fn assert_no_digits_of(text: &str, digits: &str, what: &str) {
    assert!(
        !leaks_in_text(digits, &digit_runs(text)),
        "{what} shows digits of the item"
    );
}

/// The transcript, its words and the feed lines of the call show no 4 digits of `digits`.
pub fn assert_text_clean(serve: &Serve, o: &Outputs, call: &str, digits: &str) {
    assert_no_digits_of(&o.doc.text, digits, "transcript text");
    for seg in &o.doc.segments {
        assert_no_digits_of(&seg.text, digits, "a transcript segment");
    }
    let feed: Vec<&str> = serve
        .feed
        .iter()
        .filter(|l| l["call"] == call && l["event"] == "line")
        .filter_map(|l| l["text"].as_str())
        .collect();
    assert_no_digits_of(&feed.join(" "), digits, "the live feed");
}

pub fn redacted_near(o: &Outputs, channel: u16, start: f64, end: f64) -> bool {
    let offset = o.doc.metadata.live.as_ref().unwrap().streams[usize::from(channel)].start_s;
    o.doc.redactions.iter().any(|r| {
        r.channel == channel && r.start < end + offset + 0.5 && r.end > start + offset - 0.5
    })
}

/// The checks every one-stream card call ends with (the card_digits call, as the card
/// pcaps carry it, in `codec`): one 8 kHz channel holding the whole call, ended by BYE,
/// the card bleeped wherever it sounded, no digit of it in the transcript or the feed,
/// the innocent speech transcribed.
pub fn assert_card_call_redacted(serve: &Serve, ended: &Value, codec: &str) -> Outputs {
    let o = outputs(serve, ended);
    let call = ended["call"].as_str().unwrap().to_string();
    let (start, end) = card_item();
    assert_eq!(o.rate, 8000);
    assert_eq!(o.channels.len(), 1);
    let live = o.doc.metadata.live.as_ref().unwrap();
    assert_eq!(live.streams[0].codec, codec);
    assert_eq!(live.end_reason, "bye");
    assert!(
        o.doc.metadata.duration_s > end,
        "recording holds the whole call"
    );
    let pcap = if codec == "PCMA" {
        "card_pcma.pcap"
    } else {
        "card_pcmu.pcap"
    };
    assert_bleeped(&o, 0, start, end, Some(&pcap_audio(pcap)), "the card");
    assert!(redacted_near(&o, 0, start, end), "{:?}", o.doc.redactions);
    assert_text_clean(serve, &o, &call, CARD);
    assert!(
        o.doc.text.to_lowercase().contains("thank you for calling"),
        "the innocent speech is transcribed: {}",
        o.doc.text
    );
    o
}

/// The RTP packets of a pcap written by make_pcaps.py (fixed 42-byte link/IP/UDP header).
pub fn pcap_rtp(path: &Path) -> Vec<Vec<u8>> {
    let data = std::fs::read(path).unwrap();
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= data.len() {
        let len = u32::from_le_bytes(data[at + 8..at + 12].try_into().unwrap()) as usize;
        let frame = &data[at + 16..at + 16 + len];
        out.push(frame[42..].to_vec());
        at += 16 + len;
    }
    out
}

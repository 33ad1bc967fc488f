//! `hushline serve` as the live tests run it: the binary on loopback with a fresh key,
//! its feed read as it comes, SIPp runs against it, and each call's outputs read back
//! the way an authorised listener would (in memory).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use hushline::store::{self, TranscriptDoc};
use serde_json::Value;

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
        Serve::start_in(dir, sip, rtp)
    }

    /// Starts a server on an existing folder (its key and outputs).
    pub fn start_in(dir: tempfile::TempDir, sip: u16, rtp: (u16, u16)) -> Serve {
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
        self.sipp_command_in(&root().join("tests/sipp"), scenario, calls, base)
    }

    /// [`Serve::sipp_command`] for a scenario (and the pcaps it plays) in `dir`.
    pub fn sipp_command_in(&self, dir: &Path, scenario: &str, calls: u32, base: u16) -> Command {
        let mut cmd = Command::new("sipp");
        cmd.current_dir(dir)
            .arg(format!("127.0.0.1:{}", self.sip))
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
        self.run_sipp(self.sipp_command(scenario, calls, base), scenario)
    }

    /// [`Serve::sipp`] for a scenario in `dir`.
    pub fn sipp_in(
        &self,
        dir: &Path,
        scenario: &str,
        calls: u32,
        base: u16,
    ) -> std::thread::JoinHandle<()> {
        self.run_sipp(self.sipp_command_in(dir, scenario, calls, base), scenario)
    }

    fn run_sipp(&self, mut cmd: Command, scenario: &str) -> std::thread::JoinHandle<()> {
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

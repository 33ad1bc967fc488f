//! The live recorder pool, with real peers on loopback: SIPp → Kamailio (the dispatcher,
//! with deploy/kamailio/kamailio.cfg) → two `hushline serve` processes, each with its own
//! output folder. One recorder is killed (SIGKILL) in the middle of a call; new calls
//! must all reach the other; restarted on the same folder, the killed one recovers its
//! unfinished call. Needs root (SIPp's RTP playback) and kamailio; skips otherwise.

mod live_common;
mod scale_common;

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use scale_common::{free_port, key_file, model_ready, root, tool};

/// A `hushline serve` process, its stdout feed lines and stderr log lines.
struct Recorder {
    child: Child,
    port: u16,
    feed: Arc<Mutex<Vec<serde_json::Value>>>,
    log: mpsc::Receiver<String>,
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_recorder(port: u16, rtp: &str, out: &Path, key: &Path) -> Recorder {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hushline"))
        .current_dir(root())
        .env("HUSHLINE_LOG", "warn,hushline=info")
        .args([
            "serve",
            "--sip",
            &format!("127.0.0.1:{port}"),
            "--rtp-ports",
            rtp,
        ])
        .arg("--out")
        .arg(out)
        .arg("--key-file")
        .arg(key)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start hushline serve");
    let feed = Arc::new(Mutex::new(Vec::new()));
    let stdout = child.stdout.take().unwrap();
    let lines = feed.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str(&line) {
                lines.lock().unwrap().push(v);
            }
        }
    });
    let (log_tx, log) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("serve :{port}: {line}");
            let _ = log_tx.send(line);
        }
    });
    let r = Recorder {
        child,
        port,
        feed,
        log,
    };
    r.wait_log("listening for SIP", Duration::from_secs(60));
    r
}

impl Recorder {
    fn wait_log(&self, text: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let line = self
                .log
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .unwrap_or_else(|_| panic!("serve :{} never logged {text:?}", self.port));
            if line.contains(text) {
                return line;
            }
        }
    }

    /// Feed events of `kind` so far, waiting up to `limit` for at least `count`.
    fn events(&self, kind: &str, count: usize, limit: Duration) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + limit;
        loop {
            let seen: Vec<serde_json::Value> = self
                .feed
                .lock()
                .unwrap()
                .iter()
                .filter(|e| e["event"] == kind)
                .cloned()
                .collect();
            if seen.len() >= count || Instant::now() > deadline {
                return seen;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Kamailio in its own process group: it forks workers, and all of them must go.
struct Kamailio(Child);

impl Drop for Kamailio {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.0.wait();
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
    }
}

fn start_kamailio(bin: &Path, dir: &Path, port: u16, recorders: &[u16]) -> Kamailio {
    let list = dir.join("dispatcher.list");
    let lines: String = recorders
        .iter()
        .map(|p| format!("1 sip:127.0.0.1:{p} 0 0\n"))
        .collect();
    std::fs::write(&list, lines).unwrap();
    let child = Command::new(bin)
        .process_group(0)
        .args(["-DD", "-E", "-f"])
        .arg(root().join("deploy/kamailio/kamailio.cfg"))
        .args(["-A", &format!("LISTEN=udp:127.0.0.1:{port}")])
        .args(["-A", &format!("DS_LIST=\"{}\"", list.display())])
        .args(["-A", "DS_PING=1", "-A", "INVITE_TIMEOUT_MS=1500"])
        .arg("-Y")
        .arg(dir)
        .arg("-P")
        .arg(dir.join("kamailio.pid"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("kamailio.log")).unwrap())
        .spawn()
        .expect("start kamailio");
    // Let it bind and send its first OPTIONS probes.
    std::thread::sleep(Duration::from_secs(2));
    Kamailio(child)
}

/// Runs SIPp against Kamailio in a thread: `calls` calls, each held `hold_ms`.
fn sipp(proxy: u16, calls: u32, hold_ms: u32, base: u16) -> std::thread::JoinHandle<Output> {
    std::thread::spawn(move || {
        Command::new("sipp")
            .current_dir(live_common::sipp_dir())
            .arg(format!("127.0.0.1:{proxy}"))
            .args(["-sf", "uac_pool.xml", "-m", &calls.to_string()])
            .args([
                "-l",
                &calls.to_string(),
                "-r",
                "10",
                "-d",
                &hold_ms.to_string(),
            ])
            .args(["-i", "127.0.0.1", "-p", &base.to_string()])
            .args([
                "-cp",
                &(base + 1).to_string(),
                "-mp",
                &(base + 2).to_string(),
            ])
            .args(["-nostdin", "-timeout", "60s", "-timeout_error"])
            .stdin(Stdio::null())
            .output()
            .expect("run sipp")
    })
}

fn outputs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    v.sort();
    v
}

#[test]
fn calls_spread_over_a_pool_fail_over_and_recover() {
    if !live_common::can_run_sipp() || !model_ready() {
        return;
    }
    let Some(kamailio_bin) = tool("kamailio") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let key = key_file(work.path());
    let (dir_a, dir_b) = (work.path().join("a"), work.path().join("b"));
    let (port_a, port_b, proxy) = (free_port(), free_port(), free_port());
    let mut a = start_recorder(port_a, "33000-33099", &dir_a, &key);
    let b = start_recorder(port_b, "33100-33199", &dir_b, &key);
    let _kamailio = start_kamailio(&kamailio_bin, work.path(), proxy, &[port_a, port_b]);

    // Two long calls, dispatched round robin: one to each recorder.
    let first = sipp(proxy, 2, 32_000, 34_000);
    let on_a = a.events("call_started", 1, Duration::from_secs(20));
    let on_b = b.events("call_started", 1, Duration::from_secs(20));
    assert_eq!(
        (on_a.len(), on_b.len()),
        (1, 1),
        "calls not spread over the pool"
    );
    // Kill A with its call half done (audio already released into the recording).
    std::thread::sleep(Duration::from_secs(12));
    a.child.kill().unwrap();
    a.child.wait().unwrap();

    // New calls: every one reaches B (probes took A out, or failover moved the INVITE).
    std::thread::sleep(Duration::from_secs(3));
    let second = sipp(proxy, 3, 3_000, 34_100).join().unwrap();
    assert!(
        second.status.success(),
        "calls after the kill failed:\n{}",
        String::from_utf8_lossy(&second.stdout)
    );
    let started = b.events("call_started", 4, Duration::from_secs(30));
    assert_eq!(
        started.len(),
        4,
        "new calls did not all reach the surviving recorder"
    );
    // SIPp's first run ends with A's call unanswered at BYE; its B call completes.
    let _ = first.join().unwrap();
    let ended = b.events("call_ended", 4, Duration::from_secs(60));
    assert_eq!(ended.len(), 4, "B did not finalise its 4 calls: {ended:?}");
    assert!(ended.iter().all(|e| e["error"].is_null()), "{ended:?}");
    assert_eq!(outputs(&dir_b).len(), 8, "{:?}", outputs(&dir_b));

    // A, restarted on its own folder, recovers the call it was recording.
    assert!(
        outputs(&dir_a).is_empty(),
        "A finished a call it was killed in"
    );
    drop(a);
    let restarted = start_recorder(port_a, "33000-33099", &dir_a, &key);
    drop(restarted);
    let files = outputs(&dir_a);
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    let keyring = hushline::store::load_keyring(&key).unwrap();
    let recording = files
        .iter()
        .find(|p| p.to_string_lossy().ends_with(".wav.enc"))
        .unwrap();
    let info = hushline::store::verify_file(recording, &keyring).unwrap();
    assert!(
        info.duration_s > 3.0,
        "recovered only {:.1} s",
        info.duration_s
    );
    let transcript = files
        .iter()
        .find(|p| p.to_string_lossy().ends_with(".transcript.json"))
        .unwrap();
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(transcript).unwrap()).unwrap();
    assert!(doc.get("text").is_some());
}

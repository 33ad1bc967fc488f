//! The archive scale-out path end to end, with real servers started here: 20 calls (2 of
//! them corrupt) in an S3-compatible store (s3s-fs), enqueued on NATS JetStream, redacted
//! by three `hushline worker` processes on the real model, one SIGKILLed mid-file.
//!
//! Checks: every good call has exactly one complete output pair in the destination
//! bucket (transcript parses, recording authenticates), the corrupt ones are dead letters
//! with reasons free of digits, nothing half-written is visible, the workers opened no
//! local file for writing at all (strace: so no plaintext audio reached the disk),
//! `queue status` agrees, re-enqueueing adds nothing, metrics and health answer, and
//! SIGTERM drains the survivors.

mod scale_common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use hushline::io::Location;
use hushline::queue::{DeadLetter, DEAD_STREAM};
use scale_common::*;

const GOOD: usize = 18;
const SOURCES: [&str; 4] = [
    "card_digits.wav",
    "card_double.wav",
    "ssn_cvv_expiry.wav",
    "decoys_only.wav",
];

/// 18 five-second clips of four sample calls, under nested keys, plus two corrupt files.
/// Objects by key.
type Objects = Vec<(String, Vec<u8>)>;

fn archive() -> (Objects, Objects) {
    let mut good = Vec::new();
    for i in 0..GOOD {
        let sample = SOURCES[i % SOURCES.len()];
        let from = 5.0 * (i / SOURCES.len()) as f64;
        let key = format!("2024/{:02}/call-{i:02}.wav", 5 + i % 2);
        good.push((key, clip(sample, from.min(14.0), 5.0)));
    }
    // A WAV whose data stops after its header promised much more, and noise named .mp3
    // (the demuxer warns on every false frame header in it).
    let mut truncated = clip("card_digits.wav", 0.0, 4.0);
    truncated.truncate(3000);
    let junk = junk_bytes(20_000);
    let corrupt = vec![
        ("2024/06/corrupt-a.wav".to_string(), truncated),
        ("2024/06/corrupt-b.mp3".to_string(), junk),
    ];
    (good, corrupt)
}

fn upload(url: &str, objects: &[(String, Vec<u8>)]) {
    let dest = Location::parse(url).unwrap();
    for (key, bytes) in objects {
        let (dir, name) = key.rsplit_once('/').unwrap();
        let mut out = dest.join(dir).create(name).unwrap();
        out.write_all(bytes).unwrap();
        out.commit().unwrap();
    }
}

struct Worker {
    /// strace, whose child is the worker.
    tracer: Child,
    trace: PathBuf,
    lines: mpsc::Receiver<String>,
}

impl Drop for Worker {
    fn drop(&mut self) {
        // A failed test must not leave workers behind.
        let id = self.tracer.id();
        let children =
            std::fs::read_to_string(format!("/proc/{id}/task/{id}/children")).unwrap_or_default();
        for pid in children.split_whitespace() {
            let _ = Command::new("kill").args(["-KILL", pid]).status();
        }
        let _ = self.tracer.kill();
        let _ = self.tracer.wait();
    }
}

impl Worker {
    /// The hushline process under strace.
    fn pid(&self) -> i32 {
        let id = self.tracer.id();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let children = std::fs::read_to_string(format!("/proc/{id}/task/{id}/children"))
                .unwrap_or_default();
            if let Some(pid) = children.split_whitespace().next() {
                return pid.parse().unwrap();
            }
            assert!(Instant::now() < deadline, "worker process not found");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

fn start_worker(
    strace: &Path,
    nats: &Server,
    s3: &Server,
    key: &Path,
    trace_dir: &Path,
    n: usize,
    metrics: Option<u16>,
) -> Worker {
    let trace = trace_dir.join(format!("worker-{n}.trace"));
    // Each worker on one core, as a one-CPU pod would be (whisper threads = its cores):
    // spinning whisper.cpp threads of several processes on shared cores crawl.
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", &(n % cores).to_string()])
        .arg(strace)
        .args(["-f", "-qq", "--seccomp-bpf", "-o"])
        .arg(&trace)
        .args([
            "-e",
            "trace=open,openat,openat2,creat,truncate,rename,renameat,renameat2,link,linkat",
        ]);
    let mut args = vec![
        "worker".to_string(),
        "--queue".into(),
        nats.nats_url(),
        "--out".into(),
        "s3://redacted/archive".into(),
        "--jobs".into(),
        "1".into(),
        "--drain-seconds".into(),
        "30".into(),
        "--key-file".into(),
        key.display().to_string(),
    ];
    if let Some(port) = metrics {
        args.extend(["--metrics".into(), format!("127.0.0.1:{port}")]);
    }
    if n == 2 {
        // One worker picks each call's model by its spoken language, as a mixed
        // English and Mandarin archive needs.
        args.extend(["--lang".into(), "auto".into()]);
    }
    let mut child = cmd
        .arg(env!("CARGO_BIN_EXE_hushline"))
        .args(&args)
        .current_dir(root())
        .envs(aws_env(s3))
        .env("HUSHLINE_LOG", "warn,hushline=info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start strace + worker");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("worker {n}: {line}");
            let _ = tx.send(line);
        }
    });
    Worker {
        tracer: child,
        trace,
        lines: rx,
    }
}

fn queue_status(nats: &Server) -> serde_json::Value {
    let out = hushline(None)
        .args(["queue", "status", "--json", "--queue", &nats.nats_url()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn http_get(port: u16, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text
}

/// Files opened (or created, renamed, linked) for writing, from an strace log, apart from
/// devices and /proc.
fn local_writes(trace: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(trace).unwrap_or_default();
    text.lines()
        .filter(|l| !l.contains("= -1 "))
        .filter(|l| {
            let opens = l.contains("open");
            let writes = ["O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC"]
                .iter()
                .any(|f| l.contains(f));
            (opens && writes) || l.contains("creat(") || l.contains("rename") || l.contains("link")
        })
        .filter(|l| {
            !["\"/dev/", "\"/proc/", "\"/sys/"]
                .iter()
                .any(|p| l.contains(p))
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn an_archive_in_s3_is_redacted_by_a_worker_fleet_with_one_killed() {
    if !model_ready() {
        return;
    }
    let (Some(strace), Some(nats), Some(s3)) = (tool("strace"), nats(), s3(&["calls", "redacted"]))
    else {
        return;
    };
    set_aws_env(&s3);
    let work = tempfile::tempdir().unwrap();
    let key = key_file(work.path());
    let (good, corrupt) = archive();
    upload("s3://calls/archive", &good);
    upload("s3://calls/archive", &corrupt);

    let enqueue = |expect: &str| {
        let out = hushline(Some(&s3))
            .args(["enqueue", "s3://calls/archive", "--queue", &nats.nats_url()])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains(expect), "{text}");
    };
    enqueue("20 job(s) enqueued");
    // The same archive again: nothing new to do.
    enqueue("0 job(s) enqueued from s3://calls/archive, 20 already queued");
    assert_eq!(
        queue_status(&nats),
        serde_json::json!({"pending": 20, "in_flight": 0, "done": 0, "dead": 0})
    );

    let metrics_port = free_port();
    let workers: Vec<Worker> = (0..3)
        .map(|n| {
            let metrics = (n == 0).then_some(metrics_port);
            start_worker(&strace, &nats, &s3, &key, work.path(), n, metrics)
        })
        .collect();

    // Kill worker 1 in the middle of its first call.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let line = workers[1]
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("worker 1 never started a job");
        if line.contains("started") {
            break;
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    workers[1].signal("KILL");

    // The others finish everything, the killed job once its delivery times out.
    let deadline = Instant::now() + Duration::from_secs(420);
    let status = loop {
        let s = queue_status(&nats);
        if s["done"].as_u64().unwrap() + s["dead"].as_u64().unwrap() == 20 {
            break s;
        }
        assert!(Instant::now() < deadline, "queue never emptied: {s}");
        std::thread::sleep(Duration::from_secs(2));
    };
    assert_eq!(
        status,
        serde_json::json!({"pending": 0, "in_flight": 0, "done": 18, "dead": 2})
    );

    let metrics = http_get(metrics_port, "/metrics");
    assert!(metrics.contains("hushline_jobs_done_total"), "{metrics}");
    assert!(
        metrics.contains("hushline_audio_seconds_total"),
        "{metrics}"
    );
    assert!(http_get(metrics_port, "/healthz").starts_with("HTTP/1.1 200"));
    assert!(http_get(metrics_port, "/readyz").starts_with("HTTP/1.1 200"));

    // SIGTERM drains the survivors: they exit on their own, successfully.
    for n in [0, 2] {
        workers[n].signal("TERM");
    }
    for (n, mut w) in workers.into_iter().enumerate() {
        let status = w.tracer.wait().unwrap();
        if n != 1 {
            assert!(status.success(), "worker {n} after SIGTERM: {status}");
        }
        let writes = local_writes(&w.trace);
        assert!(writes.is_empty(), "worker {n} wrote locally: {writes:#?}");
        if n == 2 {
            assert!(
                w.lines.iter().any(|l| l.contains("spoken language en")),
                "worker 2 (--lang auto) named no call's language"
            );
        }
    }

    // Exactly one complete pair per good call, under the input's key; nothing else.
    let keyring = hushline::store::load_keyring(&key).unwrap();
    let dest = Location::parse("s3://redacted/archive").unwrap();
    let (audio, _) = dest.list_audio().unwrap();
    assert!(audio.is_empty(), "audio in the destination: {audio:?}");
    let Location::Store(prefix) = &dest else {
        unreachable!()
    };
    let found: BTreeSet<String> = prefix.list().unwrap().into_iter().map(|e| e.key).collect();
    let expected: BTreeSet<String> = good
        .iter()
        .flat_map(|(k, _)| {
            let stem = k.trim_end_matches(".wav");
            [format!("{stem}.wav.enc"), format!("{stem}.transcript.json")]
        })
        .collect();
    assert_eq!(found, expected);
    for k in &expected {
        let (dir, name) = k.rsplit_once('/').unwrap();
        let bytes = dest.join(dir).read_small(name).unwrap().unwrap();
        if name.ends_with(".wav.enc") {
            let info = hushline::store::verify_bytes(&bytes, Path::new(k), &keyring).unwrap();
            assert!((info.duration_s - 5.0).abs() < 0.01, "{k}: {info:?}");
        } else {
            let doc: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            assert!(doc.get("text").is_some(), "{k}");
        }
    }
    // On the server's disk: only those objects in the bucket (no temporary parts).
    let on_disk = walk(&s3.bucket_dir("redacted"));
    assert_eq!(on_disk.len(), expected.len(), "{on_disk:#?}");

    // The two corrupt calls are dead letters, with a reason and no digit in it.
    let letters = dead_letters(&nats);
    let keys: BTreeSet<&str> = letters.iter().map(|l| l.job.key.as_str()).collect();
    assert_eq!(
        keys,
        corrupt
            .iter()
            .map(|(k, _)| k.as_str())
            .collect::<BTreeSet<_>>()
    );
    for l in &letters {
        assert!(!l.reason.is_empty());
        assert!(
            !l.reason.chars().any(|c| c.is_ascii_digit()),
            "{}",
            l.reason
        );
        assert!(!l.reason.contains("corrupt-"), "{}", l.reason);
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn dead_letters(nats: &Server) -> Vec<DeadLetter> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = async_nats::connect(nats.nats_url()).await.unwrap();
        let js = async_nats::jetstream::new(client);
        let mut stream = js.get_stream(DEAD_STREAM).await.unwrap();
        let count = stream.info().await.unwrap().state.messages;
        let mut out = Vec::new();
        for seq in 1..=count {
            let m = stream.get_raw_message(seq).await.unwrap();
            out.push(serde_json::from_slice(&m.payload).unwrap());
        }
        out
    })
}

//! Real servers for the scale-out tests, started by the tests on loopback: `nats-server`
//! with JetStream in a temporary folder, the S3-compatible `s3s-fs` over a temporary
//! folder (a bucket is a folder under its root). Each stops when dropped. Plus short test
//! calls cut from samples/ and the environment a `hushline` child needs to reach them.
#![allow(dead_code)]

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const ACCESS_KEY: &str = "hushline-test";
pub const SECRET_KEY: &str = "hushline-test-secret";

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A program on PATH or in cargo's bin folder, or None with a message saying how
/// `make test` installs it.
pub fn tool(name: &str) -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    });
    let in_cargo = dirs::home_dir().map(|h| h.join(".cargo/bin").join(name));
    let found = on_path.or(in_cargo.filter(|p| p.is_file()));
    if found.is_none() {
        eprintln!("SKIPPED: `{name}` is not installed; scripts/install-deps.sh (run by make test) installs it");
    }
    found
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(port: u16, child: &mut Child, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited early: {status}");
        }
        assert!(Instant::now() < deadline, "{what} did not listen on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A child process killed when dropped.
pub struct Server {
    pub child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `nats-server -js` on a free loopback port with its store in a temporary folder.
pub fn nats() -> Option<Server> {
    let bin = tool("nats-server")?;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(bin)
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nats-server");
    wait_for_port(port, &mut child, "nats-server");
    Some(Server { child, port, dir })
}

impl Server {
    pub fn nats_url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// For the S3 server: the folder a bucket's objects live in.
    pub fn bucket_dir(&self, bucket: &str) -> PathBuf {
        self.dir.path().join(bucket)
    }
}

/// `s3s-fs` on a free loopback port over a temporary folder, with the given buckets.
pub fn s3(buckets: &[&str]) -> Option<Server> {
    let bin = tool("s3s-fs")?;
    let dir = tempfile::tempdir().unwrap();
    for b in buckets {
        std::fs::create_dir_all(dir.path().join(b)).unwrap();
    }
    let port = free_port();
    let mut child = Command::new(bin)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start s3s-fs");
    wait_for_port(port, &mut child, "s3s-fs");
    Some(Server { child, port, dir })
}

/// The standard AWS variables that point a client at `s3`.
pub fn aws_env(s3: &Server) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{}", s3.port)),
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY.into()),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ALLOW_HTTP", "true".into()),
    ]
}

/// Tests that set process-wide variables ([`set_aws_env`]) take turns: hold this.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

/// Sets the AWS variables in this process (for library calls made by the test itself;
/// hold [`serial`] while they matter).
pub fn set_aws_env(s3: &Server) {
    for (k, v) in aws_env(s3) {
        std::env::set_var(k, v);
    }
}

/// The real model, or None with a message when it has not been fetched.
pub fn model_ready() -> bool {
    let ok = root().join("models/ggml-tiny.en.bin").is_file();
    if !ok {
        eprintln!("SKIPPED: models/ggml-tiny.en.bin missing; run `make model` (make test does)");
    }
    ok
}

/// A fresh key file (mode 0600) in `dir`.
pub fn key_file(dir: &Path) -> PathBuf {
    let path = dir.join("test.key");
    hushline::store::keygen(&path).unwrap();
    path
}

/// `seconds` of a sample call from `from_s` on, as a 16-bit WAV file's bytes.
pub fn clip(sample: &str, from_s: f64, seconds: f64) -> Vec<u8> {
    let mut reader = hound::WavReader::open(root().join("samples").join(sample)).unwrap();
    let spec = reader.spec();
    let frames_per_s = spec.sample_rate as f64;
    let ch = spec.channels as usize;
    let skip = (from_s * frames_per_s) as usize * ch;
    let take = (seconds * frames_per_s) as usize * ch;
    let samples: Vec<i32> = reader
        .samples::<i32>()
        .skip(skip)
        .take(take)
        .map(Result::unwrap)
        .collect();
    let out_spec = hound::WavSpec {
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
        ..spec
    };
    let shift = spec.bits_per_sample.saturating_sub(16);
    let mut cursor = std::io::Cursor::new(Vec::new());
    {
        let mut w = hound::WavWriter::new(&mut cursor, out_spec).unwrap();
        for s in samples {
            w.write_sample((s >> shift) as i16).unwrap();
        }
        w.finalize().unwrap();
    }
    cursor.into_inner()
}

/// `n` bytes of deterministic noise (xorshift).
pub fn junk_bytes(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A `hushline` command with the AWS variables for `s3` and a quiet, colourless log.
pub fn hushline(s3: Option<&Server>) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hushline"));
    cmd.current_dir(root())
        .env("HUSHLINE_LOG", "warn,hushline=info");
    if let Some(s3) = s3 {
        cmd.envs(aws_env(s3));
    }
    cmd
}

//! Shared helpers for the live tests: a server on loopback, event collection per call,
//! a tiny SIP client, and SIPp runs.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use hushline::live::{
    CallEvent, EndReason, LiveError, MediaStats, Participant, Server, ServerConfig, StreamInfo,
};
use hushline::time::Span;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

pub struct Harness {
    pub addr: SocketAddr,
    /// The SIP over TLS address, when the config asked for TLS.
    pub tls_addr: Option<SocketAddr>,
    pub rx: mpsc::Receiver<CallEvent>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), LiveError>>,
}

pub async fn start(rtp_ports: (u16, u16), tweak: impl FnOnce(&mut ServerConfig)) -> Harness {
    let mut cfg = ServerConfig::new("127.0.0.1:0".parse().unwrap(), rtp_ports);
    tweak(&mut cfg);
    let server = Server::bind(cfg).await.expect("bind server");
    let addr = server.local_addr();
    let tls_addr = server.tls_addr();
    let (tx, rx) = mpsc::channel(1024);
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.run(tx, async move {
        let _ = stopped.await;
    }));
    Harness {
        addr,
        tls_addr,
        rx,
        stop: Some(stop),
        task,
    }
}

/// Everything one call produced, checked for per-stream contiguity as it arrives.
#[derive(Debug, Default)]
pub struct CallLog {
    pub streams: Vec<StreamInfo>,
    pub participants: Vec<Participant>,
    pub audio: BTreeMap<usize, Vec<i16>>,
    pub digits: Vec<(usize, char, Span)>,
    pub metadata: Vec<(Vec<Participant>, Vec<StreamInfo>)>,
    pub ended: Option<EndReason>,
    pub media: MediaStats,
}

impl Harness {
    /// Collects events until `calls` calls have ended, or panics after `limit`.
    pub async fn calls(&mut self, calls: usize, limit: Duration) -> BTreeMap<String, CallLog> {
        let mut logs: BTreeMap<String, CallLog> = BTreeMap::new();
        let deadline = tokio::time::Instant::now() + limit;
        while logs.values().filter(|l| l.ended.is_some()).count() < calls {
            let ev = tokio::time::timeout_at(deadline, self.rx.recv())
                .await
                .unwrap_or_else(|_| panic!("timed out; calls so far: {:?}", summary(&logs)))
                .expect("server stopped");
            self.record(&mut logs, ev);
        }
        logs
    }

    pub fn record(&self, logs: &mut BTreeMap<String, CallLog>, ev: CallEvent) {
        match ev {
            CallEvent::Started {
                call_id,
                streams,
                participants,
            } => {
                let log = logs.entry(call_id).or_default();
                assert!(log.streams.is_empty(), "Started twice");
                log.streams = streams;
                log.participants = participants;
            }
            CallEvent::Audio {
                call_id,
                stream,
                start,
                pcm,
            } => {
                let log = logs.get_mut(&call_id).expect("audio before Started");
                assert!(log.ended.is_none(), "audio after Ended");
                let a = log.audio.entry(stream).or_default();
                assert_eq!(
                    start,
                    a.len() as u64,
                    "audio of stream {stream} not contiguous"
                );
                a.extend_from_slice(&pcm);
            }
            CallEvent::Digit {
                call_id,
                stream,
                digit,
                span,
            } => {
                logs.get_mut(&call_id)
                    .expect("digit before Started")
                    .digits
                    .push((stream, digit, span));
            }
            CallEvent::Metadata {
                call_id,
                participants,
                streams,
            } => {
                logs.get_mut(&call_id)
                    .expect("metadata before Started")
                    .metadata
                    .push((participants, streams));
            }
            CallEvent::Ended {
                call_id,
                reason,
                media,
            } => {
                let log = logs.get_mut(&call_id).expect("Ended before Started");
                assert!(log.ended.is_none(), "Ended twice");
                log.ended = Some(reason);
                log.media = media;
            }
        }
    }

    /// Shuts the server down and hands back the event channel (with whatever the
    /// shutdown produced).
    pub async fn stop(mut self) -> mpsc::Receiver<CallEvent> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let r = tokio::time::timeout(Duration::from_secs(10), self.task).await;
        r.expect("server did not shut down")
            .expect("server task panicked")
            .expect("server failed");
        self.rx
    }
}

fn summary(logs: &BTreeMap<String, CallLog>) -> Vec<String> {
    logs.iter()
        .map(|(id, l)| {
            let a: Vec<usize> = l.audio.values().map(Vec::len).collect();
            format!(
                "{id}: streams {} audio {a:?} digits {} ended {:?}",
                l.streams.len(),
                l.digits.len(),
                l.ended
            )
        })
        .collect()
}

pub fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn sipp_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sipp")
}

/// SIPp needs root for `play_pcap_audio` (raw sockets); CI runs as root.
pub fn can_run_sipp() -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0\n"))
        .unwrap_or(false);
    let sipp = Command::new("sipp")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !root || !sipp {
        eprintln!("SKIPPED: needs root and `sipp` (Debian package sip-tester) for play_pcap_audio");
    }
    root && sipp
}

/// Runs a SIPp scenario against `target` in a blocking thread; panics with SIPp's
/// output if it reports failed calls. SIPp uses the ports `base..base+6` (its SIP, control
/// and media ports): fixed per test, below the ephemeral range, so parallel tests and
/// their servers never race for them.
pub async fn run_sipp(target: SocketAddr, scenario: &str, calls: u32, base: u16) -> JoinHandle<()> {
    let scenario = scenario.to_string();
    tokio::task::spawn_blocking(move || {
        let (p, cp, mp) = (base, base + 1, base + 2);
        let out = Command::new("sipp")
            .current_dir(sipp_dir())
            .arg(target.to_string())
            .args([
                "-sf",
                &scenario,
                "-m",
                &calls.to_string(),
                "-l",
                &calls.to_string(),
                "-r",
                "10",
            ])
            .args([
                "-i",
                "127.0.0.1",
                "-p",
                &p.to_string(),
                "-cp",
                &cp.to_string(),
                "-mp",
                &mp.to_string(),
            ])
            .args(["-nostdin", "-timeout", "30s", "-timeout_error"])
            .stdin(Stdio::null())
            .output()
            .expect("run sipp");
        assert!(
            out.status.success(),
            "sipp {scenario} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .rev()
                .take(40)
                .collect::<Vec<_>>()
                .join("\n")
        );
    })
}

/// A minimal UDP SIP client for hand-made messages.
pub struct Client {
    pub sock: UdpSocket,
    pub server: SocketAddr,
}

impl Client {
    pub async fn new(server: SocketAddr) -> Client {
        Client {
            sock: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
            server,
        }
    }

    pub async fn send(&self, msg: &[u8]) {
        self.sock.send_to(msg, self.server).await.unwrap();
    }

    /// The next response, skipping provisional ones unless `provisional`.
    pub async fn response(&self, provisional: bool) -> Option<String> {
        let mut buf = vec![0u8; 65536];
        loop {
            let r = tokio::time::timeout(Duration::from_secs(3), self.sock.recv_from(&mut buf))
                .await
                .ok()?;
            let (n, _) = r.unwrap();
            let text = String::from_utf8_lossy(&buf[..n]).to_string();
            if provisional || !text.starts_with("SIP/2.0 1") {
                return Some(text);
            }
        }
    }

    pub async fn request(&self, msg: &[u8]) -> Option<String> {
        self.send(msg).await;
        self.response(false).await
    }
}

pub fn status(resp: &str) -> u16 {
    resp.get(8..11).and_then(|c| c.parse().ok()).unwrap_or(0)
}

/// Builds a request; `{body}` goes after the headers with a correct Content-Length
/// unless `content_length` overrides it.
pub fn request(
    method: &str,
    call_id: &str,
    cseq: u32,
    to_tag: Option<&str>,
    extra: &str,
    body: &str,
    content_length: Option<usize>,
) -> Vec<u8> {
    let to_tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    format!(
        "{method} sip:rec@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK{call_id}{cseq}\r\n\
         From: <sip:test@127.0.0.1>;tag=t1\r\n\
         To: <sip:rec@127.0.0.1>{to_tag}\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} {method}\r\n\
         Max-Forwards: 70\r\n\
         {extra}Content-Length: {}\r\n\r\n{body}",
        content_length.unwrap_or(body.len())
    )
    .into_bytes()
}

pub fn offer(labels: &[&str]) -> String {
    let mut s =
        "v=0\r\no=t 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n".to_string();
    for l in labels {
        s.push_str(
            "m=audio 40000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendonly\r\n",
        );
        if !l.is_empty() {
            s.push_str(&format!("a=label:{l}\r\n"));
        }
    }
    s
}

/// The To tag and the RTP ports of a 200 OK with SDP.
pub fn answer_of(resp: &str) -> (String, Vec<u16>) {
    let to = resp
        .lines()
        .find(|l| l.starts_with("To:"))
        .expect("To header");
    let tag = to.split(";tag=").nth(1).expect("to tag").trim().to_string();
    let ports = resp
        .lines()
        .filter_map(|l| l.strip_prefix("m=audio "))
        .map(|l| l.split(' ').next().unwrap().parse().unwrap())
        .collect();
    (tag, ports)
}

/// RTP packet bytes (version 2, no extensions).
pub fn rtp(seq: u16, ts: u32, ssrc: u32, pt: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0x80, pt];
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(&ts.to_be_bytes());
    v.extend_from_slice(&ssrc.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// The committed speech the pcaps were made from.
pub fn speech() -> Vec<i16> {
    let r = hound::WavReader::open(sipp_dir().join("speech.wav")).unwrap();
    r.into_samples::<i16>().map(Result::unwrap).collect()
}

/// Normalised correlation of two equally long signals.
pub fn correlation(a: &[i16], b: &[i16]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb).max(1e-9)
}

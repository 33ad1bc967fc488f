//! Real peers over TLS against the `hushline serve` binary with the real tiny.en model,
//! on loopback: baresip calling over TLS with SDES-SRTP and speaking the card call from a
//! WAV, while forged SRTP packets are thrown at the call; and Kamailio (tls module)
//! forwarding a SIPp call to `serve` over TLS with a client certificate that `serve`
//! verifies. Each call must end with an encrypted recording where the card is bleeped and
//! a masked transcript and feed holding none of its digits.
//!
//! SIPp needs root for its RTP playback, so the Kamailio test skips without it (as the
//! other SIPp tests do); baresip needs no privileges. A peer missing while running as
//! root (CI) is a failure: scripts/install-deps.sh installs them.

#[path = "live_common/mod.rs"]
mod live_common;
#[path = "live_serve/mod.rs"]
mod live_serve;
#[path = "tls_common/mod.rs"]
mod tls_common;

use std::net::UdpSocket;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use live_common::{can_run_sipp, sipp_dir};
use live_serve::*;
use serde_json::Value;
use tls_common::Pki;

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// Whether `program` runs here; missing as root (CI) is an error, elsewhere a skip.
fn have(program: &str, package: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            !is_root(),
            "`{program}` is missing: install Debian's {package} (scripts/install-deps.sh does)"
        );
        eprintln!("SKIPPED: needs `{program}` (Debian package {package})");
    }
    found
}

/// `serve` flags for SIP over TLS with the test PKI.
fn tls_flags(pki: &Pki, tls_port: u16, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = vec![
        "--sip-tls".into(),
        format!("127.0.0.1:{tls_port}"),
        "--tls-cert".into(),
        pki.server_cert.display().to_string(),
        "--tls-key".into(),
        pki.server_key.display().to_string(),
    ];
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

/// The card call as an 8 kHz mono WAV: the audio card_pcmu.pcap carries, so the checks
/// for SIPp's card calls hold for it sample for sample.
fn card_wav(path: &Path) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for p in pcap_rtp(&sipp_dir().join("card_pcmu.pcap")) {
        for &b in &p[12..] {
            w.write_sample(hushline::audio::g711::ulaw_to_linear(b))
                .unwrap();
        }
    }
    w.finalize().unwrap();
}

/// A peer process, ended with SIGTERM to its whole process group (Kamailio forks
/// workers), then SIGKILL if it lingers.
struct Peer {
    child: Child,
    name: &'static str,
    log: std::path::PathBuf,
}

impl Peer {
    fn spawn(mut cmd: Command, name: &'static str, log: std::path::PathBuf) -> Peer {
        let out = std::fs::File::create(&log).unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        Peer { child, name, log }
    }

    /// The end of the peer's log, for a failure message.
    fn tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        format!(
            "{} log:\n{}",
            self.name,
            lines[lines.len().saturating_sub(40)..].join("\n")
        )
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        for _ in 0..50 {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}

fn ended_or_explain(serve: &mut Serve, peer: &Peer) -> Value {
    let got = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        serve.ended(1, Duration::from_secs(150))
    }));
    match got {
        Ok(mut e) => e.remove(0),
        Err(_) => panic!("the call did not end\n{}", peer.tail()),
    }
}

#[test]
fn baresip_calls_over_tls_with_srtp_and_its_card_is_redacted() {
    if !have("baresip", "baresip") {
        return;
    }
    let pki = Pki::new();
    let (sip, tls, rtp) = (37060, 37061, (37100, 37199));
    let flags = tls_flags(&pki, tls, &["--require-tls", "--require-srtp"]);
    let mut serve = Serve::start_with(sip, rtp, &flags);

    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("card.wav");
    card_wav(&wav);
    let conf = dir.path().join("baresip");
    std::fs::create_dir(&conf).unwrap();
    // Headless: no console or sound card; the WAV is the microphone, what is heard is
    // written to a file. Loopback only.
    let config = format!(
        "poll_method epoll\nnet_interface 127.0.0.1\nsip_listen 127.0.0.1:37070\nsip_cafile {ca}\n\
         audio_source aufile,{wav}\naudio_player aufile,{played}\naudio_alert aufile,{played}\n\
         ausrc_srate 8000\nauplay_srate 8000\nausrc_channels 1\nauplay_channels 1\n\
         rtp_ports 37080-37089\nrtcp_mux no\nmodule_path /usr/lib/baresip/modules\n\
         module g711.so\nmodule aufile.so\nmodule srtp.so\nmodule_tmp uuid.so\n\
         module_tmp account.so\nmodule_app menu.so\n",
        ca = pki.ca.display(),
        wav = wav.display(),
        played = dir.path().join("played.wav").display(),
    );
    std::fs::write(conf.join("config"), config).unwrap();
    std::fs::write(
        conf.join("accounts"),
        "<sip:caller@127.0.0.1;transport=tls>;regint=0;mediaenc=srtp-mand;audio_codecs=PCMU\n",
    )
    .unwrap();
    let mut cmd = Command::new("baresip");
    cmd.arg("-f")
        .arg(&conf)
        .args([
            "-e",
            &format!("/dial sip:rec@127.0.0.1:{tls};transport=tls"),
        ])
        .args(["-t", "120"]);
    let baresip = Peer::spawn(cmd, "baresip", dir.path().join("baresip.log"));

    // Forged SRTP packets (an RTP header, a payload and a made-up tag) thrown at the
    // call's port while it goes on: the first call of a fresh server gets the range's
    // first port.
    std::thread::sleep(Duration::from_secs(8));
    let mut baresip = baresip;
    assert!(
        baresip.child.try_wait().unwrap().is_none(),
        "baresip exited early\n{}",
        baresip.tail()
    );
    let forger = UdpSocket::bind("127.0.0.1:0").unwrap();
    for seq in 0..5u16 {
        let mut p = live_common::rtp(seq, 160 * u32::from(seq), 0xF0F0_0000, 0, &[0x7F; 160]);
        p.extend_from_slice(&[0xA5; 10]);
        forger.send_to(&p, ("127.0.0.1", rtp.0)).unwrap();
    }

    let ended = ended_or_explain(&mut serve, &baresip);
    let o = assert_card_call_redacted(&serve, &ended, "PCMU");
    let live = o.doc.metadata.live.as_ref().unwrap();
    assert!(
        live.streams[0].srtp.is_some(),
        "the stream was SRTP: {:?}",
        live.streams
    );
    assert_eq!(
        ended["stats"]["srtp_unauthentic"], 5,
        "every forged packet dropped and counted: {ended}"
    );
    drop(baresip);
    serve.stop();
}

#[test]
fn kamailio_forwards_a_sipp_call_over_tls_with_a_verified_client_certificate() {
    if !can_run_sipp() || !have("kamailio", "kamailio and kamailio-tls-modules") {
        return;
    }
    // Debian puts modules under the multiarch folder, /usr/lib/<triplet>/kamailio/modules.
    let modules = std::fs::read_dir("/usr/lib")
        .unwrap()
        .map(|e| e.unwrap().path().join("kamailio/modules"))
        .find(|m| m.join("tls.so").exists())
        .expect("Kamailio's tls module is missing: install kamailio-tls-modules");
    let modules = modules.display();
    let pki = Pki::new();
    let (sip, tls, rtp) = (37260, 37261, (37300, 37399));
    let ca = pki.ca.display().to_string();
    let flags = tls_flags(&pki, tls, &["--tls-client-ca", &ca, "--require-tls"]);
    let mut serve = Serve::start_with(sip, rtp, &flags);

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (kam_udp, kam_tls) = (37262, 37263);
    std::fs::write(
        d.join("tls.cfg"),
        format!(
            "[server:default]\nmethod = TLSv1.2+\ncertificate = {cert}\nprivate_key = {key}\n\n\
             [client:default]\nmethod = TLSv1.2+\ncertificate = {cert}\nprivate_key = {key}\n\
             ca_list = {ca}\nverify_certificate = yes\nrequire_certificate = yes\n",
            cert = pki.client_cert.display(),
            key = pki.client_key.display(),
        ),
    )
    .unwrap();
    // An SBC in miniature: everything it receives goes to the recorder over TLS.
    std::fs::write(
        d.join("kamailio.cfg"),
        format!(
            "#!KAMAILIO\ndebug=2\nlog_stderror=yes\nchildren=2\ntcp_children=2\n\
             enable_tls=yes\nauto_aliases=no\nlisten=udp:127.0.0.1:{kam_udp}\n\
             listen=tls:127.0.0.1:{kam_tls}\nmpath=\"{modules}/\"\n\
             loadmodule \"tls.so\"\nloadmodule \"tm.so\"\nloadmodule \"sl.so\"\n\
             loadmodule \"rr.so\"\nloadmodule \"pv.so\"\nloadmodule \"maxfwd.so\"\n\
             loadmodule \"textops.so\"\n\
             modparam(\"tls\", \"config\", \"{tlscfg}\")\n\
             request_route {{\n\
               if (!mf_process_maxfwd_header(\"10\")) {{ sl_send_reply(\"483\", \"Too Many Hops\"); exit; }}\n\
               if (is_method(\"INVITE\")) {{ record_route(); }}\n\
               $du = \"sip:127.0.0.1:{tls};transport=tls\";\n\
               if (!t_relay()) {{ sl_reply_error(); }}\n\
             }}\n",
            tlscfg = d.join("tls.cfg").display(),
        ),
    )
    .unwrap();
    let run = d.join("run");
    std::fs::create_dir(&run).unwrap();
    let mut cmd = Command::new("kamailio");
    cmd.arg("-f")
        .arg(d.join("kamailio.cfg"))
        .args(["-DD", "-E", "-m", "64", "-M", "8", "-Y"])
        .arg(&run)
        .arg("-P")
        .arg(run.join("kamailio.pid"))
        .arg("-w")
        .arg(&run);
    let kamailio = Peer::spawn(cmd, "kamailio", d.join("kamailio.log"));
    // Kamailio is ready when it answers OPTIONS (relayed to serve over TLS).
    let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
    probe
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let here = probe.local_addr().unwrap();
    let options = format!(
        "OPTIONS sip:rec@127.0.0.1:{kam_udp} SIP/2.0\r\nVia: SIP/2.0/UDP {here};branch=z9hG4bKprobe\r\n\
         From: <sip:probe@127.0.0.1>;tag=p\r\nTo: <sip:rec@127.0.0.1>\r\nCall-ID: probe\r\n\
         CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    let options = options.as_bytes();
    let ready = (0..40).any(|_| {
        let _ = probe.send_to(options, ("127.0.0.1", kam_udp));
        let mut buf = [0u8; 4096];
        matches!(probe.recv_from(&mut buf), Ok((n, _)) if buf[..n].starts_with(b"SIP/2.0 200"))
    });
    assert!(
        ready,
        "Kamailio did not relay OPTIONS to serve\n{}",
        kamailio.tail()
    );

    let sipp = serve.sipp_to(kam_udp, "uac_card_pcmu.xml", 1, 37390);
    let ended = ended_or_explain(&mut serve, &kamailio);
    sipp.join().unwrap();
    assert_card_call_redacted(&serve, &ended, "PCMU");
    drop(kamailio);
    serve.stop();
}

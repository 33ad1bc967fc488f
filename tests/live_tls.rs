//! SIP over TLS and SRTP against the in-process server on loopback: SDES calls in every
//! required suite decrypted before the jitter buffer, a tampered and a replayed packet
//! dropped and counted, the `--require-tls`/`--require-srtp` policy and where SDES keys
//! may come from, client-certificate verification, and `openssl s_client` asking OPTIONS.
//! No root needed: the test itself is the SRTP sender.

mod live_common;
mod tls_common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use hushline::live::sip::Response;
use hushline::live::srtp::{self, MasterKey, Suite};
use hushline::live::tls::TlsListen;
use hushline::live::{EndReason, Policy, ServerConfig};
use live_common::*;
use tls_common::*;

async fn tls_server(pki: &Pki, rtp: (u16, u16), policy: Policy, client_ca: bool) -> Harness {
    let listen = TlsListen::new(
        "127.0.0.1:0".parse().unwrap(),
        &pki.server_cert,
        &pki.server_key,
        client_ca.then_some(pki.ca.as_path()),
    )
    .unwrap();
    start(rtp, move |c: &mut ServerConfig| {
        c.tls = Some(listen);
        c.policy = policy;
    })
    .await
}

const STRICT: Policy = Policy {
    require_tls: true,
    require_srtp: true,
    allow_sdes_over_udp: false,
};

fn warning(r: &Response) -> String {
    header(r, "warning").to_string()
}

/// Frames of speech.wav as PCMU RTP packets, 20 ms each.
fn speech_packets(ssrc: u32) -> Vec<Vec<u8>> {
    speech()
        .chunks_exact(160)
        .enumerate()
        .map(|(i, f)| {
            let payload: Vec<u8> = f
                .iter()
                .map(|&s| hushline::audio::g711::linear_to_ulaw(s))
                .collect();
            rtp(i as u16, 160 * i as u32, ssrc, 0, &payload)
        })
        .collect()
}

/// One SDES call over TLS in `suite`: speech sent as SRTP with packet `tampered` altered
/// in transit and packet `replayed` sent twice. Checks the answer, the decrypted audio
/// and the counts.
async fn srtp_call(h: &mut Harness, pki: &Pki, suite: Suite, call_id: &str) {
    let server = h.tls_addr.unwrap();
    let mut c = TlsClient::connect(pki, server, false).await.unwrap();
    let theirs = MasterKey::generate(suite);
    let uri = format!("sips:rec@{server}");
    let offer = srtp_offer("RTP/SAVP", &[&theirs]);
    let extra = "Contact: <sips:src@127.0.0.1:5999>\r\nContent-Type: application/sdp\r\n";
    c.send(&tls_request(
        "INVITE", &uri, call_id, 1, None, extra, &offer,
    ))
    .await
    .unwrap();
    let ok = c.response().await.expect("answer");
    assert_eq!(ok.code, 200, "{}", warning(&ok));
    let contact = header(&ok, "contact");
    assert!(
        contact.starts_with("<sips:") && contact.contains(";transport=tls"),
        "{contact}"
    );
    let (port, proto, crypto) = answer_media(&ok.body);
    assert_eq!(proto, "RTP/SAVP");
    assert_eq!(crypto.len(), 1);
    assert_eq!(
        (crypto[0].tag, crypto[0].suite_name.as_str()),
        (1, suite.name())
    );
    let ours = crypto[0]
        .key
        .as_ref()
        .expect("our answer carries its own key");
    assert_ne!(ours, &theirs, "each side sends its own key");
    let tag = sip_tag(&ok);

    let mut tx = srtp::Sender::new(&theirs);
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let packets = speech_packets(0x5EC0_0001);
    let (tampered, replayed) = (40, 60);
    for (i, p) in packets.iter().enumerate() {
        let mut wire = tx.protect(p).unwrap();
        if i == tampered {
            wire[20] ^= 0x10; // one payload bit flipped on the way
        }
        sock.send_to(&wire, ("127.0.0.1", port)).await.unwrap();
        if i == replayed {
            sock.send_to(&wire, ("127.0.0.1", port)).await.unwrap();
        }
        if i % 10 == 0 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    // SRTCP on the media port (rtcp-mux) is ignored, neither played nor counted.
    let mut rtcp = rtp(1, 2, 3, 0, &[0; 30]);
    rtcp[1] = 200;
    sock.send_to(&rtcp, ("127.0.0.1", port)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    c.send(&tls_request("BYE", &uri, call_id, 2, Some(&tag), "", ""))
        .await
        .unwrap();
    assert_eq!(c.response().await.expect("BYE answered").code, 200);

    let logs = h.calls(1, Duration::from_secs(10)).await;
    let log = logs.values().next().unwrap();
    assert_eq!(log.ended, Some(EndReason::Bye));
    assert_eq!(log.streams[0].srtp, Some(suite));
    assert_eq!(
        log.media.srtp_unauthentic, 1,
        "{suite:?}: the tampered packet"
    );
    assert_eq!(log.media.srtp_replayed, 1, "{suite:?}: the replayed packet");
    let audio = &log.audio[&0];
    assert_eq!(
        audio.len(),
        packets.len() * 160,
        "the lost packet is concealed, in place"
    );
    let reference = speech();
    let frame = |a: usize, b: usize| (a * 160, b * 160);
    for (a, b) in [frame(0, tampered), frame(tampered + 1, packets.len())] {
        let c = correlation(&audio[a..b], &reference[a..b]);
        assert!(
            c > 0.99,
            "{suite:?}: decrypted audio matches the speech ({c})"
        );
    }
    // Where the tampered packet was, concealment (a fading repeat of the frame before),
    // never the altered packet's payload.
    let (a, _) = frame(tampered, tampered + 1);
    assert_eq!(audio[a], audio[a - 160], "{suite:?}: concealed, not played");
}

fn sip_tag(r: &Response) -> String {
    hushline::live::sip::tag_param(header(r, "to")).expect("to tag")
}

#[tokio::test]
async fn srtp_calls_over_tls_in_every_suite_drop_tampered_and_replayed_packets() {
    let pki = Pki::new();
    let mut h = tls_server(&pki, (33000, 33099), STRICT, false).await;
    for (i, suite) in [
        Suite::AesCm128HmacSha1_80,
        Suite::AesCm128HmacSha1_32,
        Suite::AeadAes128Gcm,
    ]
    .into_iter()
    .enumerate()
    {
        srtp_call(&mut h, &pki, suite, &format!("srtp-{i}")).await;
    }
    let _ = h.stop().await;
}

#[tokio::test]
async fn policy_refuses_plain_media_and_keys_in_the_clear() {
    let pki = Pki::new();
    let h = tls_server(&pki, (33100, 33199), STRICT, false).await;
    let server = h.tls_addr.unwrap();
    let ct = "Content-Type: application/sdp\r\n";
    // Plain RTP over TLS, against --require-srtp.
    let mut c = TlsClient::connect(&pki, server, false).await.unwrap();
    let uri = format!("sip:rec@{server};transport=tls");
    c.send(&tls_request(
        "INVITE",
        &uri,
        "plain",
        1,
        None,
        ct,
        &offer(&[""]),
    ))
    .await
    .unwrap();
    let r = c.response().await.unwrap();
    assert_eq!(r.code, 488);
    assert!(
        warning(&r).starts_with("399 hushline \"SRTP required"),
        "{}",
        warning(&r)
    );
    // The same call over UDP, against --require-tls.
    let udp = Client::new(h.addr).await;
    let resp = udp
        .request(&request("INVITE", "udp", 1, None, ct, &offer(&[""]), None))
        .await
        .unwrap();
    assert_eq!(status(&resp), 488);
    assert!(
        resp.contains("Warning: 399 hushline \"TLS required"),
        "{resp}"
    );
    // An OPTIONS ping over UDP is still answered.
    let resp = udp
        .request(&request("OPTIONS", "ping", 1, None, "", "", None))
        .await
        .unwrap();
    assert_eq!(status(&resp), 200);
    let _ = h.stop().await;

    // Keys over UDP: refused by default, taken with --allow-sdes-over-udp.
    let key = MasterKey::generate(Suite::AesCm128HmacSha1_80);
    let keyed = srtp_offer("RTP/SAVP", &[&key]);
    for allow in [false, true] {
        let policy = Policy {
            allow_sdes_over_udp: allow,
            ..Policy::default()
        };
        let mut h = tls_server(&pki, (33200, 33299), policy, false).await;
        let udp = Client::new(h.addr).await;
        let resp = udp
            .request(&request("INVITE", "sdes", 1, None, ct, &keyed, None))
            .await
            .unwrap();
        if allow {
            assert_eq!(status(&resp), 200, "{resp}");
            assert!(
                resp.contains("m=audio ") && resp.contains(" RTP/SAVP 0"),
                "{resp}"
            );
            let (tag, _) = answer_of(&resp);
            udp.request(&request("BYE", "sdes", 2, Some(&tag), "", "", None))
                .await
                .unwrap();
            let logs = h.calls(1, Duration::from_secs(5)).await;
            assert_eq!(
                logs.values().next().unwrap().streams[0].srtp,
                Some(Suite::AesCm128HmacSha1_80)
            );
        } else {
            assert_eq!(status(&resp), 488);
            assert!(resp.contains("only over TLS"), "{resp}");
            assert!(
                !resp.contains(key.inline().as_str()),
                "the key is not echoed"
            );
        }
        let _ = h.stop().await;
    }
}

#[tokio::test]
async fn client_certificates_are_verified_when_a_client_ca_is_given() {
    let pki = Pki::new();
    let h = tls_server(&pki, (33300, 33399), Policy::default(), true).await;
    let server = h.tls_addr.unwrap();
    let options = tls_request("OPTIONS", "sip:rec@127.0.0.1", "opt", 1, None, "", "");
    let mut with = TlsClient::connect(&pki, server, true).await.unwrap();
    with.send(&options).await.unwrap();
    assert_eq!(with.response().await.map(|r| r.code), Some(200));
    // Without a certificate the handshake fails (TLS 1.3: the client learns it on read).
    let refused = match TlsClient::connect(&pki, server, false).await {
        Err(_) => true,
        Ok(mut c) => {
            let _ = c.send(&options).await;
            c.response().await.is_none()
        }
    };
    assert!(refused, "a client without a certificate got an answer");
    let _ = h.stop().await;
}

#[tokio::test]
async fn openssl_s_client_gets_200_to_options() {
    let pki = Pki::new();
    let h = tls_server(&pki, (33400, 33499), STRICT, false).await;
    let server = h.tls_addr.unwrap();
    let ca = pki.ca.clone();
    let out = tokio::task::spawn_blocking(move || {
        let mut child = Command::new("timeout")
            .args([
                "20",
                "openssl",
                "s_client",
                "-quiet",
                "-verify_return_error",
                "-connect",
            ])
            .arg(server.to_string())
            .arg("-CAfile")
            .arg(&ca)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl (Debian package openssl; scripts/install-deps.sh installs it)");
        let options = "OPTIONS sip:rec@127.0.0.1 SIP/2.0\r\n\
            Via: SIP/2.0/TLS 127.0.0.1:5999;branch=z9hG4bKssl\r\n\
            From: <sip:ssl@127.0.0.1>;tag=1\r\nTo: <sip:rec@127.0.0.1>\r\n\
            Call-ID: ssl\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
        child
            .stdin
            .as_mut()
            .unwrap()
            .write_all(options.as_bytes())
            .unwrap();
        let mut first = String::new();
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let _ = reader.read_line(&mut first);
        let _ = child.kill();
        let _ = child.wait();
        first
    })
    .await
    .unwrap();
    assert_eq!(out.trim_end(), "SIP/2.0 200 OK");
    let _ = h.stop().await;
}

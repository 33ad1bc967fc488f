//! The live server against hostile or broken input, with hand-made SIP on loopback (no
//! root needed): malformed SIP, truncated SDP, unsupported bodies and extensions, a
//! 64 KB SIPREC INVITE over TCP, random bytes on RTP ports, retransmissions, port
//! exhaustion and RTP inactivity. Every case gets an error response or is ignored, and
//! the server keeps serving.

mod live_common;

use std::time::Duration;

use hushline::live::{CallEvent, EndReason};
use live_common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
fn noise(seed: &mut u64, n: usize) -> Vec<u8> {
    (0..n)
        .map(|_| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            *seed as u8
        })
        .collect()
}

async fn options_ok(c: &Client) {
    let r = c
        .request(&request("OPTIONS", "opt", 1, None, "", "", None))
        .await
        .expect("OPTIONS answered");
    assert_eq!(status(&r), 200, "{r}");
    assert!(r.contains("Allow: INVITE, ACK, BYE, CANCEL, OPTIONS"));
}

#[tokio::test]
async fn malformed_sip_gets_errors_or_is_ignored() {
    let mut h = start((32000, 32019), |_| {}).await;
    let c = Client::new(h.addr).await;
    let sdp = offer(&["1"]);
    let truncated = &sdp[..sdp.find("RTP/AVP").unwrap() + 4];
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (
            request(
                "INVITE",
                "trunc",
                1,
                None,
                "Content-Type: application/sdp\r\n",
                truncated,
                None,
            ),
            488,
        ),
        (
            request("INVITE", "nomedia", 1, None, "", "v=0\r\ns=-\r\n", None),
            488,
        ),
        (
            request("INVITE", "short", 1, None, "", &sdp, Some(sdp.len() + 50)),
            400,
        ),
        (
            request("INVITE", "badlen", 1, None, "", &sdp, None)
                .replace_bytes("Content-Length: ", "Content-Length: x"),
            400,
        ),
        (
            request(
                "INVITE",
                "plain",
                1,
                None,
                "Content-Type: text/plain\r\n",
                "hello",
                None,
            ),
            415,
        ),
        (
            request(
                "INVITE",
                "ext",
                1,
                None,
                "Require: 100rel, siprec\r\n",
                &sdp,
                None,
            ),
            420,
        ),
        (
            request(
                "INVITE",
                "g729",
                1,
                None,
                "",
                &sdp.replace("RTP/AVP 0 101", "RTP/AVP 18"),
                None,
            ),
            488,
        ),
        (request("INVITE", "empty", 1, None, "", "", None), 488),
        (
            request(
                "INVITE",
                "mp",
                1,
                None,
                "Content-Type: multipart/mixed;boundary=b\r\n",
                "--b\r\nbroken",
                None,
            ),
            400,
        ),
        (request("SUBSCRIBE", "sub", 1, None, "", "", None), 501),
        (
            request("BYE", "nosuchcall", 1, Some("x"), "", "", None),
            481,
        ),
        (request("CANCEL", "nosuchcall", 1, None, "", "", None), 481),
        (
            String::from_utf8(request("INVITE", "nocseq", 1, None, "", &sdp, None))
                .unwrap()
                .replace("CSeq: 1 INVITE\r\n", "")
                .into_bytes(),
            400,
        ),
        (
            String::from_utf8(request("INVITE", "badcseq", 1, None, "", &sdp, None))
                .unwrap()
                .replace("CSeq: 1 INVITE", "CSeq: 1 BYE")
                .into_bytes(),
            400,
        ),
    ];
    for (msg, want) in &cases {
        let r = c
            .request(msg)
            .await
            .unwrap_or_else(|| panic!("no answer to {}", String::from_utf8_lossy(msg)));
        assert_eq!(status(&r), *want, "{r}");
        if *want != 400 {
            assert!(r.contains("CSeq: 1 "), "transaction headers echoed: {r}");
        }
    }
    // Unparseable heads are dropped without an answer.
    let mut seed = 0x9E3779B97F4A7C15;
    for i in 0..300 {
        let mut junk = noise(&mut seed, 1 + i * 7 % 1400);
        if i % 3 == 0 {
            junk.splice(0..0, b"INVITE sip:x SIP/2.0\r\n".iter().copied());
        }
        c.send(&junk).await;
    }
    c.send(b"SIP/2.0 200 OK\r\n\r\n").await;
    c.send(b"\r\n\r\n").await;
    options_ok(&c).await;
    assert!(h.rx.try_recv().is_err(), "no call was started");
    let _ = h.stop().await;
}

trait ReplaceBytes {
    fn replace_bytes(self, from: &str, to: &str) -> Vec<u8>;
}

impl ReplaceBytes for Vec<u8> {
    fn replace_bytes(self, from: &str, to: &str) -> Vec<u8> {
        String::from_utf8(self)
            .unwrap()
            .replace(from, to)
            .into_bytes()
    }
}

fn siprec_body(participants: usize) -> (String, String) {
    let boundary = "bnd42";
    let mut md = String::from("<?xml version='1.0'?>\n<recording xmlns='urn:ietf:params:xml:ns:recording:1'><datamode>complete</datamode>\n");
    for i in 0..participants {
        md.push_str(&format!(
            "<participant participant_id='p{i}'><nameID aor='sip:agent{i}@example.com'><name>Agent {i}</name></nameID></participant>\n"
        ));
    }
    md.push_str("<stream stream_id='s0'><label>0</label></stream><stream stream_id='s1'><label>1</label></stream>\n");
    md.push_str(
        "<participantstreamassoc participant_id='p0'><send>s0</send></participantstreamassoc>\n",
    );
    md.push_str("<participantstreamassoc participant_id='p1'><send>s1</send></participantstreamassoc></recording>");
    let body = format!(
        "--{boundary}\r\nContent-Type: application/sdp\r\n\r\n{}\r\n--{boundary}\r\nContent-Type: application/rs-metadata+xml\r\n\
         Content-Disposition: recording-session\r\n\r\n{md}\r\n--{boundary}--\r\n",
        offer(&["0", "1"])
    );
    (
        format!("Require: siprec\r\nContent-Type: multipart/mixed;boundary={boundary}\r\n"),
        body,
    )
}

async fn read_response(s: &mut tokio::net::TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let len: usize = text
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .map_or(0, |v| v.trim().parse().unwrap());
            if buf.len() >= end + 4 + len {
                if text.starts_with("SIP/2.0 1") {
                    buf.drain(..end + 4 + len);
                    continue;
                }
                return text;
            }
        }
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut chunk))
            .await
            .expect("TCP response")
            .unwrap();
        assert!(n > 0, "connection closed");
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[tokio::test]
async fn a_64_kb_siprec_invite_over_tcp() {
    let mut h = start((32020, 32039), |_| {}).await;
    let (headers, body) = siprec_body(560);
    assert!(body.len() >= 64 * 1024, "body is {} bytes", body.len());
    let invite = request("INVITE", "big", 1, None, &headers, &body, None)
        .replace_bytes("SIP/2.0/UDP", "SIP/2.0/TCP");
    let mut s = tokio::net::TcpStream::connect(h.addr).await.unwrap();
    // Written in pieces, as TCP may deliver it.
    for part in invite.chunks(1000) {
        s.write_all(part).await.unwrap();
    }
    let ok = read_response(&mut s).await;
    assert_eq!(status(&ok), 200, "{ok}");
    assert!(ok.contains("transport=tcp"));
    let (tag, ports) = answer_of(&ok);
    assert_eq!(ports.len(), 2);
    assert!(ok.contains("a=label:0\r\n") && ok.contains("a=label:1\r\n"));
    assert_eq!(ok.matches("a=recvonly").count(), 2);
    s.write_all(&request("ACK", "big", 1, Some(&tag), "", "", None))
        .await
        .unwrap();
    s.write_all(&request("BYE", "big", 2, Some(&tag), "", "", None))
        .await
        .unwrap();
    assert_eq!(status(&read_response(&mut s).await), 200);
    let logs = h.calls(1, Duration::from_secs(5)).await;
    let log = logs.values().next().unwrap();
    assert_eq!(log.participants.len(), 560);
    assert_eq!(
        log.streams[1].participant.as_ref().unwrap().name.as_deref(),
        Some("Agent 1")
    );
    assert_eq!(log.ended, Some(EndReason::Bye));
    // A message beyond the size limit closes the connection; the server stays up.
    let mut s2 = tokio::net::TcpStream::connect(h.addr).await.unwrap();
    let huge = request("INVITE", "huge", 1, None, "", &"x".repeat(300 * 1024), None);
    let _ = s2.write_all(&huge).await;
    let mut b = [0u8; 64];
    let closed = tokio::time::timeout(Duration::from_secs(5), s2.read(&mut b)).await;
    assert!(
        matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
        "oversized message closes the connection"
    );
    options_ok(&Client::new(h.addr).await).await;
    let _ = h.stop().await;
}

#[tokio::test]
async fn random_bytes_on_rtp_ports_are_ignored_and_silence_ends_the_call() {
    let mut h = start((32040, 32059), |c| {
        c.inactivity = Duration::from_millis(800)
    })
    .await;
    let c = Client::new(h.addr).await;
    let invite = request(
        "INVITE",
        "noisy",
        1,
        None,
        "Content-Type: application/sdp\r\n",
        &offer(&[""]),
        None,
    );
    let ok = c.request(&invite).await.unwrap();
    assert_eq!(status(&ok), 200, "{ok}");
    let (tag, ports) = answer_of(&ok);
    c.send(&request("ACK", "noisy", 1, Some(&tag), "", "", None))
        .await;
    let rtp_sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let to = ("127.0.0.1", ports[0]);
    let mut seed = 12345u64;
    for seq in 0..50u16 {
        for i in 0..40 {
            let junk = noise(&mut seed, 1 + (seq as usize * 40 + i) % 300);
            rtp_sock.send_to(&junk, to).await.unwrap();
        }
        rtp_sock
            .send_to(&rtp(seq, 160 * seq as u32, 7, 0, &[0x80; 160]), to)
            .await
            .unwrap();
        // RTCP and unnegotiated payload types on the same port are ignored too.
        rtp_sock
            .send_to(&rtp(seq, 0, 7, 200 - 128, &[0; 20]), to)
            .await
            .unwrap();
        rtp_sock
            .send_to(&rtp(seq, 0, 7, 13, &[0; 1]), to)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let logs = h.calls(1, Duration::from_secs(10)).await;
    let log = logs.values().next().unwrap();
    assert_eq!(log.ended, Some(EndReason::Inactivity));
    assert_eq!(log.audio[&0].len(), 50 * 160);
    assert!(log.digits.is_empty());
    // The recorder hangs up its side, then the dialog is gone.
    let bye = c.response(true).await.expect("BYE after inactivity");
    assert!(
        bye.starts_with("BYE sip:rec@127.0.0.1 SIP/2.0\r\n"),
        "{bye}"
    );
    assert!(
        bye.contains("Call-ID: noisy\r\n") && bye.contains(&format!(";tag={tag}")),
        "{bye}"
    );
    let bye = c
        .request(&request("BYE", "noisy", 2, Some(&tag), "", "", None))
        .await
        .unwrap();
    assert_eq!(status(&bye), 481);
    options_ok(&c).await;
    let _ = h.stop().await;
}

#[tokio::test]
async fn retransmitted_invite_gets_the_same_answer_and_one_call() {
    let mut h = start((32060, 32079), |_| {}).await;
    let c = Client::new(h.addr).await;
    let invite = request("INVITE", "rtx", 1, None, "", &offer(&["a", "b", "c"]), None);
    let first = c.request(&invite).await.unwrap();
    let again = c.request(&invite).await.unwrap();
    assert_eq!(status(&first), 200);
    assert_eq!(answer_of(&first), answer_of(&again));
    assert_eq!(answer_of(&first).1.len(), 3, "three streams");
    // Without an ACK the 200 is retransmitted (RFC 3261 timer G).
    let rtx = c.response(false).await.expect("2xx retransmission");
    assert_eq!(answer_of(&rtx), answer_of(&first));
    let (tag, _) = answer_of(&first);
    c.send(&request("ACK", "rtx", 1, Some(&tag), "", "", None))
        .await;
    // A re-INVITE with the same streams keeps the ports and raises the SDP version.
    let re = c
        .request(&request(
            "INVITE",
            "rtx",
            2,
            Some(&tag),
            "",
            &offer(&["a", "b", "c"]),
            None,
        ))
        .await
        .unwrap();
    assert_eq!(status(&re), 200);
    assert_eq!(answer_of(&re).1, answer_of(&first).1);
    assert!(re.contains("o=hushline ") && re.contains(" 2 IN IP4"));
    c.send(&request("ACK", "rtx", 2, Some(&tag), "", "", None))
        .await;
    let bye = c
        .request(&request("BYE", "rtx", 3, Some(&tag), "", "", None))
        .await
        .unwrap();
    assert_eq!(status(&bye), 200);
    let logs = h.calls(1, Duration::from_secs(5)).await;
    assert_eq!(logs.len(), 1);
    let log = logs.values().next().unwrap();
    assert_eq!(log.streams.len(), 3);
    assert_eq!(log.metadata.len(), 1);
    let _ = h.stop().await;
}

#[tokio::test]
async fn exhausted_port_range_is_refused_with_503_and_shutdown_ends_calls() {
    let mut h = start((32080, 32080), |_| {}).await;
    let c = Client::new(h.addr).await;
    let first = c
        .request(&request("INVITE", "one", 1, None, "", &offer(&[""]), None))
        .await
        .unwrap();
    assert_eq!(status(&first), 200);
    assert_eq!(answer_of(&first).1, [32080]);
    let second = c
        .request(&request("INVITE", "two", 1, None, "", &offer(&[""]), None))
        .await
        .unwrap();
    assert_eq!(status(&second), 503, "{second}");
    let ev = tokio::time::timeout(Duration::from_secs(2), h.rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(ev, CallEvent::Started { .. }));
    // Shutdown ends the open call before serve returns.
    let mut rx = h.stop().await;
    let bye = c.response(true).await.expect("BYE at shutdown");
    assert!(
        bye.starts_with("BYE ") && bye.contains("Call-ID: one\r\n"),
        "{bye}"
    );
    match rx.try_recv() {
        Ok(CallEvent::Ended { reason, .. }) => assert_eq!(reason, EndReason::Shutdown),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn network_disorder_is_repaired_in_order() {
    let mut h = start((32100, 32119), |c| {
        c.inactivity = Duration::from_millis(600)
    })
    .await;
    let c = Client::new(h.addr).await;
    let ok = c
        .request(&request(
            "INVITE",
            "disorder",
            1,
            None,
            "",
            &offer(&[""]),
            None,
        ))
        .await
        .unwrap();
    let (tag, ports) = answer_of(&ok);
    c.send(&request("ACK", "disorder", 1, Some(&tag), "", "", None))
        .await;
    // µ-law codes 0x80.. decode to strictly falling positive values, so the order of the
    // released packets can be read back from the audio alone.
    let packet = |seq: u16| {
        rtp(
            65_500u16.wrapping_add(seq),
            7 + 160 * seq as u32,
            99,
            0,
            &[0x80 + seq as u8; 160],
        )
    };
    let lost = |seq: u16| seq % 13 == 5;
    let mut order: Vec<u16> = (0..100).filter(|s| !lost(*s)).collect();
    for pair in order.chunks_mut(2) {
        pair.reverse(); // every pair swapped
    }
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for (i, seq) in order.iter().enumerate() {
        sock.send_to(&packet(*seq), ("127.0.0.1", ports[0]))
            .await
            .unwrap();
        if i % 7 == 0 {
            sock.send_to(&packet(*seq), ("127.0.0.1", ports[0]))
                .await
                .unwrap(); // duplicate
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let logs = h.calls(1, Duration::from_secs(10)).await;
    let audio = &logs.values().next().unwrap().audio[&0];
    assert_eq!(audio.len(), 100 * 160);
    let mut last = i16::MAX;
    for seq in (0..100u16).filter(|s| !lost(*s)) {
        let frame = &audio[seq as usize * 160..(seq as usize + 1) * 160];
        assert!(frame.iter().all(|s| *s == frame[0]), "packet {seq} intact");
        assert!(frame[0] < last, "packet {seq} in order");
        last = frame[0];
    }
    for seq in (0..100u16).filter(|s| lost(*s)) {
        let frame = &audio[seq as usize * 160..(seq as usize + 1) * 160];
        let prev = audio[seq as usize * 160 - 1];
        assert!(
            frame[0] <= prev && frame[159] < frame[0],
            "lost packet {seq} concealed with a fade"
        );
    }
    let _ = h.stop().await;
}

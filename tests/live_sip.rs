//! The live server against real SIPp calls on loopback: G.711 speech in PCMU and PCMA,
//! RFC 4733 keyed digits, a SIPREC session with two streams and metadata, ten concurrent
//! calls, and a cancelled call. Needs root (SIPp's play_pcap_audio); skips otherwise.

mod live_common;

use std::time::Duration;

use hushline::live::{Codec, EndReason};
use hushline::time::Span;
use live_common::*;

/// Packets of speech in pcmu.pcap / pcma.pcap (whole 20 ms frames of speech.wav).
fn speech_samples() -> usize {
    speech().len() / 160 * 160
}

async fn plain_call(scenario: &str, codec: Codec, rtp: (u16, u16)) {
    if !can_run_sipp() {
        return;
    }
    let mut h = start(rtp, |_| {}).await;
    let sipp = run_sipp(h.addr, scenario, 1, rtp.1 - 6).await;
    let logs = h.calls(1, Duration::from_secs(20)).await;
    sipp.await.unwrap();
    let log = logs.values().next().unwrap();
    assert_eq!(log.ended, Some(EndReason::Bye));
    assert_eq!(log.streams.len(), 1);
    assert_eq!(log.streams[0].codec, codec);
    assert!((rtp.0..=rtp.1).contains(&log.streams[0].rtp_port));
    let audio = &log.audio[&0];
    let want = speech_samples();
    assert!(
        audio.len() <= want && audio.len() + 3 * 160 >= want,
        "got {} samples, sent {want}",
        audio.len()
    );
    // Decoded audio is the speech that was encoded (G.711 error only).
    let reference = &speech()[..audio.len()];
    let c = correlation(audio, reference);
    assert!(c > 0.99, "correlation with the source speech {c}");
    assert!(log.digits.is_empty());
    let _ = h.stop().await;
}

#[tokio::test]
async fn plain_call_pcmu() {
    plain_call("uac_pcmu.xml", Codec::Pcmu, (31000, 31099)).await;
}

#[tokio::test]
async fn plain_call_pcma() {
    plain_call("uac_pcma.xml", Codec::Pcma, (31100, 31199)).await;
}

#[tokio::test]
async fn keyed_digits_come_out_with_their_times() {
    if !can_run_sipp() {
        return;
    }
    let mut h = start((31200, 31299), |_| {}).await;
    let sipp = run_sipp(h.addr, "uac_dtmf.xml", 1, 31293).await;
    let logs = h.calls(1, Duration::from_secs(20)).await;
    sipp.await.unwrap();
    let log = logs.values().next().unwrap();
    let digits: String = log.digits.iter().map(|d| d.1).collect();
    assert_eq!(digits, "4539148803436467");
    // make_pcaps.py: 25 packets of silence, then per digit 5 packets of event and 5 of silence.
    for (i, (stream, _, span)) in log.digits.iter().enumerate() {
        let start = (25 + 10 * i as u64) * 160;
        assert_eq!(
            (*stream, *span),
            (0, Span::new(start, start + 800)),
            "digit {i}"
        );
    }
    assert_eq!(
        log.audio[&0].len(),
        210 * 160,
        "event time is kept on the audio timeline"
    );
    assert_eq!(log.ended, Some(EndReason::Bye));
    let _ = h.stop().await;
}

#[tokio::test]
async fn siprec_two_streams_with_metadata_and_a_re_invite() {
    if !can_run_sipp() {
        return;
    }
    let mut h = start((31300, 31399), |_| {}).await;
    let sipp = run_sipp(h.addr, "siprec.xml", 1, 31393).await;
    // SIPp plays only to the first stream; send the second stream ourselves.
    let started = tokio::time::timeout(Duration::from_secs(10), h.rx.recv())
        .await
        .unwrap()
        .unwrap();
    let hushline::live::CallEvent::Started { ref streams, .. } = started else {
        panic!("{started:?}")
    };
    let port = streams[1].rtp_port;
    let sender = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let tone: Vec<u8> = (0..160)
        .map(|i| if i % 20 < 10 { 0x25 } else { 0xA5 })
        .collect();
    for seq in 0..100u16 {
        sender
            .send_to(
                &rtp(seq, 1000 + 160 * seq as u32, 0xBEEF, 8, &tone),
                ("127.0.0.1", port),
            )
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut logs = std::collections::BTreeMap::new();
    h.record(&mut logs, started);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while logs.values().all(|l: &CallLog| l.ended.is_none()) {
        let ev = tokio::time::timeout_at(deadline, h.rx.recv())
            .await
            .expect("call did not end")
            .unwrap();
        h.record(&mut logs, ev);
    }
    sipp.await.unwrap();
    let log = logs.values().next().unwrap();
    assert_eq!(log.streams.len(), 2);
    assert_eq!(log.streams[0].label.as_deref(), Some("1"));
    assert_eq!(log.streams[1].label.as_deref(), Some("2"));
    assert_eq!(log.streams[0].codec, Codec::Pcmu);
    assert_eq!(log.streams[1].codec, Codec::Pcma);
    let sender_name = |i: usize| {
        log.streams[i]
            .participant
            .as_ref()
            .and_then(|p| p.name.clone())
    };
    assert_eq!(
        (sender_name(0).as_deref(), sender_name(1).as_deref()),
        (Some("Alice"), Some("Bob"))
    );
    assert_eq!(
        log.streams[1].participant.as_ref().unwrap().aor.as_deref(),
        Some("sip:bob@example.com")
    );
    assert_eq!(log.participants.len(), 2);
    assert_eq!(log.metadata.len(), 1, "the re-INVITE's new metadata");
    let (parts, streams) = &log.metadata[0];
    assert!(parts.iter().any(|p| p.name.as_deref() == Some("Carol")));
    assert_eq!(
        streams[1].participant.as_ref().unwrap().name.as_deref(),
        Some("Carol")
    );
    assert_eq!(
        streams[0].rtp_port, log.streams[0].rtp_port,
        "re-INVITE keeps the ports"
    );
    let want = speech_samples();
    let a0 = log.audio[&0].len();
    assert!(
        a0 <= want && a0 + 3 * 160 >= want,
        "stream 0: {a0} of {want}"
    );
    assert_eq!(log.audio[&1].len(), 100 * 160, "stream 1");
    assert_eq!(log.ended, Some(EndReason::Bye));
    let _ = h.stop().await;
}

#[tokio::test]
async fn ten_concurrent_calls_are_kept_apart() {
    if !can_run_sipp() {
        return;
    }
    let mut h = start((31400, 31499), |_| {}).await;
    let sipp = run_sipp(h.addr, "uac_pcmu.xml", 10, 31493).await;
    let logs = h.calls(10, Duration::from_secs(40)).await;
    sipp.await.unwrap();
    assert_eq!(logs.len(), 10);
    let mut ports: Vec<u16> = logs.values().map(|l| l.streams[0].rtp_port).collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 10, "each call has its own RTP port");
    let want = speech_samples();
    for (id, log) in &logs {
        assert_eq!(log.ended, Some(EndReason::Bye), "{id}");
        let n = log.audio.get(&0).map_or(0, Vec::len);
        assert!(
            n <= want && n + 3 * 160 >= want,
            "{id}: {n} of {want} samples"
        );
    }
    let _ = h.stop().await;
}

#[tokio::test]
async fn cancel_before_answer_ends_the_call() {
    if !can_run_sipp() {
        return;
    }
    let mut h = start((31500, 31599), |c| {
        c.answer_delay = Duration::from_millis(1500)
    })
    .await;
    let sipp = run_sipp(h.addr, "cancel.xml", 1, 31593).await;
    let logs = h.calls(1, Duration::from_secs(10)).await;
    sipp.await.unwrap();
    assert_eq!(logs.values().next().unwrap().ended, Some(EndReason::Cancel));
    let _ = h.stop().await;
}

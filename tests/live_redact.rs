//! Live redaction end to end: the `hushline serve` binary against SIPp on loopback, with
//! the real tiny.en model. A PCMU and a PCMA call reading out a card number, a call that
//! keys a card number in (RFC 4733), a SIPREC call with the card on its second stream, and
//! ten concurrent calls. Each must end with an encrypted recording in which the card's
//! audio is bleeped and a masked transcript and feed holding none of its digits.

#[path = "live_common/mod.rs"]
mod live_common;
#[path = "live_serve/mod.rs"]
mod live_serve;

use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use live_common::{can_run_sipp, sipp_dir};
use live_serve::*;

fn card_call(scenario: &str, codec: &str, sip: u16, rtp: (u16, u16), sipp_base: u16) {
    if !can_run_sipp() {
        return;
    }
    let mut serve = Serve::start(sip, rtp);
    let sipp = serve.sipp(scenario, 1, sipp_base);
    let ended = serve.ended(1, Duration::from_secs(120));
    sipp.join().unwrap();
    assert_card_call_redacted(&serve, &ended[0], codec);
    serve.stop();
}

#[test]
fn pcmu_call_reading_a_card_is_redacted_live() {
    card_call("uac_card_pcmu.xml", "PCMU", 35060, (35100, 35199), 35190);
}

#[test]
fn pcma_call_reading_a_card_is_redacted_live() {
    card_call("uac_card_pcma.xml", "PCMA", 35260, (35300, 35399), 35390);
}

#[test]
fn keyed_card_digits_are_bleeped_and_never_transcribed() {
    if !can_run_sipp() {
        return;
    }
    let mut serve = Serve::start(35460, (35500, 35599));
    let sipp = serve.sipp("uac_dtmf.xml", 1, 35590);
    let ended = serve.ended(1, Duration::from_secs(120));
    sipp.join().unwrap();
    let o = outputs(&serve, &ended[0]);
    let call = ended[0]["call"].as_str().unwrap().to_string();
    // dtmf.pcap: 0.5 s of silence, then each digit as 100 ms of events and 100 ms gap.
    for k in 0..KEYED.len() {
        let at = 0.5 + 0.2 * k as f64;
        assert_bleeped(&o, 0, at, at + 0.1, None, &format!("keyed digit {k}"));
    }
    assert_text_clean(&serve, &o, &call, KEYED);
    assert!(
        o.doc.text.chars().all(|c| !c.is_ascii_digit()),
        "no keyed digit in the text"
    );
    let keyed = o
        .doc
        .redactions
        .iter()
        .filter(|r| ["dtmf", "card", "number"].contains(&r.r#type.as_str()))
        .count();
    assert!(keyed >= 1, "{:?}", o.doc.redactions);
    assert!(
        o.doc.redactions.iter().any(|r| r.r#type == "card"),
        "the keyed digits pass Luhn: {:?}",
        o.doc.redactions
    );
    serve.stop();
}

#[test]
fn siprec_call_with_the_card_on_its_second_stream() {
    if !can_run_sipp() {
        return;
    }
    let rtp = (35700, 35799);
    let mut serve = Serve::start(35660, rtp);
    let sipp = serve.sipp("siprec_card.xml", 1, 35790);
    // A fresh server gives the first call the first even ports: the second stream is on
    // the second one. Send the card call there, paced like a phone.
    let card = pcap_rtp(&sipp_dir().join("card_pcma.pcap"));
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let t0 = Instant::now();
    for (i, pkt) in card.iter().enumerate() {
        let due = t0 + Duration::from_millis(20 * i as u64);
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        sock.send_to(pkt, ("127.0.0.1", rtp.0 + 2)).unwrap();
    }
    let ended = serve.ended(1, Duration::from_secs(120));
    sipp.join().unwrap();
    let o = outputs(&serve, &ended[0]);
    let call = ended[0]["call"].as_str().unwrap().to_string();
    assert_eq!(o.channels.len(), 2, "one channel per stream");
    let live = o.doc.metadata.live.as_ref().unwrap();
    assert_eq!(live.streams[0].label.as_deref(), Some("1"));
    assert_eq!(live.streams[1].label.as_deref(), Some("2"));
    assert_eq!(live.streams[1].codec, "PCMA");
    assert!(live.participants.len() >= 2, "{:?}", live.participants);
    assert!(
        live.streams[0].participant.as_deref() == Some("Alice"),
        "{:?}",
        live.streams
    );
    let (start, end) = card_item();
    let original = pcap_audio("card_pcma.pcap");
    assert_bleeped(&o, 1, start, end, Some(&original), "the card on stream 2");
    assert!(redacted_near(&o, 1, start, end), "{:?}", o.doc.redactions);
    assert_text_clean(&serve, &o, &call, CARD);
    assert!(
        o.doc.segments.iter().any(|s| s.channel == 0),
        "stream 1 is transcribed too"
    );
    serve.stop();
}

#[test]
fn ten_concurrent_card_calls_are_all_redacted() {
    if !can_run_sipp() {
        return;
    }
    let mut serve = Serve::start(35860, (35900, 35999));
    let sipp = serve.sipp("uac_card_pcmu.xml", 10, 35990);
    let ended = serve.ended(10, Duration::from_secs(240));
    sipp.join().unwrap();
    let (start, end) = card_item();
    let original = pcap_audio("card_pcmu.pcap");
    let mut calls: Vec<&str> = ended.iter().map(|e| e["call"].as_str().unwrap()).collect();
    calls.sort_unstable();
    calls.dedup();
    assert_eq!(calls.len(), 10);
    for e in &ended {
        let o = outputs(&serve, e);
        let call = e["call"].as_str().unwrap();
        assert_bleeped(
            &o,
            0,
            start,
            end,
            Some(&original),
            &format!("the card of {call}"),
        );
        assert_text_clean(&serve, &o, call, CARD);
    }
    serve.stop();
}

#[test]
fn a_crash_loses_only_the_lookahead_and_the_restart_recovers_the_call() {
    if !can_run_sipp() {
        return;
    }
    let (sip, rtp) = (36060, (36100, 36199));
    let serve = Serve::start(sip, rtp);
    let mut sipp = serve
        .sipp_command("uac_card_pcmu.xml", 1, 36190)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // 17 s into the call: about 12 s released, part of the card among it.
    std::thread::sleep(Duration::from_secs(17));
    let dir = serve.crash();
    let _ = sipp.kill();
    let _ = sipp.wait();
    let out = dir.path().join("out");
    let names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names
            .iter()
            .any(|n| n.starts_with('.') && n.contains(".wav.enc.")),
        "an unfinished recording: {names:?}"
    );
    for name in &names {
        let bytes = std::fs::read(out.join(name)).unwrap();
        assert!(
            !bytes.windows(4).any(|w| w == b"RIFF"),
            "{name} holds plaintext audio"
        );
    }

    let serve = Serve::start_in(dir, sip, rtp);
    let recovered: Vec<PathBuf> = std::fs::read_dir(serve.out())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".transcript.json"))
        .collect();
    assert_eq!(recovered.len(), 1, "the call is recovered at start-up");
    let stem = recovered[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .replace(".transcript.json", "");
    let ended = serde_json::json!({
        "transcript": format!("{stem}.transcript.json"),
        "recording": format!("{stem}.wav.enc"),
    });
    let o = outputs(&serve, &ended);
    let seconds = o.channels[0].len() as f64 / f64::from(o.rate);
    assert!(
        (8.0..=13.5).contains(&seconds),
        "kept {seconds:.1} s of 17 s: the look-ahead (5 s) and at most a chunk are lost"
    );
    assert!(
        o.doc
            .metadata
            .fail_closed
            .iter()
            .any(|n| n.contains("recovered after a crash")),
        "{:?}",
        o.doc.metadata.fail_closed
    );
    // The checkpoint holds the words recognised by then; on a loaded machine recognition
    // may not have caught up, which the transcript must then say.
    let behind = o.doc.metadata.live.as_ref().unwrap().unchecked_s > 0.0;
    assert!(
        o.doc.text.to_lowercase().contains("thank you for calling") || behind,
        "the checkpointed words: {}",
        o.doc.text
    );
    let (start, _) = card_item();
    if seconds > start + 0.3 {
        let original = pcap_audio("card_pcmu.pcap");
        assert_bleeped(
            &o,
            0,
            start,
            seconds - 0.3,
            Some(&original),
            "the released part of the card",
        );
    }
    assert_no_digits_of(&o.doc.text, CARD, "the recovered transcript");
    serve.stop();
}

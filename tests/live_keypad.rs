//! Keyed digits in live calls, end to end with the real model: `hushline serve` against
//! SIPp playing PCMU in which a caller keys a card (at Q.24's limits), `#` and the code
//! as tones, then three keys while talking, once as tones only and once with the same
//! presses also sent as RFC 4733 events. The recording must hold nothing multimon-ng can read, and the transcript must
//! list the keyed card and code, once each, from the keypad, with no digit in its text.

#[path = "live_common/mod.rs"]
mod live_common;
#[path = "live_serve/mod.rs"]
mod live_serve;

mod dtmf_support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use dtmf_support::{multimon, Call, CODE};
use hushline::audio::dtmf::ToneSpec;
use hushline::store::TranscriptDoc;
use live_common::{can_run_sipp, sipp_dir};
use live_serve::{outputs, Serve};

/// The caller's side of a call: a few words, the keys, and three more keys pressed while
/// talking (drowned for a strict receiver, not for multimon-ng).
fn keyed_call() -> Call {
    let mut call = Call::new(8_000, 1);
    call.pause(0, 0.5);
    call.say(0, "en-gb", "I will key it in now.");
    call.pause(0, 0.6);
    call.key_card_and_code(0);
    let quieter = ToneSpec {
        row_dbm0: -14.0,
        col_dbm0: -12.0,
        ..ToneSpec::default()
    };
    let words = (
        0,
        "en-gb",
        "That is done, and is there anything else you need?",
    );
    call.say_over_keys(words, (0, "585", quieter), 0.9);
    call.pause(0, 0.5);
    call
}

/// Writes the call's PCMU pcap (with RFC 4733 events for its presses when `events`) and a
/// scenario playing it into `dir`; returns the scenario's file name.
fn scenario(dir: &Path, call: &Call, events: bool) -> String {
    let wav = dir.join("keyed.wav");
    call.write(&wav, None);
    let script = sipp_dir().join("make_pcaps.py");
    let mut cmd = Command::new("python3");
    cmd.arg(&script);
    if events {
        // The card, `#` and code as events too; the keys pressed while talking stay tones
        // only (as the last three presses).
        let keys: String = call.presses[..call.presses.len() - 3]
            .iter()
            .map(|(_, k, a, b)| format!("{k} {a:.4} {b:.4}\n"))
            .collect();
        std::fs::write(dir.join("keys.txt"), keys).unwrap();
        cmd.args(["--call-with-events", "keyed"])
            .arg(&wav)
            .arg(dir.join("keys.txt"));
    } else {
        cmd.args(["--call", "keyed"]).arg(&wav);
    }
    let status = cmd.arg(dir).status().expect("python3");
    assert!(status.success(), "make_pcaps.py failed");
    let template = std::fs::read_to_string(sipp_dir().join("uac_card_pcmu.xml")).unwrap();
    let pause = format!("{}", (call.now() * 1000.0) as u64 + 500);
    let xml = template
        .replace("card_pcmu.pcap", "keyed_pcmu.pcap")
        .replace(
            "milliseconds=\"22000\"",
            &format!("milliseconds=\"{pause}\""),
        );
    std::fs::write(dir.join("uac_keyed.xml"), xml).unwrap();
    "uac_keyed.xml".into()
}

/// The keyed card and code are listed once each, from the keypad; no key is in any text,
/// and the tags stand where they were keyed.
fn check_transcript(doc: &TranscriptDoc, what: &str) {
    for kind in ["card", "cvv"] {
        let keyed: Vec<_> = doc
            .redactions
            .iter()
            .filter(|r| r.r#type == kind && r.source.as_deref() == Some("keypad"))
            .collect();
        assert_eq!(
            keyed.len(),
            1,
            "{what}: one keyed {kind}: {:?}; text {:?}",
            doc.redactions,
            doc.text
        );
    }
    assert!(
        !doc.redactions.iter().any(|r| r.r#type == "number"),
        "{what}: every press counted once: {:?}",
        doc.redactions
    );
    for s in &doc.segments {
        assert!(
            !s.text
                .chars()
                .any(|c| c.is_ascii_digit() || c == '#' || c == '*'),
            "{what}: a key in the text {:?}",
            s.text
        );
    }
    assert!(
        doc.text.contains("[CARD]") && doc.text.contains("[CVV]"),
        "{what}: {}",
        doc.text
    );
    assert!(
        doc.redactions
            .iter()
            .any(|r| r.r#type == "dtmf" && r.reason.contains("under other sound")),
        "{what}: the keys under the voice are listed: {:?}",
        doc.redactions
    );
}

#[test]
fn keyed_tones_in_pcmu_leave_nothing_decodable_and_count_once_with_their_events() {
    if !can_run_sipp() {
        return;
    }
    let call = keyed_call();
    let dir = tempfile::tempdir().unwrap();
    let speech = dir.path().join("speech.wav");
    call.write_speech_only(&speech, Some("mu-law"));
    assert_eq!(multimon(&speech, 0), "", "talk-off of the decoder itself");
    let sent = dir.path().join("sent.wav");
    call.write(&sent, Some("mu-law"));
    let read = multimon(&sent, 0);
    assert!(
        read.len() >= 12 && read.ends_with(&format!("#{CODE}585")),
        "the decoder reads the call as sent: {} keys",
        read.len()
    );

    let mut serve = Serve::start(36260, (36300, 36399));
    for (n, events) in [(1, false), (2, true)] {
        let what = if events { "tones and events" } else { "tones" };
        let own = tempfile::tempdir().unwrap();
        let name = scenario(own.path(), &call, events);
        let sipp = serve.sipp_in(own.path(), &name, 1, 36390 - 10 * n as u16);
        let ended = serve.ended(n, Duration::from_secs(180));
        sipp.join().unwrap();
        let o = outputs(&serve, &ended[n - 1]);
        let recording = dir.path().join(format!("recording{n}.wav"));
        dtmf_support::write_wav(&recording, o.rate, &o.channels);
        assert_eq!(multimon(&recording, 0), "", "{what}: the recording");
        check_transcript(&o.doc, what);
    }
    serve.stop();
}

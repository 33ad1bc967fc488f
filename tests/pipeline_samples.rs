//! End to end on `samples/`: every sample call is redacted with the real model, its
//! recording decrypted in memory and compared with the original audio against the
//! ground truth: every item's audible audio bleeped, no item digits in the transcript,
//! decoys and innocent speech audible.

mod common;

use std::sync::atomic::AtomicBool;

use hushline::pipeline;

/// Redacts every sample spoken in `language` with `model` and checks it against its
/// ground truth; returns how many samples were checked.
fn check_samples(model: &str, language: &str) -> Option<usize> {
    let engine = common::engine(model, language)?;
    let out = tempfile::tempdir().unwrap();
    let cancel = AtomicBool::new(false);
    let mut checked = 0;
    for (input, truth) in common::samples() {
        if truth.language != language {
            continue;
        }
        let report = pipeline::process_file(&engine.engine, &input, out.path(), &cancel)
            .unwrap_or_else(|e| panic!("{}: {e}", input.display()));
        let scored = common::score(
            &input,
            &report.recording,
            &report.transcript,
            &truth,
            &engine.keyring,
        );
        for item in &scored.items {
            assert!(
                item.covered >= 1.0 && !item.text_leak,
                "{}: {} at {:.2}-{:.2}s leaked: {:.1}% of its audio bleeped ({:.2}s audible), text leak {}",
                input.display(),
                item.kind,
                item.start,
                item.end,
                item.covered * 100.0,
                item.leaked_s,
                item.text_leak
            );
        }
        for decoy in &scored.decoys {
            assert!(
                decoy.bleeped < 0.5,
                "{}: decoy {} at {:.2}s was bleeped ({:.0}%)",
                input.display(),
                decoy.kind,
                decoy.start,
                decoy.bleeped * 100.0
            );
        }
        // Every string of the transcript (not its numbers: a CVV's three digits turn up
        // in times like 12.641 s by chance).
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&report.transcript).unwrap()).unwrap();
        let mut strings = Vec::new();
        collect_strings(&json, &mut strings);
        let text = strings.join(" ");
        for item in &truth.items {
            assert!(
                !text.contains(&item.digits),
                "{}: an item's digits are in the transcript's text",
                input.display()
            );
        }
        checked += 1;
    }
    Some(checked)
}

#[test]
fn every_english_sample_is_redacted_without_leaks() {
    if let Some(checked) = check_samples("tiny.en", "en") {
        assert!(
            checked >= 5,
            "expected the English sample calls, found {checked}"
        );
    }
}

#[test]
fn the_chinese_sample_is_redacted_without_leaks() {
    if let Some(checked) = check_samples("base", "zh") {
        assert!(checked >= 1, "expected a Chinese sample call");
    }
}

#[test]
fn outputs_are_only_the_encrypted_recording_and_masked_transcript() {
    let Some(engine) = common::engine("tiny.en", "en") else {
        return;
    };
    let (input, _) = common::samples()
        .into_iter()
        .find(|(_, t)| t.language == "en")
        .unwrap();
    let out = tempfile::tempdir().unwrap();
    pipeline::process_file(&engine.engine, &input, out.path(), &AtomicBool::new(false)).unwrap();
    let mut names: Vec<String> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let stem = input.file_stem().unwrap().to_string_lossy();
    assert_eq!(
        names,
        vec![format!("{stem}.transcript.json"), format!("{stem}.wav.enc")]
    );
    // The recording is not a WAV in disguise.
    let bytes = std::fs::read(out.path().join(format!("{stem}.wav.enc"))).unwrap();
    assert!(!bytes.windows(4).any(|w| w == b"RIFF" || w == b"WAVE"));
}

fn collect_strings(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        serde_json::Value::Object(o) => o.values().for_each(|x| collect_strings(x, out)),
        _ => {}
    }
}

//! End to end: one `hushline batch --lang auto` over a folder holding an English call, a
//! Mandarin call and a file that is not audio. Each call is transcribed by the model its
//! spoken language needs (found by Whisper's language identification, not by its name),
//! its sensitive number is redacted, and the broken file is reported and skipped.

use std::path::Path;
use std::process::Command;

fn hushline(args: &[&str]) -> std::process::Output {
    // From the checkout, so the models in ./models are used.
    Command::new(env!("CARGO_BIN_EXE_hushline"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("HUSHLINE_CONFIG")
        .env_remove("HUSHLINE_RULES")
        .output()
        .expect("hushline runs")
}

fn json(path: &Path) -> serde_json::Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).expect("valid JSON")
}

#[test]
fn one_batch_holds_english_and_mandarin_calls() {
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    let tmp = tempfile::tempdir().unwrap();
    let calls = tmp.path().join("calls");
    let out = tmp.path().join("out");
    std::fs::create_dir_all(&calls).unwrap();
    // Names that do not say the language: the choice must come from the audio.
    for (sample, name) in [("card_digits", "call-a"), ("cn_id", "call-b")] {
        std::fs::copy(
            samples.join(format!("{sample}.wav")),
            calls.join(format!("{name}.wav")),
        )
        .unwrap();
    }
    std::fs::write(calls.join("call-c.wav"), b"RIFF but not a wave file").unwrap();
    let key = tmp.path().join("batch.key");
    let keygen = hushline(&["keygen", "--out", key.to_str().unwrap()]);
    assert!(keygen.status.success(), "keygen: {keygen:?}");

    let run = hushline(&[
        "batch",
        calls.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--lang",
        "auto",
        "--key-file",
        key.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success(), "a broken input fails the batch");
    assert!(
        stdout.contains("2 redacted"),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(stdout.contains("1 failed"), "stdout: {stdout}");
    assert!(
        stdout.contains("call-c.wav"),
        "the broken file is named: {stdout}"
    );

    for (name, sample, language, model) in [
        ("call-a", "card_digits", "en", "tiny.en"),
        ("call-b", "cn_id", "zh", "base"),
    ] {
        let transcript = json(&out.join(format!("{name}.transcript.json")));
        let truth = json(&samples.join(format!("{sample}.truth.json")));
        let meta = &transcript["metadata"];
        assert_eq!(meta["language"], language, "{name}: {meta}");
        assert_eq!(meta["model"], model, "{name}: {meta}");
        let text = transcript["text"].as_str().unwrap();
        let digits_heard: String = text.chars().filter(char::is_ascii_digit).collect();
        for item in truth["items"].as_array().unwrap() {
            let digits = item["digits"].as_str().unwrap();
            assert!(
                !digits_heard.contains(&digits[digits.len() - 4..]),
                "{name}: the {} keeps its last digits in the text",
                item["type"]
            );
        }
        assert!(
            !transcript["redactions"].as_array().unwrap().is_empty(),
            "{name}: nothing redacted"
        );
        assert!(out.join(format!("{name}.wav.enc")).exists());
    }
    assert!(!out.join("call-c.transcript.json").exists());
}

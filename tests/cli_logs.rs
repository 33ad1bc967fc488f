//! Logs as operators ingest them: `--log-format json` writes one JSON object per line, a
//! redirected text log has no colour codes, and a junk MP3's flood of demuxer warnings is
//! folded into that file's one error line.

mod scale_common;

use scale_common::*;

/// Noise named .mp3: the demuxer warns about every false frame header it syncs to.
fn junk_mp3() -> Vec<u8> {
    junk_bytes(20_000)
}

fn batch(format: &str) -> String {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("in");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("junk.mp3"), junk_mp3()).unwrap();
    let key = key_file(work.path());
    let out = hushline(None)
        .args(["--log-format", format, "batch"])
        .arg(&src)
        .arg("--out")
        .arg(work.path().join("out"))
        .arg("--key-file")
        .arg(&key)
        .output()
        .unwrap();
    assert!(!out.status.success(), "a junk file must fail the batch");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_junk_file_gets_one_json_error_line() {
    if !model_ready() {
        return;
    }
    let log = batch("json");
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    let about_junk: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l.to_string().contains("junk.mp3"))
        .collect();
    assert_eq!(about_junk.len(), 1, "{log}");
    assert_eq!(about_junk[0]["level"], "ERROR", "{log}");
    assert!(
        about_junk[0].to_string().contains("decoder warning"),
        "{log}"
    );
    assert!(
        lines
            .iter()
            .all(|l| !l["target"].as_str().unwrap_or("").starts_with("symphonia")),
        "dependency warnings leaked: {log}"
    );
}

#[test]
fn a_redirected_text_log_has_no_colour_and_folds_warnings() {
    if !model_ready() {
        return;
    }
    let log = batch("text");
    assert!(!log.contains('\u{1b}'), "{log}");
    let about_junk: Vec<&str> = log.lines().filter(|l| l.contains("junk.mp3")).collect();
    assert_eq!(about_junk.len(), 1, "{log}");
    assert!(about_junk[0].contains("decoder warning"), "{log}");
    assert!(!log.lines().any(|l| l.contains(" WARN ")), "{log}");
}

//! Object storage in and out, against a real S3-compatible server (s3s-fs, started here):
//! `redact` and `batch` read calls from `s3://` and `file://` URLs into memory and upload
//! the outputs under the input's key; a large output goes up in parts and is invisible
//! until complete; a rerun skips complete outputs; credentials come from the standard
//! AWS variables (wrong ones are an error naming the URL, not a leak of the secret).

mod scale_common;

use std::io::Write;
use std::path::Path;

use hushline::io::{Location, Output, StorePrefix};
use scale_common::*;

fn put(url: &str, key: &str, bytes: &[u8]) {
    let loc = Location::parse(url).unwrap();
    let (dir, name) = key.rsplit_once('/').unwrap_or(("", key));
    let mut out = loc.join(dir).create(name).unwrap();
    out.write_all(bytes).unwrap();
    out.commit().unwrap();
}

fn keys(url: &str) -> Vec<String> {
    let Location::Store(prefix) = Location::parse(url).unwrap() else {
        panic!("not a store URL")
    };
    prefix.list().unwrap().into_iter().map(|e| e.key).collect()
}

#[test]
fn large_uploads_go_in_parts_and_appear_only_when_complete() {
    let _turn = serial();
    let Some(s3) = s3(&["bucket"]) else { return };
    set_aws_env(&s3);
    let prefix = StorePrefix::parse("s3://bucket/big")
        .unwrap()
        .with_upload_buffer(hushline::io::object::MIN_PART);
    let data: Vec<u8> = (0..12_000_000u32).map(|i| (i % 251) as u8).collect();
    let mut out: Box<dyn Output> = Box::new(prefix.create("x.bin"));
    for part in data.chunks(64 * 1024) {
        out.write_all(part).unwrap();
    }
    // Parts reach the server (uploaded in the background as they fill), but no object
    // is visible before completion.
    let parts = || {
        std::fs::read_dir(s3.dir.path())
            .unwrap()
            .filter(|e| {
                let name = e.as_ref().unwrap().file_name();
                name.to_string_lossy().starts_with(".upload_id-")
            })
            .count()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while parts() < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(parts() >= 2, "no parts uploaded before completion");
    assert!(keys("s3://bucket/big").is_empty());
    out.commit().unwrap();
    assert_eq!(keys("s3://bucket/big"), vec!["x.bin".to_string()]);
    assert_eq!(&*prefix.read("x.bin", u64::MAX).unwrap(), &data[..]);

    // An upload dropped before commit leaves nothing.
    let mut dropped = prefix.create("y.bin");
    dropped.write_all(&data[..7_000_000]).unwrap();
    drop(dropped);
    assert_eq!(keys("s3://bucket/big"), vec!["x.bin".to_string()]);
}

#[test]
fn redact_and_batch_read_and_write_object_storage() {
    if !model_ready() {
        return;
    }
    let _turn = serial();
    let Some(s3) = s3(&["inbox", "outbox"]) else {
        return;
    };
    set_aws_env(&s3);
    let work = tempfile::tempdir().unwrap();
    let key = key_file(work.path());
    put(
        "s3://inbox/calls",
        "a/one.wav",
        &clip("card_digits.wav", 0.0, 6.0),
    );
    put(
        "s3://inbox/calls",
        "b/two.wav",
        &clip("ssn_cvv_expiry.wav", 0.0, 6.0),
    );
    put("s3://inbox/calls", "notes.txt", b"not audio");

    let run = |args: &[&str]| {
        let out = hushline(Some(&s3))
            .args(args)
            .arg("--key-file")
            .arg(&key)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}:\n{text}");
        text
    };
    // One object to another store prefix.
    run(&[
        "redact",
        "s3://inbox/calls/a/one.wav",
        "--out",
        "s3://outbox/single",
    ]);
    assert_eq!(
        keys("s3://outbox/single"),
        vec!["one.transcript.json", "one.wav.enc"]
    );

    // A whole prefix, keeping relative keys; the report goes beside the outputs.
    let text = run(&[
        "batch",
        "s3://inbox/calls",
        "--out",
        "s3://outbox/batch",
        "--jobs",
        "2",
    ]);
    assert!(
        text.contains("2 redacted, 0 already done, 0 failed"),
        "{text}"
    );
    assert_eq!(
        keys("s3://outbox/batch"),
        vec![
            "a/one.transcript.json",
            "a/one.wav.enc",
            "b/two.transcript.json",
            "b/two.wav.enc",
            "batch-report.json"
        ]
    );
    let keyring = hushline::store::load_keyring(&key).unwrap();
    let out = Location::parse("s3://outbox/batch/a").unwrap();
    let recording = out.read_small("one.wav.enc").unwrap().unwrap();
    let info =
        hushline::store::verify_bytes(&recording, Path::new("one.wav.enc"), &keyring).unwrap();
    assert!((info.duration_s - 6.0).abs() < 0.01);
    let doc: serde_json::Value =
        serde_json::from_slice(&out.read_small("one.transcript.json").unwrap().unwrap()).unwrap();
    assert_eq!(doc["metadata"]["source"], "one.wav");

    // Resumable: a rerun verifies the outputs and skips them.
    let again = run(&["batch", "s3://inbox/calls", "--out", "s3://outbox/batch"]);
    assert!(again.contains("0 redacted, 2 already done"), "{again}");

    // file:// on both sides goes through the same store layer.
    let local_in = format!("file://{}", s3.bucket_dir("inbox").join("calls").display());
    let local_out = format!("file://{}", work.path().join("local-out").display());
    let text = run(&["batch", &local_in, "--out", &local_out]);
    assert!(text.contains("2 redacted"), "{text}");
    assert!(work.path().join("local-out/b/two.wav.enc").is_file());
}

#[test]
fn wrong_credentials_fail_with_the_url_and_without_the_secret() {
    if !model_ready() {
        return;
    }
    let _turn = serial();
    let Some(s3) = s3(&["inbox"]) else { return };
    let work = tempfile::tempdir().unwrap();
    let key = key_file(work.path());
    let out = hushline(Some(&s3))
        .env("AWS_SECRET_ACCESS_KEY", "wrong-secret-value")
        .args(["redact", "s3://inbox/x.wav", "--out"])
        .arg(work.path())
        .arg("--key-file")
        .arg(&key)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(text.contains("s3://inbox/x.wav"), "{text}");
    assert!(!text.contains("wrong-secret-value"), "{text}");
    assert!(
        !text.contains('\u{1b}'),
        "colour codes in a redirected log: {text}"
    );
}

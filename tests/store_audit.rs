//! The audit log: chained appends, every kind of edit detected, and audited read-back
//! that records before it releases anything.

use std::fs;
use std::path::Path;

use hushline::store::audit::{append, verify, AuditEntry};
use hushline::store::{
    decrypt_file_audited, rewrap_file_audited, Keyring, MasterKey, RecordingWriter, StoreError,
};

fn log_with(n: usize, dir: &Path) -> std::path::PathBuf {
    let log = dir.join("audit.log");
    for i in 0..n {
        let entry = AuditEntry::decrypt(Path::new(&format!("call{i}.wav.enc")), "k1", "dispute");
        append(&log, entry).unwrap();
    }
    log
}

fn lines(log: &Path) -> Vec<String> {
    fs::read_to_string(log)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

fn write_lines(log: &Path, lines: &[String]) {
    fs::write(
        log,
        lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
    )
    .unwrap();
}

fn broken_at(log: &Path) -> u64 {
    match verify(log) {
        Err(StoreError::AuditBroken { line, .. }) => line,
        other => panic!("expected a broken chain, got {other:?}"),
    }
}

#[test]
fn appends_chain_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_with(5, dir.path());
    let report = verify(&log).unwrap();
    assert_eq!(report.entries, 5);
    let l = lines(&log);
    let last: serde_json::Value = serde_json::from_str(&l[4]).unwrap();
    assert_eq!(report.last_hash, last["hash"]);
    assert_eq!(last["seq"], 5);
    assert_eq!(last["action"], "decrypt");
    assert!(last["time"].as_str().unwrap().ends_with('Z'));
    assert!(!dir.path().join("audit.log.lock").exists());
}

#[test]
fn edits_deletions_insertions_and_reordering_are_detected() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_with(5, dir.path());
    let orig = lines(&log);

    let mut l = orig.clone();
    l[2] = l[2].replace("dispute", "disputf");
    write_lines(&log, &l);
    assert_eq!(broken_at(&log), 3);

    let mut l = orig.clone();
    l.remove(1);
    write_lines(&log, &l);
    assert_eq!(broken_at(&log), 2);

    let mut l = orig.clone();
    l.remove(0);
    write_lines(&log, &l);
    assert_eq!(broken_at(&log), 1);

    let mut l = orig.clone();
    l.swap(1, 2);
    write_lines(&log, &l);
    assert_eq!(broken_at(&log), 2);

    let mut l = orig.clone();
    l.insert(3, orig[3].clone()); // a replayed line: the second copy is out of sequence
    write_lines(&log, &l);
    assert_eq!(broken_at(&log), 5);

    // Whitespace-only edits change the canonical form.
    let mut l = orig.clone();
    l[4] = l[4].replacen(":", ": ", 1);
    write_lines(&log, &l);
    assert_eq!(broken_at(&log), 5);

    // A cut-off last line.
    let mut text = fs::read_to_string(&log).unwrap();
    text.truncate(text.len() - 10);
    fs::write(&log, text).unwrap();
    assert!(verify(&log).is_err());

    // Appending refuses to extend a broken tail.
    let e = append(&log, AuditEntry::decrypt(Path::new("x"), "k1", "r")).unwrap_err();
    assert!(matches!(e, StoreError::AuditBroken { .. }));

    // Dropping lines off the end keeps a valid chain but changes the last hash.
    write_lines(&log, &orig[..3]);
    let cut = verify(&log).unwrap();
    write_lines(&log, &orig);
    assert_ne!(cut.last_hash, verify(&log).unwrap().last_hash);
}

#[test]
fn audited_decrypt_and_rewrap_record_before_releasing() {
    let dir = tempfile::tempdir().unwrap();
    let k1 = Keyring::from_keys(vec![MasterKey::from_bytes("k1", [1; 32]).unwrap()]).unwrap();
    let k2 = MasterKey::from_bytes("k2", [2; 32]).unwrap();
    let enc = dir.path().join("call.wav.enc");
    let out = dir.path().join("call.wav");
    let log = dir.path().join("audit.log");
    let mut w = RecordingWriter::create(&enc, k1.primary(), 8000, 1, 16).unwrap();
    w.write_interleaved(&[0.1; 8000]).unwrap();
    w.finish().unwrap();

    let e = decrypt_file_audited(&enc, &out, &k1, &log, "  ").unwrap_err();
    assert!(matches!(e, StoreError::MissingReason));
    assert!(!out.exists() && !log.exists());

    decrypt_file_audited(&enc, &out, &k1, &log, "chargeback 77").unwrap();
    assert!(out.exists());
    rewrap_file_audited(&enc, &k1, &k2, &log, "annual rotation").unwrap();
    assert_eq!(verify(&log).unwrap().entries, 2);
    let l = lines(&log);
    let rewrap: serde_json::Value = serde_json::from_str(&l[1]).unwrap();
    assert_eq!(
        (rewrap["key_id"].as_str(), rewrap["new_key_id"].as_str()),
        (Some("k1"), Some("k2"))
    );

    // A broken log blocks read-back: no output without a record.
    fs::remove_file(&out).unwrap();
    fs::write(&log, "not json\n").unwrap();
    let k2ring = Keyring::from_keys(vec![k2]).unwrap();
    let e = decrypt_file_audited(&enc, &out, &k2ring, &log, "again").unwrap_err();
    assert!(matches!(e, StoreError::AuditBroken { .. }));
    assert!(!out.exists());
}

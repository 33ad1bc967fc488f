//! `--lang auto`: Whisper's language identification (multilingual base) tells the
//! committed English and Mandarin sample calls apart, from their opening speech.

use std::path::PathBuf;

use hushline::asr::language::LanguageId;
use hushline::audio::AudioSource;
use hushline::pipeline::language::call_language;

fn base_model() -> Option<PathBuf> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/ggml-base.bin");
    if path.is_file() {
        Some(path)
    } else {
        eprintln!(
            "SKIPPED: no base model at {} (run `make model`)",
            path.display()
        );
        None
    }
}

fn sample(name: &str) -> AudioSource {
    AudioSource::File(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("samples")
            .join(name),
    )
}

#[test]
fn english_and_mandarin_calls_are_told_apart() {
    let Some(path) = base_model() else {
        return;
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let lid = LanguageId::load(&path, threads).expect("base loads");
    let candidates = ["en", "zh"];
    for (file, want) in [("cn_id.wav", "zh"), ("card_digits.wav", "en")] {
        let got = call_language(&lid, &sample(file), &candidates).expect("identified");
        assert_eq!(got.as_deref(), Some(want), "{file}");
    }
}

#[test]
fn english_only_models_cannot_identify_languages() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/ggml-tiny.en.bin");
    if !path.is_file() {
        return;
    }
    assert!(LanguageId::load(&path, 1).is_err());
}

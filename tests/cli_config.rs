//! End to end: the one configuration file places hushline's files where operators expect
//! them, whatever folder it is run from. Run from an archive's folder with a config
//! (by `--config` and by `HUSHLINE_CONFIG`), `redact`, `decrypt` and `audit verify` use
//! the configured models, key and audit log: no model is fetched into the working folder
//! and no `audit.log` appears beside the archive; every read-back lands in one log.

mod common;

use std::path::Path;
use std::process::{Command, Output};

fn hushline(cwd: &Path, home: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hushline"));
    cmd.args(args)
        .current_dir(cwd)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("XDG_STATE_HOME", home.join("state"))
        .env_remove("HUSHLINE_CONFIG")
        .env_remove("HUSHLINE_MODELS_DIR")
        .env_remove("HUSHLINE_KEY_FILE")
        .env_remove("HUSHLINE_AUDIT_LOG")
        .env_remove("HUSHLINE_RULES");
    cmd
}

fn ok(out: Output, what: &str) -> Output {
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn a_config_file_places_models_key_and_audit_log_for_any_working_folder() {
    let models = common::root().join("models");
    if !models.join("ggml-tiny.en.bin").exists() {
        eprintln!("SKIP: models/ggml-tiny.en.bin missing; run `make model` (make test does)");
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let archive = tempfile::tempdir().unwrap();
    let secrets = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    std::fs::copy(
        common::root().join("samples/card_digits.wav"),
        archive.path().join("call.wav"),
    )
    .unwrap();
    let key = secrets.path().join("master.key");
    let audit = state.path().join("audit.log");
    ok(
        hushline(
            archive.path(),
            home.path(),
            &["keygen", "--out", key.to_str().unwrap()],
        )
        .output()
        .unwrap(),
        "keygen",
    );
    let config = secrets.path().join("hushline.toml");
    std::fs::write(
        &config,
        format!(
            "models_dir = {:?}\nkey_file = {:?}\naudit_log = {:?}\n",
            models.display().to_string(),
            key.display().to_string(),
            audit.display().to_string()
        ),
    )
    .unwrap();
    let cfg = config.to_str().unwrap();

    // By flag: redact, then read the recording back once.
    ok(
        hushline(
            archive.path(),
            home.path(),
            &["--config", cfg, "redact", "call.wav", "--out", "out"],
        )
        .output()
        .unwrap(),
        "redact --config",
    );
    assert!(archive.path().join("out/call.wav.enc").exists());
    assert!(archive.path().join("out/call.transcript.json").exists());
    ok(
        hushline(
            archive.path(),
            home.path(),
            &[
                "--config",
                cfg,
                "decrypt",
                "out/call.wav.enc",
                "--out",
                "heard.wav",
                "--reason",
                "dispute review",
            ],
        )
        .output()
        .unwrap(),
        "decrypt --config",
    );

    // By environment, from another folder: the same log gets the second read-back.
    let elsewhere = tempfile::tempdir().unwrap();
    let enc = archive.path().join("out/call.wav.enc");
    ok(
        hushline(
            elsewhere.path(),
            home.path(),
            &[
                "decrypt",
                enc.to_str().unwrap(),
                "--out",
                "again.wav",
                "--reason",
                "quality check",
            ],
        )
        .env("HUSHLINE_CONFIG", cfg)
        .output()
        .unwrap(),
        "decrypt with HUSHLINE_CONFIG",
    );

    let log = std::fs::read_to_string(&audit).expect("the configured audit log was written");
    assert_eq!(log.lines().count(), 2, "both read-backs in one log: {log}");
    ok(
        hushline(
            archive.path(),
            home.path(),
            &["--config", cfg, "audit", "verify"],
        )
        .output()
        .unwrap(),
        "audit verify",
    );
    for dir in [archive.path(), elsewhere.path()] {
        assert!(
            !dir.join("models").exists(),
            "no model fetched into {dir:?}"
        );
        assert!(
            !dir.join("audit.log").exists(),
            "no audit log beside {dir:?}"
        );
    }
    assert!(
        !home.path().join("cache/hushline/models").exists(),
        "the configured models folder was used, not the cache"
    );
}

#[test]
fn a_broken_config_file_is_named_in_the_error() {
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("hushline.toml");
    std::fs::write(&config, "model_dir = \"/nowhere\"\n").unwrap();
    let out = hushline(
        home.path(),
        home.path(),
        &["--config", config.to_str().unwrap(), "audit", "verify"],
    )
    .output()
    .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("hushline.toml"), "{err}");
    assert!(err.contains("model_dir"), "{err}");
}

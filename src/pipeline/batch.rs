//! Batch runs over a recording archive (a folder or an object store prefix): finds audio
//! inputs recursively, skips inputs whose outputs are complete and verify, processes the
//! rest on worker threads, reports each bad input with its reason and goes on.
//!
//! Owns scheduling, resumption and the run report; does not print (the CLI renders
//! [`BatchEvent`]s and the [`BatchReport`]). Outputs mirror the source tree so two
//! `call.wav` in different folders cannot collide.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crossbeam_channel::{bounded, unbounded};

use super::choose::EngineChoice;
use super::{process, FileReport, PipelineError};
use crate::io::{key_dir, output_names, InputEntry, Location};
use crate::store::Keyring;

pub use crate::io::AUDIO_EXTENSIONS;

#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum FileOutcome {
    Done(FileReport),
    Skipped { input: PathBuf, why: String },
    Failed { input: PathBuf, error: String },
}

/// Progress notifications, sent as each file finishes.
pub enum BatchEvent<'a> {
    Started { total: usize, ignored: usize },
    Finished(&'a FileOutcome),
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct BatchReport {
    pub source: PathBuf,
    pub out: PathBuf,
    pub jobs: usize,
    pub ignored_files: usize,
    pub wall_s: f64,
    pub audio_s: f64,
    pub cancelled: bool,
    pub files: Vec<FileOutcome>,
}

impl BatchReport {
    pub fn count(&self, pick: fn(&FileOutcome) -> bool) -> usize {
        self.files.iter().filter(|f| pick(f)).count()
    }
    pub fn failed(&self) -> usize {
        self.count(|f| matches!(f, FileOutcome::Failed { .. }))
    }
}

/// Audio files under `root` (recursively, following symlinks, sorted), and how many
/// other files were ignored.
pub fn find_inputs(root: &Path) -> Result<(Vec<PathBuf>, usize), PipelineError> {
    let (entries, ignored) = Location::Dir(root.to_path_buf()).list_audio()?;
    let paths = entries
        .iter()
        .map(|e| match e.key.as_str() {
            "" => root.to_path_buf(),
            key => root.join(key),
        })
        .collect();
    Ok((paths, ignored))
}

/// Where the outputs of `input` go: `out` plus the input's folder relative to `source`.
pub fn output_dir_for(input: &Path, source: &Path, out: &Path) -> PathBuf {
    let relative_dir = input
        .parent()
        .and_then(|p| p.strip_prefix(source).ok())
        .unwrap_or(Path::new(""));
    out.join(relative_dir)
}

/// True when both outputs of `input` exist, the transcript parses and the recording
/// authenticates under `keyring`.
pub fn outputs_complete(input: &Path, out_dir: &Path, keyring: &Keyring) -> bool {
    outputs_complete_at(input, &Location::Dir(out_dir.to_path_buf()), keyring)
}

/// [`outputs_complete`] for outputs in any [`Location`] (an object store prefix: the
/// recording is read into memory to be authenticated).
pub fn outputs_complete_at(input: &Path, out: &Location, keyring: &Keyring) -> bool {
    let (recording, transcript) = output_names(input);
    let transcript_ok = out
        .read_small(&transcript)
        .ok()
        .flatten()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .is_some_and(|v| v.get("text").is_some());
    transcript_ok
        && match out {
            Location::Dir(dir) => crate::store::verify_file(&dir.join(recording), keyring).is_ok(),
            Location::Store(_) => out.read_small(&recording).ok().flatten().is_some_and(|b| {
                crate::store::verify_bytes(&b, Path::new(&out.display(&recording)), keyring).is_ok()
            }),
        }
}

/// Runs `engine` over every audio file under `source` with `jobs` workers.
pub fn run(
    engine: &dyn EngineChoice,
    source: &Path,
    out: &Path,
    jobs: usize,
    cancel: &AtomicBool,
    on_event: &(dyn Fn(BatchEvent<'_>) + Sync),
) -> Result<BatchReport, PipelineError> {
    run_at(
        engine,
        &Location::Dir(source.to_path_buf()),
        &Location::Dir(out.to_path_buf()),
        jobs,
        cancel,
        on_event,
    )
}

/// [`run`] over any [`Location`]s: a folder or an object store prefix on either side.
/// Outputs keep each input's key relative to `source`.
pub fn run_at(
    engine: &dyn EngineChoice,
    source: &Location,
    out: &Location,
    jobs: usize,
    cancel: &AtomicBool,
    on_event: &(dyn Fn(BatchEvent<'_>) + Sync),
) -> Result<BatchReport, PipelineError> {
    let started = Instant::now();
    let (inputs, ignored) = source.list_audio()?;
    on_event(BatchEvent::Started {
        total: inputs.len(),
        ignored,
    });

    let mut files = Vec::with_capacity(inputs.len());
    let work = |input: InputEntry| {
        if cancel.load(Ordering::Relaxed) {
            return None;
        }
        let outcome = process_entry(engine, &input, source, out, cancel);
        let cancelled =
            matches!(&outcome, FileOutcome::Failed { error, .. } if error == "cancelled");
        (!cancelled).then_some(outcome)
    };
    in_parallel(
        largest_entries_first(source, inputs),
        jobs,
        work,
        |outcome| {
            on_event(BatchEvent::Finished(&outcome));
            files.push(outcome);
        },
    );
    files.sort_by(|a, b| input_of(a).cmp(input_of(b)));
    // fold from +0.0: an empty f64 sum is -0.0, printed as "-0.00 h".
    let audio_s = files.iter().fold(0.0, |sum, f| match f {
        FileOutcome::Done(r) => sum + r.duration_s,
        _ => sum,
    });
    Ok(BatchReport {
        source: PathBuf::from(source.to_string()),
        out: PathBuf::from(out.to_string()),
        jobs,
        ignored_files: ignored,
        wall_s: started.elapsed().as_secs_f64(),
        audio_s,
        cancelled: cancel.load(Ordering::Relaxed),
        files,
    })
}

/// `inputs` ordered by the work they hold, largest first: seconds of audio times channels
/// where the header declares the length, else the file's size. Workers that take long
/// calls first finish together; in path order a long call taken last runs alone while
/// the other workers idle.
pub fn largest_first(inputs: Vec<PathBuf>) -> Vec<PathBuf> {
    let mut sized: Vec<(f64, PathBuf)> = inputs
        .into_iter()
        .map(|path| (expected_work(&path), path))
        .collect();
    sized.sort_by(|a, b| b.0.total_cmp(&a.0));
    sized.into_iter().map(|(_, path)| path).collect()
}

/// [`largest_first`] for listed entries: local files by their header, objects by size
/// (reading an object's header would mean fetching it).
fn largest_entries_first(source: &Location, entries: Vec<InputEntry>) -> Vec<InputEntry> {
    let Location::Dir(dir) = source else {
        let mut entries = entries;
        entries.sort_by_key(|e| std::cmp::Reverse(e.size));
        return entries;
    };
    let mut sized: Vec<(f64, InputEntry)> = entries
        .into_iter()
        .map(|e| (expected_work(&dir.join(&e.key)), e))
        .collect();
    sized.sort_by(|a, b| b.0.total_cmp(&a.0));
    sized.into_iter().map(|(_, e)| e).collect()
}

/// Channel-seconds of audio from the header alone; unreadable files come first (their
/// error is reported at once) and files of unknown length are guessed at 64 kbit/s.
fn expected_work(path: &Path) -> f64 {
    // A bad file's decoder warnings are folded here and reported when it is processed.
    let span = crate::diagnostics::input_span(path);
    let opened = span.in_scope(|| crate::audio::AudioReader::open(path));
    let _ = crate::diagnostics::take_folded(&span);
    match opened {
        Ok(reader) => {
            let info = reader.info();
            match info.frames {
                Some(frames) => {
                    frames as f64 / f64::from(info.rate.max(1)) * f64::from(info.channels)
                }
                None => std::fs::metadata(path).map_or(0.0, |m| m.len() as f64 / 8_000.0),
            }
        }
        Err(_) => f64::INFINITY,
    }
}

/// Runs `work` on every item with `jobs` worker threads and hands each result, as it
/// comes, to `on_done` on the calling thread. A worker stops taking items once `work`
/// returns None (cancelled).
pub fn in_parallel<T: Send, R: Send>(
    items: Vec<T>,
    jobs: usize,
    work: impl Fn(T) -> Option<R> + Sync,
    mut on_done: impl FnMut(R),
) {
    let (work_tx, work_rx) = bounded::<T>(items.len().max(1));
    for item in items {
        let _ = work_tx.send(item);
    }
    drop(work_tx);
    let (done_tx, done_rx) = unbounded::<R>();
    let work = &work;
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            let work_rx = work_rx.clone();
            let done_tx = done_tx.clone();
            scope.spawn(move || {
                for item in work_rx {
                    let Some(result) = work(item) else { break };
                    let _ = done_tx.send(result);
                }
            });
        }
        drop(done_tx);
        for result in done_rx {
            on_done(result);
        }
    });
}

fn input_of(outcome: &FileOutcome) -> &Path {
    match outcome {
        FileOutcome::Done(r) => &r.input,
        FileOutcome::Skipped { input, .. } | FileOutcome::Failed { input, .. } => input,
    }
}

/// Redacts one listed input into `out` (plus the input's folder), unless its outputs are
/// already complete.
pub fn process_entry(
    engine: &dyn EngineChoice,
    input: &InputEntry,
    source: &Location,
    out: &Location,
    cancel: &AtomicBool,
) -> FileOutcome {
    let name = PathBuf::from(source.display(&input.key));
    match redact_entry(engine, input, source, out, cancel) {
        Ok(Some(report)) => FileOutcome::Done(report),
        Ok(None) => FileOutcome::Skipped {
            input: name,
            why: "outputs already complete and verified".into(),
        },
        Err(e) => FileOutcome::Failed {
            input: name,
            error: e.to_string(),
        },
    }
}

/// [`process_entry`] with the error kept whole (the queue worker needs its kind):
/// `Ok(None)` when the outputs were already complete.
pub fn redact_entry(
    engines: &dyn EngineChoice,
    input: &InputEntry,
    source: &Location,
    out: &Location,
    cancel: &AtomicBool,
) -> Result<Option<FileReport>, PipelineError> {
    let name = PathBuf::from(source.display(&input.key));
    let out_dir = out.join(key_dir(&input.key));
    if outputs_complete_at(&name, &out_dir, engines.keyring()) {
        return Ok(None);
    }
    let audio = source.open_input(&input.key)?;
    process(engines.engine_for(&audio)?, &audio, &out_dir, cancel).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_wav(path: &Path, seconds: f64, channels: u16) {
        let spec = hound::WavSpec {
            channels,
            sample_rate: 8_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(path, spec).unwrap();
        for _ in 0..(seconds * 8_000.0) as usize * channels as usize {
            w.write_sample(0i16).unwrap();
        }
        w.finalize().unwrap();
    }

    #[test]
    fn longest_work_goes_first_and_unreadable_files_lead() {
        let dir = tempfile::tempdir().unwrap();
        let p = |name: &str| dir.path().join(name);
        write_wav(&p("a_short_stereo.wav"), 1.0, 2);
        write_wav(&p("b_long_mono.wav"), 3.0, 1);
        write_wav(&p("c_mid_mono.wav"), 1.5, 1);
        std::fs::write(p("d_broken.wav"), b"not audio").unwrap();
        let names: Vec<String> = largest_first(find_inputs(dir.path()).unwrap().0)
            .iter()
            .map(|x| x.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "d_broken.wav",
                "b_long_mono.wav",
                "a_short_stereo.wav",
                "c_mid_mono.wav"
            ]
        );
    }

    #[cfg(unix)]
    #[test]
    fn linked_recordings_are_inputs() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        let archive = dir.path().join("archive");
        std::fs::create_dir_all(&store).unwrap();
        std::fs::create_dir_all(&archive).unwrap();
        write_wav(&store.join("call.wav"), 0.5, 1);
        std::os::unix::fs::symlink(store.join("call.wav"), archive.join("linked.wav")).unwrap();
        let (inputs, ignored) = find_inputs(&archive).unwrap();
        assert_eq!(inputs, vec![archive.join("linked.wav")]);
        assert_eq!(ignored, 0);
    }
}

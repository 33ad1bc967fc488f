//! After a crash: the calls a previous `serve` left unfinished in its output folder are
//! turned into ordinary outputs. The encrypted recording's authenticated chunks become a
//! finished recording (`store::salvage`), and the last transcript checkpoint becomes the
//! transcript, marked as recovered. What was lost is at most the audio not yet released
//! (the look-ahead) plus one recording chunk.
//!
//! Must not decrypt anything to disk, and must leave unrelated files alone.

use std::path::{Path, PathBuf};

use super::finish::partial_transcript_path;
use crate::store::{self, Keyring, MasterKey, StoreError, TranscriptDoc};
use crate::time::to_seconds;

/// One call brought back.
#[derive(Debug, Clone, PartialEq)]
pub struct Recovered {
    pub recording: PathBuf,
    pub transcript: PathBuf,
    /// Seconds of audio kept.
    pub seconds: f64,
}

/// Recovers every unfinished live recording in `out_dir`. A file that cannot be recovered
/// is reported and left where it is.
pub fn recover(
    out_dir: &Path,
    keyring: &Keyring,
    key: &MasterKey,
) -> Vec<Result<Recovered, (PathBuf, StoreError)>> {
    let Ok(entries) = std::fs::read_dir(out_dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(stem) = unfinished_stem(&name) else {
            continue;
        };
        let partial = entry.path();
        out.push(recover_one(out_dir, &partial, stem, keyring, key).map_err(|e| (partial, e)));
    }
    out
}

/// `ID` of a writer's temporary file `.ID.wav.enc.XXXXXX.tmp`.
fn unfinished_stem(name: &str) -> Option<&str> {
    let rest = name.strip_prefix('.')?.strip_suffix(".tmp")?;
    let at = rest.rfind(".wav.enc.")?;
    Some(&rest[..at]).filter(|s| !s.is_empty())
}

fn recover_one(
    out_dir: &Path,
    partial: &Path,
    stem: &str,
    keyring: &Keyring,
    key: &MasterKey,
) -> Result<Recovered, StoreError> {
    let recording = out_dir.join(format!("{stem}.wav.enc"));
    let transcript = out_dir.join(format!("{stem}.transcript.json"));
    let frames = store::salvage(partial, keyring, key, &recording)?;
    let info = store::verify_file(&recording, keyring)?;
    let seconds = to_seconds(frames, info.rate);
    let checkpoint = partial_transcript_path(out_dir, stem);
    let mut doc = std::fs::read(&checkpoint)
        .ok()
        .and_then(|b| serde_json::from_slice::<TranscriptDoc>(&b).ok())
        .unwrap_or_else(|| empty_doc(stem));
    doc.metadata
        .fail_closed
        .retain(|n| !n.starts_with("checkpoint"));
    doc.metadata.fail_closed.push(format!(
        "recovered after a crash: {seconds:.1} s of audio kept; words after the last checkpoint are missing"
    ));
    doc.metadata.duration_s = seconds;
    doc.metadata.rate = info.rate;
    doc.metadata.recording = recording
        .file_name()
        .map(|n| n.to_string_lossy().into_owned());
    doc.metadata.key_id = Some(key.id.clone());
    if let Err(e) = store::write_transcript(&transcript, &doc) {
        let _ = std::fs::remove_file(&recording);
        return Err(e);
    }
    let _ = std::fs::remove_file(partial);
    let _ = std::fs::remove_file(&checkpoint);
    tracing::info!(call = stem, seconds, "recovered an unfinished call");
    Ok(Recovered {
        recording,
        transcript,
        seconds,
    })
}

fn empty_doc(stem: &str) -> TranscriptDoc {
    TranscriptDoc {
        text: String::new(),
        segments: Vec::new(),
        redactions: Vec::new(),
        metadata: store::Metadata {
            source: stem.to_string(),
            ..store::Metadata::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_writer_leftovers_are_taken() {
        assert_eq!(
            unfinished_stem(".ab12-3.wav.enc.Xy7k2Q.tmp"),
            Some("ab12-3")
        );
        assert_eq!(unfinished_stem("ab12-3.wav.enc"), None);
        assert_eq!(unfinished_stem(".ab12-3.transcript.json.Xy7k2Q.tmp"), None);
        assert_eq!(unfinished_stem("..wav.enc.x.tmp"), None);
    }
}

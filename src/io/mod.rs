//! Where inputs and outputs live: local folders and object storage URLs (`s3://bucket/prefix`
//! for any S3-compatible store, `file:///folder`), behind one [`Location`].
//!
//! Owns naming (an output keeps its input's relative key), listing audio inputs, reading
//! an input into memory and writing outputs that appear only when complete. Must not
//! decode, redact or encrypt anything, and must never write plaintext audio to local
//! disk: object inputs are held in zeroized memory, never spooled.

pub mod object;

use std::io::Write;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::audio::AudioSource;
use crate::fsutil::AtomicFile;

pub use object::{ObjectWriter, StorePrefix};

/// File extensions treated as call audio. Anything else is ignored (and counted), so
/// transcripts, notes and ground-truth files can sit beside recordings.
pub const AUDIO_EXTENSIONS: &[&str] = &[
    "wav", "wave", "flac", "mp3", "ogg", "oga", "opus", "m4a", "mp4", "aac", "aif", "aiff", "caf",
    "mkv", "webm",
];

/// An object read into memory larger than this is refused (it would have to fit in RAM).
pub const MAX_INPUT_BYTES: u64 = 4 << 30;

/// Why a location could not be read or written. Names the URL or path and what failed,
/// never content.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{0}")]
    BadUrl(String),
    #[error("{url}: {source}")]
    Object {
        url: String,
        #[source]
        source: object_store::Error,
    },
    #[error("{url}: {bytes} bytes is more than the {limit} bytes an input may hold in memory")]
    TooLarge { url: String, bytes: u64, limit: u64 },
    #[error("{context}: {source}")]
    Local {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl StorageError {
    /// True when trying again may help (the store or network failed), false when the
    /// request itself is wrong (bad URL, missing object, too large).
    pub fn is_transient(&self) -> bool {
        match self {
            StorageError::Object { source, .. } => !matches!(
                source,
                object_store::Error::NotFound { .. }
                    | object_store::Error::InvalidPath { .. }
                    | object_store::Error::PermissionDenied { .. }
                    | object_store::Error::Unauthenticated { .. }
            ),
            StorageError::Local { .. } => true,
            StorageError::BadUrl(_) | StorageError::TooLarge { .. } => false,
        }
    }
}

/// A file being written that appears under its final name only on [`Output::commit`];
/// dropped without it, nothing appears.
pub trait Output: Write + Send {
    fn commit(self: Box<Self>) -> std::io::Result<()>;
}

impl Output for AtomicFile {
    fn commit(self: Box<Self>) -> std::io::Result<()> {
        AtomicFile::commit(*self)
    }
}

/// A folder of inputs or outputs: local, or a prefix in an object store.
#[derive(Clone, Debug)]
pub enum Location {
    Dir(PathBuf),
    Store(StorePrefix),
}

/// One audio input found under a [`Location`].
#[derive(Clone, Debug)]
pub struct InputEntry {
    /// Key relative to the listed location, with `/` separators (`2024/05/call.wav`).
    pub key: String,
    pub size: u64,
    /// The store's version tag, when it has one (S3 ETag).
    pub version: Option<String>,
}

impl Location {
    /// `s3://bucket/prefix`, `file:///folder` or a plain path.
    pub fn parse(text: &str) -> Result<Location, StorageError> {
        if text.contains("://") {
            Ok(Location::Store(StorePrefix::parse(text)?))
        } else {
            Ok(Location::Dir(PathBuf::from(text)))
        }
    }

    pub fn is_local(&self) -> bool {
        matches!(self, Location::Dir(_))
    }

    /// The location of a relative folder (`a/b`) inside this one.
    pub fn join(&self, relative_dir: &str) -> Location {
        if relative_dir.is_empty() {
            return self.clone();
        }
        match self {
            Location::Dir(dir) => Location::Dir(dir.join(relative_dir)),
            Location::Store(prefix) => Location::Store(prefix.join(relative_dir)),
        }
    }

    /// What to call `name` inside this location in messages and reports.
    pub fn display(&self, name: &str) -> String {
        match self {
            Location::Dir(dir) => dir.join(name).display().to_string(),
            Location::Store(prefix) => prefix.url(name),
        }
    }

    /// Audio inputs under this location, recursively, sorted by key, and how many other
    /// files were ignored. A single audio file (or object) is itself the one input.
    pub fn list_audio(&self) -> Result<(Vec<InputEntry>, usize), StorageError> {
        let all = match self {
            Location::Dir(dir) => list_dir(dir)?,
            Location::Store(prefix) => prefix.list()?,
        };
        let (audio, other): (Vec<InputEntry>, Vec<InputEntry>) = all.into_iter().partition(|e| {
            is_audio_name(&e.key) || (e.key.is_empty() && is_audio_name(&self.to_string()))
        });
        Ok((audio, other.len()))
    }

    /// The input `key` (relative to this location) as a source for the pipeline: a local
    /// file is read where it is; an object is read into zeroized memory.
    pub fn open_input(&self, key: &str) -> Result<AudioSource, StorageError> {
        match self {
            Location::Dir(dir) => Ok(AudioSource::File(path_in(dir, key))),
            Location::Store(prefix) => {
                let bytes = prefix.read(key, MAX_INPUT_BYTES)?;
                Ok(AudioSource::memory(prefix.url(key), bytes))
            }
        }
    }

    /// Starts writing `name` in this location; nothing is visible until committed.
    pub fn create(&self, name: &str) -> Result<Box<dyn Output>, StorageError> {
        match self {
            Location::Dir(dir) => {
                std::fs::create_dir_all(dir).map_err(|source| StorageError::Local {
                    context: format!("creating {}", dir.display()),
                    source,
                })?;
                let target = dir.join(name);
                let file = AtomicFile::create(&target).map_err(|source| StorageError::Local {
                    context: format!("creating {}", target.display()),
                    source,
                })?;
                Ok(Box::new(file))
            }
            Location::Store(prefix) => Ok(Box::new(prefix.create(name))),
        }
    }

    /// Reads a small file (a transcript) whole, or None if it does not exist.
    pub fn read_small(&self, name: &str) -> Result<Option<Zeroizing<Vec<u8>>>, StorageError> {
        match self {
            Location::Dir(dir) => match std::fs::read(dir.join(name)) {
                Ok(bytes) => Ok(Some(Zeroizing::new(bytes))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(source) => Err(StorageError::Local {
                    context: format!("reading {}", dir.join(name).display()),
                    source,
                }),
            },
            Location::Store(prefix) => match prefix.read(name, MAX_INPUT_BYTES) {
                Ok(bytes) => Ok(Some(bytes)),
                Err(StorageError::Object {
                    source: object_store::Error::NotFound { .. },
                    ..
                }) => Ok(None),
                Err(e) => Err(e),
            },
        }
    }

    /// Removes `name` if it exists.
    pub fn remove(&self, name: &str) -> Result<(), StorageError> {
        match self {
            Location::Dir(dir) => match std::fs::remove_file(dir.join(name)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(StorageError::Local {
                    context: format!("removing {}", dir.join(name).display()),
                    source: e,
                }),
                _ => Ok(()),
            },
            Location::Store(prefix) => prefix.delete(name),
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Dir(dir) => write!(f, "{}", dir.display()),
            Location::Store(prefix) => write!(f, "{}", prefix.url("")),
        }
    }
}

/// True for names with an audio extension ([`AUDIO_EXTENSIONS`]).
pub fn is_audio_name(name: &str) -> bool {
    Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| AUDIO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// The folder part of a relative key (`a/b/c.wav` → `a/b`), empty at the top.
pub fn key_dir(key: &str) -> &str {
    key.rsplit_once('/').map_or("", |(dir, _)| dir)
}

/// The output names of an input called `name`, whose file stem is S: `S.wav.enc` and
/// `S.transcript.json`.
pub fn output_names(name: &Path) -> (String, String) {
    let stem = name
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "recording".into());
    (format!("{stem}.wav.enc"), format!("{stem}.transcript.json"))
}

fn path_in(dir: &Path, key: &str) -> PathBuf {
    if key.is_empty() {
        dir.to_path_buf()
    } else {
        dir.join(key)
    }
}

/// Every file under `root` (following symlinks: archives are often assembled from links),
/// or `root` itself when it is a file.
fn list_dir(root: &Path) -> Result<Vec<InputEntry>, StorageError> {
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(root)
        .follow_links(true)
        .sort_by_file_name()
    {
        let entry = entry.map_err(|e| StorageError::Local {
            context: format!("reading {}", root.display()),
            source: e.into(),
        })?;
        if !entry.file_type().is_file() {
            continue;
        }
        let key = entry
            .path()
            .strip_prefix(root)
            .unwrap_or(entry.path())
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        let size = entry.metadata().map_or(0, |m| m.len());
        out.push(InputEntry {
            key,
            size,
            version: None,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_keep_the_input_key() {
        assert_eq!(key_dir("2024/05/call.wav"), "2024/05");
        assert_eq!(key_dir("call.wav"), "");
        assert_eq!(
            output_names(Path::new("2024/05/call.mp3")),
            ("call.wav.enc".into(), "call.transcript.json".into())
        );
        assert!(is_audio_name("a/B.WAV") && !is_audio_name("a/b.json"));
    }

    #[test]
    fn local_outputs_appear_only_on_commit() {
        let dir = tempfile::tempdir().unwrap();
        let loc = Location::parse(dir.path().join("sub").to_str().unwrap()).unwrap();
        let mut out = loc.create("x.json").unwrap();
        out.write_all(b"{}").unwrap();
        assert!(loc.read_small("x.json").unwrap().is_none());
        out.commit().unwrap();
        assert_eq!(&**loc.read_small("x.json").unwrap().unwrap(), b"{}");
        loc.remove("x.json").unwrap();
        assert!(loc.read_small("x.json").unwrap().is_none());
    }
}

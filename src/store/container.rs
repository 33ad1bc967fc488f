//! The bytes of the encrypted recording container (docs/FORMAT.md): header, trailer,
//! the WAV header carried inside, and the cipher set-up. Shared by the writer and the
//! read-back; holds no file logic.

use std::io::Read;
use std::path::Path;

use aes_gcm::aead::stream::{NewStream, StreamBE32};
use aes_gcm::{Aes256Gcm, KeyInit};
use aes_kw::KekAes256;
use zeroize::Zeroizing;

use super::keys::MasterKey;
use super::StoreError;

pub(crate) const MAGIC: [u8; 8] = *b"\x89HLENC\r\n";
pub(crate) const VERSION: u16 = 1;
/// AES-256-GCM STREAM (BE32 counter + last-chunk flag), data key wrapped with RFC 3394.
pub(crate) const SUITE: u16 = 1;
pub(crate) const CHUNK_SIZE: u32 = 64 * 1024;
pub(crate) const MIN_CHUNK: u32 = 1024;
pub(crate) const MAX_CHUNK: u32 = 16 * 1024 * 1024;
pub(crate) const TAG_LEN: usize = 16;
pub(crate) const NONCE_PREFIX_LEN: usize = 7;
pub(crate) const WRAPPED_LEN: usize = 40;
/// Bytes 0..24 of the header: authenticated as associated data on every chunk.
pub(crate) const AAD_LEN: usize = 24;
pub(crate) const MAX_KEY_ID: usize = 64;

pub(crate) const TRAILER_MAGIC: [u8; 4] = *b"HLTR";
pub(crate) const TRAILER_LEN: usize = 24;
/// Size fields of a WAV written while its length is unknown.
pub(crate) const WAV_SIZE_PLACEHOLDER: u32 = u32::MAX;
pub(crate) const MAX_WAV_HEADER: u32 = 4096;

pub(crate) type Stream = StreamBE32<Aes256Gcm>;

/// The parsed container header.
pub(crate) struct Header {
    pub chunk_size: u32,
    pub nonce_prefix: [u8; NONCE_PREFIX_LEN],
    pub key_id: String,
    pub wrapped_key: [u8; WRAPPED_LEN],
}

impl Header {
    pub fn aad(&self) -> [u8; AAD_LEN] {
        let mut a = [0u8; AAD_LEN];
        a[0..8].copy_from_slice(&MAGIC);
        a[8..10].copy_from_slice(&VERSION.to_le_bytes());
        a[10..12].copy_from_slice(&SUITE.to_le_bytes());
        a[12..16].copy_from_slice(&self.chunk_size.to_le_bytes());
        a[16..23].copy_from_slice(&self.nonce_prefix);
        a[23] = 0; // reserved
        a
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(AAD_LEN + 1 + self.key_id.len() + WRAPPED_LEN);
        b.extend_from_slice(&self.aad());
        b.push(self.key_id.len() as u8);
        b.extend_from_slice(self.key_id.as_bytes());
        b.extend_from_slice(&self.wrapped_key);
        b
    }

    /// Reads and checks a header, leaving `r` at the first chunk.
    pub fn read(r: &mut impl Read, path: &Path) -> Result<Header, StoreError> {
        let malformed = |problem| StoreError::MalformedHeader {
            path: path.to_path_buf(),
            problem,
        };
        let mut fixed = [0u8; AAD_LEN + 1];
        let got = read_full(r, &mut fixed).map_err(|e| StoreError::io("reading", path, e))?;
        if got < MAGIC.len() || fixed[..8] != MAGIC {
            return Err(StoreError::NotARecording(path.to_path_buf()));
        }
        if got < 10 {
            return Err(truncated(path, "the header is incomplete".into()));
        }
        let version = u16::from_le_bytes([fixed[8], fixed[9]]);
        if version != VERSION {
            return Err(StoreError::UnsupportedVersion {
                path: path.to_path_buf(),
                found: version,
                supported: VERSION,
            });
        }
        if got < fixed.len() {
            return Err(truncated(path, "the header is incomplete".into()));
        }
        if u16::from_le_bytes([fixed[10], fixed[11]]) != SUITE {
            return Err(malformed("unknown cipher suite"));
        }
        let chunk_size = u32::from_le_bytes([fixed[12], fixed[13], fixed[14], fixed[15]]);
        if !(MIN_CHUNK..=MAX_CHUNK).contains(&chunk_size) {
            return Err(malformed("chunk size out of range"));
        }
        if fixed[23] != 0 {
            return Err(malformed("reserved byte is not zero"));
        }
        let id_len = fixed[24] as usize;
        if id_len == 0 || id_len > MAX_KEY_ID {
            return Err(malformed("key id length out of range"));
        }
        let mut slot = vec![0u8; id_len + WRAPPED_LEN];
        if read_full(r, &mut slot).map_err(|e| StoreError::io("reading", path, e))? < slot.len() {
            return Err(truncated(path, "the header is incomplete".into()));
        }
        let key_id = std::str::from_utf8(&slot[..id_len])
            .ok()
            .filter(|id| {
                id.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
            })
            .ok_or_else(|| malformed("key id has invalid characters"))?
            .to_string();
        let mut nonce_prefix = [0u8; NONCE_PREFIX_LEN];
        nonce_prefix.copy_from_slice(&fixed[16..23]);
        let mut wrapped_key = [0u8; WRAPPED_LEN];
        wrapped_key.copy_from_slice(&slot[id_len..]);
        Ok(Header {
            chunk_size,
            nonce_prefix,
            key_id,
            wrapped_key,
        })
    }
}

pub(crate) fn truncated(path: &Path, detail: String) -> StoreError {
    StoreError::Truncated {
        path: path.to_path_buf(),
        detail,
    }
}

/// Fills `buf` from `r` until full or end of file; returns the bytes read.
pub(crate) fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

pub(crate) fn new_data_key() -> Result<Zeroizing<[u8; 32]>, StoreError> {
    let mut key = Zeroizing::new([0u8; 32]);
    getrandom::getrandom(key.as_mut()).map_err(StoreError::Random)?;
    Ok(key)
}

pub(crate) fn wrap_key(master: &MasterKey, data_key: &[u8; 32]) -> [u8; WRAPPED_LEN] {
    let kek = KekAes256::new(master.bytes().into());
    let mut out = [0u8; WRAPPED_LEN];
    // Cannot fail: the input is a whole number of 64-bit blocks and `out` is 8 longer.
    let _ = kek.wrap(data_key, &mut out);
    out
}

/// The data key, or `None` when `master` is not the key that wrapped it (RFC 3394's
/// integrity check fails).
pub(crate) fn unwrap_key(
    master: &MasterKey,
    wrapped: &[u8; WRAPPED_LEN],
) -> Option<Zeroizing<[u8; 32]>> {
    let kek = KekAes256::new(master.bytes().into());
    let mut out = Zeroizing::new([0u8; 32]);
    kek.unwrap(wrapped, out.as_mut()).ok()?;
    Some(out)
}

pub(crate) fn stream(data_key: &[u8; 32], nonce_prefix: &[u8; NONCE_PREFIX_LEN]) -> Stream {
    let aead = Aes256Gcm::new(data_key.into());
    Stream::from_aead(aead, nonce_prefix.into())
}

/// The trailer at the end of the final chunk's plaintext.
pub(crate) struct Trailer {
    pub wav_header_len: u32,
    pub data_bytes: u64,
    pub frames: u64,
}

impl Trailer {
    pub fn to_bytes(&self) -> [u8; TRAILER_LEN] {
        let mut t = [0u8; TRAILER_LEN];
        t[0..4].copy_from_slice(&TRAILER_MAGIC);
        t[4..8].copy_from_slice(&self.wav_header_len.to_le_bytes());
        t[8..16].copy_from_slice(&self.data_bytes.to_le_bytes());
        t[16..24].copy_from_slice(&self.frames.to_le_bytes());
        t
    }

    pub fn parse(t: &[u8]) -> Option<Trailer> {
        if t.len() != TRAILER_LEN || t[0..4] != TRAILER_MAGIC {
            return None;
        }
        Some(Trailer {
            wav_header_len: u32::from_le_bytes(t[4..8].try_into().ok()?),
            data_bytes: u64::from_le_bytes(t[8..16].try_into().ok()?),
            frames: u64::from_le_bytes(t[16..24].try_into().ok()?),
        })
    }
}

/// The audio format carried in the WAV header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WavFormat {
    pub rate: u32,
    pub channels: u16,
    pub bits: u16,
}

impl WavFormat {
    pub fn block_align(&self) -> u32 {
        u32::from(self.channels) * u32::from(self.bits / 8)
    }
}

const PCM_SUBFORMAT: [u8; 16] = [
    0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71,
];

/// A WAV header with placeholder sizes. Plain PCM (44 bytes) for 16-bit mono/stereo;
/// WAVE_FORMAT_EXTENSIBLE (68 bytes) otherwise, as the WAV spec asks for more than 16
/// bits or more than two channels.
pub(crate) fn wav_header(f: WavFormat) -> Vec<u8> {
    let extensible = f.bits > 16 || f.channels > 2;
    let mut h = Vec::with_capacity(68);
    h.extend_from_slice(b"RIFF");
    h.extend_from_slice(&WAV_SIZE_PLACEHOLDER.to_le_bytes());
    h.extend_from_slice(b"WAVEfmt ");
    h.extend_from_slice(&(if extensible { 40u32 } else { 16 }).to_le_bytes());
    h.extend_from_slice(&(if extensible { 0xFFFEu16 } else { 1 }).to_le_bytes());
    h.extend_from_slice(&f.channels.to_le_bytes());
    h.extend_from_slice(&f.rate.to_le_bytes());
    h.extend_from_slice(&(f.rate.saturating_mul(f.block_align())).to_le_bytes());
    h.extend_from_slice(&(f.block_align() as u16).to_le_bytes());
    h.extend_from_slice(&f.bits.to_le_bytes());
    if extensible {
        h.extend_from_slice(&22u16.to_le_bytes());
        h.extend_from_slice(&f.bits.to_le_bytes());
        let mask: u32 = match f.channels {
            1 => 0x4,
            2 => 0x3,
            _ => 0,
        };
        h.extend_from_slice(&mask.to_le_bytes());
        h.extend_from_slice(&PCM_SUBFORMAT);
    }
    h.extend_from_slice(b"data");
    h.extend_from_slice(&WAV_SIZE_PLACEHOLDER.to_le_bytes());
    h
}

/// Reads back a header produced by [`wav_header`]; `None` if it is not one.
pub(crate) fn parse_wav_header(h: &[u8]) -> Option<WavFormat> {
    let n = h.len();
    if n < 44 || &h[0..4] != b"RIFF" || &h[8..16] != b"WAVEfmt " || &h[n - 8..n - 4] != b"data" {
        return None;
    }
    let u16_at = |i: usize| u16::from_le_bytes([h[i], h[i + 1]]);
    let u32_at = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
    let fmt_len = u32_at(16) as usize;
    let tag = u16_at(20);
    let f = WavFormat {
        channels: u16_at(22),
        rate: u32_at(24),
        bits: u16_at(34),
    };
    let ok = match (tag, fmt_len) {
        (1, 16) => n == 44,
        (0xFFFE, 40) => n == 68 && h[44..60] == PCM_SUBFORMAT,
        _ => false,
    };
    let sane = f.channels > 0 && f.rate > 0 && matches!(f.bits, 16 | 24);
    let byte_rate = f.rate.checked_mul(f.block_align());
    (ok && sane && u32::from(u16_at(32)) == f.block_align() && byte_rate == Some(u32_at(28)))
        .then_some(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wav_headers_parse_back() {
        for (rate, channels, bits, len) in
            [(8000, 1, 16, 44), (48000, 2, 24, 68), (16000, 3, 16, 68)]
        {
            let f = WavFormat {
                rate,
                channels,
                bits,
            };
            let h = wav_header(f);
            assert_eq!(h.len(), len);
            assert_eq!(parse_wav_header(&h), Some(f));
        }
    }

    /// Found by fuzzing (fuzz/regressions/container): a header whose byte rate disagrees
    /// with its format was accepted, and the decrypted file was not a valid WAV.
    #[test]
    fn wav_header_byte_rate_must_match_the_format() {
        let mut h = wav_header(WavFormat {
            rate: 8000,
            channels: 1,
            bits: 16,
        });
        h[28..32].copy_from_slice(&49534u32.to_le_bytes());
        assert_eq!(parse_wav_header(&h), None);
    }

    #[test]
    fn key_wrap_detects_the_wrong_master_key() {
        let a = MasterKey::from_bytes("a", [1; 32]).unwrap();
        let b = MasterKey::from_bytes("b", [2; 32]).unwrap();
        let dk = [7u8; 32];
        let w = wrap_key(&a, &dk);
        assert_eq!(*unwrap_key(&a, &w).unwrap(), dk);
        assert!(unwrap_key(&b, &w).is_none());
    }
}

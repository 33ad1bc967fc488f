//! Streams redacted PCM into an encrypted recording (`S.wav.enc`, docs/FORMAT.md).
//!
//! Plaintext exists only in one chunk-sized, zeroize-on-drop buffer: it is encrypted in
//! place before any byte reaches the disk, so no plaintext WAV is ever written. Memory is
//! constant whatever the call length. Must not bleep or judge audio; it stores what it is
//! given.

use std::io::Write;
use std::path::{Path, PathBuf};

use aes_gcm::aead::stream::StreamPrimitive;
use zeroize::Zeroizing;

use super::container::{
    self, Header, Stream, Trailer, WavFormat, AAD_LEN, CHUNK_SIZE, NONCE_PREFIX_LEN, TAG_LEN,
    TRAILER_LEN,
};
use super::keys::MasterKey;
use super::StoreError;
use crate::fsutil::AtomicFile;
use crate::io::Output;

/// Samples converted per batch before they are copied into the chunk buffer.
const BATCH: usize = 1024;

/// Writes one encrypted recording. Nothing appears at the path until [`finish`]
/// succeeds; dropping the writer, or any error, leaves nothing behind.
///
/// [`finish`]: RecordingWriter::finish
pub struct RecordingWriter {
    out: Box<dyn Output>,
    path: PathBuf,
    stream: Stream,
    aad: [u8; AAD_LEN],
    chunk: usize,
    /// Plaintext of the chunk being filled; encrypted in place (tag appended) when full.
    buf: Zeroizing<Vec<u8>>,
    position: u32,
    format: WavFormat,
    wav_header_len: u32,
    samples: u64,
    data_bytes: u64,
    failed: bool,
}

impl std::fmt::Debug for RecordingWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingWriter")
            .field("path", &self.path)
            .field("format", &self.format)
            .field("samples", &self.samples)
            .finish_non_exhaustive()
    }
}

impl RecordingWriter {
    /// Starts `path` (its directory must exist) for interleaved audio of `channels`
    /// channels at `rate` Hz, stored as 16- or 24-bit PCM, under a fresh data key wrapped
    /// with `key`.
    pub fn create(
        path: &Path,
        key: &MasterKey,
        rate: u32,
        channels: u16,
        bits_per_sample: u16,
    ) -> Result<Self, StoreError> {
        Self::create_with_chunk(path, key, rate, channels, bits_per_sample, CHUNK_SIZE)
    }

    /// [`RecordingWriter::create`] with plaintext chunks of `chunk_size` bytes (1 KiB to
    /// 16 MiB). Live calls use small chunks: each is written as soon as it fills, so a
    /// crash loses at most one chunk of audio (see `salvage`).
    pub fn create_with_chunk(
        path: &Path,
        key: &MasterKey,
        rate: u32,
        channels: u16,
        bits_per_sample: u16,
        chunk_size: u32,
    ) -> Result<Self, StoreError> {
        if !(container::MIN_CHUNK..=container::MAX_CHUNK).contains(&chunk_size) {
            return Err(StoreError::UnsupportedFormat(
                "chunk size must be between 1 KiB and 16 MiB",
            ));
        }
        let format = Self::check_format(rate, channels, bits_per_sample)?;
        let out = AtomicFile::create(path).map_err(|e| StoreError::io("creating", path, e))?;
        Self::start(Box::new(out), path, key, format, chunk_size)
    }

    /// [`RecordingWriter::create`] into any [`Output`] (an object being uploaded, say);
    /// `label` names it in errors.
    pub fn create_on(
        out: Box<dyn Output>,
        label: &Path,
        key: &MasterKey,
        rate: u32,
        channels: u16,
        bits_per_sample: u16,
    ) -> Result<Self, StoreError> {
        let format = Self::check_format(rate, channels, bits_per_sample)?;
        Self::start(out, label, key, format, CHUNK_SIZE)
    }

    fn check_format(rate: u32, channels: u16, bits: u16) -> Result<WavFormat, StoreError> {
        if !matches!(bits, 16 | 24) {
            return Err(StoreError::UnsupportedFormat(
                "bits per sample must be 16 or 24",
            ));
        }
        if rate == 0 || channels == 0 {
            return Err(StoreError::UnsupportedFormat(
                "rate and channels must be non-zero",
            ));
        }
        let format = WavFormat {
            rate,
            channels,
            bits,
        };
        if format.block_align() > u32::from(u16::MAX) {
            return Err(StoreError::UnsupportedFormat(
                "too many channels for a WAV file",
            ));
        }
        Ok(format)
    }

    fn start(
        mut out: Box<dyn Output>,
        path: &Path,
        key: &MasterKey,
        format: WavFormat,
        chunk_size: u32,
    ) -> Result<Self, StoreError> {
        let data_key = container::new_data_key()?;
        let mut nonce_prefix = [0u8; NONCE_PREFIX_LEN];
        getrandom::getrandom(&mut nonce_prefix).map_err(StoreError::Random)?;
        let header = Header {
            chunk_size,
            nonce_prefix,
            key_id: key.id.clone(),
            wrapped_key: container::wrap_key(key, &data_key),
        };
        out.write_all(&header.to_bytes())
            .map_err(|e| StoreError::io("writing", path, e))?;

        let chunk = chunk_size as usize;
        // Reserved up front so the buffer never reallocates (which would leave plaintext
        // in freed memory).
        let mut buf = Zeroizing::new(Vec::with_capacity(chunk + TAG_LEN));
        let wav = container::wav_header(format);
        buf.extend_from_slice(&wav);
        Ok(RecordingWriter {
            out,
            path: path.to_path_buf(),
            stream: container::stream(&data_key, &nonce_prefix),
            aad: header.aad(),
            chunk,
            buf,
            position: 0,
            format,
            wav_header_len: wav.len() as u32,
            samples: 0,
            data_bytes: 0,
            failed: false,
        })
    }

    /// Appends interleaved samples in [-1, 1], converted to PCM (rounded, clipped; NaN
    /// becomes 0). `x * 2^(bits-1)` is the scale, so audio decoded from PCM of the same
    /// width comes back bit-identical. Calls may split frames anywhere.
    pub fn write_interleaved(&mut self, samples: &[f32]) -> Result<(), StoreError> {
        if self.failed {
            return Err(StoreError::WriterFailed(self.path.clone()));
        }
        let width = usize::from(self.format.bits / 8);
        let added = samples.len() as u64 * width as u64;
        let riff_total = u64::from(self.wav_header_len) + self.data_bytes + added + 1;
        if riff_total > u64::from(u32::MAX) {
            return Err(StoreError::TooLarge(self.path.clone()));
        }
        let mut bytes = Zeroizing::new([0u8; BATCH * 3]);
        for batch in samples.chunks(BATCH) {
            let n = batch.len() * width;
            if width == 2 {
                for (x, out) in batch.iter().zip(bytes.chunks_exact_mut(2)) {
                    let v = (x * 32768.0).round().clamp(-32768.0, 32767.0) as i16;
                    out.copy_from_slice(&v.to_le_bytes());
                }
            } else {
                for (x, out) in batch.iter().zip(bytes.chunks_exact_mut(3)) {
                    let v = (x * 8_388_608.0).round().clamp(-8_388_608.0, 8_388_607.0) as i32;
                    out.copy_from_slice(&v.to_le_bytes()[..3]);
                }
            }
            if let Err(e) = self.push(&bytes[..n]) {
                self.failed = true;
                return Err(e);
            }
        }
        self.samples += samples.len() as u64;
        self.data_bytes += added;
        Ok(())
    }

    /// Seals the final chunk (true sizes in its trailer), fsyncs and renames into place.
    pub fn finish(mut self) -> Result<(), StoreError> {
        if self.failed {
            return Err(StoreError::WriterFailed(self.path.clone()));
        }
        let channels = u64::from(self.format.channels);
        if self.samples % channels != 0 {
            return Err(StoreError::PartialFrame {
                path: self.path.clone(),
                samples: self.samples,
                channels: self.format.channels,
            });
        }
        let trailer = Trailer {
            wav_header_len: self.wav_header_len,
            data_bytes: self.data_bytes,
            frames: self.samples / channels,
        };
        // Zero padding makes every chunk full size, so any cut in the file is visible
        // from its length alone (see docs/FORMAT.md).
        if self.buf.len() + TRAILER_LEN > self.chunk {
            self.buf.resize(self.chunk, 0);
            self.seal(false)?;
        }
        self.buf.resize(self.chunk - TRAILER_LEN, 0);
        self.buf.extend_from_slice(&trailer.to_bytes());
        self.seal(true)?;
        self.out
            .commit()
            .map_err(|e| StoreError::io("saving", &self.path, e))
    }

    /// Copies PCM bytes into the chunk buffer, sealing each chunk as it fills. A chunk
    /// is sealed as soon as it is full: the final chunk is always sealed by `finish`.
    fn push(&mut self, mut bytes: &[u8]) -> Result<(), StoreError> {
        while !bytes.is_empty() {
            let take = (self.chunk - self.buf.len()).min(bytes.len());
            self.buf.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.buf.len() == self.chunk {
                self.seal(false)?;
            }
        }
        Ok(())
    }

    fn seal(&mut self, last: bool) -> Result<(), StoreError> {
        // The counter's maximum is reserved so a final chunk can always follow.
        if self.position == u32::MAX {
            return Err(StoreError::TooLarge(self.path.clone()));
        }
        self.stream
            .encrypt_in_place(self.position, last, &self.aad, &mut *self.buf)
            .map_err(|_| StoreError::UnsupportedFormat("chunk too large for AES-GCM"))?;
        self.out
            .write_all(&self.buf)
            .map_err(|e| StoreError::io("writing", &self.path, e))?;
        self.buf.clear();
        self.position += 1;
        Ok(())
    }
}

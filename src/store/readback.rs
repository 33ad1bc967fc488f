//! Authorised read-back and key rotation of encrypted recordings.
//!
//! `decrypt_file` authenticates every chunk before its plaintext is written, writes to
//! a temporary name and renames only when the whole file verified, so tampering,
//! truncation, appended bytes or a wrong key leave no output. `rewrap_file` replaces the
//! wrapped data key without touching (or decrypting) the audio. The `_audited` forms add
//! the audit line before the result appears, so no read-back goes unrecorded. `salvage`
//! turns the authenticated chunks of a recording cut off by a crash into a finished
//! recording (re-encrypted; the plaintext stays in memory). Must not write plaintext
//! anywhere but the requested output.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;

use aes_gcm::aead::stream::StreamPrimitive;
use zeroize::Zeroizing;

use super::audit::{self, AuditEntry};
use super::container::{
    self, read_full, truncated, Header, Trailer, MAX_WAV_HEADER, TAG_LEN, TRAILER_LEN,
};
use super::keys::{Keyring, MasterKey};
use super::{RecordingWriter, StoreError};
use crate::fsutil::AtomicFile;

/// What a decrypted recording holds.
#[derive(Debug, Clone, PartialEq)]
pub struct DecryptInfo {
    /// Id of the master key that opened it.
    pub key_id: String,
    pub rate: u32,
    pub channels: u16,
    pub bits_per_sample: u16,
    pub frames: u64,
    pub duration_s: f64,
}

/// Decrypts `input` to the WAV file `output`. Everything is verified before `output`
/// appears; on any error nothing is left at `output`.
pub fn decrypt_file(
    input: &Path,
    output: &Path,
    keyring: &Keyring,
) -> Result<DecryptInfo, StoreError> {
    let (out, info) = decrypt_to_temp(input, output, keyring)?;
    out.commit()
        .map_err(|e| StoreError::io("saving", output, e))?;
    Ok(info)
}

/// [`decrypt_file`], recording the read-back in the audit log `log` (with `reason`)
/// after verification and before the output appears.
pub fn decrypt_file_audited(
    input: &Path,
    output: &Path,
    keyring: &Keyring,
    log: &Path,
    reason: &str,
) -> Result<DecryptInfo, StoreError> {
    if reason.trim().is_empty() {
        return Err(StoreError::MissingReason);
    }
    let (out, info) = decrypt_to_temp(input, output, keyring)?;
    audit::append(log, AuditEntry::decrypt(input, &info.key_id, reason))?;
    out.commit()
        .map_err(|e| StoreError::io("saving", output, e))?;
    Ok(info)
}

/// Re-wraps the data key of `path` from a key in `old` to `new`, atomically. The audio
/// chunks are copied byte for byte; nothing is decrypted.
pub fn rewrap_file(path: &Path, old: &Keyring, new: &MasterKey) -> Result<(), StoreError> {
    let (out, _) = rewrap_to_temp(path, old, new)?;
    out.commit().map_err(|e| StoreError::io("saving", path, e))
}

/// [`rewrap_file`], recording it in the audit log before the new file replaces the old.
pub fn rewrap_file_audited(
    path: &Path,
    old: &Keyring,
    new: &MasterKey,
    log: &Path,
    reason: &str,
) -> Result<(), StoreError> {
    if reason.trim().is_empty() {
        return Err(StoreError::MissingReason);
    }
    let (out, old_id) = rewrap_to_temp(path, old, new)?;
    audit::append(log, AuditEntry::rewrap(path, &old_id, &new.id, reason))?;
    out.commit().map_err(|e| StoreError::io("saving", path, e))
}

/// Recovers a recording cut off by a crash: `partial` is a writer's unfinished file
/// (header, then chunks, no final chunk). Every full chunk that authenticates, in order,
/// is kept; the torn chunk at the end is dropped. The audio is re-encrypted into a
/// finished recording at `out` under `key` and its frame count returned. Plaintext stays
/// in zeroized memory. A finished file, or a full chunk that fails authentication, is an
/// error: only a cut-off tail may be dropped.
pub fn salvage(
    partial: &Path,
    keyring: &Keyring,
    key: &MasterKey,
    out: &Path,
) -> Result<u64, StoreError> {
    let (mut reader, header) = open_header(partial)?;
    let data_key = data_key_for(partial, &header, keyring)?;
    let stream = container::stream(&data_key, &header.nonce_prefix);
    let aad = header.aad();
    let sealed = header.chunk_size as usize + TAG_LEN;
    let read_err = |e| StoreError::io("reading", partial, e);
    let mut plain = Zeroizing::new(Vec::new());
    let mut buf = Zeroizing::new(vec![0u8; sealed]);
    for position in 0u32.. {
        buf.resize(sealed, 0);
        if read_full(&mut reader, &mut buf).map_err(read_err)? < sealed {
            break;
        }
        match open_chunk(&stream, position, false, &aad, &mut buf) {
            Ok(()) => {}
            Err(ChunkFault::OtherFlag) => {
                return Err(StoreError::MalformedContent {
                    path: partial.to_path_buf(),
                    problem: "it is a finished recording, not a cut-off one; use decrypt",
                })
            }
            Err(ChunkFault::Tampered) => {
                return Err(StoreError::Tampered {
                    path: partial.to_path_buf(),
                    chunk: u64::from(position),
                })
            }
        }
        plain.extend_from_slice(&buf);
    }
    let content = |problem| StoreError::MalformedContent {
        path: partial.to_path_buf(),
        problem,
    };
    // The writer's header is 44 bytes, or 68 in the extensible form.
    let (format, header_len) = [44, 68]
        .into_iter()
        .find_map(|n| {
            plain
                .get(..n)
                .and_then(container::parse_wav_header)
                .map(|f| (f, n))
        })
        .ok_or_else(|| content("no WAV header in its first chunk"))?;
    let align = format.block_align() as usize;
    let pcm = &plain[header_len.min(plain.len())..];
    let pcm = &pcm[..pcm.len() / align * align];
    let mut writer = RecordingWriter::create(out, key, format.rate, format.channels, format.bits)?;
    let bytes = usize::from(format.bits / 8);
    let scale = (1u32 << (format.bits - 1)) as f32;
    let samples: Zeroizing<Vec<f32>> = Zeroizing::new(
        pcm.chunks_exact(bytes)
            .map(|b| {
                let v = if bytes == 2 {
                    i32::from(i16::from_le_bytes([b[0], b[1]]))
                } else {
                    i32::from_le_bytes([0, b[0], b[1], b[2]]) >> 8
                };
                v as f32 / scale
            })
            .collect(),
    );
    writer.write_interleaved(&samples)?;
    writer.finish()?;
    Ok((pcm.len() / align) as u64)
}

/// Why a chunk did not open.
enum ChunkFault {
    /// It opens with the other last-chunk flag: it is real, but in the wrong place (the
    /// file was cut short, or had chunks appended).
    OtherFlag,
    /// It opens neither way.
    Tampered,
}

/// Decrypts chunk `position` in place as the final chunk or not (`last`); on failure,
/// tells a misplaced chunk from an altered one. AES-GCM checks the tag before touching
/// the buffer, so after a failure the ciphertext is intact for the second attempt.
fn open_chunk(
    stream: &container::Stream,
    position: u32,
    last: bool,
    aad: &[u8],
    buf: &mut Zeroizing<Vec<u8>>,
) -> Result<(), ChunkFault> {
    if stream
        .decrypt_in_place(position, last, aad, &mut **buf)
        .is_ok()
    {
        return Ok(());
    }
    if stream
        .decrypt_in_place(position, !last, aad, &mut **buf)
        .is_ok()
    {
        Err(ChunkFault::OtherFlag)
    } else {
        Err(ChunkFault::Tampered)
    }
}

fn open_header(path: &Path) -> Result<(BufReader<File>, Header), StoreError> {
    let file = File::open(path).map_err(|e| StoreError::io("opening", path, e))?;
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let header = Header::read(&mut reader, path)?;
    Ok((reader, header))
}

fn data_key_for(
    path: &Path,
    header: &Header,
    keyring: &Keyring,
) -> Result<Zeroizing<[u8; 32]>, StoreError> {
    let key = keyring
        .get(&header.key_id)
        .ok_or_else(|| StoreError::UnknownKeyId {
            path: path.to_path_buf(),
            id: header.key_id.clone(),
            available: keyring.ids(),
        })?;
    container::unwrap_key(key, &header.wrapped_key).ok_or_else(|| StoreError::WrongKey {
        path: path.to_path_buf(),
        id: header.key_id.clone(),
    })
}

fn rewrap_to_temp(
    path: &Path,
    old: &Keyring,
    new: &MasterKey,
) -> Result<(AtomicFile, String), StoreError> {
    let (mut reader, header) = open_header(path)?;
    let data_key = data_key_for(path, &header, old)?;
    let rewrapped = Header {
        chunk_size: header.chunk_size,
        nonce_prefix: header.nonce_prefix,
        key_id: new.id.clone(),
        wrapped_key: container::wrap_key(new, &data_key),
    };
    let mut out = AtomicFile::create(path).map_err(|e| StoreError::io("creating", path, e))?;
    out.write_all(&rewrapped.to_bytes())
        .and_then(|_| std::io::copy(&mut reader, &mut out).map(|_| ()))
        .map_err(|e| StoreError::io("rewriting", path, e))?;
    Ok((out, header.key_id))
}

fn decrypt_to_temp(
    input: &Path,
    output: &Path,
    keyring: &Keyring,
) -> Result<(AtomicFile, DecryptInfo), StoreError> {
    if same_file(input, output) {
        return Err(StoreError::SameFile(output.to_path_buf()));
    }
    let mut out = AtomicFile::create(output).map_err(|e| StoreError::io("creating", output, e))?;
    let info = decrypt_into(input, keyring, out.file(), output)?;
    Ok((out, info))
}

/// Decrypts `input` into memory and returns the WAV bytes (zeroized when dropped).
/// For read-back that must not touch the disk, such as scoring a redaction.
pub fn decrypt_to_vec(input: &Path, keyring: &Keyring) -> Result<Zeroizing<Vec<u8>>, StoreError> {
    let mut memory = std::io::Cursor::new(Vec::new());
    decrypt_into(input, keyring, &mut memory, Path::new("memory"))?;
    Ok(Zeroizing::new(memory.into_inner()))
}

/// Checks that `input` opens under `keyring` and that every chunk authenticates,
/// without keeping any plaintext beyond the WAV header.
pub fn verify_file(input: &Path, keyring: &Keyring) -> Result<DecryptInfo, StoreError> {
    decrypt_into(
        input,
        keyring,
        &mut HeaderOnly::default(),
        Path::new("verification"),
    )
}

/// Where decrypted bytes go: a file, memory, or (for verification) nowhere.
trait PlainSink: Read + Write + Seek {
    fn truncate_to(&mut self, len: u64) -> std::io::Result<()>;
}

impl PlainSink for File {
    fn truncate_to(&mut self, len: u64) -> std::io::Result<()> {
        self.set_len(len)
    }
}

impl PlainSink for std::io::Cursor<Vec<u8>> {
    fn truncate_to(&mut self, len: u64) -> std::io::Result<()> {
        self.get_mut().truncate(len as usize);
        Ok(())
    }
}

/// A sink that keeps only the first bytes (the WAV header) and counts the rest.
#[derive(Default)]
struct HeaderOnly {
    head: Zeroizing<Vec<u8>>,
    len: u64,
    pos: u64,
}

impl Write for HeaderOnly {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let limit = MAX_WAV_HEADER as u64;
        for (i, &b) in buf.iter().enumerate() {
            let at = self.pos + i as u64;
            if at < limit {
                if at as usize >= self.head.len() {
                    self.head.resize(at as usize + 1, 0);
                }
                self.head[at as usize] = b;
            }
        }
        self.pos += buf.len() as u64;
        self.len = self.len.max(self.pos);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Read for HeaderOnly {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let start = (self.pos as usize).min(self.head.len());
        let n = buf.len().min(self.head.len() - start);
        buf[..n].copy_from_slice(&self.head[start..start + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for HeaderOnly {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        self.pos = match to {
            SeekFrom::Start(p) => p,
            SeekFrom::End(d) => self.len.saturating_add_signed(d),
            SeekFrom::Current(d) => self.pos.saturating_add_signed(d),
        };
        Ok(self.pos)
    }
}

impl PlainSink for HeaderOnly {
    fn truncate_to(&mut self, len: u64) -> std::io::Result<()> {
        self.len = len;
        self.head.truncate(len as usize);
        Ok(())
    }
}

/// [`verify_file`] for a recording already in memory (read from object storage);
/// `label` names it in errors.
pub fn verify_bytes(
    recording: &[u8],
    label: &Path,
    keyring: &Keyring,
) -> Result<DecryptInfo, StoreError> {
    decrypt_from(
        recording,
        label,
        keyring,
        &mut HeaderOnly::default(),
        Path::new("verification"),
    )
}

fn decrypt_into(
    input: &Path,
    keyring: &Keyring,
    out: &mut impl PlainSink,
    output: &Path,
) -> Result<DecryptInfo, StoreError> {
    let file = File::open(input).map_err(|e| StoreError::io("opening", input, e))?;
    let reader = BufReader::with_capacity(1 << 16, file);
    decrypt_from(reader, input, keyring, out, output)
}

fn decrypt_from(
    mut reader: impl Read,
    input: &Path,
    keyring: &Keyring,
    out: &mut impl PlainSink,
    output: &Path,
) -> Result<DecryptInfo, StoreError> {
    let header = Header::read(&mut reader, input)?;
    let data_key = data_key_for(input, &header, keyring)?;
    let stream = container::stream(&data_key, &header.nonce_prefix);
    let aad = header.aad();
    let chunk = header.chunk_size as usize;
    let sealed = chunk + TAG_LEN;
    let read_err = |e| StoreError::io("reading", input, e);
    let write_err = |e| StoreError::io("writing", output, e);

    let mut buf = Zeroizing::new(vec![0u8; sealed]);
    let mut got = read_full(&mut reader, &mut buf).map_err(read_err)?;
    if got == 0 {
        return Err(truncated(input, "it has a header but no chunks".into()));
    }
    let mut position: u32 = 0;
    let final_plain = loop {
        let chunk_no = u64::from(position);
        if got < sealed {
            return Err(truncated(input, format!("it ends inside chunk {chunk_no}")));
        }
        let mut next = [0u8; 1];
        let more = read_full(&mut reader, &mut next).map_err(read_err)? == 1;
        let tampered = || StoreError::Tampered {
            path: input.to_path_buf(),
            chunk: chunk_no,
        };
        if more {
            let opened = if position == u32::MAX - 1 {
                // No counter is left for a further chunk: this one can only be the last,
                // and the bytes after it are appended (or it is altered).
                match open_chunk(&stream, position, true, &aad, &mut buf) {
                    Ok(()) => Err(ChunkFault::OtherFlag),
                    Err(_) => Err(ChunkFault::Tampered),
                }
            } else {
                open_chunk(&stream, position, false, &aad, &mut buf)
            };
            match opened {
                Ok(()) => {}
                Err(ChunkFault::OtherFlag) => {
                    return Err(StoreError::AppendedData {
                        path: input.to_path_buf(),
                        chunk: chunk_no,
                    })
                }
                Err(ChunkFault::Tampered) => return Err(tampered()),
            }
            out.write_all(&buf).map_err(write_err)?;
            position += 1;
            buf.resize(sealed, 0);
            buf[0] = next[0];
            got = 1 + read_full(&mut reader, &mut buf[1..]).map_err(read_err)?;
        } else {
            match open_chunk(&stream, position, true, &aad, &mut buf) {
                Ok(()) => {}
                Err(ChunkFault::OtherFlag) => {
                    return Err(truncated(
                        input,
                        format!("it ends after chunk {chunk_no}, before the final chunk"),
                    ))
                }
                Err(ChunkFault::Tampered) => return Err(tampered()),
            }
            break buf;
        };
    };

    let content = |problem| StoreError::MalformedContent {
        path: input.to_path_buf(),
        problem,
    };
    let trailer = Trailer::parse(&final_plain[chunk - TRAILER_LEN..])
        .ok_or_else(|| content("final chunk has no trailer"))?;
    let total = (u64::from(position) + 1) * chunk as u64 - TRAILER_LEN as u64;
    let real = u64::from(trailer.wav_header_len)
        .checked_add(trailer.data_bytes)
        .filter(|&r| r <= total && total - r < chunk as u64)
        .ok_or_else(|| content("trailer sizes do not match the chunks"))?;
    if trailer.wav_header_len > MAX_WAV_HEADER || real + 1 > u64::from(u32::MAX) {
        return Err(content("trailer sizes out of range"));
    }
    let final_start = u64::from(position) * chunk as u64;
    let pad_from = real.saturating_sub(final_start) as usize;
    if final_plain[pad_from..chunk - TRAILER_LEN]
        .iter()
        .any(|&b| b != 0)
    {
        return Err(content("padding is not zero"));
    }
    out.write_all(&final_plain[..chunk - TRAILER_LEN])
        .map_err(write_err)?;
    drop(final_plain);

    // Cut the padding off and put the true sizes into the WAV header.
    let file = out;
    file.truncate_to(real).map_err(write_err)?;
    let mut wav = vec![0u8; trailer.wav_header_len as usize];
    file.seek(SeekFrom::Start(0))
        .and_then(|_| file.read_exact(&mut wav))
        .map_err(write_err)?;
    let format = container::parse_wav_header(&wav).ok_or_else(|| content("bad WAV header"))?;
    if trailer.frames.checked_mul(u64::from(format.block_align())) != Some(trailer.data_bytes) {
        return Err(content("frame count does not match the data size"));
    }
    let pad = trailer.data_bytes % 2;
    let riff_size = (real + pad - 8) as u32;
    let data_size = trailer.data_bytes as u32;
    file.seek(SeekFrom::Start(4))
        .and_then(|_| file.write_all(&riff_size.to_le_bytes()))
        .and_then(|_| file.seek(SeekFrom::Start(u64::from(trailer.wav_header_len) - 4)))
        .and_then(|_| file.write_all(&data_size.to_le_bytes()))
        .and_then(|_| file.seek(SeekFrom::End(0)))
        .and_then(|_| file.write_all(&[0u8; 1][..pad as usize]))
        .and_then(|_| file.flush())
        .map_err(write_err)?;

    let info = DecryptInfo {
        key_id: header.key_id,
        rate: format.rate,
        channels: format.channels,
        bits_per_sample: format.bits,
        frames: trailer.frames,
        duration_s: trailer.frames as f64 / f64::from(format.rate),
    };
    Ok(info)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

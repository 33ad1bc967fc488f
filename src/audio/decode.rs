//! Decoding audio files into planar f32 PCM at the original rate, one block at a time.
//!
//! Owns opening a file, probing its container by content (the extension is only a hint),
//! choosing the audio track and turning packets into bounded blocks. Must not resample,
//! mix channels or hold more than one block of audio.
//!
//! Decode errors fail closed: a packet that does not decode stops the stream with
//! [`AudioError::Corrupt`] naming the frame where it happened, because dropping it would
//! shift every later time and replacing it with silence would hide a gap the detector
//! never saw. Callers that prefer to keep going can opt in with
//! [`AudioReader::open_lenient`], which replaces a bad packet by silence of the same
//! length (times stay aligned) and counts it in [`AudioReader::corrupt_packets`], so the
//! pipeline can say so in the transcript's metadata.

use std::fs::File;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use symphonia::core::audio::{AudioBuffer, Signal};
use symphonia::core::codecs::{self, CodecType, Decoder, DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::{FormatOptions, FormatReader};
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

use zeroize::Zeroizing;

use super::AudioError;

/// Largest block [`AudioReader::next_block`] returns, in frames per channel.
pub const MAX_BLOCK_FRAMES: usize = 16_384;

/// What the decoder knows about a stream before decoding it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioInfo {
    /// Frames per second of every channel.
    pub rate: u32,
    pub channels: u16,
    /// symphonia's short codec name: `pcm_s16le`, `pcm_mulaw`, `pcm_alaw`, `flac`, `mp3`, ...
    pub codec: String,
    /// True for perceptual or adaptive codecs (MP3, Vorbis, AAC, Opus, ADPCM) whose samples
    /// cannot be written back in their own format; their redacted copy is stored as 16-bit
    /// PCM. PCM (including G.711) and lossless codecs are false.
    pub lossy: bool,
    /// Bits per decoded sample where the container says (8 for G.711, 16/24/32 for PCM).
    pub bits_per_sample: Option<u16>,
    /// Total frames per channel if the container declares it.
    pub frames: Option<u64>,
}

/// Where encoded audio comes from: a local file, or an object already read into memory
/// (from object storage; never spooled to disk). The bytes are zeroized when the last
/// reader of them is gone, since they hold the unredacted call.
#[derive(Clone)]
pub enum AudioSource {
    File(PathBuf),
    Memory {
        /// The object's name, for messages and as the format hint.
        name: PathBuf,
        bytes: SharedBytes,
    },
}

impl AudioSource {
    /// In-memory audio named `name` (its extension is the format hint).
    pub fn memory(name: impl Into<PathBuf>, bytes: Zeroizing<Vec<u8>>) -> Self {
        AudioSource::Memory {
            name: name.into(),
            bytes: SharedBytes(Arc::new(bytes)),
        }
    }

    /// The file's path or the object's name.
    pub fn name(&self) -> &Path {
        match self {
            AudioSource::File(path) => path,
            AudioSource::Memory { name, .. } => name,
        }
    }
}

impl std::fmt::Debug for AudioSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AudioSource::File(path) => f.debug_tuple("File").field(path).finish(),
            AudioSource::Memory { name, bytes } => f
                .debug_struct("Memory")
                .field("name", name)
                .field("len", &bytes.len())
                .finish(),
        }
    }
}

/// Encoded audio shared by the passes over one input, zeroized when the last is done.
#[derive(Clone)]
pub struct SharedBytes(Arc<Zeroizing<Vec<u8>>>);

impl std::ops::Deref for SharedBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl AsRef<[u8]> for SharedBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// A file being decoded: call [`AudioReader::next_block`] until it returns `None`.
pub struct AudioReader {
    path: PathBuf,
    info: AudioInfo,
    format: Box<dyn FormatReader>,
    decoder: Box<dyn Decoder>,
    track_id: u32,
    /// Frames per channel returned so far (the time of the next block's first frame).
    position: u64,
    /// Decoded frames not yet returned because they exceed one block.
    pending: Vec<Vec<f32>>,
    pending_at: usize,
    lenient: bool,
    corrupt_packets: u64,
    /// Where the stream ends when the container states it exactly but the decoder pads
    /// past it (Ogg Vorbis: the last page's granule position).
    exact_end: Option<u64>,
    finished: bool,
    /// The span the reader was opened in (the input's, see `crate::diagnostics`): entered
    /// again whenever it decodes, on any thread, so the decoder's warnings stay with it.
    span: tracing::Span,
}

impl AudioReader {
    /// Opens `path` and probes its format; a decode error later ends the stream with an
    /// error (fail closed).
    pub fn open(path: &Path) -> Result<Self, AudioError> {
        Self::open_with(path, false)
    }

    /// Like [`AudioReader::open`], but a packet that fails to decode is replaced by
    /// silence of its duration and counted instead of ending the stream.
    pub fn open_lenient(path: &Path) -> Result<Self, AudioError> {
        Self::open_with(path, true)
    }

    /// Opens encoded audio from `source`: a local file or bytes already in memory.
    pub fn open_source(source: &AudioSource) -> Result<Self, AudioError> {
        match source {
            AudioSource::File(path) => Self::open(path),
            AudioSource::Memory { name, bytes } => {
                if bytes.is_empty() {
                    return Err(AudioError::Empty { path: name.clone() });
                }
                let head = &bytes[..bytes.len().min(12)];
                let magic = known_magic(head);
                let stream = Box::new(std::io::Cursor::new(bytes.clone()));
                Self::probe(name, stream, magic, false)
            }
        }
    }

    fn open_with(path: &Path, lenient: bool) -> Result<Self, AudioError> {
        let p = path.to_path_buf();
        let file = File::open(path).map_err(|e| match e.kind() {
            ErrorKind::NotFound => AudioError::NotFound { path: p.clone() },
            _ => AudioError::Unreadable {
                path: p.clone(),
                source: e,
            },
        })?;
        let meta = file.metadata().map_err(|e| AudioError::Unreadable {
            path: p.clone(),
            source: e,
        })?;
        if meta.is_dir() {
            return Err(AudioError::Unreadable {
                path: p,
                source: std::io::Error::new(ErrorKind::InvalidInput, "it is a directory"),
            });
        }
        if meta.len() == 0 {
            return Err(AudioError::Empty { path: p });
        }
        let magic = file_magic(path);
        Self::probe(path, Box::new(file), magic, lenient)
    }

    fn probe(
        path: &Path,
        source: Box<dyn symphonia::core::io::MediaSource>,
        magic: Option<&'static str>,
        lenient: bool,
    ) -> Result<Self, AudioError> {
        let p = path.to_path_buf();
        let mut hint = Hint::new();
        if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
            hint.with_extension(ext);
        }
        let mss = MediaSourceStream::new(source, MediaSourceStreamOptions::default());
        // Gapless trims MP3/AAC encoder delay and padding, so frame 0 is the first
        // sample of the original audio: times line up with the source.
        let fmt_opts = FormatOptions {
            enable_gapless: true,
            ..Default::default()
        };
        let probed = symphonia::default::get_probe()
            .format(&hint, mss, &fmt_opts, &MetadataOptions::default())
            .map_err(|e| open_error(&p, e, magic))?;
        let format = probed.format;

        let track = format
            .tracks()
            .iter()
            .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
            .ok_or_else(|| AudioError::NoAudioTrack { path: p.clone() })?;
        let params = track.codec_params.clone();
        let track_id = track.id;

        // Some containers (ADTS AAC, a few MP4s) leave these to the first decoded packet;
        // 0 here means "learn it from the first packet".
        let rate = match params.sample_rate {
            Some(0) => return Err(AudioError::NoSampleRate { path: p }),
            Some(r) => r,
            None => 0,
        };
        let channels = match params.channels {
            Some(c) if c.count() == 0 => return Err(AudioError::ZeroChannels { path: p }),
            Some(c) => c.count(),
            None => 0,
        };
        let channels = u16::try_from(channels).map_err(|_| AudioError::UnsupportedFormat {
            path: p.clone(),
            detail: format!("{channels} channels"),
        })?;

        let decoder = symphonia::default::get_codecs()
            .make(&params, &DecoderOptions { verify: true })
            .map_err(|e| match e {
                SymError::Unsupported(what) => AudioError::UnsupportedFormat {
                    path: p.clone(),
                    detail: format!("codec not supported: {what}"),
                },
                other => AudioError::Corrupt {
                    path: p.clone(),
                    frame: 0,
                    seconds: 0.0,
                    detail: format!("codec setup failed: {other}"),
                },
            })?;

        let codec = symphonia::default::get_codecs()
            .get_codec(params.codec)
            .map(|d| d.short_name.to_string())
            .unwrap_or_else(|| "unknown".to_string());
        let info = AudioInfo {
            rate,
            channels,
            codec,
            lossy: is_lossy(params.codec),
            bits_per_sample: params
                .bits_per_sample
                .and_then(|b| u16::try_from(b).ok())
                .or_else(|| float_bits(params.codec)),
            frames: params.n_frames,
        };

        let mut reader = AudioReader {
            path: p,
            info,
            format,
            decoder,
            track_id,
            position: 0,
            pending: Vec::new(),
            pending_at: 0,
            lenient,
            corrupt_packets: 0,
            exact_end: if params.codec == codecs::CODEC_TYPE_VORBIS {
                params.n_frames
            } else {
                None
            },
            finished: false,
            span: tracing::Span::current(),
        };
        if reader.info.rate == 0 || reader.info.channels == 0 {
            while reader.pending.is_empty() && !reader.finished {
                reader.decode_packet()?;
            }
            if reader.info.channels == 0 {
                return Err(AudioError::ZeroChannels { path: reader.path });
            }
            if reader.info.rate == 0 {
                return Err(AudioError::NoSampleRate { path: reader.path });
            }
        }
        Ok(reader)
    }

    pub fn info(&self) -> &AudioInfo {
        &self.info
    }

    /// Frames per channel returned so far.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Packets replaced by silence (only ever non-zero for [`AudioReader::open_lenient`]).
    pub fn corrupt_packets(&self) -> u64 {
        self.corrupt_packets
    }

    /// The next block of planar f32 samples (one `Vec` per channel, all the same length,
    /// 1..=[`MAX_BLOCK_FRAMES`] frames, values in [-1, 1]) at the original rate; `None` at
    /// the end of the stream.
    pub fn next_block(&mut self) -> Result<Option<Vec<Vec<f32>>>, AudioError> {
        let span = self.span.clone();
        let _in = span.enter();
        loop {
            if let Some(mut block) = self.take_pending() {
                if let Some(end) = self.exact_end {
                    // Drop the codec's end padding past the stream's stated length.
                    let keep = end.saturating_sub(self.position).min(block[0].len() as u64);
                    if keep == 0 {
                        continue;
                    }
                    block.iter_mut().for_each(|ch| ch.truncate(keep as usize));
                }
                self.position += block[0].len() as u64;
                return Ok(Some(block));
            }
            if self.finished {
                return Ok(None);
            }
            self.decode_packet()?;
        }
    }

    fn take_pending(&mut self) -> Option<Vec<Vec<f32>>> {
        let len = self.pending.first().map_or(0, Vec::len);
        if self.pending_at >= len {
            return None;
        }
        let end = (self.pending_at + MAX_BLOCK_FRAMES).min(len);
        let block = if self.pending_at == 0 && end == len {
            std::mem::take(&mut self.pending)
        } else {
            self.pending
                .iter()
                .map(|ch| ch[self.pending_at..end].to_vec())
                .collect()
        };
        self.pending_at = end;
        if end == len {
            self.pending.clear();
            self.pending_at = 0;
        }
        Some(block)
    }

    /// Decodes packets until one yields frames (into `pending`) or the stream ends.
    fn decode_packet(&mut self) -> Result<(), AudioError> {
        let packet = match self.format.next_packet() {
            Ok(p) => p,
            Err(SymError::IoError(e)) if e.kind() == ErrorKind::UnexpectedEof => {
                return self.end_of_stream();
            }
            Err(SymError::ResetRequired) => {
                return Err(AudioError::LayoutChanged {
                    path: self.path.clone(),
                    frame: self.position,
                    detail: "a new stream starts inside the file".into(),
                })
            }
            Err(SymError::IoError(e)) => {
                return Err(AudioError::Io {
                    path: self.path.clone(),
                    frame: self.position,
                    source: e,
                })
            }
            Err(e) => return Err(self.corrupt(format!("demuxing failed: {e}"))),
        };
        if packet.track_id() != self.track_id {
            return Ok(());
        }
        match self.decoder.decode(&packet) {
            Ok(decoded) => {
                let spec = *decoded.spec();
                if self.info.channels == 0 || self.info.rate == 0 {
                    self.info.channels = u16::try_from(spec.channels.count()).unwrap_or(0);
                    self.info.rate = spec.rate;
                }
                if spec.channels.count() != usize::from(self.info.channels)
                    || spec.rate != self.info.rate
                {
                    return Err(AudioError::LayoutChanged {
                        path: self.path.clone(),
                        frame: self.position,
                        detail: format!(
                            "{} ch at {} Hz became {} ch at {} Hz",
                            self.info.channels,
                            self.info.rate,
                            spec.channels.count(),
                            spec.rate
                        ),
                    });
                }
                let frames = decoded.frames();
                if frames == 0 {
                    return Ok(());
                }
                let mut buf = AudioBuffer::<f32>::new(decoded.capacity() as u64, spec);
                decoded.convert(&mut buf);
                self.pending = (0..spec.channels.count())
                    .map(|c| buf.chan(c).iter().map(|s| s.clamp(-1.0, 1.0)).collect())
                    .collect();
                self.pending_at = 0;
                Ok(())
            }
            Err(SymError::DecodeError(what)) if self.lenient => {
                self.corrupt_packets += 1;
                // Bounded so a lying header cannot make us allocate gigabytes.
                let frames = packet.dur.min(self.info.rate as u64 * 10) as usize;
                tracing::warn!(
                    frame = self.position,
                    frames,
                    "packet failed to decode ({what}); replaced by silence"
                );
                self.pending = vec![vec![0.0; frames]; usize::from(self.info.channels)];
                self.pending_at = 0;
                Ok(())
            }
            Err(SymError::IoError(e)) if e.kind() == ErrorKind::UnexpectedEof => {
                Err(self.truncated_or_corrupt("a packet ends early"))
            }
            Err(e) => Err(self.corrupt(format!("packet failed to decode: {e}"))),
        }
    }

    fn end_of_stream(&mut self) -> Result<(), AudioError> {
        self.finished = true;
        if self.decoder.finalize().verify_ok == Some(false) {
            return Err(self.corrupt("checksum of the decoded audio does not match".into()));
        }
        if let Some(expected) = self.info.frames {
            // Lossy containers may state a length that is off by part of a codec frame.
            let slack = if self.info.lossy {
                u64::from(self.info.rate) / 20
            } else {
                0
            };
            if self.position + slack < expected && !declares_unknown_length(expected, &self.info) {
                return Err(AudioError::Truncated {
                    path: self.path.clone(),
                    decoded: self.position,
                    expected,
                    seconds: self.position as f64 / self.info.rate as f64,
                });
            }
        }
        if self.position == 0 {
            return Err(self.truncated_or_corrupt("no audio frames in the stream"));
        }
        Ok(())
    }

    fn truncated_or_corrupt(&self, detail: &str) -> AudioError {
        match self.info.frames {
            Some(expected) if expected > self.position => AudioError::Truncated {
                path: self.path.clone(),
                decoded: self.position,
                expected,
                seconds: self.position as f64 / self.info.rate as f64,
            },
            _ => self.corrupt(detail.to_string()),
        }
    }

    fn corrupt(&self, detail: String) -> AudioError {
        AudioError::Corrupt {
            path: self.path.clone(),
            frame: self.position,
            seconds: self.position as f64 / self.info.rate as f64,
            detail,
        }
    }
}

/// Decodes a whole file into memory (planar, original rate). For short clips and tests;
/// the pipeline streams with [`AudioReader::next_block`] so memory stays flat.
pub fn decode_file(path: &Path) -> Result<(AudioInfo, Vec<Vec<f32>>), AudioError> {
    let mut r = AudioReader::open(path)?;
    let mut chans = vec![Vec::new(); usize::from(r.info().channels)];
    while let Some(block) = r.next_block()? {
        for (c, b) in chans.iter_mut().zip(block) {
            c.extend(b);
        }
    }
    Ok((r.info().clone(), chans))
}

/// Streaming writers put a placeholder length (0xFFFFFFFF bytes) in the WAV header.
fn declares_unknown_length(expected: u64, info: &AudioInfo) -> bool {
    let bytes_per_frame =
        u64::from(info.bits_per_sample.unwrap_or(16).div_ceil(8)) * u64::from(info.channels);
    bytes_per_frame > 0 && expected >= (u64::from(u32::MAX) - 8) / bytes_per_frame
}

fn open_error(path: &Path, e: SymError, magic: Option<&'static str>) -> AudioError {
    let path = path.to_path_buf();
    match e {
        // The probe reads to the end looking for a format marker; hitting the end means
        // a cut header only if the file starts like an audio file.
        SymError::IoError(e) if e.kind() == ErrorKind::UnexpectedEof && magic.is_none() => {
            AudioError::UnsupportedFormat {
                path,
                detail: "no known audio format in the content".into(),
            }
        }
        SymError::Unsupported(what) => AudioError::UnsupportedFormat {
            path,
            detail: what.to_string(),
        },
        SymError::IoError(e) if e.kind() == ErrorKind::UnexpectedEof => AudioError::Corrupt {
            path,
            frame: 0,
            seconds: 0.0,
            detail: format!(
                "the {} header ends before it is complete",
                magic.unwrap_or("audio")
            ),
        },
        SymError::IoError(e) => AudioError::Io {
            path,
            frame: 0,
            source: e,
        },
        other => AudioError::Corrupt {
            path,
            frame: 0,
            seconds: 0.0,
            detail: format!("bad header: {other}"),
        },
    }
}

/// symphonia leaves `bits_per_sample` unset for float PCM.
fn float_bits(codec: CodecType) -> Option<u16> {
    match codec {
        codecs::CODEC_TYPE_PCM_F32LE | codecs::CODEC_TYPE_PCM_F32BE => Some(32),
        codecs::CODEC_TYPE_PCM_F64LE | codecs::CODEC_TYPE_PCM_F64BE => Some(64),
        _ => None,
    }
}

/// The container a file's first bytes announce, if any.
fn file_magic(path: &Path) -> Option<&'static str> {
    let mut head = [0u8; 12];
    let mut f = File::open(path).ok()?;
    let n = std::io::Read::read(&mut f, &mut head).ok()?;
    known_magic(&head[..n])
}

/// The container the first bytes `h` announce, if any.
fn known_magic(h: &[u8]) -> Option<&'static str> {
    let n = h.len();
    let starts = |m: &[u8]| h.starts_with(m);
    if starts(b"RIFF") || starts(b"RIFX") || starts(b"RF64") {
        Some("WAV")
    } else if starts(b"fLaC") {
        Some("FLAC")
    } else if starts(b"OggS") {
        Some("OGG")
    } else if starts(b"ID3") || (n >= 2 && h[0] == 0xFF && h[1] & 0xE0 == 0xE0) {
        Some("MP3")
    } else if starts(b"FORM") {
        Some("AIFF")
    } else if starts(b"caff") {
        Some("CAF")
    } else if starts(&[0x1A, 0x45, 0xDF, 0xA3]) {
        Some("MKV")
    } else if n >= 8 && &h[4..8] == b"ftyp" {
        Some("MP4")
    } else {
        None
    }
}

fn is_lossy(codec: CodecType) -> bool {
    [
        codecs::CODEC_TYPE_VORBIS,
        codecs::CODEC_TYPE_MP1,
        codecs::CODEC_TYPE_MP2,
        codecs::CODEC_TYPE_MP3,
        codecs::CODEC_TYPE_AAC,
        codecs::CODEC_TYPE_OPUS,
        codecs::CODEC_TYPE_SPEEX,
        codecs::CODEC_TYPE_MUSEPACK,
        codecs::CODEC_TYPE_ATRAC1,
        codecs::CODEC_TYPE_ATRAC3,
        codecs::CODEC_TYPE_ATRAC3PLUS,
        codecs::CODEC_TYPE_ATRAC9,
        codecs::CODEC_TYPE_EAC3,
        codecs::CODEC_TYPE_AC4,
        codecs::CODEC_TYPE_DCA,
        codecs::CODEC_TYPE_WMA,
        codecs::CODEC_TYPE_ADPCM_G722,
        codecs::CODEC_TYPE_ADPCM_G726,
        codecs::CODEC_TYPE_ADPCM_G726LE,
        codecs::CODEC_TYPE_ADPCM_MS,
        codecs::CODEC_TYPE_ADPCM_IMA_WAV,
        codecs::CODEC_TYPE_ADPCM_IMA_QT,
    ]
    .contains(&codec)
}

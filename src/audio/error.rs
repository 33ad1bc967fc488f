//! Why audio could not be read. Messages say what happened and what to do; they name the
//! file and a position, never any audio content.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    #[error("{path}: file not found; check the path")]
    NotFound { path: PathBuf },

    #[error("{path}: cannot read the file ({source}); check its permissions")]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{path}: the file is empty (0 bytes); it holds no audio")]
    Empty { path: PathBuf },

    #[error("{path}: not a supported audio format ({detail}); supported: WAV (PCM, float, G.711), FLAC, MP3, OGG Vorbis, AAC/M4A, AIFF, CAF, MKV/WebM")]
    UnsupportedFormat { path: PathBuf, detail: String },

    #[error("{path}: the container holds no audio track that can be decoded")]
    NoAudioTrack { path: PathBuf },

    #[error("{path}: the audio track declares zero channels")]
    ZeroChannels { path: PathBuf },

    #[error("{path}: the audio track declares no usable sample rate")]
    NoSampleRate { path: PathBuf },

    #[error("{path}: the stream is corrupt at frame {frame} (~{seconds:.3} s): {detail}; the file cannot be decoded safely, re-export or repair it")]
    Corrupt {
        path: PathBuf,
        frame: u64,
        seconds: f64,
        detail: String,
    },

    #[error("{path}: the stream is truncated: {decoded} of {expected} frames decoded (stops at ~{seconds:.3} s); the file was cut short, recover the complete file")]
    Truncated {
        path: PathBuf,
        decoded: u64,
        expected: u64,
        seconds: f64,
    },

    #[error("{path}: the stream changed its layout at frame {frame} ({detail}); split the file so each part has one layout")]
    LayoutChanged {
        path: PathBuf,
        frame: u64,
        detail: String,
    },

    #[error("{path}: read error at frame {frame}: {source}")]
    Io {
        path: PathBuf,
        frame: u64,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot resample from {from_rate} Hz: {detail}")]
    Resample { from_rate: u32, detail: String },
}

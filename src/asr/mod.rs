//! Speech recognition on the machine: the Whisper model (fetch, CT2 → ggml conversion,
//! verification) and transcription with whisper.cpp through `whisper-rs`.
//!
//! Input is 16 kHz mono f32 on the recognition clock ([`crate::time::ASR_RATE`]); output
//! is words with sample-accurate-as-possible times on that clock. This module must not
//! know about sensitive numbers, channels, files of call audio or storage: it hears and
//! writes down, nothing more. No audio or text leaves the process.

pub mod bare;
pub mod ct2;
pub mod ggml;
pub mod language;
pub mod mel;
pub mod model;
pub mod quantize;
pub mod rehear;
pub mod vocab;
pub mod wheel;

use crate::time::Span;

/// One Whisper token with its own timing. Whisper glues digits into tokens such as
/// "4539," or "-4880", so later stages need each token's span, not just the word's.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub text: String,
    /// On the 16 kHz recognition clock, in the timeline of the whole input.
    pub span: Span,
    /// Token probability from the decoder, 0..=1.
    pub probability: f32,
}

/// A word as Whisper wrote it (leading space removed), with the tokens it is made of.
#[derive(Debug, Clone, PartialEq)]
pub struct Word {
    pub text: String,
    /// On the 16 kHz recognition clock, in the timeline of the whole input.
    pub span: Span,
    /// Mean token probability, 0..=1.
    pub confidence: f32,
    pub tokens: Vec<Token>,
}

/// A run of words Whisper decoded together.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub span: Span,
    pub words: Vec<Word>,
    /// Whisper's no-speech probability for the window this segment came from.
    pub no_speech_probability: f32,
    /// Heard only on a second hearing, of audio whose first pass looped or left it
    /// unheard ([`rehear`]): callers decide how far to trust it.
    pub second_hearing: bool,
}

mod pauses;
pub mod script;
pub mod speech_only;
pub mod transcribe;
mod watch;
pub mod window;
mod words;

pub use speech_only::SpeechOnlyTranscriber;
pub use transcribe::{AsrError, TimingMode, Transcriber, TranscriberConfig};
pub use window::{transcribe_clip, StreamingTranscriber};

//! Audio in: decoding files of any common container/codec (symphonia), G.711, resampling
//! to the 16 kHz recognition clock (rubato) and finding speech (energy based, no model).
//!
//! Produces planar f32 PCM per channel at the original rate and, separately, 16 kHz mono
//! streams for recognition; refines span edges on the original-rate audio; finds keypad
//! tones ([`dtmf`]) at the original rate. Must not know about words, numbers or storage,
//! and never writes audio anywhere.
//!
//! How the pieces fit: [`AudioReader::next_block`] yields bounded blocks per channel at
//! the original rate; one [`Resampler16k`] per channel turns them into the 16 kHz stream
//! (sample `k` is at time `k / 16000` of the original, so `Span::rescale` maps times
//! back); a [`SpeechTracker`] per channel finds speech on that stream; and
//! [`refine_span`] widens a detected span on the original-rate channel before bleeping.

pub mod compact;
pub mod decode;
pub mod dtmf;
mod edges;
pub mod g711;
pub mod resample;
pub mod vad;

mod error;

pub use decode::{decode_file, AudioInfo, AudioReader, AudioSource};
pub use error::AudioError;
pub use resample::Resampler16k;
pub use vad::{refine_span, speech_regions, SpeechTracker, VadConfig};

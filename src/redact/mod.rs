//! Bleeping: renders redaction spans onto original-rate audio, one channel at a time.
//!
//! Owns span padding and merging ([`pad_and_merge`]) and the bleep signal ([`Bleeper`]:
//! tone, silence or comfort noise, with short crossfades). Works on chunks at any offset
//! so a recording never needs to be whole in memory: every output sample depends only on
//! its absolute index, its own input value and the spans, so applying a bleep to a buffer
//! in pieces gives exactly the same samples as applying it to the whole.
//! Must not decide *what* is sensitive, and must not write anything.

mod bleep;
mod spans;

pub use bleep::{BleepConfig, BleepSignal, Bleeper};
pub use spans::pad_and_merge;

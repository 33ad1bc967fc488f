//! hushline keeps payment-card and ID numbers out of call-center recordings.
//!
//! Audio flows one way through the library; the major components are:
//!
//! * [`audio`]: decodes files (symphonia) and G.711, resamples to 16 kHz (rubato), finds speech.
//! * [`asr`]: the local Whisper model (fetched from a registry package, converted to ggml)
//!   and transcription with word and token timings (whisper-rs).
//! * [`detect`]: turns words into spans of card, ID, SSN, CVV and expiry numbers and
//!   masks them in the text; fails closed on doubtful digit runs.
//! * [`redact`]: bleeps those spans on the original-rate audio, per channel.
//! * [`store`]: writes only masked transcripts and AES-256-GCM encrypted recordings;
//!   keys, read-back and the audit log.
//! * [`pipeline`]: wires the stages on threads with bounded channels, for files,
//!   batches and the demo.
//! * [`live`]: SIP/SIPREC + RTP and microphone sources feeding the same stages.
//! * [`io`]: where inputs and outputs live: local folders and object storage URLs.
//! * [`queue`]: the NATS JetStream work queue (`enqueue`, `worker`, `queue status`).
//! * [`metrics`]: Prometheus metrics and health endpoints for `serve` and `worker`.
//!
//! Time is an integer sample index on a known clock ([`time`]), converted to seconds
//! only at the edges.

pub mod asr;
pub mod audio;
pub mod config;
pub mod detect;
pub mod diagnostics;
pub mod eval;
pub mod fsutil;
#[doc(hidden)]
pub mod fuzz;
pub mod io;
pub mod live;
pub mod metrics;
pub mod pipeline;
pub mod queue;
pub mod redact;
pub mod store;
pub mod time;

//! The one place stages are wired together: decode → resample → speech windows →
//! transcribe → detect → bleep → encrypt/write, for single files, batches and the demo.
//!
//! Stages run on threads joined by bounded channels and pass owned data one way. Must not
//! implement any stage itself; it only connects them, and it enforces fail-closed order:
//! nothing reaches a writer before redaction of the span it contains has finished.

//! Bleeping: renders redaction spans onto original-rate audio, one channel at a time.
//!
//! Owns span padding and merging and the bleep signal (tone, silence or comfort noise,
//! with short fades). Works on chunks at any offset so a recording never needs to be
//! whole in memory. Must not decide *what* is sensitive, and must not write anything.

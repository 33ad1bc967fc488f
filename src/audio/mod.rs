//! Audio in: decoding files of any common container/codec (symphonia), G.711, resampling
//! to the 16 kHz recognition clock (rubato), WAV helpers (hound) and voice activity.
//!
//! Produces planar f32 PCM per channel at the original rate and, separately, 16 kHz mono
//! streams for recognition. Must not know about words, numbers or storage.

//! What hushline leaves on disk: masked transcripts, encrypted recordings, keys and the
//! audit log.
//!
//! Owns the encrypted recording container (AES-256-GCM STREAM, wrapped per-recording data
//! keys; see docs/FORMAT.md), key files and keyrings, atomic writes, and the hash-chained
//! audit log. Must never write plaintext audio or an unmasked transcript, and must never
//! log key material.
//!
//! * [`keys`]: key files (`keygen`, `load_keyring`), zeroized master keys.
//! * [`recording`]: [`RecordingWriter`] streams redacted PCM into `S.wav.enc`.
//! * [`readback`]: [`decrypt_file`] and [`rewrap_file`], optionally audited.
//! * [`transcript`]: the masked transcript JSON contract and WebVTT.
//! * [`audit`]: the append-only, hash-chained log of decrypts and rewraps.

pub mod audit;
pub(crate) mod container;
mod error;
pub mod keys;
pub mod readback;
pub mod recording;
pub mod transcript;

pub use error::StoreError;
pub use keys::{
    add_key, key_file_from_env_or, keygen, load_keyring, load_keyring_from, Keyring, MasterKey,
};
pub use readback::{
    decrypt_file, decrypt_file_audited, decrypt_to_vec, rewrap_file, rewrap_file_audited, salvage,
    verify_bytes, verify_file, DecryptInfo,
};
pub use recording::RecordingWriter;
pub use transcript::{
    write_transcript, write_transcript_to, write_vtt, LiveMetadata, LiveStreamOut, Metadata,
    ParticipantOut, RedactionOut, SegmentOut, TranscriptDoc, WordOut,
};

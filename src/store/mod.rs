//! What hushline leaves on disk: masked transcripts, encrypted recordings, keys and the
//! audit log.
//!
//! Owns the encrypted recording container (AES-256-GCM STREAM, wrapped per-recording data
//! keys; see docs/FORMAT.md), key files and keyrings, atomic writes, and the hash-chained
//! audit log. Must never write plaintext audio or an unmasked transcript, and must never
//! log key material.

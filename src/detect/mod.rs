//! Detection of spoken sensitive numbers: payment cards, national IDs, SSNs, CVVs,
//! expiry dates and user-defined entities, in transcribed words with timings.
//!
//! Owns spoken-number normalisation (English and Chinese), validators (Luhn, issuer
//! ranges, GB 11643 checksum, SSN rules), context rules, stitching across pauses and
//! segments, and text masking. It takes words and returns spans plus masked words.
//! Must not touch audio, files or keys, and must never log or return a detected value.

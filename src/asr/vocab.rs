//! Whisper's text vocabulary for the ggml file: reads `tokenizer.json` (Hugging Face
//! byte-level BPE) and turns each token string back into the raw bytes whisper.cpp wants.
//!
//! GPT-2's byte-level BPE stores every byte as a printable character (`bytes_to_unicode`):
//! bytes 33..=126, 161..=172 and 174..=255 stand for themselves; the other 68 byte values
//! map, in increasing order, to U+0100, U+0101, … (so `Ġ` is a space). This module only
//! undoes that mapping; it must not know about special tokens, which whisper.cpp adds itself.

use std::collections::HashMap;
use std::io::Read;

use serde::Deserialize;

/// Tokens written to the ggml file: the GPT-2 BPE base vocabulary, ids `0..50257`.
/// Special tokens (`<|endoftext|>` for multilingual models, languages, timestamps) come
/// after these and whisper.cpp generates them from `n_vocab`.
pub const BASE_VOCAB_SIZE: usize = 50257;

#[derive(Debug, thiserror::Error)]
pub enum VocabError {
    #[error("tokenizer.json is not valid JSON with a `model.vocab` table: {0}")]
    Json(#[from] serde_json::Error),
    #[error("tokenizer.json lacks token id {id}, which every Whisper vocabulary has; the tokenizer belongs to another model")]
    MissingId { id: usize },
    #[error("tokenizer.json token id {id} is not byte-level BPE text (character U+{code:04X}); the tokenizer belongs to another model")]
    NotByteLevel { id: usize, code: u32 },
}

#[derive(Deserialize)]
struct Tokenizer {
    model: BpeModel,
}

#[derive(Deserialize)]
struct BpeModel {
    vocab: HashMap<String, usize>,
}

/// Reads `tokenizer.json` and returns the raw bytes of tokens `0..BASE_VOCAB_SIZE`.
///
/// The last base id (50256) is `<|endoftext|>` in the English-only vocabulary and an
/// unused, empty slot in the multilingual one; it may be absent, and is then empty.
/// Every other base id must be present.
pub fn read_tokenizer_json(reader: impl Read) -> Result<Vec<Vec<u8>>, VocabError> {
    let tokenizer: Tokenizer = serde_json::from_reader(reader)?;
    let mut tokens: Vec<Option<Vec<u8>>> = vec![None; BASE_VOCAB_SIZE];
    for (text, id) in tokenizer.model.vocab {
        if id >= BASE_VOCAB_SIZE {
            continue;
        }
        let bytes = token_bytes(&text).map_err(|code| VocabError::NotByteLevel { id, code })?;
        tokens[id] = Some(bytes);
    }
    let last = BASE_VOCAB_SIZE - 1;
    tokens
        .into_iter()
        .enumerate()
        .map(|(id, token)| match token {
            Some(bytes) => Ok(bytes),
            None if id == last => Ok(Vec::new()),
            None => Err(VocabError::MissingId { id }),
        })
        .collect()
}

/// Maps a byte-level BPE token string back to its bytes. A character outside the 256 the
/// encoding uses is returned as its code point in the error.
pub fn token_bytes(token: &str) -> Result<Vec<u8>, u32> {
    let table = unicode_to_byte();
    token
        .chars()
        .map(|c| {
            let code = c as u32;
            table.get(&code).copied().ok_or(code)
        })
        .collect()
}

fn is_printable_self(byte: u8) -> bool {
    matches!(byte, 33..=126 | 161..=172 | 174..=255)
}

/// The inverse of GPT-2's `bytes_to_unicode`, as a code point → byte table.
fn unicode_to_byte() -> HashMap<u32, u8> {
    let mut table = HashMap::with_capacity(256);
    let mut next_shifted = 0x100u32;
    for byte in 0..=255u8 {
        if is_printable_self(byte) {
            table.insert(u32::from(byte), byte);
        } else {
            table.insert(next_shifted, byte);
            next_shifted += 1;
        }
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shifted_bytes_decode_to_control_and_space_bytes() {
        assert_eq!(token_bytes("Ġthe").unwrap(), b" the");
        assert_eq!(token_bytes("Ċ").unwrap(), b"\n");
        assert_eq!(token_bytes("\u{0100}").unwrap(), [0u8]);
        // 0xAD (soft hyphen) is the last byte not printed as itself: 68th shifted char.
        assert_eq!(token_bytes("\u{0143}").unwrap(), [0xADu8]);
        assert_eq!(token_bytes("abc!~").unwrap(), b"abc!~");
    }

    #[test]
    fn multibyte_utf8_is_reassembled_from_byte_characters() {
        // "场" is E5 9C BA; byte-level BPE writes it as "åľº".
        assert_eq!(token_bytes("åľº").unwrap(), "场".as_bytes());
    }

    #[test]
    fn table_is_a_bijection_over_all_bytes() {
        let table = unicode_to_byte();
        let mut bytes: Vec<u8> = table.values().copied().collect();
        bytes.sort_unstable();
        assert_eq!(bytes, (0..=255u8).collect::<Vec<_>>());
        assert_eq!(table.keys().max(), Some(&(0x100 + 67)));
    }

    #[test]
    fn characters_outside_the_encoding_are_rejected() {
        assert_eq!(token_bytes("a\u{0150}"), Err(0x150));
        assert_eq!(token_bytes("€"), Err(0x20AC));
    }

    fn tokenizer_json(ids: impl Iterator<Item = usize>, extra: &str) -> String {
        let mut entries: Vec<String> = ids.map(|id| format!("\"t{id}\": {id}")).collect();
        if !extra.is_empty() {
            entries.push(extra.to_string());
        }
        format!(
            "{{\"added_tokens\": [], \"model\": {{\"type\": \"BPE\", \"merges\": [], \"vocab\": {{{}}}}}}}",
            entries.join(",")
        )
    }

    #[test]
    fn reads_ids_in_order_and_leaves_an_absent_last_id_empty() {
        let json = tokenizer_json(0..BASE_VOCAB_SIZE - 1, "\"<|endoftext|>\": 50257");
        let tokens = read_tokenizer_json(json.as_bytes()).unwrap();
        assert_eq!(tokens.len(), BASE_VOCAB_SIZE);
        assert_eq!(tokens[0], b"t0");
        assert_eq!(tokens[12345], b"t12345");
        assert!(tokens[BASE_VOCAB_SIZE - 1].is_empty());
    }

    #[test]
    fn a_missing_base_id_is_an_error() {
        let json = tokenizer_json((0..BASE_VOCAB_SIZE).filter(|&id| id != 7), "");
        assert!(matches!(
            read_tokenizer_json(json.as_bytes()),
            Err(VocabError::MissingId { id: 7 })
        ));
    }

    #[test]
    fn not_json_is_an_error() {
        assert!(matches!(
            read_tokenizer_json(&b"{\"model\": 3"[..]),
            Err(VocabError::Json(_))
        ));
    }
}

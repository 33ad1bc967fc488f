//! Detection of spoken sensitive numbers: payment cards, national IDs, SSNs, CVVs,
//! expiry dates and user-defined entities, in transcribed words with timings.
//!
//! Owns spoken-number normalisation (English and Chinese), validators (Luhn, issuer
//! ranges, GB 11643 checksum, SSN rules), context rules, stitching across pauses and
//! segments, and text masking. It takes words and returns spans plus masked words.
//! Must not touch audio, files or keys, and must never log or return a detected value.
//!
//! How a call's words become redactions, per channel (speaker):
//! 1. `lexicon` cuts each word into lexemes, each with its share of the word's time
//!    (from Whisper's tokens when they spell the word).
//! 2. `normalize` reads lexemes as digits ("forty one eleven" → 4 1 1 1, 腰 → 1 when
//!    next to digits), separators, fillers and other words.
//! 3. `classify` stitches digits into runs across separators, fillers and short pauses
//!    (a context phrase on the other channel ends a run), finds context phrases on both
//!    channels (as written, or by sound: `phonetic` for English sound-alikes,
//!    `pinyin_context` for Mandarin homophones such as 身份正好 for 身份证号), and decides
//!    each run: checksums first (card, CN ID; `cn_numbers` for the 15-digit ID and
//!    opt-in mobile numbers, which have none), then the context
//!    near it (CVV, expiry, SSN, ID; negative only when nearest), then the fail-closed
//!    rules for long runs. Parts of a card split by chatter are joined when their digits
//!    together pass a checksum; digits soon after a card count as its code or expiry.
//! 4. `answer` follows the dialogue: after a request for a card, ID, SSN, CVV or expiry,
//!    the digits said next are that item until the answer ends, validated or not; the
//!    parts of an answer no item covers are redacted as `fail-closed:answer`.
//! 5. `mask` replaces each item in the words by its tag.
//!
//! `detector` holds the compiled rules and runs these steps per call. Keyed digits join
//! as words of their own (`keypad`), so a keyed card or code is classified like a spoken
//! one and its item says it was keyed.
//!
//! [`Detector::detect`] is pure and takes a whole call; a live caller can run it over a
//! sliding window of recent words (longer than the gap and context settings) and keep
//! the items that end before the window's unsettled tail.

mod answer;
mod classify;
mod cn_numbers;
mod dense;
mod detector;
mod items;
pub mod keypad;
mod lexicon;
mod mask;
mod normalize;
mod phonetic;
mod pinyin_context;
mod rules;
pub mod validate;

use std::path::PathBuf;

use crate::asr::Word;
use crate::time::Span;

pub use detector::Detector;
pub use keypad::{keypad_words, merge_presses, KeyPress};
pub use rules::{ContextRules, CustomRule, LangRules, Language, MobileRule, Rules, Thresholds};

/// A word heard (or keyed) on one channel (speaker) of a call.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelWord {
    pub channel: u16,
    pub word: Word,
    pub source: Source,
}

/// Where a word, and so an item, came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Source {
    /// Spoken, as recognition wrote it.
    #[default]
    Speech,
    /// Keyed on the phone (RFC 4733 events or in-band tones); see [`keypad`].
    Keypad,
}

impl Source {
    /// The name transcripts use, e.g. `keypad`.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Speech => "speech",
            Source::Keypad => "keypad",
        }
    }
}

/// What a redacted item is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EntityKind {
    Card,
    CnId,
    Ssn,
    Cvv,
    Expiry,
    /// A long digit run no validator accepted, redacted to fail closed.
    LongDigitRun,
    /// Keys pressed on the phone that form no other item (a PIN, a menu choice, `#`).
    Dtmf,
    /// A mainland China mobile number (opt-in: `[mobile] enabled` in the rules).
    Mobile,
    /// A user-defined entity from the rules file, by name.
    Custom(String),
}

impl EntityKind {
    /// The tag that replaces the item in masked text, e.g. `[CARD]`.
    pub fn tag(&self) -> String {
        match self {
            EntityKind::Custom(name) => format!("[{}]", name.to_uppercase()),
            other => format!("[{}]", other.as_str().to_uppercase()),
        }
    }

    /// The name used in transcript JSON, e.g. `card`.
    pub fn as_str(&self) -> &str {
        match self {
            EntityKind::Card => "card",
            EntityKind::CnId => "cn_id",
            EntityKind::Ssn => "ssn",
            EntityKind::Cvv => "cvv",
            EntityKind::Expiry => "expiry",
            EntityKind::LongDigitRun => "number",
            EntityKind::Dtmf => "dtmf",
            EntityKind::Mobile => "mobile",
            EntityKind::Custom(name) => name,
        }
    }
}

/// One item to redact. Carries no digit of the value.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    pub kind: EntityKind,
    pub channel: u16,
    /// On the 16 kHz recognition clock: from the first digit's start to the last digit's
    /// end, including the words merged into the item.
    pub span: Span,
    /// Why, e.g. `luhn+issuer`, `context:cvv`, `fail-closed:long-run`; never a digit.
    pub reason: String,
    pub confidence: f32,
    /// [`Source::Keypad`] when any of its digits was keyed.
    pub source: Source,
}

/// A word of the masked transcript.
#[derive(Debug, Clone, PartialEq)]
pub struct MaskedWord {
    pub channel: u16,
    /// The original word, or, for the word where an item starts, the text before the
    /// item followed by the tag. Words wholly inside an item are left out.
    pub text: String,
    /// The word's span; for a tag word, widened to cover the whole item.
    pub span: Span,
    /// Set on the word that carries an item's tag.
    pub redacted: Option<EntityKind>,
    pub source: Source,
}

/// A stretch of spoken digits on one channel; see [`Detector::digit_runs`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigitRun {
    pub channel: u16,
    /// On the 16 kHz recognition clock, first digit's start to last digit's end.
    pub span: Span,
    /// How many digits (and check characters) it holds; never which.
    pub digits: usize,
}

/// Everything [`Detector::detect`] found in a call.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Detections {
    /// Sorted by start time, then channel.
    pub items: Vec<Detection>,
    /// The words in input order, masked.
    pub masked: Vec<MaskedWord>,
}

/// Errors of building a detector from rules. Messages name the rule or file, never a value.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    #[error(
        "cannot read detection rules file {path}: {source}; check the path and its permissions"
    )]
    RulesRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("detection rules are not valid: {message}; compare with the default rules.toml")]
    RulesSyntax { message: String },
    #[error("invalid detection rule: {0}")]
    InvalidRule(String),
    #[error("unknown detection language `{0}`; use en or zh")]
    UnknownLanguage(String),
    #[error("custom rule `{name}` has an invalid {field}: {message}")]
    BadRegex {
        name: String,
        field: &'static str,
        message: String,
    },
}

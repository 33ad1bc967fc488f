//! The live feed: what agent desktops see while a call goes on, one JSON object per line.
//!
//! Lines carry masked text only (the same masking as the stored transcript) and counts,
//! never a detected value or a keyed digit. Must not decide masking itself.

use serde::Serialize;

/// One line of the live feed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum FeedLine {
    CallStarted {
        call: String,
        streams: usize,
    },
    /// Masked words of one stream whose audio has just been released.
    Line {
        call: String,
        channel: u16,
        #[serde(skip_serializing_if = "Option::is_none")]
        speaker: Option<String>,
        start: f64,
        end: f64,
        text: String,
    },
    CallEnded {
        call: String,
        reason: String,
        /// The outputs' file names, when they were written.
        #[serde(skip_serializing_if = "Option::is_none")]
        recording: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        transcript: Option<String>,
        redactions: usize,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        stats: super::call::CallStats,
    },
}

impl FeedLine {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("feed lines are plain data")
    }
}

//! The masked transcript: the JSON contract of DESIGN.md §3, and WebVTT.
//!
//! The text given here must already be masked by `detect`; redactions carry type, times,
//! channel, reason and confidence, and there is deliberately no field that could hold a
//! value. The source is recorded by file name only, never by path. Files are written
//! atomically. Must not mask, detect or alter words.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize, Serializer};

use super::StoreError;
use crate::fsutil::write_atomic;

/// A whole transcript file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscriptDoc {
    /// The full masked text.
    pub text: String,
    pub segments: Vec<SegmentOut>,
    pub redactions: Vec<RedactionOut>,
    pub metadata: Metadata,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentOut {
    pub channel: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speaker: Option<String>,
    /// Seconds from the start of the recording.
    pub start: f64,
    pub end: f64,
    pub text: String,
    pub words: Vec<WordOut>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WordOut {
    pub text: String,
    pub start: f64,
    pub end: f64,
    pub confidence: f32,
}

/// One redacted item: what kind, where, why, how sure. Never its value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RedactionOut {
    /// `card`, `cn_id`, `ssn`, `cvv`, `expiry`, `digits` (fail-closed), ...
    #[serde(rename = "type")]
    pub r#type: String,
    pub start: f64,
    pub end: f64,
    pub channel: u16,
    /// Why it was redacted (validator, context, fail-closed rule); never digits from it.
    pub reason: String,
    pub confidence: f32,
    /// Where it came from when not speech: `keypad` for keyed digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    /// The input's file name (directories are dropped when written).
    #[serde(serialize_with = "file_name_only")]
    pub source: String,
    pub duration_s: f64,
    /// Sample rate and channels of the input (and of the stored recording).
    pub rate: u32,
    pub channels: u16,
    pub model: String,
    pub language: String,
    pub hushline_version: String,
    /// File name of the encrypted recording, if one was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording: Option<String>,
    /// Id of the master key the recording is encrypted under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// Where the pipeline was unsure and redacted more than it could confirm.
    pub fail_closed: Vec<String>,
    /// Set for calls redacted live.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live: Option<LiveMetadata>,
}

/// Where a live call came from and how its real-time redaction went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveMetadata {
    /// hushline's id for the call (also the outputs' file stem).
    pub call_id: String,
    /// `bye`, `cancel`, `inactivity` or `shutdown`.
    pub end_reason: String,
    /// How far behind the newest audio redacted audio was released, in seconds.
    pub lookahead_s: f64,
    /// One per recorded channel, in channel order.
    pub streams: Vec<LiveStreamOut>,
    /// From SIPREC metadata.
    pub participants: Vec<ParticipantOut>,
    /// Seconds from the arrival of the end of a redacted item's audio to the release of
    /// its bleeped audio: median and 95th percentile over the call's items.
    pub latency_p50_s: Option<f64>,
    pub latency_p95_s: Option<f64>,
    /// Audio released before recognition had heard it, and so bleeped whole (seconds).
    pub unchecked_s: f64,
    /// Items found only once some of their audio had already been released unbleeped.
    pub late_items: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveStreamOut {
    pub channel: u16,
    /// Where the stream's first audio sits in the recording, in seconds (streams of a
    /// call start at different times).
    pub start_s: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub codec: String,
    /// The SRTP suite that protected the stream in transit; absent for plain RTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub srtp: Option<String>,
    /// The participant sending on this stream (name, else address, else id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participant: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParticipantOut {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aor: Option<String>,
}

impl Default for Metadata {
    fn default() -> Self {
        Metadata {
            source: String::new(),
            duration_s: 0.0,
            rate: 0,
            channels: 0,
            model: String::new(),
            language: String::new(),
            hushline_version: env!("CARGO_PKG_VERSION").to_string(),
            recording: None,
            key_id: None,
            fail_closed: Vec::new(),
            live: None,
        }
    }
}

fn file_name_only<S: Serializer>(source: &str, s: S) -> Result<S::Ok, S::Error> {
    let name = source.rsplit(['/', '\\']).next().unwrap_or(source);
    s.serialize_str(name)
}

/// Writes `doc` as pretty JSON to `path`, atomically.
pub fn write_transcript(path: &Path, doc: &TranscriptDoc) -> Result<(), StoreError> {
    write_atomic(path, &transcript_json(path, doc)?)
        .map_err(|e| StoreError::io("writing transcript", path, e))
}

/// Writes `doc` into `out` (named `label` in errors) and commits it.
pub fn write_transcript_to(
    mut out: Box<dyn crate::io::Output>,
    label: &Path,
    doc: &TranscriptDoc,
) -> Result<(), StoreError> {
    let json = transcript_json(label, doc)?;
    out.write_all(&json)
        .and_then(|()| out.commit())
        .map_err(|e| StoreError::io("writing transcript", label, e))
}

fn transcript_json(path: &Path, doc: &TranscriptDoc) -> Result<Vec<u8>, StoreError> {
    let mut json = serde_json::to_vec_pretty(doc).map_err(|source| StoreError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    json.push(b'\n');
    Ok(json)
}

/// Writes `doc` as WebVTT: one cue per segment, the speaker (or channel) as the voice.
pub fn write_vtt(path: &Path, doc: &TranscriptDoc) -> Result<(), StoreError> {
    write_atomic(path, render_vtt(doc).as_bytes())
        .map_err(|e| StoreError::io("writing subtitles", path, e))
}

fn render_vtt(doc: &TranscriptDoc) -> String {
    let mut out = String::from("WEBVTT\n");
    let mut segments: Vec<&SegmentOut> = doc.segments.iter().collect();
    segments.sort_by(|a, b| a.start.total_cmp(&b.start).then(a.channel.cmp(&b.channel)));
    for seg in segments {
        let voice = match &seg.speaker {
            Some(s) => escape(s),
            None => format!("channel {}", seg.channel),
        };
        let end = if seg.end > seg.start {
            seg.end
        } else {
            seg.start + 0.001
        };
        let _ = write!(
            out,
            "\n{} --> {}\n<v {}>{}\n",
            timestamp(seg.start),
            timestamp(end),
            voice,
            escape(seg.text.trim())
        );
    }
    out
}

/// `hh:mm:ss.ttt`; negative or non-finite times become zero.
fn timestamp(seconds: f64) -> String {
    let ms = if seconds.is_finite() && seconds > 0.0 {
        (seconds * 1000.0).round() as u64
    } else {
        0
    };
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// Escapes what WebVTT cue text reserves; a blank line would end the cue early.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample_doc() -> TranscriptDoc {
        TranscriptDoc {
            text: "my card is [CARD] thanks".into(),
            segments: vec![SegmentOut {
                channel: 0,
                speaker: None,
                start: 61.5,
                end: 3725.25,
                text: "my card is [CARD] <thanks> & bye".into(),
                words: vec![WordOut {
                    text: "my".into(),
                    start: 61.5,
                    end: 61.7,
                    confidence: 0.9,
                }],
            }],
            redactions: vec![RedactionOut {
                r#type: "card".into(),
                start: 62.0,
                end: 66.0,
                channel: 0,
                reason: "luhn + context".into(),
                confidence: 0.97,
                source: None,
            }],
            metadata: Metadata {
                source: "/calls/2026/in/call 7.wav".into(),
                duration_s: 3725.25,
                rate: 8000,
                channels: 1,
                model: "tiny.en".into(),
                language: "en".into(),
                ..Metadata::default()
            },
        }
    }

    #[test]
    fn json_follows_the_contract() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("call.transcript.json");
        write_transcript(&path, &sample_doc()).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(v["text"], "my card is [CARD] thanks");
        assert_eq!(v["segments"][0]["words"][0]["start"], 61.5);
        let r = &v["redactions"][0];
        assert_eq!(r["type"], "card");
        let mut keys: Vec<_> = r.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(
            keys,
            ["channel", "confidence", "end", "reason", "start", "type"]
        );
        // Keyed items say so.
        let mut keyed = sample_doc();
        keyed.redactions[0].source = Some("keypad".into());
        let k = serde_json::to_value(&keyed).unwrap();
        assert_eq!(k["redactions"][0]["source"], "keypad");
        assert_eq!(v["metadata"]["source"], "call 7.wav");
        assert_eq!(v["metadata"]["hushline_version"], env!("CARGO_PKG_VERSION"));
        // Reads back into the same types.
        let back: TranscriptDoc = serde_json::from_value(v).unwrap();
        assert_eq!(back.redactions, sample_doc().redactions);
    }

    #[test]
    fn vtt_has_cues_with_escaped_text() {
        let vtt = render_vtt(&sample_doc());
        assert!(
            vtt.starts_with("WEBVTT\n\n00:01:01.500 --> 01:02:05.250\n"),
            "{vtt}"
        );
        assert!(vtt.contains("<v channel 0>my card is [CARD] &lt;thanks&gt; &amp; bye\n"));
    }
}

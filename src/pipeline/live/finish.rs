//! The end of a live call: the final detection over all its words, the masked transcript,
//! and the atomic finalisation of its recording and transcript. Also the word masking
//! shared with the live feed, so both show the same text.
//!
//! Must not release or bleep audio (that happened live) nor change what was recorded.

use std::path::{Path, PathBuf};

use super::call::LiveCall;
use super::feed::FeedLine;
use super::release::{call_words, key_presses};
use super::LiveConfig;
use super::UP;
use crate::asr::Word;
use crate::detect::{keypad_words, Detection, EntityKind};
use crate::live::{EndReason, LIVE_RATE};
use crate::pipeline::transcript::{full_text, redaction, seconds, under_sound};
use crate::pipeline::Engine;
use crate::store::{
    write_transcript, LiveMetadata, LiveStreamOut, Metadata, ParticipantOut, RedactionOut,
    SegmentOut, TranscriptDoc, WordOut,
};
use crate::time::{from_seconds, to_seconds, Span, ASR_RATE};

/// A pause this long starts a new transcript segment.
const SEGMENT_GAP_S: f64 = 1.5;

/// The masked transcript so far, rewritten while a call goes on so that a crash keeps
/// the words already released: `ID.transcript.partial.json` in `out_dir`.
pub(super) fn partial_transcript_path(out_dir: &Path, call_id: &str) -> PathBuf {
    let (_, transcript) = output_paths(out_dir, call_id);
    transcript.with_extension("partial.json")
}

/// Writes the checkpoint transcript: exactly the masked words already sent to the feed
/// (words not yet released may still turn out to be part of a number).
pub(super) fn checkpoint(engine: &Engine, cfg: &LiveConfig, call: &LiveCall) {
    let masked: Vec<Vec<(String, Span)>> = call.streams.iter().map(|st| st.sent.clone()).collect();
    let mut doc = transcript(engine, cfg, call, &masked, &[], &call.stats());
    doc.metadata
        .fail_closed
        .push("checkpoint of a call still in progress".into());
    let path = partial_transcript_path(&cfg.out_dir, &call.id);
    if let Err(e) = write_transcript(&path, &doc) {
        tracing::warn!(call = %call.id, error = %e, "cannot write the transcript checkpoint");
    }
}

/// `ID.wav.enc` and `ID.transcript.json` in `out_dir`.
pub(super) fn output_paths(out_dir: &Path, call_id: &str) -> (PathBuf, PathBuf) {
    let stem: String = call_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    (
        out_dir.join(format!("{stem}.wav.enc")),
        out_dir.join(format!("{stem}.transcript.json")),
    )
}

/// Masks the words of one channel: a word inside a detected item becomes the item's tag
/// (once per item, spanning the item); a word inside a digit run not judged yet
/// (`provisional`, still growing when it was released) becomes `[NUMBER]`; the rest are
/// kept. Audio bleeped only because recognition was behind does not mask words: once
/// heard, the text is judged by detection over the words, as in the batch path.
pub(super) fn mask_words(
    words: &[Word],
    channel: u16,
    items: &[Detection],
    provisional: &[Span],
) -> Vec<(String, Span)> {
    let mut out: Vec<(String, Span)> = Vec::new();
    let mut last: Option<usize> = None;
    for w in words {
        let mid = w.span.start + w.span.len() / 2;
        let inside = |s: &Span| s.start <= mid && mid < s.end.max(s.start + 1);
        let item = items
            .iter()
            .position(|d| d.channel == channel && inside(&d.span));
        // Provisional runs are numbered after the items.
        let key = item.or_else(|| provisional.iter().position(inside).map(|i| items.len() + i));
        match key {
            Some(k) if last == Some(k) => {
                if let Some(prev) = out.last_mut() {
                    prev.1 = prev.1.union(&w.span);
                }
            }
            Some(k) if k < items.len() => {
                out.push((items[k].kind.tag(), w.span.union(&items[k].span)));
            }
            Some(_) => out.push((EntityKind::LongDigitRun.tag(), w.span)),
            None => out.push((w.text.trim().to_string(), w.span)),
        }
        last = key;
    }
    out.retain(|(t, _)| !t.is_empty());
    out
}

/// A keyed entry as the transcript shows it: the tag of the item it belongs to, spanning
/// the item, and never its keys (`[DTMF]` should no item hold it).
fn mask_keyed(word: &Word, channel: u16, items: &[Detection]) -> (String, Span) {
    let mid = word.span.start + word.span.len() / 2;
    items
        .iter()
        .find(|d| d.channel == channel && d.span.start <= mid && mid < d.span.end)
        .map_or((EntityKind::Dtmf.tag(), word.span), |d| {
            (d.kind.tag(), word.span.union(&d.span))
        })
}

/// The text of masked words, space-separated.
pub(super) fn joined(words: &[(String, Span)]) -> String {
    words
        .iter()
        .map(|(t, _)| t.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Who speaks on channel `c`: the participant's name or address, else the stream label.
pub(super) fn speaker(call: &LiveCall, c: usize) -> Option<String> {
    let info = call.infos.get(c)?;
    info.participant
        .as_ref()
        .and_then(|p| p.name.clone().or_else(|| p.aor.clone()))
        .or_else(|| info.label.as_ref().map(|l| format!("stream {l}")))
}

/// Finalises the call's outputs; reports the end on the feed. Returns whether both
/// outputs were written.
pub(super) fn finalise(
    engine: &Engine,
    cfg: &LiveConfig,
    mut call: LiveCall,
    feed: &mut (dyn FnMut(FeedLine) + Send),
) -> bool {
    let (recording_path, transcript_path) = output_paths(&cfg.out_dir, &call.id);
    let detections = engine.detector.detect(&call_words(&call, 0, false));
    let mut stats = call.stats();
    stats.late_items = detections
        .items
        .iter()
        .filter(|d| !covered(&call.streams[usize::from(d.channel)].applied, d.span))
        .count();
    let keyed = keypad_words(&key_presses(&call));
    let masked: Vec<Vec<(String, Span)>> = call
        .streams
        .iter()
        .enumerate()
        .map(|(c, st)| {
            let mut words = mask_words(&st.committed, c as u16, &detections.items, &[]);
            let own = keyed.iter().filter(|w| usize::from(w.channel) == c);
            words.extend(own.map(|w| mask_keyed(&w.word, c as u16, &detections.items)));
            words.sort_by_key(|(_, span)| span.start);
            words
        })
        .collect();
    let doc = transcript(engine, cfg, &call, &masked, &detections.items, &stats);
    let mut error = call.error.clone();
    if let Some(writer) = call.take_writer() {
        if let Err(e) = writer.finish() {
            error = Some(e.to_string());
        }
    }
    if error.is_none() {
        if let Err(e) = write_transcript(&transcript_path, &doc) {
            let _ = std::fs::remove_file(&recording_path);
            error = Some(e.to_string());
        }
    }
    let _ = std::fs::remove_file(partial_transcript_path(&cfg.out_dir, &call.id));
    let ok = error.is_none();
    if let Some(e) = &error {
        tracing::error!(call = %call.id, error = %e, "the call's outputs were not written");
    } else {
        tracing::info!(call = %call.id, items = doc.redactions.len(), "live call finalised");
    }
    let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    feed(FeedLine::CallEnded {
        call: call.id.clone(),
        reason: reason_name(call.end_reason()).into(),
        recording: ok.then(|| name(&recording_path)).flatten(),
        transcript: ok.then(|| name(&transcript_path)).flatten(),
        redactions: doc.redactions.len(),
        error,
        stats,
    });
    ok
}

/// Whether `item` (16 kHz) lies wholly inside what was bleeped (8 kHz, merged).
fn covered(applied: &[Span], item: Span) -> bool {
    let (lo, hi) = (item.start / UP, item.end.div_ceil(UP));
    applied.iter().any(|a| a.start <= lo && hi <= a.end)
}

fn reason_name(r: EndReason) -> &'static str {
    match r {
        EndReason::Bye => "bye",
        EndReason::Cancel => "cancel",
        EndReason::Inactivity => "inactivity",
        EndReason::Shutdown => "shutdown",
    }
}

/// The transcript document from each channel's masked words and the items found.
fn transcript(
    engine: &Engine,
    cfg: &LiveConfig,
    call: &LiveCall,
    masked_words: &[Vec<(String, Span)>],
    items: &[Detection],
    stats: &super::call::CallStats,
) -> TranscriptDoc {
    let mut segments: Vec<SegmentOut> = Vec::new();
    for (c, masked) in masked_words.iter().enumerate() {
        let gap = from_seconds(SEGMENT_GAP_S, ASR_RATE);
        let mut start = 0;
        for i in 1..=masked.len() {
            let split = i == masked.len() || masked[i].1.start > masked[i - 1].1.end + gap;
            if !split {
                continue;
            }
            let part = &masked[start..i];
            start = i;
            segments.push(SegmentOut {
                channel: c as u16,
                speaker: speaker(call, c),
                start: seconds(part[0].1.start),
                end: seconds(part[part.len() - 1].1.end),
                text: joined(part),
                words: part
                    .iter()
                    .map(|(t, s)| WordOut {
                        text: t.clone(),
                        start: seconds(s.start),
                        end: seconds(s.end),
                        confidence: 1.0,
                    })
                    .collect(),
            });
        }
    }
    segments.sort_by(|a, b| a.start.total_cmp(&b.start).then(a.channel.cmp(&b.channel)));
    let text = full_text(&segments, call.channels > 1);
    let (recording, _) = output_paths(&cfg.out_dir, &call.id);
    TranscriptDoc {
        text,
        segments,
        redactions: redactions(call, items),
        metadata: Metadata {
            source: call.id.clone(),
            duration_s: to_seconds(call.released, LIVE_RATE),
            rate: LIVE_RATE,
            channels: call.channels as u16,
            model: engine.config.model_label.clone(),
            language: engine.config.language.clone(),
            recording: recording
                .file_name()
                .map(|n| n.to_string_lossy().into_owned()),
            key_id: Some(engine.key().id.clone()),
            fail_closed: fail_closed_notes(call, stats),
            live: Some(LiveMetadata {
                call_id: call.id.clone(),
                end_reason: reason_name(call.end_reason()).into(),
                lookahead_s: cfg.lookahead.as_secs_f64(),
                streams: (0..call.channels)
                    .map(|c| LiveStreamOut {
                        channel: c as u16,
                        start_s: to_seconds(call.streams[c].base.unwrap_or(0), LIVE_RATE),
                        label: call.infos.get(c).and_then(|i| i.label.clone()),
                        codec: call.infos.get(c).map_or("", |i| i.codec.name()).to_string(),
                        srtp: call
                            .infos
                            .get(c)
                            .and_then(|i| i.srtp)
                            .map(|s| s.name().to_string()),
                        participant: speaker(call, c),
                    })
                    .collect(),
                participants: call
                    .participants
                    .iter()
                    .map(|p| ParticipantOut {
                        id: p.id.clone(),
                        name: p.name.clone(),
                        aor: p.aor.clone(),
                    })
                    .collect(),
                latency_p50_s: stats.latency_p50_s,
                latency_p95_s: stats.latency_p95_s,
                unchecked_s: stats.unchecked_s,
                late_items: stats.late_items,
            }),
            ..Metadata::default()
        },
    }
}

fn fail_closed_notes(call: &LiveCall, stats: &super::call::CallStats) -> Vec<String> {
    let mut notes = call.notes.clone();
    if stats.unchecked_s > 0.0 {
        notes.push(format!(
            "recognition was behind for {:.1} s of audio; that audio was bleeped whole",
            stats.unchecked_s
        ));
    }
    let unsure: u64 = call
        .streams
        .iter()
        .flat_map(|s| &s.unsure)
        .map(Span::len)
        .sum();
    if unsure > 0 {
        notes.push(format!(
            "recognition could not vouch for {:.1} s (decoder loops or errors); bleeped whole",
            to_seconds(unsure, ASR_RATE)
        ));
    }
    notes
}

/// The items found (every keyed digit is in one) and every other bleeped stretch.
fn redactions(call: &LiveCall, items: &[Detection]) -> Vec<RedactionOut> {
    // Keyed digits and bleeps are on the 8 kHz call clock.
    let seconds8 = |s: u64| seconds(s * UP);
    let mut out: Vec<RedactionOut> = items.iter().map(redaction).collect();
    let in_item = |c: usize, s: Span| {
        items.iter().any(|d| {
            usize::from(d.channel) == c
                && Span::new(d.span.start / UP, d.span.end / UP).overlaps(&s)
        })
    };
    for (c, st) in call.streams.iter().enumerate() {
        out.extend(
            st.tones_under_sound
                .iter()
                .map(|s| under_sound(c as u16, Span::new(s.start * UP, s.end * UP))),
        );
        for span in &st.applied {
            let keyed = st
                .digits
                .iter()
                .chain(&st.tones)
                .any(|(_, d)| d.overlaps(span))
                || st.tones_under_sound.iter().any(|d| d.overlaps(span));
            if !(in_item(c, *span) || keyed) {
                out.push(RedactionOut {
                    r#type: "unrecognised".into(),
                    start: seconds8(span.start),
                    end: seconds8(span.end),
                    channel: c as u16,
                    reason: "fail-closed: bleeped live before recognition could clear it".into(),
                    confidence: 1.0,
                    source: None,
                });
            }
        }
    }
    out.sort_by(|a, b| a.start.total_cmp(&b.start).then(a.channel.cmp(&b.channel)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(text: &str, start: u64, end: u64) -> Word {
        Word {
            text: text.into(),
            span: Span::new(start, end),
            confidence: 1.0,
            tokens: Vec::new(),
        }
    }

    fn item(kind: EntityKind, channel: u16, start: u64, end: u64) -> Detection {
        Detection {
            kind,
            channel,
            span: Span::new(start, end),
            reason: "test".into(),
            confidence: 1.0,
            source: crate::detect::Source::Speech,
        }
    }

    #[test]
    fn words_of_an_item_become_one_tag_spanning_the_item() {
        let words = [
            word("it's", 0, 100),
            word("4539", 120, 200),
            word("1488", 220, 300),
            word("thanks", 400, 500),
        ];
        let items = [item(EntityKind::Card, 0, 110, 320)];
        let masked = mask_words(&words, 0, &items, &[]);
        let texts: Vec<&str> = masked.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(texts, ["it's", "[CARD]", "thanks"]);
        assert_eq!(masked[1].1, Span::new(110, 320));
    }

    #[test]
    fn items_of_another_channel_do_not_mask() {
        let words = [word("4539", 120, 200)];
        let items = [item(EntityKind::Card, 1, 110, 320)];
        assert_eq!(mask_words(&words, 0, &items, &[])[0].0, "4539");
    }

    #[test]
    fn two_items_in_a_row_keep_two_tags() {
        let words = [word("4539", 0, 100), word("123", 150, 250)];
        let items = [
            item(EntityKind::Card, 0, 0, 100),
            item(EntityKind::Cvv, 0, 150, 250),
        ];
        let texts: Vec<String> = mask_words(&words, 0, &items, &[])
            .into_iter()
            .map(|(t, _)| t)
            .collect();
        assert_eq!(texts, ["[CARD]", "[CVV]"]);
    }

    #[test]
    fn digits_of_a_run_not_judged_yet_are_masked_as_a_number() {
        let words = [
            word("it's", 0, 100),
            word("4539", 120, 200),
            word("9722", 220, 300),
            word("and", 400, 450),
        ];
        let masked = mask_words(&words, 0, &[], &[Span::new(120, 300)]);
        let texts: Vec<&str> = masked.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(texts, ["it's", "[NUMBER]", "and"]);
    }

    #[test]
    fn output_names_are_safe_file_names() {
        let (rec, tr) = output_paths(Path::new("out"), "a1b2-7/../x");
        assert_eq!(rec, Path::new("out/a1b2-7____x.wav.enc"));
        assert_eq!(tr, Path::new("out/a1b2-7____x.transcript.json"));
    }

    #[test]
    fn coverage_needs_the_whole_item_inside_one_bleep() {
        // `applied` is on the 8 kHz clock, items on the 16 kHz one.
        let applied = [Span::new(100, 200), Span::new(300, 400)];
        assert!(!covered(&applied, Span::new(380, 620)), "spans the gap");
        assert!(covered(&applied, Span::new(220, 380)));
        assert!(covered(&applied, Span::new(620, 780)));
    }
}

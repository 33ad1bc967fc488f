//! Builds the masked transcript document of one file from recognition and detection
//! results. Only masked words go in; detected values never do.
//!
//! Must not write anything (the store does) and must not re-decide what is sensitive.

use std::path::Path;

use crate::asr::Segment;
use crate::audio::dtmf::Heard;
use crate::audio::AudioInfo;
use crate::detect::{ChannelWord, Detection, Detections, Detector, MaskedWord, Source};
use crate::redact::pad_and_merge;
use crate::store::{Metadata, RedactionOut, SegmentOut, TranscriptDoc, WordOut};
use crate::time::{self, Span, ASR_RATE};

use super::recognize::{Recognition, Unsure};
use super::{ChannelSpan, PipelineConfig};

/// A stretch of audio recognition could not vouch for, bleeped whole.
pub struct FailClosed {
    pub channel: u16,
    /// On the 16 kHz clock.
    pub span: Span,
    pub why: String,
}

/// Spans the transcriber could not vouch for (decoder loops): bleeped whole.
pub fn fail_closed_spans(recognition: &Recognition) -> Vec<FailClosed> {
    recognition
        .unsure
        .iter()
        .map(|&(channel, span, unsure)| FailClosed {
            channel,
            span,
            why: format!(
                "{} on channel {channel} at {:.1}-{:.1} s; bleeped whole",
                match unsure {
                    Unsure::Loop => "decoder looped",
                    Unsure::Unheard => "speech no word covers",
                },
                seconds(span.start),
                seconds(span.end)
            ),
        })
        .collect()
}

/// Why a stretch heard only on a second hearing (after a loop, or of speech the first
/// pass left unheard) is not trusted. A reading that needed two tries is trusted unless
/// it may hold a number (below); otherwise the stretch stays out of the transcript and,
/// but for a garbled reading where no number may be, bleeped whole, as the first pass
/// left it. A trusted one lifts the blanket bleep from innocent talk and is read like
/// any other words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Distrust {
    /// It holds two digits or more (sound-alikes such as "too" included): two tries
    /// are not trusted to have every digit of a number right. Its words are still read
    /// for context beside the rest of the call.
    Digits,
    /// Its words were doubted (a garbled reading: a card heard as "I don't think wind
    /// fit iron") where a number may be: a request's answer window, or a digit-like word
    /// in it. Its words are not read at all: a doubted "no confirmation" must not name
    /// the other speaker's number.
    Doubted,
    /// Its words were doubted where no number may be (a garbled greeting): not bleeped
    /// whole, but not read either, so digits beside it are still beside unheard speech.
    Garbled,
    /// It came while an answer to a request for a sensitive number may still be under
    /// way and a digit-like word is a good share of it: the first group of a card
    /// ("two five") heard again as "too high".
    Asked,
}

impl Distrust {
    /// Whether its words are read (for context beside the rest of the call).
    pub fn words_read(self) -> bool {
        !matches!(self, Distrust::Doubted | Distrust::Garbled)
    }

    /// Whether its stretch is bleeped whole.
    pub fn bleeped_whole(self) -> bool {
        self != Distrust::Garbled
    }
}

/// A second hearing whose words average a lower confidence than this is doubted: the
/// garbled readings of numbers seen on the phone band averaged 0.3-0.55, confident
/// talk 0.7 and more.
const MIN_SECOND_HEARING_CONFIDENCE: f32 = 0.6;

/// Where a number was asked for, a confident second hearing is distrusted when at least
/// one word in this many is digit-like (sound-alikes included): a group of digits heard
/// as words is short and full of them ("too high"), while the asker's own sentences
/// around an answer ("go ahead with the card number when you're ready", "I need you to
/// take the card on my account") hold one "to" or "for" at most. Distrusting every
/// confident sentence there bleeped 32 s of innocent speech on the 60 development calls
/// for no item.
const ASKED_WORDS_PER_DIGIT_LIKE: usize = 4;

/// Whether (and why) the words of `seg` are not to be trusted; `None` for a first pass.
/// `asked` holds the windows in which answers to requests may come
/// ([`Detector::request_windows`]).
fn distrust(detector: &Detector, asked: &[Span], channel: u16, seg: &Segment) -> Option<Distrust> {
    if !seg.second_hearing {
        return None;
    }
    let words: Vec<ChannelWord> = super::segment_words(channel, seg).collect();
    // Two digits at least: "for" or "to" alone in talk is a sound-alike, not a number
    // (where one was asked for, a share of them is not trusted: `Asked`).
    let runs = detector.digit_runs(&words);
    if runs.iter().any(|r| r.digits >= 2) {
        return Some(Distrust::Digits);
    }
    let digit_like: usize = runs.iter().map(|r| r.digits).sum();
    // On either channel: on mono the request is the same channel's, on stereo the other's.
    let asked_here = asked.iter().any(|window| window.overlaps(&seg.span));
    let mean = seg.words.iter().map(|w| w.confidence).sum::<f32>() / seg.words.len().max(1) as f32;
    if mean < MIN_SECOND_HEARING_CONFIDENCE {
        // A garbled number is garbled where one was asked for or beside a digit-like
        // word; a garbled greeting or goodbye with neither was bleeped for nothing.
        return Some(if asked_here || digit_like > 0 {
            Distrust::Doubted
        } else {
            Distrust::Garbled
        });
    }
    let dense = digit_like > 0 && digit_like * ASKED_WORDS_PER_DIGIT_LIKE >= seg.words.len();
    (dense && asked_here).then_some(Distrust::Asked)
}

/// The verdict on every segment of `recognition`, by channel (as in
/// `recognition.channels`) and segment: `None` for a first pass or a trusted second
/// hearing. Judged once per file; everything after reads these.
pub fn second_hearing_verdicts(
    recognition: &Recognition,
    detector: &Detector,
    asked: &[Span],
) -> Vec<Vec<Option<Distrust>>> {
    recognition
        .channels
        .iter()
        .map(|ct| {
            ct.segments
                .iter()
                .map(|seg| distrust(detector, asked, ct.channel, seg))
                .collect()
        })
        .collect()
}

/// The distrusted second hearings, each with why (bleeped whole unless
/// [`Distrust::bleeped_whole`] says otherwise).
pub fn distrusted_second_hearings(
    recognition: &Recognition,
    verdicts: &[Vec<Option<Distrust>>],
) -> Vec<(Distrust, FailClosed)> {
    recognition
        .channels
        .iter()
        .zip(verdicts)
        .flat_map(|(ct, verdicts)| {
            ct.segments
                .iter()
                .zip(verdicts)
                .filter_map(move |(seg, verdict)| Some((ct.channel, seg, (*verdict)?)))
        })
        .map(|(channel, seg, distrust)| {
            let why = match distrust {
                Distrust::Digits => "with digits",
                Distrust::Doubted => "its words doubted",
                Distrust::Garbled => "its words doubted where no number may be",
                Distrust::Asked => "where a number was asked for",
            };
            let fail_closed = FailClosed {
                channel,
                span: seg.span,
                why: format!(
                    "heard only on a second hearing, {why}, on channel {channel} at {:.1}-{:.1} s; bleeped whole",
                    seconds(seg.span.start),
                    seconds(seg.span.end)
                ),
            };
            (distrust, fail_closed)
        })
        .collect()
}

/// Seconds on the 16 kHz clock, to the millisecond, as transcripts show them.
pub(super) fn seconds(sample: u64) -> f64 {
    (time::to_seconds(sample, ASR_RATE) * 1000.0).round() / 1000.0
}

#[allow(clippy::too_many_arguments)]
pub fn build(
    input: &Path,
    info: &AudioInfo,
    frames: u64,
    config: &PipelineConfig,
    recognition: &Recognition,
    detections: &Detections,
    fail_closed: &[FailClosed],
    recording_name: &str,
    key_id: &str,
) -> TranscriptDoc {
    let multi_channel = info.channels > 1;
    let mut segments: Vec<SegmentOut> = Vec::new();
    // Keyed entries (only their tags) go where they were keyed: into the segment they
    // fall in, else into one of their own.
    let mut keyed: Vec<&MaskedWord> = detections
        .masked
        .iter()
        .filter(|w| w.source == Source::Keypad)
        .collect();
    for ct in &recognition.channels {
        let masked: Vec<_> = detections
            .masked
            .iter()
            .filter(|w| w.channel == ct.channel && w.source == Source::Speech)
            .collect();
        for seg in &ct.segments {
            let inside = |w: &&&MaskedWord| {
                w.channel == ct.channel
                    && w.span.start >= seg.span.start
                    && w.span.start < seg.span.end.max(seg.span.start + 1)
            };
            let mut here: Vec<&MaskedWord> = masked.iter().filter(inside).copied().collect();
            here.extend(keyed.iter().filter(inside));
            keyed.retain(|w| !inside(&w));
            here.sort_by_key(|w| w.span.start);
            let words: Vec<WordOut> = here
                .iter()
                .filter(|w| !w.text.is_empty())
                .map(|w| WordOut {
                    text: w.text.clone(),
                    start: seconds(w.span.start),
                    end: seconds(w.span.end),
                    confidence: if w.redacted.is_some() {
                        1.0
                    } else {
                        word_confidence(seg, w.span)
                    },
                })
                .collect();
            if words.is_empty() {
                continue;
            }
            segments.push(segment(ct.channel, seg.span, words));
        }
    }
    segments.extend(keyed.iter().map(|w| {
        let word = WordOut {
            text: w.text.clone(),
            start: seconds(w.span.start),
            end: seconds(w.span.end),
            confidence: 1.0,
        };
        segment(w.channel, w.span, vec![word])
    }));
    segments.sort_by(|a, b| a.start.total_cmp(&b.start).then(a.channel.cmp(&b.channel)));

    let text = full_text(&segments, multi_channel);

    let mut redactions: Vec<RedactionOut> = detections.items.iter().map(redaction).collect();
    redactions.extend(
        recognition
            .tones
            .iter()
            .filter(|(_, tone)| tone.heard == Heard::UnderSound)
            .map(|&(channel, tone)| under_sound(channel, tone.span.rescale(info.rate, ASR_RATE))),
    );
    redactions.extend(fail_closed.iter().map(|f| RedactionOut {
        r#type: "unrecognised".into(),
        start: seconds(f.span.start),
        end: seconds(f.span.end),
        channel: f.channel,
        reason: format!("fail-closed: {}", f.why),
        confidence: 1.0,
        source: None,
    }));
    redactions.sort_by(|a, b| a.start.total_cmp(&b.start));

    TranscriptDoc {
        text,
        segments,
        redactions,
        metadata: Metadata {
            source: input
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            duration_s: time::to_seconds(frames, info.rate),
            rate: info.rate,
            channels: info.channels,
            model: config.model_label.clone(),
            language: config.language.clone(),
            hushline_version: env!("CARGO_PKG_VERSION").to_string(),
            recording: Some(recording_name.to_string()),
            key_id: Some(key_id.to_string()),
            fail_closed: fail_closed.iter().map(|f| f.why.clone()).collect(),
            live: None,
        },
    }
}

fn segment(channel: u16, span: Span, words: Vec<WordOut>) -> SegmentOut {
    let text = words
        .iter()
        .map(|w| w.text.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    SegmentOut {
        channel,
        speaker: None,
        start: seconds(span.start),
        end: seconds(span.end),
        text,
        words,
    }
}

/// An item as the transcript lists it: type, times (16 kHz clock), channel, why, how
/// sure, and `keypad` when it was keyed.
pub(super) fn redaction(d: &Detection) -> RedactionOut {
    RedactionOut {
        r#type: d.kind.as_str().to_string(),
        start: seconds(d.span.start),
        end: seconds(d.span.end),
        channel: d.channel,
        reason: d.reason.clone(),
        confidence: d.confidence,
        source: (d.source != Source::Speech).then(|| d.source.as_str().to_string()),
    }
}

/// A keypad tone heard under other sound (16 kHz span): removed from the recording, not
/// read as a key.
pub(super) fn under_sound(channel: u16, span: Span) -> RedactionOut {
    RedactionOut {
        r#type: crate::detect::EntityKind::Dtmf.as_str().to_string(),
        start: seconds(span.start),
        end: seconds(span.end),
        channel,
        reason: "fail-closed: a keypad tone under other sound; removed, not read".into(),
        confidence: 0.5,
        source: Some(Source::Keypad.as_str().to_string()),
    }
}

/// The transcript's whole text: segments in time order, one line per segment marked with
/// its channel when there are several, else joined by spaces.
pub(super) fn full_text(segments: &[SegmentOut], multi_channel: bool) -> String {
    segments
        .iter()
        .map(|s| {
            if multi_channel {
                format!("[ch{}] {}", s.channel, s.text)
            } else {
                s.text.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(if multi_channel { "\n" } else { " " })
}

fn word_confidence(seg: &crate::asr::Segment, span: Span) -> f32 {
    // Whisper gives several words one start when it cannot place them ("是" and the
    // characters after it); the whole span tells them apart.
    seg.words
        .iter()
        .find(|w| w.span == span)
        .or_else(|| seg.words.iter().find(|w| w.span.start == span.start))
        .map_or(0.0, |w| w.confidence)
}

/// Seconds of audio (summed over channels) that the recording has bleeped.
pub fn bleeped_seconds(
    spans: &[ChannelSpan],
    bleep: &crate::redact::BleepConfig,
    info: &AudioInfo,
    frames: u64,
) -> f64 {
    let padding = time::from_seconds(bleep.padding_s, info.rate);
    (0..info.channels)
        .map(|ch| {
            let own: Vec<Span> = spans
                .iter()
                .filter(|s| s.channel == ch)
                .map(|s| s.span)
                .collect();
            pad_and_merge(&own, padding, Some(frames))
                .iter()
                .map(|s| s.len())
                .sum::<u64>()
        })
        .map(|n| time::to_seconds(n, info.rate))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asr::{Segment, Word};

    fn word(text: &str, start: u64, end: u64, confidence: f32) -> Word {
        Word {
            text: text.into(),
            span: Span::new(start, end),
            confidence,
            tokens: Vec::new(),
        }
    }

    #[test]
    fn words_sharing_a_start_keep_their_own_confidence() {
        let seg = Segment {
            span: Span::new(0, 100),
            words: vec![word("是", 10, 12, 0.43), word("糖尿", 10, 60, 0.9)],
            no_speech_probability: 0.0,
            second_hearing: false,
        };
        assert_eq!(word_confidence(&seg, Span::new(10, 60)), 0.9);
        assert_eq!(word_confidence(&seg, Span::new(10, 12)), 0.43);
    }

    fn heard_again(texts: &[&str], confidence: f32) -> Segment {
        let words: Vec<Word> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| word(t, i as u64 * 8_000, i as u64 * 8_000 + 6_000, confidence))
            .collect();
        Segment {
            span: Span::new(0, words.len() as u64 * 8_000),
            words,
            no_speech_probability: 0.0,
            second_hearing: true,
        }
    }

    #[test]
    fn second_hearings_are_distrusted_where_they_may_hold_a_number() {
        let detector = Detector::new(crate::detect::Rules::default()).unwrap();
        let digits = heard_again(&["it's", "four", "one", "one", "high"], 0.9);
        // An expiry and a CVV as tiny.en heard a telephone voice ("oh five, two six,
        // five one nine").
        let misheard = heard_again(&["near-o-high,", "two-thicks,", "high-one-high."], 0.9);
        let talk = heard_again(&["thanks", "so", "much,", "have", "a", "good", "day"], 0.9);
        let sound_alike = heard_again(&["yeah,", "it's", "too", "high."], 0.9);
        let garbled = heard_again(&["I", "don't", "think", "wind", "fit", "iron."], 0.35);
        assert_eq!(distrust(&detector, &[], 0, &digits), Some(Distrust::Digits));
        assert_eq!(
            distrust(&detector, &[], 0, &misheard),
            Some(Distrust::Digits)
        );
        assert_eq!(distrust(&detector, &[], 0, &talk), None);
        // "too" alone is a sound-alike; after a request it is distrusted (below).
        assert_eq!(distrust(&detector, &[], 0, &sound_alike), None);
        // Garbled, with no request around it and no digit-like word: a greeting.
        assert_eq!(
            distrust(&detector, &[], 0, &garbled),
            Some(Distrust::Garbled)
        );
        assert!(!Distrust::Garbled.bleeped_whole() && !Distrust::Garbled.words_read());
        let garbled_sound_alike =
            heard_again(&["I", "don't", "think", "wind", "fit", "for."], 0.35);
        assert_eq!(
            distrust(&detector, &[], 0, &garbled_sound_alike),
            Some(Distrust::Doubted)
        );
        // Heard while a card number was being answered: a sound-alike in a few words is
        // not trusted, sentences with none or one "to" among many words are.
        let asked = [Span::new(0, 20_000)];
        assert_eq!(
            distrust(&detector, &asked, 0, &sound_alike),
            Some(Distrust::Asked)
        );
        assert_eq!(distrust(&detector, &asked, 0, &talk), None);
        let request = "fine, I need you to take the card on my account.";
        let request = heard_again(&request.split(' ').collect::<Vec<_>>(), 0.9);
        assert_eq!(distrust(&detector, &asked, 0, &request), None);
        assert_eq!(
            distrust(&detector, &asked, 0, &garbled),
            Some(Distrust::Doubted)
        );
        let mut first_pass = garbled.clone();
        first_pass.second_hearing = false;
        assert_eq!(distrust(&detector, &asked, 0, &first_pass), None);
    }
}

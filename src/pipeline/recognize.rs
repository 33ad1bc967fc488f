//! Pass 1 of a file: decode → resample to 16 kHz → cut long silences → transcribe, on three
//! threads joined by bounded channels, in memory bounded by a few blocks and the transcriber's windows.
//! Keypad tones are found on the way, on each channel at its original rate.
//!
//! Returns the words of every channel (small: text and times, never audio), the keypad
//! tones, and the spans recognition could not vouch for: where the decoder looped, and
//! speech (by the energy VAD) that no word or tone covers, since Whisper sometimes stops
//! early and leaves the rest of a window unheard. Must not detect or redact anything.

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use crossbeam_channel::bounded;

use crate::asr::{AsrError, Segment, SpeechOnlyTranscriber, Transcriber};
use crate::audio::compact::CutConfig;
use crate::audio::dtmf::{Tone, ToneDetector};
use crate::audio::vad::{SpeechTracker, VadConfig};
use crate::audio::{AudioInfo, AudioReader, AudioSource, Resampler16k};
use crate::time::{Span, ASR_RATE};

use super::{PipelineError, Stage, StageTimes};

/// Blocks in flight between two stages; enough to keep each stage busy, small enough
/// that memory does not grow with the file.
const QUEUE_DEPTH: usize = 4;

/// What recognition produced for one channel.
pub struct ChannelTranscript {
    pub channel: u16,
    pub segments: Vec<Segment>,
}

/// A channel and a 16 kHz span recognition could not vouch for.
pub type UnsureSpan = (u16, Span, Unsure);

/// Why a span is unsure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsure {
    /// The decoder repeated itself there.
    Loop,
    /// Speech no word covers.
    Unheard,
}

/// Speech at least this long (1 s) with no word on it is unheard: longer than the
/// breaths, clicks and "mm" Whisper rightly leaves out, shorter than a digit group.
const MIN_UNHEARD: u64 = ASR_RATE as u64;
/// Word edges from DTW are this uncertain (0.3 s); speech this close to a word is its.
const WORD_EDGE_SLACK: u64 = ASR_RATE as u64 * 3 / 10;

/// Everything pass 1 learned about a file.
pub struct Recognition {
    /// What the decoder found in the file.
    pub info: AudioInfo,
    pub channels: Vec<ChannelTranscript>,
    /// Stretches the decoder could not transcribe reliably.
    pub unsure: Vec<UnsureSpan>,
    /// Keypad tones by channel, on the original clock.
    pub tones: Vec<(u16, Tone)>,
}

/// Decodes `input` and transcribes each channel separately.
pub fn recognize(
    input: &AudioSource,
    transcriber: &Transcriber,
    cut: Option<&CutConfig>,
    cancel: &AtomicBool,
    timings: &StageTimes,
) -> Result<Recognition, PipelineError> {
    let mut reader = AudioReader::open_source(input)?;
    let info = reader.info().clone();
    let channel_count = info.channels as usize;
    let rate = info.rate;

    let (block_tx, block_rx) = bounded::<Vec<Vec<f32>>>(QUEUE_DEPTH);
    let (pcm_tx, pcm_rx) = bounded::<Vec<Vec<f32>>>(QUEUE_DEPTH);

    thread::scope(|scope| {
        let decoder =
            scope.spawn(move || super::decode_stage(&mut reader, block_tx, cancel, timings));

        let resampler = scope.spawn(move || -> Result<Vec<(u16, Tone)>, PipelineError> {
            let mut resamplers = (0..channel_count)
                .map(|_| Resampler16k::new(rate))
                .collect::<Result<Vec<_>, _>>()?;
            let mut keypads: Vec<ToneDetector> = (0..channel_count)
                .map(|_| ToneDetector::new(rate, 0))
                .collect();
            let mut tones = Vec::new();
            for block in block_rx {
                timings.time(Stage::Keypad, || {
                    for (ch, (keypad, samples)) in keypads.iter_mut().zip(&block).enumerate() {
                        tones.extend(keypad.push(samples).into_iter().map(|t| (ch as u16, t)));
                    }
                });
                let out: Vec<Vec<f32>> = timings.time(Stage::Resample, || {
                    resamplers
                        .iter_mut()
                        .zip(block.iter())
                        .map(|(r, ch)| r.process(ch))
                        .collect()
                });
                if pcm_tx.send(out).is_err() {
                    return Ok(tones);
                }
            }
            for (ch, keypad) in keypads.iter_mut().enumerate() {
                tones.extend(keypad.finish().into_iter().map(|t| (ch as u16, t)));
            }
            let tail: Vec<Vec<f32>> = resamplers.iter_mut().map(|r| r.finish()).collect();
            let _ = pcm_tx.send(tail);
            Ok(tones)
        });

        let transcribed =
            transcribe_channels(pcm_rx, channel_count, transcriber, cut, cancel, timings);
        // Join producers first so a decode error wins over the transcriber's view of it.
        decoder.join().expect("decoder thread panicked")?;
        let tones = resampler.join().expect("resampler thread panicked")?;
        let (channels, loops, speech) = transcribed?;
        let mut unsure = loops.clone();
        for (ch, regions) in speech.iter().enumerate() {
            let ch = ch as u16;
            // Tones are speech to the VAD; they are accounted for (removed) already.
            let covered: Vec<Span> = loops
                .iter()
                .filter(|u| u.0 == ch)
                .map(|u| u.1)
                .chain(
                    tones
                        .iter()
                        .filter(|t| t.0 == ch)
                        .map(|t| t.1.span.rescale(rate, ASR_RATE)),
                )
                .collect();
            let heard = &channels[usize::from(ch)].segments;
            unsure.extend(
                unheard(regions, heard, &covered)
                    .into_iter()
                    .map(|s| (ch, s, Unsure::Unheard)),
            );
        }
        Ok(Recognition {
            info,
            channels,
            unsure,
            tones,
        })
    })
}

/// Per channel: its transcript; every channel's looped spans; per channel, its speech
/// regions (16 kHz).
type Transcribed = (Vec<ChannelTranscript>, Vec<UnsureSpan>, Vec<Vec<Span>>);

fn transcribe_channels(
    pcm_rx: crossbeam_channel::Receiver<Vec<Vec<f32>>>,
    channel_count: usize,
    transcriber: &Transcriber,
    cut: Option<&CutConfig>,
    cancel: &AtomicBool,
    timings: &StageTimes,
) -> Result<Transcribed, PipelineError> {
    let mut streams: Vec<SpeechOnlyTranscriber<'_>> = (0..channel_count)
        .map(|_| SpeechOnlyTranscriber::new(transcriber, cut))
        .collect();
    let mut speech: Vec<SpeechTracker> = (0..channel_count)
        .map(|_| SpeechTracker::new(ASR_RATE, 0, VadConfig::default()))
        .collect();
    let mut segments: Vec<Vec<Segment>> = vec![Vec::new(); channel_count];
    let mut unsure = Vec::new();
    let mut collect = |ch: usize, result: Result<Vec<Segment>, AsrError>| match result {
        Ok(done) => {
            segments[ch].extend(done);
            Ok(())
        }
        // A decoder loop is not fatal: the stream has moved past it, and its spans are
        // bleeped whole (fail closed).
        Err(AsrError::Loop { spans, completed }) => {
            segments[ch].extend(completed);
            unsure.extend(spans.into_iter().map(|s| (ch as u16, s, Unsure::Loop)));
            Ok(())
        }
        Err(e) => Err(PipelineError::from(e)),
    };
    for block in pcm_rx {
        if cancel.load(Ordering::Relaxed) {
            return Err(PipelineError::Cancelled);
        }
        for (ch, samples) in block.iter().enumerate() {
            timings.time(Stage::Vad, || speech[ch].push(samples));
            let heard = timings.time(Stage::Recognize, || streams[ch].push(samples));
            collect(ch, heard)?;
        }
    }
    for (ch, stream) in streams.into_iter().enumerate() {
        timings.add(Stage::Vad, stream.vad_time());
        let heard = timings.time(Stage::Recognize, || stream.finish());
        collect(ch, heard)?;
    }
    let regions: Vec<Vec<Span>> = speech
        .into_iter()
        .map(|tracker| timings.time(Stage::Vad, || tracker.finish()))
        .collect();
    let channels = segments
        .into_iter()
        .enumerate()
        .map(|(ch, segments)| ChannelTranscript {
            channel: ch as u16,
            segments,
        })
        .collect();
    Ok((channels, unsure, regions))
}

/// The parts of speech `regions` (sorted) at least [`MIN_UNHEARD`] long that no word of
/// `segments` (widened by [`WORD_EDGE_SLACK`]) and no span of `covered` (already unsure,
/// or a keypad tone) covers.
fn unheard(regions: &[Span], segments: &[Segment], covered: &[Span]) -> Vec<Span> {
    let mut spans: Vec<Span> = segments
        .iter()
        .flat_map(|s| &s.words)
        .map(|w| {
            Span::new(
                w.span.start.saturating_sub(WORD_EDGE_SLACK),
                w.span.end + WORD_EDGE_SLACK,
            )
        })
        .chain(covered.iter().copied())
        .collect();
    spans.sort_by_key(|s| s.start);
    let mut out = Vec::new();
    for region in regions {
        let mut at = region.start;
        for c in spans
            .iter()
            .filter(|c| c.end > region.start && c.start < region.end)
        {
            if c.start > at && c.start - at >= MIN_UNHEARD {
                out.push(Span::new(at, c.start));
            }
            at = at.max(c.end);
        }
        if region.end > at && region.end - at >= MIN_UNHEARD {
            out.push(Span::new(at, region.end));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asr::Word;

    fn sec(s: f64) -> u64 {
        (s * ASR_RATE as f64) as u64
    }

    fn words_at(spans: &[(f64, f64)]) -> Vec<Segment> {
        let words: Vec<Word> = spans
            .iter()
            .map(|&(a, b)| Word {
                text: "word".into(),
                span: Span::new(sec(a), sec(b)),
                confidence: 0.9,
                tokens: Vec::new(),
            })
            .collect();
        vec![Segment {
            span: Span::new(sec(spans[0].0), sec(spans[spans.len() - 1].1)),
            words,
            no_speech_probability: 0.0,
        }]
    }

    #[test]
    fn speech_after_the_last_word_is_unheard() {
        // Whisper stopped at 10 s; the caller went on reading digits until 19 s.
        let regions = [Span::new(sec(1.0), sec(19.0))];
        let segments = words_at(&[(1.0, 4.0), (4.2, 9.0), (9.1, 10.0)]);
        assert_eq!(
            unheard(&regions, &segments, &[]),
            vec![Span::new(sec(10.3), sec(19.0))]
        );
    }

    #[test]
    fn gaps_between_words_and_short_sounds_are_heard() {
        let regions = [
            Span::new(sec(1.0), sec(6.0)),
            // A breath or an "mm" Whisper leaves out.
            Span::new(sec(8.0), sec(8.6)),
        ];
        let segments = words_at(&[(1.1, 2.0), (2.5, 3.6), (4.0, 5.8)]);
        assert!(unheard(&regions, &segments, &[]).is_empty());
    }

    #[test]
    fn speech_already_bleeped_for_a_loop_is_not_counted_twice() {
        let regions = [Span::new(sec(0.0), sec(12.0))];
        let segments = words_at(&[(0.0, 2.0)]);
        let looped = [Span::new(sec(2.0), sec(12.0))];
        assert!(unheard(&regions, &segments, &looped).is_empty());
    }
}

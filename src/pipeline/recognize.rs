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

use crate::asr::rehear::{self, unheard};
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
            timings.add(Stage::HearAgain, rehear::take_time());
            collect(ch, heard)?;
        }
    }
    for (ch, stream) in streams.into_iter().enumerate() {
        timings.add(Stage::Vad, stream.vad_time());
        let heard = timings.time(Stage::Recognize, || stream.finish());
        timings.add(Stage::HearAgain, rehear::take_time());
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

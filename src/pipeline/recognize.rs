//! Pass 1 of a file: decode → resample to 16 kHz → cut long silences → transcribe, on three
//! threads joined by bounded channels, in memory bounded by a few blocks and the transcriber's windows.
//!
//! Returns the words of every channel (small: text and times, never audio) and the spans
//! recognition could not vouch for. Must not detect or redact anything.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use crossbeam_channel::bounded;

use crate::asr::{AsrError, Segment, SpeechOnlyTranscriber, Transcriber};
use crate::audio::compact::CutConfig;
use crate::audio::{AudioInfo, AudioReader, Resampler16k};
use crate::time::Span;

use super::{PipelineError, Stage, StageTimes};

/// Blocks in flight between two stages; enough to keep each stage busy, small enough
/// that memory does not grow with the file.
const QUEUE_DEPTH: usize = 4;

/// What recognition produced for one channel.
pub struct ChannelTranscript {
    pub channel: u16,
    pub segments: Vec<Segment>,
}

/// A channel and a 16 kHz span the decoder could not transcribe reliably.
pub type UnsureSpan = (u16, Span);

/// Everything pass 1 learned about a file.
pub struct Recognition {
    /// What the decoder found in the file.
    pub info: AudioInfo,
    pub channels: Vec<ChannelTranscript>,
    /// Stretches the decoder could not transcribe reliably.
    pub unsure: Vec<UnsureSpan>,
}

/// Decodes `input` and transcribes each channel separately.
pub fn recognize(
    input: &Path,
    transcriber: &Transcriber,
    cut: Option<&CutConfig>,
    cancel: &AtomicBool,
    timings: &StageTimes,
) -> Result<Recognition, PipelineError> {
    let mut reader = AudioReader::open(input)?;
    let info = reader.info().clone();
    let channel_count = info.channels as usize;
    let rate = info.rate;

    let (block_tx, block_rx) = bounded::<Vec<Vec<f32>>>(QUEUE_DEPTH);
    let (pcm_tx, pcm_rx) = bounded::<Vec<Vec<f32>>>(QUEUE_DEPTH);

    thread::scope(|scope| {
        let decoder =
            scope.spawn(move || super::decode_stage(&mut reader, block_tx, cancel, timings));

        let resampler = scope.spawn(move || -> Result<(), PipelineError> {
            let mut resamplers = (0..channel_count)
                .map(|_| Resampler16k::new(rate))
                .collect::<Result<Vec<_>, _>>()?;
            for block in block_rx {
                let out: Vec<Vec<f32>> = timings.time(Stage::Resample, || {
                    resamplers
                        .iter_mut()
                        .zip(block.iter())
                        .map(|(r, ch)| r.process(ch))
                        .collect()
                });
                if pcm_tx.send(out).is_err() {
                    return Ok(());
                }
            }
            let tail: Vec<Vec<f32>> = resamplers.iter_mut().map(|r| r.finish()).collect();
            let _ = pcm_tx.send(tail);
            Ok(())
        });

        let transcribed =
            transcribe_channels(pcm_rx, channel_count, transcriber, cut, cancel, timings);
        let transcribed = transcribed.map(|(channels, unsure)| Recognition {
            info,
            channels,
            unsure,
        });
        // Join producers first so a decode error wins over the transcriber's view of it.
        decoder.join().expect("decoder thread panicked")?;
        resampler.join().expect("resampler thread panicked")?;
        transcribed
    })
}

fn transcribe_channels(
    pcm_rx: crossbeam_channel::Receiver<Vec<Vec<f32>>>,
    channel_count: usize,
    transcriber: &Transcriber,
    cut: Option<&CutConfig>,
    cancel: &AtomicBool,
    timings: &StageTimes,
) -> Result<(Vec<ChannelTranscript>, Vec<UnsureSpan>), PipelineError> {
    let mut streams: Vec<SpeechOnlyTranscriber<'_>> = (0..channel_count)
        .map(|_| SpeechOnlyTranscriber::new(transcriber, cut))
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
            unsure.extend(spans.into_iter().map(|s| (ch as u16, s)));
            Ok(())
        }
        Err(e) => Err(PipelineError::from(e)),
    };
    for block in pcm_rx {
        if cancel.load(Ordering::Relaxed) {
            return Err(PipelineError::Cancelled);
        }
        for (ch, samples) in block.iter().enumerate() {
            let heard = timings.time(Stage::Recognize, || streams[ch].push(samples));
            collect(ch, heard)?;
        }
    }
    for (ch, stream) in streams.into_iter().enumerate() {
        timings.add(Stage::Vad, stream.vad_time());
        let heard = timings.time(Stage::Recognize, || stream.finish());
        collect(ch, heard)?;
    }
    let channels = segments
        .into_iter()
        .enumerate()
        .map(|(ch, segments)| ChannelTranscript {
            channel: ch as u16,
            segments,
        })
        .collect();
    Ok((channels, unsure))
}

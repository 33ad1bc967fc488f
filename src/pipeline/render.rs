//! Passes 2 and 3 of a file, on the original-rate audio: refine each detected span's
//! edges on the audio around it, then decode again, bleep and stream into the encrypted
//! recording.
//!
//! Decoding is cheap next to recognition, so re-reading the file keeps memory flat
//! instead of holding a whole call between recognition and writing. Must not decide what
//! is sensitive (that came from `detect`) and must never write unbleeped audio.

use std::sync::atomic::AtomicBool;
use std::thread;

use crossbeam_channel::bounded;

use crate::audio::{refine_span, AudioInfo, AudioReader, AudioSource};
use crate::io::Output;
use crate::redact::{pad_and_merge, BleepConfig, Bleeper};
use crate::store::{MasterKey, RecordingWriter};
use crate::time::Span;

use super::{PipelineError, Stage, StageTimes};

/// Spans longer than this are not refined: they are already wide (often fail-closed) and
/// refining them would mean holding a long stretch of audio.
const MAX_REFINED_SPAN_S: u64 = 60;

/// One span to redact on one channel, on the original clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelSpan {
    pub channel: u16,
    pub span: Span,
}

/// Widens each span to the speech around it (at most `max_extend` samples per side),
/// reading only the audio near the spans.
pub fn refine_on_audio(
    input: &AudioSource,
    spans: &[ChannelSpan],
    max_extend: u64,
) -> Result<Vec<ChannelSpan>, PipelineError> {
    let mut reader = AudioReader::open_source(input)?;
    let rate = reader.info().rate as u64;
    let regions: Vec<Option<Span>> = spans
        .iter()
        .map(|cs| {
            (cs.span.len() <= MAX_REFINED_SPAN_S * rate).then(|| {
                Span::new(
                    cs.span.start.saturating_sub(max_extend),
                    cs.span.end + max_extend,
                )
            })
        })
        .collect();
    let mut buffers: Vec<Vec<f32>> = vec![Vec::new(); spans.len()];
    let last_end = regions.iter().flatten().map(|r| r.end).max().unwrap_or(0);

    let mut position = 0u64;
    while position < last_end {
        let Some(block) = reader.next_block()? else {
            break;
        };
        let block_len = block.first().map_or(0, |c| c.len() as u64);
        let block_span = Span::new(position, position + block_len);
        for (i, region) in regions.iter().enumerate() {
            let Some(region) = region else { continue };
            if !region.overlaps(&block_span) {
                continue;
            }
            let from = region.start.max(block_span.start) - position;
            let to = region.end.min(block_span.end) - position;
            let channel = &block[spans[i].channel as usize];
            buffers[i].extend_from_slice(&channel[from as usize..to as usize]);
        }
        position += block_len;
    }

    Ok(spans
        .iter()
        .zip(regions.iter().zip(buffers.iter()))
        .map(|(cs, (region, audio))| match region {
            Some(region) => ChannelSpan {
                channel: cs.channel,
                span: refine_span(audio, region.start, rate as u32, cs.span, max_extend),
            },
            None => *cs,
        })
        .collect())
}

/// Decodes `input` once more, bleeps `spans` (padded and merged per channel) and streams
/// the result into an encrypted recording in `output` (named `label` in errors), committed
/// only once complete. Returns the frame count written.
#[allow(clippy::too_many_arguments)]
pub fn write_redacted(
    input: &AudioSource,
    output: Box<dyn Output>,
    label: &std::path::Path,
    spans: &[ChannelSpan],
    bleep: &BleepConfig,
    key: &MasterKey,
    cancel: &AtomicBool,
    timings: &StageTimes,
) -> Result<u64, PipelineError> {
    let mut reader = AudioReader::open_source(input)?;
    let info: AudioInfo = reader.info().clone();
    let padding = crate::time::from_seconds(bleep.padding_s, info.rate);
    let per_channel: Vec<Vec<Span>> = (0..info.channels)
        .map(|ch| {
            let own: Vec<Span> = spans
                .iter()
                .filter(|cs| cs.channel == ch)
                .map(|cs| cs.span)
                .collect();
            pad_and_merge(&own, padding, info.frames)
        })
        .collect();
    let bleeper = Bleeper::new(bleep, info.rate);
    let bits = output_bits(&info);
    let mut writer =
        RecordingWriter::create_on(output, label, key, info.rate, info.channels, bits)?;

    let (block_tx, block_rx) = bounded::<Vec<Vec<f32>>>(4);
    thread::scope(|scope| {
        let decoder =
            scope.spawn(move || super::decode_stage(&mut reader, block_tx, cancel, timings));

        let mut position = 0u64;
        let mut interleaved = Vec::new();
        let mut write_result: Result<(), PipelineError> = Ok(());
        for mut block in block_rx {
            let frames = block.first().map_or(0, |c| c.len());
            timings.time(Stage::Bleep, || {
                for (ch, samples) in block.iter_mut().enumerate() {
                    bleeper.apply(samples, position, &per_channel[ch]);
                }
            });
            let written = timings.time(Stage::Encrypt, || {
                interleaved.clear();
                interleaved.reserve(frames * block.len());
                for i in 0..frames {
                    interleaved.extend(block.iter().map(|ch| ch[i]));
                }
                writer.write_interleaved(&interleaved)
            });
            if let Err(e) = written {
                write_result = Err(e.into());
                break; // dropping the receiver stops the decoder
            }
            position += frames as u64;
        }
        decoder.join().expect("decoder thread panicked")?;
        write_result?;
        writer.finish()?;
        Ok(position)
    })
}

/// The stored recording keeps the input's rate and layout; lossy and ≤16-bit inputs are
/// stored as 16-bit PCM, deeper PCM as 24-bit.
fn output_bits(info: &AudioInfo) -> u16 {
    match info.bits_per_sample {
        Some(bits) if bits > 16 && !info.lossy => 24,
        _ => 16,
    }
}

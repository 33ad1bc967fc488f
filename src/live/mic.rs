//! The microphone as a live source (`hushline listen`, cargo feature `mic`): the default
//! input device through cpal, mixed to mono and resampled to the live 8 kHz clock, emitted
//! as the [`CallEvent`]s of one call, so the rest of the live path cannot tell it from RTP.
//!
//! Must not recognise, detect or store anything, and never logs audio.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use crossbeam_channel::{bounded, Sender};
use rubato::{FftFixedIn, Resampler};

use super::{CallEvent, Codec, EndReason, StreamInfo, LIVE_RATE};

/// Samples per emitted packet: 20 ms, as RTP would bring them.
const PACKET: usize = LIVE_RATE as usize / 50;

#[derive(Debug, thiserror::Error)]
pub enum MicError {
    #[error("no microphone: the audio system has no default input device")]
    NoDevice,
    #[error("the microphone cannot be opened: {0}")]
    Open(String),
    #[error("the microphone's sample format {0} is not supported (use f32, i16 or u16)")]
    Format(String),
    #[error("resampling the microphone's {rate} Hz to 8 kHz failed: {detail}")]
    Resample { rate: u32, detail: String },
}

/// Captures until `stop` is set, sending one call (id `call_id`) to `events`; returns
/// after its `Ended` is sent.
pub fn capture(
    call_id: &str,
    events: Sender<CallEvent>,
    stop: Arc<AtomicBool>,
) -> Result<(), MicError> {
    let device = cpal::default_host()
        .default_input_device()
        .ok_or(MicError::NoDevice)?;
    let supported = device
        .default_input_config()
        .map_err(|e| MicError::Open(e.to_string()))?;
    let rate = supported.sample_rate().0;
    let channels = usize::from(supported.channels().max(1));
    let format = supported.sample_format();
    let config: cpal::StreamConfig = supported.into();
    let (tx, rx) = bounded::<Vec<f32>>(256);
    let on_error = |e: cpal::StreamError| tracing::warn!(error = %e, "microphone stream error");
    let stream = match format {
        cpal::SampleFormat::F32 => device.build_input_stream(
            &config,
            move |data: &[f32], _: &_| send_mono(&tx, data, channels, |s| s),
            on_error,
            None,
        ),
        cpal::SampleFormat::I16 => device.build_input_stream(
            &config,
            move |data: &[i16], _: &_| send_mono(&tx, data, channels, |s| f32::from(s) / 32768.0),
            on_error,
            None,
        ),
        cpal::SampleFormat::U16 => device.build_input_stream(
            &config,
            move |data: &[u16], _: &_| {
                send_mono(&tx, data, channels, |s| (f32::from(s) - 32768.0) / 32768.0)
            },
            on_error,
            None,
        ),
        other => return Err(MicError::Format(other.to_string())),
    }
    .map_err(|e| MicError::Open(e.to_string()))?;
    stream.play().map_err(|e| MicError::Open(e.to_string()))?;

    let mut resampler = FftFixedIn::<f32>::new(rate as usize, LIVE_RATE as usize, 1024, 2, 1)
        .map_err(|e| MicError::Resample {
            rate,
            detail: e.to_string(),
        })?;
    let _ = events.send(CallEvent::Started {
        call_id: call_id.to_string(),
        streams: vec![StreamInfo {
            index: 0,
            label: Some("microphone".into()),
            codec: Codec::Pcm16,
            rtp_port: 0,
            participant: None,
            srtp: None,
        }],
        participants: Vec::new(),
    });
    let mut input: Vec<f32> = Vec::new();
    let mut output: Vec<f32> = Vec::new();
    let mut position = 0u64;
    while !stop.load(Ordering::SeqCst) {
        let Ok(block) = rx.recv_timeout(Duration::from_millis(100)) else {
            continue;
        };
        input.extend_from_slice(&block);
        while input.len() >= resampler.input_frames_next() {
            let take = resampler.input_frames_next();
            if let Ok(mut out) = resampler.process(&[&input[..take]], None) {
                output.append(&mut out[0]);
            }
            input.drain(..take);
        }
        while output.len() >= PACKET {
            let pcm: Vec<i16> = output
                .drain(..PACKET)
                .map(crate::audio::g711::f32_to_i16)
                .collect();
            let _ = events.send(CallEvent::Audio {
                call_id: call_id.to_string(),
                stream: 0,
                start: position,
                pcm,
            });
            position += PACKET as u64;
        }
    }
    drop(stream);
    let _ = events.send(CallEvent::Ended {
        call_id: call_id.to_string(),
        reason: EndReason::Shutdown,
        media: Default::default(),
    });
    Ok(())
}

/// Mixes interleaved frames to mono, clipped to [-1, 1]; drops the block if the consumer
/// is behind (the audio callback must never block).
fn send_mono<T: Copy>(
    tx: &Sender<Vec<f32>>,
    data: &[T],
    channels: usize,
    to_f32: impl Fn(T) -> f32,
) {
    let mono: Vec<f32> = data
        .chunks(channels)
        .map(|frame| frame.iter().map(|&s| to_f32(s)).sum::<f32>() / channels as f32)
        // A misbehaving driver must not take the resampler (or Whisper) down.
        .map(|s| {
            if s.is_finite() {
                s.clamp(-1.0, 1.0)
            } else {
                0.0
            }
        })
        .collect();
    let _ = tx.try_send(mono);
}

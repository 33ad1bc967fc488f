//! `--lang auto`: which language a call is spoken in, from the first half minute of its
//! speech, so the caller can hand it to the engine that language needs.
//!
//! Owns picking the audio to identify (the opening speech, channels mixed); the verdict is
//! Whisper's ([`crate::asr::language`]). Must not transcribe, detect or write anything.

use crate::asr::language::LanguageId;
use crate::asr::transcribe::MAX_WINDOW;
use crate::audio::{resample::resample_all, speech_regions, AudioReader, AudioSource, VadConfig};

use super::PipelineError;

/// How much of a call is decoded to find its opening speech (seconds): calls open with
/// ringing, hold music or an IVR menu in another voice; a minute covers most of that.
const LOOK_AHEAD_S: u64 = 60;

/// The language of `input` among `candidates` (Whisper codes), or `None` when it has too
/// little speech to tell.
pub fn call_language(
    lid: &LanguageId,
    input: &AudioSource,
    candidates: &[&str],
) -> Result<Option<String>, PipelineError> {
    let speech = opening_speech(input)?;
    Ok(lid.identify(&speech, candidates)?)
}

/// Up to 30 s of the call's opening speech at 16 kHz, all channels mixed, silence left out.
fn opening_speech(input: &AudioSource) -> Result<Vec<f32>, PipelineError> {
    let mut reader = AudioReader::open_source(input)?;
    let rate = reader.info().rate;
    let limit = rate as u64 * LOOK_AHEAD_S;
    let mut mixed: Vec<f32> = Vec::new();
    while (mixed.len() as u64) < limit {
        let Some(block) = reader.next_block()? else {
            break;
        };
        let channels = block.len().max(1) as f32;
        let frames = block.iter().map(Vec::len).min().unwrap_or(0);
        mixed.extend((0..frames).map(|i| block.iter().map(|c| c[i]).sum::<f32>() / channels));
    }
    let audio = resample_all(&mixed, rate)?;
    let mut speech = Vec::new();
    for region in speech_regions(&audio, 0, &VadConfig::default()) {
        let (a, b) = (
            region.start as usize,
            (region.end as usize).min(audio.len()),
        );
        speech.extend_from_slice(&audio[a.min(b)..b]);
        if speech.len() >= MAX_WINDOW {
            speech.truncate(MAX_WINDOW);
            break;
        }
    }
    Ok(speech)
}

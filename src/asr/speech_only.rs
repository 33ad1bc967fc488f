//! A [`StreamingTranscriber`] that hears only speech: long silences are cut out of the
//! 16 kHz stream before Whisper ([`crate::audio::compact`]), and every time Whisper
//! reports (segments, words, tokens, unsure spans) is mapped back to the original clock.
//!
//! Same contract as [`StreamingTranscriber`]: `push` returns final segments, `finish`
//! the rest, [`AsrError::Loop`] leaves the stream usable. Must not change what Whisper
//! is asked beyond leaving out silence.

use std::time::{Duration, Instant};

use super::transcribe::{AsrError, Transcriber};
use super::window::{finish_call, StreamingTranscriber};
use super::Segment;
use crate::audio::compact::{CutConfig, SilenceCutter, TimeMap};
use crate::time::Span;

pub struct SpeechOnlyTranscriber<'a> {
    /// None: nothing is cut (the plain streaming transcriber, for comparisons).
    cutter: Option<SilenceCutter>,
    inner: StreamingTranscriber<'a>,
    /// Time spent finding and cutting silence.
    vad_time: Duration,
}

impl<'a> SpeechOnlyTranscriber<'a> {
    pub fn new(asr: &'a Transcriber, cut: Option<&CutConfig>) -> Self {
        SpeechOnlyTranscriber {
            cutter: cut.map(|c| SilenceCutter::new(c.clone())),
            inner: StreamingTranscriber::new(asr),
            vad_time: Duration::ZERO,
        }
    }

    /// Adds samples (16 kHz mono, continuing the stream); decodes every complete window.
    pub fn push(&mut self, samples: &[f32]) -> Result<Vec<Segment>, AsrError> {
        let Some(cutter) = &mut self.cutter else {
            return self.inner.push(samples);
        };
        let started = Instant::now();
        let speech = cutter.push(samples);
        self.vad_time += started.elapsed();
        let heard = self.inner.push(&speech);
        to_original(heard, cutter.map())
    }

    /// Decodes what is left and ends the stream.
    pub fn finish(self) -> Result<Vec<Segment>, AsrError> {
        let mut inner = self.inner;
        let Some(cutter) = self.cutter else {
            return inner.finish();
        };
        let (speech, map) = cutter.finish();
        let (mut segments, mut unsure) = split(to_original(inner.push(&speech), &map))?;
        let (rest, rest_unsure) = split(to_original(inner.finish(), &map))?;
        segments.extend(rest);
        unsure.extend(rest_unsure);
        finish_call(segments, unsure)
    }

    /// Time spent on finding and cutting silence so far (the rest is Whisper's).
    pub fn vad_time(&self) -> Duration {
        self.vad_time
    }
}

/// Good segments and unsure spans of a result; other errors pass through.
fn split(result: Result<Vec<Segment>, AsrError>) -> Result<(Vec<Segment>, Vec<Span>), AsrError> {
    match result {
        Ok(segments) => Ok((segments, Vec::new())),
        Err(AsrError::Loop { spans, completed }) => Ok((completed, spans)),
        Err(e) => Err(e),
    }
}

/// Maps every time in a transcriber result from the shortened stream to the original.
fn to_original(
    result: Result<Vec<Segment>, AsrError>,
    map: &TimeMap,
) -> Result<Vec<Segment>, AsrError> {
    let remap = |mut segments: Vec<Segment>| {
        for seg in &mut segments {
            seg.span = map.span_to_original(seg.span);
            for word in &mut seg.words {
                word.span = map.span_to_original(word.span);
                for token in &mut word.tokens {
                    token.span = map.span_to_original(token.span);
                }
            }
        }
        segments
    };
    match result {
        Ok(segments) => Ok(remap(segments)),
        Err(AsrError::Loop { spans, completed }) => Err(AsrError::Loop {
            spans: spans.into_iter().map(|s| map.span_to_original(s)).collect(),
            completed: remap(completed),
        }),
        Err(e) => Err(e),
    }
}

//! The whisper.cpp wrapper: loads a ggml model and transcribes one window (≤ 30 s of
//! 16 kHz mono) into segments of words with per-token times.
//!
//! Owns the decoding settings that keep digits intact (no temperature fallback, which
//! turns correct digit lists into garbage), the no-speech handling, and the repetition
//! loop check that makes callers fail closed. Must not window long audio (that is
//! [`super::window`]), and must never log or put into an error the text it heard.

use std::path::{Path, PathBuf};

use crossbeam_channel::{bounded, Receiver, Sender};

use whisper_rs::{
    DtwMode, DtwModelPreset, DtwParameters, FullParams, SamplingStrategy, WhisperContext,
    WhisperContextParameters, WhisperState,
};

use super::rehear;
use super::script;
use super::watch::{loop_start, PassWatch};
use super::window::{frame_rms, pause_level, FRAME};
pub use super::words::TimingMode;
use super::words::{assemble, RawSegment, RawToken};

mod loops;
use super::Segment;
use crate::time::{Span, ASR_RATE};

/// Longest window whisper.cpp decodes in one go: 30 s on the 16 kHz clock.
pub const MAX_WINDOW: usize = 30 * ASR_RATE as usize;

/// Errors of transcription. None of them carries recognised text.
#[derive(Debug, thiserror::Error)]
pub enum AsrError {
    #[error("cannot load the Whisper model {path}: {reason}; run `hushline model fetch` or pass a valid ggml model file")]
    ModelLoad { path: PathBuf, reason: String },
    #[error("language {language:?} is not usable with this model ({reason}); use \"en\" with an English-only model, or the multilingual `base` model")]
    Language { language: String, reason: String },
    #[error("a window of {samples} samples is longer than 30 s ({max} samples at 16 kHz); split it first (StreamingTranscriber does)")]
    WindowTooLong { samples: usize, max: usize },
    #[error(
        "audio contains non-finite samples (NaN or infinity); the audio decoder or resampler produced them, check the input file"
    )]
    NonFiniteSamples,
    #[error("whisper.cpp failed: {0}")]
    Whisper(String),
    /// The decoder got stuck repeating itself. `spans` (16 kHz clock) were not reliably
    /// transcribed and must be treated as unsure (redact them); `completed` holds the
    /// segments that were finalised in the same call and are good. Streaming callers
    /// may keep pushing: the transcriber has already moved past these spans.
    #[error("the decoder looped on {} span(s); treat them as unsure and redact them", spans.len())]
    Loop {
        spans: Vec<Span>,
        completed: Vec<Segment>,
    },
}

/// How to run Whisper.
#[derive(Debug, Clone, PartialEq)]
pub struct TranscriberConfig {
    /// whisper.cpp threads for one transcription; their pool spin-waits, so
    /// `threads * lanes` must not exceed the cores.
    pub threads: usize,
    /// Transcriptions that may run at once (one whisper.cpp decoding state each, sharing
    /// the model's weights). On small models one thread per lane and one lane per core
    /// beats one lane using every core: whisper.cpp's threads synchronise after every
    /// operation, which tiny's small matrices cannot amortise.
    pub lanes: usize,
    /// `"en"`, `"zh"`, … or `"auto"` (detect per window; multilingual models only).
    pub language: String,
    pub timing: TimingMode,
    /// Whisper segments whose no-speech probability is above this and whose decoding was
    /// unsure (average log-probability below -1) are dropped as hallucinations.
    pub no_speech_threshold: f32,
    /// Upper bound of tokens per decoding pass (0 = whisper.cpp's own bound, 220).
    pub max_tokens: u32,
    /// Encode only as much audio context as a short window needs (plus a margin) instead
    /// of whisper.cpp's fixed 30 s; the encoder's cost then follows the window's length.
    /// A window whose fitted pass loops is heard again with the full context, so a loop
    /// costs time, not text. Used by live recognition, which re-hears short, growing
    /// windows (a word dropped at one pass's edge is heard again by the next). Off for
    /// files: it saved a fifth of recognition time and was not worse on 45 unseen calls,
    /// but tiny.en drops words near the end of a fitted context (the telephone fixture
    /// lost its expiry date with a 2 s margin) and hears "you" in 20 s of silence.
    pub fit_audio_ctx: bool,
}

impl Default for TranscriberConfig {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        TranscriberConfig {
            threads: cores.min(2),
            lanes: 1,
            language: "en".to_string(),
            timing: TimingMode::Dtw,
            no_speech_threshold: 0.6,
            max_tokens: 0,
            fit_audio_ctx: false,
        }
    }
}

/// A loaded Whisper model plus `lanes` decoding states; a call takes a free state and
/// waits when all are busy.
pub struct Transcriber {
    free_states: Receiver<WhisperState>,
    return_states: Sender<WhisperState>,
    cfg: TranscriberConfig,
    eot: i32,
    /// The first timestamp token.
    beg: i32,
}

/// A decoding state borrowed from the pool; goes back when dropped (also on a panic).
struct Lane<'a> {
    state: Option<WhisperState>,
    home: &'a Sender<WhisperState>,
}

impl Drop for Lane<'_> {
    fn drop(&mut self) {
        if let Some(state) = self.state.take() {
            // The receiver lives in the same Transcriber, so this cannot fail.
            let _ = self.home.send(state);
        }
    }
}

/// A whisper.cpp context for the ggml model at `model_path`, on the CPU, with `configure`
/// applied to its parameters; one error names the file when it is missing or not a model.
pub(crate) fn open_context(
    model_path: &Path,
    configure: impl FnOnce(&mut WhisperContextParameters),
) -> Result<WhisperContext, AsrError> {
    whisper_rs::install_logging_hooks();
    let load_err = |reason: String| AsrError::ModelLoad {
        path: model_path.to_path_buf(),
        reason,
    };
    if !model_path.is_file() {
        return Err(load_err("no such file".into()));
    }
    let mut params = WhisperContextParameters::default();
    params.use_gpu(false).flash_attn(false);
    configure(&mut params);
    WhisperContext::new_with_params(model_path, params)
        .map_err(|e| load_err(format!("{e} (not a whisper.cpp ggml model, or truncated)")))
}

impl std::fmt::Debug for Transcriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transcriber")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl Transcriber {
    /// Loads a ggml Whisper model. DTW timing picks the alignment-head preset from the
    /// model's shape (tiny / base, English-only or multilingual).
    pub fn load(model_path: &Path, cfg: TranscriberConfig) -> Result<Self, AsrError> {
        let load_err = |reason: String| AsrError::ModelLoad {
            path: model_path.to_path_buf(),
            reason,
        };
        if cfg.threads == 0 || cfg.lanes == 0 {
            return Err(load_err("threads and lanes must be at least 1".into()));
        }
        let preset = match cfg.timing {
            TimingMode::Dtw if model_path.is_file() => Some(dtw_preset(model_path)?),
            TimingMode::Dtw | TimingMode::TokenTimestamps => None,
        };
        let ctx = open_context(model_path, |params| {
            if let Some(model_preset) = preset {
                params.dtw_parameters(DtwParameters {
                    mode: DtwMode::ModelPreset { model_preset },
                    ..DtwParameters::default()
                });
            }
        })?;
        check_language(&ctx, &cfg.language)?;
        let (return_states, free_states) = bounded(cfg.lanes);
        for _ in 0..cfg.lanes {
            let state = ctx.create_state().map_err(|e| load_err(e.to_string()))?;
            let _ = return_states.send(state);
        }
        let eot = ctx.token_eot();
        let beg = ctx.token_beg();
        Ok(Transcriber {
            free_states,
            return_states,
            cfg,
            eot,
            beg,
        })
    }

    pub fn config(&self) -> &TranscriberConfig {
        &self.cfg
    }

    /// Transcribes ≤ 30 s of 16 kHz mono audio whose first sample is `offset` on the
    /// 16 kHz clock of the whole input; returned times are on that clock.
    ///
    /// A window whose greedy pass loops is heard again with beam search; if that loops
    /// too, it yields [`AsrError::Loop`] covering the whole window (nothing of it is
    /// trusted).
    pub fn transcribe_window(
        &self,
        samples: &[f32],
        offset: u64,
    ) -> Result<Vec<Segment>, AsrError> {
        if samples.len() > MAX_WINDOW {
            return Err(AsrError::WindowTooLong {
                samples: samples.len(),
                max: MAX_WINDOW,
            });
        }
        if samples.iter().any(|s| !s.is_finite()) {
            return Err(AsrError::NonFiniteSamples);
        }
        if samples.is_empty() {
            return Ok(Vec::new());
        }
        let window = Span::new(offset, offset + samples.len() as u64);
        // whisper.cpp skips inputs under 100 ms; pad short tails with silence (which
        // adds no content) so their last word is still heard.
        let min_len = ASR_RATE as usize;
        let padded;
        let audio = if samples.len() < min_len {
            padded = [samples, &vec![0.0; min_len - samples.len()]].concat();
            &padded[..]
        } else {
            samples
        };
        let fitted =
            self.cfg.fit_audio_ctx && fitted_audio_ctx(audio.len()) < FULL_AUDIO_CTX as i32;
        let mut pass = self.decode(audio, fitted, Search::Greedy)?;
        if fitted && matches!(pass, Pass::Looped { .. }) {
            // Whisper was trained on 30 s contexts; a shortened one occasionally makes
            // it repeat itself. Hear the window again the way it was trained.
            tracing::debug!(
                start = window.start,
                end = window.end,
                "decoder looped with a fitted audio context; re-decoding with the full one"
            );
            pass = self.decode(audio, false, Search::Greedy)?;
        }
        if let Pass::Looped { from: greedy_from } = pass {
            // Greedy decoding can lock into repeating itself (noise, lists of digits).
            // Beam search weighs whole hypotheses and usually reads on; only when it
            // loops too is part of the window unsure.
            tracing::debug!(
                start = window.start,
                end = window.end,
                "greedy decoder looped; hearing the window again with beam search"
            );
            pass = match rehear::timed(|| self.decode(audio, false, Search::Beam))? {
                Pass::Looped { from } => Pass::Looped {
                    from: from.max(greedy_from),
                },
                heard => heard,
            };
        }
        let raw = match pass {
            Pass::Heard(raw) => raw,
            Pass::Looped { from } => {
                return rehear::timed(|| self.heard_around_loop(samples, offset, from))
            }
        };
        let mut segments = self.assembled(&raw, offset, samples.len() as u64);
        extend_squeezed_end(&mut segments, samples, offset);
        Ok(segments)
    }

    /// Words of one pass, in the script their language's readers expect.
    fn assembled(&self, raw: &[RawSegment], offset: u64, len: u64) -> Vec<Segment> {
        let mut segments = assemble(raw, self.eot, self.cfg.timing, offset, len);
        script::fold_segments(&self.cfg.language, &mut segments);
        segments
    }

    /// One whisper.cpp pass over `audio`; `fit` encodes only the audio context the
    /// window needs instead of the full 30 s. A pass that starts repeating itself is
    /// stopped as soon as the loop shows (a stuck decoder would otherwise run to its
    /// token limit) and reported as [`Pass::Looped`].
    fn decode(&self, audio: &[f32], fit: bool, search: Search) -> Result<Pass, AsrError> {
        let mut params = FullParams::new(match search {
            Search::Greedy => SamplingStrategy::Greedy { best_of: 1 },
            Search::Beam => SamplingStrategy::BeamSearch {
                beam_size: RESCUE_BEAM,
                patience: -1.0,
            },
        });
        params.set_n_threads(self.cfg.threads as i32);
        let language = self.cfg.language.as_str();
        params.set_language(Some(language));
        params.set_translate(false);
        // Each window stands alone: a hallucination or loop must not seed the next pass.
        params.set_no_context(true);
        params.set_print_special(false);
        params.set_print_progress(false);
        params.set_print_realtime(false);
        params.set_print_timestamps(false);
        params.set_token_timestamps(true);
        params.set_suppress_blank(true);
        params.set_suppress_nst(true);
        // No temperature fallback: the default entropy check mistakes digit lists for
        // repetition and re-decodes them hot, which garbles them.
        params.set_temperature(0.0);
        params.set_temperature_inc(0.0);
        params.set_no_speech_thold(self.cfg.no_speech_threshold);
        params.set_logprob_thold(-1.0);
        if self.cfg.max_tokens > 0 {
            params.set_max_tokens(self.cfg.max_tokens as i32);
        }
        if fit {
            params.set_audio_ctx(fitted_audio_ctx(audio.len()));
        }

        let mut lane = Lane {
            state: Some(self.free_states.recv().map_err(|_| {
                AsrError::Whisper("the transcriber's decoding states are gone".into())
            })?),
            home: &self.return_states,
        };
        let state = lane
            .state
            .as_mut()
            .expect("a lane holds its state until dropped");
        let watch = PassWatch::new(self.eot, self.beg, audio);
        // SAFETY: `watch` outlives `full()`, the only time whisper.cpp calls back.
        unsafe { watch.attach(&mut params) };
        let heard = state.full(params, audio);
        if watch.looped() {
            return Ok(Pass::Looped {
                from: watch.loop_from(),
            });
        }
        heard.map_err(|e| AsrError::Whisper(e.to_string()))?;
        let mut out = Vec::new();
        for seg in state.as_iter() {
            let mut tokens = Vec::with_capacity(seg.n_tokens().max(0) as usize);
            for i in 0..seg.n_tokens() {
                let Some(tok) = seg.get_token(i) else {
                    continue;
                };
                let data = tok.token_data();
                tokens.push(RawToken {
                    id: tok.token_id(),
                    bytes: tok.to_bytes().map(<[u8]>::to_vec).unwrap_or_default(),
                    p: data.p,
                    t0: data.t0,
                    t1: data.t1,
                    t_dtw: data.t_dtw,
                });
            }
            out.push(RawSegment {
                t0: seg.start_timestamp(),
                t1: seg.end_timestamp(),
                no_speech_probability: seg.no_speech_probability(),
                tokens,
            });
        }
        // The watch sees one segment's tokens at a time; a loop across segments shows here.
        let ids: Vec<i32> = out
            .iter()
            .flat_map(|s| s.tokens.iter())
            .map(|t| t.id)
            .collect();
        Ok(match loop_start(&ids, self.eot, self.beg) {
            Some(from) => Pass::Looped { from },
            None => Pass::Heard(out),
        })
    }
}

/// How a pass picks its tokens: greedy (fast, the default) or beam search (for a window
/// whose greedy pass looped).
#[derive(Debug, Clone, Copy)]
enum Search {
    Greedy,
    Beam,
}

/// Beams when a looped window is heard again: Whisper's own default.
const RESCUE_BEAM: i32 = 5;

/// What one decoding pass produced.
enum Pass {
    Heard(Vec<RawSegment>),
    /// The decoder repeated itself from sample `from` of the pass's audio on: nothing of
    /// the pass is trusted, and the audio from there is unsure.
    Looped {
        from: usize,
    },
}

/// Encoder frames per second of audio (one per 20 ms) and whisper.cpp's full context.
const CTX_PER_SECOND: usize = 50;
const FULL_AUDIO_CTX: usize = 1500;
/// Extra context past the audio's end (4 s), so the last words are encoded in full: with
/// 2 s, tiny.en dropped the expiry date 3 s before the end of the telephone fixture.
const CTX_MARGIN: usize = 4 * CTX_PER_SECOND;

/// A fitted context is a multiple of this many frames. The context is the inner
/// dimension of the attention products, and ggml's fast matrix kernels (llamafile's
/// tinyBLAS) only take inner dimensions that fill their vector registers: an unaligned
/// context falls back to a generic path, and the encoder then took 88 % of the time of a
/// full 30 s context instead of 65 % (tiny.en, one thread, samples/).
const CTX_ALIGN: usize = 64;

/// The audio context for `samples` of 16 kHz audio: its length in encoder frames plus a
/// margin, rounded up to [`CTX_ALIGN`], at most the full 30 s.
fn fitted_audio_ctx(samples: usize) -> i32 {
    let frames = samples.div_ceil(ASR_RATE as usize / CTX_PER_SECOND);
    ((frames + CTX_MARGIN).next_multiple_of(CTX_ALIGN)).min(FULL_AUDIO_CTX) as i32
}

/// Shortest time a spoken token can take; anything shorter is a timing failure.
const MIN_TOKEN: u64 = ASR_RATE as u64 / 20;
/// How far a squeezed last word may be extended along the audio.
const MAX_EXTENSION: u64 = 2 * ASR_RATE as u64;

/// whisper.cpp aligns tokens only up to the last timestamp the decoder predicted; when
/// that comes early, the window's last word is squeezed to (nearly) nothing and ends
/// before its sound does. Extend such a word to the last sound within 2 s after it, so
/// its span covers its sound rather than stopping short of it.
fn extend_squeezed_end(segments: &mut [Segment], samples: &[f32], offset: u64) {
    let Some(seg) = segments.iter_mut().rev().find(|s| !s.words.is_empty()) else {
        return;
    };
    let Some(word) = seg.words.last_mut() else {
        return;
    };
    let Some(token) = word
        .tokens
        .iter_mut()
        .rev()
        .find(|t| t.text.chars().any(char::is_alphanumeric))
    else {
        return;
    };
    if token.span.len() >= MIN_TOKEN {
        return;
    }
    let frames = frame_rms(samples);
    let pause = pause_level(&frames);
    let first = ((token.span.end - offset) as usize / FRAME).min(frames.len());
    let limit = first + (MAX_EXTENSION as usize / FRAME);
    // Nothing is decoded after this word, so any sound that follows it (within reach)
    // is its own or unheard speech: cover it.
    let Some(last_loud) = frames[first..frames.len().min(limit)]
        .iter()
        .rposition(|&r| r > pause)
    else {
        return;
    };
    let end =
        (offset + ((first + last_loud + 1) * FRAME) as u64).min(offset + samples.len() as u64);
    if end > token.span.end {
        token.span.end = end;
        word.span.end = word.span.end.max(end);
        seg.span.end = seg.span.end.max(end);
    }
}

/// The alignment-head preset for the model's shape, read from the ggml header (magic,
/// then i32 n_vocab, audio ctx/state/head/layer, text ctx/state/head/layer).
fn dtw_preset(model_path: &Path) -> Result<DtwModelPreset, AsrError> {
    use std::io::Read;
    let err = |reason: String| AsrError::ModelLoad {
        path: model_path.to_path_buf(),
        reason,
    };
    let mut header = [0u8; 40];
    std::fs::File::open(model_path)
        .and_then(|mut f| f.read_exact(&mut header))
        .map_err(|e| err(format!("cannot read the model header: {e}")))?;
    let field =
        |i: usize| i32::from_le_bytes(header[4 * i..4 * i + 4].try_into().unwrap_or([0; 4]));
    if field(0) as u32 != 0x6767_6d6c {
        return Err(err("not a whisper.cpp ggml model (bad magic)".into()));
    }
    let multilingual = field(1) >= 51_865;
    let preset = match (field(9), field(7), multilingual) {
        (4, 384, false) => DtwModelPreset::TinyEn,
        (4, 384, true) => DtwModelPreset::Tiny,
        (6, 512, false) => DtwModelPreset::BaseEn,
        (6, 512, true) => DtwModelPreset::Base,
        (12, 768, false) => DtwModelPreset::SmallEn,
        (12, 768, true) => DtwModelPreset::Small,
        (24, 1024, false) => DtwModelPreset::MediumEn,
        (24, 1024, true) => DtwModelPreset::Medium,
        (layers, width, _) => {
            return Err(err(format!(
                "no DTW alignment heads known for a model with {layers} text layers of width {width}; use TimingMode::TokenTimestamps"
            )))
        }
    };
    Ok(preset)
}

fn check_language(ctx: &WhisperContext, language: &str) -> Result<(), AsrError> {
    let err = |reason: &str| AsrError::Language {
        language: language.to_string(),
        reason: reason.to_string(),
    };
    if !ctx.is_multilingual() && language != "en" {
        return Err(err("the model is English-only"));
    }
    if language != "auto" && whisper_rs::get_lang_id(language).is_none() {
        return Err(err("Whisper does not know this language code"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asr::{Token, Word};

    fn squeezed(at: u64, len: u64) -> Vec<Segment> {
        let span = Span::new(at, at + len);
        vec![Segment {
            span,
            words: vec![Word {
                text: "much.".into(),
                span,
                confidence: 0.9,
                tokens: vec![
                    Token {
                        text: " much".into(),
                        span,
                        probability: 0.9,
                    },
                    Token {
                        text: ".".into(),
                        span: Span::new(at + len, at + len),
                        probability: 0.9,
                    },
                ],
            }],
            no_speech_probability: 0.0,
            second_hearing: false,
        }]
    }

    /// 3 s: silence, a 0.3 s tone at 1.3 s (the word's real sound), silence.
    fn audio() -> Vec<f32> {
        (0..48_000)
            .map(|i| {
                if (20_800..25_600).contains(&i) {
                    0.3 * (i as f32 * 0.2).sin()
                } else {
                    0.0
                }
            })
            .collect()
    }

    #[test]
    fn squeezed_last_word_is_extended_over_its_sound() {
        let offset = 1_000_000;
        let mut segs = squeezed(offset + 16_000, 0);
        extend_squeezed_end(&mut segs, &audio(), offset);
        let end = segs[0].words[0].tokens[0].span.end - offset;
        assert!((25_600..=25_600 + FRAME as u64).contains(&end), "end {end}");
        assert_eq!(
            segs[0].words[0].span.end,
            segs[0].words[0].tokens[0].span.end
        );
        assert_eq!(segs[0].span.end, segs[0].words[0].span.end);
    }

    #[test]
    fn fitted_audio_ctx_follows_the_window_up_to_thirty_seconds() {
        assert_eq!(fitted_audio_ctx(16_000), 256);
        assert_eq!(fitted_audio_ctx(10 * 16_000 + 1), 704);
        assert_eq!(fitted_audio_ctx(29 * 16_000), 1500);
        assert_eq!(fitted_audio_ctx(MAX_WINDOW), 1500);
    }

    #[test]
    fn a_word_with_real_duration_is_left_alone() {
        let mut segs = squeezed(16_000, 4_000);
        let before = segs.clone();
        extend_squeezed_end(&mut segs, &audio(), 0);
        assert_eq!(segs, before);
        let mut empty: Vec<Segment> = Vec::new();
        extend_squeezed_end(&mut empty, &audio(), 0);
        assert!(empty.is_empty());
    }
}

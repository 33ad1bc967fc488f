//! The baseline for `hushline bench`: whisper.cpp as a naive user runs it. One plain
//! `full()` per consecutive 30 s window, whisper.cpp's default greedy settings, no DTW, no
//! voice-activity detection, no timing work; only the temperature fallback is off, as in
//! hushline (with it, digit lists are re-decoded hot into garbage and the baseline ran
//! at 1.9x realtime on samples/ instead of about 20x: a straw man, not a baseline).
//!
//! Exists only to be measured against; its text is counted, never returned, so it cannot
//! end up in a transcript. Must not be used to redact anything.

use std::path::Path;

use whisper_rs::{FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters};

use super::transcribe::{AsrError, MAX_WINDOW};

/// A model loaded the plain way (no DTW, no flash attention, CPU).
pub struct BareWhisper {
    ctx: WhisperContext,
    threads: usize,
    language: String,
}

impl BareWhisper {
    pub fn load(model_path: &Path, threads: usize, language: &str) -> Result<Self, AsrError> {
        whisper_rs::install_logging_hooks();
        let mut params = WhisperContextParameters::default();
        params.use_gpu(false).flash_attn(false);
        let ctx = WhisperContext::new_with_params(model_path, params).map_err(|e| {
            AsrError::ModelLoad {
                path: model_path.to_path_buf(),
                reason: e.to_string(),
            }
        })?;
        Ok(BareWhisper {
            ctx,
            threads: threads.max(1),
            language: language.to_string(),
        })
    }

    /// Transcribes 16 kHz mono audio window by window; returns how many text tokens came
    /// out (a sign that it did real work, and nothing more).
    pub fn transcribe(&self, samples: &[f32]) -> Result<usize, AsrError> {
        let mut state = self
            .ctx
            .create_state()
            .map_err(|e| AsrError::Whisper(e.to_string()))?;
        let eot = self.ctx.token_eot();
        let mut tokens = 0;
        for window in samples.chunks(MAX_WINDOW) {
            let mut params = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
            params.set_n_threads(self.threads as i32);
            params.set_language(Some(self.language.as_str()));
            params.set_print_special(false);
            params.set_print_progress(false);
            params.set_print_realtime(false);
            params.set_print_timestamps(false);
            params.set_temperature_inc(0.0);
            state
                .full(params, window)
                .map_err(|e| AsrError::Whisper(e.to_string()))?;
            for seg in state.as_iter() {
                tokens += (0..seg.n_tokens())
                    .filter_map(|i| seg.get_token(i))
                    .filter(|t| t.token_id() < eot)
                    .count();
            }
        }
        Ok(tokens)
    }
}

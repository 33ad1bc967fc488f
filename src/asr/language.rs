//! Spoken-language identification with Whisper's own classifier (the multilingual
//! model's language token after one encoder pass), for `--lang auto`: a call's language
//! picks the model that transcribes it (tiny.en for English, base for Mandarin).
//!
//! Owns the choice among the languages a caller allows. Input is 16 kHz mono speech;
//! must not read files, transcribe, or log what was heard.

use std::path::Path;

use whisper_rs::WhisperContext;

use super::transcribe::MAX_WINDOW;
use super::AsrError;

/// Shortest speech worth identifying: under a second the classifier guesses.
const MIN_SPEECH: usize = crate::time::ASR_RATE as usize;

/// A multilingual Whisper model loaded for language identification only.
pub struct LanguageId {
    ctx: WhisperContext,
    threads: usize,
}

impl std::fmt::Debug for LanguageId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LanguageId")
            .field("threads", &self.threads)
            .finish_non_exhaustive()
    }
}

impl LanguageId {
    /// Loads a multilingual ggml model (English-only models cannot tell languages apart).
    pub fn load(model_path: &Path, threads: usize) -> Result<Self, AsrError> {
        let ctx = super::transcribe::open_context(model_path, |_| {})?;
        if !ctx.is_multilingual() {
            return Err(AsrError::Language {
                language: "auto".into(),
                reason: "the model is English-only; language identification needs base".into(),
            });
        }
        Ok(LanguageId {
            ctx,
            threads: threads.max(1),
        })
    }

    /// The most likely of `candidates` (Whisper codes, e.g. `["en", "zh"]`) for `speech`
    /// (16 kHz mono; the first 30 s are used). `None` when there is too little speech or
    /// no candidate is a language Whisper knows; the caller then keeps its default.
    pub fn identify(
        &self,
        speech: &[f32],
        candidates: &[&str],
    ) -> Result<Option<String>, AsrError> {
        if speech.len() < MIN_SPEECH || speech.iter().any(|s| !s.is_finite()) {
            return Ok(None);
        }
        let speech = &speech[..speech.len().min(MAX_WINDOW)];
        let whisper = |e: whisper_rs::WhisperError| AsrError::Whisper(e.to_string());
        let mut state = self.ctx.create_state().map_err(whisper)?;
        state.pcm_to_mel(speech, self.threads).map_err(whisper)?;
        let (_, probs) = state.lang_detect(0, self.threads).map_err(whisper)?;
        Ok(most_likely(&probs, candidates))
    }
}

/// The candidate with the highest probability in `probs` (indexed by Whisper language id).
fn most_likely(probs: &[f32], candidates: &[&str]) -> Option<String> {
    candidates
        .iter()
        .filter_map(|c| {
            let id = usize::try_from(whisper_rs::get_lang_id(c)?).ok()?;
            Some((*c, *probs.get(id)?))
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(c, _)| c.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_likeliest_allowed_language_wins() {
        let en = whisper_rs::get_lang_id("en").unwrap() as usize;
        let zh = whisper_rs::get_lang_id("zh").unwrap() as usize;
        let ja = whisper_rs::get_lang_id("ja").unwrap() as usize;
        let mut probs = vec![0.0f32; 100];
        probs[en] = 0.2;
        probs[zh] = 0.3;
        probs[ja] = 0.5;
        assert_eq!(most_likely(&probs, &["en", "zh"]).as_deref(), Some("zh"));
        probs[en] = 0.4;
        assert_eq!(most_likely(&probs, &["en", "zh"]).as_deref(), Some("en"));
        assert_eq!(most_likely(&probs, &["xx"]), None);
    }
}

//! Which engine redacts a call: one engine for every call, or (`--lang auto`) the engine
//! of the language the call is spoken in, found by Whisper's language identification and
//! built the first time that language is heard, so one batch or queue can hold English
//! and Mandarin calls.
//!
//! Owns the choice and the lazy, thread-safe building of per-language engines. Must not
//! transcribe, detect or write; how an engine is built (models, rules) is the caller's.

use std::sync::{Mutex, OnceLock};

use crate::asr::language::LanguageId;
use crate::audio::AudioSource;
use crate::store::Keyring;

use super::{Engine, PipelineError};

/// Picks the engine for one call. Shared by the workers of a batch or a queue.
pub trait EngineChoice: Send + Sync {
    /// The keys every chosen engine encrypts with (to check finished outputs).
    fn keyring(&self) -> &Keyring;
    /// The engine that redacts `audio`.
    fn engine_for(&self, audio: &AudioSource) -> Result<&Engine, PipelineError>;
}

impl EngineChoice for Engine {
    fn keyring(&self) -> &Keyring {
        Engine::keyring(self)
    }

    fn engine_for(&self, _audio: &AudioSource) -> Result<&Engine, PipelineError> {
        Ok(self)
    }
}

/// Builds the engine for a language (a Whisper code).
pub type BuildEngine = dyn Fn(&str) -> Result<Engine, PipelineError> + Send + Sync;
/// Loads the multilingual model that identifies languages.
pub type LoadLanguageId = dyn Fn() -> Result<LanguageId, PipelineError> + Send + Sync;

/// One engine per spoken language, each built on first use.
pub struct ByLanguage {
    keyring: std::sync::Arc<Keyring>,
    /// The languages a call may be in; the first is taken when a call has too little
    /// speech to tell.
    languages: Vec<(String, OnceLock<Engine>)>,
    language_id: OnceLock<LanguageId>,
    build: Box<BuildEngine>,
    load_language_id: Box<LoadLanguageId>,
    /// Held while an engine or the identifier is built: each is built once, however many
    /// workers ask at the same time.
    building: Mutex<()>,
}

impl ByLanguage {
    /// Engines for `languages` (at least one; the first is the default), all encrypting
    /// with `keyring`.
    pub fn new(
        keyring: std::sync::Arc<Keyring>,
        languages: &[&str],
        build: Box<BuildEngine>,
        load_language_id: Box<LoadLanguageId>,
    ) -> Self {
        assert!(!languages.is_empty(), "ByLanguage needs a language");
        ByLanguage {
            keyring,
            languages: languages
                .iter()
                .map(|l| (l.to_string(), OnceLock::new()))
                .collect(),
            language_id: OnceLock::new(),
            build,
            load_language_id,
            building: Mutex::new(()),
        }
    }

    /// The language `audio` is spoken in, among the allowed ones (the default when it has
    /// too little speech to tell).
    pub fn identify(&self, audio: &AudioSource) -> Result<String, PipelineError> {
        let lid = self.built(&self.language_id, || (self.load_language_id)())?;
        let codes: Vec<&str> = self.languages.iter().map(|(l, _)| l.as_str()).collect();
        let found = super::language::call_language(lid, audio, &codes)?;
        Ok(found.unwrap_or_else(|| codes[0].to_string()))
    }

    /// The engine for language `lang`, built now if it was not yet.
    pub fn for_language(&self, lang: &str) -> Result<&Engine, PipelineError> {
        let (_, slot) = self
            .languages
            .iter()
            .find(|(l, _)| l == lang)
            .ok_or_else(|| PipelineError::Engine {
                language: lang.to_string(),
                reason: "not among the languages this run allows".into(),
            })?;
        self.built(slot, || (self.build)(lang))
    }

    fn built<'a, T>(
        &self,
        slot: &'a OnceLock<T>,
        make: impl FnOnce() -> Result<T, PipelineError>,
    ) -> Result<&'a T, PipelineError> {
        if let Some(done) = slot.get() {
            return Ok(done);
        }
        let _one_builder = self
            .building
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(done) = slot.get() {
            return Ok(done);
        }
        let made = make()?;
        Ok(slot.get_or_init(|| made))
    }
}

impl EngineChoice for ByLanguage {
    fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    fn engine_for(&self, audio: &AudioSource) -> Result<&Engine, PipelineError> {
        let lang = self.identify(audio)?;
        tracing::info!(input = %audio.name().display(), "spoken language {lang}");
        self.for_language(&lang)
    }
}

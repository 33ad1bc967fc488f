//! The one place stages are wired together, for single files, batches and the demo.
//!
//! A file goes through three passes over its audio, each a chain of threads joined by
//! bounded channels passing owned data one way:
//!
//! 1. [`recognize`]: decode → resample to 16 kHz → transcribe (per channel), and find
//!    keypad tones on the original-rate audio;
//! 2. detection on the words and the keyed digits (small, in memory), then
//!    [`render::refine_on_audio`] widens each spoken item's span to the speech burst
//!    around it; every tone's span is added as found;
//! 3. [`render::write_redacted`]: decode → bleep → encrypt into `S.wav.enc`, and the
//!    masked transcript `S.transcript.json`.
//!
//! Re-decoding is cheap next to recognition and keeps memory flat in file length: no
//! pass holds more than a few blocks of audio. Nothing is written before detection has
//! finished for the whole file, so no unredacted audio or text can reach the disk.
//! This module must not implement any stage itself; it only connects them.

pub mod batch;
pub mod bench;
pub mod choose;
pub mod language;
pub mod live;
mod recognize;
mod render;
pub mod timing;
mod transcript;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use crate::asr::{AsrError, Segment, Transcriber, TranscriberConfig};
use crate::audio::compact::CutConfig;
use crate::audio::dtmf::Heard;
use crate::audio::{AudioError, AudioReader, AudioSource};
use crate::detect::{keypad_words, ChannelWord, DetectError, Detector, KeyPress, Rules, Source};
use crate::io::{self as storage, Location, StorageError};
use crate::redact::BleepConfig;
use crate::store::{Keyring, MasterKey, StoreError};
use crate::time::{self, Span, ASR_RATE};

pub use render::ChannelSpan;
pub use timing::{Stage, StageTimes};

/// Why a file could not be processed. Never carries audio content or detected values.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Audio(#[from] AudioError),
    #[error("speech recognition failed: {0}")]
    Asr(#[from] AsrError),
    #[error(transparent)]
    Detect(#[from] DetectError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("cancelled")]
    Cancelled,
    #[error("no engine for language {language}: {reason}")]
    Engine { language: String, reason: String },
    /// An error with the dependency warnings folded into it (`crate::diagnostics`).
    #[error("{error} ({folded})")]
    WithWarnings {
        error: Box<PipelineError>,
        folded: crate::diagnostics::Folded,
    },
}

impl PipelineError {
    /// True when the input itself is at fault (not audio, corrupt, missing): trying it
    /// again cannot help. False for failures of the machine or a store, which may pass.
    pub fn is_input_fault(&self) -> bool {
        match self.root() {
            PipelineError::Audio(AudioError::Io { .. } | AudioError::Resample { .. }) => false,
            PipelineError::Audio(_) => true,
            PipelineError::Storage(e) => !e.is_transient(),
            _ => false,
        }
    }

    /// The error itself, without folded warnings.
    pub fn root(&self) -> &PipelineError {
        match self {
            PipelineError::WithWarnings { error, .. } => error.root(),
            other => other,
        }
    }
}

/// Settings shared by every file of a run.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// Model name or path, for the transcript's metadata.
    pub model_label: String,
    pub language: String,
    pub bleep: BleepConfig,
    /// How far a span's edges may move outward to reach the end of the speech burst.
    pub refine_max_extend_s: f64,
    /// Long silences cut out before Whisper (None: Whisper hears everything). Only taken
    /// for languages [`silence_cut_for`] allows; [`Engine::new`] drops it for the others.
    pub silence_cut: Option<CutConfig>,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            model_label: "tiny.en".into(),
            language: "en".into(),
            bleep: BleepConfig::default(),
            refine_max_extend_s: 0.6,
            silence_cut: silence_cut_for("en"),
        }
    }
}

/// Whether long silences are cut before Whisper for a spoken language: English and
/// Chinese. Chinese was first left uncut because cutting changed base's reading of
/// samples/cn_id.wav to homophones (要 林 無); detection knows those now, and uncut,
/// base looped on stereo customer channels that are mostly silence (a 24 s window
/// bleeped whole). On 14 phone-band Mandarin calls cutting took leaks from 8 to 5.
/// Other languages hear everything until they are measured.
pub fn silence_cut_for(language: &str) -> Option<CutConfig> {
    matches!(language, "en" | "zh").then(CutConfig::default)
}

/// The loaded parts a run needs: the model, the detector and the keys (new recordings
/// use the keyring's primary key). Built once and shared by every file (and every
/// worker thread) of a run.
pub struct Engine {
    pub config: PipelineConfig,
    transcriber: Transcriber,
    detector: Detector,
    keyring: Arc<Keyring>,
    /// Busy time per stage over every file this engine processed (for `hushline bench`).
    pub timings: StageTimes,
}

impl Engine {
    pub fn new(
        model_path: &Path,
        transcriber_config: TranscriberConfig,
        rules: Rules,
        keyring: Arc<Keyring>,
        mut config: PipelineConfig,
    ) -> Result<Self, PipelineError> {
        // A config built from the English default and given another language must not
        // keep the English silence cut (it leaked a spoken Chinese ID): the language
        // decides whether cutting is allowed at all.
        if silence_cut_for(&config.language).is_none() {
            config.silence_cut = None;
        }
        Ok(Engine {
            transcriber: Transcriber::load(model_path, transcriber_config)?,
            detector: Detector::new(rules)?,
            keyring,
            config,
            timings: StageTimes::default(),
        })
    }

    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    fn key(&self) -> &MasterKey {
        self.keyring.primary()
    }
}

/// What happened to one file, for tables and the batch report. Counts and times only.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FileReport {
    pub input: PathBuf,
    pub recording: PathBuf,
    pub transcript: PathBuf,
    pub duration_s: f64,
    pub rate: u32,
    pub channels: u16,
    /// Redacted items by type name ("card", "cvv", ...), sorted by name.
    pub redacted: Vec<(String, usize)>,
    pub bleeped_s: f64,
    /// Audio bleeped whole because recognition could not vouch for it (fail closed).
    pub fail_closed_s: f64,
    pub processing_s: f64,
    pub fail_closed: Vec<String>,
}

impl FileReport {
    pub fn x_realtime(&self) -> f64 {
        if self.processing_s > 0.0 {
            self.duration_s / self.processing_s
        } else {
            0.0
        }
    }
}

/// The first stage of every pass: decodes blocks into `tx` until the end, a decode
/// error, cancellation, or the next stage hanging up (its own error is reported there).
fn decode_stage(
    reader: &mut AudioReader,
    tx: crossbeam_channel::Sender<Vec<Vec<f32>>>,
    cancel: &AtomicBool,
    timings: &StageTimes,
) -> Result<(), PipelineError> {
    loop {
        let started = Instant::now();
        let block = reader.next_block();
        timings.add(Stage::Decode, started.elapsed());
        let Some(block) = block? else { break };
        if cancel.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(PipelineError::Cancelled);
        }
        if tx.send(block).is_err() {
            break;
        }
    }
    Ok(())
}

/// Output paths for an input whose file stem is S: `S.wav.enc` and `S.transcript.json`.
pub fn output_paths(input: &Path, out_dir: &Path) -> (PathBuf, PathBuf) {
    let (recording, transcript) = storage::output_names(input);
    (out_dir.join(recording), out_dir.join(transcript))
}

/// Redacts one file into `out_dir`. On error nothing is left in `out_dir` for this file.
pub fn process_file(
    engine: &Engine,
    input: &Path,
    out_dir: &Path,
    cancel: &AtomicBool,
) -> Result<FileReport, PipelineError> {
    process(
        engine,
        &AudioSource::File(input.to_path_buf()),
        &Location::Dir(out_dir.to_path_buf()),
        cancel,
    )
}

/// Redacts one input (a file, or an object read into memory) into `out`, a folder or an
/// object store prefix. Each output appears only when complete; on error nothing is left
/// in `out` for this input.
pub fn process(
    engine: &Engine,
    input: &AudioSource,
    out: &Location,
    cancel: &AtomicBool,
) -> Result<FileReport, PipelineError> {
    let span = crate::diagnostics::input_span(input.name());
    let result = span.in_scope(|| process_in_span(engine, input, out, cancel));
    match (result, crate::diagnostics::take_folded(&span)) {
        (Err(error), Some(folded)) => Err(PipelineError::WithWarnings {
            error: Box::new(error),
            folded,
        }),
        (Ok(report), Some(folded)) => {
            tracing::warn!(input = %input.name().display(), "redacted, but {folded}");
            Ok(report)
        }
        (result, None) => result,
    }
}

fn process_in_span(
    engine: &Engine,
    input: &AudioSource,
    out: &Location,
    cancel: &AtomicBool,
) -> Result<FileReport, PipelineError> {
    let started = Instant::now();
    let (recording_name, transcript_name) = storage::output_names(input.name());
    let recording_path = PathBuf::from(out.display(&recording_name));
    let transcript_path = PathBuf::from(out.display(&transcript_name));
    let mut recognition = recognize::recognize(
        input,
        &engine.transcriber,
        engine.config.silence_cut.as_ref(),
        cancel,
        &engine.timings,
    )?;
    let info = recognition.info.clone();
    let detector = &engine.detector;
    // Requests heard anywhere, doubted second hearings included: they only widen.
    let asked = detector.request_windows(&spoken_words(&recognition, |_, _| true));
    let verdicts = transcript::second_hearing_verdicts(&recognition, detector, &asked);
    let distrusted = transcript::distrusted_second_hearings(&recognition, &verdicts);
    let mut words = spoken_words(&recognition, |ch, seg| {
        verdicts[ch][seg].is_none_or(transcript::Distrust::words_read)
    });
    // Tones heard only under other sound are removed below, but not read as keys.
    let presses: Vec<KeyPress> = recognition
        .tones
        .iter()
        .filter(|(_, tone)| tone.heard == Heard::Clearly)
        .map(|&(channel, tone)| KeyPress {
            channel,
            key: tone.key,
            span: tone.span.rescale(info.rate, ASR_RATE),
        })
        .collect();
    words.extend(keypad_words(&presses));
    let detections = engine.timings.time(Stage::Detect, || {
        // Digits beside audio nobody transcribed may be part of a longer number; beside
        // a distrusted second hearing, of its own channel only, unless its words were
        // not read at all (doubted or garbled), which is as good as unheard.
        let (unread, untrusted): (Vec<_>, Vec<_>) =
            distrusted.iter().partition(|(why, _)| !why.words_read());
        let span_of = |(_, f): &(transcript::Distrust, transcript::FailClosed)| (f.channel, f.span);
        let unheard: Vec<(u16, Span)> = recognition
            .unsure
            .iter()
            .map(|u| (u.0, u.1))
            .chain(unread.into_iter().map(span_of))
            .collect();
        let untrusted: Vec<(u16, Span)> = untrusted.into_iter().map(span_of).collect();
        engine.detector.detect_around(&words, &unheard, &untrusted)
    });
    let mut fail_closed = transcript::fail_closed_spans(&recognition);
    // Detection saw their words beside the rest of the call; the transcript does not.
    for (ct, verdicts) in recognition.channels.iter_mut().zip(&verdicts) {
        // `retain` visits the segments in order, once each.
        let mut verdict = verdicts.iter();
        ct.segments
            .retain(|_| verdict.next().is_some_and(Option::is_none));
    }
    fail_closed.extend(
        distrusted
            .into_iter()
            .filter(|(why, _)| why.bleeped_whole())
            .map(|(_, f)| f),
    );

    let mut spans: Vec<ChannelSpan> = detections
        .items
        .iter()
        .map(|d| ChannelSpan {
            channel: d.channel,
            span: d.span.rescale(ASR_RATE, info.rate),
        })
        .collect();
    let max_extend = time::from_seconds(engine.config.refine_max_extend_s, info.rate);
    spans = engine.timings.time(Stage::Refine, || {
        render::refine_on_audio(input, &spans, max_extend)
    })?;
    // Every tone goes, whatever its key and whether or not it formed an item; its span
    // already covers the tone's edges.
    spans.extend(
        recognition
            .tones
            .iter()
            .map(|&(channel, tone)| ChannelSpan {
                channel,
                span: tone.span,
            }),
    );
    spans.extend(fail_closed.iter().map(|f| ChannelSpan {
        channel: f.channel,
        span: f.span.rescale(ASR_RATE, info.rate),
    }));

    let frames = render::write_redacted(
        input,
        out.create(&recording_name)?,
        &recording_path,
        &spans,
        &engine.config.bleep,
        engine.key(),
        cancel,
        &engine.timings,
    )?;

    let transcript_started = Instant::now();
    let doc = transcript::build(
        input.name(),
        &info,
        frames,
        &engine.config,
        &recognition,
        &detections,
        &fail_closed,
        &recording_name,
        &engine.key().id,
    );
    let written = out
        .create(&transcript_name)
        .map_err(PipelineError::from)
        .and_then(|file| {
            crate::store::write_transcript_to(file, &transcript_path, &doc)
                .map_err(PipelineError::from)
        });
    if let Err(e) = written {
        // The pair is the unit of output: without its transcript the recording goes too.
        let _ = out.remove(&recording_name);
        return Err(e);
    }
    engine
        .timings
        .add(Stage::Transcript, transcript_started.elapsed());

    let mut redacted = std::collections::BTreeMap::<String, usize>::new();
    for item in &detections.items {
        *redacted.entry(item.kind.as_str().to_string()).or_default() += 1;
    }
    let bleeped = transcript::bleeped_seconds(&spans, &engine.config.bleep, &info, frames);
    Ok(FileReport {
        input: input.name().to_path_buf(),
        recording: recording_path,
        transcript: transcript_path,
        duration_s: time::to_seconds(frames, info.rate),
        rate: info.rate,
        channels: info.channels,
        redacted: redacted.into_iter().collect(),
        bleeped_s: bleeped,
        fail_closed_s: fail_closed
            .iter()
            .map(|f| time::to_seconds(f.span.len(), ASR_RATE))
            .sum(),
        processing_s: started.elapsed().as_secs_f64(),
        fail_closed: doc.metadata.fail_closed.clone(),
    })
}

/// The words recognition heard, as the detector reads them, from the segments `keep`
/// accepts (by index in `recognition.channels` and in that channel's segments).
fn spoken_words(
    recognition: &recognize::Recognition,
    keep: impl Fn(usize, usize) -> bool,
) -> Vec<ChannelWord> {
    recognition
        .channels
        .iter()
        .enumerate()
        .flat_map(|(c, ct)| {
            ct.segments
                .iter()
                .enumerate()
                .map(move |(i, seg)| (c, i, ct.channel, seg))
        })
        .filter(|&(c, i, _, _)| keep(c, i))
        .flat_map(|(_, _, channel, seg)| segment_words(channel, seg))
        .collect()
}

/// The words of one recognised segment of `channel`, as the detector reads them.
fn segment_words(channel: u16, seg: &Segment) -> impl Iterator<Item = ChannelWord> + '_ {
    seg.words.iter().map(move |w| ChannelWord {
        channel,
        word: w.clone(),
        source: Source::Speech,
    })
}

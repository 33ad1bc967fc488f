//! Busy time per pipeline stage, summed over every file an [`super::Engine`] processes, so
//! `hushline bench` can say where the wall time goes.
//!
//! Stages run on their own threads and overlap, so their busy times may add up to more
//! than the wall time. Counting costs one clock read per block. This module only
//! measures: it must not change what any stage does or when.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The stages whose time is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Decoding the file, in every pass (recognition, refinement, rendering).
    Decode,
    /// Resampling to the 16 kHz recognition clock.
    Resample,
    /// Finding speech and cutting long silences out of the recognition stream.
    Vad,
    /// Finding keypad tones on the original-rate audio.
    Keypad,
    /// Whisper, with its windowing (and the silence cutting, also counted as `Vad`).
    Recognize,
    /// Of `Recognize`, the second hearings: looped windows and unheard speech heard again.
    HearAgain,
    /// Detection on the words.
    Detect,
    /// Refining span edges on the original audio (pass 2, reading included).
    Refine,
    /// Rendering bleeps into the audio.
    Bleep,
    /// Encrypting and writing the recording.
    Encrypt,
    /// Building and writing the masked transcript.
    Transcript,
}

impl Stage {
    pub const ALL: [Stage; 11] = [
        Stage::Decode,
        Stage::Resample,
        Stage::Vad,
        Stage::Keypad,
        Stage::Recognize,
        Stage::HearAgain,
        Stage::Detect,
        Stage::Refine,
        Stage::Bleep,
        Stage::Encrypt,
        Stage::Transcript,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Decode => "decode",
            Stage::Resample => "resample",
            Stage::Vad => "vad",
            Stage::Keypad => "keypad",
            Stage::Recognize => "recognise",
            Stage::HearAgain => "hear again",
            Stage::Detect => "detect",
            Stage::Refine => "refine",
            Stage::Bleep => "bleep",
            Stage::Encrypt => "encrypt",
            Stage::Transcript => "transcript",
        }
    }
}

/// Accumulated busy time per stage; shared by reference between worker threads.
#[derive(Debug, Default)]
pub struct StageTimes {
    nanos: [AtomicU64; Stage::ALL.len()],
}

impl StageTimes {
    pub fn add(&self, stage: Stage, elapsed: Duration) {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.nanos[stage as usize].fetch_add(nanos, Ordering::Relaxed);
    }

    /// Runs `f` and counts its time against `stage`.
    pub fn time<T>(&self, stage: Stage, f: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        let out = f();
        self.add(stage, started.elapsed());
        out
    }

    /// Seconds per stage, in [`Stage::ALL`] order.
    pub fn seconds(&self) -> Vec<(Stage, f64)> {
        Stage::ALL
            .iter()
            .map(|&s| {
                (
                    s,
                    self.nanos[s as usize].load(Ordering::Relaxed) as f64 / 1e9,
                )
            })
            .collect()
    }

    pub fn reset(&self) {
        for n in &self.nanos {
            n.store(0, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_stage_and_resets() {
        let t = StageTimes::default();
        t.add(Stage::Bleep, Duration::from_millis(1500));
        t.add(Stage::Bleep, Duration::from_millis(500));
        let v = t.time(Stage::Detect, || 7);
        assert_eq!(v, 7);
        let s = t.seconds();
        assert_eq!(s.len(), Stage::ALL.len());
        let bleep = s.iter().find(|(st, _)| *st == Stage::Bleep).unwrap().1;
        assert!((bleep - 2.0).abs() < 1e-9, "{bleep}");
        assert_eq!(
            s.iter().find(|(st, _)| *st == Stage::Encrypt).unwrap().1,
            0.0
        );
        t.reset();
        assert!(t.seconds().iter().all(|(_, v)| *v == 0.0));
    }
}

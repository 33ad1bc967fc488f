//! What hushline asks whisper.cpp's callbacks to do during one decoding pass: stop a
//! pass whose decoder has started repeating itself, and skip whisper.cpp's extra
//! encoder pass over a silent window tail.
//!
//! whisper.cpp re-encodes the audio after the last timestamp its decoder predicted
//! whenever that comes before the window's end. That costs a whole encoder pass (the
//! window's full context), usually for a second of trailing silence. The watch lets the
//! extra pass run only if the tail has sound that could be unheard speech.
//!
//! Must not change what a pass hears: it only reads tokens and the window's audio, and
//! only ever ends a pass early. Must not log token text.

use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use whisper_rs::whisper_rs_sys as sys;
use whisper_rs::FullParams;

use super::window::{frame_rms, share_of_loud, FRAME};
use super::words::find_loop;

/// A tail frame counts as sound above this share of loud speech (the window's 90th
/// percentile 10 ms RMS): -30 dB, well under a soft word.
const TAIL_SOUND_RATIO: f32 = 0.03;
/// A tail with at least this many sounding 10 ms frames is heard.
const TAIL_SOUND_FRAMES: usize = 5;

/// Where a looping pass stopped being trustworthy: the time, in samples from the start of
/// its audio, of the last timestamp the decoder predicted before the repeated text began
/// (0 when none). What it wrote before that is speech it heard; from there on, the decoder
/// was stuck. `ids` are the pass's tokens in order, timestamps included (`beg` and above).
pub(super) fn loop_start(ids: &[i32], eot: i32, beg: i32) -> Option<usize> {
    let text: Vec<i32> = ids.iter().copied().filter(|&id| id < eot).collect();
    let start = find_loop(&text)?;
    let mut seen = 0;
    let mut at_cs = 0usize;
    for &id in ids {
        if id >= beg {
            // One timestamp token per 20 ms.
            at_cs = (id - beg) as usize * 2;
        } else if id < eot {
            if seen == start {
                break;
            }
            seen += 1;
        }
    }
    Some(at_cs * FRAME)
}

/// Shared with whisper.cpp's callbacks during one pass over `audio`.
pub(super) struct PassWatch<'a> {
    eot: i32,
    beg: i32,
    looped: AtomicBool,
    /// Where the loop began (see [`loop_start`]), once the watch saw one.
    loop_from: AtomicUsize,
    audio: &'a [f32],
}

impl<'a> PassWatch<'a> {
    pub(super) fn new(eot: i32, beg: i32, audio: &'a [f32]) -> Self {
        PassWatch {
            eot,
            beg,
            looped: AtomicBool::new(false),
            loop_from: AtomicUsize::new(0),
            audio,
        }
    }

    /// Whether the pass was stopped because its decoder looped.
    pub(super) fn looped(&self) -> bool {
        self.looped.load(Ordering::Relaxed)
    }

    /// Where the loop began, in samples of the pass's audio.
    pub(super) fn loop_from(&self) -> usize {
        self.loop_from.load(Ordering::Relaxed)
    }

    /// Whether the audio from sample `from` on holds sound worth another encoder pass.
    /// Measured only when whisper.cpp asks, which few passes do.
    fn tail_has_sound(&self, from: usize) -> bool {
        let frames = frame_rms(self.audio);
        let level = share_of_loud(&frames, TAIL_SOUND_RATIO);
        frames
            .get(from / FRAME..)
            .unwrap_or_default()
            .iter()
            .filter(|&&rms| rms >= level)
            .count()
            >= TAIL_SOUND_FRAMES
    }

    /// Installs the callbacks on `params`.
    ///
    /// # Safety
    /// `self` must outlive every `full()` run with `params`: whisper.cpp calls back with
    /// a pointer to it.
    pub(super) unsafe fn attach(&self, params: &mut FullParams) {
        let me = self as *const PassWatch as *mut c_void;
        // SAFETY: the callbacks only read through `me`, which the caller keeps alive.
        unsafe {
            params.set_filter_logits_callback(Some(watch_tokens));
            params.set_filter_logits_callback_user_data(me);
            params.set_abort_callback(Some(stop_if_looped));
            params.set_abort_callback_user_data(me);
            params.set_start_encoder_callback(Some(encode_unless_silent_tail));
            params.set_start_encoder_callback_user_data(me);
        }
    }
}

/// whisper.cpp's logits filter, called before each token is chosen with the tokens of
/// the segment so far: flags a repetition loop. It leaves the logits alone.
unsafe extern "C" fn watch_tokens(
    _ctx: *mut sys::whisper_context,
    _state: *mut sys::whisper_state,
    tokens: *const sys::whisper_token_data,
    n_tokens: c_int,
    _logits: *mut f32,
    user_data: *mut c_void,
) {
    // SAFETY: `user_data` is the `PassWatch` kept alive during `full()` (see `attach`).
    let watch = unsafe { &*(user_data as *const PassWatch) };
    if tokens.is_null() || n_tokens <= 0 || watch.looped() {
        return;
    }
    // SAFETY: whisper.cpp passes its current token vector: `n_tokens` valid entries.
    let tokens = unsafe { std::slice::from_raw_parts(tokens, n_tokens as usize) };
    let ids: Vec<i32> = tokens.iter().map(|t| t.id).collect();
    if let Some(from) = loop_start(&ids, watch.eot, watch.beg) {
        watch.loop_from.store(from, Ordering::Relaxed);
        watch.looped.store(true, Ordering::Relaxed);
    }
}

/// whisper.cpp's abort check, asked during every encoder and decoder computation: stops
/// the pass once the watch saw a loop.
unsafe extern "C" fn stop_if_looped(user_data: *mut c_void) -> bool {
    // SAFETY: as in `watch_tokens`.
    let watch = unsafe { &*(user_data as *const PassWatch) };
    watch.looped()
}

/// whisper.cpp asks before every encoder run of a pass. The first always runs; a later
/// one (the audio after the last predicted timestamp) runs only if that audio has sound.
/// Declining ends the pass with what was decoded so far (whisper.cpp logs it as an
/// error, which hushline's default log filter hides).
unsafe extern "C" fn encode_unless_silent_tail(
    _ctx: *mut sys::whisper_context,
    state: *mut sys::whisper_state,
    user_data: *mut c_void,
) -> bool {
    // SAFETY: as in `watch_tokens`; `state` is the state running this pass.
    let watch = unsafe { &*(user_data as *const PassWatch) };
    let segments = unsafe { sys::whisper_full_n_segments_from_state(state) };
    if segments <= 0 {
        return true;
    }
    // SAFETY: `segments - 1` is a valid segment index of this state.
    let heard_to_cs = unsafe { sys::whisper_full_get_segment_t1_from_state(state, segments - 1) };
    // A whisper.cpp centisecond is one 10 ms frame.
    watch.tail_has_sound(heard_to_cs.max(0) as usize * FRAME)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watch_stops_a_pass_once_its_tokens_loop() {
        let eot = 50_256;
        let watch = PassWatch::new(eot, eot + 107, &[]);
        let user_data = &watch as *const PassWatch as *mut c_void;
        let token = |id: i32| sys::whisper_token_data {
            id,
            tid: 0,
            p: 0.9,
            plog: 0.0,
            pt: 0.0,
            ptsum: 0.0,
            t0: 0,
            t1: 0,
            t_dtw: 0,
            vlen: 0.0,
        };
        let see = |ids: &[i32]| {
            let tokens: Vec<sys::whisper_token_data> = ids.iter().map(|&id| token(id)).collect();
            // SAFETY: null context/state are never read; `tokens` and `watch` outlive the call.
            unsafe {
                watch_tokens(
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    tokens.as_ptr(),
                    tokens.len() as c_int,
                    std::ptr::null_mut(),
                    user_data,
                );
                stop_if_looped(user_data)
            }
        };
        // A card read as digit groups, then timestamps (>= eot): no loop.
        let card = [604, 2670, 604, 2670, 604, 2670, 604, 2670, eot + 7, eot + 9];
        assert!(!see(&card));
        // "852-" over and over: stopped.
        let runaway: Vec<i32> = [23, 3980, 12].repeat(12);
        assert!(see(&runaway));
        assert!(see(&card), "once stopped, the pass stays stopped");
    }

    #[test]
    fn a_loop_starts_at_the_last_timestamp_before_the_repeats() {
        let (eot, beg) = (50_256, 50_363);
        // <0.00> hello there <2.00> <2.00> 8 5 2 - 8 5 2 - … (from 2 s on: stuck)
        let mut ids = vec![beg, 10, 11, beg + 100, beg + 100];
        ids.extend([23, 3980, 12].repeat(12));
        assert_eq!(loop_start(&ids, eot, beg), Some(2 * 16_000));
        assert_eq!(loop_start(&[beg, 10, 11, beg + 50], eot, beg), None);
    }

    #[test]
    fn only_a_tail_with_sound_is_worth_another_encoder_pass() {
        let rate = 16_000;
        let tone = |amp: f32, secs: f32| -> Vec<f32> {
            (0..(secs * rate as f32) as usize)
                .map(|i| amp * (i as f32 * 0.3).sin())
                .collect()
        };
        // 10 s of speech-loud tone, then 2 s of near silence.
        let mut audio = tone(0.3, 10.0);
        audio.extend(tone(0.0005, 2.0));
        let watch = PassWatch::new(50_256, 50_363, &audio);
        assert!(!watch.tail_has_sound(10 * rate));
        assert!(!watch.tail_has_sound(audio.len() + 5));
        // A soft word (-26 dB under the loud part) in the tail is sound.
        audio.extend(tone(0.015, 0.3));
        let watch = PassWatch::new(50_256, 50_363, &audio);
        assert!(watch.tail_has_sound(10 * rate));
        assert!(watch.tail_has_sound(9 * rate));
    }
}

//! Live recognition: every stream of every call is re-heard as it grows, on one thread
//! that owns the Whisper model, and each hearing is reported as committed words (final)
//! plus tentative ones (the latest guess at the still-growing tail).
//!
//! A stream's buffer runs from its last commit point to the newest audio. Each pass
//! transcribes the whole buffer (≤ [`MAX_BUFFER`]), then commits the words before the
//! latest clear pause that is at least [`COMMIT_LAG`] behind the newest audio and drops
//! that audio. Streams are served oldest-waiting first, so under load each pass simply
//! covers more new audio; the caller decides what to do with audio not yet heard.
//!
//! A buffer in which the energy detector finds no speech is not sent to Whisper at all.
//!
//! Must not decide what is sensitive, release audio, or write anything.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use crate::asr::{transcribe_clip, AsrError, Transcriber, Word};
use crate::audio::{speech_regions, Resampler16k, VadConfig};
use crate::live::LIVE_RATE;
use crate::time::{from_seconds, Span, ASR_RATE};

/// A call's stream: (the call's number in this run, the stream's index).
pub(super) type StreamKey = (u64, usize);

/// Words are not committed until the audio after them has been heard this long.
const COMMIT_LAG: Duration = Duration::from_secs(2);
/// A gap between words at least this long is a place to commit at.
const MIN_CUT_GAP: Duration = Duration::from_millis(300);
/// A buffer this long commits at its best word boundary even without a clear pause.
const FORCE_COMMIT: Duration = Duration::from_secs(18);
/// The most audio one pass hears (Whisper's window is 30 s).
pub(super) const MAX_BUFFER: Duration = Duration::from_secs(25);
/// See [`drop_trailing_echo`].
const ECHO_ZONE: Duration = Duration::from_millis(150);
const ECHO_MAX_LEN: Duration = Duration::from_millis(30);
/// With no words in a buffer this long, all but its last second is dropped.
const WORDLESS_KEEP: Duration = Duration::from_secs(1);

pub(super) enum AsrIn {
    /// 8 kHz audio of a stream at `start` on the call's clock.
    Audio {
        key: StreamKey,
        start: u64,
        pcm: Vec<f32>,
    },
    /// No more audio for this stream: hear the rest and report it as final.
    End { key: StreamKey },
}

/// One pass over a stream. Times are on the call's 16 kHz clock.
pub(super) struct Hearing {
    pub key: StreamKey,
    /// Appended to the stream's words for good.
    pub committed: Vec<Word>,
    /// The current guess after the commit point; replaces the previous guess.
    pub tentative: Vec<Word>,
    /// Everything before this has been heard at least once.
    pub heard_to: u64,
    /// Stretches Whisper could not transcribe (decoder loops, errors): redact whole.
    pub unsure: Vec<Span>,
    /// The stream's last hearing.
    pub last: bool,
}

struct StreamAsr {
    resampler: Resampler16k,
    /// Next expected 8 kHz position; gaps before later audio are filled with silence.
    next_in: u64,
    buf: Vec<f32>,
    /// 16 kHz position of `buf[0]`.
    buf_start: u64,
    /// Samples added since the last pass.
    unheard: usize,
    waiting_since: Option<Instant>,
    ended: bool,
    /// The resampler's tail has been taken (once, after the end).
    flushed: bool,
}

impl StreamAsr {
    fn new() -> Self {
        StreamAsr {
            resampler: Resampler16k::new(LIVE_RATE).expect("8 kHz is a supported rate"),
            next_in: 0,
            buf: Vec::new(),
            buf_start: 0,
            unheard: 0,
            waiting_since: None,
            ended: false,
            flushed: false,
        }
    }

    fn push(&mut self, start: u64, pcm: &[f32]) {
        if self.next_in == 0 && self.buf.is_empty() && start > 0 {
            // The stream joined the call late: its clock starts where its audio does.
            self.next_in = start;
            self.buf_start = start * u64::from(ASR_RATE / LIVE_RATE);
        }
        let skip = self.next_in.saturating_sub(start) as usize;
        if skip >= pcm.len() {
            return;
        }
        let gap = start.saturating_sub(self.next_in) as usize;
        let mut input = Vec::with_capacity(gap + pcm.len() - skip);
        input.resize(gap, 0.0);
        input.extend_from_slice(&pcm[skip..]);
        self.next_in += input.len() as u64;
        let out = self.resampler.process(&input);
        self.append(&out);
    }

    fn append(&mut self, samples: &[f32]) {
        if samples.is_empty() {
            return;
        }
        self.buf.extend_from_slice(samples);
        self.unheard += samples.len();
        self.waiting_since.get_or_insert_with(Instant::now);
    }

    fn ready(&self, hop: usize) -> bool {
        self.ended || self.unheard >= hop || self.buf.len() >= samples(MAX_BUFFER)
    }

    /// Hears the buffer (its first [`MAX_BUFFER`] when recognition has fallen behind)
    /// once and commits what is settled.
    fn pass(&mut self, key: StreamKey, asr: &Transcriber) -> Hearing {
        if self.ended && !self.flushed {
            self.flushed = true;
            let tail = self.resampler.finish();
            self.append(&tail);
        }
        self.unheard = 0;
        self.waiting_since = None;
        let n = self.buf.len().min(samples(MAX_BUFFER));
        let last = self.ended && n == self.buf.len();
        let heard_to = self.buf_start + n as u64;
        let whole = Span::new(self.buf_start, heard_to);
        // A listening party's stream is mostly line noise: no speech, no Whisper (which
        // would cost a pass a second and hallucinate "thank you" on the hiss).
        let heard = &self.buf[..n];
        let speech = !speech_regions(heard, self.buf_start, &VadConfig::default()).is_empty();
        let clip = if speech {
            transcribe_clip(asr, heard, self.buf_start)
        } else {
            Ok(Vec::new())
        };
        let (words, unsure) = match clip {
            Ok(segments) => {
                // Live has no time to judge a second hearing (a window heard in parts
                // around a decoder loop): from its start on, the window is unsure, as
                // when the loop could not be heard past.
                if let Some(from) = segments
                    .iter()
                    .filter(|s| s.second_hearing)
                    .map(|s| s.span.start)
                    .min()
                {
                    let words = segments
                        .into_iter()
                        .filter(|s| !s.second_hearing)
                        .flat_map(|s| s.words)
                        .filter(|w| w.span.start < from)
                        .collect();
                    self.drop_until(heard_to);
                    let unsure = vec![Span::new(from, heard_to)];
                    return hearing(key, words, Vec::new(), heard_to, unsure, last);
                }
                (segments.into_iter().flat_map(|s| s.words).collect(), vec![])
            }
            Err(AsrError::Loop {
                mut spans,
                completed,
            }) => {
                // Parts heard again around the loop are unsure live, as below.
                let (again, first): (Vec<_>, Vec<_>) =
                    completed.into_iter().partition(|s| s.second_hearing);
                spans.extend(again.iter().map(|s| s.span));
                let words = first.into_iter().flat_map(|s| s.words).collect();
                self.drop_until(heard_to);
                return hearing(key, words, Vec::new(), heard_to, spans, last);
            }
            Err(e) => {
                tracing::warn!(stream = key.1, error = %e, "live recognition failed; redacting the window whole");
                (Vec::new(), vec![whole])
            }
        };
        let words = drop_trailing_echo(words, heard_to);
        let cut = if last || !unsure.is_empty() {
            heard_to
        } else {
            choose_cut(&words, self.buf_start, heard_to)
        };
        let (committed, tentative): (Vec<Word>, Vec<Word>) =
            words.into_iter().partition(|w| w.span.start < cut);
        self.drop_until(cut);
        hearing(key, committed, tentative, heard_to, unsure, last)
    }

    fn drop_until(&mut self, cut: u64) {
        let n = (cut.saturating_sub(self.buf_start) as usize).min(self.buf.len());
        self.buf.drain(..n);
        self.buf_start += n as u64;
    }
}

fn hearing(
    key: StreamKey,
    committed: Vec<Word>,
    tentative: Vec<Word>,
    heard_to: u64,
    unsure: Vec<Span>,
    last: bool,
) -> Hearing {
    Hearing {
        key,
        committed,
        tentative,
        heard_to,
        unsure,
        last,
    }
}

/// Whisper sometimes repeats a window's text as zero-length words stacked at its very
/// end (seen with short, fitted windows). Words that short that close to the end are not
/// speech; the next pass hears that audio properly.
fn drop_trailing_echo(mut words: Vec<Word>, heard_to: u64) -> Vec<Word> {
    let near_end = heard_to.saturating_sub(samples(ECHO_ZONE) as u64);
    let min_len = samples(ECHO_MAX_LEN) as u64;
    words.retain(|w| !(w.span.start >= near_end && w.span.len() < min_len));
    words
}

fn samples(d: Duration) -> usize {
    from_seconds(d.as_secs_f64(), ASR_RATE) as usize
}

/// Where to commit: in the latest clear pause between words that is at least
/// [`COMMIT_LAG`] behind the newest audio; in a long buffer, at the latest word end that
/// far back; with no words, just before the newest audio. Returns `buf_start` for "not
/// yet".
fn choose_cut(words: &[Word], buf_start: u64, heard_to: u64) -> u64 {
    let limit = heard_to.saturating_sub(samples(COMMIT_LAG) as u64);
    let len = heard_to - buf_start;
    if words.is_empty() {
        return if len > 2 * samples(WORDLESS_KEEP) as u64 {
            heard_to - samples(WORDLESS_KEEP) as u64
        } else {
            buf_start
        };
    }
    let min_gap = samples(MIN_CUT_GAP) as u64;
    let mut best = None;
    for (i, w) in words.iter().enumerate() {
        let gap_end = words.get(i + 1).map_or(heard_to, |n| n.span.start);
        if gap_end.saturating_sub(w.span.end) < min_gap {
            continue;
        }
        let cut = (w.span.end + (gap_end - w.span.end) / 2).min(limit);
        if cut > buf_start && cut >= w.span.end {
            best = Some(cut);
        }
    }
    if best.is_none() && len >= samples(FORCE_COMMIT) as u64 {
        best = words
            .iter()
            .map(|w| w.span.end)
            .filter(|&e| e <= limit && e > buf_start)
            .max()
            .or(Some(limit));
    }
    best.unwrap_or(buf_start)
}

/// Runs until `input` closes: hears streams as their audio arrives and sends every
/// hearing to `output`. `hop` is the least new audio worth a new pass.
pub(super) fn run(
    asr: &Transcriber,
    hop: Duration,
    input: Receiver<AsrIn>,
    output: Sender<Hearing>,
) {
    let hop = samples(hop);
    let mut streams: HashMap<StreamKey, StreamAsr> = HashMap::new();
    let mut open = true;
    while open || !streams.is_empty() {
        // Take everything that has arrived before choosing what to hear.
        loop {
            let msg = if streams.values().any(|s| s.ready(hop)) || !open {
                match input.try_recv() {
                    Ok(m) => m,
                    Err(_) => break,
                }
            } else {
                match input.recv_timeout(Duration::from_millis(100)) {
                    Ok(m) => m,
                    Err(RecvTimeoutError::Timeout) => break,
                    Err(RecvTimeoutError::Disconnected) => {
                        open = false;
                        break;
                    }
                }
            };
            match msg {
                AsrIn::Audio { key, start, pcm } => {
                    streams
                        .entry(key)
                        .or_insert_with(StreamAsr::new)
                        .push(start, &pcm);
                }
                AsrIn::End { key } => {
                    streams.entry(key).or_insert_with(StreamAsr::new).ended = true
                }
            }
        }
        if !open {
            for s in streams.values_mut() {
                s.ended = true;
            }
        }
        let next = streams
            .iter()
            .filter(|(_, s)| s.ready(hop))
            .min_by_key(|(_, s)| (!s.ended, s.waiting_since))
            .map(|(k, _)| *k);
        let Some(key) = next else { continue };
        let stream = streams.get_mut(&key).expect("chosen from the map");
        let h = stream.pass(key, asr);
        if h.last {
            streams.remove(&key);
        }
        if output.send(h).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(start_s: f64, end_s: f64) -> Word {
        Word {
            text: "w".into(),
            span: Span::new(
                from_seconds(start_s, ASR_RATE),
                from_seconds(end_s, ASR_RATE),
            ),
            confidence: 1.0,
            tokens: Vec::new(),
        }
    }

    fn at(s: f64) -> u64 {
        from_seconds(s, ASR_RATE)
    }

    #[test]
    fn commits_in_the_latest_pause_far_enough_behind() {
        let words = [
            word(0.0, 0.5),
            word(1.0, 1.5),
            word(1.6, 2.0),
            word(4.0, 4.5),
        ];
        // Heard to 5 s: the pause 2.0-4.0 is the latest, cut in its middle (3.0 = limit).
        assert_eq!(choose_cut(&words, 0, at(5.0)), at(3.0));
        // Heard to 4.6 s: the limit (2.6 s) caps the cut inside that pause.
        assert_eq!(choose_cut(&words, 0, at(4.6)), at(2.6));
        // Heard to 2.2 s: only the 0.5-1.0 pause is far enough behind... but the limit
        // (0.2 s) is before it ends, so nothing is committed yet.
        assert_eq!(choose_cut(&words, 0, at(2.2)), 0);
    }

    #[test]
    fn a_long_buffer_without_pauses_commits_at_a_word_end() {
        let words: Vec<Word> = (0..40)
            .map(|i| word(f64::from(i) * 0.5, f64::from(i) * 0.5 + 0.45))
            .collect();
        let cut = choose_cut(&words, 0, at(20.0));
        assert!(cut <= at(18.0) && cut > at(17.0), "{cut}");
        assert!(words.iter().any(|w| w.span.end == cut));
    }

    #[test]
    fn zero_length_words_stacked_at_the_end_are_dropped() {
        let words = vec![
            word(2.9, 3.1),
            word(3.12, 3.12),
            word(3.12, 3.125),
            word(1.0, 1.0),
        ];
        let kept = drop_trailing_echo(words, at(3.16));
        assert_eq!(kept.len(), 2, "{kept:?}");
        assert_eq!(kept[0].span.start, at(2.9));
        assert_eq!(
            kept[1].span.start,
            at(1.0),
            "short words elsewhere are kept"
        );
    }

    #[test]
    fn wordless_audio_is_dropped_except_the_last_second() {
        assert_eq!(choose_cut(&[], 0, at(1.5)), 0);
        assert_eq!(choose_cut(&[], 0, at(3.0)), at(2.0));
    }

    #[test]
    fn late_and_overlapping_audio_is_placed_on_the_call_clock() {
        let mut s = StreamAsr::new();
        s.push(800, &[0.1; 800]);
        assert_eq!(s.buf_start, 1600);
        assert_eq!(s.next_in, 1600);
        // A repeat of audio already taken is ignored; a gap is filled with silence.
        s.push(1000, &[0.1; 200]);
        assert_eq!(s.next_in, 1600);
        s.push(2000, &[0.1; 160]);
        assert_eq!(s.next_in, 2160);
    }
}

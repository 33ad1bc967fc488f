//! The release step of a live call: what to bleep in the stretch about to leave the
//! look-ahead, the bleeping itself, the write into the encrypted recording, latency
//! bookkeeping and the feed lines for the words released.
//!
//! Release rule, per stream: bleep what detection finds in the latest words, digit runs
//! still growing at the edge of what was heard, keyed digits (events and tones, and a
//! tone still sounding), stretches Whisper could not transcribe, and all audio
//! recognition has not yet heard (fail closed). What was
//! bleeped is recorded as it is released; released audio is never revisited. Must not
//! hold audio beyond the call's pending buffers or write anything but ciphertext.

use std::time::Instant;

use super::call::LiveCall;
use super::feed::FeedLine;
use super::finish;
use super::{LiveConfig, UP};
use crate::audio::refine_span;
use crate::detect::{keypad_words, merge_presses, ChannelWord, Detections, KeyPress, Source};
use crate::live::LIVE_RATE;
use crate::pipeline::transcript::seconds;
use crate::pipeline::Engine;
use crate::redact::{pad_and_merge, Bleeper};
use crate::time::{from_seconds, to_seconds, Span, ASR_RATE};

/// Words this far before the release point no longer change what is bleeped.
const DETECT_HISTORY: std::time::Duration = std::time::Duration::from_secs(60);
/// How often (in released audio) the transcript checkpoint is rewritten.
const CHECKPOINT: std::time::Duration = std::time::Duration::from_secs(10);

/// The call's key presses on the 16 kHz clock: RFC 4733 events, and the tones found in
/// the audio that no event already reported.
pub(super) fn key_presses(call: &LiveCall) -> Vec<KeyPress> {
    let presses = |pick: fn(&super::call::StreamState) -> &Vec<(char, Span)>| {
        call.streams
            .iter()
            .enumerate()
            .flat_map(|(c, st)| {
                pick(st).iter().map(move |&(key, span)| KeyPress {
                    channel: c as u16,
                    key,
                    span: Span::new(span.start * UP, span.end * UP),
                })
            })
            .collect::<Vec<_>>()
    };
    merge_presses(&presses(|st| &st.digits), &presses(|st| &st.tones))
}

/// Spoken words of the call (committed, then the tentative tail) from `since` on, plus
/// its keyed digits.
pub(super) fn call_words(call: &LiveCall, since: u64, tentative: bool) -> Vec<ChannelWord> {
    let mut words: Vec<ChannelWord> = Vec::new();
    for (c, st) in call.streams.iter().enumerate() {
        let tail = if tentative { &st.tentative[..] } else { &[] };
        for w in st.committed.iter().chain(tail) {
            if w.span.end >= since {
                words.push(ChannelWord {
                    channel: c as u16,
                    word: w.clone(),
                    source: Source::Speech,
                });
            }
        }
    }
    words.extend(keypad_words(&key_presses(call)));
    words
}

/// Releases the call's audio up to its look-ahead point (or all of it when `flush`),
/// bleeped, into the recording, and sends the newly released words to the feed.
pub(super) fn release(
    engine: &Engine,
    cfg: &LiveConfig,
    call: &mut LiveCall,
    now: Instant,
    flush: bool,
    feed: &mut (dyn FnMut(FeedLine) + Send),
) {
    let clock = call.streams.iter().map(|s| s.received).max().unwrap_or(0);
    let lookahead = from_seconds(cfg.lookahead.as_secs_f64(), LIVE_RATE);
    let target = if flush {
        clock
    } else {
        clock.saturating_sub(lookahead)
    };
    if target <= call.released {
        return;
    }
    // Detection must cover the words about to be sent to the feed, which lag far behind
    // the release point when recognition has fallen behind.
    let oldest_unsent = call
        .streams
        .iter()
        .filter_map(|st| st.committed.get(st.emitted))
        .map(|w| w.span.start)
        .min()
        .unwrap_or(u64::MAX);
    let since = (call.released * UP)
        .min(oldest_unsent)
        .saturating_sub(from_seconds(DETECT_HISTORY.as_secs_f64(), ASR_RATE));
    let words = call_words(call, since, true);
    let detections = engine.detector.detect(&words);
    let open_gap = from_seconds(cfg.open_gap.as_secs_f64(), ASR_RATE);
    // Digit runs still growing at the edge of what was heard: not judged yet, so their
    // audio is bleeped and their words masked until they are.
    let open_runs: Vec<(u16, Span)> = if flush {
        Vec::new()
    } else {
        engine
            .detector
            .digit_runs(&words)
            .into_iter()
            .filter(|r| r.digits >= cfg.open_min_digits)
            .filter(|r| {
                let heard = call
                    .streams
                    .get(usize::from(r.channel))
                    .map_or(0, |st| st.heard_to);
                r.span.end + open_gap >= heard
            })
            .map(|r| (r.channel, r.span))
            .chain(open_answers(engine, call, &words))
            .collect()
    };
    let bleeper = Bleeper::new(&engine.config.bleep, LIVE_RATE);
    let edge = from_seconds(cfg.edge_margin.as_secs_f64(), ASR_RATE);
    let max_extend = from_seconds(engine.config.refine_max_extend_s, LIVE_RATE);
    let frames = (target - call.released) as usize;
    let mut interleaved = vec![0.0f32; frames * call.channels];
    for (c, st) in call.streams.iter_mut().enumerate() {
        let spans: Vec<Span> = detections
            .items
            .iter()
            .filter(|d| usize::from(d.channel) == c)
            .map(|d| d.span)
            .chain(
                open_runs
                    .iter()
                    .filter(|(ch, _)| usize::from(*ch) == c)
                    .map(|(_, span)| *span),
            )
            .chain(st.unsure.iter().copied())
            .map(|s| Span::new(s.start / UP, s.end.div_ceil(UP)))
            .chain(st.digits.iter().chain(&st.tones).map(|(_, s)| *s))
            .chain(st.tones_under_sound.iter().copied())
            .chain(
                st.tone_sounding_since()
                    .filter(|&since| since < target)
                    .map(|since| Span::new(since, target)),
            )
            .collect();
        // Widen spans to the speech burst around them, as far as unreleased audio goes
        // (word times drift; the batch path does the same over the whole file).
        let spans: Vec<Span> = spans
            .into_iter()
            .map(|s| refine_span(&st.pending, call.released, LIVE_RATE, s, max_extend).union(&s))
            .collect();
        let mut spans = spans;
        let mut channel: Vec<f32> = st.pending.drain(..frames.min(st.pending.len())).collect();
        channel.resize(frames, 0.0);
        let trusted = if st.final_heard {
            u64::MAX
        } else {
            st.heard_to.saturating_sub(edge) / UP
        };
        if !flush && !st.final_heard {
            let lag = st.received.saturating_sub(st.heard_to / UP);
            crate::metrics::observe_recognition_lag(to_seconds(lag, LIVE_RATE));
        }
        if trusted < target {
            // Recognition is behind: release nothing it has not heard (fail closed). A
            // voice-activity guess would leave quiet syllables audible.
            let unheard = Span::new(call.released.max(trusted), target);
            st.unchecked += unheard.len();
            spans.push(unheard);
        }
        let now_spans = pad_and_merge(&spans, bleeper.padding_samples(), None);
        bleeper.apply(&mut channel, call.released, &now_spans);
        for (i, s) in channel.iter().enumerate() {
            interleaved[i * call.channels + c] = *s;
        }
        let released_part = now_spans
            .iter()
            .map(|s| (s.start.max(call.released), s.end.min(target)))
            .filter(|(lo, hi)| lo < hi)
            .map(|(lo, hi)| Span::new(lo, hi));
        let mut applied = std::mem::take(&mut st.applied);
        applied.extend(released_part);
        st.applied = pad_and_merge(&applied, 0, None);
    }
    if let Some(writer) = call.writer.as_mut() {
        if let Err(e) = writer.write_interleaved(&interleaved) {
            tracing::error!(call = %call.id, error = %e, "the call's recording failed");
            call.error = Some(e.to_string());
            call.writer = None;
        }
    }
    if !flush {
        record_latencies(call, &detections, target, now);
    }
    let checkpoint_every = from_seconds(CHECKPOINT.as_secs_f64(), LIVE_RATE);
    if !flush && target / checkpoint_every > call.released / checkpoint_every {
        finish::checkpoint(engine, cfg, call);
    }
    call.released = target;
    while call.arrivals.front().is_some_and(|&(end, _)| end < target) {
        call.arrivals.pop_front();
    }
    emit_lines(call, &detections, &open_runs, target, flush, feed);
}

/// Answers to a request still open at the edge of what was heard (the speaker may go on
/// reading the number): from their first digit to that edge, bleeped provisionally.
fn open_answers(
    engine: &Engine,
    call: &LiveCall,
    words: &[ChannelWord],
) -> impl Iterator<Item = (u16, Span)> {
    let gap = engine.detector.answer_gap();
    let heard_to = |c: u16| call.streams.get(usize::from(c)).map_or(0, |st| st.heard_to);
    engine
        .detector
        .open_answers(words)
        .into_iter()
        .filter(move |a| a.span.end + gap >= heard_to(a.channel))
        .map(move |a| {
            (
                a.channel,
                Span::new(a.span.start, a.span.end.max(heard_to(a.channel))),
            )
        })
        .collect::<Vec<_>>()
        .into_iter()
}

/// For items whose audio ends in the stretch being released: how long since that end
/// arrived.
fn record_latencies(call: &mut LiveCall, detections: &Detections, target: u64, now: Instant) {
    for item in &detections.items {
        let end = item.span.end / UP;
        if end < call.released || end >= target {
            continue;
        }
        if let Some(&(_, arrived)) = call.arrivals.iter().find(|&&(e, _)| e >= end) {
            let latency = now.duration_since(arrived).as_secs_f64();
            crate::metrics::observe_release_latency(latency);
            call.latencies.push(latency);
        }
    }
}

fn emit_lines(
    call: &mut LiveCall,
    detections: &Detections,
    open_runs: &[(u16, Span)],
    target: u64,
    flush: bool,
    feed: &mut (dyn FnMut(FeedLine) + Send),
) {
    for c in 0..call.streams.len() {
        let st = &call.streams[c];
        // Whole phrases only, once all their audio is out.
        let upto = st
            .phrase_ends
            .iter()
            .copied()
            .filter(|&end| end > st.emitted)
            .take_while(|&end| flush || st.committed[end - 1].span.end <= target * UP)
            .last();
        let upto = if flush {
            st.committed.len()
        } else {
            upto.unwrap_or(st.emitted)
        };
        let ready = upto - st.emitted;
        if ready == 0 {
            continue;
        }
        let words = &st.committed[st.emitted..st.emitted + ready];
        let open: Vec<Span> = open_runs
            .iter()
            .filter(|(ch, _)| usize::from(*ch) == c)
            .map(|(_, span)| *span)
            .collect();
        let masked = finish::mask_words(words, c as u16, &detections.items, &open);
        let st = &mut call.streams[c];
        st.emitted += ready;
        st.sent.extend(masked.iter().cloned());
        if masked.is_empty() {
            continue;
        }
        feed(FeedLine::Line {
            call: call.id.clone(),
            channel: c as u16,
            speaker: finish::speaker(call, c),
            start: seconds(masked[0].1.start),
            end: seconds(masked[masked.len() - 1].1.end),
            text: finish::joined(&masked),
        });
    }
}

//! The live calls: each call's unreleased audio, latest words and keyed digits (RFC 4733
//! events, and tones found in each stream's audio), and the release of its redacted
//! audio into the encrypted recording behind the look-ahead.
//!
//! Release rule, per step and stream: bleep what detection finds in the latest words, digit
//! runs still growing at the edge of what was heard, keyed digits, stretches Whisper could
//! not transcribe, and any speech not yet heard by recognition (fail closed). What was
//! bleeped is recorded as it is released; released audio is never revisited.
//! Must not transcribe (the recognizer thread does) or write plaintext anywhere.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crossbeam_channel::{never, select, tick, Receiver, Sender, TrySendError};
use serde::Serialize;

use super::feed::FeedLine;
use super::finish;
use super::recognizer::{AsrIn, Hearing};
use super::release;
use super::{LiveConfig, LiveSummary, UP};
use crate::asr::Word;
use crate::audio::dtmf::{Heard, Tone, ToneDetector};

use crate::live::{CallEvent, EndReason, MediaStats, Participant, StreamInfo, LIVE_RATE};
use crate::pipeline::Engine;
use crate::store::RecordingWriter;
use crate::time::{from_seconds, to_seconds, Span};

/// Plaintext bytes per recording chunk: one second of one 8 kHz 16-bit stream. A chunk
/// reaches the disk (encrypted) as soon as it fills, so a crash loses at most this much
/// released audio (see `recover`).
const LIVE_CHUNK: u32 = 16 * 1024;
/// How often calls release audio when nothing else happens.
const TICK: Duration = Duration::from_millis(200);

/// Per-call measurements, reported when the call ends.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CallStats {
    pub duration_s: f64,
    /// Arrival of the end of a redacted item's audio → release of its bleeped audio.
    pub latency_p50_s: Option<f64>,
    pub latency_p95_s: Option<f64>,
    /// Audio bleeped because recognition had not heard it by its release.
    pub unchecked_s: f64,
    /// Items found only after part of their audio was released unbleeped.
    pub late_items: usize,
    /// SRTP packets dropped for failing authentication, and as replays: never played.
    pub srtp_unauthentic: u64,
    pub srtp_replayed: u64,
}

pub(super) struct StreamState {
    /// Call-clock position of this stream's sample 0 (streams start at different times).
    pub base: Option<u64>,
    /// End of the audio received, on the call clock.
    pub received: u64,
    /// Audio from the call's release point on (`pending[0]` is at `LiveCall::released`).
    pub(super) pending: Vec<f32>,
    pub committed: Vec<Word>,
    pub(super) tentative: Vec<Word>,
    /// 16 kHz call clock: recognition has heard everything before this.
    pub(super) heard_to: u64,
    pub(super) final_heard: bool,
    /// 16 kHz: stretches recognition could not vouch for.
    pub unsure: Vec<Span>,
    /// Keyed digits from RFC 4733 events, on the call clock.
    pub digits: Vec<(char, Span)>,
    /// Keypad tones found in the stream's audio, on the call clock.
    pub tones: Vec<(char, Span)>,
    /// Keypad tones heard under other sound: removed, not read.
    pub tones_under_sound: Vec<Span>,
    /// The in-band tone detector, and the call-clock position it expects next.
    pub(super) keypad: Option<(ToneDetector, u64)>,
    /// What was actually bleeped, on the call clock, merged.
    pub applied: Vec<Span>,
    /// Committed words already sent to the feed.
    pub(super) emitted: usize,
    /// The masked words sent to the feed so far (what a crash checkpoint may show).
    pub(super) sent: Vec<(String, Span)>,
    /// Where each hearing's committed words end: the feed sends a phrase at a time.
    pub(super) phrase_ends: Vec<usize>,
    pub(super) unchecked: u64,
}

impl StreamState {
    /// The stream's offset on the call clock, fixed by its first packet or digit: streams
    /// are aligned by when their media began, in whole 20 ms packets.
    fn base_for(&mut self, call_started: Instant, stream_pos: u64) -> u64 {
        *self.base.get_or_insert_with(|| {
            let since = from_seconds(call_started.elapsed().as_secs_f64(), LIVE_RATE);
            (since.saturating_sub(stream_pos) / 160) * 160
        })
    }

    /// Looks for keypad tones in the stream's audio at call-clock `pos`. Audio comes
    /// contiguous per stream; should it ever jump, the detector starts over there.
    fn hear_keypad(&mut self, pos: u64, samples: &[f32]) {
        if self.keypad.as_ref().is_some_and(|(_, next)| *next != pos) {
            self.finish_keypad();
        }
        let (detector, next) = self
            .keypad
            .get_or_insert_with(|| (ToneDetector::new(LIVE_RATE, pos), pos));
        let found = detector.push(samples);
        *next = pos + samples.len() as u64;
        self.keep_tones(found);
    }

    fn keep_tones(&mut self, tones: Vec<Tone>) {
        for t in tones {
            match t.heard {
                Heard::Clearly => self.tones.push((t.key, t.span)),
                Heard::UnderSound => self.tones_under_sound.push(t.span),
            }
        }
    }

    /// Where a keypad tone still sounding began, if one is: its audio must not be
    /// released before the tone is known.
    pub(super) fn tone_sounding_since(&self) -> Option<u64> {
        self.keypad.as_ref().and_then(|(d, _)| d.pending_since())
    }

    /// Reports the tone still sounding at the stream's end, if long enough.
    pub(super) fn finish_keypad(&mut self) {
        if let Some((mut detector, _)) = self.keypad.take() {
            let found = detector.finish();
            self.keep_tones(found);
        }
    }

    fn new() -> Self {
        StreamState {
            base: None,
            received: 0,
            pending: Vec::new(),
            committed: Vec::new(),
            tentative: Vec::new(),
            heard_to: 0,
            final_heard: false,
            unsure: Vec::new(),
            digits: Vec::new(),
            tones: Vec::new(),
            tones_under_sound: Vec::new(),
            keypad: None,
            applied: Vec::new(),
            emitted: 0,
            sent: Vec::new(),
            phrase_ends: Vec::new(),
            unchecked: 0,
        }
    }
}

pub(super) struct LiveCall {
    pub id: String,
    pub(super) seq: u64,
    pub(super) started: Instant,
    pub streams: Vec<StreamState>,
    pub infos: Vec<StreamInfo>,
    pub participants: Vec<Participant>,
    /// Channels of the recording: the streams offered when the call started.
    pub channels: usize,
    pub(super) writer: Option<RecordingWriter>,
    pub error: Option<String>,
    /// Everything before this (call clock, all channels) is in the recording.
    pub released: u64,
    /// (call-clock end of a received packet, when it arrived), oldest first.
    pub(super) arrivals: VecDeque<(u64, Instant)>,
    pub(super) latencies: Vec<f64>,
    pub(super) ending: Option<EndReason>,
    pub(super) media: MediaStats,
    pub notes: Vec<String>,
}

/// Every call of a run, driven by one thread.
pub(super) struct Calls<'a> {
    engine: &'a Engine,
    cfg: &'a LiveConfig,
    asr: Option<Sender<AsrIn>>,
    calls: HashMap<String, LiveCall>,
    by_seq: HashMap<u64, String>,
    next_seq: u64,
    summary: LiveSummary,
}

impl<'a> Calls<'a> {
    pub fn new(engine: &'a Engine, cfg: &'a LiveConfig, asr: Sender<AsrIn>) -> Self {
        Calls {
            engine,
            cfg,
            asr: Some(asr),
            calls: HashMap::new(),
            by_seq: HashMap::new(),
            next_seq: 1,
            summary: LiveSummary::default(),
        }
    }

    pub fn run(
        mut self,
        events: Receiver<CallEvent>,
        heard: Receiver<Hearing>,
        feed: &mut (dyn FnMut(FeedLine) + Send),
    ) -> LiveSummary {
        let ticker = tick(TICK);
        let mut events = events;
        let mut events_open = true;
        loop {
            if !events_open && self.calls.is_empty() {
                // Nothing more can come: let the recognizer finish, which closes `heard`.
                self.asr = None;
            }
            select! {
                recv(events) -> ev => match ev {
                    Ok(ev) => self.on_event(ev, feed),
                    Err(_) => {
                        events = never();
                        events_open = false;
                        let open: Vec<String> = self.calls.keys().cloned().collect();
                        for id in open {
                            self.end(&id, EndReason::Shutdown, MediaStats::default());
                        }
                    }
                },
                recv(heard) -> h => match h {
                    Ok(h) => self.on_hearing(h, feed),
                    Err(_) => break,
                },
                recv(ticker) -> _ => {
                    let now = Instant::now();
                    for call in self.calls.values_mut() {
                        if call.ending.is_none() {
                            release::release(self.engine, self.cfg, call, now, false, feed);
                        }
                    }
                },
            }
        }
        self.summary
    }

    fn on_event(&mut self, ev: CallEvent, feed: &mut (dyn FnMut(FeedLine) + Send)) {
        match ev {
            CallEvent::Started {
                call_id,
                streams,
                participants,
            } => {
                let call = self.start(call_id.clone(), streams, participants);
                feed(FeedLine::CallStarted {
                    call: call_id.clone(),
                    streams: call.channels,
                });
                self.calls.insert(call_id, call);
            }
            CallEvent::Audio {
                call_id,
                stream,
                start,
                pcm,
            } => {
                let Some(call) = self.calls.get_mut(&call_id) else {
                    return;
                };
                if stream >= call.channels {
                    note_once(
                        &mut call.notes,
                        "a stream added after the call started was not recorded",
                    );
                    return;
                }
                let samples: Vec<f32> = pcm.iter().map(|&s| f32::from(s) / 32768.0).collect();
                let Some(pos) = place(call, stream, start, &samples) else {
                    return;
                };
                let msg = AsrIn::Audio {
                    key: (call.seq, stream),
                    start: pos,
                    pcm: samples,
                };
                let len = (pcm.len() as u64) * UP;
                let dropped = match &self.asr {
                    Some(tx) => matches!(
                        tx.try_send(msg),
                        Err(TrySendError::Full(_) | TrySendError::Disconnected(_))
                    ),
                    None => true,
                };
                if dropped {
                    // Recognition cannot take it: it will never be vouched for.
                    let st = &mut call.streams[stream];
                    st.unsure.push(Span::new(pos * UP, pos * UP + len));
                    note_once(
                        &mut call.notes,
                        "recognition input overflowed; that audio was bleeped whole",
                    );
                }
            }
            CallEvent::Digit {
                call_id,
                stream,
                digit,
                span,
            } => {
                if let Some(call) = self.calls.get_mut(&call_id) {
                    let started = call.started;
                    if let Some(st) = call.streams.get_mut(stream) {
                        let base = st.base_for(started, span.start);
                        st.digits
                            .push((digit, Span::new(base + span.start, base + span.end)));
                    }
                }
            }
            CallEvent::Metadata {
                call_id,
                participants,
                streams,
            } => {
                if let Some(call) = self.calls.get_mut(&call_id) {
                    call.participants = participants;
                    for (info, new) in call.infos.iter_mut().zip(streams) {
                        *info = new;
                    }
                }
            }
            CallEvent::Ended {
                call_id,
                reason,
                media,
            } => self.end(&call_id, reason, media),
        }
    }

    fn start(
        &mut self,
        id: String,
        infos: Vec<StreamInfo>,
        participants: Vec<Participant>,
    ) -> LiveCall {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.by_seq.insert(seq, id.clone());
        let channels = infos.len().max(1);
        let (recording, _) = finish::output_paths(&self.cfg.out_dir, &id);
        let (writer, error) = match RecordingWriter::create_with_chunk(
            &recording,
            self.engine.key(),
            LIVE_RATE,
            channels as u16,
            16,
            LIVE_CHUNK,
        ) {
            Ok(w) => (Some(w), None),
            Err(e) => {
                tracing::error!(call = %id, error = %e, "cannot start the call's recording");
                (None, Some(e.to_string()))
            }
        };
        tracing::info!(call = %id, streams = channels, "live call started");
        LiveCall {
            id,
            seq,
            started: Instant::now(),
            streams: (0..channels).map(|_| StreamState::new()).collect(),
            infos,
            participants,
            channels,
            writer,
            error,
            released: 0,
            arrivals: VecDeque::new(),
            latencies: Vec::new(),
            ending: None,
            media: MediaStats::default(),
            notes: Vec::new(),
        }
    }

    fn end(&mut self, id: &str, reason: EndReason, media: MediaStats) {
        let Some(call) = self.calls.get_mut(id) else {
            return;
        };
        if call.ending.is_some() {
            return;
        }
        call.ending = Some(reason);
        for st in &mut call.streams {
            st.finish_keypad();
        }
        call.media = media;
        for stream in 0..call.channels {
            let end = AsrIn::End {
                key: (call.seq, stream),
            };
            let sent = self.asr.as_ref().is_some_and(|tx| tx.send(end).is_ok());
            if !sent {
                call.streams[stream].final_heard = true;
            }
        }
    }

    fn on_hearing(&mut self, h: Hearing, feed: &mut (dyn FnMut(FeedLine) + Send)) {
        let Some(id) = self.by_seq.get(&h.key.0).cloned() else {
            return;
        };
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(st) = call.streams.get_mut(h.key.1) else {
            return;
        };
        if !h.committed.is_empty() {
            st.committed.extend(h.committed);
            st.phrase_ends.push(st.committed.len());
        }
        st.tentative = h.tentative;
        st.heard_to = st.heard_to.max(h.heard_to);
        st.unsure.extend(h.unsure);
        st.final_heard |= h.last;
        if call.ending.is_some() && call.streams.iter().all(|s| s.final_heard) {
            let mut call = self.calls.remove(&id).expect("present");
            self.by_seq.remove(&call.seq);
            release::release(self.engine, self.cfg, &mut call, Instant::now(), true, feed);
            let ok = finish::finalise(self.engine, self.cfg, call, feed);
            self.summary.calls += 1;
            if !ok {
                self.summary.failed += 1;
            }
        }
    }
}

fn note_once(notes: &mut Vec<String>, note: &str) {
    if !notes.iter().any(|n| n == note) {
        notes.push(note.to_string());
    }
}

/// Puts a stream's packet on the call clock and into the unreleased audio. Returns its
/// call-clock position, or `None` when all of it was already released.
fn place(call: &mut LiveCall, stream: usize, start: u64, samples: &[f32]) -> Option<u64> {
    let started = call.started;
    let st = &mut call.streams[stream];
    let base = st.base_for(started, start);
    let pos = base + start;
    let end = pos + samples.len() as u64;
    st.hear_keypad(pos, samples);
    st.received = st.received.max(end);
    call.arrivals.push_back((end, Instant::now()));
    if end <= call.released {
        return None;
    }
    let from = pos.max(call.released);
    let offset = (from - call.released) as usize;
    let part = &samples[(from - pos) as usize..];
    if st.pending.len() < offset + part.len() {
        st.pending.resize(offset + part.len(), 0.0);
    }
    st.pending[offset..offset + part.len()].copy_from_slice(part);
    Some(pos)
}

impl LiveCall {
    pub(super) fn stats(&self) -> CallStats {
        let mut l = self.latencies.clone();
        l.sort_by(f64::total_cmp);
        let pct = |p: f64| -> Option<f64> {
            (!l.is_empty()).then(|| {
                let i = ((l.len() - 1) as f64 * p).round() as usize;
                (l[i] * 1000.0).round() / 1000.0
            })
        };
        CallStats {
            duration_s: to_seconds(self.released, LIVE_RATE),
            latency_p50_s: pct(0.5),
            latency_p95_s: pct(0.95),
            unchecked_s: to_seconds(self.streams.iter().map(|s| s.unchecked).sum(), LIVE_RATE),
            late_items: 0,
            srtp_unauthentic: self.media.srtp_unauthentic,
            srtp_replayed: self.media.srtp_replayed,
        }
    }

    pub(super) fn take_writer(&mut self) -> Option<RecordingWriter> {
        self.writer.take()
    }

    pub(super) fn end_reason(&self) -> EndReason {
        self.ending.unwrap_or(EndReason::Shutdown)
    }
}

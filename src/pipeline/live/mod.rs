//! Live redaction: calls from the SIP server (or the microphone) become encrypted, bleeped
//! recordings and masked transcripts while they are still going on.
//!
//! Three parts, one direction:
//! * the network ([`crate::live`], tokio) emits [`CallEvent`]s;
//! * `recognizer` (one thread, the only user of the Whisper model) re-hears every stream
//!   as it grows and reports committed and tentative words;
//! * `call` (one thread for all calls) keeps each call's not-yet-released audio, decides
//!   what to bleep from the latest words, and releases the redacted audio into the
//!   encrypted recording a fixed look-ahead behind the newest audio. Audio recognition
//!   has not heard by then is bleeped whole (fail closed), so the delay stays bounded
//!   whatever the load. At the end of a call the recording and the
//!   transcript are finalised atomically.
//!
//! Masked transcript lines are reported through a [`FeedLine`] callback as their audio is
//! released. This module wires stages; it must not parse SIP, transcribe, or detect itself.

mod call;
mod feed;
mod finish;
mod recognizer;
mod recover;
mod release;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{bounded, Receiver};

pub use call::CallStats;
pub use feed::FeedLine;
pub use recover::{recover, Recovered};

use super::Engine;
use crate::live::{CallEvent, LiveError, Server, ServerConfig};

/// 16 kHz recognition samples per 8 kHz live sample.
const UP: u64 = (crate::time::ASR_RATE / crate::live::LIVE_RATE) as u64;

/// How live calls are redacted.
#[derive(Debug, Clone)]
pub struct LiveConfig {
    /// Where each call's `ID.wav.enc` and `ID.transcript.json` go.
    pub out_dir: PathBuf,
    /// Audio is released (recorded) this far behind the newest audio of its call. Longer
    /// means fewer provisional bleeps of innocent numbers; it must exceed the bleep padding.
    pub lookahead: Duration,
    /// The least new audio of a stream worth re-hearing it.
    pub hop: Duration,
    /// A digit run whose last digit is this close to the edge of what has been heard may
    /// still grow into a card number: while so, its audio is bleeped and its words masked.
    pub open_gap: Duration,
    /// ... when it already holds this many digits. One: a run whose start is being
    /// released while it is still growing has had only the look-ahead minus the
    /// recognition lag to be heard, under load a single group or less (measured: with
    /// ten calls on 2 cores a threshold of 4 let the first syllable of a card out).
    /// Short runs at the edge cost little otherwise: only a long or lagging run is still
    /// growing when its audio is released.
    pub open_min_digits: usize,
    /// Words this close to the newest heard audio may be cut off: not trusted yet.
    pub edge_margin: Duration,
}

impl LiveConfig {
    pub fn new(out_dir: PathBuf) -> Self {
        LiveConfig {
            out_dir,
            lookahead: Duration::from_secs(5),
            hop: Duration::from_millis(1000),
            open_gap: Duration::from_millis(1500),
            open_min_digits: 1,
            edge_margin: Duration::from_millis(500),
        }
    }
}

/// Redacts the calls `events` describes until the channel closes and every call is
/// finalised. Returns how many calls were finalised and how many failed.
pub fn run(
    engine: &Engine,
    cfg: &LiveConfig,
    events: Receiver<CallEvent>,
    feed: &mut (dyn FnMut(FeedLine) + Send),
) -> LiveSummary {
    let (asr_tx, asr_rx) = bounded(4096);
    let (heard_tx, heard_rx) = bounded(256);
    std::thread::scope(|scope| {
        let hop = cfg.hop;
        std::thread::Builder::new()
            .name("live-asr".into())
            .spawn_scoped(scope, move || {
                recognizer::run(&engine.transcriber, hop, asr_rx, heard_tx)
            })
            .expect("spawn the recognition thread");
        call::Calls::new(engine, cfg, asr_tx).run(events, heard_rx, feed)
    })
}

/// What a live run did, for the caller's last words.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveSummary {
    pub calls: usize,
    pub failed: usize,
}

/// Runs the SIP server and live redaction together until `shutdown` completes (then open
/// calls end and are finalised). `on_bound` learns the SIP address once it is bound.
pub fn serve(
    engine: Arc<Engine>,
    server: ServerConfig,
    cfg: LiveConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    on_bound: impl FnOnce(std::net::SocketAddr),
    feed: &mut (dyn FnMut(FeedLine) + Send),
) -> Result<LiveSummary, LiveError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|source| LiveError::Socket {
            transport: "runtime",
            source,
        })?;
    let bound = runtime.block_on(Server::bind(server))?;
    on_bound(bound.local_addr());
    let (tx, mut rx) = tokio::sync::mpsc::channel::<CallEvent>(4096);
    let (bridge_tx, bridge_rx) = bounded::<CallEvent>(4096);
    let server_task = runtime.spawn(bound.run(tx, shutdown));
    // Backpressure, not loss: the redaction thread never waits on Whisper, so a full
    // bridge is a short stall that the RTP sockets' buffers absorb.
    let bridge = std::thread::spawn(move || {
        while let Some(ev) = rx.blocking_recv() {
            if bridge_tx.send(ev).is_err() {
                break;
            }
        }
    });
    let (summary, served) = std::thread::scope(|scope| {
        let redactor = scope.spawn(|| run(&engine, &cfg, bridge_rx, feed));
        let served = runtime.block_on(server_task);
        // Every call has ended and said so; dropping the runtime's remaining tasks (socket
        // loops, retransmissions) closes the event channel, which lets redaction finish.
        runtime.shutdown_timeout(std::time::Duration::from_secs(5));
        let summary = redactor.join().expect("the redaction thread panicked");
        (summary, served)
    });
    let _ = bridge.join();
    let served = served.map_err(|e| LiveError::Socket {
        transport: "server task",
        source: std::io::Error::other(e.to_string()),
    })?;
    served.map(|()| summary)
}

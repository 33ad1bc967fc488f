//! The media side of one call: its RTP reader tasks, SRTP receivers (authenticate and
//! decrypt before anything else looks at a packet), per-stream decoders, inactivity
//! timer, and the [`CallEvent`]s it emits, in order.
//!
//! Must not parse or answer SIP; it learns about the dialog only through `Ctrl`.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::rtp::RtpPacket;
use super::sdp::Selected;
use super::server::Shared;
use super::srtp::{self, MasterKey, UnprotectError};
use super::stream::{Output, StreamDecoder};
use super::{CallEvent, EndReason, MediaStats, Participant, StreamInfo};

/// What the SIP side tells a call's media task.
pub(super) enum Ctrl {
    End(EndReason),
    Update {
        streams: Vec<StreamInfo>,
        selected: Vec<Selected>,
        /// The offerer's SRTP key per stream (`None`: plain RTP).
        keys: Vec<Option<MasterKey>>,
        new_sockets: Vec<(usize, UdpSocket)>,
        participants: Vec<Participant>,
    },
}

/// Media side of one call: owns its RTP sockets (through reader tasks) and decoders.
pub(super) struct CallTask {
    shared: Arc<Shared>,
    id: String,
    sip_call_id: String,
    decoders: Vec<StreamDecoder>,
    /// Per stream, for SRTP streams: the receiver that authenticates and decrypts.
    srtp: Vec<Option<srtp::Receiver>>,
    media: MediaStats,
    readers: Vec<JoinHandle<()>>,
    pkt_tx: mpsc::Sender<(usize, Vec<u8>)>,
    pkt_rx: mpsc::Receiver<(usize, Vec<u8>)>,
}

impl CallTask {
    pub(super) fn new(
        shared: Arc<Shared>,
        id: String,
        sip_call_id: String,
        sels: Vec<Selected>,
        keys: Vec<Option<MasterKey>>,
        sockets: Vec<UdpSocket>,
    ) -> Self {
        let (pkt_tx, pkt_rx) = mpsc::channel(512);
        let mut t = CallTask {
            shared,
            id,
            sip_call_id,
            decoders: Vec::new(),
            srtp: Vec::new(),
            media: MediaStats::default(),
            readers: Vec::new(),
            pkt_tx,
            pkt_rx,
        };
        for (i, ((sel, key), sock)) in sels.into_iter().zip(keys).zip(sockets).enumerate() {
            t.add_stream(i, sel, key, sock);
        }
        t
    }

    fn add_stream(&mut self, index: usize, sel: Selected, key: Option<MasterKey>, sock: UdpSocket) {
        if index != self.decoders.len() {
            return;
        }
        self.decoders
            .push(StreamDecoder::new(sel, self.shared.cfg.jitter));
        self.srtp.push(key.map(srtp::Receiver::new));
        let tx = self.pkt_tx.clone();
        self.readers.push(tokio::spawn(async move {
            let mut buf = vec![0u8; 2048];
            loop {
                match sock.recv_from(&mut buf).await {
                    Ok((n, _)) => {
                        if tx.send((index, buf[..n].to_vec())).await.is_err() {
                            return;
                        }
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
                }
            }
        }));
    }

    // `&mut`: SRTP state is `Send` but not `Sync`, so the task may not share `&self` across awaits.
    async fn emit(&mut self, stream: usize, outs: Vec<Output>) {
        for o in outs {
            let ev = match o {
                Output::Audio { start, pcm } => CallEvent::Audio {
                    call_id: self.id.clone(),
                    stream,
                    start,
                    pcm,
                },
                Output::Digit { digit, span } => CallEvent::Digit {
                    call_id: self.id.clone(),
                    stream,
                    digit,
                    span,
                },
            };
            let _ = self.shared.events.send(ev).await;
        }
    }

    /// The plain RTP of a received packet: as it came on a plain stream, authenticated
    /// and decrypted on an SRTP stream; `None` (counted) when it must be dropped.
    fn unprotect(&mut self, idx: usize, bytes: Vec<u8>) -> Option<Vec<u8>> {
        let Some(Some(rx)) = self.srtp.get_mut(idx) else {
            return Some(bytes);
        };
        match rx.unprotect(&bytes) {
            Ok(plain) => Some(plain),
            Err(e) => {
                let counter = match e {
                    UnprotectError::Unauthentic => &mut self.media.srtp_unauthentic,
                    UnprotectError::Replayed => &mut self.media.srtp_replayed,
                    UnprotectError::Rtcp | UnprotectError::Malformed => return None,
                };
                *counter += 1;
                if *counter == 1 {
                    tracing::warn!(call = %self.id, stream = idx, why = %e, "dropping SRTP packets");
                }
                None
            }
        }
    }

    pub(super) async fn run(
        mut self,
        streams: Vec<StreamInfo>,
        participants: Vec<Participant>,
        mut ctrl: mpsc::UnboundedReceiver<Ctrl>,
    ) {
        let _ = self
            .shared
            .events
            .send(CallEvent::Started {
                call_id: self.id.clone(),
                streams,
                participants,
            })
            .await;
        let inactivity = self.shared.cfg.inactivity;
        let mut last_activity = tokio::time::Instant::now();
        let reason = loop {
            let poll_at = self.decoders.iter().filter_map(|d| d.deadline()).min();
            let poll_at = poll_at.map(tokio::time::Instant::from_std);
            tokio::select! {
                c = ctrl.recv() => match c {
                    Some(Ctrl::End(r)) => break r,
                    None => break EndReason::Shutdown,
                    Some(Ctrl::Update { streams, selected, mut keys, new_sockets, participants }) => {
                        for (dec, sel) in self.decoders.iter_mut().zip(&selected) {
                            dec.reselect(*sel);
                        }
                        // A re-offer may re-key: a stream keeps its SRTP state (rollover
                        // counts, replay windows) only while its key stays the same.
                        for (rx, key) in self.srtp.iter_mut().zip(keys.iter_mut()) {
                            if rx.as_ref().map(srtp::Receiver::key) != key.as_ref() {
                                *rx = key.take().map(srtp::Receiver::new);
                            }
                        }
                        for (i, s) in new_sockets {
                            if let Some(sel) = selected.get(i) {
                                let key = keys.get_mut(i).and_then(Option::take);
                                self.add_stream(i, *sel, key, s);
                            }
                        }
                        let ev = CallEvent::Metadata { call_id: self.id.clone(), participants, streams };
                        let _ = self.shared.events.send(ev).await;
                    }
                },
                Some((idx, bytes)) = self.pkt_rx.recv() => {
                    let Some(bytes) = self.unprotect(idx, bytes) else { continue };
                    let Ok(pkt) = RtpPacket::parse(&bytes) else { continue };
                    let Some(dec) = self.decoders.get_mut(idx) else { continue };
                    if !dec.accepts(pkt.pt) {
                        continue;
                    }
                    last_activity = tokio::time::Instant::now();
                    let outs = dec.push(pkt, std::time::Instant::now());
                    self.emit(idx, outs).await;
                }
                _ = tokio::time::sleep_until(poll_at.unwrap_or_else(tokio::time::Instant::now)), if poll_at.is_some() => {
                    let now = std::time::Instant::now();
                    for idx in 0..self.decoders.len() {
                        let outs = self.decoders[idx].poll(now);
                        self.emit(idx, outs).await;
                    }
                }
                _ = tokio::time::sleep_until(last_activity + inactivity) => {
                    let call = {
                        let mut calls = self.shared.lock_calls();
                        match calls.get(&self.sip_call_id) {
                            Some(c) if c.id == self.id => calls.remove(&self.sip_call_id),
                            _ => None,
                        }
                    };
                    if let Some(call) = call {
                        call.send_bye().await;
                    }
                    break EndReason::Inactivity;
                }
            }
        };
        for r in &self.readers {
            r.abort();
        }
        for idx in 0..self.decoders.len() {
            let outs = self.decoders[idx].finish();
            self.emit(idx, outs).await;
        }
        let media = self.media;
        if media != MediaStats::default() {
            tracing::warn!(
                call = %self.id,
                unauthentic = media.srtp_unauthentic,
                replayed = media.srtp_replayed,
                "SRTP packets dropped"
            );
        }
        tracing::info!(call = %self.id, reason = ?reason, "call ended");
        let _ = self
            .shared
            .events
            .send(CallEvent::Ended {
                call_id: self.id.clone(),
                reason,
                media,
            })
            .await;
        self.shared.live_calls.fetch_sub(1, Ordering::SeqCst);
        self.shared.call_done.notify_waiters();
    }
}

//! The SIP user agent server: UDP and TCP listeners, INVITE/ACK/BYE/CANCEL/OPTIONS and
//! re-INVITE handling, RTP port allocation, and one task per call that runs its
//! streams' jitter buffers and emits [`CallEvent`]s.
//!
//! Must not block SIP handling on the event channel (only call tasks send events), and
//! must not log bodies, audio, digits or metadata.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, Notify, Semaphore};
use tokio::task::{JoinHandle, JoinSet};

use super::rtp::RtpPacket;
use super::sdp::{self, AnswerLine, Selected};
use super::sip::{self, Message, Request, StreamFrame};
use super::siprec::{self, BodyError, Metadata};
use super::stream::{Output, StreamDecoder};
use super::{CallEvent, EndReason, LiveError, Participant, ServerConfig, StreamInfo};

const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS";
const ACCEPT: &str =
    "application/sdp, multipart/mixed, application/rs-metadata+xml, application/rs-metadata";
const MAX_TCP_CONNECTIONS: usize = 1024;
const T1: Duration = Duration::from_millis(500);
const T2: Duration = Duration::from_secs(4);

/// A bound, not yet running server; lets callers learn the port before serving.
pub struct Server {
    cfg: ServerConfig,
    udp: Arc<UdpSocket>,
    tcp: TcpListener,
    local: SocketAddr,
}

/// Binds and runs a server until `shutdown` completes; every open call then ends with
/// [`EndReason::Shutdown`] before this returns.
pub async fn serve(
    cfg: ServerConfig,
    events: mpsc::Sender<CallEvent>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), LiveError> {
    Server::bind(cfg).await?.run(events, shutdown).await
}

impl Server {
    pub async fn bind(cfg: ServerConfig) -> Result<Server, LiveError> {
        let (lo, hi) = cfg.rtp_ports;
        if lo == 0 || lo > hi {
            return Err(LiveError::PortRange(format!("{lo}-{hi}")));
        }
        let bind_err = |transport, addr, source| LiveError::Bind {
            transport,
            addr,
            source,
        };
        let udp = UdpSocket::bind(cfg.sip_addr)
            .await
            .map_err(|e| bind_err("UDP", cfg.sip_addr, e))?;
        let local = udp
            .local_addr()
            .map_err(|e| bind_err("UDP", cfg.sip_addr, e))?;
        let tcp = TcpListener::bind(local)
            .await
            .map_err(|e| bind_err("TCP", local, e))?;
        Ok(Server {
            cfg,
            udp: Arc::new(udp),
            tcp,
            local,
        })
    }

    /// The SIP address actually bound (UDP and TCP share it).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    pub async fn run(
        self,
        events: mpsc::Sender<CallEvent>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), LiveError> {
        let mut instance = [0u8; 4];
        let _ = getrandom::getrandom(&mut instance);
        let shared = Arc::new(Shared {
            cfg: self.cfg,
            events,
            calls: Mutex::new(HashMap::new()),
            port_cursor: Mutex::new(0),
            next_call: AtomicU64::new(1),
            instance: hex::encode(instance),
            live_calls: AtomicUsize::new(0),
            call_done: Notify::new(),
            closing: AtomicBool::new(false),
        });
        let udp = tokio::spawn(udp_loop(shared.clone(), self.udp));
        let tcp = tokio::spawn(tcp_loop(shared.clone(), self.tcp));
        let failed = tokio::select! {
            _ = shutdown => None,
            r = udp => Some(("UDP", r)),
        };
        shared.closing.store(true, Ordering::SeqCst);
        tcp.abort();
        let calls: Vec<Call> = shared.lock_calls().drain().map(|(_, c)| c).collect();
        for c in calls {
            let _ = c.ctrl.send(Ctrl::End(EndReason::Shutdown));
        }
        loop {
            let done = shared.call_done.notified();
            if shared.live_calls.load(Ordering::SeqCst) == 0 {
                break;
            }
            done.await;
        }
        match failed {
            Some((transport, Ok(Err(source)))) => Err(LiveError::Socket { transport, source }),
            _ => Ok(()),
        }
    }
}

struct Shared {
    cfg: ServerConfig,
    events: mpsc::Sender<CallEvent>,
    /// Open calls by SIP Call-ID.
    calls: Mutex<HashMap<String, Call>>,
    port_cursor: Mutex<usize>,
    next_call: AtomicU64,
    instance: String,
    live_calls: AtomicUsize,
    call_done: Notify,
    closing: AtomicBool,
}

impl Shared {
    fn lock_calls(&self) -> MutexGuard<'_, HashMap<String, Call>> {
        // A panic elsewhere while holding the lock must not take SIP down with it.
        self.calls.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Binds an RTP socket on the next free even port of the range.
    fn allocate_port(&self) -> Option<UdpSocket> {
        let (lo, hi) = self.cfg.rtp_ports;
        let (first, step) = if hi - lo >= 1 {
            (lo + lo % 2, 2)
        } else {
            (lo, 1)
        };
        let count = (hi.saturating_sub(first) / step + 1) as usize;
        let mut cursor = self.port_cursor.lock().unwrap_or_else(|e| e.into_inner());
        for i in 0..count {
            let idx = (*cursor + i) % count;
            let port = first + (idx as u16) * step;
            let Ok(sock) = std::net::UdpSocket::bind((self.cfg.sip_addr.ip(), port)) else {
                continue;
            };
            if sock.set_nonblocking(true).is_err() {
                continue;
            }
            if let Ok(s) = UdpSocket::from_std(sock) {
                *cursor = idx + 1;
                return Some(s);
            }
        }
        None
    }
}

/// Where a response goes: back to the datagram's source, or down the TCP connection.
#[derive(Clone)]
enum Reply {
    Udp(Arc<UdpSocket>, SocketAddr),
    Tcp(mpsc::Sender<Vec<u8>>, SocketAddr),
}

impl Reply {
    fn peer(&self) -> SocketAddr {
        match self {
            Reply::Udp(_, p) | Reply::Tcp(_, p) => *p,
        }
    }

    async fn send(&self, bytes: Vec<u8>) {
        match self {
            Reply::Udp(s, p) => {
                if let Err(e) = s.send_to(&bytes, p).await {
                    tracing::debug!(peer = %p, error = %e, "SIP UDP send failed");
                }
            }
            Reply::Tcp(tx, _) => {
                let _ = tx.send(bytes).await;
            }
        }
    }

    fn transport(&self) -> &'static str {
        match self {
            Reply::Udp(..) => "udp",
            Reply::Tcp(..) => "tcp",
        }
    }
}

enum Ctrl {
    End(EndReason),
    Update {
        streams: Vec<StreamInfo>,
        selected: Vec<Selected>,
        new_sockets: Vec<(usize, UdpSocket)>,
        participants: Vec<Participant>,
    },
}

/// SIP-side state of one call.
struct Call {
    id: String,
    ctrl: mpsc::UnboundedSender<Ctrl>,
    local_tag: String,
    invite: Request,
    invite_cseq: u32,
    /// The last response to the current INVITE, resent when the INVITE is retransmitted.
    last_response: Vec<u8>,
    answered: bool,
    acked: bool,
    ports: Vec<u16>,
    metadata: Option<Metadata>,
    session_id: u64,
    sdp_version: u64,
}

fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    let _ = getrandom::getrandom(&mut b);
    hex::encode(b)
}

/// The local address a peer reaches us at, for Contact and SDP.
fn local_ip_for(bound: IpAddr, peer: SocketAddr) -> IpAddr {
    if !bound.is_unspecified() {
        return bound;
    }
    let any: SocketAddr = if peer.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    std::net::UdpSocket::bind(any)
        .and_then(|s| s.connect(peer).and_then(|_| s.local_addr()))
        .map(|a| a.ip())
        .unwrap_or(bound)
}

async fn udp_loop(shared: Arc<Shared>, udp: Arc<UdpSocket>) -> std::io::Result<()> {
    let mut buf = vec![0u8; 65_536];
    let bound = udp.local_addr()?;
    loop {
        let (n, peer) = match udp.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(e) => {
                // ICMP errors from earlier sends surface here on some systems; not fatal.
                tracing::debug!(error = %e, "SIP UDP receive error");
                continue;
            }
        };
        let reply = Reply::Udp(udp.clone(), peer);
        let local_ip = local_ip_for(bound.ip(), peer);
        on_parsed(
            &shared,
            sip::parse_datagram(&buf[..n]),
            reply,
            local_ip,
            bound.port(),
        )
        .await;
    }
}

async fn tcp_loop(shared: Arc<Shared>, listener: TcpListener) {
    let limit = Arc::new(Semaphore::new(MAX_TCP_CONNECTIONS));
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else { continue };
                let Ok(permit) = limit.clone().try_acquire_owned() else {
                    tracing::warn!(peer = %peer, "too many SIP TCP connections; refusing one");
                    continue;
                };
                let shared = shared.clone();
                conns.spawn(async move {
                    tcp_conn(shared, stream, peer).await;
                    drop(permit);
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn tcp_conn(shared: Arc<Shared>, stream: TcpStream, peer: SocketAddr) {
    let Ok(local) = stream.local_addr() else {
        return;
    };
    let (mut rd, mut wr) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(32);
    let writer = tokio::spawn(async move {
        while let Some(b) = rx.recv().await {
            if wr.write_all(&b).await.is_err() {
                break;
            }
        }
    });
    let reply = Reply::Tcp(tx.clone(), peer);
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    'conn: loop {
        loop {
            match sip::parse_stream(&buf) {
                Ok(StreamFrame::Incomplete) => break,
                Ok(StreamFrame::KeepAlive(n)) => {
                    buf.drain(..n);
                    if n >= 4 {
                        let _ = tx.send(b"\r\n".to_vec()).await;
                    }
                }
                Ok(StreamFrame::Message(parsed, used)) => {
                    buf.drain(..used);
                    on_parsed(&shared, parsed, reply.clone(), local.ip(), local.port()).await;
                }
                Err(e) => {
                    // The stream cannot be re-synchronised after a broken head.
                    tracing::debug!(peer = %peer, error = %e, "closing SIP TCP connection");
                    break 'conn;
                }
            }
        }
        match rd.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    drop(reply);
    drop(tx);
    let _ = writer.await;
}

async fn on_parsed(
    shared: &Arc<Shared>,
    parsed: sip::Parsed,
    reply: Reply,
    local_ip: IpAddr,
    sip_port: u16,
) {
    match parsed {
        Ok(Message::Request(req)) => handle_request(shared, req, reply, local_ip, sip_port).await,
        Ok(Message::Response(_)) => {} // we send no requests that expect answers
        Err((e, head)) => {
            let req = head.and_then(|h| h.as_request());
            match req {
                Some(r) if r.method != "ACK" => {
                    let warn = [("Warning", format!("399 hushline \"{e}\""))];
                    reply
                        .send(sip::response(
                            &r,
                            400,
                            "Bad Request",
                            None,
                            reply.peer(),
                            &warn,
                            None,
                        ))
                        .await;
                }
                _ => {
                    tracing::debug!(peer = %reply.peer(), error = %e, "dropped unparseable SIP message")
                }
            }
        }
    }
}

async fn handle_request(
    shared: &Arc<Shared>,
    req: Request,
    reply: Reply,
    local_ip: IpAddr,
    sip_port: u16,
) {
    let simple = |code, reason, extra: &[(&str, String)]| {
        sip::response(&req, code, reason, None, reply.peer(), extra, None)
    };
    match req.method.as_str() {
        "INVITE" => handle_invite(shared, req, reply, local_ip, sip_port).await,
        "ACK" => {
            let id = req.call_id().unwrap_or_default();
            if let Some(c) = shared.lock_calls().get_mut(id) {
                c.acked = true;
            }
        }
        "BYE" => {
            let call = req.call_id().and_then(|id| shared.lock_calls().remove(id));
            let resp = match call {
                Some(c) => {
                    let _ = c.ctrl.send(Ctrl::End(EndReason::Bye));
                    simple(200, "OK", &[])
                }
                None => simple(481, "Call/Transaction Does Not Exist", &[]),
            };
            reply.send(resp).await;
        }
        "CANCEL" => {
            let (resp, terminated) = {
                let mut calls = shared.lock_calls();
                let id = req.call_id().unwrap_or("");
                match calls.get(id) {
                    Some(c)
                        if !c.answered && Some(c.invite_cseq) == req.cseq().map(|s| s.number) =>
                    {
                        let c = calls.remove(id).expect("present");
                        let _ = c.ctrl.send(Ctrl::End(EndReason::Cancel));
                        let t = sip::response(
                            &c.invite,
                            487,
                            "Request Terminated",
                            Some(&c.local_tag),
                            reply.peer(),
                            &[],
                            None,
                        );
                        (simple(200, "OK", &[]), Some(t))
                    }
                    // Already answered: the CANCEL has no effect (RFC 3261 §9.2).
                    Some(_) => (simple(200, "OK", &[]), None),
                    None => (simple(481, "Call/Transaction Does Not Exist", &[]), None),
                }
            };
            reply.send(resp).await;
            if let Some(t) = terminated {
                reply.send(t).await;
            }
        }
        "OPTIONS" => {
            let extra = [
                ("Allow", ALLOW.to_string()),
                ("Accept", ACCEPT.to_string()),
                ("Supported", "siprec".to_string()),
            ];
            reply.send(simple(200, "OK", &extra)).await;
        }
        _ => {
            reply
                .send(simple(
                    501,
                    "Not Implemented",
                    &[("Allow", ALLOW.to_string())],
                ))
                .await
        }
    }
}

/// An offer turned into what the answer needs, or the response that refuses it.
struct Accepted {
    offer: Vec<sdp::OfferedMedia>,
    selected: Vec<Option<Selected>>,
    metadata: Option<Metadata>,
}

fn read_offer(req: &Request) -> Result<Accepted, (u16, &'static str, String)> {
    let unsupported: Vec<String> = req
        .required()
        .into_iter()
        .filter(|t| t != "siprec")
        .collect();
    if !unsupported.is_empty() {
        return Err((420, "Bad Extension", unsupported.join(", ")));
    }
    let body = siprec::split_body(req.content_type(), &req.body).map_err(|e| match e {
        BodyError::UnsupportedType(_) => (415, "Unsupported Media Type", e.to_string()),
        BodyError::Empty => (488, "Not Acceptable Here", e.to_string()),
        _ => (400, "Bad Request", e.to_string()),
    })?;
    let offer =
        sdp::parse_offer(&body.sdp).map_err(|e| (488, "Not Acceptable Here", e.to_string()))?;
    let selected: Vec<Option<Selected>> = offer.iter().map(|m| m.select()).collect();
    if selected.iter().all(Option::is_none) {
        return Err((
            488,
            "Not Acceptable Here",
            "no RTP/AVP audio stream with PCMU or PCMA offered".into(),
        ));
    }
    Ok(Accepted {
        offer,
        selected,
        metadata: body.metadata,
    })
}

fn refusal(
    req: &Request,
    peer: SocketAddr,
    (code, reason, why): (u16, &'static str, String),
) -> Vec<u8> {
    let mut extra = vec![(
        "Warning",
        format!("399 hushline \"{}\"", why.replace('"', "'")),
    )];
    match code {
        420 => extra.push(("Unsupported", why)),
        415 => extra.push(("Accept", ACCEPT.to_string())),
        _ => {}
    }
    sip::response(req, code, reason, None, peer, &extra, None)
}

fn stream_infos(acc: &Accepted, ports: &[u16]) -> (Vec<StreamInfo>, Vec<Selected>) {
    let mut infos = Vec::new();
    let mut sels = Vec::new();
    for (m, s) in acc.offer.iter().zip(&acc.selected) {
        let Some(s) = s else { continue };
        let index = infos.len();
        let participant = acc
            .metadata
            .as_ref()
            .and_then(|md| md.sender_of(m.label.as_deref(), index))
            .cloned();
        infos.push(StreamInfo {
            index,
            label: m.label.clone(),
            codec: s.codec,
            rtp_port: ports[index],
            participant,
        });
        sels.push(*s);
    }
    (infos, sels)
}

fn answer_response(
    req: &Request,
    call: &Call,
    acc: &Accepted,
    local_ip: IpAddr,
    sip_port: u16,
    reply: &Reply,
) -> Vec<u8> {
    let mut k = 0;
    let lines: Vec<AnswerLine> = acc
        .offer
        .iter()
        .zip(&acc.selected)
        .map(|(m, s)| AnswerLine {
            offered: m,
            accepted: s.map(|s| {
                k += 1;
                (call.ports[k - 1], s)
            }),
        })
        .collect();
    let body = sdp::write_answer(local_ip, call.session_id, call.sdp_version, &lines);
    let contact = format!(
        "<sip:hushline@{};transport={}>",
        SocketAddr::new(local_ip, sip_port),
        reply.transport()
    );
    let extra = [
        ("Contact", contact),
        ("Allow", ALLOW.to_string()),
        ("Supported", "siprec".to_string()),
    ];
    sip::response(
        req,
        200,
        "OK",
        Some(&call.local_tag),
        reply.peer(),
        &extra,
        Some(("application/sdp", body.as_bytes())),
    )
}

async fn handle_invite(
    shared: &Arc<Shared>,
    req: Request,
    reply: Reply,
    local_ip: IpAddr,
    sip_port: u16,
) {
    let (Some(sip_call_id), Some(cseq)) = (req.call_id().map(str::to_string), req.cseq()) else {
        return;
    };
    enum Existing {
        Resend(Vec<u8>),
        Refuse(u16, &'static str),
        ReInvite,
    }
    let existing = shared.lock_calls().get(&sip_call_id).map(|c| {
        if cseq.number == c.invite_cseq {
            Existing::Resend(c.last_response.clone())
        } else if cseq.number < c.invite_cseq {
            Existing::Refuse(500, "Server Internal Error")
        } else if !c.answered {
            Existing::Refuse(491, "Request Pending")
        } else if req.to_tag().as_deref() == Some(c.local_tag.as_str()) {
            Existing::ReInvite
        } else {
            Existing::Refuse(482, "Loop Detected")
        }
    });
    match existing {
        Some(Existing::Resend(bytes)) => return reply.send(bytes).await,
        Some(Existing::Refuse(code, reason)) => {
            return reply
                .send(sip::response(
                    &req,
                    code,
                    reason,
                    None,
                    reply.peer(),
                    &[],
                    None,
                ))
                .await
        }
        Some(Existing::ReInvite) => {
            return re_invite(
                shared,
                req,
                reply,
                local_ip,
                sip_port,
                sip_call_id,
                cseq.number,
            )
            .await
        }
        None => {}
    }
    if shared.closing.load(Ordering::SeqCst) {
        let r = sip::response(
            &req,
            503,
            "Service Unavailable",
            None,
            reply.peer(),
            &[],
            None,
        );
        return reply.send(r).await;
    }
    let acc = match read_offer(&req) {
        Ok(a) => a,
        Err(why) => return reply.send(refusal(&req, reply.peer(), why)).await,
    };
    let mut sockets = Vec::new();
    for _ in acc.selected.iter().flatten() {
        match shared.allocate_port() {
            Some(s) => sockets.push(s),
            None => {
                tracing::warn!("RTP port range exhausted; refusing a call");
                let extra = [("Retry-After", "5".to_string())];
                let r = sip::response(
                    &req,
                    503,
                    "Service Unavailable",
                    None,
                    reply.peer(),
                    &extra,
                    None,
                );
                return reply.send(r).await;
            }
        }
    }
    let ports: Vec<u16> = sockets
        .iter()
        .map(|s| s.local_addr().map_or(0, |a| a.port()))
        .collect();
    let (infos, sels) = stream_infos(&acc, &ports);
    let participants = acc
        .metadata
        .as_ref()
        .map(|m| m.participants.clone())
        .unwrap_or_default();
    let id = format!(
        "{}-{}",
        shared.instance,
        shared.next_call.fetch_add(1, Ordering::Relaxed)
    );
    let (ctrl, ctrl_rx) = mpsc::unbounded_channel();
    let local_tag = random_hex(6);
    let trying = sip::response(&req, 100, "Trying", None, reply.peer(), &[], None);
    let mut session = [0u8; 4];
    let _ = getrandom::getrandom(&mut session);
    let mut call = Call {
        id: id.clone(),
        ctrl,
        local_tag,
        invite: req.clone(),
        invite_cseq: cseq.number,
        last_response: trying.clone(),
        answered: false,
        acked: false,
        ports,
        metadata: acc.metadata.clone(),
        session_id: u32::from_be_bytes(session) as u64,
        sdp_version: 1,
    };
    let ok = answer_response(&req, &call, &acc, local_ip, sip_port, &reply);
    tracing::info!(call = %id, streams = infos.len(), transport = reply.transport(), "call started");
    shared.live_calls.fetch_add(1, Ordering::SeqCst);
    let task = CallTask::new(
        shared.clone(),
        id.clone(),
        sip_call_id.clone(),
        sels,
        sockets,
    );
    tokio::spawn(task.run(infos, participants, ctrl_rx));
    let delay = shared.cfg.answer_delay;
    if delay.is_zero() {
        call.answered = true;
        call.last_response = ok.clone();
        shared.lock_calls().insert(sip_call_id.clone(), call);
        reply.send(ok).await;
    } else {
        shared.lock_calls().insert(sip_call_id.clone(), call);
        reply.send(trying).await;
        let shared = shared.clone();
        let reply2 = reply.clone();
        let sip_id = sip_call_id.clone();
        let id2 = id.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let send = {
                let mut calls = shared.lock_calls();
                match calls.get_mut(&sip_id) {
                    Some(c) if c.id == id2 && !c.answered => {
                        c.answered = true;
                        c.last_response = ok.clone();
                        true
                    }
                    _ => false,
                }
            };
            if send {
                reply2.send(ok).await;
                retransmit(shared, reply2, sip_id, id2, cseq.number);
            }
        });
        return;
    }
    retransmit(shared.clone(), reply, sip_call_id, id, cseq.number);
}

/// RFC 3261 §13.3.1.4: over UDP, resend the 2xx until the ACK arrives.
fn retransmit(shared: Arc<Shared>, reply: Reply, sip_call_id: String, id: String, cseq: u32) {
    if !matches!(reply, Reply::Udp(..)) {
        return;
    }
    tokio::spawn(async move {
        let mut wait = T1;
        let mut total = Duration::ZERO;
        while total < 64 * T1 {
            tokio::time::sleep(wait).await;
            total += wait;
            wait = (wait * 2).min(T2);
            let bytes = match shared.lock_calls().get(&sip_call_id) {
                Some(c) if c.id == id && c.invite_cseq == cseq && !c.acked => {
                    c.last_response.clone()
                }
                _ => return,
            };
            reply.send(bytes).await;
        }
    });
}

async fn re_invite(
    shared: &Arc<Shared>,
    req: Request,
    reply: Reply,
    local_ip: IpAddr,
    sip_port: u16,
    sip_call_id: String,
    cseq: u32,
) {
    let mut acc = match read_offer(&req) {
        Ok(a) => a,
        Err(why) => return reply.send(refusal(&req, reply.peer(), why)).await,
    };
    let wanted = acc.selected.iter().flatten().count();
    let have = shared
        .lock_calls()
        .get(&sip_call_id)
        .map_or(0, |c| c.ports.len());
    let mut new_sockets = Vec::new();
    for index in have..wanted {
        match shared.allocate_port() {
            Some(s) => new_sockets.push((index, s)),
            None => {
                let r = sip::response(
                    &req,
                    503,
                    "Service Unavailable",
                    None,
                    reply.peer(),
                    &[],
                    None,
                );
                return reply.send(r).await;
            }
        }
    }
    let updated = {
        let mut calls = shared.lock_calls();
        calls.get_mut(&sip_call_id).map(|call| {
            for (_, s) in &new_sockets {
                call.ports.push(s.local_addr().map_or(0, |a| a.port()));
            }
            // Metadata may be omitted when unchanged.
            if acc.metadata.is_none() {
                acc.metadata = call.metadata.clone();
            }
            call.metadata = acc.metadata.clone();
            call.sdp_version += 1;
            call.invite_cseq = cseq;
            call.invite = req.clone();
            call.acked = false;
            let ok = answer_response(&req, call, &acc, local_ip, sip_port, &reply);
            call.last_response = ok.clone();
            let (streams, selected) = stream_infos(&acc, &call.ports);
            let participants = acc
                .metadata
                .as_ref()
                .map(|m| m.participants.clone())
                .unwrap_or_default();
            let _ = call.ctrl.send(Ctrl::Update {
                streams,
                selected,
                new_sockets,
                participants,
            });
            (ok, call.id.clone())
        })
    };
    let Some(ok) = updated else {
        let r = sip::response(
            &req,
            481,
            "Call/Transaction Does Not Exist",
            None,
            reply.peer(),
            &[],
            None,
        );
        return reply.send(r).await;
    };
    reply.send(ok.0).await;
    retransmit(shared.clone(), reply, sip_call_id, ok.1, cseq);
}

/// Media side of one call: owns its RTP sockets (through reader tasks) and decoders.
struct CallTask {
    shared: Arc<Shared>,
    id: String,
    sip_call_id: String,
    decoders: Vec<StreamDecoder>,
    readers: Vec<JoinHandle<()>>,
    pkt_tx: mpsc::Sender<(usize, Vec<u8>)>,
    pkt_rx: mpsc::Receiver<(usize, Vec<u8>)>,
}

impl CallTask {
    fn new(
        shared: Arc<Shared>,
        id: String,
        sip_call_id: String,
        sels: Vec<Selected>,
        sockets: Vec<UdpSocket>,
    ) -> Self {
        let (pkt_tx, pkt_rx) = mpsc::channel(512);
        let mut t = CallTask {
            shared,
            id,
            sip_call_id,
            decoders: Vec::new(),
            readers: Vec::new(),
            pkt_tx,
            pkt_rx,
        };
        for (i, (sel, sock)) in sels.into_iter().zip(sockets).enumerate() {
            t.add_stream(i, sel, sock);
        }
        t
    }

    fn add_stream(&mut self, index: usize, sel: Selected, sock: UdpSocket) {
        if index != self.decoders.len() {
            return;
        }
        self.decoders
            .push(StreamDecoder::new(sel, self.shared.cfg.jitter));
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

    async fn emit(&self, stream: usize, outs: Vec<Output>) {
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

    async fn run(
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
                    Some(Ctrl::Update { streams, selected, new_sockets, participants }) => {
                        for (i, s) in new_sockets {
                            if let Some(sel) = selected.get(i) {
                                self.add_stream(i, *sel, s);
                            }
                        }
                        let ev = CallEvent::Metadata { call_id: self.id.clone(), participants, streams };
                        let _ = self.shared.events.send(ev).await;
                    }
                },
                Some((idx, bytes)) = self.pkt_rx.recv() => {
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
                    let mut calls = self.shared.lock_calls();
                    if calls.get(&self.sip_call_id).is_some_and(|c| c.id == self.id) {
                        calls.remove(&self.sip_call_id);
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
        tracing::info!(call = %self.id, reason = ?reason, "call ended");
        let _ = self
            .shared
            .events
            .send(CallEvent::Ended {
                call_id: self.id.clone(),
                reason,
            })
            .await;
        self.shared.live_calls.fetch_sub(1, Ordering::SeqCst);
        self.shared.call_done.notify_waiters();
    }
}

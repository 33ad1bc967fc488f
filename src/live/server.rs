//! The SIP user agent server's transports: UDP, TCP and TLS listeners, the shared state,
//! RTP port allocation, and shutdown. Requests go to `dialog`, media to `call`.
//!
//! Must not block SIP handling on the event channel (only call tasks send events), and
//! must not log bodies, audio, digits, metadata or key material.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, Notify, Semaphore};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use zeroize::Zeroize;

use super::call::Ctrl;
use super::dialog::{on_parsed, Call};
use super::sip::{self, StreamFrame};
use super::{CallEvent, EndReason, LiveError, ServerConfig};

const MAX_TCP_CONNECTIONS: usize = 1024;
/// A TLS client that has not finished its handshake by then is dropped.
const TLS_HANDSHAKE: Duration = Duration::from_secs(10);

/// A bound, not yet running server; lets callers learn the port before serving.
pub struct Server {
    cfg: ServerConfig,
    udp: Arc<UdpSocket>,
    tcp: TcpListener,
    local: SocketAddr,
    tls: Option<(TcpListener, TlsAcceptor)>,
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
        let tls = match &cfg.tls {
            None => None,
            Some(t) => {
                let listener = TcpListener::bind(t.addr)
                    .await
                    .map_err(|e| bind_err("TLS", t.addr, e))?;
                Some((listener, TlsAcceptor::from(t.config.clone())))
            }
        };
        Ok(Server {
            cfg,
            udp: Arc::new(udp),
            tcp,
            local,
            tls,
        })
    }

    /// The SIP address actually bound (UDP and TCP share it).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The SIP over TLS address actually bound, when TLS is configured.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls.as_ref().and_then(|(l, _)| l.local_addr().ok())
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
        let mut udp = tokio::spawn(udp_loop(shared.clone(), self.udp));
        let tcp = tokio::spawn(tcp_loop(shared.clone(), self.tcp, None));
        let tls = self
            .tls
            .map(|(l, acceptor)| tokio::spawn(tcp_loop(shared.clone(), l, Some(acceptor))));
        let failed = tokio::select! {
            _ = shutdown => None,
            r = &mut udp => Some(("UDP", r)),
        };
        // The loops hold the shared state, and with it the event sender: stop them so the
        // event channel closes once the calls have ended.
        udp.abort();
        shared.closing.store(true, Ordering::SeqCst);
        let calls: Vec<Call> = shared.lock_calls().drain().map(|(_, c)| c).collect();
        for c in calls {
            let _ = c.ctrl.send(Ctrl::End(EndReason::Shutdown));
            c.send_bye().await;
        }
        tcp.abort();
        if let Some(t) = tls {
            t.abort();
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

pub(super) struct Shared {
    pub(super) cfg: ServerConfig,
    pub(super) events: mpsc::Sender<CallEvent>,
    /// Open calls by SIP Call-ID.
    calls: Mutex<HashMap<String, Call>>,
    port_cursor: Mutex<usize>,
    pub(super) next_call: AtomicU64,
    pub(super) instance: String,
    pub(super) live_calls: AtomicUsize,
    pub(super) call_done: Notify,
    pub(super) closing: AtomicBool,
}

impl Shared {
    pub(super) fn lock_calls(&self) -> MutexGuard<'_, HashMap<String, Call>> {
        // A panic elsewhere while holding the lock must not take SIP down with it.
        self.calls.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Binds an RTP socket on the next free even port of the range.
    pub(super) fn allocate_port(&self) -> Option<UdpSocket> {
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

/// Where a response goes: back to the datagram's source, or down the connection (TCP,
/// or TLS over TCP) the request came on.
#[derive(Clone)]
pub(super) enum Reply {
    Udp(Arc<UdpSocket>, SocketAddr),
    Stream {
        tx: mpsc::Sender<Vec<u8>>,
        peer: SocketAddr,
        tls: bool,
    },
}

impl Reply {
    pub(super) fn peer(&self) -> SocketAddr {
        match self {
            Reply::Udp(_, p) | Reply::Stream { peer: p, .. } => *p,
        }
    }

    pub(super) fn is_tls(&self) -> bool {
        matches!(self, Reply::Stream { tls: true, .. })
    }

    pub(super) async fn send(&self, bytes: Vec<u8>) {
        match self {
            Reply::Udp(s, p) => {
                if let Err(e) = s.send_to(&bytes, p).await {
                    tracing::debug!(peer = %p, error = %e, "SIP UDP send failed");
                }
            }
            Reply::Stream { tx, .. } => {
                let _ = tx.send(bytes).await;
            }
        }
    }

    pub(super) fn transport(&self) -> &'static str {
        match self {
            Reply::Udp(..) => "udp",
            Reply::Stream { tls: false, .. } => "tcp",
            Reply::Stream { tls: true, .. } => "tls",
        }
    }
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
        let parsed = sip::parse_datagram(&buf[..n]);
        buf[..n].zeroize(); // bodies may hold SDES keys
        on_parsed(&shared, parsed, reply, local_ip, bound.port()).await;
    }
}

/// Accepts TCP connections, with a TLS handshake first when `tls` is given.
async fn tcp_loop(shared: Arc<Shared>, listener: TcpListener, tls: Option<TlsAcceptor>) {
    let limit = Arc::new(Semaphore::new(MAX_TCP_CONNECTIONS));
    let mut conns = JoinSet::new();
    let transport = if tls.is_some() { "TLS" } else { "TCP" };
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else { continue };
                let Ok(local) = stream.local_addr() else { continue };
                let Ok(permit) = limit.clone().try_acquire_owned() else {
                    tracing::warn!(peer = %peer, "too many SIP {transport} connections; refusing one");
                    continue;
                };
                let shared = shared.clone();
                let tls = tls.clone();
                conns.spawn(async move {
                    match tls {
                        None => stream_conn(shared, stream, peer, local, false).await,
                        Some(acceptor) => {
                            match tokio::time::timeout(TLS_HANDSHAKE, acceptor.accept(stream)).await {
                                Ok(Ok(s)) => stream_conn(shared, s, peer, local, true).await,
                                Ok(Err(e)) => {
                                    tracing::info!(peer = %peer, error = %e, "SIP TLS handshake failed")
                                }
                                Err(_) => tracing::info!(peer = %peer, "SIP TLS handshake timed out"),
                            }
                        }
                    }
                    drop(permit);
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

/// Reads SIP messages from one TCP connection or TLS session until it closes.
async fn stream_conn<S>(
    shared: Arc<Shared>,
    stream: S,
    peer: SocketAddr,
    local: SocketAddr,
    tls: bool,
) where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(stream);
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(32);
    let writer = tokio::spawn(async move {
        while let Some(b) = rx.recv().await {
            // TLS buffers records: flush so each message leaves now.
            if wr.write_all(&b).await.is_err() || wr.flush().await.is_err() {
                break;
            }
        }
    });
    let reply = Reply::Stream {
        tx: tx.clone(),
        peer,
        tls,
    };
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
                    buf[..used].zeroize(); // bodies may hold SDES keys
                    buf.drain(..used);
                    on_parsed(&shared, parsed, reply.clone(), local.ip(), local.port()).await;
                }
                Err(e) => {
                    // The stream cannot be re-synchronised after a broken head.
                    tracing::debug!(peer = %peer, error = %e, "closing SIP stream connection");
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

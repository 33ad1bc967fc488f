//! Live sources: SIP/SIPREC signalling, RTP with a jitter buffer, RFC 4733 digits, and
//! the microphone. Turns calls into the same PCM frames the pipeline's stages consume.
//!
//! The pieces, each usable alone:
//! * [`sip`]: SIP message syntax (parse, frame TCP, write responses);
//! * [`sdp`]: offers and answers (G.711 + telephone-event, one `recvonly` line per offer line);
//! * [`siprec`]: `multipart/mixed` bodies and RFC 7865 recording metadata;
//! * [`rtp`]: RTP packets and the jitter buffer; [`stream`]: a decoded stream;
//! * [`srtp`]: SDES keys and SRTP authentication/decryption before the jitter buffer;
//! * [`tls`]: the certificate, key and client verification for SIP over TLS;
//! * `server`: the tokio user agent server tying them together (UDP, TCP, TLS), driven
//!   by [`serve`]; `dialog` answers requests and applies the [`Policy`];
//! * `mic` (cargo feature `mic`): the microphone as one call, for demos.
//!
//! Calls come out as [`CallEvent`]s on a bounded channel, in order per call.
//! Must not implement recognition, detection or storage itself, and must never log
//! audio, digits or metadata values (participants' names and addresses).

mod call;
mod dialog;
mod dtmf;
#[cfg(feature = "mic")]
pub mod mic;
pub mod rtp;
pub mod sdp;
mod server;
pub mod sip;
pub mod siprec;
pub mod srtp;
pub mod stream;
pub mod tls;
pub(crate) mod xml;

use std::net::SocketAddr;
use std::time::Duration;

pub use sdp::Codec;
pub use server::{serve, Server};
pub use siprec::Participant;

use crate::time::Span;

/// Sample rate of every live stream's clock (G.711).
pub const LIVE_RATE: u32 = 8000;

#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where SIP is received, on UDP and TCP alike. Port 0 picks a free port
    /// (see [`Server::local_addr`]).
    pub sip_addr: SocketAddr,
    /// Inclusive range of local ports for RTP; even ports are used (RTP convention).
    pub rtp_ports: (u16, u16),
    /// A call whose streams all stay silent this long is ended.
    pub inactivity: Duration,
    /// Delay between `100 Trying` and `200 OK` (a CANCEL in between cancels the call).
    pub answer_delay: Duration,
    /// The jitter buffer's settings, per stream.
    pub jitter: rtp::JitterConfig,
    /// SIP over TLS, when configured.
    pub tls: Option<tls::TlsListen>,
    pub policy: Policy,
}

/// What a call must use to be accepted; a refused offer gets 488 with a Warning saying why.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Policy {
    /// Refuse calls whose INVITE did not arrive over TLS.
    pub require_tls: bool,
    /// Refuse media that is not SRTP (plain RTP lines are rejected, port 0).
    pub require_srtp: bool,
    /// Accept SDES keys over UDP or TCP, where anyone on the path can read them. Off by
    /// default: keys travel only on TLS.
    pub allow_sdes_over_udp: bool,
}

impl ServerConfig {
    pub fn new(sip_addr: SocketAddr, rtp_ports: (u16, u16)) -> Self {
        ServerConfig {
            sip_addr,
            rtp_ports,
            inactivity: Duration::from_secs(30),
            answer_delay: Duration::ZERO,
            jitter: rtp::JitterConfig::default(),
            tls: None,
            policy: Policy::default(),
        }
    }
}

/// One received audio stream of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamInfo {
    /// Position among the call's recorded streams (0-based, in SDP order).
    pub index: usize,
    /// The SDP `a=label`, which SIPREC metadata refers to.
    pub label: Option<String>,
    pub codec: Codec,
    /// The local port this stream is received on.
    pub rtp_port: u16,
    /// Who sends on this stream, from SIPREC metadata.
    pub participant: Option<Participant>,
    /// The SRTP suite protecting the stream; `None` for plain RTP.
    pub srtp: Option<srtp::Suite>,
}

/// What a call's media layer dropped, reported when the call ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MediaStats {
    /// SRTP packets that failed authentication (forged, altered, or under another key).
    pub srtp_unauthentic: u64,
    /// SRTP packets refused as replays (seen before, or older than the replay window).
    pub srtp_replayed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    Bye,
    Cancel,
    Inactivity,
    /// The server was shut down.
    Shutdown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallEvent {
    Started {
        /// hushline's own id for the call (not the SIP Call-ID).
        call_id: String,
        streams: Vec<StreamInfo>,
        participants: Vec<Participant>,
    },
    /// PCM at 8 kHz; per stream, in order and contiguous, gaps concealed.
    Audio {
        call_id: String,
        stream: usize,
        start: u64,
        pcm: Vec<i16>,
    },
    /// A keyed digit (RFC 4733) on the stream's 8 kHz clock.
    Digit {
        call_id: String,
        stream: usize,
        digit: char,
        span: Span,
    },
    /// A re-INVITE changed the streams or the metadata.
    Metadata {
        call_id: String,
        participants: Vec<Participant>,
        streams: Vec<StreamInfo>,
    },
    Ended {
        call_id: String,
        reason: EndReason,
        media: MediaStats,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("cannot listen for SIP over {transport} on {addr} (is the port in use, or does it need privileges?)")]
    Bind {
        transport: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("RTP port range {0:?} is invalid: give LO-HI with 1 <= LO <= HI, e.g. 20000-20999")]
    PortRange(String),
    #[error("SIP {transport} socket failed: {source}")]
    Socket {
        transport: &'static str,
        source: std::io::Error,
    },
}

/// Parses `--rtp-ports LO-HI`.
pub fn parse_port_range(s: &str) -> Result<(u16, u16), LiveError> {
    let bad = || LiveError::PortRange(s.to_string());
    let (lo, hi) = s.split_once('-').ok_or_else(bad)?;
    let lo: u16 = lo.trim().parse().map_err(|_| bad())?;
    let hi: u16 = hi.trim().parse().map_err(|_| bad())?;
    if lo == 0 || lo > hi {
        return Err(bad());
    }
    Ok((lo, hi))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges() {
        assert_eq!(parse_port_range("20000-20999").unwrap(), (20000, 20999));
        assert_eq!(parse_port_range("7000-7000").unwrap(), (7000, 7000));
        for bad in ["", "5", "0-10", "10-5", "a-b", "1-70000"] {
            assert!(parse_port_range(bad).is_err(), "{bad}");
        }
    }
}

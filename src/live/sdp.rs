//! SDP offers and answers (RFC 4566, RFC 3264) for a receive-only recorder: reads the
//! offered media lines, picks G.711 and telephone-event per audio stream (and an SDES
//! crypto suite for SRTP, RFC 4568), and writes an answer with one `recvonly` line per
//! offered line, in order, labels echoed.
//!
//! Must not open sockets or know about calls; ports and our own keys come from the
//! caller. Offers carry keys: never log an offer or an answer.

use std::fmt::Write as _;
use std::net::IpAddr;

use super::srtp::{self, CryptoAttr, MasterKey, Suite};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    #[error("SDP does not start with v=0")]
    Version,
    #[error("SDP line {0} is not of the form x=value")]
    Line(usize),
    #[error("SDP media line {0} is malformed (want: m=<media> <port> <proto> <fmt>...)")]
    Media(usize),
    #[error("SDP rtpmap on line {0} is malformed")]
    RtpMap(usize),
    #[error(
        "SDP crypto attribute on line {0} is malformed (want: a=crypto:<tag> <suite> inline:<key>)"
    )]
    Crypto(usize),
    #[error("SDP label on line {0} is not a token")]
    Label(usize),
    #[error("SDP offers no media")]
    NoMedia,
}

/// The audio codecs this recorder decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    Pcmu,
    Pcma,
    /// Linear PCM from a local source (the microphone); never offered or accepted in SDP.
    Pcm16,
}

impl Codec {
    pub fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
            Codec::Pcm16 => "PCM16",
        }
    }
}

/// Direction attribute of a media line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferedMedia {
    pub kind: String,
    pub port: u16,
    pub proto: String,
    pub formats: Vec<String>,
    /// `(payload type, encoding name, clock rate)` from `a=rtpmap`.
    pub rtpmap: Vec<(u8, String, u32)>,
    pub label: Option<String>,
    pub direction: Option<Direction>,
    /// `a=crypto` attributes in offered order (keys withheld from `Debug`).
    pub crypto: Vec<CryptoAttr>,
}

/// The choice made for one accepted audio line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selected {
    pub codec: Codec,
    pub audio_pt: u8,
    pub event_pt: Option<u8>,
    /// The offered `a=crypto` taken (its tag and suite); `None` for plain RTP.
    pub srtp: Option<(u32, Suite)>,
}

/// What an offer may use, from the signalling it came on and the server's policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaRules {
    /// SDES keys may be taken from this offer (it came over TLS, or the operator allowed
    /// keys in the clear).
    pub sdes_keys: bool,
    /// Plain RTP lines are refused.
    pub require_srtp: bool,
}

impl OfferedMedia {
    fn encoding(&self, pt: u8) -> Option<(String, u32)> {
        if let Some((_, name, rate)) = self.rtpmap.iter().find(|(p, _, _)| *p == pt) {
            return Some((name.to_ascii_lowercase(), *rate));
        }
        match pt {
            0 => Some(("pcmu".into(), 8000)),
            8 => Some(("pcma".into(), 8000)),
            _ => None,
        }
    }

    /// Whether the line is SRTP by its profile (`RTP/SAVP`).
    pub fn is_savp(&self) -> bool {
        self.proto.eq_ignore_ascii_case("RTP/SAVP")
    }

    /// The first offered crypto attribute we can use, in the offerer's order.
    pub fn usable_crypto(&self) -> Option<&CryptoAttr> {
        self.crypto.iter().find(|c| c.key.is_some())
    }

    /// The offer's key for the crypto attribute `tag` chose.
    pub fn offered_key(&self, tag: u32) -> Option<&MasterKey> {
        self.crypto
            .iter()
            .find(|c| c.tag == tag)
            .and_then(|c| c.key.as_ref())
    }

    /// The offerer's most preferred G.711 format, telephone-event at 8 kHz if offered,
    /// and the first usable crypto suite on `RTP/SAVP` (or on `RTP/AVP` with `a=crypto`,
    /// best-effort SRTP, when keys may be taken); `None` when this line cannot be recorded.
    pub fn select(&self, rules: MediaRules) -> Option<Selected> {
        let plain = self.proto.eq_ignore_ascii_case("RTP/AVP");
        if !self.kind.eq_ignore_ascii_case("audio") || self.port == 0 || !(plain || self.is_savp())
        {
            return None;
        }
        let crypto = if rules.sdes_keys {
            self.usable_crypto()
        } else {
            None
        };
        let srtp = crypto.and_then(|c| Some((c.tag, c.key.as_ref()?.suite())));
        if srtp.is_none() && (self.is_savp() || rules.require_srtp) {
            return None;
        }
        let pts = self.formats.iter().filter_map(|f| f.parse::<u8>().ok());
        let mut codec = None;
        let mut event_pt = None;
        for pt in pts {
            match self.encoding(pt) {
                Some((n, 8000)) if n == "pcmu" && codec.is_none() => {
                    codec = Some((Codec::Pcmu, pt))
                }
                Some((n, 8000)) if n == "pcma" && codec.is_none() => {
                    codec = Some((Codec::Pcma, pt))
                }
                Some((n, 8000)) if n == "telephone-event" && event_pt.is_none() => {
                    event_pt = Some(pt)
                }
                _ => {}
            }
        }
        let (codec, audio_pt) = codec?;
        Some(Selected {
            codec,
            audio_pt,
            event_pt,
            srtp,
        })
    }
}

/// Why no line of an offer could be accepted, for the Warning of a 488.
pub fn refusal(offer: &[OfferedMedia], rules: MediaRules) -> String {
    let audio: Vec<&OfferedMedia> = offer
        .iter()
        .filter(|m| m.kind.eq_ignore_ascii_case("audio") && m.port != 0)
        .collect();
    let keyed = audio.iter().any(|m| !m.crypto.is_empty());
    if keyed && !rules.sdes_keys {
        return "SDES keys (a=crypto) are accepted only over TLS (sips: or transport=tls)".into();
    }
    if audio.iter().any(|m| m.is_savp()) && audio.iter().all(|m| m.usable_crypto().is_none()) {
        let names: Vec<&str> = Suite::ALL.iter().map(|s| s.name()).collect();
        return format!(
            "no usable a=crypto offered (one inline key, no MKI or session parameters; suites: {})",
            names.join(", ")
        );
    }
    if rules.require_srtp {
        return "SRTP required: plain RTP/AVP media is refused; offer RTP/SAVP with a=crypto"
            .into();
    }
    "no RTP/AVP or RTP/SAVP audio stream with PCMU or PCMA offered".into()
}

/// Parses an offer. Strict on structure (every line `x=value`, well-formed media and
/// rtpmap lines), lenient on what real clients omit (`o=`, `s=`, `t=`) and on bare LF
/// line ends.
pub fn parse_offer(text: &str) -> Result<Vec<OfferedMedia>, SdpError> {
    let mut lines = text.lines().map(|l| l.trim_end_matches('\r')).enumerate();
    match lines.next() {
        Some((_, "v=0")) => {}
        _ => return Err(SdpError::Version),
    }
    let mut media: Vec<OfferedMedia> = Vec::new();
    let mut session_dir = None;
    for (i, line) in lines {
        let n = i + 1;
        if line.is_empty() {
            continue;
        }
        let b = line.as_bytes();
        if b.len() < 2 || b[1] != b'=' || !b[0].is_ascii_lowercase() {
            return Err(SdpError::Line(n));
        }
        let value = &line[2..];
        match b[0] {
            b'm' => media.push(parse_media(value).ok_or(SdpError::Media(n))?),
            b'a' => {
                let (name, val) = value.split_once(':').unwrap_or((value, ""));
                let dir = match name {
                    "sendrecv" => Some(Direction::SendRecv),
                    "sendonly" => Some(Direction::SendOnly),
                    "recvonly" => Some(Direction::RecvOnly),
                    "inactive" => Some(Direction::Inactive),
                    _ => None,
                };
                match media.last_mut() {
                    None => {
                        if dir.is_some() {
                            session_dir = dir;
                        }
                    }
                    Some(m) => {
                        if dir.is_some() {
                            m.direction = dir;
                        } else if name == "label" && !val.trim().is_empty() {
                            // Echoed in the answer: only a token (RFC 4574) goes back out.
                            if !is_token(val.trim()) {
                                return Err(SdpError::Label(n));
                            }
                            m.label = Some(val.trim().to_string());
                        } else if name == "rtpmap" {
                            m.rtpmap.push(parse_rtpmap(val).ok_or(SdpError::RtpMap(n))?);
                        } else if name == "crypto" {
                            m.crypto
                                .push(srtp::parse_crypto(val).map_err(|_| SdpError::Crypto(n))?);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    if media.is_empty() {
        return Err(SdpError::NoMedia);
    }
    for m in &mut media {
        if m.direction.is_none() {
            m.direction = session_dir;
        }
    }
    Ok(media)
}

fn parse_media(v: &str) -> Option<OfferedMedia> {
    let mut it = v.split(' ').filter(|s| !s.is_empty());
    let kind = it.next()?;
    let port = it.next()?;
    let proto = it.next()?;
    let formats: Vec<String> = it.map(str::to_string).collect();
    if formats.is_empty()
        || !formats.iter().all(|f| is_token(f))
        || !kind.bytes().all(|c| c.is_ascii_alphanumeric())
        || !proto
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'/')
    {
        return None;
    }
    let port = port.split_once('/').map_or(port, |(p, _)| p).parse().ok()?;
    Some(OfferedMedia {
        kind: kind.to_string(),
        port,
        proto: proto.to_string(),
        formats,
        rtpmap: Vec::new(),
        label: None,
        direction: None,
        crypto: Vec::new(),
    })
}

/// RFC 4566 `token`: what a format or label may hold, so echoing it cannot break a line.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`{|}~".contains(&b))
}

fn parse_rtpmap(v: &str) -> Option<(u8, String, u32)> {
    let (pt, enc) = v.trim().split_once(' ')?;
    let pt: u8 = pt.parse().ok()?;
    if pt > 127 {
        return None;
    }
    let mut parts = enc.trim().split('/');
    let name = parts.next()?.to_string();
    let rate = parts.next()?.parse().ok()?;
    if name.is_empty() {
        return None;
    }
    Some((pt, name, rate))
}

/// One line of the answer: the local port for an accepted audio line, `None` to
/// reject the line (port 0); for SRTP, our own key (RFC 4568: each side sends its own).
/// That key protects only media we would send, and the recorder sends none.
pub struct AnswerLine<'a> {
    pub offered: &'a OfferedMedia,
    pub accepted: Option<(u16, Selected)>,
    pub key: Option<&'a MasterKey>,
}

/// Writes the answer. `version` must rise with every re-offer answered in a dialog.
pub fn write_answer(ip: IpAddr, session_id: u64, version: u64, lines: &[AnswerLine]) -> String {
    let family = if ip.is_ipv4() { "IP4" } else { "IP6" };
    let mut s = String::with_capacity(256 + 160 * lines.len());
    let _ = write!(
        s,
        "v=0\r\no=hushline {session_id} {version} IN {family} {ip}\r\ns=hushline\r\n\
         c=IN {family} {ip}\r\nt=0 0\r\n"
    );
    for l in lines {
        let m = l.offered;
        match l.accepted {
            None => {
                let fmt = m.formats.first().map_or("0", String::as_str);
                let _ = write!(s, "m={} 0 {} {fmt}\r\n", m.kind, m.proto);
            }
            Some((port, sel)) => {
                let _ = write!(s, "m=audio {port} {} {}", m.proto, sel.audio_pt);
                if let Some(te) = sel.event_pt {
                    let _ = write!(s, " {te}");
                }
                let _ = write!(
                    s,
                    "\r\na=rtpmap:{} {}/8000\r\n",
                    sel.audio_pt,
                    sel.codec.name()
                );
                if let Some(te) = sel.event_pt {
                    let _ = write!(
                        s,
                        "a=rtpmap:{te} telephone-event/8000\r\na=fmtp:{te} 0-15\r\n"
                    );
                }
                if let (Some((tag, _)), Some(key)) = (sel.srtp, l.key) {
                    let _ = write!(s, "a=crypto:{}\r\n", srtp::answer_crypto(tag, key).as_str());
                }
                s.push_str("a=ptime:20\r\n");
                if let Some(label) = &m.label {
                    let _ = write!(s, "a=label:{label}\r\n");
                }
                let dir = match m.direction {
                    Some(Direction::RecvOnly) | Some(Direction::Inactive) => "inactive",
                    _ => "recvonly",
                };
                let _ = write!(s, "a={dir}\r\n");
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const PLAIN: MediaRules = MediaRules {
        sdes_keys: false,
        require_srtp: false,
    };
    const OVER_TLS: MediaRules = MediaRules {
        sdes_keys: true,
        require_srtp: false,
    };

    fn savp(proto: &str, crypto: &[String]) -> String {
        let mut s = format!("v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 {proto} 0 101\r\n");
        for c in crypto {
            s.push_str(&format!("a=crypto:{c}\r\n"));
        }
        s
    }

    #[test]
    fn srtp_offers_take_the_first_usable_suite_and_answer_with_our_own_key() {
        let theirs = MasterKey::generate(Suite::AeadAes128Gcm);
        let offered = [
            "1 F8_128_HMAC_SHA1_80 inline:AAAA".to_string(),
            srtp::answer_crypto(2, &theirs).to_string(),
            srtp::answer_crypto(3, &MasterKey::generate(Suite::AesCm128HmacSha1_80)).to_string(),
        ];
        let m = parse_offer(&savp("RTP/SAVP", &offered)).unwrap();
        assert!(
            !format!("{m:?}").contains(theirs.inline().as_str()),
            "Debug hides keys"
        );
        let sel = m[0].select(OVER_TLS).unwrap();
        assert_eq!(sel.srtp, Some((2, Suite::AeadAes128Gcm)));
        assert_eq!(m[0].offered_key(2), Some(&theirs));
        assert_eq!(m[0].select(PLAIN), None, "no keys over plain signalling");
        let ours = MasterKey::generate(Suite::AeadAes128Gcm);
        let line = AnswerLine {
            offered: &m[0],
            accepted: Some((30000, sel)),
            key: Some(&ours),
        };
        let answer = write_answer("127.0.0.1".parse().unwrap(), 1, 1, &[line]);
        let back = parse_offer(&answer).unwrap();
        assert_eq!(back[0].proto, "RTP/SAVP");
        assert_eq!(back[0].crypto.len(), 1);
        assert_eq!(back[0].offered_key(2), Some(&ours));
        // Best-effort SRTP (RTP/AVP with a=crypto) is SRTP when keys may be taken.
        let m = parse_offer(&savp("RTP/AVP", &offered[2..])).unwrap();
        assert_eq!(
            m[0].select(OVER_TLS).unwrap().srtp.unwrap().1,
            Suite::AesCm128HmacSha1_80
        );
        assert_eq!(m[0].select(PLAIN).unwrap().srtp, None);
    }

    /// Found by fuzzing (fuzz/regressions/sdp): a format token holding a carriage return
    /// was echoed into a rejected answer line, which then did not parse.
    #[test]
    fn control_characters_in_echoed_fields_are_refused() {
        assert_eq!(
            parse_offer("v=0\r\nm=audio 6000 RTP/AVP \r 7011\r\n"),
            Err(SdpError::Media(2))
        );
        assert_eq!(
            parse_offer("v=0\r\nm=audio 6000 RTP/AVP 0\r\na=label:a\rb\r\n"),
            Err(SdpError::Label(3))
        );
    }

    #[test]
    fn refusals_say_what_was_wrong() {
        let strict = MediaRules {
            sdes_keys: true,
            require_srtp: true,
        };
        let plain = parse_offer(&savp("RTP/AVP", &[])).unwrap();
        assert_eq!(plain[0].select(strict), None);
        assert!(refusal(&plain, strict).starts_with("SRTP required"));
        let keyed = parse_offer(&savp(
            "RTP/SAVP",
            &["1 AES_CM_128_HMAC_SHA1_32 inline:AAAA".into()],
        ));
        let keyed = keyed.unwrap();
        assert!(refusal(&keyed, PLAIN).contains("only over TLS"));
        assert!(refusal(&keyed, OVER_TLS).contains("no usable a=crypto"));
        assert_eq!(
            parse_offer("v=0\r\nm=audio 1 RTP/SAVP 0\r\na=crypto:x\r\n"),
            Err(SdpError::Crypto(3))
        );
    }

    const SIPREC_SDP: &str = "v=0\r\no=SRC 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
        m=audio 20000 RTP/AVP 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=label:0\r\na=sendonly\r\n\
        m=audio 20002 RTP/AVP 0\r\na=label:1\r\na=sendonly\r\n\
        m=audio 20004 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\na=label:2\r\na=sendonly\r\n\
        m=video 20006 RTP/AVP 96\r\n";

    #[test]
    fn three_streams_with_zero_based_labels_and_a_video_line() {
        let m = parse_offer(SIPREC_SDP).unwrap();
        assert_eq!(m.len(), 4);
        assert_eq!(m[0].label.as_deref(), Some("0"));
        let s0 = m[0].select(PLAIN).unwrap();
        assert_eq!(
            (s0.codec, s0.audio_pt, s0.event_pt),
            (Codec::Pcma, 8, Some(101))
        );
        assert_eq!(m[1].select(PLAIN).unwrap().codec, Codec::Pcmu);
        assert!(m[2].select(PLAIN).is_none(), "G.729 only");
        assert!(m[3].select(PLAIN).is_none(), "video");
        let lines: Vec<AnswerLine> = m
            .iter()
            .enumerate()
            .map(|(i, o)| AnswerLine {
                offered: o,
                accepted: o.select(PLAIN).map(|s| (30000 + 2 * i as u16, s)),
                key: None,
            })
            .collect();
        let a = write_answer("127.0.0.1".parse().unwrap(), 7, 1, &lines);
        let back = parse_offer(&a).unwrap();
        assert_eq!(back.len(), 4, "one answer line per offered line");
        assert_eq!(back[0].port, 30000);
        assert_eq!(back[0].label.as_deref(), Some("0"));
        assert_eq!(back[0].direction, Some(Direction::RecvOnly));
        assert_eq!(back[1].label.as_deref(), Some("1"));
        assert_eq!(back[2].port, 0);
        assert_eq!(back[3].port, 0);
        assert!(a.contains("a=rtpmap:101 telephone-event/8000\r\n"));
    }

    #[test]
    fn missing_labels_bare_lf_and_static_types() {
        let m = parse_offer("v=0\nc=IN IP4 1.2.3.4\nm=audio 4000 RTP/AVP 0 8\n").unwrap();
        assert_eq!(m[0].label, None);
        assert_eq!(m[0].select(PLAIN).unwrap().codec, Codec::Pcmu);
    }

    #[test]
    fn truncated_or_broken_sdp_is_refused() {
        let cut = &SIPREC_SDP[..SIPREC_SDP.find("m=audio 20002").unwrap() + 14];
        assert_eq!(parse_offer(cut), Err(SdpError::Media(10)));
        assert_eq!(parse_offer("v=0\r\ns=-\r\n"), Err(SdpError::NoMedia));
        assert_eq!(parse_offer("o=x\r\n"), Err(SdpError::Version));
        assert!(matches!(
            parse_offer("v=0\r\nm=audio 1 RTP/AVP 0\r\na=rtpmap:x\r\n"),
            Err(SdpError::RtpMap(3))
        ));
        assert!(matches!(
            parse_offer("v=0\r\nbogus\r\n"),
            Err(SdpError::Line(2))
        ));
    }

    proptest! {
        #[test]
        fn random_text_never_panics(s in "\\PC{0,400}") {
            if let Ok(m) = parse_offer(&s) {
                for o in &m { let _ = o.select(PLAIN); }
            }
        }

        #[test]
        fn truncations_never_panic(cut in 0usize..400) {
            let s = &SIPREC_SDP[..cut.min(SIPREC_SDP.len())];
            let _ = parse_offer(s);
        }
    }
}

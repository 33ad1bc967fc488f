//! SIP message syntax (RFC 3261 §7, §18.3, §20): parsing requests and responses from
//! UDP datagrams and TCP streams, and writing responses that echo the request's
//! transaction headers.
//!
//! Must not keep dialog or call state, and must not look inside bodies.

use std::fmt::Write as _;
use std::net::SocketAddr;

/// Largest SIP message accepted on any transport (a SIPREC INVITE with big metadata
/// fits many times over; anything larger is refused, not buffered).
pub const MAX_MESSAGE: usize = 256 * 1024;
const MAX_HEADERS: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SipParseError {
    #[error("SIP message has no start line")]
    Empty,
    #[error("SIP start line is malformed")]
    StartLine,
    #[error("SIP header on line {0} is malformed")]
    Header(usize),
    #[error("SIP message has more than {MAX_HEADERS} header lines")]
    TooManyHeaders,
    #[error("SIP message has no blank line after its headers")]
    Unterminated,
    #[error("SIP header section is not UTF-8")]
    Encoding,
    #[error("Content-Length is not a number")]
    ContentLength,
    #[error("SIP body is shorter than its Content-Length ({have} of {want} bytes)")]
    Truncated { have: usize, want: usize },
    #[error("SIP message is larger than {MAX_MESSAGE} bytes")]
    TooLarge,
    #[error("mandatory SIP header {0} is missing or malformed")]
    Missing(&'static str),
}

/// Header fields in arrival order; names are stored in canonical lower case with
/// compact forms expanded (`i` → `call-id`, …).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn push(&mut self, name: &str, value: impl Into<String>) {
        self.0.push((canonical_name(name), value.into()));
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub uri: String,
    pub headers: Headers,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub code: u16,
    pub reason: String,
    pub headers: Headers,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Request(Request),
    Response(Response),
}

/// What a request's headers say about its transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    pub number: u32,
    pub method: String,
}

impl Request {
    pub fn call_id(&self) -> Option<&str> {
        self.headers.get("call-id").map(str::trim)
    }

    pub fn cseq(&self) -> Option<CSeq> {
        parse_cseq(self.headers.get("cseq")?)
    }

    /// The `tag` parameter of the To header (present on in-dialog requests).
    pub fn to_tag(&self) -> Option<String> {
        tag_param(self.headers.get("to")?)
    }

    /// Option tags of every `Require` header, lower case.
    pub fn required(&self) -> Vec<String> {
        self.headers
            .get_all("require")
            .flat_map(|v| v.split(','))
            .map(|t| t.trim().to_ascii_lowercase())
            .filter(|t| !t.is_empty())
            .collect()
    }

    pub fn content_type(&self) -> Option<&str> {
        self.headers.get("content-type").map(str::trim)
    }
}

fn canonical_name(name: &str) -> String {
    let lower = name.trim().to_ascii_lowercase();
    let long = match lower.as_str() {
        "i" => "call-id",
        "m" => "contact",
        "e" => "content-encoding",
        "l" => "content-length",
        "c" => "content-type",
        "f" => "from",
        "s" => "subject",
        "k" => "supported",
        "t" => "to",
        "v" => "via",
        _ => return lower,
    };
    long.to_string()
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
}

fn parse_cseq(v: &str) -> Option<CSeq> {
    let mut it = v.split_whitespace();
    let number = it.next()?.parse().ok()?;
    let method = it.next()?;
    if it.next().is_some() || !is_token(method) {
        return None;
    }
    Some(CSeq {
        number,
        method: method.to_string(),
    })
}

/// The value of the `tag` parameter of a From/To header value.
pub fn tag_param(v: &str) -> Option<String> {
    // Parameters after the closing `>` (or after the URI when there are no brackets).
    let params = match v.rfind('>') {
        Some(i) => &v[i + 1..],
        None => v,
    };
    params.split(';').skip(1).find_map(|p| {
        let (k, val) = p.split_once('=')?;
        (k.trim().eq_ignore_ascii_case("tag") && !val.trim().is_empty())
            .then(|| val.trim().to_string())
    })
}

/// Index just past the blank line that ends the header section, if present.
fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// A parsed start line and header section; the body is not yet attached.
#[derive(Debug)]
pub struct Head {
    start: Start,
    pub headers: Headers,
}

#[derive(Debug)]
enum Start {
    Request { method: String, uri: String },
    Response { code: u16, reason: String },
}

fn parse_head(head: &[u8]) -> Result<Head, SipParseError> {
    let text = std::str::from_utf8(head).map_err(|_| SipParseError::Encoding)?;
    let mut lines = text.split("\r\n");
    let first = lines.next().ok_or(SipParseError::Empty)?;
    if first.is_empty() {
        return Err(SipParseError::Empty);
    }
    let start = parse_start(first)?;
    let mut headers = Headers::default();
    for (n, line) in lines.enumerate() {
        if line.is_empty() {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            // Folded continuation of the previous header (RFC 3261 §7.3.1).
            let last = headers.0.last_mut().ok_or(SipParseError::Header(n + 2))?;
            last.1.push(' ');
            last.1.push_str(line.trim());
            continue;
        }
        let (name, value) = line.split_once(':').ok_or(SipParseError::Header(n + 2))?;
        if !is_token(name.trim_end()) || name.starts_with(' ') {
            return Err(SipParseError::Header(n + 2));
        }
        if headers.0.len() >= MAX_HEADERS {
            return Err(SipParseError::TooManyHeaders);
        }
        headers.push(name, value.trim());
    }
    Ok(Head { start, headers })
}

fn parse_start(line: &str) -> Result<Start, SipParseError> {
    let bad = SipParseError::StartLine;
    if let Some(rest) = line.strip_prefix("SIP/2.0 ") {
        let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
        let code: u16 = code.parse().map_err(|_| bad.clone())?;
        if !(100..700).contains(&code) || code.to_string().len() != 3 {
            return Err(bad);
        }
        return Ok(Start::Response {
            code,
            reason: reason.to_string(),
        });
    }
    let mut parts = line.split(' ');
    let (Some(method), Some(uri), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad);
    };
    if !is_token(method) || uri.is_empty() || !version.eq_ignore_ascii_case("SIP/2.0") {
        return Err(bad);
    }
    if !uri.contains(':') {
        return Err(bad);
    }
    Ok(Start::Request {
        method: method.to_string(),
        uri: uri.to_string(),
    })
}

impl Head {
    pub fn content_length(&self) -> Result<Option<usize>, SipParseError> {
        match self.headers.get("content-length") {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse::<usize>()
                .map(Some)
                .map_err(|_| SipParseError::ContentLength),
        }
    }

    /// Checks that a request head has the headers every request needs (RFC 3261 §8.1.1).
    fn check(&self) -> Result<(), SipParseError> {
        let Start::Request { method, .. } = &self.start else {
            return Ok(());
        };
        for name in ["via", "from", "to", "call-id"] {
            if self.headers.get(name).is_none_or(|v| v.trim().is_empty()) {
                return Err(SipParseError::Missing(name_static(name)));
            }
        }
        match self.headers.get("cseq").and_then(parse_cseq) {
            Some(c) if &c.method == method => Ok(()),
            _ => Err(SipParseError::Missing("CSeq")),
        }
    }

    /// The message this head starts, with `body` attached; requests must pass `check`.
    fn into_message(self, body: Vec<u8>) -> Message {
        match self.start {
            Start::Response { code, reason } => Message::Response(Response {
                code,
                reason,
                headers: self.headers,
                body,
            }),
            Start::Request { method, uri } => Message::Request(Request {
                method,
                uri,
                headers: self.headers,
                body,
            }),
        }
    }

    /// A request built from this head without a body, only to address an error
    /// response when the rest of the message was unusable.
    pub fn as_request(&self) -> Option<Request> {
        match &self.start {
            Start::Request { method, uri } => Some(Request {
                method: method.clone(),
                uri: uri.clone(),
                headers: self.headers.clone(),
                body: Vec::new(),
            }),
            Start::Response { .. } => None,
        }
    }
}

fn name_static(name: &str) -> &'static str {
    match name {
        "via" => "Via",
        "from" => "From",
        "to" => "To",
        _ => "Call-ID",
    }
}

/// Outcome of parsing one message: the head alone survives when the body or the
/// mandatory headers are bad, so the caller can still answer 400.
pub type Parsed = Result<Message, (SipParseError, Option<Head>)>;

/// Parses one UDP datagram. Without Content-Length the body is the rest of the
/// datagram (RFC 3261 §18.3); bytes after the declared body are ignored.
pub fn parse_datagram(buf: &[u8]) -> Parsed {
    if buf.len() > MAX_MESSAGE {
        return Err((SipParseError::TooLarge, None));
    }
    let buf = trim_leading_crlf(buf);
    let end = head_end(buf).ok_or((SipParseError::Unterminated, None))?;
    let head = parse_head(&buf[..end - 4]).map_err(|e| (e, None))?;
    let rest = &buf[end..];
    let want = match head.content_length() {
        Ok(Some(n)) => n,
        Ok(None) => rest.len(),
        Err(e) => return Err((e, Some(head))),
    };
    if rest.len() < want {
        return Err((
            SipParseError::Truncated {
                have: rest.len(),
                want,
            },
            Some(head),
        ));
    }
    if let Err(e) = head.check() {
        return Err((e, Some(head)));
    }
    Ok(head.into_message(rest[..want].to_vec()))
}

fn trim_leading_crlf(buf: &[u8]) -> &[u8] {
    let n = buf
        .iter()
        .take_while(|b| **b == b'\r' || **b == b'\n')
        .count();
    &buf[n..]
}

/// What a TCP byte stream holds at its front.
#[derive(Debug)]
pub enum StreamFrame {
    /// Not a whole message yet; read more.
    Incomplete,
    /// `n` bytes of CRLF keep-alive (RFC 5626 §3.5.1) to consume; answer `n >= 4` with CRLF.
    KeepAlive(usize),
    /// A message and how many bytes it used.
    Message(Parsed, usize),
}

/// Frames the next message of a TCP stream. Stream transports need Content-Length;
/// a missing one means an empty body (RFC 3261 §18.3).
pub fn parse_stream(buf: &[u8]) -> Result<StreamFrame, SipParseError> {
    let crlf = buf.len() - trim_leading_crlf(buf).len();
    if crlf > 0 {
        return Ok(StreamFrame::KeepAlive(crlf));
    }
    let Some(end) = head_end(buf) else {
        if buf.len() > MAX_MESSAGE {
            return Err(SipParseError::TooLarge);
        }
        return Ok(StreamFrame::Incomplete);
    };
    let head = parse_head(&buf[..end - 4])?;
    let want = match head.content_length() {
        Ok(n) => n.unwrap_or(0),
        Err(e) => return Ok(StreamFrame::Message(Err((e, Some(head))), buf.len())),
    };
    if end + want > MAX_MESSAGE {
        return Err(SipParseError::TooLarge);
    }
    if buf.len() < end + want {
        return Ok(StreamFrame::Incomplete);
    }
    let parsed = match head.check() {
        Ok(()) => Ok(head.into_message(buf[end..end + want].to_vec())),
        Err(e) => Err((e, Some(head))),
    };
    Ok(StreamFrame::Message(parsed, end + want))
}

/// Builds a response to `req`: Via (top one completed with `received`/`rport` for
/// `peer`), From, To (with `to_tag` added when it has none), Call-ID and CSeq copied,
/// then `extra` headers and the body.
pub fn response(
    req: &Request,
    code: u16,
    reason: &str,
    to_tag: Option<&str>,
    peer: SocketAddr,
    extra: &[(&str, String)],
    body: Option<(&str, &[u8])>,
) -> Vec<u8> {
    let mut out = String::with_capacity(512);
    let _ = write!(out, "SIP/2.0 {code} {reason}\r\n");
    for (i, via) in req.headers.get_all("via").enumerate() {
        let v = if i == 0 {
            complete_top_via(via, peer)
        } else {
            via.to_string()
        };
        let _ = write!(out, "Via: {v}\r\n");
    }
    for (name, key) in [("From", "from"), ("To", "to"), ("Call-ID", "call-id")] {
        if let Some(v) = req.headers.get(key) {
            let v = if key == "to" && tag_param(v).is_none() {
                match to_tag {
                    Some(t) => format!("{v};tag={t}"),
                    None => v.to_string(),
                }
            } else {
                v.to_string()
            };
            let _ = write!(out, "{name}: {v}\r\n");
        }
    }
    if let Some(v) = req.headers.get("cseq") {
        let _ = write!(out, "CSeq: {v}\r\n");
    }
    // RFC 3261 12.1.1: a proxy that record-routed the request (Kamailio in front of a
    // recorder pool) stays on the dialog's path only if the answer carries its route.
    for rr in req.headers.get_all("record-route") {
        let _ = write!(out, "Record-Route: {rr}\r\n");
    }
    let _ = write!(out, "Server: hushline\r\n");
    for (k, v) in extra {
        let _ = write!(out, "{k}: {v}\r\n");
    }
    let mut bytes = match body {
        Some((ctype, b)) => {
            let _ = write!(
                out,
                "Content-Type: {ctype}\r\nContent-Length: {}\r\n\r\n",
                b.len()
            );
            let mut v = out.into_bytes();
            v.extend_from_slice(b);
            return v;
        }
        None => {
            out.push_str("Content-Length: 0\r\n\r\n");
            out.into_bytes()
        }
    };
    bytes.shrink_to_fit();
    bytes
}

/// RFC 3261 §18.2.1 and RFC 3581: record where the request really came from so the
/// response can be routed back through NATs.
fn complete_top_via(via: &str, peer: SocketAddr) -> String {
    let (first, rest) = split_first_value(via);
    let mut params: Vec<String> = first.split(';').map(|p| p.trim().to_string()).collect();
    let sent_by_host = params
        .first()
        .and_then(|p| p.split_whitespace().nth(1))
        .map(|h| {
            let h = h.trim_start_matches('[');
            h.split(']')
                .next()
                .unwrap_or(h)
                .rsplit_once(':')
                .map_or(h, |(a, _)| a)
        })
        .unwrap_or("")
        .to_string();
    let peer_ip = peer.ip().to_string();
    let mut has_received = false;
    for p in params.iter_mut().skip(1) {
        if p.eq_ignore_ascii_case("rport") {
            *p = format!("rport={}", peer.port());
        }
        if p.to_ascii_lowercase().starts_with("received=") {
            has_received = true;
        }
    }
    if !has_received && sent_by_host != peer_ip {
        params.push(format!("received={peer_ip}"));
    }
    let mut v = params.join(";");
    if let Some(r) = rest {
        v.push(',');
        v.push_str(r);
    }
    v
}

/// Splits `a, b, c` at the first comma outside quotes.
fn split_first_value(v: &str) -> (&str, Option<&str>) {
    let mut quoted = false;
    for (i, c) in v.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => return (&v[..i], Some(&v[i + 1..])),
            _ => {}
        }
    }
    (v, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const INVITE: &str = "INVITE sip:rec@127.0.0.1:5060 SIP/2.0\r\n\
        v: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK1;rport\r\n\
        From: <sip:src@10.0.0.1>;tag=abc\r\n\
        To: <sip:rec@127.0.0.1>\r\n\
        i: call-1@10.0.0.1\r\n\
        CSeq: 1 INVITE\r\n\
        Subject: a folded\r\n  header\r\n\
        Content-Type: application/sdp\r\n\
        Content-Length: 4\r\n\r\nv=0\r\nEXTRA";

    fn req(buf: &[u8]) -> Request {
        match parse_datagram(buf) {
            Ok(Message::Request(r)) => r,
            other => panic!("not a request: {other:?}"),
        }
    }

    #[test]
    fn parses_request_with_compact_and_folded_headers() {
        let r = req(INVITE.as_bytes());
        assert_eq!(r.method, "INVITE");
        assert_eq!(r.call_id(), Some("call-1@10.0.0.1"));
        assert_eq!(r.cseq().unwrap().number, 1);
        assert_eq!(r.headers.get("subject"), Some("a folded header"));
        assert_eq!(r.body, b"v=0\r");
        assert_eq!(r.to_tag(), None);
    }

    #[test]
    fn response_echoes_transaction_and_fills_via() {
        let r = req(INVITE.as_bytes());
        let peer: SocketAddr = "10.0.0.9:5999".parse().unwrap();
        let out = response(
            &r,
            200,
            "OK",
            Some("xyz"),
            peer,
            &[],
            Some(("application/sdp", b"v=0\r\n")),
        );
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("SIP/2.0 200 OK\r\n"));
        assert!(text.contains(
            "Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK1;rport=5999;received=10.0.0.9\r\n"
        ));
        assert!(text.contains("To: <sip:rec@127.0.0.1>;tag=xyz\r\n"));
        assert!(text.contains("CSeq: 1 INVITE\r\n"));
        assert!(text.ends_with("Content-Length: 5\r\n\r\nv=0\r\n"));
        match parse_datagram(text.as_bytes()) {
            Ok(Message::Response(resp)) => assert_eq!(resp.code, 200),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_proxy_route_is_copied_into_the_answer() {
        let routed = INVITE.replace(
            "CSeq: 1 INVITE\r\n",
            "CSeq: 1 INVITE\r\nRecord-Route: <sip:10.0.0.2;lr>\r\nRecord-Route: <sip:10.0.0.3;lr>\r\n",
        );
        let r = req(routed.as_bytes());
        let peer: SocketAddr = "10.0.0.9:5999".parse().unwrap();
        let text = String::from_utf8(response(&r, 200, "OK", Some("t"), peer, &[], None)).unwrap();
        assert!(
            text.contains("Record-Route: <sip:10.0.0.2;lr>\r\nRecord-Route: <sip:10.0.0.3;lr>\r\n"),
            "{text}"
        );
    }

    #[test]
    fn rejects_bad_messages_with_reasons() {
        let short = INVITE.replace("Content-Length: 4", "Content-Length: 400");
        assert!(matches!(
            parse_datagram(short.as_bytes()),
            Err((SipParseError::Truncated { .. }, Some(_)))
        ));
        let no_cseq = INVITE.replace("CSeq: 1 INVITE\r\n", "");
        assert!(matches!(
            parse_datagram(no_cseq.as_bytes()),
            Err((SipParseError::Missing("CSeq"), Some(_)))
        ));
        assert!(matches!(
            parse_datagram(b"HELLO\r\n\r\n"),
            Err((SipParseError::StartLine, None))
        ));
        assert!(parse_datagram(b"INVITE sip:a SIP/2.0\r\nVia x\r\n\r\n").is_err());
        assert!(parse_datagram(b"INVITE sip:a SIP/2.0\r\n").is_err());
    }

    #[test]
    fn tcp_framing_waits_for_the_whole_body() {
        let msg = INVITE.as_bytes();
        let head = msg.len() - "v=0\r\nEXTRA".len();
        assert!(matches!(
            parse_stream(&msg[..head + 2]),
            Ok(StreamFrame::Incomplete)
        ));
        match parse_stream(msg).unwrap() {
            StreamFrame::Message(Ok(Message::Request(r)), used) => {
                assert_eq!(r.body, b"v=0\r");
                assert_eq!(used, head + 4);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_stream(b"\r\n\r\nINV"),
            Ok(StreamFrame::KeepAlive(4))
        ));
    }

    #[test]
    fn tag_parameter_is_found_after_the_uri() {
        assert_eq!(
            tag_param("<sip:a@b;tag=no>;tag=yes").as_deref(),
            Some("yes")
        );
        assert_eq!(tag_param("sip:a@b;tag=t1").as_deref(), Some("t1"));
        assert_eq!(tag_param("<sip:a@b>"), None);
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = parse_datagram(&bytes);
            let _ = parse_stream(&bytes);
        }

        #[test]
        fn mutated_invites_never_panic(cut in 0usize..400, flip in 0usize..400, byte in any::<u8>()) {
            let mut b = INVITE.as_bytes().to_vec();
            let n = b.len();
            b[flip % n] = byte;
            b.truncate(cut.min(n));
            let _ = parse_datagram(&b);
            let _ = parse_stream(&b);
        }
    }
}

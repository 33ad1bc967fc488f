//! INVITE bodies: plain SDP or a SIPREC `multipart/mixed` body (RFC 7866 §9) holding SDP
//! and RFC 7865 recording metadata, and the metadata's participants and streams.
//!
//! Must not choose codecs or ports (that is `sdp`) and must not log metadata: names and
//! addresses of participants are personal data.

use super::xml::{self, Element};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("INVITE has no body; an SDP offer is required (offerless INVITEs are not supported)")]
    Empty,
    #[error("body type {0:?} is not supported; send application/sdp or multipart/mixed")]
    UnsupportedType(String),
    #[error("multipart body has no boundary parameter")]
    NoBoundary,
    #[error("multipart body is malformed: {0}")]
    Multipart(&'static str),
    #[error("multipart body has no application/sdp part")]
    NoSdp,
    #[error("body is not UTF-8 text")]
    Encoding,
    #[error("recording metadata is not well-formed XML: {0}")]
    Xml(#[from] xml::XmlError),
    #[error("recording metadata root is <{0}>, expected <recording>")]
    NotRecording(String),
}

/// A participant of the recorded call (RFC 7865 §6.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Participant {
    /// `participant_id` as sent (base64 in RFC 7865, anything in practice).
    pub id: String,
    pub name: Option<String>,
    pub aor: Option<String>,
}

/// A media stream described in the metadata (RFC 7865 §6.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaStream {
    pub id: String,
    /// Matches an SDP `a=label`.
    pub label: Option<String>,
    /// `participant_id`s that send on this stream.
    pub senders: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    pub participants: Vec<Participant>,
    pub streams: Vec<MetaStream>,
}

impl Metadata {
    /// The participant who sends on the stream with this SDP label, or, when the SDP
    /// has no labels, on the `index`-th described stream.
    pub fn sender_of(&self, label: Option<&str>, index: usize) -> Option<&Participant> {
        let stream = match label {
            Some(l) => self.streams.iter().find(|s| s.label.as_deref() == Some(l)),
            None => self.streams.get(index),
        }?;
        let id = stream.senders.first()?;
        self.participants.iter().find(|p| &p.id == id)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body {
    pub sdp: String,
    pub metadata: Option<Metadata>,
}

fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

fn is_metadata_type(t: &str) -> bool {
    t == "application/rs-metadata+xml" || t == "application/rs-metadata"
}

/// Splits an INVITE body by its Content-Type.
pub fn split_body(content_type: Option<&str>, body: &[u8]) -> Result<Body, BodyError> {
    if body.is_empty() {
        return Err(BodyError::Empty);
    }
    let ct = content_type.unwrap_or("application/sdp");
    match media_type(ct).as_str() {
        "application/sdp" => Ok(Body {
            sdp: text(body)?,
            metadata: None,
        }),
        "multipart/mixed" | "multipart/related" => {
            let boundary = param(ct, "boundary").ok_or(BodyError::NoBoundary)?;
            let mut sdp = None;
            let mut metadata = None;
            for (headers, content) in parts(body, &boundary)? {
                let t = headers
                    .iter()
                    .find(|(n, _)| n == "content-type")
                    .map(|(_, v)| media_type(v))
                    .unwrap_or_else(|| "text/plain".into());
                if t == "application/sdp" && sdp.is_none() {
                    sdp = Some(text(content)?);
                } else if is_metadata_type(&t) && metadata.is_none() {
                    metadata = Some(parse_metadata(&text(content)?)?);
                }
            }
            Ok(Body {
                sdp: sdp.ok_or(BodyError::NoSdp)?,
                metadata,
            })
        }
        other => Err(BodyError::UnsupportedType(other.to_string())),
    }
}

/// Body bytes as UTF-8 text.
pub fn text(b: &[u8]) -> Result<String, BodyError> {
    String::from_utf8(b.to_vec()).map_err(|_| BodyError::Encoding)
}

fn param(header: &str, name: &str) -> Option<String> {
    header.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        if !k.trim().eq_ignore_ascii_case(name) {
            return None;
        }
        let v = v.trim().trim_matches('"');
        (!v.is_empty()).then(|| v.to_string())
    })
}

type Part<'a> = (Vec<(String, String)>, &'a [u8]);

/// RFC 2046 §5.1.1 multipart parsing; accepts CRLF or bare LF line ends.
fn parts<'a>(body: &'a [u8], boundary: &str) -> Result<Vec<Part<'a>>, BodyError> {
    let delim = format!("--{boundary}");
    let d = delim.as_bytes();
    let mut starts = Vec::new();
    let mut i = 0;
    while i + d.len() <= body.len() {
        let at_line_start = i == 0 || body[i - 1] == b'\n';
        if at_line_start && &body[i..i + d.len()] == d {
            starts.push(i);
            i += d.len();
        } else {
            i += 1;
        }
    }
    if starts.len() < 2 {
        return Err(BodyError::Multipart("fewer than two boundary lines"));
    }
    let mut out = Vec::new();
    for w in starts.windows(2) {
        let after = w[0] + d.len();
        if body[after..].starts_with(b"--") {
            break;
        }
        let line_end = body[after..]
            .iter()
            .position(|b| *b == b'\n')
            .ok_or(BodyError::Multipart("boundary line has no end"))?;
        let part = &body[after + line_end + 1..w[1]];
        // The CRLF before the next boundary belongs to the boundary.
        let part = part.strip_suffix(b"\n").unwrap_or(part);
        let part = part.strip_suffix(b"\r").unwrap_or(part);
        out.push(split_part(part)?);
    }
    if out.is_empty() {
        return Err(BodyError::Multipart("no parts"));
    }
    Ok(out)
}

fn split_part(part: &[u8]) -> Result<Part<'_>, BodyError> {
    let mut headers = Vec::new();
    let mut i = 0;
    loop {
        let nl = part[i..].iter().position(|b| *b == b'\n');
        let line_end = nl.map_or(part.len(), |n| i + n);
        let line = &part[i..line_end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let next = (line_end + 1).min(part.len());
        if line.is_empty() {
            return Ok((headers, &part[next..]));
        }
        let line = std::str::from_utf8(line).map_err(|_| BodyError::Encoding)?;
        let (k, v) = line
            .split_once(':')
            .ok_or(BodyError::Multipart("part header without a colon"))?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        if nl.is_none() {
            return Err(BodyError::Multipart(
                "part has no blank line after its headers",
            ));
        }
        i = next;
    }
}

/// Reads RFC 7865 metadata. Also accepts the pre-RFC draft layout where `<send>`
/// sits inside `<participant>` instead of a `<participantstreamassoc>`.
pub fn parse_metadata(text: &str) -> Result<Metadata, BodyError> {
    let root = xml::parse(text)?;
    if root.name != "recording" {
        return Err(BodyError::NotRecording(root.name));
    }
    let mut md = Metadata::default();
    let mut sends: Vec<(String, String)> = Vec::new();
    for p in root.children_named("participant") {
        let id = id_of(p, "participant_id");
        let name_id = p.child("nameID").or_else(|| p.child("nameId"));
        let aor = name_id
            .and_then(|n| n.attr("aor"))
            .or_else(|| p.child("aor").map(|a| a.text.trim()))
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        let name = name_id
            .and_then(|n| n.child("name"))
            .or_else(|| p.child("name"))
            .map(|n| n.text.trim().to_string())
            .filter(|s| !s.is_empty());
        for s in p.children_named("send") {
            sends.push((s.text.trim().to_string(), id.clone()));
        }
        md.participants.push(Participant { id, name, aor });
    }
    for s in root.children_named("stream") {
        md.streams.push(MetaStream {
            id: id_of(s, "stream_id"),
            label: s
                .child("label")
                .map(|l| l.text.trim().to_string())
                .filter(|l| !l.is_empty()),
            senders: Vec::new(),
        });
    }
    for a in root.children_named("participantstreamassoc") {
        let pid = id_of(a, "participant_id");
        for s in a.children_named("send") {
            sends.push((s.text.trim().to_string(), pid.clone()));
        }
    }
    for (stream_id, pid) in sends {
        if let Some(s) = md.streams.iter_mut().find(|s| s.id == stream_id) {
            if !s.senders.contains(&pid) {
                s.senders.push(pid);
            }
        }
    }
    Ok(md)
}

fn id_of(e: &Element, attr: &str) -> String {
    e.attr(attr)
        .or_else(|| e.attr("id"))
        .unwrap_or("")
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    pub const METADATA: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<recording xmlns='urn:ietf:params:xml:ns:recording:1'>
  <datamode>complete</datamode>
  <session session_id="hVpd7YQgRW2nD22h7q60JQ=="><sipSessionID>ab30317f1a784dc4</sipSessionID></session>
  <participant participant_id="srfBElmCRp2QB23b7Mpk0w==">
    <nameID aor="sip:alice@example.com"><name xml:lang="en">Alice</name></nameID>
  </participant>
  <participant participant_id="zSfPoSvdSDCmU3A3TRDxAw==">
    <nameID aor="sip:bob@example.com"><name>Bob</name></nameID>
  </participant>
  <stream stream_id="UAAMm5GRQKSCMVvLyl4rFw==" session_id="hVpd7YQgRW2nD22h7q60JQ=="><label>96</label></stream>
  <stream stream_id="i1Pz3to5hGk8fuXl+PbwCw==" session_id="hVpd7YQgRW2nD22h7q60JQ=="><label>97</label></stream>
  <participantstreamassoc participant_id="srfBElmCRp2QB23b7Mpk0w==">
    <send>UAAMm5GRQKSCMVvLyl4rFw==</send><recv>i1Pz3to5hGk8fuXl+PbwCw==</recv>
  </participantstreamassoc>
  <participantstreamassoc participant_id="zSfPoSvdSDCmU3A3TRDxAw==">
    <send>i1Pz3to5hGk8fuXl+PbwCw==</send><recv>UAAMm5GRQKSCMVvLyl4rFw==</recv>
  </participantstreamassoc>
</recording>"#;

    fn multipart(meta_type: &str, nl: &str) -> Vec<u8> {
        let sdp = "v=0\r\nm=audio 1 RTP/AVP 0\r\na=label:96\r\n";
        format!(
            "--OSS-unique-boundary-42{nl}Content-Type: application/sdp{nl}{nl}{sdp}{nl}\
             --OSS-unique-boundary-42{nl}Content-Type: {meta_type}{nl}Content-Disposition: recording-session{nl}{nl}\
             {METADATA}{nl}--OSS-unique-boundary-42--{nl}"
        )
        .into_bytes()
    }

    #[test]
    fn rfc7865_metadata_maps_labels_to_senders() {
        let md = parse_metadata(METADATA).unwrap();
        assert_eq!(md.participants.len(), 2);
        assert_eq!(md.participants[0].name.as_deref(), Some("Alice"));
        assert_eq!(
            md.participants[1].aor.as_deref(),
            Some("sip:bob@example.com")
        );
        assert_eq!(
            md.sender_of(Some("96"), 0).unwrap().name.as_deref(),
            Some("Alice")
        );
        assert_eq!(
            md.sender_of(Some("97"), 1).unwrap().name.as_deref(),
            Some("Bob")
        );
        assert_eq!(
            md.sender_of(None, 1).unwrap().name.as_deref(),
            Some("Bob"),
            "by order without labels"
        );
        assert!(md.sender_of(Some("5"), 0).is_none());
    }

    #[test]
    fn multipart_with_either_metadata_type_and_line_ending() {
        for (t, nl) in [
            ("application/rs-metadata+xml", "\r\n"),
            ("application/rs-metadata", "\r\n"),
            ("application/rs-metadata+xml", "\n"),
        ] {
            let b = split_body(
                Some("multipart/mixed;boundary=\"OSS-unique-boundary-42\""),
                &multipart(t, nl),
            )
            .unwrap();
            assert!(
                b.sdp.starts_with("v=0") && b.sdp.ends_with("a=label:96\r\n"),
                "{t} {nl:?}"
            );
            assert_eq!(b.metadata.unwrap().streams.len(), 2);
        }
    }

    #[test]
    fn draft_layout_with_send_inside_participant() {
        let md = parse_metadata(
            "<recording><participant id='p1'><aor>sip:x@y</aor><send>s1</send></participant>\
             <stream id='s1'><label>1</label></stream></recording>",
        )
        .unwrap();
        assert_eq!(
            md.sender_of(Some("1"), 0).unwrap().aor.as_deref(),
            Some("sip:x@y")
        );
    }

    #[test]
    fn refuses_unusable_bodies() {
        assert_eq!(split_body(None, b""), Err(BodyError::Empty));
        assert!(matches!(
            split_body(Some("text/plain"), b"x"),
            Err(BodyError::UnsupportedType(_))
        ));
        assert_eq!(
            split_body(Some("multipart/mixed"), b"x"),
            Err(BodyError::NoBoundary)
        );
        let only_meta =
            b"--b\r\nContent-Type: application/rs-metadata\r\n\r\n<recording/>\r\n--b--\r\n";
        assert_eq!(
            split_body(Some("multipart/mixed;boundary=b"), only_meta),
            Err(BodyError::NoSdp)
        );
        assert!(matches!(
            parse_metadata("<other/>"),
            Err(BodyError::NotRecording(_))
        ));
    }

    proptest! {
        #[test]
        fn truncated_multipart_never_panics(cut in 0usize..3000) {
            let b = multipart("application/rs-metadata+xml", "\r\n");
            let _ = split_body(Some("multipart/mixed;boundary=OSS-unique-boundary-42"), &b[..cut.min(b.len())]);
        }

        #[test]
        fn random_bodies_never_panic(b in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = split_body(Some("multipart/mixed;boundary=b"), &b);
        }
    }
}

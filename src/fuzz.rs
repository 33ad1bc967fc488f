//! Entry points for the fuzz targets (`fuzz/`, cargo-fuzz) and the corpus replay test
//! (`tests/fuzz_corpus.rs`): each feeds arbitrary bytes to the parsers that face the
//! network or the disk, as they would arrive, and checks what must hold for any input
//! (no panic, our own output parses, tampering is never accepted).
//!
//! Not part of the product: nothing else calls these. Must not hold real keys.

use std::time::{Duration, Instant};

use crate::live::rtp::{JitterConfig, RtpPacket};
use crate::live::sdp::{self, AnswerLine, Codec, MediaRules, Selected};
use crate::live::sip::{self, Message, StreamFrame};
use crate::live::srtp::{self, Suite};
use crate::live::stream::{Output, StreamDecoder};
use crate::live::{siprec, xml};
use crate::store::{self, container};

/// A fuzz target: any bytes in, a panic on a broken invariant.
pub type Target = fn(&[u8]);

/// The fuzz targets, by the name `fuzz/` and the corpus folders use.
pub const TARGETS: [(&str, Target); 6] = [
    ("sip", sip),
    ("sdp", sdp),
    ("siprec", siprec),
    ("rtp", rtp),
    ("srtp", srtp),
    ("container", container),
];

/// A SIP message as a UDP datagram and as the front of a TCP/TLS stream; a request that
/// parses is answered, and the answer must parse as a response to it.
pub fn sip(data: &[u8]) {
    if let Ok(Message::Request(req)) = sip::parse_datagram(data) {
        let _ = (req.cseq(), req.to_tag(), req.required(), req.content_type());
        let peer = "192.0.2.1:5060".parse().expect("literal address");
        let extra = [("Warning", "399 hushline \"fuzz\"".to_string())];
        let resp = sip::response(
            &req,
            200,
            "OK",
            Some("t"),
            peer,
            &extra,
            Some(("a/b", data)),
        );
        match sip::parse_datagram(&resp) {
            Ok(Message::Response(r)) => {
                assert_eq!(r.code, 200);
                // Whitespace around a value (folded lines) is not part of it.
                assert_eq!(r.headers.get("call-id").map(str::trim), req.call_id());
            }
            other => panic!("our response to a parsed request does not parse: {other:?}"),
        }
    }
    let mut rest = data;
    while let Ok(frame) = sip::parse_stream(rest) {
        let used = match frame {
            StreamFrame::Incomplete => break,
            StreamFrame::KeepAlive(n) | StreamFrame::Message(_, n) => n,
        };
        assert!(
            used > 0 && used <= rest.len(),
            "stream framing must progress"
        );
        rest = &rest[used..];
    }
}

/// An SDP offer read under every policy, answered, and the answer read back.
pub fn sdp(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(offer) = sdp::parse_offer(text) else {
        return;
    };
    for (sdes_keys, require_srtp) in [(false, false), (true, false), (true, true)] {
        let rules = MediaRules {
            sdes_keys,
            require_srtp,
        };
        let selected: Vec<Option<Selected>> = offer.iter().map(|m| m.select(rules)).collect();
        let keys: Vec<Option<srtp::MasterKey>> = selected
            .iter()
            .map(|s| {
                s.and_then(|s| s.srtp)
                    .map(|(_, suite)| srtp::MasterKey::generate(suite))
            })
            .collect();
        let lines: Vec<AnswerLine> = offer
            .iter()
            .zip(&selected)
            .zip(&keys)
            .enumerate()
            .map(|(i, ((m, s), key))| AnswerLine {
                offered: m,
                accepted: s.map(|s| (20000 + 2 * i as u16, s)),
                key: key.as_ref(),
            })
            .collect();
        if selected.iter().all(Option::is_none) {
            let _ = sdp::refusal(&offer, rules);
            continue;
        }
        let answer = sdp::write_answer("127.0.0.1".parse().expect("literal"), 1, 1, &lines);
        let back = sdp::parse_offer(&answer).expect("our answer parses");
        assert_eq!(back.len(), offer.len(), "one answer line per offered line");
    }
}

/// An INVITE body: the first line is its Content-Type, the rest the body; recording
/// metadata is also parsed on its own, as XML and as RFC 7865.
pub fn siprec(data: &[u8]) {
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let content_type = std::str::from_utf8(&data[..split]).ok();
    let body = data.get(split + 1..).unwrap_or_default();
    if let Ok(b) = siprec::split_body(content_type, body) {
        if let Some(md) = b.metadata {
            for (i, s) in md.streams.iter().enumerate() {
                let _ = md.sender_of(s.label.as_deref(), i);
            }
        }
    }
    if let Ok(text) = std::str::from_utf8(body) {
        let _ = xml::parse(text);
        let _ = siprec::parse_metadata(text);
    }
}

/// A stream of RTP packets (each a length byte, then the packet) through the jitter
/// buffer and decoder, 20 ms apart: what comes out must be contiguous audio.
pub fn rtp(data: &[u8]) {
    let sel = Selected {
        codec: Codec::Pcmu,
        audio_pt: 0,
        event_pt: Some(101),
        srtp: None,
    };
    let mut dec = StreamDecoder::new(sel, JitterConfig::default());
    let t0 = Instant::now();
    let mut end = 0u64;
    let mut check = |outs: Vec<Output>| {
        for o in outs {
            match o {
                Output::Audio { start, pcm } => {
                    assert_eq!(start, end, "audio must be contiguous");
                    end += pcm.len() as u64;
                }
                Output::Digit { span, .. } => assert!(span.start <= span.end),
            }
        }
    };
    for (i, packet) in packets(data).enumerate() {
        let now = t0 + Duration::from_millis(20 * i as u64);
        if let Ok(p) = RtpPacket::parse(packet) {
            check(dec.push(p, now));
        }
        check(dec.poll(now));
    }
    check(dec.finish());
}

/// SRTP as an attacker without the key sends it (mode 0: the bytes as one packet), and
/// as a peer with the key does (mode 1: packets protected by a sender, one byte of each
/// then altered): decryption gives back exactly what was sent, alteration is never
/// accepted.
pub fn srtp(data: &[u8]) {
    let [mode, suite, rest @ ..] = data else {
        return;
    };
    let suite = Suite::ALL[usize::from(*suite) % Suite::ALL.len()];
    let key = srtp::MasterKey::from_bytes(suite, &vec![0x42; suite.inline_len()])
        .expect("length made for the suite");
    let mut rx = srtp::Receiver::new(key.clone());
    if mode % 2 == 0 {
        let _ = rx.unprotect(rest);
        return;
    }
    let mut tx = srtp::Sender::new(&key);
    let mut tampered_rx = srtp::Receiver::new(key.clone());
    for packet in packets(rest) {
        let Some((&flip, plain)) = packet.split_first() else {
            continue;
        };
        let Some(wire) = tx.protect(plain) else {
            continue;
        };
        if let Ok(back) = rx.unprotect(&wire) {
            assert_eq!(back, plain, "SRTP round trip");
        }
        let mut bad = wire.clone();
        let at = usize::from(flip) % bad.len();
        bad[at] ^= 1 << (flip % 8);
        assert!(
            tampered_rx.unprotect(&bad).is_err(),
            "an altered SRTP packet was accepted"
        );
    }
}

/// Splits bytes into packets, each a length byte followed by up to that many bytes.
fn packets(mut data: &[u8]) -> impl Iterator<Item = &[u8]> {
    std::iter::from_fn(move || {
        let (&len, rest) = data.split_first()?;
        let n = usize::from(len).min(rest.len());
        let (p, tail) = rest.split_at(n);
        data = tail;
        Some(p)
    })
}

const FUZZ_KEY_ID: &str = "fuzz";

/// A recording container as read back from disk (mode 0: the bytes as the file), or a
/// container sealed with the fuzz key around arbitrary plaintext (mode 1), so the reader's
/// trailer, padding and WAV header checks see attacker-chosen content. Either way the
/// reader must return, and what it returns must be a WAV hound can open.
pub fn container(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let key = store::MasterKey::from_bytes(FUZZ_KEY_ID, [7; 32]).expect("valid id");
    let file = if mode % 2 == 0 {
        rest.to_vec()
    } else {
        seal(&key, rest)
    };
    let keyring = store::Keyring::from_keys(vec![key]).expect("one key");
    let path = scratch_file();
    std::fs::write(&path, &file).expect("the fuzz scratch file is writable");
    if let Ok(wav) = store::decrypt_to_vec(&path, &keyring) {
        let reader = hound::WavReader::new(std::io::Cursor::new(&wav[..]));
        assert!(reader.is_ok(), "a recording that decrypts is a WAV");
    }
}

/// A container around `plain` under `key`, in 1 KiB chunks; the plaintext's last 24
/// bytes always end the final chunk (where the reader looks for its trailer).
fn seal(key: &store::MasterKey, plain: &[u8]) -> Vec<u8> {
    use aes_gcm::aead::stream::StreamPrimitive;
    use container::{Header, MIN_CHUNK, TRAILER_LEN};

    let chunk = MIN_CHUNK as usize;
    let mut padded = plain.to_vec();
    let short = padded.len().div_ceil(chunk).max(1) * chunk - padded.len();
    let at = padded.len().saturating_sub(TRAILER_LEN);
    padded.splice(at..at, std::iter::repeat_n(0, short));
    let data_key = [9u8; 32];
    let header = Header {
        chunk_size: MIN_CHUNK,
        nonce_prefix: [3; container::NONCE_PREFIX_LEN],
        key_id: key.id.clone(),
        wrapped_key: container::wrap_key(key, &data_key),
    };
    let stream = container::stream(&data_key, &header.nonce_prefix);
    let mut out = header.to_bytes();
    let count = padded.len() / chunk;
    for (i, c) in padded.chunks(chunk).enumerate() {
        let mut buf = c.to_vec();
        stream
            .encrypt_in_place(i as u32, i + 1 == count, &header.aad(), &mut buf)
            .expect("a 1 KiB chunk seals");
        out.extend_from_slice(&buf);
    }
    out
}

/// Seeds for `container`: a real recording under the fuzz key as written by
/// [`store::RecordingWriter`] (mode 0), and the plaintext the writer seals (mode 1).
pub fn container_seeds() -> Vec<Vec<u8>> {
    let key = store::MasterKey::from_bytes(FUZZ_KEY_ID, [7; 32]).expect("valid id");
    let path = scratch_file();
    let mut w = store::RecordingWriter::create_with_chunk(&path, &key, 8000, 1, 16, 1024)
        .expect("the fuzz scratch file is writable");
    let tone: Vec<f32> = (0..800).map(|i| ((i % 16) as f32 - 8.0) / 16.0).collect();
    w.write_interleaved(&tone).expect("writes");
    w.finish().expect("finishes");
    let mut real = vec![0];
    real.extend(std::fs::read(&path).expect("just written"));
    let format = container::WavFormat {
        rate: 8000,
        channels: 1,
        bits: 16,
    };
    let mut plain = vec![1];
    let header = container::wav_header(format);
    plain.extend_from_slice(&header);
    plain.extend(
        tone.iter()
            .flat_map(|&s| ((s * 32767.0) as i16).to_le_bytes()),
    );
    let trailer = container::Trailer {
        wav_header_len: header.len() as u32,
        data_bytes: 1600,
        frames: 800,
    };
    plain.extend_from_slice(&trailer.to_bytes());
    vec![real, plain]
}

/// One scratch file per process, in the temporary folder.
fn scratch_file() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("hushline-fuzz-{}.wav.enc", std::process::id()))
}

//! SRTP for received media (RFC 3711) keyed by SDES (RFC 4568): the `a=crypto` attribute,
//! the crypto suites we accept, and a per-stream [`Receiver`] that authenticates and
//! decrypts packets before they reach the jitter buffer, with replay protection.
//!
//! The cipher work is webrtc-rs's `webrtc-srtp`, not ours; the RTP header it needs is
//! read by us, bounds-checked, because its own header parser panics on hostile header
//! extensions (found by fuzzing, fuzz/regressions/srtp). Must never log, print or
//! `Debug`-format key material: keys live in [`Zeroizing`] buffers and are wiped on drop.

use std::fmt;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use webrtc_srtp::context::Context;
use webrtc_srtp::option::srtp_replay_protection;
use webrtc_srtp::protection_profile::ProtectionProfile;
use zeroize::Zeroizing;

/// Sequence numbers a packet may lag the newest one and still be accepted once; older
/// ones are refused as possible replays. Wide, because the jitter buffer reorders anyway.
const REPLAY_WINDOW: usize = 256;
/// Senders (SSRCs) whose cryptographic state a stream keeps. A packet claiming a new SSRC
/// gets fresh state only if it authenticates, so forged packets cannot grow memory.
const MAX_SOURCES: usize = 4;

/// The SDES crypto suites accepted, in the names RFC 4568, RFC 6188 and RFC 7714 give them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Suite {
    AesCm128HmacSha1_80,
    AesCm128HmacSha1_32,
    AesCm256HmacSha1_80,
    AesCm256HmacSha1_32,
    AeadAes128Gcm,
    AeadAes256Gcm,
}

impl Suite {
    pub const ALL: [Suite; 6] = [
        Suite::AesCm128HmacSha1_80,
        Suite::AesCm128HmacSha1_32,
        Suite::AesCm256HmacSha1_80,
        Suite::AesCm256HmacSha1_32,
        Suite::AeadAes128Gcm,
        Suite::AeadAes256Gcm,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Suite::AesCm128HmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            Suite::AesCm128HmacSha1_32 => "AES_CM_128_HMAC_SHA1_32",
            Suite::AesCm256HmacSha1_80 => "AES_256_CM_HMAC_SHA1_80",
            Suite::AesCm256HmacSha1_32 => "AES_256_CM_HMAC_SHA1_32",
            Suite::AeadAes128Gcm => "AEAD_AES_128_GCM",
            Suite::AeadAes256Gcm => "AEAD_AES_256_GCM",
        }
    }

    pub fn from_name(name: &str) -> Option<Suite> {
        Suite::ALL.into_iter().find(|s| s.name() == name)
    }

    fn profile(self) -> ProtectionProfile {
        match self {
            Suite::AesCm128HmacSha1_80 => ProtectionProfile::Aes128CmHmacSha1_80,
            Suite::AesCm128HmacSha1_32 => ProtectionProfile::Aes128CmHmacSha1_32,
            Suite::AesCm256HmacSha1_80 => ProtectionProfile::Aes256CmHmacSha1_80,
            Suite::AesCm256HmacSha1_32 => ProtectionProfile::Aes256CmHmacSha1_32,
            Suite::AeadAes128Gcm => ProtectionProfile::AeadAes128Gcm,
            Suite::AeadAes256Gcm => ProtectionProfile::AeadAes256Gcm,
        }
    }

    fn key_len(self) -> usize {
        self.profile().key_len()
    }

    /// Master key ‖ master salt, as carried in `inline:`.
    pub fn inline_len(self) -> usize {
        self.key_len() + self.profile().salt_len()
    }
}

/// A master key and salt for one suite. Wiped on drop; `Debug` shows only the suite.
#[derive(Clone, PartialEq, Eq)]
pub struct MasterKey {
    suite: Suite,
    key_and_salt: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey({}, key withheld)", self.suite.name())
    }
}

impl MasterKey {
    /// A fresh random key for `suite` (our own answer's key).
    pub fn generate(suite: Suite) -> MasterKey {
        let mut key_and_salt = Zeroizing::new(vec![0u8; suite.inline_len()]);
        getrandom::getrandom(&mut key_and_salt).expect("the OS random source failed");
        MasterKey {
            suite,
            key_and_salt,
        }
    }

    /// A key from raw bytes (key ‖ salt); `None` when the length does not fit the suite.
    pub fn from_bytes(suite: Suite, key_and_salt: &[u8]) -> Option<MasterKey> {
        (key_and_salt.len() == suite.inline_len()).then(|| MasterKey {
            suite,
            key_and_salt: Zeroizing::new(key_and_salt.to_vec()),
        })
    }

    pub fn suite(&self) -> Suite {
        self.suite
    }

    /// The `inline:` key parameter's value (base64 of key ‖ salt).
    pub fn inline(&self) -> Zeroizing<String> {
        Zeroizing::new(BASE64.encode(&*self.key_and_salt))
    }

    fn context(&self) -> Context {
        let (key, salt) = self.key_and_salt.split_at(self.suite.key_len());
        Context::new(
            key,
            salt,
            self.suite.profile(),
            Some(srtp_replay_protection(REPLAY_WINDOW)),
            None,
        )
        .expect("key and salt lengths are checked on construction")
    }
}

/// One `a=crypto` attribute of an offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CryptoAttr {
    /// The attribute's tag, echoed in the answer.
    pub tag: u32,
    /// The suite's name as offered.
    pub suite_name: String,
    /// The key, when the suite and its parameters are ones we can use.
    pub key: Option<MasterKey>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("a=crypto needs `<tag> <suite> inline:<key>`")]
    Syntax,
}

/// Parses the value of `a=crypto:` (after the colon). A well-formed attribute with a suite,
/// key lifetime-free MKI or session parameters we do not support comes back with `key: None`
/// so the next offered attribute can be tried.
pub fn parse_crypto(value: &str) -> Result<CryptoAttr, CryptoError> {
    let mut parts = value.split_ascii_whitespace();
    let (Some(tag), Some(suite_name), Some(key_params)) =
        (parts.next(), parts.next(), parts.next())
    else {
        return Err(CryptoError::Syntax);
    };
    if tag.is_empty() || tag.len() > 9 || !tag.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CryptoError::Syntax);
    }
    let tag: u32 = tag.parse().map_err(|_| CryptoError::Syntax)?;
    let session_params = parts.next().is_some();
    let key = Suite::from_name(suite_name)
        .filter(|_| !session_params)
        .and_then(|suite| inline_key(suite, key_params));
    Ok(CryptoAttr {
        tag,
        suite_name: suite_name.to_string(),
        key,
    })
}

/// `inline:<base64>[|lifetime]` with a single key and no MKI (each packet would carry an
/// MKI we do not expect); anything else is not usable.
fn inline_key(suite: Suite, params: &str) -> Option<MasterKey> {
    if params.contains(';') {
        return None; // several master keys, which need MKIs
    }
    let rest = params.strip_prefix("inline:")?;
    let mut fields = rest.split('|');
    let encoded = fields.next()?;
    let lifetime = fields.next();
    if fields.next().is_some() || lifetime.is_some_and(|l| l.contains(':')) {
        return None; // an MKI field
    }
    if lifetime.is_some_and(|l| !valid_lifetime(l)) {
        return None;
    }
    let decoded = Zeroizing::new(BASE64.decode(encoded).ok()?);
    MasterKey::from_bytes(suite, &decoded)
}

fn valid_lifetime(l: &str) -> bool {
    let digits = l.strip_prefix("2^").unwrap_or(l);
    !digits.is_empty() && digits.len() <= 20 && digits.bytes().all(|b| b.is_ascii_digit())
}

/// The answer's `a=crypto` value for our own key, under the tag of the offer we took.
pub fn answer_crypto(tag: u32, key: &MasterKey) -> Zeroizing<String> {
    Zeroizing::new(format!(
        "{tag} {} inline:{}",
        key.suite.name(),
        key.inline().as_str()
    ))
}

/// Why a received packet was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UnprotectError {
    /// RTCP/SRTCP sharing the port (RFC 5761): ignored, it carries no audio.
    #[error("packet is RTCP")]
    Rtcp,
    #[error("packet is not RTP, or too short for its authentication tag")]
    Malformed,
    /// Forged, altered, or under another key: never played.
    #[error("SRTP authentication failed")]
    Unauthentic,
    /// Seen before, or too old to tell: never played twice.
    #[error("SRTP packet replayed")]
    Replayed,
}

/// Authenticates and decrypts the SRTP packets of one received stream.
pub struct Receiver {
    key: MasterKey,
    /// Per-SSRC cryptographic state (rollover counter, replay window), newest last.
    sources: Vec<(u32, Context)>,
}

impl Receiver {
    pub fn new(key: MasterKey) -> Receiver {
        Receiver {
            key,
            sources: Vec::new(),
        }
    }

    pub fn key(&self) -> &MasterKey {
        &self.key
    }

    /// The plain RTP packet inside `packet`, or why it must be dropped.
    pub fn unprotect(&mut self, packet: &[u8]) -> Result<Vec<u8>, UnprotectError> {
        if packet.len() < 12 || packet[0] >> 6 != 2 {
            return Err(UnprotectError::Malformed);
        }
        if (72..=76).contains(&(packet[1] & 0x7F)) {
            return Err(UnprotectError::Rtcp);
        }
        let header = rtp_header(packet).ok_or(UnprotectError::Malformed)?;
        if let Some(i) = self.sources.iter().position(|(s, _)| *s == header.ssrc) {
            return decrypt(&mut self.sources[i].1, packet, &header);
        }
        let mut fresh = self.key.context();
        let plain = decrypt(&mut fresh, packet, &header)?;
        if self.sources.len() == MAX_SOURCES {
            self.sources.remove(0);
        }
        self.sources.push((header.ssrc, fresh));
        Ok(plain)
    }
}

/// The RTP header of `packet` (RFC 3550 §5.1) as webrtc-srtp needs it, or `None` when
/// its CSRCs or extension run past the packet. Only the fields the cipher uses matter,
/// and the header's length: an extension is kept as one opaque block, whatever its
/// profile, so the length is exactly what the packet says.
fn rtp_header(packet: &[u8]) -> Option<webrtc_rtp::header::Header> {
    let b = packet;
    if b.len() < 12 || b[0] >> 6 != 2 {
        return None;
    }
    let cc = usize::from(b[0] & 0x0F);
    let csrc_end = 12 + 4 * cc;
    let csrc = b
        .get(12..csrc_end)?
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let extension = b[0] & 0x10 != 0;
    let extensions = if extension {
        let len = b.get(csrc_end + 2..csrc_end + 4)?;
        let words = usize::from(u16::from_be_bytes([len[0], len[1]]));
        let body = b.get(csrc_end + 4..csrc_end + 4 + 4 * words)?;
        vec![webrtc_rtp::header::Extension {
            id: 0,
            payload: bytes::Bytes::copy_from_slice(body),
        }]
    } else {
        Vec::new()
    };
    Some(webrtc_rtp::header::Header {
        version: 2,
        padding: b[0] & 0x20 != 0,
        extension,
        marker: b[1] & 0x80 != 0,
        payload_type: b[1] & 0x7F,
        sequence_number: u16::from_be_bytes([b[2], b[3]]),
        timestamp: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
        ssrc: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
        csrc,
        // Not an RFC 8285 profile: the block is counted as its bytes alone.
        extension_profile: 0,
        extensions,
        extensions_padding: 0,
    })
}

fn decrypt(
    ctx: &mut Context,
    packet: &[u8],
    header: &webrtc_rtp::header::Header,
) -> Result<Vec<u8>, UnprotectError> {
    use webrtc_srtp::Error;
    match ctx.decrypt_rtp_with_header(packet, header) {
        Ok(b) => Ok(b.to_vec()),
        Err(Error::SrtpSsrcDuplicated(..)) | Err(Error::ErrDuplicated) => {
            Err(UnprotectError::Replayed)
        }
        Err(Error::ErrFailedToVerifyAuthTag) | Err(Error::RtpFailedToVerifyAuthTag) => {
            Err(UnprotectError::Unauthentic)
        }
        // GCM reports a failed tag as a cipher error.
        Err(Error::AesGcm(_)) => Err(UnprotectError::Unauthentic),
        Err(_) => Err(UnprotectError::Malformed),
    }
}

/// Protects plain RTP packets as a sender would; for tests and tools (the recorder sends
/// no media).
pub struct Sender {
    ctx: Context,
}

impl Sender {
    pub fn new(key: &MasterKey) -> Sender {
        Sender { ctx: key.context() }
    }

    pub fn protect(&mut self, rtp: &[u8]) -> Option<Vec<u8>> {
        let header = rtp_header(rtp)?;
        self.ctx
            .encrypt_rtp_with_header(rtp, &header)
            .ok()
            .map(|b| b.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::rtp::RtpPacket;

    fn packet(seq: u16, ssrc: u32) -> Vec<u8> {
        RtpPacket {
            seq,
            ts: 160 * u32::from(seq),
            ssrc,
            pt: 0,
            marker: false,
            payload: (0..160)
                .map(|i| (i as u8).wrapping_mul(seq as u8))
                .collect(),
        }
        .to_bytes()
    }

    #[test]
    fn every_suite_round_trips_and_tampering_is_caught() {
        for suite in Suite::ALL {
            let key = MasterKey::generate(suite);
            let mut tx = Sender::new(&key);
            let mut rx = Receiver::new(key.clone());
            let sent = tx.protect(&packet(1, 7)).unwrap();
            assert_ne!(&sent[12..172], &packet(1, 7)[12..], "{suite:?} encrypts");
            assert_eq!(rx.unprotect(&sent).unwrap(), packet(1, 7), "{suite:?}");
            assert_eq!(rx.unprotect(&sent), Err(UnprotectError::Replayed));
            let mut bad = tx.protect(&packet(2, 7)).unwrap();
            bad[20] ^= 1;
            assert_eq!(rx.unprotect(&bad), Err(UnprotectError::Unauthentic));
            let good = tx.protect(&packet(3, 7)).unwrap();
            assert!(
                rx.unprotect(&good).is_ok(),
                "a tampered packet spoils nothing"
            );
        }
    }

    #[test]
    fn forged_sources_keep_no_state_and_rtcp_is_ignored() {
        let key = MasterKey::generate(Suite::AesCm128HmacSha1_80);
        let mut rx = Receiver::new(key.clone());
        for ssrc in 0..100 {
            let mut p = packet(1, ssrc);
            p.extend_from_slice(&[0; 10]);
            assert_eq!(rx.unprotect(&p), Err(UnprotectError::Unauthentic));
        }
        assert!(rx.sources.is_empty());
        let mut rtcp = packet(1, 1);
        rtcp[1] = 200;
        assert_eq!(rx.unprotect(&rtcp), Err(UnprotectError::Rtcp));
        assert_eq!(rx.unprotect(&[0x80; 5]), Err(UnprotectError::Malformed));
        // Several real senders each keep their own replay window.
        let mut tx = Sender::new(&key);
        for ssrc in 1..=MAX_SOURCES as u32 + 2 {
            let p = tx.protect(&packet(9, ssrc)).unwrap();
            assert!(rx.unprotect(&p).is_ok());
        }
        assert_eq!(rx.sources.len(), MAX_SOURCES);
    }

    /// Found by fuzzing (fuzz/regressions/srtp): an RFC 8285 header extension whose
    /// element runs past the packet made webrtc's RTP header parser panic, before any
    /// authentication, so anyone could end a call with one datagram.
    #[test]
    fn hostile_header_extensions_are_refused_not_a_panic() {
        let key = MasterKey::generate(Suite::AesCm128HmacSha1_80);
        let mut rx = Receiver::new(key.clone());
        // One-byte profile, one word of extension whose element claims 16 bytes.
        let mut p = vec![
            0x90, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9, 0xBE, 0xDE, 0, 1, 0x1F, 1, 2, 3,
        ];
        p.extend_from_slice(&[0; 10]);
        assert_eq!(rx.unprotect(&p), Err(UnprotectError::Unauthentic));
        p[15] = 200; // an extension longer than the packet
        assert_eq!(rx.unprotect(&p), Err(UnprotectError::Malformed));
        // A real packet with an extension round-trips.
        let mut tx = Sender::new(&key);
        let mut with_ext = vec![
            0x90, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 9, 0xBE, 0xDE, 0, 1, 0x10, 7, 0, 0,
        ];
        with_ext.extend_from_slice(&[0x55; 160]);
        let wire = tx.protect(&with_ext).unwrap();
        assert_eq!(rx.unprotect(&wire).unwrap(), with_ext);
    }

    #[test]
    fn crypto_attributes() {
        let key = MasterKey::generate(Suite::AesCm128HmacSha1_80);
        let line = answer_crypto(3, &key);
        let back = parse_crypto(&line).unwrap();
        assert_eq!((back.tag, back.key.as_ref()), (3, Some(&key)));
        assert!(
            !format!("{back:?}").contains(key.inline().as_str()),
            "Debug hides keys"
        );
        let inline = key.inline();
        let with = |rest: &str| parse_crypto(&format!("1 AES_CM_128_HMAC_SHA1_80 {rest}"));
        assert!(with(&format!("inline:{}|2^31", inline.as_str()))
            .unwrap()
            .key
            .is_some());
        for unusable in [
            format!("inline:{}|2^20|1:4", inline.as_str()),
            format!("inline:{} UNENCRYPTED_SRTP", inline.as_str()),
            format!("inline:{};inline:{}", inline.as_str(), inline.as_str()),
            "inline:c2hvcnQ=".to_string(),
            "inline:!!!".to_string(),
        ] {
            assert_eq!(with(&unusable).unwrap().key, None, "{unusable}");
        }
        let other = parse_crypto("2 F8_128_HMAC_SHA1_80 inline:AAAA").unwrap();
        assert_eq!(
            (other.suite_name.as_str(), other.key),
            ("F8_128_HMAC_SHA1_80", None)
        );
        for bad in [
            "",
            "1",
            "x AES_CM_128_HMAC_SHA1_80 inline:A",
            "1234567890 A B",
        ] {
            assert_eq!(parse_crypto(bad), Err(CryptoError::Syntax), "{bad}");
        }
    }
}

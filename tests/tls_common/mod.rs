//! Shared helpers for the transport-security tests: a throwaway CA with server and client
//! certificates written as PEM files, a SIP-over-TLS client, and SDES offers.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hushline::live::sip::{self, Message, StreamFrame};
use hushline::live::srtp::{self, MasterKey};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose, SanType};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// PEM files of a test CA, a server certificate for 127.0.0.1 and a client certificate.
pub struct Pki {
    pub dir: tempfile::TempDir,
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// The client certificate and key concatenated (what Kamailio and baresip load).
    pub client_pem: PathBuf,
    ca_der: CertificateDer<'static>,
    client_der: CertificateDer<'static>,
    client_key_der: Vec<u8>,
}

fn write(dir: &Path, name: &str, text: &str, mode: u32) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

impl Pki {
    pub fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "hushline test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_key = KeyPair::generate().unwrap();
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);

        let mut server_params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        server_params
            .subject_alt_names
            .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
        server_params
            .distinguished_name
            .push(DnType::CommonName, "127.0.0.1");
        let server_key = KeyPair::generate().unwrap();
        let server = server_params.signed_by(&server_key, &issuer).unwrap();

        let mut client_params = CertificateParams::new(vec!["sbc.test".to_string()]).unwrap();
        client_params
            .distinguished_name
            .push(DnType::CommonName, "sbc.test");
        let client_key = KeyPair::generate().unwrap();
        let client = client_params.signed_by(&client_key, &issuer).unwrap();

        let d = dir.path();
        let client_pem = format!("{}{}", client.pem(), client_key.serialize_pem());
        Pki {
            ca: write(d, "ca.pem", &ca.pem(), 0o644),
            server_cert: write(d, "server.pem", &server.pem(), 0o644),
            server_key: write(d, "server.key", &server_key.serialize_pem(), 0o600),
            client_cert: write(d, "client.pem", &client.pem(), 0o644),
            client_key: write(d, "client.key", &client_key.serialize_pem(), 0o600),
            client_pem: write(d, "client-both.pem", &client_pem, 0o600),
            ca_der: ca.der().clone(),
            client_der: client.der().clone(),
            client_key_der: client_key.serialize_der(),
            dir,
        }
    }

    /// A TLS client trusting the test CA, with the client certificate if `with_cert`.
    pub fn connector(&self, with_cert: bool) -> TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca_der.clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let config = if with_cert {
            let key = PrivateKeyDer::try_from(self.client_key_der.clone()).unwrap();
            builder
                .with_client_auth_cert(vec![self.client_der.clone()], key)
                .unwrap()
        } else {
            builder.with_no_client_auth()
        };
        TlsConnector::from(Arc::new(config))
    }
}

/// A SIP client over one TLS connection.
pub struct TlsClient {
    pub stream: TlsStream<TcpStream>,
    buf: Vec<u8>,
}

impl TlsClient {
    pub async fn connect(
        pki: &Pki,
        server: SocketAddr,
        with_cert: bool,
    ) -> std::io::Result<TlsClient> {
        let tcp = TcpStream::connect(server).await?;
        let name = ServerName::IpAddress(server.ip().into());
        let stream = pki.connector(with_cert).connect(name, tcp).await?;
        Ok(TlsClient {
            stream,
            buf: Vec::new(),
        })
    }

    pub async fn send(&mut self, msg: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(msg).await?;
        self.stream.flush().await
    }

    /// The next SIP message, or `None` on timeout or a closed connection.
    pub async fn message(&mut self) -> Option<Message> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            match sip::parse_stream(&self.buf) {
                Ok(StreamFrame::Message(parsed, used)) => {
                    self.buf.drain(..used);
                    return parsed.ok();
                }
                Ok(StreamFrame::KeepAlive(n)) => {
                    self.buf.drain(..n);
                    continue;
                }
                Ok(StreamFrame::Incomplete) => {}
                Err(e) => panic!("server sent unparseable SIP: {e}"),
            }
            let n = tokio::time::timeout_at(deadline, self.stream.read(&mut chunk))
                .await
                .ok()?
                .ok()?;
            if n == 0 {
                return None;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// The final response to what was just sent (provisional ones skipped).
    pub async fn response(&mut self) -> Option<sip::Response> {
        loop {
            match self.message().await? {
                Message::Response(r) if r.code >= 200 => return Some(r),
                _ => {}
            }
        }
    }
}

/// A request over TLS from 127.0.0.1 (Via transport TLS), like live_common::request.
pub fn tls_request(
    method: &str,
    uri: &str,
    call_id: &str,
    cseq: u32,
    to_tag: Option<&str>,
    extra: &str,
    body: &str,
) -> Vec<u8> {
    let to_tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    format!(
        "{method} {uri} SIP/2.0\r\n\
         Via: SIP/2.0/TLS 127.0.0.1:5999;branch=z9hG4bK{call_id}{cseq}\r\n\
         From: <sips:src@127.0.0.1>;tag=t1\r\n\
         To: <{uri}>{to_tag}\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} {method}\r\n\
         Max-Forwards: 70\r\n\
         {extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// An SDP offer of one sendonly PCMU stream on `proto`, with one `a=crypto` per key.
pub fn srtp_offer(proto: &str, keys: &[&MasterKey]) -> String {
    let mut s = format!(
        "v=0\r\no=t 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio 40000 {proto} 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendonly\r\n"
    );
    for (i, k) in keys.iter().enumerate() {
        s.push_str(&format!(
            "a=crypto:{}\r\n",
            srtp::answer_crypto(i as u32 + 1, k).as_str()
        ));
    }
    s
}

/// The answer's RTP port, profile and crypto attributes.
pub fn answer_media(body: &[u8]) -> (u16, String, Vec<srtp::CryptoAttr>) {
    let text = std::str::from_utf8(body).unwrap();
    let offer = hushline::live::sdp::parse_offer(text).unwrap();
    let m = &offer[0];
    (m.port, m.proto.clone(), m.crypto.clone())
}

pub fn header<'a>(r: &'a sip::Response, name: &str) -> &'a str {
    r.headers.get(name).unwrap_or_default()
}

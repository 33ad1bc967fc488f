//! SIP over TLS: the server's certificate and key from PEM files, TLS 1.2 and 1.3 only
//! (rustls, ring provider), and optional verification of client certificates against a
//! CA bundle. The accepted streams carry SIP exactly as TCP does (`server`).
//!
//! Must not parse SIP, and must never log key material; the private key file must be
//! private to its owner, as the recording master key is.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {what} {}: {source}", path.display())]
    Read {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{what} {} holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)", path.display())]
    NoCertificate { what: &'static str, path: PathBuf },
    #[error("TLS key {} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)", path.display())]
    NoKey { path: PathBuf },
    #[error("TLS key {} is readable or writable by group or others (mode {mode:03o}); run `chmod 600 {}`", path.display(), path.display())]
    KeyPermissions { path: PathBuf, mode: u32 },
    #[error("TLS certificate and key do not make a server identity (does the key belong to the certificate?): {0}")]
    Identity(rustls::Error),
    #[error("client CA bundle {} is not usable: {problem}", path.display())]
    ClientCa { path: PathBuf, problem: String },
}

/// Where SIP over TLS is received, and with which identity.
#[derive(Clone)]
pub struct TlsListen {
    /// Port 0 picks a free port (see `Server::tls_addr`).
    pub addr: std::net::SocketAddr,
    pub config: Arc<ServerConfig>,
    /// Whether clients must present a certificate from the client CA bundle.
    pub verifies_clients: bool,
}

impl std::fmt::Debug for TlsListen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "TlsListen({}, client certificates {})",
            self.addr,
            if self.verifies_clients {
                "required"
            } else {
                "not asked for"
            }
        )
    }
}

impl TlsListen {
    /// From `--sip-tls`, `--tls-cert`, `--tls-key` and, to require client certificates
    /// signed by one of its CAs, `--tls-client-ca`.
    pub fn new(
        addr: std::net::SocketAddr,
        cert: &Path,
        key: &Path,
        client_ca: Option<&Path>,
    ) -> Result<TlsListen, TlsError> {
        Ok(TlsListen {
            addr,
            config: server_config(cert, key, client_ca)?,
            verifies_clients: client_ca.is_some(),
        })
    }
}

/// Builds the TLS server configuration (see [`TlsListen::new`]).
pub fn server_config(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = certificates(cert, "TLS certificate")?;
    check_private(key)?;
    let key_der =
        PrivateKeyDer::from_pem_slice(&read(key, "TLS key")?).map_err(|_| TlsError::NoKey {
            path: key.to_path_buf(),
        })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(TlsError::Identity)?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let ca_error = |problem: String| TlsError::ClientCa {
                path: ca.to_path_buf(),
                problem,
            };
            let mut roots = RootCertStore::empty();
            for c in certificates(ca, "client CA bundle")? {
                roots.add(c).map_err(|e| ca_error(e.to_string()))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| ca_error(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(chain, key_der)
        .map_err(TlsError::Identity)?;
    Ok(Arc::new(config))
}

fn read(path: &Path, what: &'static str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        what,
        path: path.to_path_buf(),
        source,
    })
}

fn certificates(path: &Path, what: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(path, what)?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&pem)
        .filter_map(Result::ok)
        .collect();
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            what,
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), TlsError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|source| TlsError::Read {
        what: "TLS key",
        path: path.to_path_buf(),
        source,
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(TlsError::KeyPermissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path) -> Result<(), TlsError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn write(dir: &Path, name: &str, text: &str, mode: u32) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn identities_load_and_bad_files_say_why() {
        let dir = tempfile::tempdir().unwrap();
        let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
        let other = rcgen::generate_simple_self_signed(vec!["x".into()]).unwrap();
        let crt = write(dir.path(), "c.pem", &cert.cert.pem(), 0o644);
        let key = write(
            dir.path(),
            "k.pem",
            &cert.signing_key.serialize_pem(),
            0o600,
        );
        let addr = "127.0.0.1:0".parse().unwrap();
        let plain = TlsListen::new(addr, &crt, &key, None).unwrap();
        assert!(format!("{plain:?}").contains("not asked for"));
        assert!(
            TlsListen::new(addr, &crt, &key, Some(&crt))
                .unwrap()
                .verifies_clients
        );

        let loose = write(
            dir.path(),
            "loose.pem",
            &cert.signing_key.serialize_pem(),
            0o644,
        );
        let e = server_config(&crt, &loose, None).unwrap_err().to_string();
        assert!(e.contains("chmod 600"), "{e}");
        assert!(!e.contains("PRIVATE KEY"), "errors never show the key");
        let wrong = write(
            dir.path(),
            "w.pem",
            &other.signing_key.serialize_pem(),
            0o600,
        );
        assert!(matches!(
            server_config(&crt, &wrong, None),
            Err(TlsError::Identity(_))
        ));
        assert!(matches!(
            server_config(&key, &key, None),
            Err(TlsError::NoCertificate { .. })
        ));
        assert!(matches!(
            server_config(&crt, &crt_as_key(dir.path(), &crt), None),
            Err(TlsError::NoKey { .. })
        ));
        assert!(matches!(
            server_config(&dir.path().join("none"), &key, None),
            Err(TlsError::Read { .. })
        ));
    }

    fn crt_as_key(dir: &Path, crt: &Path) -> PathBuf {
        let text = std::fs::read_to_string(crt).unwrap();
        write(dir, "crt-as-key.pem", &text, 0o600)
    }
}

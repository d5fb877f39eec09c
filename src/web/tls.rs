//! TLS without a proxy, for a small clinic: `prom serve` terminates TLS
//! itself (rustls) with a certificate and key from PEM files, read again on
//! SIGHUP so a renewed certificate is served without a restart. A file
//! that does not load keeps the certificate that was being served.

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// The certificate being served, replaceable while serving.
#[derive(Debug)]
pub struct Reloadable {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for Reloadable {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().map(|c| c.clone())
    }
}

/// The certificate chain and key of two PEM files.
fn load(cert: &Path, key: &Path, provider: &CryptoProvider) -> anyhow::Result<CertifiedKey> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| anyhow::anyhow!("cannot read the certificate {}: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow::anyhow!("{} is not a PEM certificate chain: {e}", cert.display()))?;
    anyhow::ensure!(!chain.is_empty(), "{} holds no certificate", cert.display());
    let der = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| anyhow::anyhow!("cannot read the private key {}: {e}", key.display()))?;
    let signing = provider
        .key_provider
        .load_private_key(der)
        .map_err(|e| anyhow::anyhow!("{} is not a usable private key: {e}", key.display()))?;
    let certified = CertifiedKey::new(chain, signing);
    certified.keys_match().map_err(|e| {
        anyhow::anyhow!(
            "the key {} does not belong to the certificate {}: {e}",
            key.display(),
            cert.display()
        )
    })?;
    Ok(certified)
}

impl Reloadable {
    pub fn new(cert: &Path, key: &Path) -> anyhow::Result<Arc<Reloadable>> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let current = load(cert, key, &provider)?;
        Ok(Arc::new(Reloadable {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            provider,
            current: RwLock::new(Arc::new(current)),
        }))
    }

    /// Reads the files again; on a problem, says so and keeps serving the
    /// certificate it has.
    pub fn reload(&self) {
        match load(&self.cert, &self.key, &self.provider) {
            Ok(c) => {
                if let Ok(mut cur) = self.current.write() {
                    *cur = Arc::new(c);
                }
                tracing::info!(cert = %self.cert.display(), "the TLS certificate was read again");
            }
            Err(e) => {
                tracing::error!(error = %e, "the TLS certificate was not replaced; the one being served stays")
            }
        }
    }

    /// The server configuration that serves it (TLS 1.2 and 1.3, HTTP/1.1).
    pub fn server_config(self: &Arc<Self>) -> anyhow::Result<rustls::ServerConfig> {
        let mut config = rustls::ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
}

//! TLS for the simulator: a self-signed certificate generated at start and
//! the rustls server configuration built on the ring provider.
//!
//! This module owns certificate generation (rcgen, for `localhost` and the
//! IP SAN `127.0.0.1`) and the `rustls::ServerConfig`. It never installs a
//! process-wide crypto provider: the ring provider is passed explicitly.

use std::sync::Arc;

use rustls::ServerConfig;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::SimError;

/// A generated certificate and the server config that presents it.
#[derive(Debug)]
pub(crate) struct TlsSetup {
    /// DER of the self-signed certificate (the root a client must trust).
    pub(crate) cert_der: Vec<u8>,
    /// PEM of the same certificate.
    pub(crate) cert_pem: String,
    /// Server configuration (TLS 1.2 and 1.3, ALPN `http/1.1`).
    pub(crate) config: Arc<ServerConfig>,
}

/// Generates a self-signed certificate for `localhost` and `127.0.0.1`.
pub(crate) fn setup() -> Result<TlsSetup, SimError> {
    let ck =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .map_err(|e| SimError::Tls(format!("certificate generation: {e}")))?;
    let cert_der = ck.cert.der().to_vec();
    let cert_pem = ck.cert.pem();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| SimError::Tls(format!("protocol versions: {e}")))?
        .with_no_client_auth()
        .with_single_cert(vec![CertificateDer::from(cert_der.clone())], key)
        .map_err(|e| SimError::Tls(format!("server certificate: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsSetup {
        cert_der,
        cert_pem,
        config: Arc::new(config),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_is_generated_with_both_names() {
        let t = setup().expect("tls setup");
        assert!(t.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        // The SANs are encoded in the DER: the DNS name as text, the IP as 4 bytes.
        assert!(t.cert_der.windows(9).any(|w| w == b"localhost"));
        assert!(t.cert_der.windows(4).any(|w| w == [127, 0, 0, 1]));
    }
}

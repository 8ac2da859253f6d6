//! TLS client set-up (rustls with the `ring` provider) and the TLS stream.
//!
//! Owns [`client_config`] (roots = the bundled webpki roots for the real
//! venue, plus an optional extra DER root, e.g. the simulator's self-signed
//! certificate; the `ring` crypto provider is passed explicitly, never taken
//! from a process-wide default) and [`TlsStream`] (a rustls
//! `ClientConnection` over a non-blocking mio `TcpStream`, driven by
//! `read`/`write` calls that never block: `WouldBlock` means "nothing now").
//!
//! What allocates: rustls's buffered `ClientConnection` moves each received
//! TLS record's plaintext into its own `Vec` (one allocation per record of up
//! to 16 KiB — many WebSocket messages per record on a busy stream, never one
//! per message) and copies each written plaintext chunk into a `Vec` (we
//! write only control frames). The plain `ws://` path allocates nothing.

use std::io::{self, Read, Write};
use std::sync::Arc;

use mio::net::TcpStream;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore};

use crate::error::FeedError;

/// Builds a client config trusting the webpki roots (if `webpki_roots`) and
/// `extra_root_der` (if given), with the `ring` provider and the safe default
/// protocol versions (TLS 1.2 and 1.3).
pub fn client_config(
    webpki_roots: bool,
    extra_root_der: Option<&[u8]>,
) -> Result<Arc<ClientConfig>, FeedError> {
    let mut roots = RootCertStore::empty();
    if webpki_roots {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    if let Some(der) = extra_root_der {
        roots
            .add(CertificateDer::from(der.to_vec()))
            .map_err(|e| FeedError::TlsSetup(format!("extra root certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(FeedError::TlsSetup("no root certificate to trust".into()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| FeedError::TlsSetup(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

/// Checks that `host` is a valid TLS server name (DNS name or IP literal).
pub fn server_name(host: &str) -> Result<ServerName<'static>, FeedError> {
    ServerName::try_from(host.to_owned())
        .map_err(|e| FeedError::TlsSetup(format!("server name `{host}`: {e}")))
}

/// A TLS client session over a non-blocking TCP stream. `Read`/`Write`
/// return `WouldBlock` instead of waiting; the handshake runs inside them.
pub struct TlsStream {
    tcp: TcpStream,
    tls: ClientConnection,
}

impl std::fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStream")
            .field("handshaking", &self.tls.is_handshaking())
            .finish()
    }
}

/// Most socket reads per `read` call before giving `WouldBlock` back (bounded
/// work: a partial record needs another read, but never unboundedly many).
const MAX_TLS_READS: usize = 8;

impl TlsStream {
    /// Starts a session to `name` over `tcp` (connected or still connecting).
    pub fn new(
        tcp: TcpStream,
        config: Arc<ClientConfig>,
        name: ServerName<'static>,
    ) -> Result<TlsStream, rustls::Error> {
        Ok(TlsStream {
            tcp,
            tls: ClientConnection::new(config, name)?,
        })
    }

    /// Whether the TLS handshake is still running.
    pub fn is_handshaking(&self) -> bool {
        self.tls.is_handshaking()
    }

    /// The TCP stream.
    pub fn tcp(&self) -> &TcpStream {
        &self.tcp
    }

    /// Writes queued TLS records to the socket until it would block. Returns
    /// whether everything queued was written.
    pub fn flush_tls(&mut self) -> io::Result<bool> {
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut self.tcp) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }
}

fn tls_io_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        for _ in 0..MAX_TLS_READS {
            match self.tls.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            // No plaintext buffered: push out anything pending (handshake
            // messages, alerts), then pull more records from the socket.
            self.flush_tls()?;
            match self.tls.read_tls(&mut self.tcp) {
                Ok(_) => {
                    // Ok(0) is EOF: process_new_packets records it and the
                    // next reader().read reports Ok(0) or UnexpectedEof.
                    self.tls.process_new_packets().map_err(tls_io_error)?;
                    self.flush_tls()?;
                }
                Err(e) => return Err(e),
            }
        }
        Err(io::ErrorKind::WouldBlock.into())
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.tls.writer().write(buf)?;
        // Best effort: whatever does not go out now stays queued in rustls
        // and leaves with the next flush (every read flushes first).
        self.flush_tls()?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.flush_tls()? {
            Ok(())
        } else {
            Err(io::ErrorKind::WouldBlock.into())
        }
    }
}

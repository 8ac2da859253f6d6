//! Non-blocking TCP connections, plain or TLS.
//!
//! Owns [`Conn`] (a connected mio `TcpStream`, or a [`TlsStream`] over one,
//! behind one `Read`/`Write` face whose calls never block: `WouldBlock` means
//! "nothing now, try next duty cycle"), [`start_connect`] and
//! [`connect_progress`] (TCP connect split into "start" and "has it finished?",
//! checked once per duty cycle instead of waiting), and [`resolve`] (DNS,
//! cold path only: it may block, so it runs at construction, never in a duty
//! cycle).
//!
//! Readiness is found by attempt: each duty cycle tries one non-blocking
//! read, which costs one syscall when idle — the same as a zero-timeout
//! `epoll_wait` — and saves the readiness bookkeeping.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};

use mio::net::TcpStream;

use crate::error::{FeedError, TransportError};
use crate::tls::TlsStream;

/// A connected stream, plain or TLS.
#[derive(Debug)]
pub enum Conn {
    /// Plain TCP (`ws://`, `http://`).
    Plain(TcpStream),
    /// TLS over TCP (`wss://`, `https://`).
    Tls(Box<TlsStream>),
}

impl Conn {
    /// Pushes out bytes queued below our own buffers (TLS records). Returns
    /// whether nothing is left queued.
    pub fn flush_pending(&mut self) -> io::Result<bool> {
        match self {
            Conn::Plain(_) => Ok(true),
            Conn::Tls(t) => t.flush_tls(),
        }
    }

    /// The TCP stream underneath.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Conn::Plain(t) => t,
            Conn::Tls(t) => t.tcp(),
        }
    }
}

impl Read for Conn {
    #[inline]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(t) => t.read(buf),
            Conn::Tls(t) => t.read(buf),
        }
    }
}

impl Write for Conn {
    #[inline]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(t) => t.write(buf),
            Conn::Tls(t) => t.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Plain(t) => t.flush(),
            Conn::Tls(t) => t.flush(),
        }
    }
}

/// Starts a non-blocking TCP connect to `addr` (returns at once).
pub fn start_connect(addr: SocketAddr) -> Result<TcpStream, TransportError> {
    TcpStream::connect(addr).map_err(|e| TransportError::Connect(e.kind()))
}

/// Whether a connect started by [`start_connect`] has completed: `Ok(true)`
/// connected, `Ok(false)` still in progress, `Err` failed. Two syscalls, no
/// waiting.
pub fn connect_progress(tcp: &TcpStream) -> Result<bool, TransportError> {
    match tcp.take_error() {
        Ok(Some(e)) | Err(e) => return Err(TransportError::Connect(e.kind())),
        Ok(None) => {}
    }
    match tcp.peer_addr() {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
        Err(e) if e.raw_os_error() == Some(libc_einprogress()) => Ok(false),
        Err(e) => Err(TransportError::Connect(e.kind())),
    }
}

/// EINPROGRESS on Linux and the BSDs' value differ; getpeername reports
/// ENOTCONN on both while connecting, this is belt and braces.
const fn libc_einprogress() -> i32 {
    if cfg!(target_os = "linux") { 115 } else { 36 }
}

/// Resolves `host:port` to its addresses (cold path: may block on DNS).
pub fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, FeedError> {
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| FeedError::Resolve {
            host: host.to_owned(),
            reason: e.to_string(),
        })?
        .collect();
    if addrs.is_empty() {
        return Err(FeedError::Resolve {
            host: host.to_owned(),
            reason: "no address".into(),
        });
    }
    Ok(addrs)
}

/// Maps an I/O error on an established connection.
pub(crate) fn io_err(e: &io::Error) -> TransportError {
    match e.kind() {
        io::ErrorKind::InvalidData => TransportError::Tls,
        io::ErrorKind::UnexpectedEof
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe => TransportError::Closed,
        k => TransportError::Io(k),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::time::{Duration, Instant};

    fn wait_connect(tcp: &TcpStream) -> Result<bool, TransportError> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match connect_progress(tcp) {
                Ok(false) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(1))
                }
                other => return other,
            }
        }
    }

    #[test]
    fn connects_without_blocking_and_reads_would_block() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let tcp = start_connect(l.local_addr().unwrap()).unwrap();
        assert_eq!(wait_connect(&tcp), Ok(true));
        let (mut server, _) = l.accept().unwrap();
        let mut c = Conn::Plain(tcp);
        let mut buf = [0u8; 8];
        assert_eq!(
            c.read(&mut buf).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        server.write_all(b"hi").unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let n = loop {
            match c.read(&mut buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {}
                Err(e) => panic!("{e}"),
            }
        };
        assert_eq!(&buf[..n], b"hi");
        assert!(c.flush_pending().unwrap());
    }

    #[test]
    fn refused_connect_is_an_error() {
        let addr = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        }; // listener dropped: the port refuses
        let r = start_connect(addr).and_then(|t| wait_connect(&t));
        assert!(matches!(r, Err(TransportError::Connect(_))), "{r:?}");
    }

    #[test]
    fn resolves_literals() {
        assert_eq!(resolve("127.0.0.1", 80).unwrap()[0].port(), 80);
    }
}

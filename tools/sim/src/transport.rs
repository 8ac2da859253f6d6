//! Byte transport of one client connection: plain TCP or TLS (rustls) over
//! TCP, split into a read half and a write half usable from two threads.
//!
//! This module owns the TLS record plumbing. For TLS both halves share the
//! `rustls::ServerConnection` behind a mutex; the read half blocks on the
//! socket without holding it, so a writer is never stalled by a reader
//! waiting for input. It never parses HTTP or WebSocket data.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard};

use rustls::{ServerConfig, ServerConnection};

type Shared = Arc<Mutex<ServerConnection>>;

fn lock(tls: &Shared) -> MutexGuard<'_, ServerConnection> {
    // Poisoning only means another thread panicked while holding it; the
    // connection state is still the best we have (the peer will see errors).
    tls.lock().unwrap_or_else(|e| e.into_inner())
}

/// Reading side.
#[derive(Debug)]
pub(crate) struct ReadHalf {
    tcp: TcpStream,
    tls: Option<Shared>,
    tmp: Vec<u8>,
}

/// Writing side.
#[derive(Debug)]
pub(crate) struct WriteHalf {
    tcp: TcpStream,
    tls: Option<Shared>,
}

/// Wraps an accepted socket. With `tls`, runs the server handshake first
/// (blocking; the caller sets a read timeout).
pub(crate) fn open(
    tcp: TcpStream,
    tls: Option<Arc<ServerConfig>>,
) -> io::Result<(ReadHalf, WriteHalf)> {
    let shared = match tls {
        None => None,
        Some(cfg) => {
            let mut conn = ServerConnection::new(cfg).map_err(io::Error::other)?;
            let mut sock = &tcp;
            while conn.is_handshaking() {
                let (rd, wr) = conn.complete_io(&mut sock)?;
                if rd == 0 && wr == 0 && conn.is_handshaking() {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "eof in TLS handshake",
                    ));
                }
            }
            Some(Arc::new(Mutex::new(conn)))
        }
    };
    let tcp2 = tcp.try_clone()?;
    Ok((
        ReadHalf {
            tcp,
            tls: shared.clone(),
            tmp: vec![0u8; 64 * 1024],
        },
        WriteHalf {
            tcp: tcp2,
            tls: shared,
        },
    ))
}

impl ReadHalf {
    /// The underlying socket (for timeouts).
    pub(crate) fn tcp(&self) -> &TcpStream {
        &self.tcp
    }
}

impl Read for ReadHalf {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(tls) = &self.tls else {
            return self.tcp.read(buf);
        };
        loop {
            {
                let mut c = lock(tls);
                match c.reader().read(buf) {
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
            }
            let n = self.tcp.read(&mut self.tmp)?;
            if n == 0 {
                return Ok(0);
            }
            let mut c = lock(tls);
            let mut input = &self.tmp[..n];
            while !input.is_empty() {
                c.read_tls(&mut input)?;
                if let Err(e) = c.process_new_packets() {
                    // Send the alert, then fail.
                    let _ = c.write_tls(&mut &self.tcp);
                    return Err(io::Error::new(io::ErrorKind::InvalidData, e));
                }
            }
            while c.wants_write() {
                c.write_tls(&mut &self.tcp)?;
            }
        }
    }
}

impl WriteHalf {
    /// Shuts the socket down in both directions (wakes the reader).
    pub(crate) fn shutdown(&self) {
        let _ = self.tcp.shutdown(Shutdown::Both);
    }
}

impl Write for WriteHalf {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let Some(tls) = &self.tls else {
            return self.tcp.write(buf);
        };
        let mut c = lock(tls);
        let n = c.writer().write(buf)?;
        while c.wants_write() {
            c.write_tls(&mut &self.tcp)?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        let Some(tls) = &self.tls else {
            return self.tcp.flush();
        };
        let mut c = lock(tls);
        c.writer().flush()?;
        while c.wants_write() {
            c.write_tls(&mut &self.tcp)?;
        }
        Ok(())
    }
}

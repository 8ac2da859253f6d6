//! The control socket: a Unix domain socket in the data directory
//! (`<data_dir>/talon.sock`, mode 0600) speaking newline-delimited JSON.
//!
//! Owns [`CtlServer`] (the listener thread and one thread per connection,
//! at most [`MAX_CONNECTIONS`]), [`CtlServerError`], the protocol
//! ([`protocol`]: requests, responses, [`protocol::Dispatcher`]) and the
//! session's [`protocol::Backend`] ([`backend::SessionBackend`]). It runs
//! on plain threads of its own, never on the hot path; nothing a client
//! sends can crash or stall it: lines are bounded ([`protocol::MAX_LINE`];
//! longer → an error and the connection closed), reads and writes time out,
//! idle connections are closed, and every error is a JSON response.
//!
//! `halt` throws the process halt flag *before* anything else and is
//! acknowledged only after it is set: the gateway checks the flag before
//! every send, so no new order leaves after the acknowledgement (only a
//! request whose check had already passed, i.e. one already being written,
//! can still reach the venue). The engine is then told through the control
//! inbox (it latches the halt and cancels every open order); the
//! acknowledgement does not wait for the engine, so a halt works even when
//! the engine thread is stuck.
//!
//! It never removes a socket file another live process listens on (start
//! fails instead), and never logs request contents.

pub mod backend;
pub mod protocol;

use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use self::backend::SessionBackend;
use self::protocol::{Backend, CtlErrorBody, Dispatcher, ErrorCode, MAX_LINE, response};

/// The socket's file name in the data directory.
pub const SOCKET_NAME: &str = "talon.sock";
/// Most connections served at once; more are answered `busy` and closed.
pub const MAX_CONNECTIONS: usize = 8;
/// A connection idle this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// How often blocked threads look at the stop flag.
const TICK: Duration = Duration::from_millis(50);
/// A response write may block this long (a client that does not read).
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// Why the control socket could not start.
#[derive(Debug, thiserror::Error)]
pub enum CtlServerError {
    /// Another process serves the socket.
    #[error("control socket {0} is in use by a live process")]
    InUse(String),
    /// The path exists and is not a socket.
    #[error("control socket path {0} exists and is not a socket")]
    NotASocket(String),
    /// An I/O error (bind, permissions, thread).
    #[error("control socket {path}: {source}")]
    Io {
        /// The socket path.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// A running control socket server. Stopped (and the socket file removed)
/// by [`CtlServer::stop`] or on drop.
#[derive(Debug)]
pub struct CtlServer {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl CtlServer {
    /// Binds `path` (removing a stale socket file, refusing a live one),
    /// sets mode 0600 and serves `backend` on a thread named `talon-ctl`.
    pub fn start<B: Backend>(path: &Path, backend: B) -> Result<CtlServer, CtlServerError> {
        let shown = path.display().to_string();
        let io = |source| CtlServerError::Io {
            path: shown.clone(),
            source,
        };
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            if !meta.file_type().is_socket() {
                return Err(CtlServerError::NotASocket(shown));
            }
            if UnixStream::connect(path).is_ok() {
                return Err(CtlServerError::InUse(shown));
            }
            std::fs::remove_file(path).map_err(io)?;
        }
        let listener = UnixListener::bind(path).map_err(io)?;
        // Owner only, before anyone can be served: accept() has not run yet.
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
        listener.set_nonblocking(true).map_err(io)?;
        let stop = Arc::new(AtomicBool::new(false));
        let dispatcher = Arc::new(Dispatcher::new(backend));
        let stop2 = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("talon-ctl".into())
            .spawn(move || serve(&listener, &dispatcher, &stop2))
            .map_err(io)?;
        Ok(CtlServer {
            path: path.to_path_buf(),
            stop,
            thread: Some(thread),
        })
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops accepting, closes every connection (within a tick), joins the
    /// threads and removes the socket file.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        // Release: pairs with the Acquire loads in `serve` / `connection`.
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl Drop for CtlServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The accept loop (non-blocking, polling the stop flag every tick).
fn serve<B: Backend>(listener: &UnixListener, d: &Arc<Dispatcher<B>>, stop: &Arc<AtomicBool>) {
    let active = Arc::new(AtomicUsize::new(0));
    let mut conns: Vec<JoinHandle<()>> = Vec::new();
    // Acquire: pairs with the Release store in `CtlServer::shutdown`.
    while !stop.load(Ordering::Acquire) {
        match listener.accept() {
            Ok((mut stream, _)) => {
                conns.retain(|h| !h.is_finished());
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
                // AcqRel: the count is the only shared state (decremented by
                // the connection thread on exit).
                if active.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTIONS {
                    active.fetch_sub(1, Ordering::AcqRel);
                    let body = CtlErrorBody::new(ErrorCode::Busy, "too many connections");
                    let _ = write_value(&mut stream, &response(Err(body), None));
                    continue;
                }
                let (d, stop, active2) = (Arc::clone(d), Arc::clone(stop), Arc::clone(&active));
                let spawned = std::thread::Builder::new()
                    .name("talon-ctl-conn".into())
                    .spawn(move || {
                        connection(stream, &d, &stop);
                        // AcqRel: see the increment.
                        active2.fetch_sub(1, Ordering::AcqRel);
                    });
                match spawned {
                    Ok(h) => conns.push(h),
                    // The closure (and the stream) was dropped.
                    Err(_) => {
                        active.fetch_sub(1, Ordering::AcqRel);
                    }
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => {
                std::thread::sleep(TICK);
            }
            // EMFILE and friends: back off, keep serving.
            Err(_) => std::thread::sleep(TICK),
        }
    }
    for h in conns {
        let _ = h.join();
    }
}

fn write_value(stream: &mut UnixStream, v: &serde_json::Value) -> std::io::Result<()> {
    let mut out = serde_json::to_vec(v).map_err(std::io::Error::other)?;
    out.push(b'\n');
    stream.write_all(&out)
}

/// Serves one connection: request lines in, response lines out, until EOF,
/// an over-long line, an idle timeout, a write failure or the server stops.
fn connection<B: Backend>(mut stream: UnixStream, d: &Dispatcher<B>, stop: &AtomicBool) {
    if stream.set_read_timeout(Some(TICK)).is_err() {
        return;
    }
    let mut pending: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 8192];
    let mut last_activity = Instant::now();
    // Acquire: pairs with the Release store in `CtlServer::shutdown`.
    while !stop.load(Ordering::Acquire) {
        let n = match stream.read(&mut chunk) {
            Ok(0) => return, // EOF (or the client half-closed: nothing more to read)
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) =>
            {
                if last_activity.elapsed() >= IDLE_TIMEOUT {
                    return;
                }
                continue;
            }
            Err(_) => return,
        };
        last_activity = Instant::now();
        pending.extend_from_slice(chunk.get(..n).unwrap_or_default());
        let mut start = 0;
        while let Some(pos) = pending
            .get(start..)
            .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
        {
            let line = pending.get(start..start + pos).unwrap_or_default();
            start += pos + 1;
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.len() > MAX_LINE {
                let _ = write_value(&mut stream, &line_too_long());
                return;
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let v = d.handle_line(line);
            if write_value(&mut stream, &v).is_err() {
                return;
            }
        }
        pending.drain(..start);
        if pending.len() > MAX_LINE {
            let _ = write_value(&mut stream, &line_too_long());
            return;
        }
    }
}

fn line_too_long() -> serde_json::Value {
    response(
        Err(CtlErrorBody::new(
            ErrorCode::LineTooLong,
            format!("a request line is at most {MAX_LINE} bytes; closing"),
        )),
        None,
    )
}

/// Sends one request to the socket at `path` and returns the response
/// line's JSON (the `talon ctl` client).
pub fn request(
    path: &Path,
    req: &serde_json::Value,
    timeout: Duration,
) -> std::io::Result<serde_json::Value> {
    let mut stream = UnixStream::connect(path)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write_value(&mut stream, req)?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        if buf.contains(&b'\n') || buf.len() > 64 * MAX_LINE {
            break;
        }
    }
    let line = buf.split(|&b| b == b'\n').next().unwrap_or_default();
    serde_json::from_slice(line).map_err(|e| std::io::Error::new(ErrorKind::InvalidData, e))
}

//! WebSocket protocol pieces (RFC 6455, RFC 7692): the server side of the
//! opening handshake, frame encoding, client-frame decoding and
//! permessage-deflate.
//!
//! This module owns wire formats only: it never decides what to send, never
//! spawns threads and never looks at message contents. The accept key comes
//! from `tungstenite::handshake::derive_accept_key`.

use std::io::{self, Read, Write};

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// Opcodes.
pub(crate) const OP_CONT: u8 = 0x0;
pub(crate) const OP_TEXT: u8 = 0x1;
pub(crate) const OP_BINARY: u8 = 0x2;
pub(crate) const OP_CLOSE: u8 = 0x8;
pub(crate) const OP_PING: u8 = 0x9;
pub(crate) const OP_PONG: u8 = 0xA;

/// Largest client message accepted (control requests are tiny).
const MAX_CLIENT_MESSAGE: usize = 1 << 20;

/// The `Sec-WebSocket-Accept` value for a client key.
pub(crate) fn accept_key(key: &[u8]) -> String {
    tungstenite::handshake::derive_accept_key(key)
}

/// Result of looking at a client's `Sec-WebSocket-Extensions` header(s).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DeflateOffer {
    /// The client offered permessage-deflate at all.
    pub(crate) offered: bool,
    /// An offer we can honour was found.
    pub(crate) acceptable: bool,
    /// That offer asked for `client_no_context_takeover`.
    pub(crate) client_no_context_takeover: bool,
}

/// Parses extension offers (`permessage-deflate; client_max_window_bits,
/// permessage-deflate`, possibly over several headers). An offer with
/// `server_max_window_bits` below 15 is not acceptable (flate2's raw
/// deflate here always uses a 32 KiB window); unknown parameters make an
/// offer unacceptable, as RFC 7692 §5 requires.
pub(crate) fn parse_deflate_offer<'a>(headers: impl Iterator<Item = &'a str>) -> DeflateOffer {
    let mut res = DeflateOffer {
        offered: false,
        acceptable: false,
        client_no_context_takeover: false,
    };
    for value in headers {
        for offer in value.split(',') {
            let mut parts = offer.split(';').map(str::trim);
            if parts.next() != Some("permessage-deflate") {
                continue;
            }
            res.offered = true;
            if res.acceptable {
                continue;
            }
            let mut ok = true;
            let mut cnct = false;
            for p in parts {
                let (name, val) = match p.split_once('=') {
                    Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
                    None => (p, None),
                };
                match (name, val) {
                    ("server_no_context_takeover", None) => {}
                    ("client_no_context_takeover", None) => cnct = true,
                    ("client_max_window_bits", None) => {}
                    ("client_max_window_bits", Some(v)) => {
                        ok &= v.parse::<u8>().is_ok_and(|b| (8..=15).contains(&b));
                    }
                    ("server_max_window_bits", Some(v)) => ok &= v == "15",
                    _ => ok = false,
                }
            }
            if ok {
                res.acceptable = true;
                res.client_no_context_takeover = cnct;
            }
        }
    }
    res
}

/// Appends a server frame header (FIN set, unmasked).
pub(crate) fn push_header(out: &mut Vec<u8>, opcode: u8, rsv1: bool, len: usize) {
    out.push(0x80 | if rsv1 { 0x40 } else { 0 } | (opcode & 0x0f));
    if len < 126 {
        out.push(len as u8);
    } else if len <= 0xffff {
        out.push(126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
}

/// Writes a server frame header to `w`.
pub(crate) fn write_header(
    w: &mut impl Write,
    opcode: u8,
    rsv1: bool,
    len: usize,
) -> io::Result<()> {
    let mut h = Vec::with_capacity(10);
    push_header(&mut h, opcode, rsv1, len);
    w.write_all(&h)
}

/// Writes a whole unfragmented server frame.
pub(crate) fn write_frame(
    w: &mut impl Write,
    opcode: u8,
    rsv1: bool,
    payload: &[u8],
) -> io::Result<()> {
    write_header(w, opcode, rsv1, payload.len())?;
    w.write_all(payload)
}

/// A close frame payload: code and reason.
pub(crate) fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason.as_bytes());
    p
}

/// A decoded client frame.
#[derive(Debug)]
pub(crate) struct Frame {
    pub(crate) fin: bool,
    pub(crate) rsv1: bool,
    pub(crate) opcode: u8,
    pub(crate) payload: Vec<u8>,
}

/// Why reading client frames stopped.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The peer closed the socket (or it failed).
    Io,
    /// A protocol violation; close with this code.
    Protocol(u16, &'static str),
}

impl From<io::Error> for ReadError {
    fn from(_: io::Error) -> Self {
        ReadError::Io
    }
}

/// Decodes masked client frames from a byte stream, starting with bytes
/// already read past the HTTP head.
#[derive(Debug)]
pub(crate) struct FrameReader<R> {
    inner: R,
    buf: Vec<u8>,
    pos: usize,
}

impl<R: Read> FrameReader<R> {
    pub(crate) fn new(inner: R, leftover: Vec<u8>) -> Self {
        FrameReader {
            inner,
            buf: leftover,
            pos: 0,
        }
    }

    fn fill(&mut self, need: usize) -> io::Result<()> {
        while self.buf.len() - self.pos < need {
            if self.pos > 0 {
                self.buf.drain(..self.pos);
                self.pos = 0;
            }
            let mut tmp = [0u8; 16 * 1024];
            let n = self.inner.read(&mut tmp)?;
            if n == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "peer closed"));
            }
            self.buf.extend_from_slice(&tmp[..n]);
        }
        Ok(())
    }

    fn take(&mut self, n: usize) -> io::Result<&[u8]> {
        self.fill(n)?;
        let s = self.pos;
        self.pos += n;
        Ok(&self.buf[s..s + n])
    }

    /// Reads one frame.
    pub(crate) fn read_frame(&mut self) -> Result<Frame, ReadError> {
        let h = self.take(2)?;
        let (b0, b1) = (h[0], h[1]);
        if b0 & 0x30 != 0 {
            return Err(ReadError::Protocol(1002, "reserved bits set"));
        }
        if b1 & 0x80 == 0 {
            return Err(ReadError::Protocol(1002, "client frame not masked"));
        }
        let opcode = b0 & 0x0f;
        let len = match b1 & 0x7f {
            126 => {
                let b = self.take(2)?;
                usize::from(u16::from_be_bytes([b[0], b[1]]))
            }
            127 => {
                let b = self.take(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                usize::try_from(u64::from_be_bytes(a)).unwrap_or(usize::MAX)
            }
            n => usize::from(n),
        };
        if len > MAX_CLIENT_MESSAGE {
            return Err(ReadError::Protocol(1009, "frame too big"));
        }
        if opcode >= 0x8 && (len > 125 || b0 & 0x80 == 0) {
            return Err(ReadError::Protocol(1002, "bad control frame"));
        }
        let mut mask = [0u8; 4];
        mask.copy_from_slice(self.take(4)?);
        let mut payload = self.take(len)?.to_vec();
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= mask[i & 3];
        }
        Ok(Frame {
            fin: b0 & 0x80 != 0,
            rsv1: b0 & 0x40 != 0,
            opcode,
            payload,
        })
    }
}

/// Per-connection permessage-deflate state (server side).
#[derive(Debug)]
pub(crate) struct Deflate {
    compress: Compress,
    decompress: Decompress,
    client_no_context_takeover: bool,
}

impl Deflate {
    pub(crate) fn new(client_no_context_takeover: bool) -> Deflate {
        Deflate {
            compress: Compress::new(Compression::fast(), false),
            decompress: Decompress::new(false),
            client_no_context_takeover,
        }
    }

    /// Whether the client resets its compressor per message.
    pub(crate) fn client_no_context_takeover(&self) -> bool {
        self.client_no_context_takeover
    }

    /// Compresses one message (server_no_context_takeover: a fresh window
    /// per message) into `out`, without the trailing `00 00 ff ff`.
    pub(crate) fn compress(&mut self, input: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        self.compress.reset();
        out.clear();
        out.reserve(input.len() / 2 + 64);
        let mut consumed = 0usize;
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(256));
            }
            let before = self.compress.total_in();
            self.compress
                .compress_vec(&input[consumed..], out, FlushCompress::Sync)
                .map_err(io::Error::other)?;
            consumed += (self.compress.total_in() - before) as usize;
            // Done when all input is in and the sync flush fit (spare room left).
            if consumed >= input.len() && out.len() < out.capacity() {
                break;
            }
        }
        if out.ends_with(&[0, 0, 0xff, 0xff]) {
            out.truncate(out.len() - 4);
        }
        Ok(())
    }

    /// Inflates one compressed client message.
    pub(crate) fn decompress(&mut self, input: &[u8]) -> io::Result<Vec<u8>> {
        if self.client_no_context_takeover {
            self.decompress.reset(false);
        }
        let mut data = input.to_vec();
        data.extend_from_slice(&[0, 0, 0xff, 0xff]);
        let mut out = Vec::with_capacity(input.len() * 4 + 64);
        let mut consumed = 0usize;
        loop {
            if out.capacity() - out.len() < 256 {
                out.reserve(out.capacity().max(1024));
            }
            if out.len() > MAX_CLIENT_MESSAGE {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "inflated message too big",
                ));
            }
            let before_in = self.decompress.total_in();
            let before_out = self.decompress.total_out();
            let st = self
                .decompress
                .decompress_vec(&data[consumed..], &mut out, FlushDecompress::Sync)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            consumed += (self.decompress.total_in() - before_in) as usize;
            let progressed = self.decompress.total_out() != before_out
                || self.decompress.total_in() != before_in;
            if matches!(st, Status::StreamEnd)
                || (consumed >= data.len() && out.capacity() > out.len())
            {
                break;
            }
            if !progressed && out.capacity() > out.len() {
                break;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn offers_are_parsed_like_rfc7692() {
        let o = parse_deflate_offer(["permessage-deflate; client_max_window_bits"].into_iter());
        assert!(o.offered && o.acceptable && !o.client_no_context_takeover);
        let o = parse_deflate_offer(
            ["permessage-deflate; server_max_window_bits=10, permessage-deflate; client_no_context_takeover"]
                .into_iter(),
        );
        assert!(o.acceptable && o.client_no_context_takeover);
        let o = parse_deflate_offer(["permessage-deflate; server_max_window_bits=10"].into_iter());
        assert!(o.offered && !o.acceptable);
        let o = parse_deflate_offer(["x-webkit-deflate-frame"].into_iter());
        assert!(!o.offered);
    }

    #[test]
    fn deflate_round_trips_and_frames_decode() {
        let mut d = Deflate::new(false);
        let msg = br#"{"u":123,"s":"BTCUSDT","b":"65000.00000000","B":"1.00000000"}"#.repeat(20);
        let mut c = Vec::new();
        d.compress(&msg, &mut c).unwrap();
        assert!(c.len() < msg.len() / 4);
        // Inflate as a client would (its own decompressor, context kept).
        let mut client = Deflate::new(false);
        assert_eq!(client.decompress(&c).unwrap(), msg);
        d.compress(b"second", &mut c).unwrap();
        assert_eq!(client.decompress(&c).unwrap(), b"second");

        // A masked client text frame.
        let payload = b"hello";
        let mask = [1u8, 2, 3, 4];
        let mut raw = vec![0x81, 0x80 | payload.len() as u8];
        raw.extend_from_slice(&mask);
        raw.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i & 3]));
        let mut fr = FrameReader::new(&raw[3..], raw[..3].to_vec());
        let f = fr.read_frame().unwrap();
        assert!(f.fin && f.opcode == OP_TEXT && f.payload == payload);
        assert!(matches!(fr.read_frame(), Err(ReadError::Io)));
        let mut h = Vec::new();
        push_header(&mut h, OP_TEXT, true, 70_000);
        assert_eq!(h[..2], [0xC1, 127]);
    }
}

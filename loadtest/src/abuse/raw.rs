//! Hand-written HTTP/1.1 and WebSocket over TLS, for requests no well-behaved client sends:
//! a head that never ends, a 4 MB header, a message of endless fragments. Writes and reads
//! at once, so that an answer the hub sends before it has read everything (a 431, a close
//! 1009) is seen even when the hub then drops the connection. Must not: retry, or hide how a
//! connection ended.

use std::io;
use std::net::{IpAddr, SocketAddr};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::io::{ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::socket;

/// The longest response head the tool reads.
const MAX_HEAD: usize = 64 * 1024;

/// The largest server frame the tool reads (the hub's are events and close frames).
const MAX_SERVER_FRAME: u64 = 1024 * 1024;

pub const OPCODE_CONTINUATION: u8 = 0x0;
pub const OPCODE_BINARY: u8 = 0x2;
pub const OPCODE_CLOSE: u8 = 0x8;

/// How far a connection attempt got.
#[derive(Debug)]
pub enum Refusal {
    /// TCP connect failed.
    Connect(io::Error),
    /// TCP was accepted but TLS did not complete (the hub refused it at accept).
    Handshake(io::Error),
}

impl Refusal {
    pub fn label(&self) -> String {
        match self {
            Refusal::Connect(err) => format!("refused at connect ({})", kind(err)),
            Refusal::Handshake(err) => format!("closed during TLS handshake ({})", kind(err)),
        }
    }
}

/// A short name for how an I/O call failed.
pub fn kind(err: &io::Error) -> &'static str {
    match err.kind() {
        io::ErrorKind::UnexpectedEof => "eof",
        io::ErrorKind::ConnectionReset => "reset",
        io::ErrorKind::BrokenPipe => "broken pipe",
        io::ErrorKind::ConnectionRefused => "refused",
        io::ErrorKind::TimedOut => "timed out",
        io::ErrorKind::InvalidData => "invalid data",
        _ => "other error",
    }
}

/// A TLS connection to the hub, its halves apart so that one task writes while it reads.
pub struct Conn {
    pub reader: BufReader<ReadHalf<TlsStream<TcpStream>>>,
    pub writer: WriteHalf<TlsStream<TcpStream>>,
}

impl Conn {
    /// Connects from `source` and completes the TLS handshake.
    pub async fn open(
        target: SocketAddr,
        source: IpAddr,
        tls: &TlsConnector,
    ) -> Result<Conn, Refusal> {
        let tcp = socket::dial(target, Some(source))
            .await
            .map_err(Refusal::Connect)?;
        let stream = socket::handshake(tls, tcp)
            .await
            .map_err(Refusal::Handshake)?;
        let (reader, writer) = tokio::io::split(stream);
        Ok(Conn {
            reader: BufReader::new(reader),
            writer,
        })
    }

    /// Writes `head` then `body` while reading the response to them. `sent_all` is false
    /// when the answer came first (or the write failed): the connection is then not reused.
    pub async fn exchange(&mut self, head: &[u8], body: &[u8]) -> io::Result<Exchange> {
        let writer = &mut self.writer;
        let write = async move {
            writer.write_all(head).await?;
            writer.write_all(body).await?;
            writer.flush().await
        };
        let read = read_response(&mut self.reader);
        tokio::pin!(write, read);
        let mut written: Option<bool> = None;
        loop {
            tokio::select! {
                result = &mut write, if written.is_none() => written = Some(result.is_ok()),
                response = &mut read => {
                    return Ok(Exchange { response: response?, sent_all: written == Some(true) });
                }
            }
        }
    }
}

pub struct Exchange {
    pub response: Response,
    pub sent_all: bool,
}

impl Exchange {
    /// The connection may carry the next request.
    pub fn reusable(&self) -> bool {
        self.sent_all && self.response.keep_alive
    }
}

#[derive(Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// The body was read in full (a `Content-Length`) and the hub keeps the connection.
    pub keep_alive: bool,
}

/// A response head: its status and the headers the tool reads.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    pub content_length: Option<usize>,
    pub close: bool,
}

/// Reads a response head (up to its blank line).
pub async fn read_head<R: AsyncRead + Unpin>(reader: &mut BufReader<R>) -> io::Result<Head> {
    let mut head = Head::default();
    let mut line = Vec::new();
    let mut total = 0;
    loop {
        line.clear();
        let read = reader.read_until(b'\n', &mut line).await?;
        if read == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        total += read;
        if total > MAX_HEAD {
            return Err(invalid("response head too long"));
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end();
        if head.status == 0 {
            head.status = status_of(text).ok_or_else(|| invalid("not an HTTP status line"))?;
            continue;
        }
        if text.is_empty() {
            return Ok(head);
        }
        let Some((name, value)) = text.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            head.content_length = value.parse().ok();
        } else if name.eq_ignore_ascii_case("connection") {
            head.close = value.eq_ignore_ascii_case("close");
        }
    }
}

/// `HTTP/1.1 431 Request Header Fields Too Large` → 431.
pub fn status_of(line: &str) -> Option<u16> {
    let rest = line.strip_prefix("HTTP/1.")?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Reads a response: its head, and its body when its length is given.
async fn read_response<R: AsyncRead + Unpin>(reader: &mut BufReader<R>) -> io::Result<Response> {
    let head = read_head(reader).await?;
    let Some(length) = head.content_length else {
        return Ok(Response {
            status: head.status,
            keep_alive: false,
        });
    };
    let mut body = vec![0; length.min(MAX_HEAD)];
    reader.read_exact(&mut body).await?;
    Ok(Response {
        status: head.status,
        keep_alive: !head.close && length <= MAX_HEAD,
    })
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

/// A client frame (RFC 6455 §5.2): FIN bit, opcode, the mask bit with `mask`, the length in
/// its minimal form (7 bits, or 126 and 16 bits, or 127 and 64 bits), and `len` payload
/// bytes of zeros, masked (zero XOR mask is the mask, repeated).
pub fn frame(opcode: u8, fin: bool, len: usize, mask: [u8; 4]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(14 + len);
    frame.push(if fin { 0x80 } else { 0 } | (opcode & 0x0f));
    match len {
        0..=125 => frame.push(0x80 | len as u8),
        126..=65_535 => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&mask);
    frame.extend((0..len).map(|i| mask[i % 4]));
    frame
}

/// A frame from the hub: its opcode and payload (unmasked).
#[derive(Debug, PartialEq, Eq)]
pub struct Frame {
    pub opcode: u8,
    pub payload: Vec<u8>,
}

impl Frame {
    /// The status code of a close frame, if it carries one.
    pub fn close_code(&self) -> Option<u16> {
        match self.payload.as_slice() {
            [high, low, ..] if self.opcode == OPCODE_CLOSE => {
                Some(u16::from_be_bytes([*high, *low]))
            }
            _ => None,
        }
    }
}

pub async fn read_frame<R: AsyncRead + Unpin>(reader: &mut R) -> io::Result<Frame> {
    let mut header = [0u8; 2];
    reader.read_exact(&mut header).await?;
    let opcode = header[0] & 0x0f;
    let masked = header[1] & 0x80 != 0;
    let len = match header[1] & 0x7f {
        126 => u64::from(reader.read_u16().await?),
        127 => reader.read_u64().await?,
        short => u64::from(short),
    };
    if len > MAX_SERVER_FRAME {
        return Err(invalid("server frame too large"));
    }
    let mut mask = [0u8; 4];
    if masked {
        reader.read_exact(&mut mask).await?;
    }
    let mut payload = vec![0; len as usize];
    reader.read_exact(&mut payload).await?;
    if masked {
        for (i, byte) in payload.iter_mut().enumerate() {
            *byte ^= mask[i % 4];
        }
    }
    Ok(Frame { opcode, payload })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sixty_kib_fragment_has_the_sixteen_bit_length_and_the_mask() {
        let mask = [1, 2, 3, 4];
        let first = frame(OPCODE_BINARY, false, 60 * 1024, mask);
        assert_eq!(first[0], 0x02, "binary, FIN clear");
        // RFC 6455 §5.2: the minimal length encoding; 61,440 fits the 16-bit form.
        assert_eq!(first[1], 0x80 | 126, "masked, 16-bit length");
        assert_eq!(&first[2..4], &(60u16 * 1024).to_be_bytes());
        assert_eq!(&first[4..8], &mask);
        assert_eq!(first.len(), 8 + 60 * 1024);
        // Masked zeros read back as zeros.
        assert!(
            first[8..]
                .iter()
                .enumerate()
                .all(|(i, b)| b ^ mask[i % 4] == 0)
        );
        let large = frame(OPCODE_BINARY, false, 70_000, mask);
        assert_eq!(large[1], 0x80 | 127, "masked, 64-bit length");
        assert_eq!(&large[2..10], &70_000u64.to_be_bytes());
        let next = frame(OPCODE_CONTINUATION, false, 60 * 1024, mask);
        assert_eq!(next[0], 0x00, "continuation, FIN clear");
        assert_eq!(frame(OPCODE_CLOSE, true, 2, mask)[..2], [0x88, 0x82]);
        assert_eq!(
            frame(OPCODE_BINARY, true, 200, mask)[1..4],
            [0x80 | 126, 0, 200]
        );
    }

    #[tokio::test]
    async fn a_close_frame_from_the_hub_gives_its_code() {
        let bytes = [0x88, 0x04, 0x03, 0xf1, b'b', b'i'];
        let frame = read_frame(&mut &bytes[..]).await.unwrap();
        assert_eq!(frame.opcode, OPCODE_CLOSE);
        assert_eq!(frame.close_code(), Some(1009));
        let masked = frame_bytes_masked();
        let frame = read_frame(&mut &masked[..]).await.unwrap();
        assert_eq!(frame.payload, vec![0; 3]);
    }

    fn frame_bytes_masked() -> Vec<u8> {
        frame(OPCODE_BINARY, true, 3, [9, 8, 7, 6])
    }

    #[tokio::test]
    async fn a_response_head_gives_status_length_and_close() {
        let text = b"HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\nContent-Length: 2\r\n\r\n{}HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\n\r\n";
        let mut reader = BufReader::new(&text[..]);
        let first = read_response(&mut reader).await.unwrap();
        assert_eq!(
            first,
            Response {
                status: 401,
                keep_alive: true
            }
        );
        let second = read_head(&mut reader).await.unwrap();
        assert_eq!(
            second,
            Head {
                status: 431,
                content_length: None,
                close: true
            }
        );
        assert!(read_head(&mut reader).await.is_err(), "eof");
        assert_eq!(status_of("HTTP/1.0 408 Request Timeout"), Some(408));
        assert_eq!(status_of("garbage"), None);
    }
}

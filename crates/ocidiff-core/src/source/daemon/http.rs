//! Just enough HTTP/1.1 to talk to a container engine's API: `GET` requests over a unix or TCP
//! socket, one connection per request, answers read as a stream.
//!
//! Written by hand rather than with bollard or hyper: every call here is a `GET` whose answer is
//! either small JSON or a tar stream that the importer reads synchronously, member by member.
//! bollard cannot pass the platform to an export, and both would put an async runtime and a
//! thread-to-thread pipe between the socket and the tar reader. What a GET needs beyond writing
//! a request line is parsing the response head (done by `httparse`) and undoing the chunked
//! transfer coding (below).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

use super::DaemonError;
use super::endpoint::{Address, Endpoint};

/// Longest response head accepted; engines send a few hundred bytes.
const MAX_HEAD: usize = 64 << 10;

/// How long a small request may take; an export streams for as long as it needs.
const SMALL_TIMEOUT: Duration = Duration::from_secs(60);

/// Characters escaped in a path segment holding an image name. `/`, `:` and `@` stay as they
/// are: engines route `/images/{name}/json` on the raw path, as the docker CLI sends it.
const NAME: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'?')
    .add(b'<')
    .add(b'>')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// Characters escaped in a query value.
const QUERY: &AsciiSet = &NAME.add(b'&').add(b'=').add(b'+').add(b',').add(b':');

/// An image name as a path segment.
pub(super) fn encode_name(name: &str) -> String {
    utf8_percent_encode(name, NAME).to_string()
}

/// A query value.
pub(super) fn encode_query(value: &str) -> String {
    utf8_percent_encode(value, QUERY).to_string()
}

/// What an engine answered.
pub(super) struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Box<dyn Read + Send>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The whole body, when it is at most `limit` bytes.
    pub fn read_small(mut self, limit: u64, what: &str) -> Result<Vec<u8>, DaemonError> {
        let mut bytes = Vec::new();
        (&mut self.body)
            .take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(|source| DaemonError::Read {
                what: what.to_owned(),
                source,
            })?;
        if bytes.len() as u64 > limit {
            return Err(DaemonError::Protocol {
                what: what.to_owned(),
                reason: format!("the answer is longer than {limit} bytes"),
            });
        }
        Ok(bytes)
    }

    /// The engine's error message (`{"message": …}`), or the body as text.
    pub fn error_message(self, what: &str) -> String {
        match self.read_small(64 << 10, what) {
            Ok(bytes) => serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v.get("message")?.as_str().map(str::to_owned))
                .unwrap_or_else(|| String::from_utf8_lossy(&bytes).trim().to_owned()),
            Err(e) => e.to_string(),
        }
    }
}

/// A socket of either kind.
trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

fn connect(endpoint: &Endpoint, timeout: Option<Duration>) -> Result<Box<dyn Stream>, DaemonError> {
    let unreachable = |source| DaemonError::Unreachable {
        endpoint: endpoint.clone(),
        source,
    };
    match &endpoint.address {
        Address::Unix(path) => {
            let s = UnixStream::connect(path).map_err(unreachable)?;
            s.set_read_timeout(timeout).map_err(unreachable)?;
            Ok(Box::new(s))
        }
        Address::Tcp(host) => {
            let s = TcpStream::connect(host.as_str()).map_err(unreachable)?;
            s.set_read_timeout(timeout).map_err(unreachable)?;
            Ok(Box::new(s))
        }
    }
}

/// Sends `GET path_and_query` and reads the response head; the body is left to the caller.
/// `streaming` lifts the read timeout (an export may pause while the engine prepares layers).
pub(super) fn get(
    endpoint: &Endpoint,
    path_and_query: &str,
    streaming: bool,
) -> Result<Response, DaemonError> {
    send(endpoint, "GET", path_and_query, None, streaming)
}

/// A request body: its media type, its length and the bytes.
pub(super) struct Body<'a> {
    pub content_type: &'static str,
    pub len: u64,
    pub bytes: &'a mut dyn Read,
}

/// Sends `POST path_and_query` with `body` and reads the response head; the answer streams
/// (a build runs for as long as it needs).
pub(super) fn post(
    endpoint: &Endpoint,
    path_and_query: &str,
    body: Body<'_>,
) -> Result<Response, DaemonError> {
    send(endpoint, "POST", path_and_query, Some(body), true)
}

fn send(
    endpoint: &Endpoint,
    method: &str,
    path_and_query: &str,
    body: Option<Body<'_>>,
    streaming: bool,
) -> Result<Response, DaemonError> {
    let what = format!("{method} {path_and_query} from {endpoint}");
    let timeout = (!streaming).then_some(SMALL_TIMEOUT);
    let mut stream = connect(endpoint, timeout)?;
    let host = match &endpoint.address {
        Address::Tcp(h) => h.as_str(),
        // Engines ignore it on a unix socket, but HTTP/1.1 requires one.
        Address::Unix(_) => "localhost",
    };
    let content = body.as_ref().map_or_else(String::new, |b| {
        format!(
            "Content-Type: {}\r\nContent-Length: {}\r\n",
            b.content_type, b.len
        )
    });
    let request = format!(
        "{method} {path_and_query} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: ocidiff/{}\r\n\
         Accept: */*\r\n{content}Connection: close\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    );
    let sent = stream.write_all(request.as_bytes()).and_then(|()| {
        if let Some(body) = body {
            let copied = io::copy(&mut body.bytes.take(body.len), &mut stream)?;
            if copied < body.len {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("the request body ended {} bytes early", body.len - copied),
                ));
            }
        }
        stream.flush()
    });
    let mut reader = BufReader::with_capacity(256 << 10, stream);
    if let Err(source) = sent {
        // An engine that refuses a request early closes the connection while the body is
        // still being sent; its answer, when it wrote one, says why.
        if source.kind() != io::ErrorKind::BrokenPipe
            && source.kind() != io::ErrorKind::ConnectionReset
        {
            return Err(DaemonError::Read { what, source });
        }
    }
    let head = read_head(&mut reader).map_err(|source| DaemonError::Read {
        what: what.clone(),
        source,
    })?;
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Response::new(&mut headers);
    let protocol = |reason: String| DaemonError::Protocol {
        what: what.clone(),
        reason,
    };
    match parsed.parse(&head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(protocol("incomplete response head".into())),
        Err(e) => return Err(protocol(format!("malformed response head: {e}"))),
    }
    let status = parsed.code.unwrap_or(0);
    let headers: Vec<(String, String)> = parsed
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_owned(),
                String::from_utf8_lossy(h.value).trim().to_owned(),
            )
        })
        .collect();
    let find = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let chunked = find("transfer-encoding").is_some_and(|v| {
        v.to_ascii_lowercase()
            .split(',')
            .any(|c| c.trim() == "chunked")
    });
    let body: Box<dyn Read + Send> = if chunked {
        Box::new(Chunked::new(reader))
    } else if let Some(len) = find("content-length") {
        let len: u64 = len
            .parse()
            .map_err(|_| protocol(format!("bad Content-Length {len:?}")))?;
        Box::new(Exact {
            inner: reader.take(len),
            left: len,
        })
    } else {
        Box::new(reader)
    };
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// Reads up to and including the blank line that ends a response head.
fn read_head(reader: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut head = Vec::new();
    loop {
        let n = reader.read_until(b'\n', &mut head)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the connection closed before the response head ended",
            ));
        }
        if head.ends_with(b"\r\n\r\n") || head.ends_with(b"\n\n") {
            return Ok(head);
        }
        if head.len() > MAX_HEAD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the response head is longer than {MAX_HEAD} bytes"),
            ));
        }
    }
}

/// A body of known length: ending early is an error, not a silently short body.
struct Exact<R> {
    inner: io::Take<R>,
    left: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && self.left > 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "the connection closed {} bytes before the body ended",
                    self.left
                ),
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Undoes the chunked transfer coding (RFC 9112 §7.1): `SIZE[;ext]\r\n DATA\r\n`… `0\r\n`
/// trailers `\r\n`. A connection that closes before the last chunk is an error.
pub(super) struct Chunked<R> {
    inner: R,
    /// Bytes left in the current chunk.
    left: u64,
    /// The CRLF after the current chunk's data is still to be read.
    crlf_pending: bool,
    done: bool,
}

impl<R: BufRead> Chunked<R> {
    pub fn new(inner: R) -> Self {
        Chunked {
            inner,
            left: 0,
            crlf_pending: false,
            done: false,
        }
    }

    fn line(&mut self) -> io::Result<String> {
        let mut line = Vec::new();
        (&mut self.inner).take(4096).read_until(b'\n', &mut line)?;
        if !line.ends_with(b"\n") {
            return Err(bad_chunk(if line.is_empty() {
                "the connection closed before the last chunk"
            } else {
                "a chunk line is unterminated or too long"
            }));
        }
        Ok(String::from_utf8_lossy(&line).trim_end().to_owned())
    }

    /// Reads the next chunk's size line; `false` at the last chunk (after its trailers).
    fn next_chunk(&mut self) -> io::Result<bool> {
        if self.crlf_pending {
            if !self.line()?.is_empty() {
                return Err(bad_chunk("chunk data is longer than its size"));
            }
            self.crlf_pending = false;
        }
        let line = self.line()?;
        let size = line.split(';').next().unwrap_or("").trim();
        let size = u64::from_str_radix(size, 16)
            .map_err(|_| bad_chunk(&format!("bad chunk size line {line:?}")))?;
        if size == 0 {
            // Trailers, up to the blank line.
            while !self.line()?.is_empty() {}
            return Ok(false);
        }
        self.left = size;
        self.crlf_pending = true;
        Ok(true)
    }
}

fn bad_chunk(reason: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("bad chunked encoding: {reason}"),
    )
}

impl<R: BufRead> Read for Chunked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        while self.left == 0 {
            if self.done || !self.next_chunk()? {
                self.done = true;
                return Ok(0);
            }
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(bad_chunk("the connection closed inside a chunk"));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(wire: &[u8], read_size: usize) -> io::Result<Vec<u8>> {
        let mut reader = Chunked::new(BufReader::with_capacity(3, wire));
        let mut out = Vec::new();
        let mut buf = vec![0u8; read_size];
        loop {
            match reader.read(&mut buf)? {
                0 => return Ok(out),
                n => out.extend_from_slice(&buf[..n]),
            }
        }
    }

    #[test]
    fn chunked_bodies_decode_whatever_the_read_size() {
        let wire = b"5\r\nhello\r\n1;ext=1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: y\r\n\r\n";
        for size in [1, 2, 7, 100] {
            assert_eq!(
                decode(wire, size).unwrap(),
                b"hello 0123456789",
                "read size {size}"
            );
        }
        assert_eq!(decode(b"0\r\n\r\n", 10).unwrap(), b"");
        // Upper-case hex and bare LF line ends are accepted.
        assert_eq!(decode(b"B\nhello world\n0\n\n", 4).unwrap(), b"hello world");
    }

    #[test]
    fn broken_chunked_bodies_are_errors() {
        for wire in [
            &b"5\r\nhel"[..],
            b"5\r\nhello\r\n",
            b"zz\r\nhello\r\n0\r\n\r\n",
            b"3\r\nhello\r\n0\r\n\r\n",
            b"",
        ] {
            let err = decode(wire, 10).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{wire:?}: {err}");
        }
    }

    #[test]
    fn short_fixed_length_bodies_are_errors() {
        let mut body = Exact {
            inner: (&b"abc"[..]).take(5),
            left: 5,
        };
        let mut out = Vec::new();
        let err = body.read_to_end(&mut out).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn names_and_queries_are_escaped() {
        assert_eq!(encode_name("ghcr.io/o/x:1"), "ghcr.io/o/x:1");
        assert_eq!(
            encode_name("x@sha256:ab cd?#%"),
            "x@sha256:ab%20cd%3F%23%25"
        );
        assert_eq!(
            encode_query(r#"{"os":"linux","architecture":"arm64"}"#),
            "%7B%22os%22%3A%22linux%22%2C%22architecture%22%3A%22arm64%22%7D"
        );
    }

    #[test]
    fn responses_are_read_from_a_socket() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("engine.sock");
        let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            BufReader::new(&mut conn)
                .read_until(b'\n', &mut request)
                .unwrap();
            conn.write_all(
                b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nTransfer-Encoding: chunked\r\n\r\n\
                  2\r\nOK\r\n0\r\n\r\n",
            )
            .unwrap();
            String::from_utf8(request).unwrap()
        });
        let endpoint = Endpoint {
            address: Address::Unix(sock),
            origin: "test".into(),
        };
        let response = get(&endpoint, "/_ping", false).unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.header("api-version"), Some("1.41"));
        assert_eq!(response.read_small(10, "ping").unwrap(), b"OK");
        assert_eq!(server.join().unwrap(), "GET /_ping HTTP/1.1\r\n");
    }
}

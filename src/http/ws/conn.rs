//! One WebSocket connection after its handshake, on the raw TCP stream: actix-http's frame
//! parser and encoder, with buffers that exist only while they hold something.
//!
//! actix-http keeps an 8 KiB read and an 8 KiB write buffer for a connection's whole life; for a
//! viewer who only watches, that was most of what the server spent on them. Here:
//! - reads go through a 4 KiB buffer on the stack; only the bytes of an unfinished client frame
//!   are kept, and the buffer is freed once they make a frame;
//! - the room's frames come encoded, in one buffer shared by the room's sockets, and are written
//!   from it; anything else is encoded into the thread's scratch buffer, so what is queued is
//!   one `write`; only what the kernel does not take is kept, and let go once written.
//!
//! An idle socket therefore holds no buffer at all. Nothing here awaits except `readable` and
//! `writable`, which are cancel-safe: the socket's loop selects over them.

use actix_http::ws::{CloseReason, OpCode, Parser, ProtocolError};
use bytes::{Buf, Bytes, BytesMut};
use bytestring::ByteString;
use std::cell::RefCell;
use std::io;
use tokio::net::TcpStream;

/// Bytes read from the kernel in one go.
const READ_CHUNK: usize = 4096;
/// The scratch buffer is shrunk back to this after a batch that grew it past it.
const SCRATCH_KEEP: usize = 256 * 1024;

thread_local! {
    /// Where a batch is encoded before it is written: one per thread, reused by every socket
    /// whose task runs there (a batch is encoded and written without an `await` in between).
    static SCRATCH: RefCell<BytesMut> = RefCell::new(BytesMut::new());
}

/// A client frame, whole.
#[derive(Debug)]
pub(super) enum Incoming {
    Text(Bytes),
    Binary,
    Ping(Bytes),
    Pong,
    Close,
    /// A fragment of a fragmented message (not used by the contract's clients; ignored).
    Fragment,
}

/// A frame for the client (the text is the room's shared bytes).
pub(super) enum Outgoing {
    Text(ByteString),
    /// Frames already encoded (the room's batch, shared by its sockets).
    Wire(Bytes),
    /// The answer to a WebSocket-level ping.
    Pong(Bytes),
    Close(Option<CloseReason>),
}

pub(super) struct Conn {
    io: TcpStream,
    max_frame: usize,
    /// The start of a client frame still being received; unallocated between frames.
    partial: BytesMut,
    /// Encoded bytes the kernel has not taken yet; unallocated when everything is written.
    unsent: Bytes,
}

impl Conn {
    /// `early`: bytes the client sent after its handshake request, already read.
    pub(super) fn new(io: TcpStream, early: BytesMut, max_frame: usize) -> Self {
        Self { io, max_frame, partial: early, unsent: Bytes::new() }
    }

    /// Whether encoded bytes still wait for the kernel.
    pub(super) fn unsent(&self) -> bool {
        !self.unsent.is_empty()
    }

    /// Waits until the kernel has bytes (or the end of the stream) for [`Conn::fill`]. Polls
    /// the stream's own read readiness: no waiter is queued and dropped on every turn of the
    /// socket's loop.
    pub(super) async fn readable(&self) -> io::Result<()> {
        std::future::poll_fn(|cx| self.io.poll_read_ready(cx)).await
    }

    /// Waits until the kernel takes bytes again, for [`Conn::flush`].
    pub(super) async fn writable(&self) -> io::Result<()> {
        std::future::poll_fn(|cx| self.io.poll_write_ready(cx)).await
    }

    /// Reads what the kernel has (at most one chunk). `Ok(false)`: the client closed the stream.
    pub(super) fn fill(&mut self) -> io::Result<bool> {
        let mut chunk = [0u8; READ_CHUNK];
        match self.io.try_read(&mut chunk) {
            Ok(0) => Ok(false),
            Ok(n) => {
                self.partial.extend_from_slice(&chunk[..n]);
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(true),
            Err(e) => Err(e),
        }
    }

    /// The next whole client frame among the bytes read, if there is one.
    pub(super) fn next_frame(&mut self) -> Result<Option<Incoming>, ProtocolError> {
        if self.partial.is_empty() {
            return Ok(None);
        }
        let parsed = Parser::parse(&mut self.partial, true, self.max_frame);
        if self.partial.is_empty() {
            // Frees the buffer (a frame's payload keeps only its own bytes alive).
            self.partial = BytesMut::new();
        }
        let Some((fin, op, payload)) = parsed? else { return Ok(None) };
        let payload = payload.map(BytesMut::freeze).unwrap_or_default();
        Ok(Some(match (fin, op) {
            (false, _) | (true, OpCode::Continue) => Incoming::Fragment,
            (true, OpCode::Text) => Incoming::Text(payload),
            (true, OpCode::Binary) => Incoming::Binary,
            (true, OpCode::Ping) => Incoming::Ping(payload),
            (true, OpCode::Pong) => Incoming::Pong,
            (true, OpCode::Close) => {
                Parser::try_parse_close_payload(&payload)?;
                Incoming::Close
            }
            (true, OpCode::Bad) => return Err(ProtocolError::BadOpCode),
        }))
    }

    /// Encodes `frames` as one batch and hands it to the kernel without waiting; what it does
    /// not take is kept for [`Conn::flush`]. Only called when nothing is unsent, so frames keep
    /// their order. Returns how many frames were encoded.
    pub(super) fn send(&mut self, frames: impl IntoIterator<Item = Outgoing>) -> io::Result<usize> {
        debug_assert!(self.unsent.is_empty());
        let mut frames = frames.into_iter().peekable();
        let Some(first) = frames.next() else { return Ok(0) };
        if let Outgoing::Wire(wire) = &first {
            if frames.peek().is_none() {
                // The room's batch alone: written from the shared buffer, nothing copied.
                let written = write_now(&self.io, wire)?;
                self.unsent = wire.slice(written..);
                return Ok(1);
            }
        }
        SCRATCH.with(|s| {
            let mut buf = s.borrow_mut();
            buf.clear();
            let mut n = 0;
            for f in std::iter::once(first).chain(frames) {
                match f {
                    Outgoing::Text(t) => Parser::write_message(&mut buf, t.as_bytes(), OpCode::Text, true, false),
                    Outgoing::Wire(w) => buf.extend_from_slice(&w),
                    Outgoing::Pong(p) => Parser::write_message(&mut buf, &p, OpCode::Pong, true, false),
                    Outgoing::Close(r) => Parser::write_close(&mut buf, r, false),
                }
                n += 1;
            }
            let written = write_now(&self.io, &buf)?;
            if written < buf.len() {
                self.unsent = Bytes::copy_from_slice(&buf[written..]);
            }
            if buf.capacity() > SCRATCH_KEEP {
                *buf = BytesMut::new();
            }
            Ok(n)
        })
    }

    /// Writes what the kernel can take of the unsent bytes (after `writable`); true when some
    /// progress was made.
    pub(super) fn flush(&mut self) -> io::Result<bool> {
        let written = write_now(&self.io, &self.unsent)?;
        self.unsent.advance(written);
        if self.unsent.is_empty() {
            // Lets go of the buffer (a room batch's is shared: it goes once every socket is done).
            self.unsent = Bytes::new();
        }
        Ok(written > 0)
    }

    /// Waits until every unsent byte is written (the goodbye; bounded by the caller).
    pub(super) async fn drain(&mut self) -> io::Result<()> {
        while self.unsent() {
            self.writable().await?;
            self.flush()?;
        }
        Ok(())
    }

    /// Reads and drops what the client still sends until its own close frame or the end of the
    /// stream (the closing handshake; bounded by the caller).
    pub(super) async fn until_close(&mut self) {
        loop {
            loop {
                match self.next_frame() {
                    Ok(Some(Incoming::Close)) | Err(_) => return,
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                }
            }
            if self.readable().await.is_err() || !matches!(self.fill(), Ok(true)) {
                return;
            }
        }
    }
}

/// Writes as much of `buf` as the kernel takes now; how much that was.
fn write_now(io: &TcpStream, buf: &[u8]) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match io.try_write(&buf[done..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A connected pair on loopback: (the server's `Conn`, the client's stream).
    async fn pair() -> (Conn, TcpStream) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (server, _) = l.accept().await.unwrap();
        (Conn::new(server, BytesMut::new(), 4096), client)
    }

    /// A masked client text frame.
    fn client_text(payload: &[u8]) -> Vec<u8> {
        let mut b = BytesMut::new();
        Parser::write_message(&mut b, payload, OpCode::Text, true, true);
        b.to_vec()
    }

    async fn next(conn: &mut Conn) -> Incoming {
        loop {
            if let Some(f) = conn.next_frame().unwrap() {
                return f;
            }
            conn.readable().await.unwrap();
            assert!(conn.fill().unwrap(), "the client closed");
        }
    }

    #[tokio::test]
    async fn a_frame_split_across_reads_is_read_whole_and_no_buffer_is_kept_after_it() {
        let (mut conn, mut client) = pair().await;
        let frame = client_text(br#"{"type":"ping"}"#);
        client.write_all(&frame[..5]).await.unwrap();
        conn.readable().await.unwrap();
        assert!(conn.fill().unwrap());
        assert!(conn.next_frame().unwrap().is_none(), "half a frame is not a frame");
        assert!(conn.partial.capacity() > 0);
        client.write_all(&frame[5..]).await.unwrap();
        match next(&mut conn).await {
            Incoming::Text(t) => assert_eq!(&t[..], br#"{"type":"ping"}"#),
            other => panic!("{other:?}"),
        }
        assert_eq!(conn.partial.capacity(), 0, "the read buffer is freed once it makes a frame");
    }

    #[tokio::test]
    async fn a_client_frame_over_the_limit_is_refused() {
        let (mut conn, mut client) = pair().await;
        client.write_all(&client_text(&[b'x'; 5000])).await.unwrap();
        let err = loop {
            match conn.next_frame() {
                Err(e) => break e,
                Ok(Some(f)) => panic!("{f:?}"),
                Ok(None) => {
                    conn.readable().await.unwrap();
                    conn.fill().unwrap();
                }
            }
        };
        assert!(matches!(err, ProtocolError::Overflow), "{err:?}");
    }

    #[tokio::test]
    async fn a_batch_goes_out_whole_in_order_and_what_waits_for_the_kernel_is_freed_once_written() {
        let (mut conn, mut client) = pair().await;
        // Far more than the kernel's buffers hold while the client does not read.
        let frames: Vec<ByteString> = (0..20_000).map(|i| ByteString::from(format!("{i:0>200}"))).collect();
        assert_eq!(conn.send(frames.iter().cloned().map(Outgoing::Text)).unwrap(), frames.len());
        assert!(conn.unsent(), "the kernel cannot take 4 MB at once");
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            let mut buf = vec![0u8; 64 * 1024];
            let mut bytes = BytesMut::new();
            while got.len() < 20_000 {
                let n = client.read(&mut buf).await.unwrap();
                assert!(n > 0);
                bytes.extend_from_slice(&buf[..n]);
                while let Some((fin, op, payload)) = Parser::parse(&mut bytes, false, 1 << 20).unwrap() {
                    assert!(fin && op == OpCode::Text);
                    got.push(String::from_utf8(payload.unwrap().to_vec()).unwrap());
                }
            }
            got
        });
        conn.drain().await.unwrap();
        assert!(!conn.unsent());
        assert!(conn.unsent.is_empty(), "nothing is kept once everything is written");
        let got = reader.await.unwrap();
        assert!(got.iter().zip(&frames).all(|(g, f)| g.as_str() == &f[..]), "every frame, in order");
    }
}

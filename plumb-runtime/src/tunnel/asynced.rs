//! [`AsyncTunnel`]: a [`Tunnel`] for async code (cargo feature `tokio`), its halves
//! registered with the runtime's reactor: no thread per tunnel.

use std::io;
use std::pin::Pin;
use std::process::Child;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::{check, write_closed, Alive, Halves, Keep, Tunnel};

/// A byte stream to a port as seen from a remote machine, for async code
/// ([`AsyncRead`] + [`AsyncWrite`]); from [`Tunnel::into_async`] or a machine's
/// `connect_sock_async`. What [`Tunnel`] promises holds: it keeps the machine's connection
/// open while it lives, and once the connection is gone reads and writes fail with why.
/// `shutdown` half-closes it (the far end reads EOF; this end can still read).
#[must_use = "a tunnel closes when dropped"]
pub struct AsyncTunnel {
    read: Reader,
    write: Option<Writer>,
    alive: Option<Alive>,
    guard: Option<Child>,
    /// Dropped last (see [`Tunnel`]'s own).
    _keep: Option<Keep>,
}

enum Reader {
    #[cfg(unix)]
    Pipe(tokio::net::unix::pipe::Receiver),
    #[cfg(unix)]
    Socket(tokio::net::unix::OwnedReadHalf),
    #[cfg(windows)]
    Socket(tokio::net::tcp::OwnedReadHalf),
}

enum Writer {
    #[cfg(unix)]
    Pipe(tokio::net::unix::pipe::Sender),
    // Dropping the write half shuts the socket's sending side down: the far end's EOF.
    #[cfg(unix)]
    Socket(tokio::net::unix::OwnedWriteHalf),
    #[cfg(windows)]
    Socket(tokio::net::tcp::OwnedWriteHalf),
}

impl Tunnel {
    /// This tunnel for async code: its halves move to the runtime's reactor. Call it on a
    /// tokio runtime (cargo feature `tokio`).
    ///
    /// ```no_run
    /// # extern crate plumb_runtime as plumb;
    /// use tokio::io::{AsyncReadExt, AsyncWriteExt};
    /// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
    /// let web = plumb::SshMachine::connect("deploy@web1")?;
    /// let mut redis = web.connect_sock(6379)?.into_async()?;
    /// redis.write_all(b"PING\r\n").await?;
    /// let mut pong = [0u8; 7];
    /// redis.read_exact(&mut pong).await?;
    /// # Ok(()) }
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub fn into_async(mut self) -> io::Result<AsyncTunnel> {
        let halves = std::mem::replace(&mut self.halves, Halves::Gone);
        let (read, write, alive) = match halves {
            #[cfg(unix)]
            Halves::Child { stdout, stdin } => {
                let read = tokio::net::unix::pipe::Receiver::from_owned_fd(stdout.into())?;
                let write = match stdin {
                    Some(w) => Some(Writer::Pipe(tokio::net::unix::pipe::Sender::from_owned_fd(
                        w.into(),
                    )?)),
                    None => None,
                };
                (Reader::Pipe(read), write, None)
            }
            #[cfg(windows)]
            Halves::Child { .. } => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "a tunnel through a child process has no async form on Windows",
                ))
            }
            Halves::Socket { read, write, alive } => {
                let open = write.is_some();
                drop(write);
                read.set_nonblocking(true)?;
                #[cfg(unix)]
                let stream = tokio::net::UnixStream::from_std(read)?;
                #[cfg(windows)]
                let stream = tokio::net::TcpStream::from_std(read)?;
                let (r, w) = stream.into_split();
                let write = open.then_some(Writer::Socket(w));
                (Reader::Socket(r), write, Some(alive))
            }
            Halves::Gone => return Err(io::Error::other("the tunnel was given away")),
        };
        Ok(AsyncTunnel {
            read,
            write,
            alive,
            guard: self.guard.take(),
            _keep: self.keep.take(),
        })
    }
}

impl AsyncTunnel {
    fn check(&self) -> io::Result<()> {
        self.alive.as_ref().map_or(Ok(()), check)
    }
}

impl AsyncRead for AsyncTunnel {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = match &mut self.read {
            #[cfg(unix)]
            Reader::Pipe(r) => Pin::new(r).poll_read(cx, buf),
            Reader::Socket(r) => Pin::new(r).poll_read(cx, buf),
        };
        match polled {
            // The end of the stream: a lost connection says so instead.
            Poll::Ready(Ok(())) if buf.filled().len() == before && buf.remaining() > 0 => {
                Poll::Ready(self.check())
            }
            other => other,
        }
    }
}

impl AsyncWrite for AsyncTunnel {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.check()?;
        match &mut self.write {
            #[cfg(unix)]
            Some(Writer::Pipe(w)) => Pin::new(w).poll_write(cx, buf),
            Some(Writer::Socket(w)) => Pin::new(w).poll_write(cx, buf),
            None => Poll::Ready(Err(write_closed())),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.write {
            #[cfg(unix)]
            Some(Writer::Pipe(w)) => Pin::new(w).poll_flush(cx),
            Some(Writer::Socket(w)) => Pin::new(w).poll_flush(cx),
            None => Poll::Ready(Ok(())),
        }
    }

    /// Half-closes the tunnel: the far end reads EOF; this end can still read.
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let done = match &mut self.write {
            #[cfg(unix)]
            Some(Writer::Pipe(w)) => Pin::new(w).poll_flush(cx),
            Some(Writer::Socket(w)) => Pin::new(w).poll_shutdown(cx),
            None => Poll::Ready(Ok(())),
        };
        if done.is_ready() {
            // A pipe's end is its close.
            self.write = None;
        }
        done
    }
}

impl Drop for AsyncTunnel {
    fn drop(&mut self) {
        self.write = None;
        if let Some(mut child) = self.guard.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl std::fmt::Debug for AsyncTunnel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncTunnel")
            .field("writable", &self.write.is_some())
            .finish_non_exhaustive()
    }
}

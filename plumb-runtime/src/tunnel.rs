//! Byte streams through a remote machine: [`Tunnel`] (one stream) and [`Forward`] (a
//! listener whose every connection is tunnelled).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, ChildStdin, ChildStdout};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use crate::error::Error;
use crate::Result;

#[cfg(feature = "tokio")]
mod asynced;
#[cfg(feature = "tokio")]
pub use asynced::AsyncTunnel;

/// Tunnels through a remote machine: implemented by [`SshMachine`](crate::SshMachine) and
/// [`Ssh2Machine`](crate::Ssh2Machine), so code can take either.
pub trait Tunnels {
    /// A byte stream to `port` on the remote host's loopback interface.
    fn connect_sock(&self, port: u16) -> Result<Tunnel>;
    /// A byte stream to `host:port` as seen from the remote host.
    fn connect_sock_to(&self, host: &str, port: u16) -> Result<Tunnel>;
    /// Listens on `127.0.0.1:0` here; every connection is tunnelled to `host:port` as seen
    /// from the remote host.
    fn forward_local(&self, host: &str, port: u16) -> Result<Forward>;
    /// Listens on `remote_port` (0: the server chooses) on the remote host's loopback
    /// interface; every connection is tunnelled to `local` here.
    fn forward_remote(&self, remote_port: u16, local: SocketAddr) -> Result<Forward>;
}

/// What both remote machines ([`SshMachine`](crate::SshMachine) and `Ssh2Machine`) offer
/// beyond [`Machine`](crate::Machine): tunnels, sessions, reconnecting. Code generic over
/// either takes `impl RemoteMachine`.
///
/// ```no_run
/// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
/// use plumb::prelude::*;
///
/// fn uptime(host: &impl RemoteMachine) -> plumb::Result<String> {
///     let s = host.session();
///     sh!(uptime).on(&s).read()
/// }
/// # let web = plumb::SshMachine::connect("deploy@web1").unwrap();
/// # uptime(&web).unwrap();
/// ```
pub trait RemoteMachine: crate::Machine + Tunnels + Clone {
    /// Persistent shells on this connection for many small commands (see
    /// [`Session`](crate::Session)).
    fn session(&self) -> crate::Session;
    /// Connects again after the connection was lost.
    fn reconnect(&self) -> Result<()>;
}

/// A byte stream to a port as seen from a remote machine; from `connect_sock`.
///
/// `Read + Write`; [`shutdown_write`](Tunnel::shutdown_write) half-closes it.
///
/// A tunnel keeps the machine's connection open for as long as it lives, like a clone of
/// the machine: it works after the machine value that made it is dropped. Only an
/// explicit [`Machine::close`](crate::Machine::close) or a lost connection ends it early;
/// then reads and writes fail with an error that says why (never a silent end of stream
/// on `Ssh2Machine`; on `SshMachine`, the `ssh -W` process's end).
#[must_use = "a tunnel closes when dropped"]
pub struct Tunnel {
    halves: Halves,
    guard: Option<Child>,
    /// What carries it (the machine's connection), kept open while it lives; dropped last.
    keep: Option<Keep>,
}

/// A value held only to keep something open: a machine's connection.
type Keep = Box<dyn std::any::Any + Send + Sync>;

/// The stream a connection's I/O thread pumps at its other end (see [`Tunnel::from_socket`]).
#[cfg(unix)]
pub(crate) type Socket = std::os::unix::net::UnixStream;
#[cfg(windows)]
pub(crate) type Socket = TcpStream;

/// Why the connection that carries a socket tunnel is gone, if it is.
pub(crate) type Alive = Arc<dyn Fn() -> Option<String> + Send + Sync>;

/// What a tunnel reads from and writes to.
enum Halves {
    /// A child process's stdout and stdin (`ssh -W`; not on Windows).
    #[cfg_attr(windows, allow(dead_code))]
    Child {
        stdout: ChildStdout,
        stdin: Option<ChildStdin>,
    },
    /// A socket pumped by the connection's I/O thread; `write` is a second descriptor of
    /// it, `None` once the sending half is shut down.
    #[cfg_attr(not(feature = "ssh2"), allow(dead_code))]
    Socket {
        read: Socket,
        write: Option<Socket>,
        alive: Alive,
    },
    /// Given away by [`Tunnel::into_async`].
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    Gone,
}

impl Tunnel {
    /// A tunnel carried by a child process's stdin and stdout (`ssh -W`; not on Windows).
    #[cfg_attr(windows, allow(dead_code))]
    pub(crate) fn from_child(mut child: Child, machine: &str) -> Result<Tunnel> {
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error::new(
                crate::ErrorKind::Io,
                machine,
                "the tunnel process has no pipes",
            ));
        };
        Ok(Tunnel {
            halves: Halves::Child {
                stdout,
                stdin: Some(stdin),
            },
            guard: Some(child),
            keep: None,
        })
    }

    /// A tunnel through `socket`, whose other end the connection's I/O thread pumps (an
    /// `Ssh2Machine`'s channel). Once `alive` says the connection is gone, reads and writes
    /// fail with why: the end of the stream is never silent.
    #[cfg_attr(not(feature = "ssh2"), allow(dead_code))]
    pub(crate) fn from_socket(socket: Socket, alive: Alive, machine: &str) -> Result<Tunnel> {
        let write = socket
            .try_clone()
            .map_err(|e| Error::io(machine, "cannot duplicate a socket", e))?;
        Ok(Tunnel {
            halves: Halves::Socket {
                read: socket,
                write: Some(write),
                alive,
            },
            guard: None,
            keep: None,
        })
    }

    /// The tunnel holding `keep` (the machine's connection) open as long as it lives.
    pub(crate) fn keeping(mut self, keep: impl Send + Sync + 'static) -> Tunnel {
        self.keep = Some(Box::new(keep));
        self
    }

    /// Closes the sending half: the far end reads EOF, and this end can still read.
    pub fn shutdown_write(&mut self) -> io::Result<()> {
        match &mut self.halves {
            Halves::Child { stdin, .. } => {
                if let Some(mut w) = stdin.take() {
                    w.flush()?;
                }
            }
            Halves::Socket { write, .. } => {
                if let Some(w) = write.take() {
                    w.shutdown(std::net::Shutdown::Write)?;
                }
            }
            Halves::Gone => {}
        }
        Ok(())
    }
}

/// An error once the connection is gone.
fn check(alive: &Alive) -> io::Result<()> {
    match alive() {
        Some(why) => Err(io::Error::new(io::ErrorKind::NotConnected, why)),
        None => Ok(()),
    }
}

impl Read for Tunnel {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.halves {
            Halves::Child { stdout, .. } => stdout.read(buf),
            Halves::Socket { read, alive, .. } => {
                let n = read.read(buf)?;
                if n == 0 && !buf.is_empty() {
                    check(alive)?;
                }
                Ok(n)
            }
            Halves::Gone => Ok(0),
        }
    }
}

fn write_closed() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "the tunnel's sending half is closed",
    )
}

impl Write for Tunnel {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.halves {
            Halves::Child { stdin: Some(w), .. } => w.write(buf),
            Halves::Socket {
                write: Some(w),
                alive,
                ..
            } => {
                check(alive)?;
                w.write(buf)
            }
            _ => Err(write_closed()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.halves {
            Halves::Child { stdin: Some(w), .. } => w.flush(),
            Halves::Socket { write: Some(w), .. } => w.flush(),
            _ => Ok(()),
        }
    }
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        // The sending half going away is the tunnel's EOF (the reading descriptor of a
        // socket stays open until the end of this function).
        let _ = self.shutdown_write();
        if let Some(mut child) = self.guard.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A port forwarding that lasts until dropped; from `forward_local` or `forward_remote`.
///
/// A forward keeps the machine's connection open for as long as it lives, like a clone of
/// the machine: it works after the machine value that made it is dropped, and many
/// forwards from clones of one machine share its one connection. Only an explicit
/// [`Machine::close`](crate::Machine::close) or a lost connection ends it early; then each
/// new connection to it is closed at once (never left hanging), and the machine's next
/// command fails with a `Connect` error naming it.
#[must_use = "a forward stops when dropped"]
pub struct Forward {
    local_addr: SocketAddr,
    remote_port: u16,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
    on_drop: Option<Box<dyn FnOnce() + Send>>,
    /// What carries it (the machine's connection), kept open while it lives; dropped after
    /// the forwarding stops.
    keep: Option<Keep>,
}

impl Forward {
    /// Listens on `127.0.0.1:0` and hands each accepted connection (`TCP_NODELAY` set) to
    /// `carry`, which owns it from then on.
    #[cfg_attr(not(feature = "ssh2"), allow(dead_code))]
    pub(crate) fn handing_off(
        machine: &str,
        remote_port: u16,
        carry: impl Fn(TcpStream) + Send + 'static,
    ) -> Result<Forward> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .map_err(|e| Error::io(machine, "cannot listen on 127.0.0.1", e))?;
        let local_addr = listener
            .local_addr()
            .map_err(|e| Error::io(machine, "cannot listen on 127.0.0.1", e))?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let acceptor = thread::Builder::new()
            .name("plumb-forward".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    if flag.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(tcp) = conn else { continue };
                    let _ = tcp.set_nodelay(true);
                    carry(tcp);
                }
            })
            .map_err(|e| Error::io(machine, "cannot start a thread", e))?;
        Ok(Forward {
            local_addr,
            remote_port,
            stop,
            acceptor: Some(acceptor),
            on_drop: None,
            keep: None,
        })
    }

    /// A forwarding whose listener lives elsewhere (the server, the ssh master);
    /// `cancel` stops it.
    pub(crate) fn elsewhere(
        remote_port: u16,
        local_addr: SocketAddr,
        cancel: impl FnOnce() + Send + 'static,
    ) -> Forward {
        Forward {
            local_addr,
            remote_port,
            stop: Arc::new(AtomicBool::new(true)),
            acceptor: None,
            on_drop: Some(Box::new(cancel)),
            keep: None,
        }
    }

    /// The forwarding holding `keep` (the machine's connection) open as long as it lives.
    pub(crate) fn keeping(mut self, keep: impl Send + Sync + 'static) -> Forward {
        self.keep = Some(Box::new(keep));
        self
    }

    /// The local address: where `forward_local` listens, or where `forward_remote`
    /// delivers.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The remote port: what `forward_local` reaches, or where `forward_remote` listens
    /// (the one the server chose for port 0).
    pub fn remote_port(&self) -> u16 {
        self.remote_port
    }
}

impl Drop for Forward {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.acceptor.take() {
            // Wake the blocking accept so that it sees the flag.
            let _ = TcpStream::connect(self.local_addr);
            let _ = t.join();
        }
        if let Some(cancel) = self.on_drop.take() {
            cancel();
        }
    }
}

impl std::fmt::Debug for Tunnel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let writable = matches!(
            self.halves,
            Halves::Child { stdin: Some(_), .. } | Halves::Socket { write: Some(_), .. }
        );
        f.debug_struct("Tunnel")
            .field("writable", &writable)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Forward {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forward")
            .field("local_addr", &self.local_addr)
            .field("remote_port", &self.remote_port)
            .finish_non_exhaustive()
    }
}

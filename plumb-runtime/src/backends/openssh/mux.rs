//! OpenSSH's multiplexing protocol (`PROTOCOL.mux`), spoken over the master's control
//! socket: a command is a session the master opens with the three descriptors we pass it,
//! so no `ssh` client process runs per command (a fork and exec, the binary's start-up,
//! its config read: most of what a command cost on a fleet).
//!
//! A passenger session: hello both ways, `MUX_C_NEW_SESSION` with the command, the
//! descriptors (stdin, stdout, stderr, one `SCM_RIGHTS` message each), the master's
//! `MUX_S_SESSION_OPENED`; then its `MUX_S_EXIT_MESSAGE` and the socket's close when the
//! session ends. The master writes the output into our pipes itself. A socket that closes
//! without an exit message means what the `ssh` client's 255 means: the command did not
//! say, the connection may be gone.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::{Mutex, PoisonError, TryLockError};
use std::time::Duration;

const HELLO: u32 = 0x0000_0001;
const NEW_SESSION: u32 = 0x1000_0002;
const ALIVE_CHECK: u32 = 0x1000_0004;
const TERMINATE: u32 = 0x1000_0005;
const S_PERMISSION_DENIED: u32 = 0x8000_0002;
const S_FAILURE: u32 = 0x8000_0003;
const S_EXIT_MESSAGE: u32 = 0x8000_0004;
const S_ALIVE: u32 = 0x8000_0005;
const S_SESSION_OPENED: u32 = 0x8000_0006;
const S_TTY_ALLOC_FAIL: u32 = 0x8000_0008;
/// The protocol version this speaks (the only one since OpenSSH 5.x).
const VERSION: u32 = 4;
/// No escape character.
const NO_ESCAPE: u32 = 0xffff_ffff;
/// The longest message a master sends us (an error's text at most).
const MAX_MESSAGE: usize = 256 * 1024;

/// A message being built: `u32` and `string` in SSH wire format.
#[derive(Default)]
struct Message(Vec<u8>);

impl Message {
    fn u32(mut self, v: u32) -> Message {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    fn string(mut self, s: &[u8]) -> Message {
        let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
        self = self.u32(len);
        self.0.extend_from_slice(s);
        self
    }

    fn send(self, sock: &mut UnixStream) -> io::Result<()> {
        let len = u32::try_from(self.0.len()).map_err(|_| invalid("a message too long"))?;
        let mut packet = len.to_be_bytes().to_vec();
        packet.extend_from_slice(&self.0);
        sock.write_all(&packet)
    }
}

/// A message received: read field by field.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn u32(&mut self) -> io::Result<u32> {
        let (head, rest) = self
            .0
            .split_at_checked(4)
            .ok_or_else(|| invalid("a short message"))?;
        self.0 = rest;
        Ok(u32::from_be_bytes(head.try_into().expect("four bytes")))
    }

    fn string(&mut self) -> io::Result<String> {
        let len = self.u32()? as usize;
        let (s, rest) = self
            .0
            .split_at_checked(len)
            .ok_or_else(|| invalid("a short message"))?;
        self.0 = rest;
        Ok(String::from_utf8_lossy(s).into_owned())
    }
}

fn invalid(why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("the ssh master's socket: {why}"),
    )
}

/// The next whole message, blocking; `None` at the socket's end.
fn read_message(sock: &mut UnixStream) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    match sock.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_MESSAGE {
        return Err(invalid("a message too long"));
    }
    let mut body = vec![0u8; len];
    sock.read_exact(&mut body)?;
    Ok(Some(body))
}

/// A connection to the master, past the hellos; `timeout` bounds each read and write.
fn connect(socket: &Path, timeout: Duration) -> io::Result<UnixStream> {
    let mut sock = UnixStream::connect(socket)?;
    sock.set_read_timeout(Some(timeout))?;
    sock.set_write_timeout(Some(timeout))?;
    Message::default().u32(HELLO).u32(VERSION).send(&mut sock)?;
    let hello = read_message(&mut sock)?.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "the ssh master closed its socket",
        )
    })?;
    let mut r = Reader(&hello);
    if r.u32()? != HELLO {
        return Err(invalid("no hello"));
    }
    if r.u32()? != VERSION {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "the ssh master speaks another multiplexing version",
        ));
    }
    Ok(sock)
}

/// Whether the master answers on its socket (`ssh -O check`, without the process).
pub(super) fn alive(socket: &Path) -> bool {
    let check = || -> io::Result<bool> {
        let mut sock = connect(socket, Duration::from_secs(5))?;
        Message::default().u32(ALIVE_CHECK).u32(1).send(&mut sock)?;
        let reply = read_message(&mut sock)?.ok_or_else(|| invalid("closed"))?;
        let mut r = Reader(&reply);
        Ok(r.u32()? == S_ALIVE && r.u32()? == 1)
    };
    check().unwrap_or(false)
}

/// Asks the master to end (`ssh -O exit`, without the process); false if it could not be
/// asked. The master may exit before its answer leaves: no answer is an answer too.
pub(super) fn terminate(socket: &Path) -> bool {
    let ask = || -> io::Result<()> {
        let mut sock = connect(socket, Duration::from_secs(5))?;
        Message::default().u32(TERMINATE).u32(1).send(&mut sock)?;
        let _ = read_message(&mut sock);
        Ok(())
    };
    ask().is_ok()
}

/// A master gone mid-message is an error, not a SIGPIPE (a program embedding this library
/// may not ignore the signal, as Rust's runtime does).
#[cfg(any(target_os = "linux", target_os = "freebsd"))]
const NO_SIGPIPE: libc::c_int = libc::MSG_NOSIGNAL;
#[cfg(not(any(target_os = "linux", target_os = "freebsd")))]
const NO_SIGPIPE: libc::c_int = 0;

/// Sends `fd` over `sock` in an `SCM_RIGHTS` message (with the one byte the master reads).
fn send_fd(sock: RawFd, fd: RawFd) -> io::Result<()> {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    let fd_len = std::mem::size_of::<libc::c_int>() as libc::c_uint;
    // SAFETY: CMSG_SPACE only computes a size.
    let space = unsafe { libc::CMSG_SPACE(fd_len) } as usize;
    // u64s: the control buffer must be aligned for a `cmsghdr`.
    let mut control = vec![0u64; space.div_ceil(8)];
    // SAFETY: a zeroed msghdr is a valid empty one; the pointers set below outlive the
    // sendmsg call, and the control buffer holds exactly one cmsghdr with one fd, as
    // CMSG_SPACE said.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = space as _;
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(fd_len) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::c_int>(), fd);
        loop {
            if libc::sendmsg(sock, &msg, NO_SIGPIPE) == 1 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

/// Why the master did not open a session.
#[derive(Debug)]
pub(super) enum Refused {
    /// Before anything was asked: the socket speaks another version of the protocol. An
    /// `ssh` client may still do (nothing has run).
    Unsupported(io::Error),
    /// The socket failed (the master is gone, or went away while asked): the command may
    /// or may not have started; nothing is tried again.
    Io(io::Error),
    /// The master answered no, saying why.
    Master(String),
}

/// A command running as a session of the master.
pub(super) struct Session {
    sock: Mutex<UnixStream>,
    /// The socket's descriptor, for [`Session::close`] while a wait holds the lock.
    fd: RawFd,
    /// The exit value, once the master has sent it.
    exit: Mutex<Option<u32>>,
    /// The socket has closed: the session is over.
    ended: Mutex<bool>,
}

impl Session {
    /// Opens a session running `command` (with `subsystem`, the subsystem it names) with
    /// these three descriptors; `timeout` bounds the exchange (the master answers once the
    /// server has opened the channel).
    pub(super) fn open(
        socket: &Path,
        command: &str,
        subsystem: bool,
        fds: [BorrowedFd<'_>; 3],
        timeout: Duration,
    ) -> Result<Session, Refused> {
        let mut sock = connect(socket, timeout).map_err(|e| match e.kind() {
            io::ErrorKind::Unsupported | io::ErrorKind::InvalidData => Refused::Unsupported(e),
            _ => Refused::Io(e),
        })?;
        let request = Message::default()
            .u32(NEW_SESSION)
            .u32(1)
            .string(b"")
            .u32(0) // tty
            .u32(0) // X11
            // The master forwards the agent only if its own `ForwardAgent` says so.
            .u32(1) // agent
            .u32(u32::from(subsystem))
            .u32(NO_ESCAPE)
            .string(b"")
            .string(command.as_bytes());
        // This process's environment, as the `ssh` client passes its own: the master
        // sends the variables its `SendEnv` names (`LANG`, `LC_*` on Debian), no others.
        let request = std::env::vars_os().fold(request, |m, (k, v)| {
            let mut pair = k.into_encoded_bytes();
            pair.push(b'=');
            pair.extend_from_slice(v.as_encoded_bytes());
            m.string(&pair)
        });
        request.send(&mut sock).map_err(Refused::Io)?;
        for fd in fds {
            send_fd(sock.as_raw_fd(), fd.as_raw_fd()).map_err(Refused::Io)?;
        }
        // The master answers once the server has opened the channel and been asked to
        // run the command: a wait cut short could not tell whether it runs, so it waits as
        // the `ssh` client does, until the answer or the master's end.
        sock.set_read_timeout(None).map_err(Refused::Io)?;
        let reply = read_message(&mut sock)
            .and_then(|m| m.ok_or_else(|| invalid("closed before the session opened")))
            .map_err(Refused::Io)?;
        let mut r = Reader(&reply);
        let kind = r.u32().map_err(Refused::Io)?;
        let _request = r.u32().map_err(Refused::Io)?;
        match kind {
            S_SESSION_OPENED => {}
            S_PERMISSION_DENIED | S_FAILURE => {
                return Err(Refused::Master(r.string().unwrap_or_default()));
            }
            other => return Err(Refused::Io(invalid(&format!("an answer 0x{other:08x}")))),
        }
        Ok(Session {
            fd: sock.as_raw_fd(),
            sock: Mutex::new(sock),
            exit: Mutex::new(None),
            ended: Mutex::new(false),
        })
    }

    /// The exit value (`None`: the session ended without one), reading until the socket
    /// closes: blocking, or only what is there (`block` false: `Ok(None)` while it runs).
    pub(super) fn poll(&self, block: bool) -> io::Result<Option<Option<u32>>> {
        let mut sock = match self.sock.try_lock() {
            Ok(sock) => sock,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            // Another thread waits: still running, as far as anyone knows yet.
            Err(TryLockError::WouldBlock) if !block => return Ok(None),
            Err(TryLockError::WouldBlock) => {
                self.sock.lock().unwrap_or_else(PoisonError::into_inner)
            }
        };
        let mut ended = self.ended.lock().unwrap_or_else(PoisonError::into_inner);
        while !*ended {
            if !block && !readable(&sock)? {
                return Ok(None);
            }
            match read_message(&mut sock)? {
                None => *ended = true,
                Some(m) => {
                    let mut r = Reader(&m);
                    match r.u32()? {
                        S_EXIT_MESSAGE => {
                            let _session = r.u32()?;
                            *self.exit.lock().unwrap_or_else(PoisonError::into_inner) =
                                Some(r.u32()?);
                        }
                        S_TTY_ALLOC_FAIL => {}
                        other => return Err(invalid(&format!("a message 0x{other:08x}"))),
                    }
                }
            }
        }
        Ok(Some(
            *self.exit.lock().unwrap_or_else(PoisonError::into_inner),
        ))
    }

    /// Lets go of the session: the master closes its channel (the remote processes are
    /// ended by the layer above).
    pub(super) fn close(&self) {
        // Not under the lock: a `wait` may hold it, blocked in a read this ends.
        // SAFETY: shutdown(2) on the socket this session owns, open while `self` lives.
        unsafe { libc::shutdown(self.fd, libc::SHUT_RDWR) };
    }
}

/// Whether `sock` has something to read (or has ended) right now.
fn readable(sock: &UnixStream) -> io::Result<bool> {
    let mut fds = libc::pollfd {
        fd: sock.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let n = unsafe { libc::poll(&mut fds, 1, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n > 0)
}

//! Windows: sockets and `WSAPoll` under the names the I/O thread uses (libc's), loopback
//! TCP pairs where Unix has socket pairs and pipes, and a relay thread per job stream.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::windows::io::{AsRawSocket, OwnedSocket};
use std::thread::JoinHandle;

use super::Flow;
use crate::backends::libssh2::connect::Link;

/// A socket this process owns.
pub(in crate::backends::libssh2) type OwnedFd = OwnedSocket;
/// A socket's number, as `WSAPoll` takes it.
pub(in crate::backends::libssh2) type RawFd = usize;
/// A stream socket: one end of a loopback pair.
pub(in crate::backends::libssh2) type Stream = TcpStream;

/// What has a socket for the I/O thread to poll.
pub(in crate::backends::libssh2) trait AsRawFd {
    fn as_raw_fd(&self) -> RawFd;
}

impl AsRawFd for OwnedSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.as_raw_socket() as RawFd
    }
}

impl AsRawFd for TcpStream {
    fn as_raw_fd(&self) -> RawFd {
        self.as_raw_socket() as RawFd
    }
}

impl AsRawSocket for Link {
    fn as_raw_socket(&self) -> std::os::windows::io::RawSocket {
        match self {
            Link::Tcp(s) => s.as_raw_socket(),
            Link::Jump(s) => s.as_raw_socket(),
        }
    }
}

/// Two connected loopback sockets. The listener takes only our own connection: a
/// connection from elsewhere that came first is dropped.
pub(in crate::backends::libssh2) fn pair() -> io::Result<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let ours = TcpStream::connect(listener.local_addr()?)?;
    let me = ours.local_addr()?;
    loop {
        let (theirs, from) = listener.accept()?;
        if from == me {
            ours.set_nodelay(true)?;
            theirs.set_nodelay(true)?;
            return Ok((ours, theirs));
        }
    }
}

pub(in crate::backends::libssh2) fn set_nonblocking(fd: &(impl AsRawFd + ?Sized)) {
    let mut on: u32 = 1;
    // SAFETY: ioctlsocket on a socket we own, with a pointer to a u32 for the call.
    unsafe {
        windows_sys::Win32::Networking::WinSock::ioctlsocket(
            fd.as_raw_fd(),
            windows_sys::Win32::Networking::WinSock::FIONBIO,
            &mut on,
        )
    };
}

/// A socket for the I/O thread in place of `stream` (a pipe or a file), and the thread
/// that copies between the two: into the socket for stdin (its end shut for writing at
/// the stream's end), out of it for output.
pub(in crate::backends::libssh2) fn relay(
    stream: crate::sys::OwnedStream,
    flow: Flow,
) -> io::Result<(OwnedFd, Option<JoinHandle<()>>)> {
    let (ours, theirs) = pair()?;
    let mut file = std::fs::File::from(stream);
    let mut socket = theirs;
    let thread = std::thread::Builder::new()
        .name("plumb-ssh2-relay".into())
        .spawn(move || {
            let _ = match flow {
                Flow::In => io::copy(&mut file, &mut socket).map(drop),
                Flow::Out => copy_out(&mut socket, &mut file),
            };
            let _ = socket.shutdown(Shutdown::Both);
        })?;
    // Waiting for stdin's relay would wait for whoever feeds it: only output is joined.
    let join = (flow == Flow::Out).then_some(thread);
    Ok((ours.into(), join))
}

/// Copies until the socket's end; a reader that went away ends it too.
fn copy_out(from: &mut TcpStream, to: &mut std::fs::File) -> io::Result<()> {
    let mut buf = [0u8; 32 * 1024];
    loop {
        let n = from.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        to.write_all(&buf[..n])?;
    }
}

/// WinSock under the names of libc that the I/O thread uses.
#[allow(non_camel_case_types)]
pub(in crate::backends::libssh2) mod libc {
    use windows_sys::Win32::Networking::WinSock;

    pub(crate) type c_int = i32;
    pub(crate) type c_short = i16;
    pub(crate) type c_void = std::ffi::c_void;
    pub(crate) type nfds_t = u32;
    pub(crate) type size_t = usize;
    pub(crate) type ssize_t = isize;

    /// `WSAPOLLFD`, whose layout is `pollfd`'s with a socket for the descriptor.
    pub(crate) type pollfd = WinSock::WSAPOLLFD;

    pub(crate) const POLLIN: c_short = WinSock::POLLRDNORM | WinSock::POLLRDBAND;
    pub(crate) const POLLOUT: c_short = WinSock::POLLWRNORM;
    pub(crate) const POLLERR: c_short = WinSock::POLLERR;
    pub(crate) const POLLHUP: c_short = WinSock::POLLHUP;
    pub(crate) const SHUT_WR: c_int = WinSock::SD_SEND;

    /// `poll(2)` on sockets. `WSAPoll` refuses to be asked for what it only reports
    /// (`POLLHUP`, `POLLERR`): those are dropped from the request, and reported anyway.
    ///
    /// # Safety
    /// `fds` points to `n` valid `pollfd`s.
    pub(crate) unsafe fn poll(fds: *mut pollfd, n: nfds_t, timeout: c_int) -> c_int {
        let all = std::slice::from_raw_parts_mut(fds, n as usize);
        for fd in all.iter_mut() {
            fd.events &= POLLIN | POLLOUT;
        }
        if all.is_empty() {
            std::thread::sleep(std::time::Duration::from_millis(timeout.max(0) as u64));
            return 0;
        }
        WinSock::WSAPoll(fds, n, timeout)
    }

    /// # Safety
    /// `buf` is valid for `len` bytes.
    pub(crate) unsafe fn read(fd: usize, buf: *mut c_void, len: size_t) -> ssize_t {
        let len = len.min(i32::MAX as usize) as i32;
        WinSock::recv(fd, buf.cast(), len, 0) as ssize_t
    }

    /// # Safety
    /// `buf` is valid for `len` bytes.
    pub(crate) unsafe fn write(fd: usize, buf: *const c_void, len: size_t) -> ssize_t {
        let len = len.min(i32::MAX as usize) as i32;
        WinSock::send(fd, buf.cast(), len, 0) as ssize_t
    }

    /// # Safety
    /// A socket call; no memory is involved.
    pub(crate) unsafe fn shutdown(fd: usize, how: c_int) -> c_int {
        WinSock::shutdown(fd, how)
    }
}

//! What the I/O thread needs of the OS, under one set of names: descriptors, `poll(2)`,
//! non-blocking reads and writes, socket pairs, the wake-up channel, and the local ends of
//! a job's streams. On Unix these are std's and libc's own.
//!
//! Windows can wait only on sockets (`WSAPoll`), never on pipes: there the wake-up channel
//! and a tunnel's local end are loopback TCP pairs, and a job's pipes reach the I/O thread
//! through a socket that a thread per stream copies to or from ([`local_end`]); `libc`
//! there is WinSock under libc's names, so that the loop is written once.

#[cfg(target_os = "linux")]
mod eventfd;
#[cfg(windows)]
mod windows;

#[cfg(unix)]
pub(super) use ::libc;
#[cfg(unix)]
pub(super) use std::os::fd::{AsRawFd, OwnedFd, RawFd};
#[cfg(unix)]
pub(super) use std::os::unix::net::UnixStream as Stream;
#[cfg(windows)]
pub(super) use windows::{libc, pair, AsRawFd, OwnedFd, RawFd, Stream};

use std::io;
use std::thread::JoinHandle;

/// The wake-up channel of an I/O thread: what callers write into, what the loop polls.
/// On Linux one eventfd serves as both (one descriptor instead of two).
#[cfg(target_os = "linux")]
pub(super) type WakeWriter = eventfd::EventFd;
#[cfg(target_os = "linux")]
pub(super) type WakeReader = eventfd::EventFd;
#[cfg(all(unix, not(target_os = "linux")))]
pub(super) type WakeWriter = os_pipe::PipeWriter;
#[cfg(all(unix, not(target_os = "linux")))]
pub(super) type WakeReader = os_pipe::PipeReader;
#[cfg(windows)]
pub(super) type WakeWriter = Stream;
#[cfg(windows)]
pub(super) type WakeReader = Stream;

/// A new wake-up channel.
pub(super) fn wake_channel() -> io::Result<(WakeReader, WakeWriter)> {
    #[cfg(target_os = "linux")]
    return eventfd::EventFd::new().map(|e| (e.clone(), e));
    #[cfg(all(unix, not(target_os = "linux")))]
    return os_pipe::pipe();
    #[cfg(windows)]
    return pair();
}

/// A connected pair of stream sockets: one end for a tunnel's user, the other for the I/O
/// thread.
#[cfg(unix)]
pub(super) fn pair() -> io::Result<(Stream, Stream)> {
    Stream::pair()
}

pub(super) fn set_nonblocking(fd: &(impl AsRawFd + ?Sized)) {
    #[cfg(unix)]
    crate::sys::set_nonblocking(fd);
    #[cfg(windows)]
    windows::set_nonblocking(fd);
}

/// Which way a job's stream flows.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Flow {
    /// The job reads it: stdin.
    In,
    /// The job writes it: stdout, stderr.
    Out,
}

/// The end of a job's stream (a pipe or a file) that the I/O thread can poll: itself on
/// Unix; on Windows a socket, copied to or from the stream by a thread (joined once the
/// output is all there, for `Out`).
pub(super) fn local_end(
    stream: crate::sys::OwnedStream,
    flow: Flow,
) -> io::Result<(OwnedFd, Option<JoinHandle<()>>)> {
    #[cfg(unix)]
    {
        let _ = flow;
        Ok((stream, None))
    }
    #[cfg(windows)]
    return windows::relay(stream, flow);
}

/// An end the I/O thread writes into, whose bytes a thread copies to this process's own
/// stdout or stderr (which must stay blocking for everyone else).
pub(super) fn copied_to_own(to_stderr: bool) -> io::Result<(OwnedFd, JoinHandle<()>)> {
    use std::io::{Read, Write};
    #[cfg(unix)]
    let (mut from, to) = os_pipe::pipe()?;
    #[cfg(windows)]
    let (mut from, to) = pair()?;
    let copier = std::thread::Builder::new()
        .name("plumb-ssh2-out".into())
        .spawn(move || {
            let mut buf = [0u8; 32 * 1024];
            while let Ok(n) = from.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let _ = if to_stderr {
                    std::io::stderr().write_all(&buf[..n])
                } else {
                    std::io::stdout()
                        .write_all(&buf[..n])
                        .and_then(|()| std::io::stdout().flush())
                };
            }
        })?;
    Ok((to.into(), copier))
}

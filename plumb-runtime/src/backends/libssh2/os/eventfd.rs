//! Linux: the wake-up channel of an I/O thread is one `eventfd(2)`, not a pipe pair.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;

/// Both ends of the wake-up channel: writers add to its counter, the I/O thread reads it
/// back to zero. Clones share the descriptor.
#[derive(Clone)]
pub(in crate::backends::libssh2) struct EventFd(Arc<OwnedFd>);

impl EventFd {
    /// A new counter, non-blocking (a drained one reads as `WouldBlock`).
    pub(in crate::backends::libssh2) fn new() -> io::Result<EventFd> {
        // SAFETY: eventfd takes no pointers; a non-negative result is a new descriptor we
        // own from here on.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor that nothing else owns.
        Ok(EventFd(Arc::new(unsafe { OwnedFd::from_raw_fd(fd) })))
    }
}

impl AsRawFd for EventFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

impl Read for EventFd {
    /// Takes the counter (8 bytes, native endian) and resets it; `buf` must hold 8.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut count = [0u8; 8];
        // SAFETY: reads at most 8 bytes into `count`, which has 8.
        let n = unsafe { libc::read(self.as_raw_fd(), count.as_mut_ptr().cast(), 8) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = (n as usize).min(buf.len());
        buf[..n].copy_from_slice(&count[..n]);
        Ok(n)
    }
}

impl Write for EventFd {
    /// Adds one to the counter per byte of `buf`: any write wakes the reader.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let add = (buf.len() as u64).to_ne_bytes();
        // SAFETY: writes the 8 bytes of `add`.
        let n = unsafe { libc::write(self.as_raw_fd(), add.as_ptr().cast(), 8) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

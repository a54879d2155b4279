//! Small helpers over file descriptors that several layers use.

use std::io;
use std::os::fd::RawFd;

pub(crate) fn set_nonblocking(fd: RawFd) {
    // SAFETY: fcntl on a descriptor we own; no memory is involved.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
    }
}

/// Reads what `fd` has straight into `buf`'s spare capacity (growing it by doubling), with
/// no intermediate copy: capturing a large output costs no more than `std`'s `output()`.
pub(crate) fn read_into(fd: RawFd, buf: &mut Vec<u8>) -> io::Result<usize> {
    if buf.capacity() - buf.len() < 64 * 1024 {
        buf.reserve(buf.len().max(256 * 1024));
    }
    let len = buf.len();
    let spare = buf.capacity() - len;
    // SAFETY: the pointer and length describe `buf`'s allocated, unused capacity; read(2)
    // writes at most `spare` bytes there, and `set_len` only covers bytes it wrote.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().add(len).cast(), spare) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    unsafe { buf.set_len(len + n as usize) };
    Ok(n as usize)
}

/// 128 random bits from the operating system, in hex: for names and markers nobody may
/// guess. Without a random source (never seen), a name still unique to this process.
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let n = N.fetch_add(1, Ordering::Relaxed);
        return format!("{:x}x{:x}x{n:x}", std::process::id(), t.as_nanos());
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Blocks until `input` has bytes (or its end) to read: true; or until nobody reads
/// `output` any more (its reader closed: POLLERR/POLLHUP, reported whatever was asked):
/// false. A relay between the two then stops without taking input nobody will get.
pub(crate) fn wait_input_for(input: RawFd, output: RawFd) -> bool {
    let mut fds = [
        libc::pollfd {
            fd: input,
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: output,
            events: 0,
            revents: 0,
        },
    ];
    loop {
        // SAFETY: `fds` is a valid array of two pollfd for the length of the call.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if n < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return false;
        }
        if fds[1].revents != 0 {
            return false;
        }
        if fds[0].revents != 0 {
            return true;
        }
    }
}

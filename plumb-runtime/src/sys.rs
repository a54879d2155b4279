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

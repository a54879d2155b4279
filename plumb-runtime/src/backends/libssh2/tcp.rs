//! What a session asks of its TCP socket that each kernel spells its own way: gathering a
//! turn's packets into few segments, failing a link that stops acknowledging, seeing that
//! the server closed while nothing reads, and how long the server has been silent.
//!
//! - gathering: Linux `TCP_CORK`; FreeBSD `TCP_NOPUSH` (clearing it sends what waits);
//!   macOS none, since clearing its `TCP_NOPUSH` does not send what waits.
//! - unacknowledged data fails the link: Linux `TCP_USER_TIMEOUT`; macOS
//!   `TCP_RXT_CONNDROPTIME`; FreeBSD none (the silence check below ends such a link).
//! - a close seen while nothing reads: `POLLRDHUP` on Linux and FreeBSD; on macOS `POLLHUP`
//!   asked for, which makes poll watch the read side (a close that comes right after data
//!   may wait for the next poll, at most the I/O thread's one-second tick).
//! - silence: `TCP_INFO`'s last receive on Linux and FreeBSD; macOS's
//!   `TCP_CONNECTION_INFO` has only a count of bytes received, so we note when it moves.
//!
//! Elsewhere: no gathering, no timeout option, `POLLHUP`, and no silence measure (the
//! server's keepalive replies are then not checked; a dead link fails when a write does).

use std::net::TcpStream;
#[cfg(any(
    target_os = "linux",
    target_os = "android",
    target_os = "freebsd",
    target_vendor = "apple"
))]
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

// WinSock under libc's names (see `os`).
#[cfg(windows)]
use super::os::libc;
#[cfg(target_vendor = "apple")]
use std::time::Instant;

/// The poll event that reports a peer's close (its FIN) whether or not we ask for input.
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
pub(super) const PEER_CLOSED: libc::c_short = libc::POLLRDHUP;
/// Asking for `POLLHUP` makes macOS's poll watch the socket's read side, whose EOF it
/// reports as `POLLHUP` (on other systems `POLLHUP` is reported unasked).
#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
pub(super) const PEER_CLOSED: libc::c_short = libc::POLLHUP;

/// Socket options for a session: no Nagle (else each command pays ~45 ms of Nagle and
/// delayed-ACK stalls), and a link that stops acknowledging fails after three keepalives.
pub(super) fn tune(socket: &TcpStream, keepalive: Duration) {
    let _ = socket.set_nodelay(true);
    unacked_timeout(socket, keepalive * 3);
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn unacked_timeout(socket: &TcpStream, after: Duration) {
    let ms = after.as_millis().min(i32::MAX as u128) as libc::c_int;
    set_option(socket, libc::TCP_USER_TIMEOUT, ms);
}

#[cfg(target_vendor = "apple")]
fn unacked_timeout(socket: &TcpStream, after: Duration) {
    /// `<netinet/tcp.h>`: seconds of retransmission before the connection is dropped (not
    /// in the libc crate).
    const TCP_RXT_CONNDROPTIME: libc::c_int = 0x80;
    let secs = after.as_secs().clamp(1, i32::MAX as u64) as libc::c_int;
    set_option(socket, TCP_RXT_CONNDROPTIME, secs);
}

#[cfg(not(any(target_os = "linux", target_os = "android", target_vendor = "apple")))]
fn unacked_timeout(_socket: &TcpStream, _after: Duration) {}

/// Holds back partial segments until `on` is false again.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(super) fn cork(socket: &TcpStream, on: bool) {
    set_option(socket, libc::TCP_CORK, libc::c_int::from(on));
}

#[cfg(target_os = "freebsd")]
pub(super) fn cork(socket: &TcpStream, on: bool) {
    set_option(socket, libc::TCP_NOPUSH, libc::c_int::from(on));
}

#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
pub(super) fn cork(_socket: &TcpStream, _on: bool) {}

/// An integer `IPPROTO_TCP` option; failures are ignored (the socket works without).
#[cfg(any(
    target_os = "linux",
    target_os = "android",
    target_os = "freebsd",
    target_vendor = "apple"
))]
fn set_option(socket: &TcpStream, name: libc::c_int, value: libc::c_int) {
    // SAFETY: setsockopt with a pointer to a c_int of the right size.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
}

/// Reads an `IPPROTO_TCP` structure; `None` if the kernel refuses.
#[cfg(any(
    target_os = "linux",
    target_os = "android",
    target_os = "freebsd",
    target_vendor = "apple"
))]
fn get_info<T>(fd: RawFd, name: libc::c_int) -> Option<T> {
    // SAFETY: T is one of the kernel's plain-data tcp info structures (all-zero is valid);
    // getsockopt writes at most `len` bytes into it.
    unsafe {
        let mut info: T = std::mem::zeroed();
        let mut len = std::mem::size_of::<T>() as libc::socklen_t;
        let rc = libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            name,
            (&mut info as *mut T).cast(),
            &mut len,
        );
        (rc == 0).then_some(info)
    }
}

/// How long the server has been silent, asked once a second by the I/O thread.
#[derive(Debug, Default)]
pub(super) struct Silence {
    /// macOS tells only how many bytes came: when that count last moved.
    #[cfg(target_vendor = "apple")]
    heard: Option<(u64, Instant)>,
}

impl Silence {
    /// How long ago `socket` last received data; `None` where the kernel cannot tell.
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
    pub(super) fn since_data(&mut self, socket: &TcpStream) -> Option<Duration> {
        let info: libc::tcp_info = get_info(socket.as_raw_fd(), libc::TCP_INFO)?;
        Some(Duration::from_millis(u64::from(info.tcpi_last_data_recv)))
    }

    #[cfg(target_vendor = "apple")]
    pub(super) fn since_data(&mut self, socket: &TcpStream) -> Option<Duration> {
        let info: libc::tcp_connection_info =
            get_info(socket.as_raw_fd(), libc::TCP_CONNECTION_INFO)?;
        let now = Instant::now();
        match self.heard {
            Some((bytes, since)) if bytes == info.tcpi_rxbytes => Some(now - since),
            _ => {
                self.heard = Some((info.tcpi_rxbytes, now));
                Some(Duration::ZERO)
            }
        }
    }

    #[cfg(not(any(
        target_os = "linux",
        target_os = "android",
        target_os = "freebsd",
        target_vendor = "apple"
    )))]
    pub(super) fn since_data(&mut self, _socket: &TcpStream) -> Option<Duration> {
        None
    }
}

// What these check (silence, corking, poll events) is each Unix kernel's.
#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::os::fd::AsRawFd;

    fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let a = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (b, _) = l.accept().unwrap();
        (a, b)
    }

    /// The silence grows while nothing comes and starts again when data comes.
    #[test]
    fn silence_is_measured_from_the_last_data() {
        let (a, mut b) = pair();
        tune(&a, Duration::from_secs(5));
        let mut s = Silence::default();
        b.write_all(b"x").unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let first = s.since_data(&a).expect("the kernel tells");
        std::thread::sleep(Duration::from_millis(400));
        let later = s.since_data(&a).unwrap();
        assert!(
            later >= first + Duration::from_millis(300),
            "{first:?} {later:?}"
        );
        b.write_all(b"y").unwrap();
        std::thread::sleep(Duration::from_millis(50));
        assert!(s.since_data(&a).unwrap() < Duration::from_millis(300));
    }

    /// Corked writes still arrive once uncorked.
    #[test]
    fn corked_writes_arrive_when_uncorked() {
        let (mut a, mut b) = pair();
        tune(&a, Duration::from_secs(5));
        cork(&a, true);
        a.write_all(b"one").unwrap();
        a.write_all(b"two").unwrap();
        cork(&a, false);
        b.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        let mut got = [0u8; 6];
        b.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"onetwo");
    }

    /// A peer's close is reported while only [`PEER_CLOSED`] is asked for, also with
    /// unread data in the socket (an idle session's keepalive reply).
    #[test]
    fn a_close_is_seen_without_reading() {
        let (a, mut b) = pair();
        b.write_all(b"unread").unwrap();
        drop(b);
        let mut fds = [libc::pollfd {
            fd: a.as_raw_fd(),
            events: PEER_CLOSED,
            revents: 0,
        }];
        // SAFETY: one valid pollfd for the length of the call.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 1, 2000) };
        assert_eq!(n, 1);
        assert_ne!(fds[0].revents & (PEER_CLOSED | libc::POLLHUP), 0);
    }
}

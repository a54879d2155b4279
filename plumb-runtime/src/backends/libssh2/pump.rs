//! A running channel and its local ends: bytes pumped both ways with flow control (a
//! channel stream is read only once the previous chunk was delivered).

use std::io::{self, Read, Write};

use ssh2::Channel;

use super::header::HeaderScan;
use super::io::{io_would_block, would_block, Exit, Reply};
use super::os::{libc, set_nonblocking, AsRawFd, OwnedFd, RawFd};

const CHUNK: usize = 32 * 1024;

fn fd_read(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for `buf.len()` bytes.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

fn fd_write(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for `buf.len()` bytes. MSG_NOSIGNAL is not available for
    // pipes, so a closed reader raises SIGPIPE, which Rust programs ignore by default.
    let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// A chunk in flight: bytes `pos..len` of `data` are still to be delivered. The memory is
/// held only while a chunk is (a few hundred idle tunnels then cost next to nothing).
struct Buf {
    data: Vec<u8>,
    len: usize,
    pos: usize,
}

impl Buf {
    fn new() -> Buf {
        Buf {
            data: Vec::new(),
            len: 0,
            pos: 0,
        }
    }

    fn pending(&self) -> &[u8] {
        &self.data[self.pos..self.len]
    }

    fn is_empty(&self) -> bool {
        self.pos >= self.len
    }

    /// Drops what is in flight, and the memory.
    fn clear(&mut self) {
        self.len = 0;
        self.pos = 0;
        self.data = Vec::new();
    }

    /// Fills the (empty) buffer from `read`.
    fn fill(&mut self, read: impl FnOnce(&mut [u8]) -> io::Result<usize>) -> io::Result<usize> {
        (self.len, self.pos) = (0, 0);
        if self.data.is_empty() {
            self.data = vec![0u8; CHUNK];
        }
        let got = read(&mut self.data);
        self.len = *got.as_ref().unwrap_or(&0);
        self.release_if_drained();
        got
    }

    /// Makes `bytes` the chunk in flight (what a [`HeaderScan`] hands on).
    fn replace(&mut self, bytes: Vec<u8>) {
        (self.len, self.pos) = (bytes.len(), 0);
        self.data = bytes;
        self.release_if_drained();
    }

    /// Marks `n` more bytes delivered.
    fn advance(&mut self, n: usize) {
        self.pos += n;
        self.release_if_drained();
    }

    fn release_if_drained(&mut self) {
        if self.is_empty() {
            self.clear();
        }
    }
}

/// One direction from a channel stream to a local descriptor.
struct Sink {
    fd: Option<OwnedFd>,
    buf: Buf,
    /// The channel stream has ended.
    eof: bool,
    /// Shut the socket's sending half at the end instead of closing it (tunnels).
    shutdown: bool,
    /// Looking for the job's pid line (stderr of a job that reports it).
    scan: Option<HeaderScan>,
}

impl Sink {
    fn new(fd: Option<OwnedFd>, shutdown: bool) -> Sink {
        if let Some(fd) = &fd {
            set_nonblocking(fd);
        }
        Sink {
            fd,
            buf: Buf::new(),
            eof: false,
            shutdown,
            scan: None,
        }
    }

    /// The chunk just read goes through the pid scan, while there is one.
    fn scanned(&mut self) {
        if let Some(scan) = &mut self.scan {
            let chunk = self.buf.pending().to_vec();
            match scan.feed(&chunk) {
                Some(rest) => {
                    self.scan = None;
                    self.buf.replace(rest);
                }
                None => self.buf.replace(Vec::new()),
            }
        }
    }

    /// The stream has ended: what a scan still held goes out before the end.
    fn ended(&mut self) {
        if let Some(scan) = self.scan.take() {
            self.buf.replace(scan.end());
        }
        self.eof = true;
    }

    fn scanning(mut self, scan: Option<HeaderScan>) -> Sink {
        self.scan = scan;
        self
    }

    fn pending(&self) -> bool {
        !self.buf.is_empty()
    }

    /// Writes what is buffered; true on progress.
    fn flush(&mut self) -> bool {
        let mut progress = false;
        while self.pending() {
            let Some(fd) = &self.fd else {
                // Nobody reads it: drop the bytes.
                self.buf.clear();
                return true;
            };
            match fd_write(fd.as_raw_fd(), self.buf.pending()) {
                Ok(n) => {
                    self.buf.advance(n);
                    progress = true;
                }
                Err(e) if io_would_block(&e) => return progress,
                Err(_) => {
                    // The reader went away: keep draining the channel into nothing.
                    self.fd = None;
                }
            }
        }
        self.buf.clear();
        if self.eof {
            self.finish();
        }
        progress
    }

    fn finish(&mut self) {
        if let Some(fd) = self.fd.take() {
            if self.shutdown {
                // SAFETY: shutdown(2) on a socket we own.
                unsafe { libc::shutdown(fd.as_raw_fd(), libc::SHUT_WR) };
            }
        }
    }

    fn done(&self) -> bool {
        self.eof && !self.pending()
    }
}

pub(super) enum Kind {
    Exec(Reply),
    Tunnel,
}

/// A running channel and its local ends.
pub(super) struct Pump {
    ch: Channel,
    kind: Kind,
    input: Option<OwnedFd>,
    in_buf: Buf,
    /// EOF has been sent to the channel.
    eof_sent: bool,
    /// The local input has ended (or there is none).
    input_done: bool,
    /// The local input may have bytes: the last poll said so, or the last read got some.
    input_ready: bool,
    out: [Sink; 2],
    /// We began closing the channel.
    closed: bool,
    /// Took one more turn for data libssh2 holds (see [`Pump::unread_buffered`]).
    rechecked: bool,
}

pub(super) enum Step {
    Working(bool),
    Finished,
}

impl Pump {
    pub(super) fn new(
        ch: Channel,
        kind: Kind,
        input: Option<OwnedFd>,
        out: Option<OwnedFd>,
        err: Option<OwnedFd>,
        scan: Option<HeaderScan>,
    ) -> Pump {
        if let Some(fd) = &input {
            set_nonblocking(fd);
        }
        let tunnel = matches!(kind, Kind::Tunnel);
        Pump {
            ch,
            kind,
            input_done: input.is_none(),
            input_ready: true,
            input,
            in_buf: Buf::new(),
            eof_sent: false,
            out: [Sink::new(out, tunnel), Sink::new(err, false).scanning(scan)],
            closed: false,
            rechecked: false,
        }
    }

    /// Whether this channel would read from the session now: a stream whose last chunk
    /// was delivered, or a finished one waiting for the channel to close. A channel whose
    /// both streams wait for their local readers reads nothing.
    pub(super) fn wants_data(&self) -> bool {
        self.out.iter().any(|s| !s.pending())
    }

    /// The descriptors to poll and for what.
    pub(super) fn interests(&self, fds: &mut Vec<libc::pollfd>) {
        if let (Some(fd), false, true) = (&self.input, self.input_done, self.in_buf.is_empty()) {
            fds.push(libc::pollfd {
                fd: fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        for s in &self.out {
            if let (Some(fd), true) = (&s.fd, s.pending()) {
                fds.push(libc::pollfd {
                    fd: fd.as_raw_fd(),
                    events: libc::POLLOUT,
                    revents: 0,
                });
            }
        }
    }

    /// What the last poll said about one of the descriptors from [`Pump::interests`].
    pub(super) fn ready(&mut self, fd: &libc::pollfd) {
        let is_input = self.input.as_ref().is_some_and(|i| i.as_raw_fd() == fd.fd);
        if is_input && fd.revents != 0 {
            self.input_ready = true;
        }
    }

    /// One turn: moves what can move without blocking, both ways, and closes the channel
    /// once both output streams are done. `fresh`: the session's socket may hold unread
    /// bytes; the first channel read takes them all and clears it.
    pub(super) fn step(&mut self, fresh: &mut bool) -> Result<Step, String> {
        let mut progress = self.pump_output(fresh)?;
        if progress {
            self.rechecked = false;
        } else {
            progress = self.unread_buffered();
        }
        progress |= self.pump_input();
        progress |= self.send_eof();
        if self.out[0].done() && self.out[1].done() {
            return Ok(self.close(progress));
        }
        Ok(Step::Working(progress))
    }

    /// Whether libssh2 holds data of this channel that the last reads missed. Reading one
    /// stream makes libssh2 take whatever packets are on the socket, the other stream's
    /// included: those then wait in its buffer, and the socket has nothing new to wake
    /// the loop (a session's shell waited a second for its reply that way). One more turn
    /// reads them; only one, so that data nobody can take now never spins the loop.
    fn unread_buffered(&mut self) -> bool {
        if self.rechecked || self.out.iter().any(Sink::pending) {
            return false;
        }
        self.rechecked = self.ch.read_window().available > 0;
        self.rechecked
    }

    /// Whether reading the channel could get anything: bytes or an EOF libssh2 holds for
    /// it, or unread bytes on the socket (each channel read costs a `recv`).
    fn worth_reading(&self, fresh: bool) -> bool {
        fresh || self.ch.read_window().available > 0 || self.ch.eof()
    }

    /// Channel -> local, each stream read only once its previous chunk is delivered.
    fn pump_output(&mut self, fresh: &mut bool) -> Result<bool, String> {
        let mut progress = false;
        for i in 0..2 {
            progress |= self.out[i].flush();
            if self.out[i].eof || self.out[i].pending() || !self.worth_reading(*fresh) {
                continue;
            }
            *fresh = false;
            let ch = &mut self.ch;
            let got = self.out[i].buf.fill(|data| {
                if i == 0 {
                    ch.read(data)
                } else {
                    ch.stderr().read(data)
                }
            });
            match got {
                Ok(0) => {
                    if self.ch.eof() {
                        self.out[i].ended();
                        self.out[i].flush();
                        progress = true;
                    }
                }
                Ok(_) => {
                    self.out[i].scanned();
                    self.out[i].flush();
                    progress = true;
                }
                Err(e) if io_would_block(&e) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        Ok(progress)
    }

    /// Local -> channel, until the channel is closing: an EOF or data sent after our
    /// CLOSE may reach a channel the server has freed, and it disconnects us for that.
    fn pump_input(&mut self) -> bool {
        let mut progress = false;
        if self.closed {
            self.input_done = true;
            self.eof_sent = true;
            self.in_buf.clear();
            self.input = None;
        }
        let wanted = !self.input_done && self.input_ready && self.in_buf.is_empty();
        if let (true, Some(fd)) = (wanted, &self.input) {
            match self.in_buf.fill(|data| fd_read(fd.as_raw_fd(), data)) {
                Ok(0) => {
                    self.input_done = true;
                    progress = true;
                }
                Ok(_) => progress = true,
                // Until a poll says there is more.
                Err(e) if io_would_block(&e) => self.input_ready = false,
                Err(_) => {
                    self.input_done = true;
                    self.in_buf.clear();
                }
            }
        }
        while !self.in_buf.is_empty() {
            match self.ch.write(self.in_buf.pending()) {
                Ok(n) => {
                    self.in_buf.advance(n);
                    progress = true;
                }
                Err(e) if io_would_block(&e) => break,
                // The remote side stopped reading (it exited): drop the rest.
                Err(_) => {
                    self.input_done = true;
                    self.in_buf.clear();
                }
            }
        }
        progress
    }

    /// EOF to the channel once the local input has ended and all of it was sent.
    fn send_eof(&mut self) -> bool {
        if !self.input_done || !self.in_buf.is_empty() || self.eof_sent {
            return false;
        }
        match self.ch.send_eof() {
            Ok(()) => {
                self.eof_sent = true;
                self.input = None;
                true
            }
            Err(e) if would_block(&e) => false,
            Err(_) => {
                self.eof_sent = true;
                false
            }
        }
    }

    /// Both output streams are done: close the channel and report how the command ended.
    fn close(&mut self, progress: bool) -> Step {
        if !self.closed {
            // From here on nothing else is sent on this channel; `close` sends our EOF
            // first if it was not sent.
            self.closed = true;
            self.eof_sent = true;
        }
        if matches!(self.ch.close(), Err(e) if would_block(&e))
            || matches!(self.ch.wait_close(), Err(e) if would_block(&e))
        {
            return Step::Working(progress);
        }
        if let Kind::Exec(done) = &self.kind {
            done.send(Ok(self.exit()));
        }
        Step::Finished
    }

    /// How the command ended. A process killed by a signal reports exit status 0, so the
    /// signal is read first.
    fn exit(&self) -> Exit {
        if let Ok(sig) = self.ch.exit_signal() {
            if let Some(name) = sig.exit_signal {
                return Exit::Signal(signal_number(&name));
            }
        }
        Exit::Code(self.ch.exit_status().unwrap_or(-1))
    }

    pub(super) fn fail(self, why: &str) {
        if let Kind::Exec(done) = &self.kind {
            done.send(Err(why.to_string()));
        }
    }
}

/// The number of a signal by its name in an exit-signal (`TERM`, or sshd's
/// `BUS@openssh.com` for those RFC 4254 does not name), as Linux numbers it (the POSIX
/// ones are the same everywhere); 0 for a name it does not know.
fn signal_number(name: &str) -> i32 {
    let name = name.trim_start_matches("SIG");
    let name = name.split('@').next().unwrap_or(name);
    match name {
        "HUP" => 1,
        "INT" => 2,
        "QUIT" => 3,
        "ILL" => 4,
        "TRAP" => 5,
        "ABRT" => 6,
        "BUS" => 7,
        "FPE" => 8,
        "KILL" => 9,
        "USR1" => 10,
        "SEGV" => 11,
        "USR2" => 12,
        "PIPE" => 13,
        "ALRM" => 14,
        "TERM" => 15,
        "XCPU" => 24,
        "XFSZ" => 25,
        "VTALRM" => 26,
        "PROF" => 27,
        "SYS" => 31,
        _ => 0,
    }
}

//! The one thread that owns a libssh2 session.
//!
//! libssh2 holds one lock per session: a blocking read on one channel stalls every other
//! channel, and stdout and stderr share one receive window, so a command writing megabytes
//! to stderr while its caller reads stdout would hang. So the session runs in non-blocking
//! mode on this thread alone, which polls the socket, a wake-up pipe and the local ends of
//! every channel, and pumps bytes both ways with flow control: it reads from a channel only
//! when the local side has taken what it read before, so memory stays bounded and a slow
//! reader slows the remote writer (through the SSH window) instead of filling memory.
//! Callers talk to it through [`Request`]s. All knowledge of libssh2's quirks lives here.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use ssh2::{Channel, ErrorCode, Listener, Session};

/// How a remote command ended.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Exit {
    Code(i32),
    Signal(i32),
}

/// What callers ask of the I/O thread.
pub(crate) enum Request {
    /// Run `command` on a new channel, pumping the given local descriptors.
    Exec {
        command: String,
        stdin: Option<OwnedFd>,
        stdout: Option<OwnedFd>,
        stderr: Option<OwnedFd>,
        done: Sender<Result<Exit, String>>,
    },
    /// Open a `direct-tcpip` channel to `host:port` and pump it to `local` (a socket).
    Direct {
        host: String,
        port: u16,
        local: OwnedFd,
        opened: Sender<Result<(), String>>,
    },
    /// Ask the server to listen on `port` and deliver each connection to `target`.
    Listen {
        port: u16,
        target: SocketAddr,
        stop: Arc<AtomicBool>,
        bound: Sender<Result<u16, String>>,
    },
}

/// What the I/O thread shares with the machine.
pub(crate) struct Shared {
    /// Why the connection ended, once it has.
    pub dead: Mutex<Option<String>>,
    /// Set by `close()`: end everything now.
    pub close: AtomicBool,
}

impl Shared {
    pub(crate) fn dead(&self) -> Option<String> {
        self.dead
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

const CHUNK: usize = 32 * 1024;

fn would_block(e: &ssh2::Error) -> bool {
    e.code() == ErrorCode::Session(-37)
}

/// Errors of the transport itself, after which nothing on the session can work.
fn fatal(e: &ssh2::Error) -> bool {
    matches!(
        e.code(),
        // SOCKET_SEND, SOCKET_DISCONNECT, SOCKET_TIMEOUT, SOCKET_RECV, TIMEOUT, KEX failures
        ErrorCode::Session(-7 | -13 | -30 | -43 | -9 | -5 | -8)
    )
}

fn io_would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::Interrupted
}

pub(crate) fn set_nonblocking(fd: RawFd) {
    // SAFETY: fcntl on a descriptor we own; no memory is involved.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
    }
}

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

/// A chunk in flight, allocated once per direction: bytes `pos..len` of `data` are still
/// to be delivered.
struct Buf {
    data: Box<[u8]>,
    len: usize,
    pos: usize,
}

impl Buf {
    fn new() -> Buf {
        Buf {
            data: vec![0u8; CHUNK].into_boxed_slice(),
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

    fn clear(&mut self) {
        self.len = 0;
        self.pos = 0;
    }

    /// Fills the (empty) buffer from `read`.
    fn fill(&mut self, read: impl FnOnce(&mut [u8]) -> io::Result<usize>) -> io::Result<usize> {
        self.clear();
        let n = read(&mut self.data)?;
        self.len = n;
        Ok(n)
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
}

impl Sink {
    fn new(fd: Option<OwnedFd>, shutdown: bool) -> Sink {
        if let Some(fd) = &fd {
            set_nonblocking(fd.as_raw_fd());
        }
        Sink {
            fd,
            buf: Buf::new(),
            eof: false,
            shutdown,
        }
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
                    self.buf.pos += n;
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

enum Kind {
    Exec(Sender<Result<Exit, String>>),
    Tunnel,
}

/// A running channel and its local ends.
struct Pump {
    ch: Channel,
    kind: Kind,
    input: Option<OwnedFd>,
    in_buf: Buf,
    /// EOF has been sent to the channel.
    eof_sent: bool,
    /// The local input has ended (or there is none).
    input_done: bool,
    out: [Sink; 2],
    /// We began closing the channel.
    closed: bool,
}

enum Step {
    Working(bool),
    Finished,
}

impl Pump {
    fn new(
        ch: Channel,
        kind: Kind,
        input: Option<OwnedFd>,
        out: Option<OwnedFd>,
        err: Option<OwnedFd>,
    ) -> Pump {
        if let Some(fd) = &input {
            set_nonblocking(fd.as_raw_fd());
        }
        let tunnel = matches!(kind, Kind::Tunnel);
        Pump {
            ch,
            kind,
            input_done: input.is_none(),
            input,
            in_buf: Buf::new(),
            eof_sent: false,
            out: [Sink::new(out, tunnel), Sink::new(err, false)],
            closed: false,
        }
    }

    /// The descriptors to poll and for what.
    fn interests(&self, fds: &mut Vec<libc::pollfd>) {
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

    fn step(&mut self) -> Result<Step, String> {
        let mut progress = false;
        // Channel -> local, each stream read only once the previous chunk is delivered.
        for i in 0..2 {
            progress |= self.out[i].flush();
            if self.out[i].eof || self.out[i].pending() {
                continue;
            }
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
                        self.out[i].eof = true;
                        self.out[i].flush();
                        progress = true;
                    }
                }
                Ok(_) => {
                    self.out[i].flush();
                    progress = true;
                }
                Err(e) if io_would_block(&e) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        // Local -> channel, until the channel is closing: an EOF or data sent after our
        // CLOSE may reach a channel the server has freed, and it disconnects us for that.
        if self.closed {
            self.input_done = true;
            self.eof_sent = true;
            self.in_buf.clear();
            self.input = None;
        }
        if !self.input_done && self.in_buf.is_empty() {
            if let Some(fd) = &self.input {
                match self.in_buf.fill(|data| fd_read(fd.as_raw_fd(), data)) {
                    Ok(0) => {
                        self.input_done = true;
                        progress = true;
                    }
                    Ok(_) => progress = true,
                    Err(e) if io_would_block(&e) => {}
                    Err(_) => {
                        self.input_done = true;
                        self.in_buf.clear();
                    }
                }
            }
        }
        while !self.in_buf.is_empty() {
            match self.ch.write(self.in_buf.pending()) {
                Ok(n) => {
                    self.in_buf.pos += n;
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
        if self.input_done && self.in_buf.is_empty() && !self.eof_sent {
            match self.ch.send_eof() {
                Ok(()) => {
                    self.eof_sent = true;
                    self.input = None;
                    progress = true;
                }
                Err(e) if would_block(&e) => {}
                Err(_) => self.eof_sent = true,
            }
        }
        // Both output streams done: close and report.
        if self.out[0].done() && self.out[1].done() {
            if !self.closed {
                // From here on nothing else is sent on this channel; `close` sends our EOF
                // first if it was not sent.
                self.closed = true;
                self.eof_sent = true;
            }
            match self.ch.close() {
                Ok(()) => {}
                Err(e) if would_block(&e) => return Ok(Step::Working(progress)),
                Err(_) => {}
            }
            match self.ch.wait_close() {
                Ok(()) => {}
                Err(e) if would_block(&e) => return Ok(Step::Working(progress)),
                Err(_) => {}
            }
            if let Kind::Exec(done) = &self.kind {
                let _ = done.send(Ok(self.exit()));
            }
            return Ok(Step::Finished);
        }
        Ok(Step::Working(progress))
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

    fn fail(self, why: &str) {
        if let Kind::Exec(done) = &self.kind {
            let _ = done.send(Err(why.to_string()));
        }
    }
}

fn signal_number(name: &str) -> i32 {
    match name.trim_start_matches("SIG") {
        "HUP" => 1,
        "INT" => 2,
        "QUIT" => 3,
        "ILL" => 4,
        "ABRT" => 6,
        "FPE" => 8,
        "KILL" => 9,
        "SEGV" => 11,
        "PIPE" => 13,
        "ALRM" => 14,
        "TERM" => 15,
        "USR1" => 10,
        "USR2" => 12,
        _ => 0,
    }
}

/// A request whose channel is being opened: libssh2 opens one channel at a time, so
/// requests wait their turn in a queue. `ch` holds a session channel opened before its
/// `exec` would block.
struct Opening {
    req: Request,
    ch: Option<Channel>,
}

enum Opened {
    /// Not done yet: call again.
    Pending(Opening),
    /// Refused; retry once a channel closes (the server's session limit).
    Refused(Opening),
    Pump(Pump),
    Listener(RemoteListener),
    /// Failed; the caller has its answer.
    Failed,
}

impl Opening {
    fn new(req: Request) -> Opening {
        Opening { req, ch: None }
    }

    /// One more step of opening. Errors are those of the whole session.
    fn step(self, session: &Session, busy: bool) -> Result<Opened, ssh2::Error> {
        match &self.req {
            Request::Exec { .. } => self.step_exec(session, busy),
            Request::Direct { host, port, .. } => {
                match session.channel_direct_tcpip(host, *port, None) {
                    Ok(c) => {
                        let Request::Direct { local, opened, .. } = self.req else {
                            unreachable!("matched above")
                        };
                        let out = local.try_clone().ok();
                        let _ = opened.send(Ok(()));
                        Ok(Opened::Pump(Pump::new(
                            c,
                            Kind::Tunnel,
                            Some(local),
                            out,
                            None,
                        )))
                    }
                    Err(e) if would_block(&e) => Ok(Opened::Pending(self)),
                    Err(e) if fatal(&e) => Err(e),
                    Err(e) => {
                        let why = format!("cannot reach {host}:{port} from the remote host: {e}");
                        self.fail(&why);
                        Ok(Opened::Failed)
                    }
                }
            }
            Request::Listen { port, .. } => {
                match session.channel_forward_listen(*port, Some("127.0.0.1"), None) {
                    Ok((listener, bound_port)) => {
                        let Request::Listen {
                            target,
                            stop,
                            bound,
                            ..
                        } = self.req
                        else {
                            unreachable!("matched above")
                        };
                        let _ = bound.send(Ok(bound_port));
                        Ok(Opened::Listener(RemoteListener {
                            listener,
                            target,
                            stop,
                        }))
                    }
                    Err(e) if would_block(&e) => Ok(Opened::Pending(self)),
                    Err(e) if fatal(&e) => Err(e),
                    Err(e) => {
                        let why = format!("the server refused to listen on port {port}: {e}");
                        self.fail(&why);
                        Ok(Opened::Failed)
                    }
                }
            }
        }
    }

    fn step_exec(mut self, session: &Session, busy: bool) -> Result<Opened, ssh2::Error> {
        if self.ch.is_none() {
            match session.channel_session() {
                Ok(c) => self.ch = Some(c),
                Err(e) if would_block(&e) => return Ok(Opened::Pending(self)),
                Err(e) if fatal(&e) => return Err(e),
                Err(_) if busy => return Ok(Opened::Refused(self)),
                Err(e) => {
                    self.fail(&format!("the server refused a channel: {e}"));
                    return Ok(Opened::Failed);
                }
            }
        }
        let (Request::Exec { command, .. }, Some(ch)) = (&self.req, self.ch.as_mut()) else {
            unreachable!("an exec request with its channel")
        };
        match ch.exec(command) {
            Ok(()) => {
                let (
                    Request::Exec {
                        stdin,
                        stdout,
                        stderr,
                        done,
                        ..
                    },
                    Some(ch),
                ) = (self.req, self.ch)
                else {
                    unreachable!("an exec request with its channel")
                };
                Ok(Opened::Pump(Pump::new(
                    ch,
                    Kind::Exec(done),
                    stdin,
                    stdout,
                    stderr,
                )))
            }
            Err(e) if would_block(&e) => Ok(Opened::Pending(self)),
            Err(e) if fatal(&e) => Err(e),
            Err(e) => {
                self.fail(&format!("the server refused to run the command: {e}"));
                Ok(Opened::Failed)
            }
        }
    }

    /// Answers the caller with `why`.
    fn fail(self, why: &str) {
        let why = why.to_string();
        match self.req {
            Request::Exec { done, .. } => drop(done.send(Err(why))),
            Request::Direct { opened, .. } => drop(opened.send(Err(why))),
            Request::Listen { bound, .. } => drop(bound.send(Err(why))),
        }
    }
}

/// A `forward_remote` listener: each accepted channel is tunnelled to `target`.
struct RemoteListener {
    listener: Listener,
    target: SocketAddr,
    stop: Arc<AtomicBool>,
}

/// The thread's body. Returns when asked to close (all senders gone) or when the
/// connection dies; either way every waiting caller gets an answer.
pub(crate) fn run(
    session: Session,
    socket: TcpStream,
    requests: Receiver<Request>,
    wake: os_pipe::PipeReader,
    keepalive: Duration,
    shared: Arc<Shared>,
) {
    set_nonblocking(wake.as_raw_fd());
    let mut wake = wake;
    let mut queue: VecDeque<Opening> = VecDeque::new();
    let mut pumps: Vec<Pump> = Vec::new();
    let mut listeners: Vec<RemoteListener> = Vec::new();
    let mut refused: Option<Opening> = None;
    let mut next_keepalive = Instant::now() + keepalive;
    let mut closing = false;
    // Requests are always checked; the wake-up pipe is drained only when poll saw it.
    let mut woken = true;
    let mut next_liveness = Instant::now() + keepalive;
    let why: String = 'outer: loop {
        let mut progress = false;
        if woken {
            let mut drain = [0u8; 64];
            while matches!(wake.read(&mut drain), Ok(n) if n > 0) {}
            woken = false;
        }
        loop {
            match requests.try_recv() {
                Ok(req) => queue.push_back(Opening::new(req)),
                Err(std::sync::mpsc::TryRecvError::Empty) => break,
                Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    // Closed: finish what runs, then stop.
                    closing = true;
                    break;
                }
            }
        }
        if shared.close.load(Ordering::SeqCst) {
            break 'outer "the machine was closed".to_string();
        }
        if closing && pumps.is_empty() && queue.is_empty() && refused.is_none() {
            break 'outer "the machine was closed".to_string();
        }

        // Open channels, one at a time; none while the server refuses more.
        while refused.is_none() {
            let Some(op) = queue.pop_front() else { break };
            match op.step(&session, !pumps.is_empty()) {
                Ok(Opened::Pending(back)) => {
                    queue.push_front(back);
                    break;
                }
                Ok(Opened::Pump(p)) => {
                    pumps.push(p);
                    progress = true;
                }
                Ok(Opened::Listener(l)) => {
                    listeners.push(l);
                    progress = true;
                }
                Ok(Opened::Refused(op)) => {
                    // Wait for a channel to close, then try again.
                    refused = Some(op);
                    break;
                }
                Ok(Opened::Failed) => progress = true,
                Err(e) => break 'outer format!("the connection failed: {e}"),
            }
        }

        // Pump every channel.
        let mut i = 0;
        while i < pumps.len() {
            match pumps[i].step() {
                Ok(Step::Working(p)) => {
                    progress |= p;
                    i += 1;
                }
                Ok(Step::Finished) => {
                    pumps.swap_remove(i);
                    progress = true;
                    if let Some(op) = refused.take() {
                        queue.push_front(op);
                    }
                }
                Err(e) => break 'outer format!("the connection failed: {e}"),
            }
        }

        // Accept forwarded connections.
        listeners.retain(|l| !l.stop.load(Ordering::SeqCst));
        for l in &mut listeners {
            match l.listener.accept() {
                Ok(ch) => {
                    progress = true;
                    if let Ok(stream) = TcpStream::connect(l.target) {
                        let _ = stream.set_nodelay(true);
                        let fd: OwnedFd = stream.into();
                        let out = fd.try_clone().ok();
                        pumps.push(Pump::new(ch, Kind::Tunnel, Some(fd), out, None));
                    }
                }
                Err(e) if would_block(&e) => {}
                Err(e) if fatal(&e) => {
                    break 'outer format!("the connection failed: {e} [{:?}]", e.code())
                }
                Err(_) => {}
            }
        }

        // Keepalives: a frozen link then makes the socket fail (TCP_USER_TIMEOUT).
        if Instant::now() >= next_keepalive {
            match session.keepalive_send() {
                Ok(secs) => {
                    next_keepalive = Instant::now() + Duration::from_secs(u64::from(secs.max(1)))
                }
                Err(e) if would_block(&e) => {}
                Err(e) => break 'outer format!("the connection failed: {e} [{:?}]", e.code()),
            }
        }
        // The server answers every keepalive: silence for three intervals means the link
        // is dead, even when the kernel still acknowledges what we send (a frozen peer).
        if Instant::now() >= next_liveness {
            next_liveness = Instant::now() + Duration::from_secs(1);
            if let Some(e) = socket_error(&socket) {
                break 'outer format!("the connection failed: {e}");
            }
            if let Some(silent) = silent_for(&socket) {
                if silent > keepalive * 3 + Duration::from_secs(1) {
                    break 'outer format!(
                        "the connection is dead: nothing from the server for {}s",
                        silent.as_secs()
                    );
                }
            }
        }

        if progress {
            continue;
        }
        // Nothing moved: sleep until the socket, a local end or a request wakes us.
        let mut fds = vec![
            libc::pollfd {
                fd: socket.as_raw_fd(),
                events: socket_events(&session),
                revents: 0,
            },
            libc::pollfd {
                fd: wake.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        for p in &pumps {
            p.interests(&mut fds);
        }
        let until_keepalive = next_keepalive.saturating_duration_since(Instant::now());
        let timeout = until_keepalive.min(Duration::from_millis(if listeners.is_empty() {
            1000
        } else {
            50
        }));
        // SAFETY: `fds` is a valid array of `fds.len()` pollfd structs for the whole call.
        unsafe {
            libc::poll(
                fds.as_mut_ptr(),
                fds.len() as libc::nfds_t,
                timeout.as_millis() as libc::c_int,
            )
        };
        if fds[0].revents & (libc::POLLERR | libc::POLLHUP) != 0
            && fds[0].revents & libc::POLLIN == 0
        {
            break 'outer "the connection was closed by the remote host".to_string();
        }
        woken = fds[1].revents != 0;
    };
    *shared.dead.lock().unwrap_or_else(PoisonError::into_inner) = Some(why.clone());
    for p in pumps {
        p.fail(&why);
    }
    for op in queue.into_iter().chain(refused) {
        op.fail(&why);
    }
    // Whatever is still queued gets the same answer.
    while let Ok(req) = requests.try_recv() {
        Opening::new(req).fail(&why);
    }
    drop(listeners);
    let _ = session.disconnect(None, "bye", None);
    let _ = socket.shutdown(std::net::Shutdown::Both);
}

fn socket_events(session: &Session) -> libc::c_short {
    let dirs = session.block_directions();
    let mut ev = libc::POLLIN;
    if matches!(
        dirs,
        ssh2::BlockDirections::Outbound | ssh2::BlockDirections::Both
    ) {
        ev |= libc::POLLOUT;
    }
    ev
}

/// How long ago the socket last received data (Linux `TCP_INFO`).
fn silent_for(socket: &TcpStream) -> Option<Duration> {
    // SAFETY: tcp_info is plain data; getsockopt writes at most `len` bytes into it.
    unsafe {
        let mut info: libc::tcp_info = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
        let rc = libc::getsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        );
        (rc == 0).then(|| Duration::from_millis(u64::from(info.tcpi_last_data_recv)))
    }
}

/// A pending error on the socket (a timeout from TCP_USER_TIMEOUT, a reset).
fn socket_error(socket: &TcpStream) -> Option<io::Error> {
    socket.take_error().ok().flatten()
}

/// Wakes the I/O thread.
pub(crate) fn wake(w: &Mutex<os_pipe::PipeWriter>) {
    let _ = w.lock().unwrap_or_else(PoisonError::into_inner).write(&[1]);
}

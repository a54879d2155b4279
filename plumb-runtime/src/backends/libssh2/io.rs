//! A libssh2 session in the I/O loop that owns it.
//!
//! libssh2 holds one lock per session: a blocking read on one channel stalls every other
//! channel, and stdout and stderr share one receive window, so a command writing megabytes
//! to stderr while its caller reads stdout would hang. So the session runs in non-blocking
//! mode on one I/O thread alone ([`super::reactor`], which serves many sessions), which
//! polls the socket and the local ends of every channel, and pumps bytes both ways with
//! flow control ([`super::pump`]): it reads from a channel only when the local side has
//! taken what it read before, so memory stays bounded and a slow reader slows the remote
//! writer (through the SSH window) instead of filling memory. Callers talk to it through
//! [`Request`]s. All knowledge of libssh2's quirks lives in this module and the two beside
//! it.

use std::collections::VecDeque;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::task::Waker;
use std::time::{Duration, Instant};

use ssh2::{ErrorCode, Session};

use super::connect::Link;
use super::opening::{Opened, Opening, RemoteListener};
use super::os::{libc, AsRawFd, OwnedFd};
use super::pump::{Kind, Pump, Step};
use super::tcp::{self, Silence};

/// How a remote command ended.
#[derive(Clone, Copy, Debug)]
pub(super) enum Exit {
    Code(i32),
    Signal(i32),
}

/// Where the I/O thread puts how a command ended (or why it could not run), for a caller
/// that may wait on one thread, poll on another, or await it (a waker).
#[derive(Default)]
pub(super) struct ExitSlot {
    exit: Mutex<Slot>,
    set: Condvar,
}

#[derive(Default)]
struct Slot {
    exit: Option<Result<Exit, String>>,
    /// Woken once `exit` is set.
    wakers: Vec<Waker>,
}

impl ExitSlot {
    fn lock(&self) -> std::sync::MutexGuard<'_, Slot> {
        self.exit.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records the end; the first one counts.
    pub(super) fn set(&self, exit: Result<Exit, String>) {
        let mut slot = self.lock();
        if slot.exit.is_none() {
            slot.exit = Some(exit);
            self.set.notify_all();
            let wakers = std::mem::take(&mut slot.wakers);
            drop(slot);
            wakers.into_iter().for_each(Waker::wake);
        }
    }

    /// The end, once there is one.
    pub(super) fn get(&self) -> Option<Result<Exit, String>> {
        self.lock().exit.clone()
    }

    /// Wakes `waker` once the end is known (at once if it is).
    pub(super) fn wake_on_set(&self, waker: &Waker) {
        let mut slot = self.lock();
        if slot.exit.is_some() {
            drop(slot);
            waker.wake_by_ref();
        } else if !slot.wakers.iter().any(|w| w.will_wake(waker)) {
            slot.wakers.push(waker.clone());
        }
    }

    /// Blocks until the end is known.
    pub(super) fn wait(&self) -> Result<Exit, String> {
        let mut slot = self.lock();
        loop {
            if let Some(exit) = &slot.exit {
                return exit.clone();
            }
            slot = self.set.wait(slot).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// The I/O thread's end of an [`ExitSlot`]: answers with the exit, or, dropped without an
/// answer (a request lost in a closing channel, an unwinding thread), with a lost
/// connection, so that no caller ever waits forever.
pub(super) struct Reply(pub(super) Arc<ExitSlot>);

impl Reply {
    pub(super) fn send(&self, exit: Result<Exit, String>) {
        self.0.set(exit);
    }
}

impl Drop for Reply {
    fn drop(&mut self) {
        self.0.set(Err("the connection was lost".to_string()));
    }
}

/// What callers ask of the I/O thread.
pub(super) enum Request {
    /// Run `command` on a new channel, pumping the given local descriptors.
    Exec {
        /// A command line, or a subsystem's name.
        command: String,
        subsystem: bool,
        /// A terminal of this size (columns, rows) first.
        pty: Option<(u16, u16)>,
        stdin: Option<OwnedFd>,
        stdout: Option<OwnedFd>,
        stderr: Option<OwnedFd>,
        /// The script reports its pid on stderr (see [`super::header`]).
        header: Option<super::header::HeaderScan>,
        done: Reply,
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
#[derive(Default)]
pub(super) struct Shared {
    /// Why the connection ended, once it has.
    dead: Mutex<Option<String>>,
    /// Set by `close()`: end everything now.
    pub(super) close: AtomicBool,
    /// Set by callers with a request (or a stop) for this session, before they wake its
    /// I/O thread: that thread then turns this session, not all of its others.
    pub(super) woken: AtomicBool,
    /// The session, its channels and its socket are gone.
    stopped: Mutex<bool>,
    stopped_set: Condvar,
}

impl Shared {
    pub(super) fn dead(&self) -> Option<String> {
        self.dead
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Marks the session's resources released, for [`Shared::wait_stopped`].
    pub(super) fn set_stopped(&self) {
        *self.stopped.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.stopped_set.notify_all();
    }

    /// Blocks until the I/O thread has let go of the session and closed its socket.
    pub(super) fn wait_stopped(&self) {
        let mut stopped = self.stopped.lock().unwrap_or_else(PoisonError::into_inner);
        while !*stopped {
            stopped = (self.stopped_set.wait(stopped)).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

pub(super) fn would_block(e: &ssh2::Error) -> bool {
    e.code() == ErrorCode::Session(-37)
}

/// Errors of the transport itself, after which nothing on the session can work.
pub(super) fn fatal(e: &ssh2::Error) -> bool {
    matches!(
        e.code(),
        // SOCKET_SEND, SOCKET_DISCONNECT, SOCKET_TIMEOUT, SOCKET_RECV, TIMEOUT, KEX failures
        ErrorCode::Session(-7 | -13 | -30 | -43 | -9 | -5 | -8)
    )
}

pub(super) fn io_would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::Interrupted
}

/// A session's state in its I/O thread: the session, what waits to open, what runs.
pub(super) struct Loop {
    session: Session,
    requests: Receiver<Request>,
    keepalive: Duration,
    pub(super) shared: Arc<Shared>,
    queue: VecDeque<Opening>,
    pumps: Vec<Pump>,
    listeners: Vec<RemoteListener>,
    /// Forwarded connections whose local target a helper thread is connecting to: a
    /// connect can take minutes, and this thread serves other sessions meanwhile.
    connecting: Vec<(ssh2::Channel, Receiver<io::Result<TcpStream>>)>,
    /// A request the server refused (its session limit), retried once a channel closes.
    refused: Option<Opening>,
    /// When the last channel closed: the server may still count it for a moment.
    last_close: Option<Instant>,
    next_keepalive: Instant,
    next_liveness: Instant,
    silence: Silence,
    /// All senders are gone: finish what runs, then stop.
    closing: bool,
    /// Something moved in the last turn: turn again without waiting.
    moved: bool,
    /// The last poll saw one of this session's descriptors ready.
    ready: bool,
    /// When the next turn is due even if nothing happens: keepalives, liveness, polling.
    next_tick: Instant,
    /// The last poll saw the socket readable (or did not wait): channels read it.
    socket_ready: bool,
    /// For each pump descriptor of the last [`Loop::interests`], which pump it is.
    owners: Vec<usize>,
    /// The session's socket, which the session only borrows: declared last, so that it is
    /// closed after the session and every channel (which may still write as they drop,
    /// also while a panic unwinds), never while its number could be another file's.
    socket: Link,
}

/// How long after a channel closed the server may still count it against its session
/// limit.
const SESSION_FREED: Duration = Duration::from_secs(1);

/// Why the loop stopped: every caller still waiting gets this answer.
type Stop = String;

impl Loop {
    pub(super) fn new(
        session: Session,
        socket: Link,
        requests: Receiver<Request>,
        keepalive: Duration,
        shared: Arc<Shared>,
    ) -> Loop {
        Loop {
            session,
            socket,
            requests,
            keepalive,
            shared,
            queue: VecDeque::new(),
            pumps: Vec::new(),
            listeners: Vec::new(),
            connecting: Vec::new(),
            refused: None,
            last_close: None,
            next_keepalive: Instant::now() + keepalive,
            next_liveness: Instant::now() + keepalive,
            silence: Silence::default(),
            closing: false,
            moved: true,
            ready: true,
            next_tick: Instant::now(),
            socket_ready: true,
            owners: Vec::new(),
        }
    }

    /// Turns the session if anything calls for it: a caller's request, a descriptor
    /// ready, something moved last time, or a timer. `Err`: the session is over (asked to
    /// close, or the connection died), and [`Loop::shut_down`] gives every caller the why.
    /// After a turn that moved something the I/O thread polls without waiting: that
    /// refreshes which descriptors are ready, so that the next turn touches only those
    /// (one syscall instead of a read attempt per channel).
    pub(super) fn step(&mut self, now: Instant) -> Result<(), Stop> {
        let woken = self.shared.woken.swap(false, Ordering::SeqCst);
        if !(woken || self.moved || self.ready || now >= self.next_tick) {
            return Ok(());
        }
        self.ready = false;
        self.moved = self.turn()?;
        // Listeners are polled: libssh2 gives no descriptor for a forwarded connection; so
        // is a refused request once no channel is left to close.
        let polling =
            !self.listeners.is_empty() || !self.connecting.is_empty() || self.refused.is_some();
        let tick = Duration::from_millis(if polling { 50 } else { 1000 });
        self.next_tick = (now + tick).min(self.next_keepalive);
        Ok(())
    }

    /// When this session must turn next if nothing happens; now, if it moved.
    pub(super) fn deadline(&self) -> Option<Instant> {
        (!self.moved).then_some(self.next_tick)
    }

    /// One turn of named steps; whether anything moved.
    fn turn(&mut self) -> Result<bool, Stop> {
        self.drain_requests()?;
        let mut progress = self.open_channels()?;
        // What the channels send in one turn leaves in as few TCP segments as the kernel
        // can make of it (corked until the turn's end), as OpenSSH writes its whole output
        // buffer at once: the server wakes once for many channels' packets.
        // One channel sends one packet a turn: nothing to gather.
        let gather = self.pumps.len() > 1;
        if gather {
            self.socket.cork(true);
        }
        let pumped = self.pump_channels();
        if gather {
            self.socket.cork(false);
        }
        progress |= pumped?;
        progress |= self.accept_forwarded()?;
        self.send_keepalive()?;
        self.check_liveness()?;
        Ok(progress)
    }

    fn drain_requests(&mut self) -> Result<(), Stop> {
        loop {
            match self.requests.try_recv() {
                Ok(req) => self.queue.push_back(Opening::new(req)),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    self.closing = true;
                    break;
                }
            }
        }
        let idle = self.pumps.is_empty() && self.queue.is_empty() && self.refused.is_none();
        if self.shared.close.load(Ordering::SeqCst) || (self.closing && idle) {
            return Err("the machine was closed".to_string());
        }
        Ok(())
    }

    /// Opens channels, one at a time; none while the server refuses more.
    fn open_channels(&mut self) -> Result<bool, Stop> {
        let mut progress = false;
        // A refusal is the server's session limit while channels are open or have only
        // just closed (the server may not have freed them yet): the request waits.
        let recently = |t: Instant| t.elapsed() < SESSION_FREED;
        let busy = !self.pumps.is_empty() || self.last_close.is_some_and(recently);
        if self.pumps.is_empty() {
            // Nothing left to close: retry now and then within the grace period.
            if let Some(op) = self.refused.take() {
                self.queue.push_front(op);
            }
        }
        while self.refused.is_none() {
            let Some(op) = self.queue.pop_front() else {
                break;
            };
            match op.step(&self.session, busy) {
                Ok(Opened::Pending(back)) => {
                    self.queue.push_front(back);
                    break;
                }
                Ok(Opened::Pump(p)) => {
                    self.pumps.push(p);
                    // libssh2 stops reading once it has the reply it waited for: what came
                    // with it (the command's output, its exit, the close) may sit unparsed
                    // in its buffer, with nothing left on the socket to wake the loop. The
                    // channels read it now, not at the next keepalive's reply (a command
                    // of a busy fleet once waited 10 s for it).
                    self.socket_ready = true;
                }
                Ok(Opened::Listener(l)) => {
                    self.listeners.push(l);
                    self.socket_ready = true;
                }
                // Wait for a channel to close, then try again.
                Ok(Opened::Refused(op)) => {
                    self.refused = Some(op);
                    break;
                }
                Ok(Opened::Failed) => {}
                Err(e) => return Err(format!("the connection failed: {e}")),
            }
            progress = true;
        }
        Ok(progress)
    }

    fn pump_channels(&mut self) -> Result<bool, Stop> {
        let mut progress = false;
        // Whether the session's socket may hold bytes nobody has read: the first channel
        // read takes them all (libssh2 reads every packet there, for any channel), and
        // the other channels then read only what libssh2 queued for them.
        let mut fresh = std::mem::take(&mut self.socket_ready);
        let mut i = 0;
        while i < self.pumps.len() {
            match self.pumps[i].step(&mut fresh) {
                Ok(Step::Working(p)) => {
                    progress |= p;
                    i += 1;
                }
                Ok(Step::Finished) => {
                    self.pumps.swap_remove(i);
                    self.last_close = Some(Instant::now());
                    progress = true;
                    if let Some(op) = self.refused.take() {
                        self.queue.push_front(op);
                    }
                }
                Err(e) => return Err(format!("the connection failed: {e}")),
            }
        }
        Ok(progress)
    }

    /// Accepts connections to `forward_remote` listeners, each tunnelled to its target
    /// once a helper thread has connected to it.
    fn accept_forwarded(&mut self) -> Result<bool, Stop> {
        let mut progress = self.adopt_connected();
        self.listeners.retain(|l| !l.stop.load(Ordering::SeqCst));
        for l in &mut self.listeners {
            match l.listener.accept() {
                Ok(ch) => {
                    progress = true;
                    let (tx, rx) = std::sync::mpsc::channel();
                    let target = l.target;
                    let connect = move || {
                        let _ = tx.send(TcpStream::connect(target));
                    };
                    // Without a thread, the connection is refused (the channel dropped).
                    if std::thread::Builder::new()
                        .name("plumb-ssh2-connect".into())
                        .spawn(connect)
                        .is_ok()
                    {
                        self.connecting.push((ch, rx));
                    }
                }
                Err(e) if would_block(&e) => {}
                Err(e) if fatal(&e) => {
                    return Err(format!("the connection failed: {e} [{:?}]", e.code()))
                }
                Err(_) => {}
            }
        }
        Ok(progress)
    }

    /// Pumps the forwarded connections whose targets have answered; drops those that
    /// could not be reached (the remote client sees the channel close).
    fn adopt_connected(&mut self) -> bool {
        let mut progress = false;
        let mut i = 0;
        while i < self.connecting.len() {
            let stream = match self.connecting[i].1.try_recv() {
                Err(TryRecvError::Empty) => {
                    i += 1;
                    continue;
                }
                Ok(Ok(stream)) => Some(stream),
                Ok(Err(_)) | Err(TryRecvError::Disconnected) => None,
            };
            let (ch, _) = self.connecting.swap_remove(i);
            progress = true;
            if let Some(stream) = stream {
                let _ = stream.set_nodelay(true);
                let fd: OwnedFd = stream.into();
                let out = fd.try_clone().ok();
                self.pumps
                    .push(Pump::new(ch, Kind::Tunnel, Some(fd), out, None, None));
            }
        }
        progress
    }

    /// Keepalives: a frozen link then makes the socket fail (TCP_USER_TIMEOUT).
    fn send_keepalive(&mut self) -> Result<(), Stop> {
        if Instant::now() < self.next_keepalive {
            return Ok(());
        }
        match self.session.keepalive_send() {
            Ok(secs) => {
                self.next_keepalive = Instant::now() + Duration::from_secs(u64::from(secs.max(1)));
                Ok(())
            }
            Err(e) if would_block(&e) => Ok(()),
            Err(e) => Err(format!("the connection failed: {e} [{:?}]", e.code())),
        }
    }

    /// The server answers every keepalive: silence for three intervals means the link is
    /// dead, even when the kernel still acknowledges what we send (a frozen peer).
    fn check_liveness(&mut self) -> Result<(), Stop> {
        if Instant::now() < self.next_liveness {
            return Ok(());
        }
        self.next_liveness = Instant::now() + Duration::from_secs(1);
        if let Some(e) = self.socket.take_error() {
            return Err(format!("the connection failed: {e}"));
        }
        match self.socket.tcp().and_then(|s| self.silence.since_data(s)) {
            Some(silent) if silent > self.keepalive * 3 + Duration::from_secs(1) => Err(format!(
                "the connection is dead: nothing from the server for {}s",
                silent.as_secs()
            )),
            _ => Ok(()),
        }
    }

    /// Adds what to poll for this session: its socket first, then its channels' local
    /// ends; [`Loop::absorb`] takes the same slice back after the poll.
    pub(super) fn interests(&mut self, fds: &mut Vec<libc::pollfd>) {
        fds.push(libc::pollfd {
            fd: self.socket.as_raw_fd(),
            events: socket_events(&self.session, self.wants_data()),
            revents: 0,
        });
        self.owners.clear();
        for (i, p) in self.pumps.iter().enumerate() {
            let before = fds.len();
            p.interests(fds);
            self.owners
                .resize(self.owners.len() + fds.len() - before, i);
        }
    }

    /// The socket is watched for input only when something would read it: bytes nobody
    /// reads (a keepalive's reply on an idle session, data for a channel whose reader is
    /// slow) would keep it readable and the loop spinning.
    fn wants_data(&self) -> bool {
        !self.queue.is_empty()
            || !self.listeners.is_empty()
            || self.pumps.iter().any(Pump::wants_data)
    }

    /// Records what the poll said of this session's descriptors (the slice that
    /// [`Loop::interests`] added).
    pub(super) fn absorb(&mut self, fds: &[libc::pollfd]) -> Result<(), Stop> {
        let (socket, ends) = fds.split_first().expect("the socket is always polled");
        let closed = libc::POLLERR
            | libc::POLLHUP
            | if self.wants_data() {
                0
            } else {
                tcp::PEER_CLOSED
            };
        if socket.revents & closed != 0 && socket.revents & libc::POLLIN == 0 {
            return Err("the connection was closed by the remote host".to_string());
        }
        // Channels read the socket only when it has something (or failed: they see how).
        let readable = libc::POLLIN | libc::POLLERR | libc::POLLHUP;
        self.socket_ready = socket.revents & readable != 0;
        self.ready = fds.iter().any(|fd| fd.revents != 0);
        for (fd, &owner) in ends.iter().zip(&self.owners) {
            self.pumps[owner].ready(fd);
        }
        Ok(())
    }

    /// Answers every waiting caller with `why` and ends the session.
    pub(super) fn shut_down(self, why: Stop) {
        *self
            .shared
            .dead
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(why.clone());
        for p in self.pumps {
            p.fail(&why);
        }
        for op in self.queue.into_iter().chain(self.refused) {
            op.fail(&why);
        }
        // Whatever is still queued gets the same answer.
        while let Ok(req) = self.requests.try_recv() {
            Opening::new(req).fail(&why);
        }
        drop(self.listeners);
        let _ = self.session.disconnect(None, "bye", None);
        self.socket.shutdown();
    }
}

/// What to watch the socket for. A server that closes the connection is seen either way
/// ([`tcp::PEER_CLOSED`]), also while nothing reads.
fn socket_events(session: &Session, wants_data: bool) -> libc::c_short {
    let mut ev = tcp::PEER_CLOSED;
    if wants_data {
        ev |= libc::POLLIN;
    }
    if matches!(
        session.block_directions(),
        ssh2::BlockDirections::Outbound | ssh2::BlockDirections::Both
    ) {
        ev |= libc::POLLOUT;
    }
    ev
}

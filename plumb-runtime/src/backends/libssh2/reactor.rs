//! The I/O threads: a few threads, each serving many sessions with one `poll(2)`, as
//! parallel-ssh's one event loop does.
//!
//! A thread per session cost a fleet of 500 hosts 500 threads and a wake-up descriptor
//! each (a desktop's limit of 1024 open files then did not hold the fleet and its running
//! commands). Here an idle session holds its socket alone: callers wake the thread that
//! serves it through that thread's one wake-up channel, after flagging the session
//! ([`Shared::woken`]), so that only sessions with something to do are turned. A session
//! goes to the thread serving the fewest; a thread ends when it serves none.

use std::io::{self, Read, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use super::io::{Loop, Shared};
use super::os::{self, libc, set_nonblocking, AsRawFd, WakeReader, WakeWriter};

/// At most this many I/O threads (fewer on fewer cores): each session's work is small
/// (packets, and the crypto of bulk transfers); more threads than cores only contend.
const MOST_THREADS: usize = 4;

/// One I/O thread, as callers see it.
struct Reactor {
    wake: Mutex<WakeWriter>,
    /// Sessions handed over, not yet taken up by the thread.
    arriving: Mutex<Vec<Loop>>,
    /// The sessions it serves or is about to: what picking the least busy thread compares.
    sessions: AtomicUsize,
}

/// The running I/O threads. Handing over a session and a thread's ending both happen
/// under this lock, so that no session goes to a thread that is ending.
static REACTORS: Mutex<Vec<Arc<Reactor>>> = Mutex::new(Vec::new());

/// Wakes the I/O thread that serves one session, for that session.
#[derive(Clone)]
pub(super) struct Waker {
    reactor: Arc<Reactor>,
    shared: Arc<Shared>,
}

impl Waker {
    pub(super) fn wake(&self) {
        self.shared.woken.store(true, Ordering::SeqCst);
        let mut wake = self
            .reactor
            .wake
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let _ = wake.write(&[1]);
    }
}

/// The cores this process may use, asked once: `available_parallelism` reads the cgroup's
/// files each time (measured: 6% of a fleet's connecting CPU, under the reactors' lock).
fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Hands `session` to the I/O thread serving the fewest sessions, starting one while
/// there are fewer than the cores (at most [`MOST_THREADS`]).
pub(super) fn serve(session: Loop) -> io::Result<Waker> {
    let shared = session.shared.clone();
    let mut all = REACTORS.lock().unwrap_or_else(PoisonError::into_inner);
    let least = all
        .iter()
        .min_by_key(|r| r.sessions.load(Ordering::SeqCst))
        .cloned();
    let reactor = match least {
        Some(r)
            if all.len() >= cores().min(MOST_THREADS) || r.sessions.load(Ordering::SeqCst) == 0 =>
        {
            r
        }
        _ => {
            let r = start()?;
            all.push(r.clone());
            r
        }
    };
    reactor.sessions.fetch_add(1, Ordering::SeqCst);
    (reactor
        .arriving
        .lock()
        .unwrap_or_else(PoisonError::into_inner))
    .push(session);
    drop(all);
    let waker = Waker { reactor, shared };
    waker.wake();
    Ok(waker)
}

impl Drop for Thread {
    /// Normally empty by now; after a panic outside one session's turn, the sessions end
    /// here, so that nobody waits for a thread that is gone.
    fn drop(&mut self) {
        self.end_all("the I/O thread failed");
    }
}

/// A new I/O thread with its wake-up channel.
fn start() -> io::Result<Arc<Reactor>> {
    let (wake_r, wake_w) = os::wake_channel()?;
    set_nonblocking(&wake_r);
    set_nonblocking(&wake_w);
    let reactor = Arc::new(Reactor {
        wake: Mutex::new(wake_w),
        arriving: Mutex::new(Vec::new()),
        sessions: AtomicUsize::new(0),
    });
    let me = reactor.clone();
    std::thread::Builder::new()
        .name("plumb-ssh2".into())
        .spawn(move || Thread::new(me, wake_r).run())?;
    Ok(reactor)
}

/// An I/O thread's own state.
struct Thread {
    reactor: Arc<Reactor>,
    wake: WakeReader,
    sessions: Vec<Loop>,
    /// The poll set, reused from turn to turn; each session's slice of it.
    fds: Vec<libc::pollfd>,
    slices: Vec<std::ops::Range<usize>>,
}

impl Thread {
    fn new(reactor: Arc<Reactor>, wake: WakeReader) -> Thread {
        Thread {
            reactor,
            wake,
            sessions: Vec::new(),
            fds: Vec::new(),
            slices: Vec::new(),
        }
    }

    /// Turns the sessions that have something to do, then polls all of them and the
    /// wake-up channel; ends once no session is left.
    fn run(mut self) {
        while self.take_arrivals() {
            self.step_all();
            // The last session may have just ended: then back to whether more came.
            if self.sessions.is_empty() {
                continue;
            }
            // A panic here (not one session's) would leave every session without its
            // thread: they all end, with an answer to whoever waits (see `Drop`).
            if catch_unwind(AssertUnwindSafe(|| self.poll())).is_err() {
                return;
            }
        }
    }

    fn step_all(&mut self) {
        let now = Instant::now();
        let mut i = 0;
        while i < self.sessions.len() {
            let session = &mut self.sessions[i];
            // A panic ends this session alone, never the others on this thread.
            match catch_unwind(AssertUnwindSafe(|| session.step(now))) {
                Ok(Ok(())) => i += 1,
                Ok(Err(why)) => self.end(i, why),
                Err(_) => self.end(i, "the I/O thread failed".to_string()),
            }
        }
    }

    /// Takes up the sessions handed over; false once there are none at all, and then this
    /// thread is no longer among those that new sessions go to.
    fn take_arrivals(&mut self) -> bool {
        let mut all = REACTORS.lock().unwrap_or_else(PoisonError::into_inner);
        self.take_arriving();
        if !self.sessions.is_empty() {
            return true;
        }
        all.retain(|r| !Arc::ptr_eq(r, &self.reactor));
        false
    }

    /// Ends session `i`: every caller waiting on it gets `why`, its socket is closed, and
    /// whoever closes the machine stops waiting.
    fn end(&mut self, i: usize, why: String) {
        let session = self.sessions.swap_remove(i);
        let shared = session.shared.clone();
        let _ = catch_unwind(AssertUnwindSafe(|| session.shut_down(why)));
        shared.set_stopped();
        self.reactor.sessions.fetch_sub(1, Ordering::SeqCst);
    }

    /// Waits until a descriptor of any session is ready, a caller wakes the thread, or the
    /// first session's timer is due; without waiting when a session moved.
    fn poll(&mut self) {
        self.fds.clear();
        self.slices.clear();
        self.fds.push(libc::pollfd {
            fd: self.wake.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        });
        for s in &mut self.sessions {
            let start = self.fds.len();
            s.interests(&mut self.fds);
            self.slices.push(start..self.fds.len());
        }
        let timeout = self.timeout();
        // SAFETY: `fds` is a valid array of `fds.len()` pollfd structs for the whole call.
        unsafe {
            libc::poll(
                self.fds.as_mut_ptr(),
                self.fds.len() as libc::nfds_t,
                timeout,
            )
        };
        if self.fds[0].revents != 0 {
            let mut drain = [0u8; 64];
            while matches!(self.wake.read(&mut drain), Ok(n) if n > 0) {}
        }
        let mut over = Vec::new();
        for (i, (s, slice)) in self.sessions.iter_mut().zip(&self.slices).enumerate() {
            if let Err(why) = s.absorb(&self.fds[slice.clone()]) {
                over.push((i, why));
            }
        }
        // From the last: `end` swaps the last session into the place it empties.
        for (i, why) in over.into_iter().rev() {
            self.end(i, why);
        }
    }

    fn take_arriving(&mut self) {
        let mut arriving = (self.reactor.arriving.lock()).unwrap_or_else(PoisonError::into_inner);
        self.sessions.append(&mut arriving);
    }

    /// Ends every session this thread has or was handed, and takes the thread off the
    /// list new sessions go to.
    fn end_all(&mut self, why: &str) {
        let mut all = REACTORS.lock().unwrap_or_else(PoisonError::into_inner);
        all.retain(|r| !Arc::ptr_eq(r, &self.reactor));
        drop(all);
        self.take_arriving();
        while !self.sessions.is_empty() {
            self.end(self.sessions.len() - 1, why.to_string());
        }
    }

    /// Milliseconds until the first session's timer (0 if one moved, -1 for none).
    fn timeout(&self) -> libc::c_int {
        let deadlines = self.sessions.iter().map(Loop::deadline);
        let Some(first) = deadlines.map(|d| d.unwrap_or_else(Instant::now)).min() else {
            return -1;
        };
        let wait = first.saturating_duration_since(Instant::now());
        // Rounded up: a timer a fraction of a millisecond away is not polled for at once.
        (wait.as_micros().div_ceil(1000)).min(60_000) as libc::c_int
    }
}

//! Connecting a fleet: [`Group::connect_all`] connects many builders at once, under a
//! global cap and a per-server cap of handshakes in flight, and keeps every host, the
//! unreachable ones with their errors.
//!
//! Why a per-server cap: OpenSSH's sshd drops new connections at random once 10 are
//! unauthenticated (`MaxStartups 10:30:100`), which a fleet behind one bastion or a
//! hundred logins to one host would trip at once. Why a scheduler rather than one thread
//! per host: a thread waiting for its server's turn would hold a global slot that a host
//! on another server could use.

use std::collections::{HashMap, VecDeque};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use super::Group;
use crate::error::{Error, ErrorKind};
use crate::machine::Machine;
use crate::Result;

/// A builder that [`Group::connect_all`] can connect: [`Ssh2Builder`](crate::Ssh2Builder)
/// and [`SshBuilder`](crate::SshBuilder). Sealed: the group needs to know what a
/// connection costs and which server it reaches.
pub trait Connect: Send + sealed::Connector {}

pub(crate) mod sealed {
    use std::sync::Arc;

    use crate::machine::Machine;
    use crate::Result;

    /// What the group asks of a builder.
    pub trait Connector: Send {
        /// The server the handshake reaches, `host:port` as given (handshakes to one
        /// server are capped).
        fn server(&self) -> String;
        /// The file descriptors a connected, idle machine holds in this process.
        fn descriptors(&self) -> u64;
        /// Connects: the machine, or the error naming its destination.
        fn connect_machine(self) -> Result<Arc<dyn Machine>>;
    }
}

/// Descriptors a running command may hold in this process (its output's pipes, both ends
/// while it starts): room kept for `max_parallel` of them besides the machines.
const PER_COMMAND: u64 = 4;
/// Room for what else the process opens meanwhile (a log, a known_hosts file, a key).
const SPARE: u64 = 32;

impl Group {
    /// Connects every builder concurrently and adds the hosts in the order given, each
    /// named by its destination as [`connected`](Group::connected) names it (made unique).
    /// A host that cannot be reached stays in the group with its error, reported by every
    /// later call; the others are not held up by it: a host that accepts and never speaks
    /// ends within its builder's `connect_timeout`.
    ///
    /// At most [`max_connecting`](Group::max_connecting) connections are made at once, and
    /// at most [`handshakes_per_server`](Group::handshakes_per_server) to any one server.
    ///
    /// Fails before connecting anything when the hosts would need more open files than
    /// this process may have (after raising its soft limit to the hard one, on Unix),
    /// saying what to raise: never host by host half way.
    ///
    /// ```no_run
    /// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
    /// use std::time::Duration;
    /// let hosts = ["web1", "web2", "db1"].map(|h| {
    ///     plumb::SshMachine::builder(h).user("deploy").connect_timeout(Duration::from_secs(5))
    /// });
    /// let group = plumb::Group::new().max_connecting(100).connect_all(hosts)?;
    /// for (host, result) in group.quiet().output(&sh!(uname -n)) {
    ///     println!("{host}: {:?}", result.map(|o| o.stdout));
    /// }
    /// # Ok::<(), plumb::Error>(())
    /// ```
    pub fn connect_all<B: Connect>(self, builders: impl IntoIterator<Item = B>) -> Result<Group> {
        let builders: Vec<B> = builders.into_iter().collect();
        self.check_room(&builders)?;
        let connected = self.connect_concurrently(builders);
        Ok(connected.into_iter().fold(self, |group, machine| {
            let name = match &machine {
                Ok(m) => m.name().to_string(),
                Err(e) => e.machine().to_string(),
            };
            group.push(name, machine.map_err(Arc::new))
        }))
    }

    /// At most `n` connections in progress at once in
    /// [`connect_all`](Group::connect_all) (default 64).
    pub fn max_connecting(mut self, n: usize) -> Group {
        self.max_connecting = n.max(1);
        self
    }

    /// At most `n` connections in progress at once to any one server (`host:port` as given
    /// to the builder) in [`connect_all`](Group::connect_all). The default, 8, stays under
    /// the 10 unauthenticated connections past which OpenSSH's sshd starts dropping new
    /// ones (`MaxStartups 10:30:100`); raise it for servers configured for more.
    ///
    /// ```
    /// # extern crate plumb_runtime as plumb;
    /// let group = plumb::Group::new().max_connecting(200).handshakes_per_server(50);
    /// # let _ = group;
    /// ```
    pub fn handshakes_per_server(mut self, n: usize) -> Group {
        self.handshakes_per_server = n.max(1);
        self
    }

    /// Fails when the machines and the commands running on them would not fit under the
    /// limit of open files.
    fn check_room<B: Connect>(&self, builders: &[B]) -> Result<()> {
        let hosts = builders.len() as u64;
        let machines: u64 = builders.iter().map(|b| b.descriptors()).sum();
        let running = hosts.min(self.max_parallel as u64) * PER_COMMAND;
        let what = format!("a group of {hosts} hosts");
        crate::sys::check_room(machines + running + SPARE, &what)
            .map_err(|why| Error::new(ErrorKind::Io, "local", why))
    }

    /// Every builder's outcome, in the order given.
    fn connect_concurrently<B: Connect>(&self, builders: Vec<B>) -> Vec<Result<Arc<dyn Machine>>> {
        let n = builders.len();
        let servers: Vec<String> = builders.iter().map(|b| b.server()).collect();
        let queue = Queue::new(builders.into_iter().zip(servers.iter().cloned()));
        let (tx, rx) = mpsc::channel();
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..n.min(self.max_connecting))
                .map(|_| {
                    let (queue, tx) = (&queue, tx.clone());
                    let per_server = self.handshakes_per_server;
                    scope.spawn(move || queue.work(per_server, &tx))
                })
                .collect();
            // Joined here, so that a panic is this host's error, not the whole group's.
            for w in workers {
                let _ = w.join();
            }
        });
        drop(tx);
        let mut outcomes: Vec<Option<Result<Arc<dyn Machine>>>> = (0..n).map(|_| None).collect();
        for (i, outcome) in rx {
            outcomes[i] = Some(outcome);
        }
        // A connection whose thread panicked has no outcome: it says so, under its server.
        (outcomes.into_iter().zip(servers))
            .map(|(o, server)| o.unwrap_or_else(|| Err(lost(&server))))
            .collect()
    }
}

fn lost(server: &str) -> Error {
    Error::new(
        ErrorKind::Connect,
        server,
        "the thread connecting this host panicked",
    )
}

/// The builders not yet connecting, and how many connections each server has in flight.
struct Queue<B> {
    state: Mutex<State<B>>,
    changed: Condvar,
}

struct State<B> {
    waiting: VecDeque<(usize, String, B)>,
    in_flight: HashMap<String, usize>,
}

type Outcome = (usize, Result<Arc<dyn Machine>>);

impl<B: Connect> Queue<B> {
    fn new(builders: impl Iterator<Item = (B, String)>) -> Queue<B> {
        let waiting = builders.enumerate().map(|(i, (b, s))| (i, s, b)).collect();
        Queue {
            state: Mutex::new(State {
                waiting,
                in_flight: HashMap::new(),
            }),
            changed: Condvar::new(),
        }
    }

    /// A worker: connects the next builder whose server has room, until none is left.
    fn work(&self, per_server: usize, results: &mpsc::Sender<Outcome>) {
        while let Some((i, server, builder)) = self.next(per_server) {
            let _turn = Turn(self, &server);
            let _ = results.send((i, builder.connect_machine()));
        }
    }

    /// The first waiting builder whose server has fewer than `per_server` in flight,
    /// waiting for one if all of them are busy; `None` once nothing waits.
    fn next(&self, per_server: usize) -> Option<(usize, String, B)> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if state.waiting.is_empty() {
                return None;
            }
            let busy = |s: &String| state.in_flight.get(s).copied().unwrap_or(0) >= per_server;
            if let Some(pos) = state.waiting.iter().position(|(_, s, _)| !busy(s)) {
                let job = state.waiting.remove(pos)?;
                *state.in_flight.entry(job.1.clone()).or_insert(0) += 1;
                return Some(job);
            }
            state = self
                .changed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn done(&self, server: &str) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = state.in_flight.get_mut(server) {
            *n = n.saturating_sub(1);
        }
        self.changed.notify_all();
    }
}

/// A connection in flight to a server: its slot is given back when it ends, also when
/// the connecting thread panics (others to that server would wait forever).
struct Turn<'a, B: Connect>(&'a Queue<B>, &'a str);

impl<B: Connect> Drop for Turn<'_, B> {
    fn drop(&mut self) {
        self.0.done(self.1);
    }
}

//! `Ssh2Machine`: a remote host through one persistent libssh2 session.
//!
//! Every command runs on its own channel of one TCP connection, many at once; tunnels ride
//! the same connection. The session belongs to one I/O thread ([`io`]); this module is the
//! transport that talks to it, [`connect`] opens the session. What runs there and how is
//! the one remote machine's ([`crate::backends::remote`]).

mod connect;
mod io;
mod opening;
mod pump;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use self::io::{Exit, ExitSlot, Reply, Request, Shared};
use crate::backends::remote::options::{common_setters, machine_name, Options};
use crate::backends::remote::transport::{Child, Transport};
use crate::backends::remote::{remote_machine, Remote};
use crate::error::{Error, ErrorKind};
use crate::model::job::Stdio;
use crate::output::ExitStatus;
use crate::sys::set_nonblocking;
use crate::tunnel::{Forward, Tunnel};
use crate::Result;

/// A remote host through one persistent libssh2 session: each command on its own channel,
/// many at once, and tunnels over the same connection.
///
/// Cheap to clone: clones share the session.
///
/// ```no_run
/// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
/// use plumb::Ssh2Machine;
/// let remote = Ssh2Machine::connect("deploy@example.com:22")?;
/// let uptime = sh!(uptime).on(&remote).read()?;
/// # Ok::<(), plumb::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Ssh2Machine {
    remote: Remote,
}

remote_machine!(Ssh2Machine);

/// Options for [`Ssh2Machine`]; from [`Ssh2Machine::builder`].
#[derive(Clone)]
#[must_use = "a builder does nothing until `connect`"]
pub struct Ssh2Builder {
    opts: Options,
    password: Option<String>,
    agent: bool,
    keepalive: Duration,
}

impl std::fmt::Debug for Ssh2Builder {
    /// Never shows the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ssh2Builder")
            .field("opts", &self.opts)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .field("agent", &self.agent)
            .field("keepalive", &self.keepalive)
            .finish()
    }
}

impl Ssh2Machine {
    /// Connects to `user@host:port` (user and port optional) with the default options.
    pub fn connect(destination: &str) -> Result<Ssh2Machine> {
        Ssh2Builder::new(Options::from_destination(destination)).connect()
    }

    /// Options for connecting to `host`.
    pub fn builder(host: impl Into<String>) -> Ssh2Builder {
        Ssh2Builder::new(Options::new(host.into()))
    }
}

impl Ssh2Builder {
    fn new(opts: Options) -> Ssh2Builder {
        Ssh2Builder {
            opts,
            password: None,
            agent: false,
            keepalive: Duration::from_secs(10),
        }
    }

    common_setters!();

    /// Authenticate with a password. It never appears in errors, logs or process lists.
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// Authenticate through the SSH agent (`SSH_AUTH_SOCK`), trying every identity.
    pub fn agent(mut self) -> Self {
        self.agent = true;
        self
    }

    /// How often to send keepalives (default 10 s). A connection that stops carrying bytes
    /// fails every command and tunnel within about three intervals.
    pub fn keepalive(mut self, interval: Duration) -> Self {
        self.keepalive = interval.max(Duration::from_secs(1));
        self
    }

    /// Connects, checks the host key, authenticates, and starts the I/O thread.
    pub fn connect(self) -> Result<Ssh2Machine> {
        let user = self.opts.user()?;
        let name = machine_name(&user, &self.opts.host, self.opts.port());
        let live = self.open(&user, &name)?;
        let sudo_password = self.opts.sudo_password.clone();
        let transport = Libssh2 {
            name: name.clone(),
            user,
            builder: self,
            live: Arc::new(Mutex::new(live)),
        };
        Ok(Ssh2Machine {
            remote: Remote::new(name, Box::new(transport), sudo_password),
        })
    }

    /// A new session and its I/O thread.
    fn open(&self, user: &str, name: &str) -> Result<Live> {
        let opened = self.open_session(user, name)?;
        let session = opened.session;
        session.set_timeout(0);
        session.set_keepalive(true, self.keepalive.as_secs() as u32);
        session.set_blocking(false);
        let (tx, rx) = mpsc::channel();
        let (wake_r, wake_w) =
            os_pipe::pipe().map_err(|e| Error::io(name, "cannot create a pipe", e))?;
        set_nonblocking(wake_w.as_raw_fd());
        let shared = Arc::new(Shared::default());
        let io = io::Loop::new(
            session,
            opened.socket,
            rx,
            wake_r,
            self.keepalive,
            shared.clone(),
        );
        let thread = thread::Builder::new()
            .name("plumb-ssh2".into())
            .spawn(move || io.run())
            .map_err(|e| Error::io(name, "cannot start the I/O thread", e))?;
        Ok(Live {
            requests: Some(tx),
            wake: Arc::new(Mutex::new(wake_w)),
            shared,
            thread: Some(thread),
        })
    }
}

/// The transport: requests to the current session's I/O thread.
struct Libssh2 {
    name: String,
    user: String,
    /// What a reconnect needs.
    builder: Ssh2Builder,
    /// Shared with the acceptors of `forward_local`, which follow a reconnect.
    live: Arc<Mutex<Live>>,
}

/// A session's I/O thread and the ways to reach it.
struct Live {
    requests: Option<Sender<Request>>,
    wake: Arc<Mutex<os_pipe::PipeWriter>>,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Live {
    fn wake_up(&self) {
        io::wake(&self.wake);
    }

    /// Ends the I/O thread: everything still running on the session fails.
    fn close(&mut self) {
        self.shared.close.store(true, Ordering::SeqCst);
        self.requests = None;
        self.wake_up();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Libssh2 {
    fn live(&self) -> std::sync::MutexGuard<'_, Live> {
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn send(&self, req: Request) -> Result<Arc<Shared>> {
        send(&self.live, &self.name, req)
    }
}

/// Sends `req` to the current session's I/O thread; the state shared with it.
fn send(live: &Mutex<Live>, name: &str, req: Request) -> Result<Arc<Shared>> {
    let live = live.lock().unwrap_or_else(PoisonError::into_inner);
    let sent = match &live.requests {
        Some(tx) if live.shared.dead().is_none() => tx.send(req).is_ok(),
        _ => false,
    };
    if !sent {
        return Err(gone(name, &live.shared));
    }
    live.wake_up();
    Ok(live.shared.clone())
}

/// The error for a request to a session that has ended.
fn gone(name: &str, shared: &Shared) -> Error {
    let why = shared
        .dead()
        .unwrap_or_else(|| "the machine was closed".to_string());
    Error::new(ErrorKind::Connect, name, why)
}

impl Libssh2 {
    /// A session channel running `command`, or the subsystem of that name.
    fn channel(
        &self,
        command: &str,
        subsystem: bool,
        [stdin, stdout, stderr]: [Stdio; 3],
    ) -> Result<Box<dyn Child>> {
        let setup = |e| Error::io(&self.name, "cannot set up the standard streams", e);
        let stdin = match stdin {
            Stdio::Fd(fd) => Some(fd),
            // Reading this process's own stdin would take a thread that outlives the
            // command and steals input meant for later reads: the command reads nothing.
            Stdio::Inherit | Stdio::Null => None,
        };
        let mut copiers = Vec::new();
        let stdout = stream_out(stdout, false, &mut copiers).map_err(setup)?;
        let stderr = stream_out(stderr, true, &mut copiers).map_err(setup)?;
        let done = Arc::new(ExitSlot::default());
        self.send(Request::Exec {
            command: command.to_string(),
            subsystem,
            stdin,
            stdout,
            stderr,
            done: Reply(done.clone()),
        })?;
        Ok(Box::new(Ssh2Child {
            name: self.name.clone(),
            done,
            copiers: Mutex::new(copiers),
        }))
    }
}

impl Transport for Libssh2 {
    fn exec(&self, command: &str, stdio: [Stdio; 3]) -> Result<Box<dyn Child>> {
        self.channel(command, false, stdio)
    }

    fn subsystem(&self, name: &str, stdio: [Stdio; 3]) -> Result<Box<dyn Child>> {
        self.channel(name, true, stdio)
    }

    fn connect_sock_to(&self, host: &str, port: u16) -> Result<Tunnel> {
        let (ours, theirs) = UnixStream::pair()
            .map_err(|e| Error::io(&self.name, "cannot create a socket pair", e))?;
        let (tx, rx) = mpsc::channel();
        let shared = self.send(Request::Direct {
            host: host.to_string(),
            port,
            local: theirs.into(),
            opened: tx,
        })?;
        match rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(why)) => return Err(Error::new(ErrorKind::Connect, &self.name, why)),
            Err(_) => return Err(gone(&self.name, &shared)),
        }
        let reader = ours
            .try_clone()
            .map_err(|e| Error::io(&self.name, "cannot duplicate a socket", e))?;
        Ok(Tunnel::from_parts(
            Box::new(Guarded {
                inner: reader,
                shared: shared.clone(),
            }),
            Box::new(Guarded {
                inner: ours,
                shared,
            }),
        ))
    }

    /// Each accepted connection goes to the I/O thread as it is: it pumps the TCP socket
    /// itself, with no socket pair and no copying threads in between.
    fn forward_local(&self, host: &str, port: u16) -> Result<Forward> {
        let (host, live, name) = (host.to_string(), self.live.clone(), self.name.clone());
        Forward::handing_off(&self.name, port, move |tcp| {
            // A channel that cannot open drops the socket: the client sees it closed; so
            // does a closed machine, which drops the request.
            let (opened, _) = mpsc::channel();
            let req = Request::Direct {
                host: host.clone(),
                port,
                local: tcp.into(),
                opened,
            };
            let _ = send(&live, &name, req);
        })
    }

    fn forward_remote(&self, remote_port: u16, local: SocketAddr) -> Result<Forward> {
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let shared = self.send(Request::Listen {
            port: remote_port,
            target: local,
            stop: stop.clone(),
            bound: tx,
        })?;
        let port = match rx.recv() {
            Ok(Ok(p)) => p,
            Ok(Err(why)) => return Err(Error::new(ErrorKind::Protocol, &self.name, why)),
            Err(_) => return Err(gone(&self.name, &shared)),
        };
        let wake = self.live().wake.clone();
        Ok(Forward::elsewhere(port, local, move || {
            stop.store(true, Ordering::SeqCst);
            io::wake(&wake);
        }))
    }

    fn reopen(&self) -> Result<()> {
        self.live().close();
        let live = self.builder.open(&self.user, &self.name)?;
        *self.live() = live;
        Ok(())
    }

    fn close(&self) {
        self.live().close();
    }
}

/// A command on a channel: the I/O thread fills its exit slot.
struct Ssh2Child {
    name: String,
    done: Arc<ExitSlot>,
    /// Threads copying output to this process's own stdout/stderr: joined before the
    /// status is reported, so that everything is printed when `run` returns.
    copiers: Mutex<Vec<JoinHandle<()>>>,
}

impl Ssh2Child {
    fn status(&self, exit: std::result::Result<Exit, String>) -> Result<ExitStatus> {
        let copiers =
            std::mem::take(&mut *self.copiers.lock().unwrap_or_else(PoisonError::into_inner));
        for t in copiers {
            let _ = t.join();
        }
        match exit {
            Ok(Exit::Code(c)) => Ok(ExitStatus::from_code(c)),
            Ok(Exit::Signal(s)) => Ok(ExitStatus::from_signal(s)),
            Err(why) => Err(Error::new(ErrorKind::Connect, &self.name, why)),
        }
    }
}

impl Child for Ssh2Child {
    fn wait(&self) -> Result<ExitStatus> {
        self.status(self.done.wait())
    }

    fn try_wait(&self) -> Result<Option<ExitStatus>> {
        self.done.get().map(|exit| self.status(exit)).transpose()
    }

    /// Nothing to let go of here: ending the remote process group ends the channel.
    fn kill(&self) {}
}

/// A tunnel half that fails once the machine is closed.
struct Guarded {
    inner: UnixStream,
    shared: Arc<Shared>,
}

impl Guarded {
    fn check(&self) -> std::io::Result<()> {
        match self.shared.dead() {
            Some(why) => Err(std::io::Error::new(std::io::ErrorKind::NotConnected, why)),
            None => Ok(()),
        }
    }
}

impl Read for Guarded {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 {
            self.check()?;
        }
        Ok(n)
    }
}

impl Write for Guarded {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.check()?;
        self.inner.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        // The writing half going away is the tunnel's EOF.
        let _ = self.inner.shutdown(std::net::Shutdown::Write);
    }
}

/// The local end of a job's output stream for the I/O thread: a descriptor it can make
/// non-blocking, or a pipe whose other end a thread copies to this process's own stream
/// (which must stay blocking for everyone else).
fn stream_out(
    s: Stdio,
    to_stderr: bool,
    copiers: &mut Vec<JoinHandle<()>>,
) -> std::io::Result<Option<OwnedFd>> {
    Ok(match s {
        Stdio::Null => None,
        Stdio::Fd(fd) => Some(fd),
        Stdio::Inherit => {
            let (mut r, w) = os_pipe::pipe()?;
            copiers.push(thread::spawn(move || {
                let mut buf = [0u8; 32 * 1024];
                while let Ok(n) = r.read(&mut buf) {
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
            }));
            Some(w.into())
        }
    })
}

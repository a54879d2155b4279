//! `Ssh2Machine`: a remote host through one persistent libssh2 session.
//!
//! Every command runs on its own channel of one TCP connection, many at once; tunnels ride
//! the same connection. The session belongs to one I/O thread ([`io`]); this module is the
//! transport that talks to it, [`connect`] opens the session. What runs there and how is
//! the one remote machine's ([`crate::backends::remote`]).

mod config;
mod connect;
mod header;
mod io;
mod known_hosts;
mod opening;
mod os;
mod pump;
mod reactor;
mod tcp;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use self::config::{ConfigFile, Target};
use self::connect::Link;
use self::header::{HeaderScan, PidSlot};
use self::io::{Exit, ExitSlot, Reply, Request, Shared};
use self::os::{Flow, OwnedFd, Stream};
use self::reactor::Waker;
use crate::backends::remote::options::{common_setters, Options};
use crate::backends::remote::transport::{Child, Transport};
use crate::backends::remote::{remote_machine, Remote};
use crate::error::{Error, ErrorKind};
use crate::model::job::Stdio;
use crate::output::ExitStatus;
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
#[cfg_attr(docsrs, doc(cfg(feature = "ssh2")))]
pub struct Ssh2Machine {
    remote: Remote,
}

remote_machine!(Ssh2Machine);

/// Options for [`Ssh2Machine`]; from [`Ssh2Machine::builder`].
#[derive(Clone)]
#[must_use = "a builder does nothing until `connect`"]
#[cfg_attr(docsrs, doc(cfg(feature = "ssh2")))]
pub struct Ssh2Builder {
    opts: Options,
    password: Option<String>,
    agent: bool,
    /// `None`: the config's `ServerAliveInterval`, else 10 s.
    keepalive: Option<Duration>,
    config: ConfigFile,
    jumps: Vec<String>,
}

impl std::fmt::Debug for Ssh2Builder {
    /// Never shows the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ssh2Builder")
            .field("opts", &self.opts)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .field("agent", &self.agent)
            .field("keepalive", &self.keepalive)
            .field("config", &self.config)
            .field("jumps", &self.jumps)
            .finish()
    }
}

impl Ssh2Machine {
    /// Connects to `user@host:port` (user and port optional) with the default options.
    pub fn connect(destination: &str) -> Result<Ssh2Machine> {
        Ssh2Builder::new(Options::from_destination(destination)).connect()
    }

    /// Options for connecting to `host`, which may be a whole destination,
    /// `user@host:port`, as for [`connect`](Ssh2Machine::connect); the builder's `user`
    /// and `port` override its parts.
    pub fn builder(host: impl Into<String>) -> Ssh2Builder {
        Ssh2Builder::new(Options::from_destination(&host.into()))
    }
}

impl Ssh2Builder {
    /// [`connect`](Ssh2Builder::connect), awaited (cargo feature `tokio`): the connection and
    /// handshake run on the runtime's blocking pool, so the runtime's own threads never
    /// wait for a server. Dropping the future before it is done drops the machine once
    /// it has connected.
    #[cfg(feature = "tokio")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub fn connect_async(
        self,
    ) -> impl std::future::Future<Output = Result<Ssh2Machine>> + Send + 'static {
        let who = self.opts.server();
        crate::run::off_runtime(who, move || self.connect())
    }

    fn new(opts: Options) -> Ssh2Builder {
        Ssh2Builder {
            opts,
            password: None,
            agent: false,
            keepalive: None,
            config: ConfigFile::Default,
            jumps: Vec::new(),
        }
    }

    /// Reads `path` instead of `~/.ssh/config` (the jump hosts are looked up in it too).
    /// What the builder sets wins over the file; see the crate docs for the options read.
    pub fn config_file(mut self, path: impl AsRef<std::path::Path>) -> Self {
        self.config = ConfigFile::File(path.as_ref().to_path_buf());
        self
    }

    /// Reads no config file at all.
    pub fn no_config(mut self) -> Self {
        self.config = ConfigFile::Disabled;
        self
    }

    /// Connects through `hop` (`user@host:port`, or a config alias) first; repeat for a
    /// chain, in order. Each hop is a libssh2 session of its own, and the next one runs
    /// over a `direct-tcpip` channel of it, so commands, files and tunnels work through
    /// the chain as they do directly. Every hop's host key is checked under this
    /// builder's policy and known_hosts file, and it logs in with this builder's key or
    /// agent unless its config entry names its own key. The [`password`](Self::password)
    /// (and the sudo password) are the target's alone: a hop is never sent them.
    pub fn jump(mut self, hop: impl Into<String>) -> Self {
        self.jumps.push(hop.into());
        self
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
        self.keepalive = Some(interval.max(Duration::from_secs(1)));
        self
    }

    /// Connects (through the jump hosts, if any), checks the host key, authenticates, and
    /// starts the I/O thread.
    ///
    /// On Unix the first remote connection of the process raises its soft limit of open
    /// files to the hard limit (once, as Go's runtime does): a fleet of machines needs
    /// more than a desktop's default 1024.
    pub fn connect(self) -> Result<Ssh2Machine> {
        // Many machines at once need more descriptors than a desktop's soft limit.
        crate::sys::raise_fd_limit();
        let target = self.resolve()?;
        let sudo_password = self.opts.sudo_password.clone();
        let transport = self.transport(target, None)?;
        Ok(Ssh2Machine {
            remote: Remote::new(transport.name.clone(), Box::new(transport), sudo_password),
        })
    }

    /// A connected transport to `target`, over `via` (a jump host's session) if given,
    /// else through `target`'s own jump hosts.
    fn transport(self, target: Target, via: Option<Libssh2>) -> Result<Libssh2> {
        let name = target.name();
        let live = match via {
            Some(hop) => self.open_via(&target, &name, Some(hop))?,
            None => self.open(&target, &name)?,
        };
        Ok(Libssh2 {
            name,
            target,
            builder: self,
            live: Arc::new(Mutex::new(live)),
        })
    }

    /// A new session and its I/O thread, through `target`'s jump hosts: each hop's session
    /// rides on a channel of the one before it.
    fn open(&self, target: &Target, name: &str) -> Result<Live> {
        let mut via: Option<Libssh2> = None;
        for hop in &target.jumps {
            let failed = |e: Error| {
                let context = match e.machine() {
                    m if m == hop || m == name => format!("through jump host `{hop}`"),
                    m => format!("through jump host `{hop}` ({m})"),
                };
                e.in_context(context).for_machine(name)
            };
            let builder = self.hop_builder(hop);
            let mut hop_target = builder.resolve().map_err(failed)?;
            // The chain is this builder's: a hop's own ProxyJump is not followed.
            hop_target.jumps.clear();
            via = Some(builder.transport(hop_target, via).map_err(failed)?);
        }
        self.open_via(target, name, via)
    }

    /// The builder of a jump host: its own destination and config entry, with this
    /// builder's host key policy, known_hosts file, timeouts, key and agent. Not the
    /// password: it is the target's, and a hop that refuses the key would be sent it in
    /// clear (inside the encrypted channel, but readable by the hop's sshd). Nor the sudo
    /// password: `Options::from_destination` starts without one.
    fn hop_builder(&self, hop: &str) -> Ssh2Builder {
        let mut opts = Options::from_destination(hop);
        opts.identity_file = self.opts.identity_file.clone();
        opts.known_hosts_file = self.opts.known_hosts_file.clone();
        opts.policy = self.opts.policy;
        opts.connect_timeout = self.opts.connect_timeout;
        Ssh2Builder {
            opts,
            password: None,
            agent: self.agent,
            keepalive: self.keepalive,
            config: self.config.clone(),
            jumps: Vec::new(),
        }
    }

    /// A new session to `target` over `via`, or over TCP, and its I/O thread.
    fn open_via(&self, target: &Target, name: &str, via: Option<Libssh2>) -> Result<Live> {
        let link = match &via {
            None => Link::Tcp(self.tcp(target, name)?),
            Some(hop) => {
                let (socket, _) = hop.socket_to(&target.host, target.port).map_err(|e| {
                    let context = format!("through jump host {}", hop.name);
                    e.in_context(context).for_machine(name)
                })?;
                Link::Jump(socket)
            }
        };
        let opened = self.open_session(target, link, name)?;
        let session = opened.session;
        session.set_timeout(0);
        session.set_keepalive(true, target.keepalive.as_secs() as u32);
        session.set_blocking(false);
        let (tx, rx) = mpsc::channel();
        let shared = Arc::new(Shared::default());
        let io = io::Loop::new(session, opened.socket, rx, target.keepalive, shared.clone());
        let wake =
            reactor::serve(io).map_err(|e| Error::io(name, "cannot start the I/O thread", e))?;
        Ok(Live {
            requests: Some(tx),
            wake,
            shared,
            via: via.map(Box::new),
        })
    }
}

/// The transport: requests to the current session's I/O thread.
struct Libssh2 {
    name: String,
    /// What it connects with, resolved from the builder and the config.
    target: Target,
    /// What a reconnect needs.
    builder: Ssh2Builder,
    /// Shared with the acceptors of `forward_local`, which follow a reconnect.
    live: Arc<Mutex<Live>>,
}

/// A session in its I/O thread and the ways to reach it.
struct Live {
    requests: Option<Sender<Request>>,
    wake: Waker,
    shared: Arc<Shared>,
    /// The jump host whose channel carries this session: closed after it.
    via: Option<Box<Libssh2>>,
}

impl Live {
    fn wake_up(&self) {
        self.wake.wake();
    }

    /// Ends the session: everything still running on it fails, and its socket is closed
    /// when this returns.
    fn close(&mut self) {
        self.shared.close.store(true, Ordering::SeqCst);
        self.requests = None;
        self.wake_up();
        self.shared.wait_stopped();
        if let Some(hop) = self.via.take() {
            hop.live().close();
        }
    }
}

impl Drop for Live {
    /// Without a `close` (a reconnect's old session is closed; a dropped machine is not
    /// always): the I/O thread sees the requests gone, finishes what runs, and ends it.
    fn drop(&mut self) {
        self.requests = None;
        self.wake_up();
    }
}

impl Libssh2 {
    fn live(&self) -> std::sync::MutexGuard<'_, Live> {
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A socket whose other end the I/O thread pumps to a `direct-tcpip` channel to
    /// `host:port`: a tunnel, or the link of the next jump host's session.
    fn socket_to(&self, host: &str, port: u16) -> Result<(Stream, Arc<Shared>)> {
        let (ours, theirs) =
            os::pair().map_err(|e| Error::io(&self.name, "cannot create a socket pair", e))?;
        let (tx, rx) = mpsc::channel();
        let shared = self.send(Request::Direct {
            host: host.to_string(),
            port,
            local: theirs.into(),
            opened: tx,
        })?;
        match rx.recv() {
            Ok(Ok(())) => Ok((ours, shared)),
            Ok(Err(why)) => Err(Error::new(ErrorKind::Connect, &self.name, why)),
            Err(_) => Err(gone(&self.name, &shared)),
        }
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
    /// A session channel running `command` (on a terminal of size `pty`), or the
    /// subsystem of that name.
    fn channel(
        &self,
        command: &str,
        subsystem: bool,
        pty: Option<(u16, u16)>,
        [stdin, stdout, stderr]: [Stdio; 3],
        marker: Option<&str>,
    ) -> Result<Box<dyn Child>> {
        let setup = |e| Error::io(&self.name, "cannot set up the standard streams", e);
        let mut copiers = Vec::new();
        let stdin = match stdin {
            Stdio::Fd(fd) => Some(os::local_end(fd, Flow::In).map_err(setup)?.0),
            // Reading this process's own stdin would take a thread that outlives the
            // command and steals input meant for later reads: the command reads nothing.
            Stdio::Inherit | Stdio::Null => None,
        };
        let stdout = stream_out(stdout, false, &mut copiers).map_err(setup)?;
        let stderr = stream_out(stderr, true, &mut copiers).map_err(setup)?;
        let done = Arc::new(ExitSlot::default());
        let pid = marker.map(|_| Arc::new(PidSlot::default()));
        let header = marker
            .zip(pid.clone())
            .map(|(m, slot)| HeaderScan::new(m, slot));
        self.send(Request::Exec {
            command: command.to_string(),
            subsystem,
            pty,
            stdin,
            stdout,
            stderr,
            header,
            done: Reply(done.clone()),
        })?;
        Ok(Box::new(Ssh2Child {
            name: self.name.clone(),
            done,
            pid,
            copiers: Mutex::new(copiers),
        }))
    }
}

impl Transport for Libssh2 {
    fn exec(&self, command: &str, stdio: [Stdio; 3]) -> Result<Box<dyn Child>> {
        self.channel(command, false, None, stdio, None)
    }

    fn reports_pid(&self) -> bool {
        true
    }

    fn exec_reporting_pid(
        &self,
        command: &str,
        stdio: [Stdio; 3],
        marker: &str,
    ) -> Result<Box<dyn Child>> {
        self.channel(command, false, None, stdio, Some(marker))
    }

    fn exec_pty(
        &self,
        command: &str,
        stdio: [Stdio; 3],
        size: (u16, u16),
    ) -> Result<Box<dyn Child>> {
        self.channel(command, false, Some(size), stdio, None)
    }

    fn subsystem(&self, name: &str, stdio: [Stdio; 3]) -> Result<Box<dyn Child>> {
        self.channel(name, true, None, stdio, None)
    }

    fn passes_inherited_stdin(&self) -> bool {
        false
    }

    fn reports_signals(&self) -> bool {
        true
    }

    fn connect_sock_to(&self, host: &str, port: u16) -> Result<Tunnel> {
        let (ours, shared) = self.socket_to(host, port)?;
        Tunnel::from_socket(ours, Arc::new(move || shared.dead()), &self.name)
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
            wake.wake();
        }))
    }

    fn reopen(&self) -> Result<()> {
        self.live().close();
        let live = self.builder.open(&self.target, &self.name)?;
        *self.live() = live;
        Ok(())
    }

    fn close(&self) {
        self.live().close();
    }

    fn settings(&self) -> Vec<String> {
        self.target.settings()
    }
}

/// A command on a channel: the I/O thread fills its exit slot.
struct Ssh2Child {
    name: String,
    done: Arc<ExitSlot>,
    /// Where the I/O thread puts the pid the script reports, if it reports one.
    pid: Option<Arc<PidSlot>>,
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

    fn job_pid(&self, within: std::time::Duration) -> Option<u32> {
        self.pid.as_ref().and_then(|slot| slot.get(within))
    }

    fn on_job_pid(&self, then: Box<dyn FnOnce(Option<u32>) + Send>) {
        match &self.pid {
            Some(slot) => slot.then(then),
            None => then(None),
        }
    }

    fn wake_on_exit(&self, waker: &std::task::Waker) -> bool {
        self.done.wake_on_set(waker);
        true
    }
}

/// The local end of a job's output stream for the I/O thread: a descriptor it can make
/// non-blocking (see [`os::local_end`]), or one whose bytes a thread copies to this
/// process's own stream.
fn stream_out(
    s: Stdio,
    to_stderr: bool,
    copiers: &mut Vec<JoinHandle<()>>,
) -> std::io::Result<Option<OwnedFd>> {
    let (end, copier) = match s {
        Stdio::Null => return Ok(None),
        Stdio::Fd(fd) => os::local_end(fd, Flow::Out)?,
        Stdio::Inherit => {
            let (end, copier) = os::copied_to_own(to_stderr)?;
            (end, Some(copier))
        }
    };
    copiers.extend(copier);
    Ok(Some(end))
}

/// For [`Group::connect_all`](crate::Group::connect_all).
impl crate::group::Connect for Ssh2Builder {}

impl crate::group::sealed::Connector for Ssh2Builder {
    fn server(&self) -> String {
        self.opts.server()
    }

    /// The socket alone (the I/O threads' wake-up channels are shared by all sessions);
    /// per jump host, its own socket and the socket pair its channel is pumped through.
    fn descriptors(&self) -> u64 {
        1 + self.jumps.len() as u64 * 3
    }

    fn connect_machine(self) -> Result<Arc<dyn crate::machine::Machine>> {
        Ok(Arc::new(self.connect()?))
    }
}

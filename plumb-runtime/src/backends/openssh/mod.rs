//! `SshMachine`: a remote host through the system `ssh` client.
//!
//! `connect` starts an OpenSSH ControlMaster on a socket in a private directory
//! ([`master`], [`control_dir`]), ending with this program ([`lifeline`]); every command,
//! file operation and tunnel
//! ([`stdio_forward`]) then goes through it, paying no new handshake. The builder's
//! options become ssh arguments in [`command_line`], jump hosts included; what ssh says
//! when it fails is read in [`errors`]. This module is only the transport: what runs
//! there and how is the one remote machine's ([`crate::backends::remote`]).

// The ssh client of Windows has no ControlMaster, which all of these stand on: there
// `connect` fails at once (see `SshBuilder::connect`).
#[cfg(unix)]
mod command_line;
#[cfg(unix)]
mod control_dir;
#[cfg(unix)]
mod errors;
#[cfg(unix)]
mod lifeline;
#[cfg(unix)]
mod master;
#[cfg(unix)]
mod mux;
#[cfg(unix)]
mod stdio_forward;
#[cfg(unix)]
mod terminal;

#[cfg(unix)]
use std::ffi::OsString;
#[cfg(unix)]
use std::net::SocketAddr;
#[cfg(unix)]
use std::os::fd::BorrowedFd;
#[cfg(unix)]
use std::process::{Command, Stdio as StdStdio};
#[cfg(unix)]
use std::sync::atomic::{AtomicBool, Ordering};
#[cfg(unix)]
use std::sync::Arc;
#[cfg(unix)]
use std::time::Duration;

#[cfg(unix)]
use shared_child::SharedChild;

#[cfg(unix)]
use self::control_dir::ControlDir;
#[cfg(unix)]
use self::master::Master;
#[cfg(unix)]
use crate::backends::remote::options::machine_name;
use crate::backends::remote::options::{common_setters, Options};
#[cfg(unix)]
use crate::backends::remote::transport::{Child, Transport};
use crate::backends::remote::{remote_machine, Remote};
#[cfg(unix)]
use crate::error::{Error, ErrorKind};
#[cfg(unix)]
use crate::model::job::Stdio;
#[cfg(unix)]
use crate::output::ExitStatus;
#[cfg(unix)]
use crate::tunnel::{Forward, Tunnel};
use crate::Result;

/// A remote host reached through the system `ssh` client, with connection multiplexing.
///
/// Host aliases, agents, jump hosts and everything else in `~/.ssh/config` work, because
/// the real `ssh` reads them. Cheap to clone: clones share the connection.
///
/// ```no_run
/// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
/// use plumb::SshMachine;
/// let remote = SshMachine::connect("deploy@example.com:22")?;
/// let kernel = sh!(uname -r).on(&remote).read()?;
/// # Ok::<(), plumb::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct SshMachine {
    remote: Remote,
}

remote_machine!(SshMachine);

/// Options for [`SshMachine`]; from [`SshMachine::builder`].
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until `connect`"]
pub struct SshBuilder {
    opts: Options,
    options: Vec<(String, String)>,
    /// `ssh -F`: another config file, or `none` for none.
    config: Option<std::path::PathBuf>,
    /// Jump hosts, in order.
    jumps: Vec<String>,
}

impl SshMachine {
    /// Connects to `user@host:port` (user and port optional) with the default options.
    pub fn connect(destination: &str) -> Result<SshMachine> {
        SshBuilder {
            opts: Options::from_destination(destination),
            options: Vec::new(),
            config: None,
            jumps: Vec::new(),
        }
        .connect()
    }

    /// Options for connecting to `host` (an address or a `~/.ssh/config` alias), which
    /// may be a whole destination, `user@host:port`, as for [`connect`](SshMachine::connect);
    /// the builder's `user` and `port` override its parts.
    pub fn builder(host: impl Into<String>) -> SshBuilder {
        SshBuilder {
            opts: Options::from_destination(&host.into()),
            options: Vec::new(),
            config: None,
            jumps: Vec::new(),
        }
    }
}

impl SshBuilder {
    /// [`connect`](SshBuilder::connect), awaited (cargo feature `tokio`): the connection and
    /// handshake run on the runtime's blocking pool, so the runtime's own threads never
    /// wait for a server. Dropping the future before it is done drops the machine once
    /// it has connected.
    #[cfg(feature = "tokio")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub fn connect_async(
        self,
    ) -> impl std::future::Future<Output = Result<SshMachine>> + Send + 'static {
        let who = self.opts.server();
        crate::run::off_runtime(who, move || self.connect())
    }

    common_setters!();

    /// Any `ssh -o key=value` option, for the target (jump hosts get the builder's other
    /// options, not these).
    pub fn option(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.options.push((key.into(), value.into()));
        self
    }

    /// Reads `path` instead of `~/.ssh/config` (`ssh -F`); the jump hosts' connections
    /// read it too.
    pub fn config_file(mut self, path: impl AsRef<std::path::Path>) -> Self {
        self.config = Some(path.as_ref().to_path_buf());
        self
    }

    /// Reads no config file at all (`ssh -F none`).
    pub fn no_config(mut self) -> Self {
        self.config = Some("none".into());
        self
    }

    /// Connects through `hop` (`user@host:port`, or a config alias) first; repeat for a
    /// chain, in order. Every hop gets this builder's identity, known_hosts file, host key
    /// policy and timeouts, as the target does (but not its `option`s), and so does a
    /// `ProxyJump` from the config.
    pub fn jump(mut self, hop: impl Into<String>) -> Self {
        self.jumps.push(hop.into());
        self
    }

    /// Starts the master connection and checks that it works.
    ///
    /// On Windows this fails at once ([`ErrorKind::Unsupported`](crate::ErrorKind)):
    /// the ssh client there has no ControlMaster; use
    /// [`Ssh2Machine`](crate::Ssh2Machine).
    #[cfg(windows)]
    pub fn connect(self) -> Result<SshMachine> {
        let why = "SshMachine needs OpenSSH's ControlMaster, which the ssh client of \
                   Windows lacks: use Ssh2Machine (the cargo feature `ssh2`) on Windows";
        let name = format!(
            "{}@{}:{}",
            self.opts.user.as_deref().unwrap_or(""),
            self.opts.host,
            self.opts.port()
        );
        Err(crate::Error::new(crate::ErrorKind::Unsupported, &name, why))
    }

    /// Starts the master connection and checks that it works.
    ///
    /// The first remote connection of the process raises its soft limit of open files to
    /// the hard limit (once, as Go's runtime does): a fleet of machines needs more than a
    /// desktop's default 1024.
    #[cfg(unix)]
    pub fn connect(self) -> Result<SshMachine> {
        // Many machines at once need more descriptors than a desktop's soft limit.
        crate::sys::raise_fd_limit();
        let destination = match &self.opts.user {
            Some(u) => format!("{u}@{}", self.opts.host),
            None => self.opts.host.clone(),
        };
        let shared = command_line::shared(&self.opts, self.config.as_deref(), &self.opts.host)?;
        let direct = command_line::target(&shared, self.opts.port, &self.options, None);
        let resolved = self.resolve(&direct, &destination)?;
        let name = resolved.name;
        let mut dir = ControlDir::create(&name)?;
        let args = if resolved.jumps.is_empty() {
            direct
        } else {
            match hop_scripts(&mut dir, &name, &resolved.jumps, &shared) {
                Ok(proxy) => {
                    command_line::target(&shared, self.opts.port, &self.options, Some(&proxy))
                }
                Err(e) => {
                    dir.remove();
                    return Err(e);
                }
            }
        };
        let timeout = self.opts.connect_timeout();
        let master = Master::start(name.clone(), destination, args, dir, timeout)
            .map_err(|e| through_jumps(&resolved.jumps, e))?;
        Ok(SshMachine {
            remote: Remote::new(
                name,
                Box::new(OpenSsh {
                    master: Arc::new(master),
                }),
                self.opts.sudo_password.clone(),
            ),
        })
    }

    #[cfg(unix)]
    /// What ssh itself makes of the destination (`ssh -G` reads the config): the name of
    /// the host really reached, `user@host:port`, and the jump hosts (this builder's,
    /// else the config's `ProxyJump`).
    fn resolve(&self, args: &[OsString], destination: &str) -> Result<Resolved> {
        let out = Command::new("ssh")
            .args(args)
            .arg("-G")
            .arg(destination)
            .stdin(StdStdio::null())
            .output();
        let text = match &out {
            Ok(out) => String::from_utf8_lossy(&out.stdout).into_owned(),
            Err(_) => String::new(),
        };
        let value = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix(' ').map(str::to_string))
        };
        let name = match (value("user"), value("port").and_then(|p| p.parse().ok())) {
            (Some(user), Some(port)) => machine_name(&user, &self.opts.host, port),
            _ => machine_name(&self.opts.user()?, &self.opts.host, self.opts.port()),
        };
        let jumps = if self.jumps.is_empty() {
            value("proxyjump")
                .map(|j| j.split(',').map(str::to_string).collect())
                .unwrap_or_default()
        } else {
            self.jumps.clone()
        };
        Ok(Resolved { name, jumps })
    }
}

#[cfg(unix)]
/// The destination as ssh resolves it.
struct Resolved {
    name: String,
    jumps: Vec<String>,
}

#[cfg(unix)]
/// Writes the script of each jump host (see [`command_line`]) into `dir`; the target's
/// `ProxyCommand`.
fn hop_scripts(
    dir: &mut ControlDir,
    name: &str,
    jumps: &[String],
    shared: &[OsString],
) -> Result<String> {
    let mut previous: Option<String> = None;
    for (i, hop) in jumps.iter().enumerate() {
        let script = command_line::hop_script(hop, shared, previous.as_deref());
        let path = dir.add_file(name, &format!("hop-{}", i + 1), script)?;
        previous = Some(command_line::proxy_command(&path));
    }
    Ok(previous.unwrap_or_default())
}

#[cfg(unix)]
/// Names the jump hosts in a failure to connect through them: ssh's own words do not
/// always say which hop it was.
fn through_jumps(jumps: &[String], e: Error) -> Error {
    if jumps.is_empty() {
        return e;
    }
    e.in_context(format!("through jump host `{}`", jumps.join("` then `")))
}

#[cfg(unix)]
/// The transport: every run goes through the master's socket.
struct OpenSsh {
    master: Arc<Master>,
}

#[cfg(unix)]
impl OpenSsh {
    /// An `ssh` client process through the master, with `args` after the destination.
    fn spawn(&self, args: &[&str], [stdin, stdout, stderr]: [Stdio; 3]) -> Result<Box<dyn Child>> {
        self.master.check_open()?;
        let mut c = self.master.ssh();
        c.arg(&self.master.destination).args(args);
        c.stdin(std_stdio(stdin))
            .stdout(std_stdio(stdout))
            .stderr(std_stdio(stderr));
        let child = SharedChild::spawn(&mut c)
            .map_err(|e| Error::io(&self.master.name, "cannot start ssh", e))?;
        Ok(Box::new(SshChild {
            child,
            master: self.master.clone(),
        }))
    }

    /// A session of the master running `command` (or the subsystem it names), asked for
    /// over its socket; through an `ssh` client if the socket speaks otherwise.
    fn session(&self, command: &str, subsystem: bool, stdio: [Stdio; 3]) -> Result<Box<dyn Child>> {
        self.master.check_open()?;
        let name = &self.master.name;
        // Read and write: the master writes a null stdout or stderr (a read-only one would
        // fail it, and the channel's window would stall on what it drops).
        let null = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null");
        let null = null.map_err(|e| Error::io(name, "cannot open /dev/null", e))?;
        let fds = passed_fds(&stdio, &null);
        let timeout = self.master.connect_timeout + Duration::from_secs(5);
        match mux::Session::open(&self.master.socket, command, subsystem, fds, timeout) {
            Ok(session) => Ok(Box::new(MuxChild {
                session,
                master: self.master.clone(),
                killed: AtomicBool::new(false),
            })),
            // As an `Ssh2Machine` says of a channel the server refused (MaxSessions).
            Err(mux::Refused::Master(why)) => Err(Error::new(
                ErrorKind::Connect,
                name,
                format!("the ssh master could not open a session: {why}"),
            )),
            // A master killed since the check above: it is closed (and, seen gone, its
            // watchdog goes too).
            Err(mux::Refused::Io(_)) if self.master.lost() => Err(Error::new(
                ErrorKind::Connect,
                name,
                "the connection is closed",
            )),
            Err(mux::Refused::Io(e)) => Err(Error::io(name, "the ssh master's socket failed", e)),
            Err(mux::Refused::Unsupported(e)) => {
                tracing::debug!(target: "plumb", machine = %name, error = %e, "ssh master socket: through an ssh client instead");
                let args: &[&str] = if subsystem {
                    &["-s", "--", command]
                } else {
                    &["--", command]
                };
                self.spawn(args, stdio)
            }
        }
    }
}

#[cfg(unix)]
impl Transport for OpenSsh {
    /// A session of the master, asked for over its socket (no `ssh` process per
    /// command); through an `ssh` client if the socket speaks otherwise.
    fn exec(&self, command: &str, stdio: [Stdio; 3]) -> Result<Box<dyn Child>> {
        self.session(command, false, stdio)
    }

    /// `ssh -tt`, its stdin a terminal here ([`terminal`]) unless it is this process's
    /// own (a user at a keyboard, whose terminal ssh then uses); `LogLevel` keeps ssh's
    /// own "Shared connection to ... closed." out of the command's stderr.
    fn exec_pty(
        &self,
        command: &str,
        [stdin, stdout, stderr]: [Stdio; 3],
        size: (u16, u16),
    ) -> Result<Box<dyn Child>> {
        // `-e none`: a `~.` at the start of a line of input is the job's, not ssh's.
        let args = ["-tt", "-e", "none", "-o", "LogLevel=ERROR", "--", command];
        if let Stdio::Inherit = stdin {
            let spawn = || self.spawn(&args, [Stdio::Inherit, stdout, stderr]);
            return terminal::Restoring::saved_before(spawn);
        }
        let stdin = terminal::stdin_terminal(stdin, size)
            .map_err(|e| Error::io(&self.master.name, "cannot open a terminal", e))?;
        self.spawn(&args, [stdin, stdout, stderr])
    }

    /// `ssh -s`: the subsystem's name goes where a command would.
    /// A session of the master too (an SFTP session is no `ssh` process either).
    fn subsystem(&self, name: &str, stdio: [Stdio; 3]) -> Result<Box<dyn Child>> {
        self.session(name, true, stdio)
    }

    fn connect_sock_to(&self, host: &str, port: u16) -> Result<Tunnel> {
        stdio_forward::open(&self.master, host, port)
    }

    /// The master listens and forwards (`ssh -O forward -L`), as `ssh -L` does: no
    /// process or thread here per connection.
    fn forward_local(&self, host: &str, port: u16) -> Result<Forward> {
        self.master_forward_local(host, port)
    }

    fn forward_remote(&self, remote_port: u16, local: SocketAddr) -> Result<Forward> {
        let name = &self.master.name;
        let spec = format!("127.0.0.1:{remote_port}:{local}");
        let out = self
            .master
            .control(&["-O", "forward", "-R", &spec])
            .map_err(|e| Error::io(name, "cannot ask ssh to forward", e))?;
        if !out.status.success() {
            let why = String::from_utf8_lossy(&out.stderr);
            let why = format!("remote forwarding refused: {}", why.trim());
            return Err(Error::new(ErrorKind::Protocol, name, why));
        }
        let port = if remote_port == 0 {
            String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .find_map(|w| w.parse().ok())
                .unwrap_or(0)
        } else {
            remote_port
        };
        let cancel = format!("127.0.0.1:{port}:{local}");
        let master = self.master.clone();
        Ok(Forward::elsewhere(port, local, move || {
            let _ = master.control(&["-O", "cancel", "-R", &cancel]);
        }))
    }

    fn reopen(&self) -> Result<()> {
        self.master.restart()
    }

    fn close(&self) {
        self.master.close();
    }
}

#[cfg(unix)]
impl OpenSsh {
    /// Asks the master to listen on a free port of 127.0.0.1. The master cannot report a
    /// port it chose for a local forward, so we choose: a port just free may be taken
    /// before the master binds it, hence a few tries.
    fn master_forward_local(&self, host: &str, port: u16) -> Result<Forward> {
        let name = &self.master.name;
        let mut refused = String::new();
        for _ in 0..5 {
            let free = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map_err(|e| Error::io(name, "cannot find a free port on 127.0.0.1", e))?;
            let spec = format!("127.0.0.1:{}:{host}:{port}", free.port());
            let out = self
                .master
                .control(&["-O", "forward", "-L", &spec])
                .map_err(|e| Error::io(name, "cannot ask ssh to forward", e))?;
            if out.status.success() {
                let master = self.master.clone();
                return Ok(Forward::elsewhere(port, free, move || {
                    let _ = master.control(&["-O", "cancel", "-L", &spec]);
                }));
            }
            refused = String::from_utf8_lossy(&out.stderr).trim().to_string();
        }
        let why = format!("local forwarding refused: {refused}");
        Err(Error::new(ErrorKind::Protocol, name, why))
    }
}

#[cfg(unix)]
fn std_stdio(s: Stdio) -> StdStdio {
    match s {
        Stdio::Inherit => StdStdio::inherit(),
        Stdio::Null => StdStdio::null(),
        Stdio::Fd(fd) => fd.into(),
    }
}

/// The descriptors a session gets for `stdio`: this process's own for `Inherit`.
#[cfg(unix)]
fn passed_fds<'a>(stdio: &'a [Stdio; 3], null: &'a std::fs::File) -> [BorrowedFd<'a>; 3] {
    use std::os::fd::AsFd;
    let own = [io_fd(0), io_fd(1), io_fd(2)];
    let mut fds = own;
    for (i, s) in stdio.iter().enumerate() {
        fds[i] = match s {
            Stdio::Inherit => own[i],
            Stdio::Null => null.as_fd(),
            Stdio::Fd(fd) => fd.as_fd(),
        };
    }
    fds
}

/// This process's standard stream `n`.
#[cfg(unix)]
fn io_fd(n: std::os::fd::RawFd) -> BorrowedFd<'static> {
    // SAFETY: 0, 1 and 2 are open for the life of the process (Rust's runtime opens
    // /dev/null on any that was closed at start).
    unsafe { BorrowedFd::borrow_raw(n) }
}

#[cfg(unix)]
/// A command running as a session of the master ([`mux`]).
struct MuxChild {
    session: mux::Session,
    master: Arc<Master>,
    /// Let go of here: no exit message will come, and that says nothing of the connection.
    killed: AtomicBool,
}

#[cfg(unix)]
impl MuxChild {
    /// The exit value the master sent; none (the session ended without one: a signal, a
    /// lost connection) reads as the `ssh` client's 255, told apart as [`SshChild`] does.
    fn status(&self, exit: Option<u32>) -> Result<ExitStatus> {
        let code = exit.map_or(255, |v| v as i32);
        let ours = self.killed.load(Ordering::SeqCst);
        if code == 255 && !ours && self.master.lost() {
            return Err(Error::new(
                ErrorKind::Connect,
                &self.master.name,
                "the connection was lost",
            ));
        }
        Ok(ExitStatus::from_code(code))
    }

    fn io(&self, e: std::io::Error) -> Error {
        Error::io(&self.master.name, "the ssh master's socket failed", e)
    }
}

#[cfg(unix)]
impl Child for MuxChild {
    fn wait(&self) -> Result<ExitStatus> {
        let exit = self.session.poll(true).map_err(|e| self.io(e))?;
        self.status(exit.flatten())
    }

    fn try_wait(&self) -> Result<Option<ExitStatus>> {
        match self.session.poll(false).map_err(|e| self.io(e))? {
            Some(exit) => self.status(exit).map(Some),
            None => Ok(None),
        }
    }

    fn kill(&self) {
        self.killed.store(true, Ordering::SeqCst);
        self.session.close();
    }
}

#[cfg(unix)]
/// One `ssh` client process running a command through the master.
struct SshChild {
    child: SharedChild,
    master: Arc<Master>,
}

#[cfg(unix)]
impl SshChild {
    /// ssh exits with 255 for its own failures and for a remote command's exit code 255:
    /// a lost connection is told apart by asking the master.
    fn status(&self, status: std::process::ExitStatus) -> Result<ExitStatus> {
        let status = ExitStatus::from_std(status);
        if status.code() == Some(255) && self.master.lost() {
            return Err(Error::new(
                ErrorKind::Connect,
                &self.master.name,
                "the connection was lost",
            ));
        }
        Ok(status)
    }
}

#[cfg(unix)]
impl Child for SshChild {
    fn wait(&self) -> Result<ExitStatus> {
        let status = self
            .child
            .wait()
            .map_err(|e| Error::io(&self.master.name, "waiting for ssh failed", e))?;
        self.status(status)
    }

    fn try_wait(&self) -> Result<Option<ExitStatus>> {
        match self.child.try_wait() {
            Ok(Some(status)) => self.status(status).map(Some),
            Ok(None) => Ok(None),
            Err(e) => Err(Error::io(&self.master.name, "cannot poll ssh", e)),
        }
    }

    fn kill(&self) {
        let _ = self.child.kill();
    }
}

/// For [`Group::connect_all`](crate::Group::connect_all).
impl crate::group::Connect for SshBuilder {}

impl crate::group::sealed::Connector for SshBuilder {
    fn server(&self) -> String {
        self.opts.server()
    }

    /// What an idle master costs this process: 2, measured on Linux (tests/it/fleets.rs);
    /// jump hosts are the master's own business.
    fn descriptors(&self) -> u64 {
        2
    }

    fn connect_machine(self) -> Result<std::sync::Arc<dyn crate::machine::Machine>> {
        Ok(std::sync::Arc::new(self.connect()?))
    }
}

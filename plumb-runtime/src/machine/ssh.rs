//! `SshMachine`: a remote host through the system `ssh` client.
//!
//! `connect` starts an OpenSSH ControlMaster on a socket in a private directory; every
//! command, file operation and tunnel then goes through it, paying no new handshake. Each
//! `Expr` is rendered once into a POSIX `sh` script ([`crate::script`]) and run as
//! `exec /bin/sh -c SCRIPT`, whatever the login shell.

use std::ffi::{OsStr, OsString};
use std::io::{self, Read};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio as StdStdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use shared_child::SharedChild;

use crate::error::{Error, ErrorKind};
use crate::expr::Expr;
use crate::machine::remote::{self, RawOutput, RemoteShell};
use crate::machine::{Fs, HostKeyPolicy, Job, Machine, Outcome, Process, Stdio};
use crate::output::ExitStatus;
use crate::script::{self, Context, ScriptFiles};
use crate::tunnel::{Forward, Tunnel};
use crate::{exec, Result};

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
    conn: Arc<Conn>,
    ctx: Arc<Context>,
}

/// The master connection that all clones share.
#[derive(Debug)]
struct Conn {
    name: String,
    destination: String,
    /// Options for every `ssh` run: port, identity, host keys, `-o` options.
    args: Vec<OsString>,
    /// The private directory that holds the control socket.
    dir: PathBuf,
    socket: PathBuf,
    master: Mutex<Option<SharedChild>>,
    /// Whether the login shell reads POSIX quoting (see [`script::login_command`]).
    posix_login: std::sync::atomic::AtomicBool,
    connect_timeout: Duration,
    jobs: remote::LiveJobs,
}

/// Options for [`SshMachine`]; from [`SshMachine::builder`].
#[derive(Clone, Debug)]
pub struct SshBuilder {
    host: String,
    user: Option<String>,
    port: Option<u16>,
    identity_file: Option<PathBuf>,
    known_hosts_file: Option<PathBuf>,
    policy: HostKeyPolicy,
    connect_timeout: Duration,
    options: Vec<(String, String)>,
}

/// Splits `user@host:port` (each part but the host optional; `[v6]:port` for IPv6).
pub(crate) fn parse_destination(dest: &str) -> (Option<String>, String, Option<u16>) {
    let (user, rest) = match dest.rsplit_once('@') {
        Some((u, r)) => (Some(u.to_string()), r),
        None => (None, dest),
    };
    if let Some(inner) = rest.strip_prefix('[') {
        if let Some((host, after)) = inner.split_once(']') {
            let port = after.strip_prefix(':').and_then(|p| p.parse().ok());
            return (user, host.to_string(), port);
        }
    }
    match rest.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => match port.parse() {
            Ok(p) => (user, host.to_string(), Some(p)),
            Err(_) => (user, rest.to_string(), None),
        },
        _ => (user, rest.to_string(), None),
    }
}

impl SshMachine {
    /// Connects to `user@host:port` (user and port optional) with the default options.
    pub fn connect(destination: &str) -> Result<SshMachine> {
        let (user, host, port) = parse_destination(destination);
        let mut b = SshMachine::builder(host);
        if let Some(u) = user {
            b = b.user(u);
        }
        if let Some(p) = port {
            b = b.port(p);
        }
        b.connect()
    }

    /// Options for connecting to `host` (an address or a `~/.ssh/config` alias).
    pub fn builder(host: impl Into<String>) -> SshBuilder {
        SshBuilder {
            host: host.into(),
            user: None,
            port: None,
            identity_file: None,
            known_hosts_file: None,
            policy: HostKeyPolicy::Strict,
            connect_timeout: Duration::from_secs(10),
            options: Vec::new(),
        }
    }

    /// A handle whose commands and relative paths start in `dir`.
    pub fn with_dir(&self, dir: impl AsRef<Path>) -> SshMachine {
        SshMachine {
            conn: self.conn.clone(),
            ctx: Arc::new(self.ctx.with_dir(dir.as_ref())),
        }
    }

    /// A handle whose commands get this environment variable.
    pub fn with_env(&self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> SshMachine {
        SshMachine {
            conn: self.conn.clone(),
            ctx: Arc::new(self.ctx.with_env(key.as_ref(), value.as_ref())),
        }
    }

    /// Connects again after the connection was lost (the server restarted, the network
    /// failed): commands that were running have failed; new ones work again. Every clone
    /// and handle shares the new connection.
    pub fn reconnect(&self) -> Result<()> {
        self.conn.stop_master();
        std::fs::DirBuilder::new()
            .mode(0o700)
            .recursive(true)
            .create(&self.conn.dir)
            .map_err(|e| {
                Error::io(
                    &self.conn.name,
                    "cannot create the control socket directory",
                    e,
                )
            })?;
        self.conn.start_master(self.conn.connect_timeout)?;
        self.conn.detect_login_shell();
        Ok(())
    }

    /// A byte stream to `port` on the remote host's loopback interface (`ssh -W`).
    pub fn connect_sock(&self, port: u16) -> Result<Tunnel> {
        self.connect_sock_to("127.0.0.1", port)
    }

    /// A byte stream to `host:port` as seen from the remote host (`ssh -W`).
    pub fn connect_sock_to(&self, host: &str, port: u16) -> Result<Tunnel> {
        self.conn.check_open()?;
        let mut c = self.conn.ssh();
        c.arg("-W")
            .arg(format!("{host}:{port}"))
            .arg(&self.conn.destination);
        c.stdin(StdStdio::piped())
            .stdout(StdStdio::piped())
            .stderr(StdStdio::null());
        let child = c
            .spawn()
            .map_err(|e| Error::io(&self.conn.name, "cannot start ssh -W", e))?;
        Tunnel::from_child(child, &self.conn.name)
    }

    /// Listens on `127.0.0.1:0` here and tunnels every connection to `host:port` as seen
    /// from the remote host.
    pub fn forward_local(&self, host: &str, port: u16) -> Result<Forward> {
        let me = self.clone();
        let host = host.to_string();
        Forward::local(&self.conn.name, port, move || {
            me.connect_sock_to(&host, port)
        })
    }

    /// Listens on `remote_port` (0: the server chooses) on the remote host's loopback
    /// interface and tunnels every connection to `local` here (`ssh -R`).
    pub fn forward_remote(&self, remote_port: u16, local: std::net::SocketAddr) -> Result<Forward> {
        let spec = format!("127.0.0.1:{remote_port}:{local}");
        let out = self
            .conn
            .control(&["-O", "forward", "-R", &spec])
            .map_err(|e| Error::io(&self.conn.name, "cannot ask ssh to forward", e))?;
        if !out.status.success() {
            return Err(Error::new(
                ErrorKind::Protocol,
                &self.conn.name,
                format!(
                    "remote forwarding refused: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            ));
        }
        let port = if remote_port == 0 {
            String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .find_map(|w| w.parse().ok())
                .unwrap_or(0)
        } else {
            remote_port
        };
        let conn = self.conn.clone();
        let cancel = format!("127.0.0.1:{port}:{local}");
        Ok(Forward::remote(port, local, move || {
            let _ = conn.control(&["-O", "cancel", "-R", &cancel]);
        }))
    }

    /// Runs a raw script through the master with `stdin`, outside the `Expr` machinery.
    fn run_raw(&self, script: &[u8], stdin: &[u8]) -> Result<RawOutput> {
        self.conn.check_open()?;
        let mut c = self.conn.ssh();
        c.arg(&self.conn.destination)
            .arg("--")
            .arg(self.conn.login_command(script)?);
        c.stdin(StdStdio::piped())
            .stdout(StdStdio::piped())
            .stderr(StdStdio::piped());
        let mut child = c
            .spawn()
            .map_err(|e| Error::io(&self.conn.name, "cannot start ssh", e))?;
        let mut input = child.stdin.take();
        let data = stdin.to_vec();
        let writer = std::thread::spawn(move || {
            if let Some(w) = input.as_mut() {
                let _ = io::Write::write_all(w, &data);
            }
        });
        let out = child
            .wait_with_output()
            .map_err(|e| Error::io(&self.conn.name, "ssh failed", e))?;
        let _ = writer.join();
        if out.status.code() == Some(255) && self.conn.lost() {
            return Err(Error::new(
                ErrorKind::Connect,
                &self.conn.name,
                "the connection is closed",
            ));
        }
        Ok(RawOutput {
            code: out.status.code(),
            stdout: out.stdout,
            stderr: out.stderr,
        })
    }
}

impl RemoteShell for SshMachine {
    fn run_script(&self, script: &[u8], stdin: &[u8]) -> Result<RawOutput> {
        self.run_raw(script, stdin)
    }

    fn resolve(&self, path: &Path) -> PathBuf {
        script::join(self.ctx.dir.as_deref(), path)
    }
}

impl SshBuilder {
    /// The user to log in as (default: ssh's own choice).
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// The port (default: ssh's own choice, usually 22).
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// A private key file to authenticate with (only that one is offered).
    pub fn identity_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.identity_file = Some(path.into());
        self
    }

    /// The known_hosts file to check and record host keys in.
    pub fn known_hosts_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.known_hosts_file = Some(path.into());
        self
    }

    /// What to do with an unknown host key (default [`HostKeyPolicy::Strict`]).
    pub fn host_key_policy(mut self, policy: HostKeyPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// How long connecting may take (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Any `ssh -o key=value` option.
    pub fn option(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.options.push((key.into(), value.into()));
        self
    }

    /// Starts the master connection and checks that it works.
    pub fn connect(self) -> Result<SshMachine> {
        let mut name = String::new();
        if let Some(u) = &self.user {
            name.push_str(u);
            name.push('@');
        }
        name.push_str(&self.host);
        if let Some(p) = self.port {
            name.push_str(&format!(":{p}"));
        }
        let destination = match &self.user {
            Some(u) => format!("{u}@{}", self.host),
            None => self.host.clone(),
        };
        let mut args: Vec<OsString> = vec!["-o".into(), "BatchMode=yes".into()];
        if let Some(p) = self.port {
            args.extend(["-p".into(), p.to_string().into()]);
        }
        if let Some(id) = &self.identity_file {
            args.extend(["-i".into(), id.clone().into_os_string()]);
            args.extend(["-o".into(), "IdentitiesOnly=yes".into()]);
        }
        let secs = self.connect_timeout.as_secs().max(1);
        args.extend(["-o".into(), format!("ConnectTimeout={secs}").into()]);
        match self.policy {
            HostKeyPolicy::Strict => args.extend(["-o".into(), "StrictHostKeyChecking=yes".into()]),
            HostKeyPolicy::AcceptNew => {
                args.extend(["-o".into(), "StrictHostKeyChecking=accept-new".into()])
            }
            HostKeyPolicy::Insecure => {
                args.extend(["-o".into(), "StrictHostKeyChecking=no".into()]);
                args.extend(["-o".into(), "UserKnownHostsFile=/dev/null".into()]);
            }
        }
        if let (Some(kh), false) = (
            &self.known_hosts_file,
            self.policy == HostKeyPolicy::Insecure,
        ) {
            let mut opt = OsString::from("UserKnownHostsFile=");
            opt.push(kh);
            args.extend(["-o".into(), opt]);
        }
        for (k, v) in &self.options {
            args.extend(["-o".into(), format!("{k}={v}").into()]);
        }
        // Keepalives so that a dead link ends commands instead of hanging them.
        args.extend([
            "-o".into(),
            "ServerAliveInterval=5".into(),
            "-o".into(),
            "ServerAliveCountMax=3".into(),
        ]);

        let dir = private_dir()
            .map_err(|e| Error::io(&name, "cannot create the control socket directory", e))?;
        let socket = dir.join("master");
        let conn = Conn {
            name: name.clone(),
            destination,
            args,
            dir,
            socket,
            master: Mutex::new(None),
            posix_login: std::sync::atomic::AtomicBool::new(true),
            connect_timeout: self.connect_timeout,
            jobs: remote::LiveJobs::default(),
        };
        conn.start_master(self.connect_timeout)?;
        conn.detect_login_shell();
        Ok(SshMachine {
            conn: Arc::new(conn),
            ctx: Arc::new(Context::default()),
        })
    }
}

/// Spawns `command` from a thread that lives as long as this process, asking the kernel to
/// kill the child when that thread (so the process) ends: a master connection must not
/// outlive the program, even when its `SshMachine` is never dropped (in a `static`, or at
/// `exit`). `PR_SET_PDEATHSIG` follows the thread that forks, hence the one long-lived
/// thread.
fn spawn_bound(command: Command) -> io::Result<SharedChild> {
    use std::os::unix::process::CommandExt;
    use std::sync::mpsc;
    type Request = (Command, mpsc::Sender<io::Result<SharedChild>>);
    static SPAWNER: Mutex<Option<mpsc::Sender<Request>>> = Mutex::new(None);
    let (tx, rx) = mpsc::channel();
    {
        let mut spawner = SPAWNER.lock().unwrap_or_else(PoisonError::into_inner);
        let sender = match &*spawner {
            Some(s) => s.clone(),
            None => {
                let (s, requests) = mpsc::channel::<Request>();
                std::thread::Builder::new()
                    .name("plumb-ssh-spawner".into())
                    .spawn(move || {
                        for (mut command, reply) in requests {
                            // SAFETY: prctl is async-signal-safe and touches no memory of ours.
                            unsafe {
                                command.pre_exec(|| {
                                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                                    Ok(())
                                });
                            }
                            let _ = reply.send(SharedChild::spawn(&mut command));
                        }
                    })?;
                *spawner = Some(s.clone());
                s
            }
        };
        sender
            .send((command, tx))
            .map_err(|_| io::Error::other("the spawner thread is gone"))?;
    }
    rx.recv()
        .map_err(|_| io::Error::other("the spawner thread is gone"))?
}

/// A new directory only we can enter, for the control socket.
fn private_dir() -> io::Result<PathBuf> {
    let base = std::env::temp_dir();
    for _ in 0..16 {
        let p = base.join(format!("plumb-ssh-{}", script::nonce()));
        match std::fs::DirBuilder::new().mode(0o700).create(&p) {
            Ok(()) => return Ok(p),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "no free name for the socket directory",
    ))
}

impl Conn {
    /// `ssh` with the options every run shares, through the master's socket.
    fn ssh(&self) -> Command {
        let mut c = Command::new("ssh");
        c.args(&self.args);
        c.arg("-S")
            .arg(&self.socket)
            .arg("-o")
            .arg("ControlMaster=no");
        c
    }

    /// `ssh -O ...` control commands to the master.
    fn control(&self, op: &[&str]) -> io::Result<std::process::Output> {
        let mut c = self.ssh();
        c.args(op).arg(&self.destination);
        c.stdin(StdStdio::null());
        c.output()
    }

    fn start_master(&self, timeout: Duration) -> Result<()> {
        let mut c = Command::new("ssh");
        c.args(&self.args)
            .arg("-M")
            .arg("-S")
            .arg(&self.socket)
            .arg("-N")
            .arg("-o")
            .arg("ControlPersist=no")
            .arg(&self.destination);
        c.stdin(StdStdio::null())
            .stdout(StdStdio::null())
            .stderr(StdStdio::piped());
        let child = spawn_bound(c).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::new(
                ErrorKind::NotFound,
                &self.name,
                "the `ssh` program is not installed",
            ),
            _ => Error::io(&self.name, "cannot start ssh", e),
        })?;
        let deadline = Instant::now() + timeout + Duration::from_secs(5);
        loop {
            if let Some(_status) = child
                .try_wait()
                .map_err(|e| Error::io(&self.name, "ssh failed", e))?
            {
                let mut stderr = Vec::new();
                if let Some(mut s) = child.take_stderr() {
                    let _ = s.read_to_end(&mut stderr);
                }
                let _ = std::fs::remove_dir_all(&self.dir);
                return Err(connect_error(&self.name, &stderr));
            }
            if self.socket.exists()
                && self
                    .control(&["-O", "check"])
                    .is_ok_and(|o| o.status.success())
            {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                let _ = std::fs::remove_dir_all(&self.dir);
                return Err(Error::new(
                    ErrorKind::Connect,
                    &self.name,
                    "connecting timed out",
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        // The master keeps writing to stderr (warnings): drain it so that it never blocks.
        if let Some(mut s) = child.take_stderr() {
            std::thread::spawn(move || {
                let _ = io::copy(&mut s, &mut io::sink());
            });
        }
        *self.master.lock().unwrap_or_else(PoisonError::into_inner) = Some(child);
        Ok(())
    }

    /// Asks which login shell runs our commands: `echo $SHELL` reads the same in every
    /// shell.
    fn detect_login_shell(&self) {
        let mut c = self.ssh();
        c.arg(&self.destination).arg("--").arg("echo $SHELL");
        c.stdin(StdStdio::null());
        if let Ok(out) = c.output() {
            let shell = String::from_utf8_lossy(&out.stdout);
            let name = shell.trim().rsplit('/').next().unwrap_or("").to_string();
            let posix = script::is_posix_shell(&name);
            self.posix_login
                .store(posix, std::sync::atomic::Ordering::Relaxed);
        }
    }

    fn login_command(&self, script: &[u8]) -> Result<OsString> {
        let posix = self.posix_login.load(std::sync::atomic::Ordering::Relaxed);
        let command = script::login_command(script, posix);
        script::check_size(&command)
            .map_err(|msg| Error::new(ErrorKind::InvalidInput, &self.name, msg))?;
        Ok(OsString::from_vec(command))
    }

    /// Refuses to run through a master that is gone: `ssh` would silently make a new
    /// connection of its own instead.
    fn check_open(&self) -> Result<()> {
        if self.alive() {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::Connect,
                &self.name,
                "the connection is closed",
            ))
        }
    }

    /// After ssh exited with 255 (its own failures, or a remote command's exit code):
    /// whether the connection is gone. The master may take a moment to notice a cut link
    /// after the session has ended, so a live master gets up to a second to exit.
    fn lost(&self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(1);
        while self.alive() {
            if Instant::now() >= deadline
                || self
                    .control(&["-O", "check"])
                    .is_ok_and(|o| !o.status.success())
            {
                return !self.alive();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }

    /// Whether the master still runs.
    fn alive(&self) -> bool {
        let master = self.master.lock().unwrap_or_else(PoisonError::into_inner);
        master
            .as_ref()
            .is_some_and(|m| matches!(m.try_wait(), Ok(None)))
    }

    fn close(&self) {
        self.kill_live_jobs();
        self.stop_master();
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    /// Ends the remote processes of jobs still running, while the connection still works.
    fn kill_live_jobs(&self) {
        let Some(script) = self.jobs.kill_all_script() else {
            return;
        };
        if !self.alive() {
            return;
        }
        if let Ok(command) = self.login_command(&script) {
            let mut c = self.ssh();
            c.arg(&self.destination)
                .arg("--")
                .arg(command)
                .stdin(StdStdio::null());
            let _ = c.output();
        }
    }

    /// Ends the master (politely first) and removes its socket.
    fn stop_master(&self) {
        let master = self
            .master
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(m) = master {
            let _ = self.control(&["-O", "exit"]);
            let deadline = Instant::now() + Duration::from_secs(2);
            while matches!(m.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = m.kill();
            let _ = m.wait();
        }
        let _ = std::fs::remove_file(&self.socket);
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.close();
    }
}

/// Maps what a failed `ssh` said to the kind of failure.
fn connect_error(name: &str, stderr: &[u8]) -> Error {
    let text = String::from_utf8_lossy(stderr);
    let has = |s: &str| text.contains(s);
    let kind = if has("Host key verification failed")
        || has("REMOTE HOST IDENTIFICATION HAS CHANGED")
        || has("host key")
    {
        ErrorKind::HostKey
    } else if has("Permission denied") || has("Too many authentication failures") {
        ErrorKind::Auth
    } else {
        ErrorKind::Connect
    };
    let summary: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('@'))
        .collect();
    let summary = summary.last().copied().unwrap_or("ssh could not connect");
    let summary = match kind {
        ErrorKind::HostKey => format!("the host key is unknown or has changed ({summary})"),
        _ => summary.to_string(),
    };
    Error::new(kind, name, summary)
}

crate::tunnel::tunnels_by_inherent_methods!(SshMachine);

impl Machine for SshMachine {
    fn name(&self) -> &str {
        &self.conn.name
    }

    fn which(&self, program: &str) -> Result<PathBuf> {
        remote::which(self, program)
    }

    fn upload(&self, local: &Path, remote: &Path) -> Result<()> {
        remote::upload(self, local, remote)
    }

    fn download(&self, remote: &Path, local: &Path) -> Result<()> {
        remote::download(self, remote, local)
    }

    fn close(&self) -> Result<()> {
        self.conn.close();
        Ok(())
    }

    fn start(&self, job: Job) -> Result<Box<dyn Process>> {
        self.conn.check_open()?;
        let files = ScriptFiles::new();
        let script = script::render(&job.expr, &self.ctx, &files, job.kill_tree);
        let mut stdin = job.stdin;
        if let Some(bytes) = &job.expr.opts().stdin {
            stdin = exec::feed(bytes.clone())
                .map_err(|e| Error::io(&self.conn.name, "cannot create a pipe", e))?;
        }
        let mut c = self.conn.ssh();
        c.arg(&self.conn.destination)
            .arg("--")
            .arg(self.conn.login_command(&script)?);
        c.stdin(std_stdio(stdin))
            .stdout(std_stdio(job.stdout))
            .stderr(std_stdio(job.stderr));
        let child = SharedChild::spawn(&mut c)
            .map_err(|e| Error::io(&self.conn.name, "cannot start ssh", e))?;
        if job.kill_tree {
            self.conn.jobs.add(&files.pid);
        }
        Ok(Box::new(SshProcess {
            machine: self.clone(),
            child,
            expr: job.expr,
            files,
            kill_tree: job.kill_tree,
            killed: std::sync::atomic::AtomicBool::new(false),
            done: Mutex::new(None),
        }))
    }

    fn fs(&self) -> &dyn Fs {
        self
    }

    fn identity(&self) -> usize {
        Arc::as_ptr(&self.ctx) as usize
    }
}

fn std_stdio(s: Stdio) -> StdStdio {
    match s {
        Stdio::Inherit => StdStdio::inherit(),
        Stdio::Null => StdStdio::null(),
        Stdio::Fd(fd) => fd.into(),
    }
}

struct SshProcess {
    machine: SshMachine,
    child: SharedChild,
    expr: Expr,
    files: ScriptFiles,
    kill_tree: bool,
    killed: std::sync::atomic::AtomicBool,
    done: Mutex<Option<Outcome>>,
}

impl SshProcess {
    fn outcome(&self, status: std::process::ExitStatus) -> Result<Outcome> {
        let name = &self.machine.conn.name;
        // Killed by us: the remote group died of SIGKILL, whatever ssh reports.
        let status = if self.killed.load(std::sync::atomic::Ordering::SeqCst) {
            ExitStatus::from_signal(libc::SIGKILL)
        } else {
            ExitStatus::from_std(status)
        };
        if status.code() == Some(255) && self.machine.conn.lost() {
            return Err(Error::new(
                ErrorKind::Connect,
                name,
                "the connection was lost",
            ));
        }
        Ok(remote::outcome(
            &self.machine,
            &self.expr,
            &self.files,
            status,
        ))
    }
}

impl Process for SshProcess {
    fn wait(&self) -> Result<Outcome> {
        if let Some(o) = self
            .done
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
        {
            return Ok(o);
        }
        let status = self
            .child
            .wait()
            .map_err(|e| Error::io(&self.machine.conn.name, "waiting for ssh failed", e))?;
        self.machine.conn.jobs.remove(&self.files.pid);
        let outcome = self.outcome(status)?;
        *self.done.lock().unwrap_or_else(PoisonError::into_inner) = Some(outcome.clone());
        Ok(outcome)
    }

    fn try_wait(&self) -> Result<Option<Outcome>> {
        match self.child.try_wait() {
            Ok(Some(_)) => self.wait().map(Some),
            Ok(None) => Ok(None),
            Err(e) => Err(Error::io(&self.machine.conn.name, "cannot poll ssh", e)),
        }
    }

    fn kill(&self) -> Result<()> {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.killed.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        if self.kill_tree && matches!(self.child.try_wait(), Ok(None)) {
            // The local client's death does not reach the remote processes: end their
            // process group there first.
            let _ = self
                .machine
                .run_raw(&script::kill_command(&self.files.pid), &[]);
        }
        let _ = self.child.kill();
        Ok(())
    }
}

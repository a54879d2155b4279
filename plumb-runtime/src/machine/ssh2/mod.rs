//! `Ssh2Machine`: a remote host through one persistent libssh2 session.
//!
//! Every command runs on its own channel of one TCP connection, many at once; tunnels ride
//! the same connection. The session belongs to one I/O thread ([`io`]); this module
//! connects, authenticates, checks the host key, and turns jobs into requests to it.

mod io;

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use ssh2::{CheckResult, HashType, KnownHostFileKind, Session};

use self::io::{Exit, Request, Shared};
use crate::error::{Error, ErrorKind};
use crate::expr::Expr;
use crate::machine::remote::{self, RawOutput, RemoteShell};
use crate::machine::ssh::parse_destination;
use crate::machine::{Fs, HostKeyPolicy, Job, Machine, Outcome, Process, Stdio};
use crate::output::ExitStatus;
use crate::script::{self, Context, ScriptFiles};
use crate::tunnel::{Forward, Tunnel};
use crate::{exec, Result};

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
    conn: Arc<Conn>,
    ctx: Arc<Context>,
}

struct Conn {
    name: String,
    /// What a reconnect needs.
    builder: Ssh2Builder,
    requests: Mutex<Option<Sender<Request>>>,
    wake: Mutex<os_pipe::PipeWriter>,
    shared: Mutex<Arc<Shared>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    posix_login: AtomicBool,
    jobs: remote::LiveJobs,
}

/// A session just opened, and its I/O thread.
struct Live {
    requests: Sender<Request>,
    wake: os_pipe::PipeWriter,
    shared: Arc<Shared>,
    thread: JoinHandle<()>,
    posix_login: bool,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn").field("name", &self.name).finish()
    }
}

/// Options for [`Ssh2Machine`]; from [`Ssh2Machine::builder`].
#[derive(Clone)]
pub struct Ssh2Builder {
    host: String,
    user: Option<String>,
    port: u16,
    identity_file: Option<PathBuf>,
    password: Option<String>,
    agent: bool,
    known_hosts_file: Option<PathBuf>,
    policy: HostKeyPolicy,
    connect_timeout: Duration,
    keepalive: Duration,
}

impl std::fmt::Debug for Ssh2Builder {
    /// Never shows the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ssh2Builder")
            .field("host", &self.host)
            .field("user", &self.user)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Ssh2Machine {
    /// Connects to `user@host:port` (user and port optional) with the default options.
    pub fn connect(destination: &str) -> Result<Ssh2Machine> {
        let (user, host, port) = parse_destination(destination);
        let mut b = Ssh2Machine::builder(host);
        if let Some(u) = user {
            b = b.user(u);
        }
        if let Some(p) = port {
            b = b.port(p);
        }
        b.connect()
    }

    /// Options for connecting to `host`.
    pub fn builder(host: impl Into<String>) -> Ssh2Builder {
        Ssh2Builder {
            host: host.into(),
            user: None,
            port: 22,
            identity_file: None,
            password: None,
            agent: false,
            known_hosts_file: None,
            policy: HostKeyPolicy::Strict,
            connect_timeout: Duration::from_secs(10),
            keepalive: Duration::from_secs(10),
        }
    }

    /// A handle whose commands and relative paths start in `dir`.
    pub fn with_dir(&self, dir: impl AsRef<Path>) -> Ssh2Machine {
        Ssh2Machine {
            conn: self.conn.clone(),
            ctx: Arc::new(self.ctx.with_dir(dir.as_ref())),
        }
    }

    /// A handle whose commands get this environment variable.
    pub fn with_env(&self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Ssh2Machine {
        Ssh2Machine {
            conn: self.conn.clone(),
            ctx: Arc::new(self.ctx.with_env(key.as_ref(), value.as_ref())),
        }
    }

    /// Connects again after the connection was lost (the server restarted, the network
    /// failed): commands and tunnels that were running have failed; new ones work again.
    /// Every clone and handle shares the new session.
    pub fn reconnect(&self) -> Result<()> {
        self.conn.reopen()
    }

    /// A byte stream to `port` on the remote host's loopback interface (`direct-tcpip`).
    pub fn connect_sock(&self, port: u16) -> Result<Tunnel> {
        self.connect_sock_to("127.0.0.1", port)
    }

    /// A byte stream to `host:port` as seen from the remote host (`direct-tcpip`).
    pub fn connect_sock_to(&self, host: &str, port: u16) -> Result<Tunnel> {
        let (ours, theirs) = UnixStream::pair()
            .map_err(|e| Error::io(&self.conn.name, "cannot create a socket pair", e))?;
        let (tx, rx) = mpsc::channel();
        self.conn.send(Request::Direct {
            host: host.to_string(),
            port,
            local: theirs.into(),
            opened: tx,
        })?;
        match rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(why)) => return Err(Error::new(ErrorKind::Connect, &self.conn.name, why)),
            Err(_) => return Err(self.conn.gone()),
        }
        let reader = ours
            .try_clone()
            .map_err(|e| Error::io(&self.conn.name, "cannot duplicate a socket", e))?;
        let shared = self.conn.shared();
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

    /// Listens on `127.0.0.1:0` here; every connection is tunnelled to `host:port` as seen
    /// from the remote host, each on its own channel.
    pub fn forward_local(&self, host: &str, port: u16) -> Result<Forward> {
        let me = self.clone();
        let host = host.to_string();
        Forward::local(&self.conn.name, port, move || {
            me.connect_sock_to(&host, port)
        })
    }

    /// Asks the server to listen on `remote_port` (0: it chooses) on its loopback interface;
    /// every connection is tunnelled to `local` here.
    pub fn forward_remote(&self, remote_port: u16, local: SocketAddr) -> Result<Forward> {
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        self.conn.send(Request::Listen {
            port: remote_port,
            target: local,
            stop: stop.clone(),
            bound: tx,
        })?;
        let port = match rx.recv() {
            Ok(Ok(p)) => p,
            Ok(Err(why)) => return Err(Error::new(ErrorKind::Protocol, &self.conn.name, why)),
            Err(_) => return Err(self.conn.gone()),
        };
        let conn = self.conn.clone();
        Ok(Forward::remote(port, local, move || {
            stop.store(true, Ordering::SeqCst);
            conn.wake_up();
        }))
    }

    /// Runs `script` (already a login command) on a channel, with `stdin` and the three
    /// descriptors; returns a receiver for its exit.
    fn exec(
        &self,
        script: &[u8],
        stdin: Option<OwnedFd>,
        stdout: Option<OwnedFd>,
        stderr: Option<OwnedFd>,
    ) -> Result<mpsc::Receiver<std::result::Result<Exit, String>>> {
        let command = self.conn.login_command(script)?;
        let (tx, rx) = mpsc::channel();
        self.conn.send(Request::Exec {
            command,
            stdin,
            stdout,
            stderr,
            done: tx,
        })?;
        Ok(rx)
    }
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

impl Conn {
    /// The state shared with the current session's I/O thread.
    fn shared(&self) -> Arc<Shared> {
        self.shared
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn send(&self, req: Request) -> Result<()> {
        let sent = match &*self.requests.lock().unwrap_or_else(PoisonError::into_inner) {
            Some(tx) if self.shared().dead().is_none() => tx.send(req).is_ok(),
            _ => false,
        };
        if !sent {
            return Err(self.gone());
        }
        self.wake_up();
        Ok(())
    }

    fn wake_up(&self) {
        io::wake(&self.wake);
    }

    fn gone(&self) -> Error {
        let why = self
            .shared()
            .dead()
            .unwrap_or_else(|| "the machine was closed".to_string());
        Error::new(ErrorKind::Connect, &self.name, why)
    }

    fn login_command(&self, script: &[u8]) -> Result<String> {
        // libssh2 takes the command as text: a script with non-UTF-8 bytes goes encoded.
        let posix = self.posix_login.load(Ordering::Relaxed) && std::str::from_utf8(script).is_ok();
        let command = script::login_command(script, posix);
        script::check_size(&command)
            .map_err(|msg| Error::new(ErrorKind::InvalidInput, &self.name, msg))?;
        Ok(String::from_utf8(command).unwrap_or_default())
    }

    /// Replaces a closed or dead session with a new one.
    fn reopen(&self) -> Result<()> {
        self.close();
        let live = self.builder.open()?;
        *self.requests.lock().unwrap_or_else(PoisonError::into_inner) = Some(live.requests);
        *self.wake.lock().unwrap_or_else(PoisonError::into_inner) = live.wake;
        *self.shared.lock().unwrap_or_else(PoisonError::into_inner) = live.shared;
        *self.thread.lock().unwrap_or_else(PoisonError::into_inner) = Some(live.thread);
        self.posix_login.store(live.posix_login, Ordering::Relaxed);
        Ok(())
    }

    /// Ends the remote processes of jobs still running, while the session still works.
    fn kill_live_jobs(&self) {
        let Some(script) = self.jobs.kill_all_script() else {
            return;
        };
        let Ok(command) = self.login_command(&script) else {
            return;
        };
        let (tx, rx) = mpsc::channel();
        let req = Request::Exec {
            command,
            stdin: None,
            stdout: None,
            stderr: None,
            done: tx,
        };
        if self.send(req).is_ok() {
            let _ = rx.recv_timeout(Duration::from_secs(10));
        }
    }

    fn close(&self) {
        self.kill_live_jobs();
        self.shared().close.store(true, Ordering::SeqCst);
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        self.wake_up();
        if let Some(t) = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            let _ = t.join();
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.close();
    }
}

impl Ssh2Builder {
    /// The user to log in as (default: `$USER`).
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// The port (default 22).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Authenticate with this private key file.
    pub fn identity_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.identity_file = Some(path.into());
        self
    }

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

    /// The known_hosts file (default `~/.ssh/known_hosts`).
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

    /// How often to send keepalives (default 10 s). A connection that stops carrying bytes
    /// fails every command and tunnel within about three intervals.
    pub fn keepalive(mut self, interval: Duration) -> Self {
        self.keepalive = interval.max(Duration::from_secs(1));
        self
    }

    /// Connects, checks the host key, authenticates, and starts the I/O thread.
    pub fn connect(self) -> Result<Ssh2Machine> {
        let live = self.open()?;
        Ok(Ssh2Machine {
            conn: Arc::new(Conn {
                name: self.name(),
                requests: Mutex::new(Some(live.requests)),
                wake: Mutex::new(live.wake),
                shared: Mutex::new(live.shared),
                thread: Mutex::new(Some(live.thread)),
                posix_login: AtomicBool::new(live.posix_login),
                jobs: remote::LiveJobs::default(),
                builder: self,
            }),
            ctx: Arc::new(Context::default()),
        })
    }

    fn login_user(&self) -> String {
        self.user
            .clone()
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_else(|| "root".into())
    }

    fn name(&self) -> String {
        format!("{}@{}:{}", self.login_user(), self.host, self.port)
    }

    /// A new session and its I/O thread.
    fn open(&self) -> Result<Live> {
        let user = self.login_user();
        let name = self.name();
        let connect_err = |msg: String| Error::new(ErrorKind::Connect, &name, msg);
        let addrs: Vec<SocketAddr> = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| connect_err(format!("cannot resolve {}: {e}", self.host)))?
            .collect();
        let mut last = None;
        let mut tcp = None;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, self.connect_timeout) {
                Ok(s) => {
                    tcp = Some(s);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let tcp = tcp.ok_or_else(|| {
            connect_err(last.map_or_else(|| "no address".to_string(), |e| e.to_string()))
        })?;
        // Without it, each command pays Nagle and delayed-ACK stalls (~45 ms).
        let _ = tcp.set_nodelay(true);
        // A link that stops acknowledging bytes fails the socket after three keepalives.
        let user_timeout = (self.keepalive * 3).as_millis().min(u32::MAX as u128) as libc::c_uint;
        // SAFETY: setsockopt with a pointer to a c_uint of the right size.
        unsafe {
            libc::setsockopt(
                tcp.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_USER_TIMEOUT,
                (&user_timeout as *const libc::c_uint).cast(),
                std::mem::size_of::<libc::c_uint>() as libc::socklen_t,
            )
        };
        let mut session = Session::new().map_err(|e| connect_err(e.to_string()))?;
        session.set_tcp_stream(tcp.try_clone().map_err(|e| connect_err(e.to_string()))?);
        session.set_timeout(self.connect_timeout.as_millis().min(u32::MAX as u128) as u32);
        session.handshake().map_err(|e| {
            Error::new(
                ErrorKind::Protocol,
                &name,
                format!("the SSH handshake failed: {e}"),
            )
        })?;
        self.check_host_key(&session, &name)?;
        self.authenticate(&session, &user, &name)?;
        let posix_login = detect_posix_login(&session);
        session.set_timeout(0);
        session.set_keepalive(true, self.keepalive.as_secs() as u32);
        session.set_blocking(false);

        let (tx, rx) = mpsc::channel();
        let (wake_r, wake_w) =
            os_pipe::pipe().map_err(|e| Error::io(&name, "cannot create a pipe", e))?;
        io::set_nonblocking(wake_w.as_raw_fd());
        let shared = Arc::new(Shared {
            dead: Mutex::new(None),
            close: AtomicBool::new(false),
        });
        let thread_shared = shared.clone();
        let keepalive = self.keepalive;
        let thread = thread::Builder::new()
            .name("plumb-ssh2".into())
            .spawn(move || io::run(session, tcp, rx, wake_r, keepalive, thread_shared))
            .map_err(|e| Error::io(&name, "cannot start the I/O thread", e))?;
        Ok(Live {
            requests: tx,
            wake: wake_w,
            shared,
            thread,
            posix_login,
        })
    }

    fn check_host_key(&self, session: &Session, name: &str) -> Result<()> {
        if self.policy == HostKeyPolicy::Insecure {
            return Ok(());
        }
        let (key, key_type) = session
            .host_key()
            .ok_or_else(|| Error::new(ErrorKind::Protocol, name, "the server sent no host key"))?;
        let fingerprint = session
            .host_key_hash(HashType::Sha256)
            .map(|h| format!("SHA256:{}", base64(h)))
            .unwrap_or_default();
        let path = self.known_hosts_file.clone().unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".ssh/known_hosts")
        });
        let mut known = session
            .known_hosts()
            .map_err(|e| Error::new(ErrorKind::Protocol, name, e.to_string()))?;
        if path.exists() {
            known
                .read_file(&path, KnownHostFileKind::OpenSSH)
                .map_err(|e| {
                    Error::new(
                        ErrorKind::HostKey,
                        name,
                        format!("cannot read {}: {e}", path.display()),
                    )
                })?;
        }
        match known.check_port(&self.host, self.port, key) {
            CheckResult::Match => Ok(()),
            CheckResult::Mismatch => Err(Error::new(
                ErrorKind::HostKey,
                name,
                format!("the host key has changed: the server offered {fingerprint}, which does not match {}", path.display()),
            )),
            CheckResult::NotFound | CheckResult::Failure if self.policy == HostKeyPolicy::AcceptNew => {
                let host = if self.port == 22 { self.host.clone() } else { format!("[{}]:{}", self.host, self.port) };
                known
                    .add(&host, key, "added by plumb", key_type.into())
                    .and_then(|()| known.write_file(&path, KnownHostFileKind::OpenSSH))
                    .map_err(|e| Error::new(ErrorKind::HostKey, name, format!("cannot record the host key in {}: {e}", path.display())))
            }
            CheckResult::NotFound | CheckResult::Failure => Err(Error::new(
                ErrorKind::HostKey,
                name,
                format!("the host key is unknown: the server offered {fingerprint}, which is not in {}", path.display()),
            )),
        }
    }

    fn authenticate(&self, session: &Session, user: &str, name: &str) -> Result<()> {
        let explicit = self.identity_file.is_some() || self.password.is_some() || self.agent;
        if let Some(key) = &self.identity_file {
            let _ = session.userauth_pubkey_file(user, None, key, None);
        }
        if let (false, Some(pw)) = (session.authenticated(), &self.password) {
            let _ = session.userauth_password(user, pw);
        }
        if !session.authenticated() && (self.agent || !explicit) {
            try_agent(session, user);
        }
        if !session.authenticated() && !explicit {
            let home = PathBuf::from(std::env::var_os("HOME").unwrap_or_default());
            for key in ["id_ed25519", "id_ecdsa", "id_rsa"] {
                let path = home.join(".ssh").join(key);
                if path.exists()
                    && session
                        .userauth_pubkey_file(user, None, &path, None)
                        .is_ok()
                {
                    break;
                }
            }
        }
        if session.authenticated() {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::Auth,
                name,
                format!("permission denied for user `{user}`"),
            ))
        }
    }
}

/// Tries every identity of the agent, not only the first.
fn try_agent(session: &Session, user: &str) {
    let Ok(mut agent) = session.agent() else {
        return;
    };
    if agent.connect().is_err() || agent.list_identities().is_err() {
        return;
    }
    if let Ok(ids) = agent.identities() {
        for id in ids {
            if agent.userauth(user, &id).is_ok() {
                break;
            }
        }
    }
    let _ = agent.disconnect();
}

/// Whether the login shell reads POSIX quoting: asked once, in blocking mode.
fn detect_posix_login(session: &Session) -> bool {
    let run = || -> std::result::Result<String, ssh2::Error> {
        let mut ch = session.channel_session()?;
        ch.exec("echo $SHELL")?;
        let mut out = String::new();
        let _ = ch.read_to_string(&mut out);
        let _ = ch.wait_close();
        Ok(out)
    };
    match run() {
        Ok(shell) => {
            let name = shell.trim().rsplit('/').next().unwrap_or("").to_string();
            script::is_posix_shell(&name)
        }
        Err(_) => true,
    }
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
        }
    }
    out
}

/// The local end of a job's stream for the I/O thread: a descriptor it can make
/// non-blocking, or a pipe whose other end a thread copies to or from this process's own
/// stream (which must stay blocking for everyone else).
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

crate::tunnel::tunnels_by_inherent_methods!(Ssh2Machine);

impl Machine for Ssh2Machine {
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
        let setup = |e| Error::io(&self.conn.name, "cannot set up the standard streams", e);
        let files = ScriptFiles::new();
        let script = script::render(&job.expr, &self.ctx, &files, job.kill_tree);
        let stdin = match &job.expr.opts().stdin {
            Some(bytes) => exec::feed(bytes.clone()).map_err(setup)?,
            // Reading this process's own stdin would have to go through a thread that
            // outlives the command; a remote command here reads nothing instead.
            None if matches!(job.stdin, Stdio::Inherit) => Stdio::Null,
            None => job.stdin,
        };
        let stdin = match stdin {
            Stdio::Fd(fd) => Some(fd),
            _ => None,
        };
        let mut copiers = Vec::new();
        let stdout = stream_out(job.stdout, false, &mut copiers).map_err(setup)?;
        let stderr = stream_out(job.stderr, true, &mut copiers).map_err(setup)?;
        let done = self.exec(&script, stdin, stdout, stderr)?;
        if job.kill_tree {
            self.conn.jobs.add(&files.pid);
        }
        Ok(Box::new(Ssh2Process {
            machine: self.clone(),
            done: Mutex::new(Some(done)),
            outcome: Mutex::new(None),
            expr: job.expr,
            files,
            kill_tree: job.kill_tree,
            killed: AtomicBool::new(false),
            copiers: Mutex::new(copiers),
        }))
    }

    fn fs(&self) -> &dyn Fs {
        self
    }

    fn identity(&self) -> usize {
        Arc::as_ptr(&self.ctx) as usize
    }
}

impl RemoteShell for Ssh2Machine {
    fn run_script(&self, script: &[u8], stdin: &[u8]) -> Result<RawOutput> {
        let setup = |e| Error::io(&self.conn.name, "cannot create a pipe", e);
        let stdin = match exec::feed(stdin.into()).map_err(setup)? {
            Stdio::Fd(fd) => Some(fd),
            _ => None,
        };
        let (mut out_r, out_w) = os_pipe::pipe().map_err(setup)?;
        let (mut err_r, err_w) = os_pipe::pipe().map_err(setup)?;
        let done = self.exec(script, stdin, Some(out_w.into()), Some(err_w.into()))?;
        let err_thread = thread::spawn(move || {
            let mut v = Vec::new();
            let _ = err_r.read_to_end(&mut v);
            v
        });
        let mut stdout = Vec::new();
        let _ = out_r.read_to_end(&mut stdout);
        let stderr = err_thread.join().unwrap_or_default();
        let code = match done.recv() {
            Ok(Ok(Exit::Code(c))) => Some(c),
            Ok(Ok(Exit::Signal(s))) => Some(128 + s),
            Ok(Err(why)) => return Err(Error::new(ErrorKind::Connect, &self.conn.name, why)),
            Err(_) => return Err(self.conn.gone()),
        };
        Ok(RawOutput {
            code,
            stdout,
            stderr,
        })
    }

    fn resolve(&self, path: &Path) -> PathBuf {
        script::join(self.ctx.dir.as_deref(), path)
    }
}

struct Ssh2Process {
    machine: Ssh2Machine,
    done: Mutex<Option<mpsc::Receiver<std::result::Result<Exit, String>>>>,
    outcome: Mutex<Option<Outcome>>,
    expr: Expr,
    files: ScriptFiles,
    kill_tree: bool,
    killed: AtomicBool,
    /// Threads copying output to this process's own stdout/stderr: joined before the
    /// outcome, so that everything is printed when `run` returns.
    copiers: Mutex<Vec<JoinHandle<()>>>,
}

impl Ssh2Process {
    fn finish(&self, exit: std::result::Result<Exit, String>) -> Result<Outcome> {
        self.machine.conn.jobs.remove(&self.files.pid);
        for t in self
            .copiers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
        {
            let _ = t.join();
        }
        let name = &self.machine.conn.name;
        let exit = exit.map_err(|why| Error::new(ErrorKind::Connect, name, why))?;
        let status = match exit {
            _ if self.killed.load(Ordering::SeqCst) => ExitStatus::from_signal(libc::SIGKILL),
            Exit::Code(c) => ExitStatus::from_code(c),
            Exit::Signal(s) => ExitStatus::from_signal(s),
        };
        let outcome = remote::outcome(&self.machine, &self.expr, &self.files, status);
        *self.outcome.lock().unwrap_or_else(PoisonError::into_inner) = Some(outcome.clone());
        Ok(outcome)
    }
}

impl Process for Ssh2Process {
    fn wait(&self) -> Result<Outcome> {
        if let Some(o) = self
            .outcome
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
        {
            return Ok(o);
        }
        let rx = self
            .done
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match rx {
            Some(rx) => {
                let exit = rx
                    .recv()
                    .unwrap_or_else(|_| Err("the connection was lost".to_string()));
                self.finish(exit)
            }
            None => Err(Error::new(
                ErrorKind::Io,
                &self.machine.conn.name,
                "the process was already waited for",
            )),
        }
    }

    fn try_wait(&self) -> Result<Option<Outcome>> {
        if let Some(o) = self
            .outcome
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
        {
            return Ok(Some(o));
        }
        let got = {
            let guard = self.done.lock().unwrap_or_else(PoisonError::into_inner);
            match guard.as_ref().map(|rx| rx.try_recv()) {
                Some(Ok(exit)) => Some(exit),
                Some(Err(mpsc::TryRecvError::Empty)) => return Ok(None),
                Some(Err(mpsc::TryRecvError::Disconnected)) => {
                    Some(Err("the connection was lost".to_string()))
                }
                None => None,
            }
        };
        match got {
            Some(exit) => {
                self.done
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take();
                self.finish(exit).map(Some)
            }
            None => Ok(None),
        }
    }

    fn kill(&self) -> Result<()> {
        if self
            .outcome
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
        {
            return Ok(());
        }
        self.killed.store(true, Ordering::SeqCst);
        if self.kill_tree {
            // Closing the channel does not end the remote processes: end their process
            // group there, which also ends the channel.
            let _ = self
                .machine
                .run_script(&script::kill_command(&self.files.pid), &[]);
        }
        Ok(())
    }
}

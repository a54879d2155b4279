//! The one remote machine, over a [`Transport`]: everything `SshMachine` and
//! `Ssh2Machine` share is written here once.
//!
//! Each `Expr` is rendered once into a POSIX `sh` script ([`crate::render::script`]) and
//! handed to the transport as a line for the user's login shell
//! ([`crate::render::login`]). Here live the login-shell detection, the handle's directory
//! and environment (`with_dir`/`with_env`), jobs and their kill, files as small POSIX
//! scripts, transfers and `which`. The public types are thin wrappers made by
//! [`remote_machine!`], so that users see `SshMachine` and `Ssh2Machine` and the code
//! exists once.

mod files;
mod jobs;
pub(crate) mod options;
mod preamble;
pub(crate) mod session;
mod sftp;
mod transfer;
pub(crate) mod transport;

use std::ffi::OsStr;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;

use self::jobs::{LiveJobs, RemoteProcess};
use self::sftp::Sftp;
use self::transport::Transport;
use crate::error::{Error, ErrorKind};
use crate::machine::fs::Fs;
use crate::machine::seam::Backend;
use crate::machine::Machine;
use crate::model::expr::Expr;
use crate::model::job::{Job, Process, Stdio};
use crate::model::sudo::{uses_sudo, SudoPassword};
use crate::progress::Observer;
use crate::render::quote::quote_into;
use crate::render::script::{self, Context, ScriptFiles};
use crate::render::{login, script::join};
use crate::tunnel::{Forward, Tunnel};
use crate::Result;

/// A remote host over some transport; cheap to clone, clones share the connection.
#[derive(Clone)]
pub(crate) struct Remote {
    conn: Arc<Conn>,
    /// The handle's directory and environment.
    ctx: Arc<Context>,
}

/// The connection all clones share.
struct Conn {
    name: String,
    transport: Box<dyn Transport>,
    /// What the login shell is (see [`login::login_command`]).
    login_shell: Mutex<login::LoginShell>,
    jobs: LiveJobs,
    sftp: Mutex<SftpSlot>,
    sudo_password: Option<SudoPassword>,
}

/// The connection's SFTP session, started on the first file operation.
enum SftpSlot {
    /// Not started, or lost: the next file operation starts one.
    Untried,
    Ready(Arc<Sftp>),
    /// The server has no SFTP subsystem: files go through the shell.
    Absent,
}

/// What a raw script left: its exit code (128 + N for a signal) and output.
pub(crate) struct RawOutput {
    pub(crate) code: i32,
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: Vec<u8>,
}

impl fmt::Debug for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Remote");
        d.field("name", &self.conn.name)
            .field("dir", &self.ctx.dir)
            .field("env", &self.ctx.env);
        let settings = self.conn.transport.settings();
        if !settings.is_empty() {
            d.field("settings", &settings);
        }
        d.finish()
    }
}

impl Remote {
    /// The machine over a connected `transport`, after asking which login shell it runs.
    pub(crate) fn new(
        name: String,
        transport: Box<dyn Transport>,
        sudo_password: Option<SudoPassword>,
    ) -> Remote {
        let remote = Remote {
            conn: Arc::new(Conn {
                name,
                transport,
                login_shell: Mutex::new(login::LoginShell::Posix),
                jobs: LiveJobs::default(),
                sftp: Mutex::new(SftpSlot::Untried),
                sudo_password,
            }),
            ctx: Arc::new(Context::default()),
        };
        remote.conn.detect_login_shell();
        remote
    }

    pub(crate) fn with_dir(&self, dir: &Path) -> Remote {
        Remote {
            conn: self.conn.clone(),
            ctx: Arc::new(self.ctx.with_dir(dir)),
        }
    }

    pub(crate) fn with_env(&self, key: &OsStr, value: &OsStr) -> Remote {
        Remote {
            conn: self.conn.clone(),
            ctx: Arc::new(self.ctx.with_env(key, value)),
        }
    }

    pub(crate) fn reconnect(&self) -> Result<()> {
        *self.conn.sftp.lock().unwrap() = SftpSlot::Untried;
        self.conn.transport.reopen()?;
        self.conn.detect_login_shell();
        Ok(())
    }

    // Tunnels and forwards hold the connection (`conn`) as a clone of the machine does: a
    // program may keep one and drop the machine value that made it.

    pub(crate) fn connect_sock_to(&self, host: &str, port: u16) -> Result<Tunnel> {
        let tunnel = self.conn.transport.connect_sock_to(host, port)?;
        Ok(tunnel.keeping(self.conn.clone()))
    }

    pub(crate) fn forward_local(&self, host: &str, port: u16) -> Result<Forward> {
        let forward = self.conn.transport.forward_local(host, port)?;
        Ok(forward.keeping(self.conn.clone()))
    }

    pub(crate) fn forward_remote(&self, port: u16, local: std::net::SocketAddr) -> Result<Forward> {
        let forward = self.conn.transport.forward_remote(port, local)?;
        Ok(forward.keeping(self.conn.clone()))
    }

    /// [`exec_script`](Remote::exec_script), reporting the script's pid when `files` says
    /// it does.
    fn exec_script_of(
        &self,
        script: &[u8],
        stdio: [Stdio; 3],
        files: &ScriptFiles,
    ) -> Result<Box<dyn transport::Child>> {
        match &files.pid_marker {
            None => self.exec_script(script, stdio),
            Some(marker) => {
                let command = self.conn.login_command(script)?;
                self.conn
                    .transport
                    .exec_reporting_pid(&command, stdio, marker)
            }
        }
    }

    /// Starts `script` under the user's login shell with these streams.
    pub(crate) fn exec_script(
        &self,
        script: &[u8],
        stdio: [Stdio; 3],
    ) -> Result<Box<dyn transport::Child>> {
        let command = self.conn.login_command(script)?;
        self.conn.transport.exec(&command, stdio)
    }

    /// Runs `script` with `stdin` and collects what it wrote, outside the `Expr`
    /// machinery (file operations, kills, status files).
    pub(crate) fn run_script(&self, script: &[u8], stdin: &[u8]) -> Result<RawOutput> {
        self.conn.run_script(script, stdin)
    }

    /// Runs `script` with `stdin`; its stdout, or an error from its stderr.
    pub(crate) fn shell(&self, script: &[u8], stdin: &[u8]) -> Result<Vec<u8>> {
        let out = self.run_script(script, stdin)?;
        if out.code == 0 {
            Ok(out.stdout)
        } else {
            Err(files::remote_error(&self.conn.name, &out.stderr, out.code))
        }
    }

    /// `path` against the handle's directory.
    /// Refuses a path that cannot reach the host as it is (see
    /// [`crate::model::validate::check_text`]).
    pub(crate) fn check_text(&self, paths: &[&Path]) -> Result<()> {
        match paths.iter().find(|p| !crate::sys::is_text(p.as_os_str())) {
            Some(p) => Err(Error::new(
                ErrorKind::InvalidInput,
                &self.conn.name,
                crate::model::validate::not_text(p.as_os_str()),
            )),
            None => Ok(()),
        }
    }

    pub(crate) fn resolve(&self, path: &Path) -> PathBuf {
        join(self.ctx.dir.as_deref(), path)
    }
}

impl Conn {
    /// Asks which login shell runs our commands: `echo $SHELL` reads the same in every
    /// shell, so it goes unencoded. A host that does not answer keeps the POSIX default.
    fn detect_login_shell(&self) {
        let began = std::time::Instant::now();
        if let Ok(out) = self.exec_raw("echo $SHELL", &[]) {
            let shell = String::from_utf8_lossy(&out.stdout);
            let login = login::LoginShell::from_path(shell.trim());
            *self
                .login_shell
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = login;
            self.note_login_cost(began.elapsed(), shell.trim());
        }
    }

    /// sshd starts the login shell for every command (it reads `.bashrc` and the like):
    /// when that alone is slow, say so once, with what helps. A round trip on a LAN is a
    /// millisecond or two; a `.bashrc` that starts pyenv was 125 ms.
    fn note_login_cost(&self, took: std::time::Duration, shell: &str) {
        const SLOW: std::time::Duration = std::time::Duration::from_millis(100);
        if took > SLOW {
            tracing::warn!(
                target: "plumb",
                machine = %self.name,
                shell,
                took_ms = took.as_millis() as u64,
                "each command on this machine starts its login shell, which took {} ms here; \
                 a session (`machine.session()`) runs many commands in one shell, or make \
                 the shell's startup files quick for non-interactive shells",
                took.as_millis()
            );
        }
    }

    /// The SFTP session, started on first use; `None` when the server has no SFTP or it
    /// cannot start (then the shell path runs, and reports a lost connection itself).
    fn sftp(&self) -> Option<Arc<Sftp>> {
        let mut slot = self.sftp.lock().unwrap();
        match &*slot {
            SftpSlot::Ready(s) if !s.is_lost() => return Some(s.clone()),
            SftpSlot::Absent => return None,
            // Files go through the shell, whose commands end with their time, until the
            // server lets go of the session a transfer gave up on.
            SftpSlot::Ready(s) if s.is_stuck() => return None,
            _ => {}
        }
        match Sftp::start(&*self.transport, &self.name) {
            Ok(Some(s)) => {
                let s = Arc::new(s);
                *slot = SftpSlot::Ready(s.clone());
                Some(s)
            }
            Ok(None) => {
                tracing::debug!(machine = %self.name, "no SFTP subsystem: files go through the shell");
                *slot = SftpSlot::Absent;
                None
            }
            Err(_) => {
                *slot = SftpSlot::Untried;
                None
            }
        }
    }

    fn login_command(&self, script: &[u8]) -> Result<String> {
        let login = *self
            .login_shell
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        login::login_command(script, login)
            .map_err(|msg| Error::new(ErrorKind::InvalidInput, &self.name, msg))
    }

    /// Runs `script` with `stdin` and collects what it wrote.
    fn run_script(&self, script: &[u8], stdin: &[u8]) -> Result<RawOutput> {
        self.exec_raw(&self.login_command(script)?, stdin)
    }

    fn exec_raw(&self, command: &str, stdin: &[u8]) -> Result<RawOutput> {
        let setup = |e| Error::io(&self.name, "cannot create a pipe", e);
        let stdin = if stdin.is_empty() {
            Stdio::Null
        } else {
            Stdio::feed(stdin.into()).map_err(setup)?
        };
        let (mut out_r, out_w) = os_pipe::pipe().map_err(setup)?;
        let (mut err_r, err_w) = os_pipe::pipe().map_err(setup)?;
        let stdio = [stdin, Stdio::Fd(out_w.into()), Stdio::Fd(err_w.into())];
        let child = self.transport.exec(command, stdio)?;
        let err_thread = thread::spawn(move || {
            let mut v = Vec::new();
            let _ = err_r.read_to_end(&mut v);
            v
        });
        let mut stdout = Vec::new();
        let _ = out_r.read_to_end(&mut stdout);
        let stderr = err_thread.join().unwrap_or_default();
        let status = child.wait()?;
        Ok(RawOutput {
            code: status.shell_code(),
            stdout,
            stderr,
        })
    }

    /// Ends the remote processes of jobs still running, while the connection still works,
    /// then the connection.
    fn close(&self) {
        *self.sftp.lock().unwrap() = SftpSlot::Untried;
        if let Some(script) = self.jobs.kill_all_script() {
            let _ = self.run_script(&script, &[]);
        }
        self.transport.close();
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.close();
    }
}

impl Machine for Remote {
    fn name(&self) -> &str {
        &self.conn.name
    }

    fn which(&self, program: &str) -> Result<PathBuf> {
        transfer::which(self, program)
    }

    fn close(&self) -> Result<()> {
        self.conn.close();
        Ok(())
    }
}

impl Remote {
    /// Starts `job`: its script on a channel of its own, or in a session's shell (`lane`),
    /// judged the same way either way.
    fn start_job(&self, job: Job, lane: Option<session::Lane>) -> Result<Box<dyn Process>> {
        // The handle's names go into the script: each must be a name, never shell text.
        crate::model::validate::check_env_list(&self.ctx.env)
            .map_err(|msg| Error::new(ErrorKind::InvalidInput, &self.conn.name, msg))?;
        crate::model::validate::check_text(&job.expr)
            .map_err(|msg| Error::new(ErrorKind::InvalidInput, &self.conn.name, msg))?;
        let handle_words = self.ctx.dir.iter().map(|d| d.as_path()).chain(
            (self.ctx.env.iter())
                .flat_map(|(k, v)| std::iter::once(k).chain(v))
                .map(Path::new),
        );
        self.check_text(&handle_words.collect::<Vec<_>>())?;
        // A terminal belongs to a channel: a job that wants one leaves the session's shell
        // (dropping the lane gives the shell back).
        let pty = job.expr.pty_wanted();
        let lane = lane.filter(|_| pty.is_none());
        let mut files = match self.write_askpass(&job.expr)? {
            Some(dir) => ScriptFiles {
                dir,
                askpass: true,
                pid_marker: None,
            },
            None => ScriptFiles::new(),
        };
        // An awaited job (killable, unwatched) on a transport that reads stderr itself
        // reports its pid there: no directory to make and remove on the host, two
        // processes fewer per command. Not through sudo, whose kill needs the directory's
        // password file.
        let on_channel = lane.is_none() && pty.is_none();
        if job.kill_tree
            && !job.guarded
            && on_channel
            && !files.askpass
            && !uses_sudo(&job.expr)
            && self.conn.transport.reports_pid()
        {
            files.pid_marker = Some(format!("plumb-pid-{}", script::nonce()));
        }
        let started = self.start_script(job, lane, pty, &files);
        if started.is_err() && files.askpass {
            let _ = self.run_script(&script::take_status_file(&files), &[]);
        }
        started
    }

    /// `pty`: the terminal the job runs on (see [`Expr::pty`]), on a channel of its own.
    fn start_script(
        &self,
        job: Job,
        lane: Option<session::Lane>,
        pty: Option<(u16, u16)>,
        files: &ScriptFiles,
    ) -> Result<Box<dyn Process>> {
        let rendered = match lane {
            Some(_) => script::render_in_subshell(&job.expr, &self.ctx, files, job.kill_tree),
            None => {
                let signals_seen = pty.is_none() && self.conn.transport.reports_signals();
                let kill = (job.kill_tree, job.guarded);
                script::render(&job.expr, &self.ctx, files, kill, signals_seen)
            }
        };
        let (records_all, execs) = (rendered.records_all, rendered.execs);
        let (child, values_dir) = match (lane, pty) {
            (Some(lane), _) => {
                let stdin = job.expr.opts().stdin.as_deref();
                let child = lane.exec(
                    &rendered.script,
                    stdin,
                    [job.stdout, job.stderr],
                    job.kill_tree,
                )?;
                (child, None)
            }
            (None, Some(size)) => {
                let stdio = [job.stdin, job.stdout, job.stderr];
                self.exec_on_terminal(&rendered, &job.expr, stdio, size)?
            }
            (None, None) => {
                let stdin = preamble::job_stdin(
                    rendered.preamble,
                    job.expr.opts().stdin.as_ref(),
                    job.stdin,
                    self.conn.transport.passes_inherited_stdin(),
                )
                .map_err(|e| Error::io(&self.conn.name, "cannot create a pipe", e))?;
                let stdio = [stdin, job.stdout, job.stderr];
                (self.exec_script_of(&rendered.script, stdio, files)?, None)
            }
        };
        // Only a job whose processes a kill must reach has a kill command; one that
        // reports its pid, once the pid is there.
        let kill = match (job.kill_tree, &files.pid_marker) {
            (false, _) => None,
            (true, None) => Some(jobs::Kill::Script(jobs::kill_command(&job.expr, files))),
            (true, Some(_)) => Some(jobs::Kill::ReportedPid),
        };
        let process = RemoteProcess::new(
            self.clone(),
            child,
            job.expr,
            files.clone(),
            kill,
            records_all,
        );
        Ok(Box::new(process.with_values_dir(values_dir).execing(execs)))
    }

    /// Starts a rendered job on a terminal of `size` (see [`Expr::pty`]): its child, and
    /// the private directory of its values if it has some.
    fn exec_on_terminal(
        &self,
        rendered: &script::Rendered,
        expr: &Expr,
        [stdin, stdout, stderr]: [Stdio; 3],
        size: (u16, u16),
    ) -> Result<(Box<dyn transport::Child>, Option<String>)> {
        let inherited = self.conn.transport.passes_inherited_stdin();
        let stdin = preamble::terminal_stdin(expr.opts().stdin.as_ref(), stdin, inherited)
            .map_err(|e| Error::io(&self.conn.name, "cannot create a pipe", e))?;
        let (script, values_dir) = self.terminal_script(rendered, size)?;
        let started = self.conn.login_command(&script).and_then(|command| {
            let stdio = [stdin, stdout, stderr];
            self.conn.transport.exec_pty(&command, stdio, size)
        });
        match (started, values_dir) {
            (Ok(child), dir) => Ok((child, dir)),
            (Err(e), Some(dir)) => {
                // The script that would have removed the values never ran.
                let _ = self.run_script(&script::remove_dir(&dir), &[]);
                Err(e)
            }
            (Err(e), None) => Err(e),
        }
    }

    /// The script of a job on a terminal, and the private directory of its values. They
    /// cannot come first on stdin, as the terminal's line editing would change them: they
    /// wait in a private file that the script reads, then removes, before anything else
    /// runs. `stty` sets the window size where the transport could not.
    fn terminal_script(
        &self,
        rendered: &script::Rendered,
        (cols, rows): (u16, u16),
    ) -> Result<(Vec<u8>, Option<String>)> {
        let (reads, body) = rendered.script.split_at(rendered.reads_len);
        let mut script = Vec::new();
        let mut values_dir = None;
        if !rendered.preamble.is_empty() {
            let dir = self.write_private("in", &rendered.preamble, "the command's values")?;
            // `command`: a redirection that fails ends a shell's `exec` at once, and the
            // code would not say why.
            script.extend_from_slice(b"command exec 3<&0 <");
            quote_into(format!("{dir}/in").as_bytes(), &mut script);
            script.extend_from_slice(b" || exit 125; rm -rf ");
            quote_into(dir.as_bytes(), &mut script);
            script.extend_from_slice(b"; ");
            script.extend_from_slice(reads);
            script.extend_from_slice(b"exec 0<&3 3<&-; ");
            values_dir = Some(dir);
        }
        script.extend_from_slice(format!("stty cols {cols} rows {rows} 2>/dev/null; ").as_bytes());
        script.extend_from_slice(body);
        Ok((script, values_dir))
    }

    /// The job's directory with its sudo password file (see `model::sudo`), when it sudos
    /// and the machine has a password ([`write_private`](Remote::write_private)).
    fn write_askpass(&self, expr: &Expr) -> Result<Option<String>> {
        let Some(password) = self.conn.sudo_password.as_ref().filter(|_| uses_sudo(expr)) else {
            return Ok(None);
        };
        let Some(line) = password.line(&self.conn.name)? else {
            return Ok(None);
        };
        self.write_private("pw", line.bytes(), "the sudo password")
            .map(Some)
    }

    /// A new private directory on the host holding `file` with `bytes` (`what` names them
    /// in an error): mode 0700, a random name (`mkdir` fails on anything already there:
    /// nothing can be planted in it), in `/dev/shm` when there is one, never on a disk
    /// there; `cat` writes the file from the channel's stdin. Its path.
    fn write_private(&self, file: &str, bytes: &[u8], what: &str) -> Result<String> {
        let script = format!(
            "umask 077; b=/dev/shm; {{ [ -d $b ] && [ -w $b ]; }} || b=${{TMPDIR:-/tmp}}; \
             D=$b/.plumb-{}; mkdir -m 700 \"$D\" && cat >\"$D/{file}\" && printf %s \"$D\"",
            script::nonce()
        );
        let out = self.conn.run_script(script.as_bytes(), bytes)?;
        if out.code != 0 || out.stdout.is_empty() {
            let said = String::from_utf8_lossy(&out.stderr);
            return Err(Error::new(
                ErrorKind::Io,
                &self.conn.name,
                format!("cannot write {what} to a private file: {}", said.trim()),
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl Backend for Remote {
    fn start(&self, job: Job) -> Result<Box<dyn Process>> {
        self.start_job(job, None)
    }

    /// A libssh2 channel copies it on a thread (it cannot hand this process's own stdout
    /// to anyone: see [`Transport::passes_inherited_stdin`]).
    fn copies_inherited_output(&self) -> bool {
        !self.conn.transport.passes_inherited_stdin()
    }

    fn start_detached(&self, expr: &Expr) -> Result<u32> {
        crate::model::validate::check_env_list(&self.ctx.env)
            .map_err(|msg| Error::new(ErrorKind::InvalidInput, &self.conn.name, msg))?;
        if uses_sudo(expr) && self.conn.sudo_password.is_some() {
            return Err(detached_sudo(&self.conn.name));
        }
        if expr.pty_wanted().is_some() {
            return Err(no_terminal(&self.conn.name, "a detached command"));
        }
        let r = script::render_detached(expr, &self.ctx);
        let out = self.conn.run_script(&r.script, &r.preamble)?;
        detached_pid(&self.conn.name, &out)
    }

    fn fs(&self) -> &dyn Fs {
        self
    }

    fn identity(&self) -> usize {
        Arc::as_ptr(&self.ctx) as usize
    }

    fn upload_path(&self, local: &Path, remote: &Path, observer: Observer) -> Result<()> {
        transfer::upload(self, local, remote, observer)
    }

    fn download_path(&self, remote: &Path, local: &Path, observer: Observer) -> Result<()> {
        transfer::download(self, remote, local, observer)
    }

    /// Drops the SFTP session if only the slot holds it (no reader, writer or call):
    /// closing its requests' stream ends it on the server, and its reader thread with it.
    fn release_files(&self) {
        let mut slot = self.conn.sftp.lock().unwrap();
        if matches!(&*slot, SftpSlot::Ready(s) if Arc::strong_count(s) == 1 && !s.is_stuck()) {
            *slot = SftpSlot::Untried;
        }
    }
}

/// A detached command cannot use the machine's sudo password: its file would have to stay
/// on the host for as long as the command runs.
pub(crate) fn detached_sudo(machine: &str) -> Error {
    Error::new(
        ErrorKind::InvalidInput,
        machine,
        "a detached command cannot be given the sudo password (it would have to stay on \
         the host while the command runs); allow the command NOPASSWD in sudoers",
    )
}

/// `.pty()` where there is no terminal to give: `who` names what asked.
pub(crate) fn no_terminal(machine: &str, who: &str) -> Error {
    Error::new(
        ErrorKind::Unsupported,
        machine,
        format!(
            "{who} cannot run on a terminal (`.pty()`): a PTY is for remote commands \
             (SshMachine, Ssh2Machine); here, spawn the program with this process's own \
             terminal instead"
        ),
    )
}

/// The pid a detached start printed, or why it could not start.
pub(crate) fn detached_pid(machine: &str, out: &RawOutput) -> Result<u32> {
    let said = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if out.code != 0 {
        let kind = match out.code {
            127 => ErrorKind::NotFound,
            _ if said.contains("cd") => ErrorKind::NotFound,
            _ => ErrorKind::Exit,
        };
        return Err(Error::new(
            kind,
            machine,
            format!("cannot start it detached: {said}"),
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim().parse().map_err(|_| {
        Error::new(
            ErrorKind::Protocol,
            machine,
            format!("a detached start printed no pid: {:?} {said}", text.trim()),
        )
    })
}

/// The public remote machine types: a newtype over [`Remote`] with the methods and trait
/// implementations they all share, written once.
macro_rules! remote_machine {
    ($t:ident) => {
        impl $t {
            /// A handle whose commands and relative paths start in `dir`; it shares the
            /// connection.
            pub fn with_dir(&self, dir: impl AsRef<std::path::Path>) -> $t {
                $t {
                    remote: self.remote.with_dir(dir.as_ref()),
                }
            }

            /// A handle whose commands get this environment variable; it shares the
            /// connection.
            pub fn with_env(
                &self,
                key: impl AsRef<std::ffi::OsStr>,
                value: impl AsRef<std::ffi::OsStr>,
            ) -> $t {
                $t {
                    remote: self.remote.with_env(key.as_ref(), value.as_ref()),
                }
            }

            /// Persistent shells on this connection for many small commands: about a round
            /// trip each instead of a new channel and login shell. See [`Session`].
            ///
            /// [`Session`]: crate::Session
            pub fn session(&self) -> $crate::Session {
                $crate::backends::remote::session::Session::new(self.remote.clone())
            }

            /// Connects again after the connection was lost (the server restarted, the
            /// network failed): commands and tunnels that were running have failed; new
            /// ones work again. Every clone and handle shares the new connection.
            pub fn reconnect(&self) -> $crate::Result<()> {
                self.remote.reconnect()
            }

            /// A byte stream to `port` on the remote host's loopback interface.
            pub fn connect_sock(&self, port: u16) -> $crate::Result<$crate::Tunnel> {
                self.remote.connect_sock_to("127.0.0.1", port)
            }

            /// A byte stream to `host:port` as seen from the remote host.
            pub fn connect_sock_to(&self, host: &str, port: u16) -> $crate::Result<$crate::Tunnel> {
                self.remote.connect_sock_to(host, port)
            }

            /// [`connect_sock`](Self::connect_sock), awaited, for async code (cargo feature
            /// `tokio`): the channel opens on the runtime's blocking pool (a round trip),
            /// then the stream is the reactor's ([`AsyncTunnel`](crate::AsyncTunnel)).
            #[cfg(feature = "tokio")]
            #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
            pub fn connect_sock_async(
                &self,
                port: u16,
            ) -> impl std::future::Future<Output = $crate::Result<$crate::AsyncTunnel>> + Send + 'static {
                self.connect_sock_to_async("127.0.0.1", port)
            }

            /// [`connect_sock_to`](Self::connect_sock_to), awaited (cargo feature `tokio`).
            #[cfg(feature = "tokio")]
            #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
            pub fn connect_sock_to_async(
                &self,
                host: &str,
                port: u16,
            ) -> impl std::future::Future<Output = $crate::Result<$crate::AsyncTunnel>> + Send + 'static {
                let (remote, host) = (self.remote.clone(), host.to_string());
                let name = $crate::Machine::name(&self.remote).to_string();
                $crate::run::off_runtime(name.clone(), move || {
                    let tunnel = remote.connect_sock_to(&host, port)?;
                    tunnel.into_async().map_err(|e| {
                        $crate::Error::io(&name, "cannot hand the tunnel to the runtime", e)
                    })
                })
            }

            /// Listens on `127.0.0.1:0` here; every connection to it is tunnelled to
            /// `host:port` as seen from the remote host. Dropping the [`Forward`] stops it.
            ///
            /// [`Forward`]: crate::Forward
            pub fn forward_local(&self, host: &str, port: u16) -> $crate::Result<$crate::Forward> {
                self.remote.forward_local(host, port)
            }

            /// Listens on `remote_port` (0: the server chooses) on the remote host's
            /// loopback interface; every connection is tunnelled to `local` here.
            pub fn forward_remote(
                &self,
                remote_port: u16,
                local: std::net::SocketAddr,
            ) -> $crate::Result<$crate::Forward> {
                self.remote.forward_remote(remote_port, local)
            }
        }

        impl $crate::Machine for $t {
            fn name(&self) -> &str {
                $crate::Machine::name(&self.remote)
            }

            fn which(&self, program: &str) -> $crate::Result<std::path::PathBuf> {
                $crate::Machine::which(&self.remote, program)
            }

            fn close(&self) -> $crate::Result<()> {
                $crate::Machine::close(&self.remote)
            }
        }

        impl $crate::machine::seam::Backend for $t {
            fn start(
                &self,
                job: $crate::model::job::Job,
            ) -> $crate::Result<Box<dyn $crate::model::job::Process>> {
                $crate::machine::seam::Backend::start(&self.remote, job)
            }

            fn start_detached(&self, expr: &$crate::model::Expr) -> $crate::Result<u32> {
                $crate::machine::seam::Backend::start_detached(&self.remote, expr)
            }

            fn fs(&self) -> &dyn $crate::machine::fs::Fs {
                $crate::machine::seam::Backend::fs(&self.remote)
            }

            fn identity(&self) -> usize {
                $crate::machine::seam::Backend::identity(&self.remote)
            }

            fn copies_inherited_output(&self) -> bool {
                $crate::machine::seam::Backend::copies_inherited_output(&self.remote)
            }

            fn release_files(&self) {
                $crate::machine::seam::Backend::release_files(&self.remote)
            }

            fn upload_path(
                &self,
                local: &std::path::Path,
                remote: &std::path::Path,
                observer: $crate::progress::Observer,
            ) -> $crate::Result<()> {
                $crate::machine::seam::Backend::upload_path(&self.remote, local, remote, observer)
            }

            fn download_path(
                &self,
                remote: &std::path::Path,
                local: &std::path::Path,
                observer: $crate::progress::Observer,
            ) -> $crate::Result<()> {
                $crate::machine::seam::Backend::download_path(&self.remote, remote, local, observer)
            }
        }

        impl $crate::RemoteMachine for $t {
            fn session(&self) -> $crate::Session {
                <$t>::session(self)
            }

            fn reconnect(&self) -> $crate::Result<()> {
                <$t>::reconnect(self)
            }
        }

        impl $crate::Tunnels for $t {
            fn connect_sock(&self, port: u16) -> $crate::Result<$crate::Tunnel> {
                <$t>::connect_sock(self, port)
            }

            fn connect_sock_to(&self, host: &str, port: u16) -> $crate::Result<$crate::Tunnel> {
                <$t>::connect_sock_to(self, host, port)
            }

            fn forward_local(&self, host: &str, port: u16) -> $crate::Result<$crate::Forward> {
                <$t>::forward_local(self, host, port)
            }

            fn forward_remote(
                &self,
                remote_port: u16,
                local: std::net::SocketAddr,
            ) -> $crate::Result<$crate::Forward> {
                <$t>::forward_remote(self, remote_port, local)
            }
        }
    };
}
pub(crate) use remote_machine;

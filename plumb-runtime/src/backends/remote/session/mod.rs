//! Sessions: remote commands in persistent shells over the machine's connection, about a
//! round trip each instead of a new channel and a login shell per command.
//!
//! A [`Pool`] keeps up to `max` shells ([`shell::Shell`]), opened on demand, one command at
//! a time each, so threads run in parallel instead of queueing behind one shell. A shell
//! that breaks (it ended, was killed with a timed-out command, lost its connection) is
//! dropped and its command fails with an error that says so; the next command opens a new
//! one. What a shell cannot do as the machine would (streamed stdin or output: `spawn`,
//! `lines`, pipes to other machines) goes through a channel of its own, as on the machine.

mod shell;

use std::fs::File;
use std::io::{self, Write};
use std::sync::{mpsc, Arc, Condvar, Mutex, Weak};

use self::shell::{LaneChild, LaneState, NamedLane, Script, Shell};
use super::transport::Child;
use super::Remote;
use std::os::unix::ffi::OsStrExt;

use crate::machine::Machine;
use crate::model::expr::{Expr, Node};
use crate::model::job::{Job, Stdio};
use crate::output::ExitStatus;
use crate::render::script::Context;
use crate::Result;

/// `stdin_bytes` above this size go through a channel: in a shell they travel as a
/// `printf` argument four times their size.
const MAX_LANE_STDIN: usize = 1 << 20;

/// The shells of a session and the cap on how many may be open.
pub(crate) struct Pool {
    remote: Remote,
    max: usize,
    state: Mutex<PoolState>,
    freed: Condvar,
}

#[derive(Default)]
struct PoolState {
    idle: Vec<Worker>,
    open: usize,
}

/// A shell and the thread that drives it, one command at a time. Dropping the handle
/// (idle in a dropped pool, or at `close`) ends the thread and so the shell.
struct Worker {
    tasks: mpsc::Sender<Task>,
}

/// One command for a worker, and where its results go. The worker's own handle travels
/// with it, to go back to the pool when the command is done.
struct Task {
    script: Script,
    stdin: Option<Vec<u8>>,
    streams: [Stdio; 2],
    done: Arc<LaneState>,
    worker: Worker,
}

impl Pool {
    pub(super) fn new(remote: Remote, max: usize) -> Pool {
        Pool {
            remote,
            max: max.max(1),
            state: Mutex::new(PoolState::default()),
            freed: Condvar::new(),
        }
    }

    /// Whether `job` runs in a shell as it would on the machine: nothing streamed, and no
    /// stdin but `stdin_bytes` of a reasonable size.
    pub(super) fn takes(job: &Job) -> bool {
        let stdin_ok = matches!(job.stdin, Stdio::Null | Stdio::Inherit);
        let bytes_ok = job
            .expr
            .opts()
            .stdin
            .as_ref()
            .is_none_or(|b| b.len() <= MAX_LANE_STDIN);
        !job.streamed && stdin_ok && bytes_ok
    }

    /// An idle worker, a new one while under the cap, or the next one freed.
    fn acquire(self: &Arc<Self>) -> Result<Worker> {
        let mut state = self.state.lock().unwrap();
        loop {
            if let Some(worker) = state.idle.pop() {
                return Ok(worker);
            }
            if state.open < self.max {
                state.open += 1;
                drop(state);
                return self.start_worker().inspect_err(|_| self.release(None));
            }
            state = self.freed.wait(state).unwrap();
        }
    }

    /// Opens a shell and starts its thread, which holds the pool only weakly: a session
    /// dropped ends its shells.
    fn start_worker(self: &Arc<Self>) -> Result<Worker> {
        let shell = Shell::open(&self.remote)?;
        let (tasks, inbox) = mpsc::channel();
        let pool = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("plumb-session".into())
            .spawn(move || serve(shell, &inbox, &pool))
            .map_err(|e| crate::Error::io(self.remote.name(), "cannot start a thread", e))?;
        Ok(Worker { tasks })
    }

    /// Returns a worker to the pool, or forgets a broken one.
    fn release(&self, worker: Option<Worker>) {
        let mut state = self.state.lock().unwrap();
        match worker {
            Some(w) => state.idle.push(w),
            None => state.open -= 1,
        }
        self.freed.notify_one();
    }
}

/// A worker's thread: runs each task in its shell until the shell breaks or the pool is
/// gone.
fn serve(mut shell: Shell, inbox: &mpsc::Receiver<Task>, pool: &Weak<Pool>) {
    for task in inbox {
        let Task {
            script,
            stdin,
            streams: [stdout, stderr],
            done,
            worker,
        } = task;
        let (mut out, mut err) = (sink(stdout, io::stdout), sink(stderr, io::stderr));
        let ran = shell.run(&script, stdin.as_deref(), &mut out, &mut err);
        // The streams close before the status is known, as a channel's do.
        drop((out, err));
        let pool = pool.upgrade();
        match ran {
            Ok(code) => {
                if let Some(pool) = &pool {
                    pool.release(Some(worker));
                }
                done.finish(Ok(ExitStatus::from_code(code)));
            }
            Err(e) => {
                if let Some(pool) = &pool {
                    pool.release(None);
                }
                let killed = done.killed.load(std::sync::atomic::Ordering::SeqCst);
                done.finish(if killed {
                    Ok(ExitStatus::from_signal(libc::SIGKILL))
                } else {
                    Err(format!(
                        "the session's shell broke during the command ({e}); \
                         the next command gets a new shell"
                    ))
                });
                return;
            }
        }
    }
}

/// A worker taken from a pool for one command.
pub(crate) struct Lane {
    pub(super) in_place: Option<Vec<u8>>,
    worker: Worker,
    machine: String,
}

impl Lane {
    /// Hands `script` to the worker, which writes its output to `stdout` and `stderr` as
    /// a channel would, then leaves the status.
    pub(super) fn exec(
        self,
        script: &[u8],
        stdin: Option<&[u8]>,
        streams: [Stdio; 2],
    ) -> Result<Box<dyn Child>> {
        let script = match self.in_place {
            Some(line) => Script::InPlace(line),
            None => Script::Subshell(script.to_vec()),
        };
        let state = Arc::new(LaneState::default());
        let task = Task {
            script,
            stdin: stdin.map(<[u8]>::to_vec),
            streams,
            done: state.clone(),
            worker: Worker {
                tasks: self.worker.tasks.clone(),
            },
        };
        // The handle goes with the task; this clone goes now, so the task's is the only one.
        let Lane {
            worker, machine, ..
        } = self;
        let sent = worker.tasks.send(task);
        drop(worker);
        if sent.is_err() {
            let why = "the session's shell is gone";
            return Err(crate::Error::new(crate::ErrorKind::Connect, &machine, why));
        }
        Ok(Box::new(NamedLane {
            lane: LaneChild { state },
            machine,
        }))
    }
}

/// Builtins that cannot change the shell that runs them (no `cd`, `exit`, `set`,
/// assignments or traps), whatever their arguments.
const STATELESS: &[&str] = &["true", "false", "echo", "printf", "test", "[", "pwd"];

/// The line for `expr` in the shell itself, when it is one stateless builtin with plain
/// arguments in the handle's own directory and environment: the same result as in a
/// subshell, without a fork (0.45 ms here).
pub(super) fn in_place(expr: &Expr, ctx: &Context) -> Option<Vec<u8>> {
    let Node::Cmd(cmd) = expr.node() else {
        return None;
    };
    let opts = expr.opts();
    let plain = cmd.env.is_empty()
        && cmd.redirects.is_empty()
        && opts.dir.is_none()
        && opts.env.is_empty()
        && opts.timeout.is_none()
        && !opts.stderr_to_stdout
        && ctx.dir.is_none()
        && ctx.env.is_empty();
    let program = cmd.argv.first()?.to_str()?;
    if !plain || !STATELESS.contains(&program) {
        return None;
    }
    let mut line = Vec::new();
    for arg in &cmd.argv {
        crate::render::quote::quote_into(arg.as_bytes(), &mut line);
        line.push(b' ');
    }
    Some(line)
}

/// Where a stream's bytes go: the job's pipe, this process's own stream, or nowhere.
fn sink<W: Write + Send + 'static>(stdio: Stdio, own: fn() -> W) -> Box<dyn Write + Send> {
    match stdio {
        Stdio::Fd(fd) => Box::new(File::from(fd)),
        Stdio::Inherit => Box::new(own()),
        Stdio::Null => Box::new(io::sink()),
    }
}

impl Remote {
    /// Starts `job` in a shell of `pool` when it can run there as on the machine, else
    /// on a channel of its own.
    pub(super) fn start_in_session(
        &self,
        job: Job,
        pool: &Arc<Pool>,
    ) -> Result<Box<dyn crate::model::job::Process>> {
        if Pool::takes(&job) {
            // No shell to be had (the server refuses more channels): a channel then.
            if let Ok(worker) = pool.acquire() {
                let lane = Lane {
                    in_place: in_place(&job.expr, &self.ctx),
                    worker,
                    machine: self.name().to_string(),
                };
                return self.start_job(job, Some(lane));
            }
        }
        self.start_job(job, None)
    }
}

/// Shells a session opens at most unless told otherwise: sshd's default `MaxSessions` is
/// 10 channels per connection, and the machine's own commands and files need some.
const DEFAULT_SHELLS: usize = 4;

/// Commands in persistent remote shells over a machine's connection: a round trip each,
/// instead of a channel and a login shell per command. Made by `session()` on
/// [`SshMachine`](crate::SshMachine) and `Ssh2Machine`; a [`Machine`], `Clone + Send +
/// Sync`, and clones share the shells.
///
/// Each command runs as it would on the machine itself: in a subshell of its own (`cd`,
/// variables, `umask` and traps never leak into the next command), its stdout and stderr
/// kept apart byte for byte, its real exit code and the same errors, `stdin_bytes`
/// delivered, and a [`timeout`](crate::Expr::timeout) or kill ending its whole process
/// tree (and that shell, which the next command replaces). Threads run in parallel on up
/// to four shells ([`max_shells`](Session::max_shells)), opened on demand.
///
/// What a shell cannot do as the machine would goes through a channel of its own,
/// transparently: streamed stdin or output ([`spawn`](crate::Expr::spawn),
/// [`lines`](crate::Expr::lines), pipes to other machines) and `stdin_bytes` over 1 MiB.
/// Output reaches the caller when the command ends, not as it is written; a command reads
/// an empty stdin unless given `stdin_bytes`. File operations ([`MPath`](crate::MPath))
/// use the machine's SFTP session, which is faster still.
///
/// ```no_run
/// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
/// use plumb::prelude::*;
/// let web = plumb::SshMachine::connect("deploy@web1").unwrap();
/// let s = web.session();
/// for unit in ["nginx", "redis", "myapp"] {
///     let state = sh!(systemctl is-active $unit).on(&s).unchecked().read().unwrap();
///     println!("{unit}: {state}");
/// }
/// ```
#[derive(Clone)]
pub struct Session {
    remote: Remote,
    pool: Arc<Pool>,
}

impl Session {
    pub(crate) fn new(remote: Remote) -> Session {
        let pool = Arc::new(Pool::new(remote.clone(), DEFAULT_SHELLS));
        Session { remote, pool }
    }

    /// A session like this one (same directory and environment) with up to `n` shells:
    /// more lets more threads run at once, each costing a channel of the connection.
    pub fn max_shells(&self, n: usize) -> Session {
        Session {
            remote: self.remote.clone(),
            pool: Arc::new(Pool::new(self.remote.clone(), n)),
        }
    }

    /// A handle whose commands and relative paths start in `dir`; it shares the shells.
    pub fn with_dir(&self, dir: impl AsRef<std::path::Path>) -> Session {
        Session {
            remote: self.remote.with_dir(dir.as_ref()),
            pool: self.pool.clone(),
        }
    }

    /// A handle whose commands get this environment variable; it shares the shells.
    pub fn with_env(
        &self,
        key: impl AsRef<std::ffi::OsStr>,
        value: impl AsRef<std::ffi::OsStr>,
    ) -> Session {
        Session {
            remote: self.remote.with_env(key.as_ref(), value.as_ref()),
            pool: self.pool.clone(),
        }
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let open = self.pool.state.lock().map(|s| s.open).unwrap_or(0);
        f.debug_struct("Session")
            .field("machine", &self.remote)
            .field("shells_open", &open)
            .field("max_shells", &self.pool.max)
            .finish()
    }
}

impl Machine for Session {
    fn name(&self) -> &str {
        self.remote.name()
    }

    fn which(&self, program: &str) -> Result<std::path::PathBuf> {
        self.remote.which(program)
    }

    /// Ends the session's shells; the machine's connection stays open.
    fn close(&self) -> Result<()> {
        let mut state = self.pool.state.lock().unwrap();
        state.open -= state.idle.len();
        state.idle.clear();
        Ok(())
    }
}

impl crate::machine::seam::Backend for Session {
    fn start(&self, job: Job) -> Result<Box<dyn crate::model::job::Process>> {
        self.remote.start_in_session(job, &self.pool)
    }

    fn fs(&self) -> &dyn crate::machine::fs::Fs {
        crate::machine::seam::Backend::fs(&self.remote)
    }

    /// Not the machine's: a session's commands run elsewhere than the machine's.
    fn identity(&self) -> usize {
        let pool = Arc::as_ptr(&self.pool) as usize;
        pool ^ crate::machine::seam::Backend::identity(&self.remote).rotate_left(17)
    }

    fn upload_path(
        &self,
        local: &std::path::Path,
        remote: &std::path::Path,
        observer: crate::progress::Observer,
    ) -> Result<()> {
        crate::machine::seam::Backend::upload_path(&self.remote, local, remote, observer)
    }

    fn download_path(
        &self,
        remote: &std::path::Path,
        local: &std::path::Path,
        observer: crate::progress::Observer,
    ) -> Result<()> {
        crate::machine::seam::Backend::download_path(&self.remote, remote, local, observer)
    }
}

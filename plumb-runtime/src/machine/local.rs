//! `LocalMachine`: processes on this computer.
//!
//! A command is one `std::process::Command` (so std's `posix_spawn` fast path applies),
//! held as a `shared_child::SharedChild` so that one thread can wait while another kills.
//! A pipeline is one process per stage, joined by kernel pipes that this module creates, so
//! every stage's status is known and the failing one can be named; a sequence runs its
//! items in order on a thread of its own.
//!
//! This was built on duct first; duct rebuilds the whole environment of every child
//! (`env_clear` + every variable), which alone made spawning `true` ~20% slower than std.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{self, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};

use shared_child::SharedChild;

use crate::error::{Error, ErrorKind};
use crate::expr::{Cmd, Expr, Node, Redirect, SeqOp};
use crate::machine::{FileType, Fs, Job, Machine, Metadata, Outcome, Process, Stdio};
use crate::output::ExitStatus;
use crate::{exec, quote, Result};

const NAME: &str = "local";

/// This computer. Cheap to clone; [`with_dir`](LocalMachine::with_dir) and
/// [`with_env`](LocalMachine::with_env) make handles with their own defaults.
///
/// ```
/// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
/// let root = plumb::local().with_dir("/");
/// assert_eq!(sh!(pwd).on(&root).read().unwrap(), "/");
/// ```
#[derive(Clone, Debug, Default)]
pub struct LocalMachine {
    ctx: Arc<Ctx>,
}

/// The machine this process runs on.
///
/// ```
/// # extern crate plumb_runtime as plumb;
/// assert_eq!(plumb::Machine::name(&plumb::local()), "local");
/// ```
pub fn local() -> LocalMachine {
    LocalMachine::default()
}

/// The directory and environment that commands start with.
#[derive(Clone, Debug, Default)]
struct Ctx {
    dir: Option<PathBuf>,
    /// Applied in order over this process's environment; `None` removes.
    env: Vec<(OsString, Option<OsString>)>,
}

impl Ctx {
    /// The context inside a node with these options.
    fn enter(&self, expr: &Expr) -> Ctx {
        let opts = expr.opts();
        let mut ctx = self.clone();
        if let Some(dir) = &opts.dir {
            ctx.dir = Some(ctx.resolve(dir));
        }
        ctx.env.extend(opts.env.iter().cloned());
        ctx
    }

    fn resolve(&self, path: &Path) -> PathBuf {
        match &self.dir {
            Some(dir) => dir.join(path),
            None => path.to_path_buf(),
        }
    }

    fn var(&self, key: &str) -> Option<OsString> {
        match self.env.iter().rev().find(|(k, _)| k == key) {
            Some((_, v)) => v.clone(),
            None => std::env::var_os(key),
        }
    }
}

impl LocalMachine {
    /// The same as [`local()`].
    pub fn new() -> LocalMachine {
        LocalMachine::default()
    }

    /// A handle whose commands and relative paths start in `dir` (relative to this handle's
    /// directory).
    pub fn with_dir(&self, dir: impl AsRef<Path>) -> LocalMachine {
        let mut ctx = (*self.ctx).clone();
        ctx.dir = Some(ctx.resolve(dir.as_ref()));
        LocalMachine { ctx: Arc::new(ctx) }
    }

    /// A handle whose commands get this environment variable.
    ///
    /// ```
    /// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
    /// let m = plumb::local().with_env("GREETING", "hi");
    /// assert_eq!(sh!(sh -c "echo $$GREETING").on(&m).read().unwrap(), "hi");
    /// ```
    pub fn with_env(&self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> LocalMachine {
        let mut ctx = (*self.ctx).clone();
        ctx.env
            .push((key.as_ref().to_owned(), Some(value.as_ref().to_owned())));
        LocalMachine { ctx: Arc::new(ctx) }
    }
}

impl Machine for LocalMachine {
    fn name(&self) -> &str {
        NAME
    }

    fn which(&self, program: &str) -> Result<PathBuf> {
        let executable = |p: &Path| {
            fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        };
        if program.contains('/') {
            let p = self.ctx.resolve(Path::new(program));
            return if executable(&p) {
                Ok(p)
            } else {
                Err(Error::new(
                    ErrorKind::NotFound,
                    NAME,
                    format!("`{program}` is not an executable file"),
                ))
            };
        }
        let path = self.ctx.var("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .map(|dir| self.ctx.resolve(&dir).join(program))
            .find(|p| executable(p))
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::NotFound,
                    NAME,
                    format!("program `{program}` not found on PATH"),
                )
            })
    }

    fn upload(&self, local: &Path, remote: &Path) -> Result<()> {
        copy_tree(local, &self.ctx.resolve(remote))
    }

    fn download(&self, remote: &Path, local: &Path) -> Result<()> {
        copy_tree(&self.ctx.resolve(remote), local)
    }

    fn start(&self, job: Job) -> Result<Box<dyn Process>> {
        let shared = Arc::new(Shared {
            kill_tree: job.kill_tree,
            killed: AtomicBool::new(false),
            live: Mutex::new(Vec::new()),
            watchdogs: Mutex::new(Vec::new()),
        });
        let io = Io {
            stdin: job.stdin,
            stdout: job.stdout,
            stderr: job.stderr,
        };
        let running = start_node(&job.expr, &self.ctx, io, false, &shared)?;
        Ok(Box::new(LocalProcess {
            shared,
            state: Mutex::new(State::Running(running)),
        }))
    }

    fn fs(&self) -> &dyn Fs {
        self
    }

    fn identity(&self) -> usize {
        Arc::as_ptr(&self.ctx) as usize
    }
}

// ---------------------------------------------------------------------------------------
// Running trees.

/// The standard streams of one node.
struct Io {
    stdin: Stdio,
    stdout: Stdio,
    stderr: Stdio,
}

impl Io {
    fn try_clone(&self) -> io::Result<Io> {
        Ok(Io {
            stdin: self.stdin.try_clone()?,
            stdout: self.stdout.try_clone()?,
            stderr: self.stderr.try_clone()?,
        })
    }
}

/// What `kill` needs to reach every process of a job, from any thread.
struct Shared {
    kill_tree: bool,
    killed: AtomicBool,
    /// Processes started and not yet reaped.
    live: Mutex<Vec<Arc<SharedChild>>>,
    /// With `kill_tree`: a watchdog per process group, which kills the group if this
    /// program ends without cleaning up (`std::process::exit`, a crash, a Handle kept in a
    /// `static`).
    watchdogs: Mutex<Vec<(u32, Watchdog)>>,
}

/// A `sh` that waits for EOF on a pipe whose write end only this process holds: when this
/// process ends, however it ends, the kernel closes the pipe and the watchdog kills the
/// process group it guards. Cleared (killed first) when the group's leader is reaped.
struct Watchdog {
    process: std::process::Child,
    _pipe: os_pipe::PipeWriter,
}

impl Watchdog {
    fn guard(pgid: u32) -> io::Result<Watchdog> {
        let (r, w) = os_pipe::pipe()?;
        let mut c = Command::new("/bin/sh");
        c.args(["-c", "read _; kill -KILL -\"$1\"", "plumb-watchdog"])
            .arg(pgid.to_string())
            .stdin(r)
            .stdout(process::Stdio::null())
            .stderr(process::Stdio::null())
            // Out of the terminal's group, so that Ctrl-C leaves it to do its job.
            .process_group(0);
        Ok(Watchdog {
            process: c.spawn()?,
            _pipe: w,
        })
    }

    fn dismiss(mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

impl Shared {
    /// Starts `command`, registered so that a concurrent `kill` reaches it.
    fn start(&self, command: &mut Command) -> io::Result<Arc<SharedChild>> {
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        // Checked under the lock: a kill that came first must not miss this process.
        if self.killed.load(Ordering::SeqCst) {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "killed"));
        }
        let child = Arc::new(SharedChild::spawn(command)?);
        live.push(child.clone());
        if self.kill_tree {
            // Best effort: without a watchdog the job still runs, only unguarded.
            if let Ok(w) = Watchdog::guard(child.id()) {
                self.watchdogs
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push((child.id(), w));
            }
        }
        Ok(child)
    }

    fn reaped(&self, handle: &Arc<SharedChild>) {
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        live.retain(|h| !Arc::ptr_eq(h, handle));
        let mut watchdogs = self
            .watchdogs
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(i) = watchdogs.iter().position(|(pid, _)| *pid == handle.id()) {
            watchdogs.swap_remove(i).1.dismiss();
        }
    }

    fn kill(&self) {
        let live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        self.killed.store(true, Ordering::SeqCst);
        for child in live.iter() {
            if self.kill_tree {
                // Each process leads its own group, which holds its children too. A child
                // leaves `live` as soon as it is reaped, so its pid still names its group.
                // SAFETY: kill(2) with a negative pid signals a process group; no memory is
                // involved.
                unsafe { libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL) };
            }
            let _ = child.kill();
        }
    }

    fn killed(&self) -> bool {
        self.killed.load(Ordering::SeqCst)
    }
}

enum Running {
    Cmd { expr: Expr, child: Arc<SharedChild> },
    Pipe { expr: Expr, stages: Vec<Running> },
    Thread { thread: JoinHandle<Result<Outcome>> },
    Done(Outcome),
}

fn start_node(
    expr: &Expr,
    ctx: &Ctx,
    mut io: Io,
    late_dup: bool,
    shared: &Arc<Shared>,
) -> Result<Running> {
    let ctx = ctx.enter(expr);
    if let Some(bytes) = &expr.opts().stdin {
        io.stdin = exec::feed(bytes.clone()).map_err(|e| spawn_error(expr, e))?;
    }
    let node_dup = late_dup || expr.opts().stderr_to_stdout;
    match expr.node() {
        Node::Cmd(cmd) => {
            let child = spawn_cmd(expr, cmd, &ctx, io, node_dup, shared)?;
            Ok(Running::Cmd {
                expr: expr.clone(),
                child,
            })
        }
        Node::Pipe(stages) => {
            if node_dup {
                io.stderr = io.stdout.try_clone().map_err(|e| spawn_error(expr, e))?;
            }
            let n = stages.len();
            let mut started = Vec::with_capacity(n);
            let mut stdin = std::mem::replace(&mut io.stdin, Stdio::Null);
            for (i, (stage, all)) in stages.iter().enumerate() {
                let result = stage_io(i + 1 == n, &mut stdin, &io)
                    .map_err(|e| spawn_error(expr, e))
                    .and_then(|stage_io| start_node(stage, &ctx, stage_io, *all, shared));
                match result {
                    Ok(r) => started.push(r),
                    Err(e) => {
                        shared.kill();
                        for r in started {
                            let _ = wait_running(r, shared);
                        }
                        return Err(e);
                    }
                }
            }
            Ok(Running::Pipe {
                expr: expr.clone(),
                stages: started,
            })
        }
        Node::Seq(items) => {
            if node_dup {
                io.stderr = io.stdout.try_clone().map_err(|e| spawn_error(expr, e))?;
            }
            let (expr, items, shared) = (expr.clone(), items.clone(), shared.clone());
            let thread = thread::Builder::new()
                .name("plumb-seq".into())
                .spawn(move || run_seq(&expr, &items, ctx, io, &shared))
                .map_err(|e| Error::io(NAME, "cannot start a thread", e))?;
            Ok(Running::Thread { thread })
        }
        Node::Cd(dir) => {
            let mut ctx = ctx;
            Ok(Running::Done(cd(expr, dir, &mut ctx, &io)))
        }
    }
}

fn run_seq(
    expr: &Expr,
    items: &[(SeqOp, Expr)],
    mut ctx: Ctx,
    io: Io,
    shared: &Arc<Shared>,
) -> Result<Outcome> {
    let mut last: Option<Outcome> = None;
    for (op, item) in items {
        let prev_ok = last.as_ref().is_none_or(|o| o.status.success());
        let runs = match op {
            SeqOp::Then => true,
            SeqOp::And => prev_ok,
            SeqOp::Or => !prev_ok,
        };
        if !runs {
            continue;
        }
        if shared.killed() {
            return Ok(killed());
        }
        let outcome = match item.node() {
            Node::Cd(dir) => cd(item, dir, &mut ctx, &io),
            _ => {
                let item_io = io.try_clone().map_err(|e| spawn_error(item, e))?;
                match start_node(item, &ctx, item_io, false, shared) {
                    Ok(running) => wait_running(running, shared)?,
                    Err(_) if shared.killed() => return Ok(killed()),
                    Err(e) => return Err(e),
                }
            }
        };
        last = Some(outcome);
    }
    let last = last.unwrap_or_else(|| Outcome {
        status: ExitStatus::from_code(0),
        stage: None,
        accepted: true,
        machine: None,
    });
    let accepted = expr.opts().judge(&last.status, last.accepted);
    Ok(Outcome { accepted, ..last })
}

fn killed() -> Outcome {
    Outcome {
        status: ExitStatus::from_signal(libc::SIGKILL),
        stage: None,
        accepted: false,
        machine: None,
    }
}

/// `cd dir`: a status like the shell's, and the directory for what follows.
fn cd(expr: &Expr, dir: &OsStr, ctx: &mut Ctx, io: &Io) -> Outcome {
    let target = ctx.resolve(Path::new(dir));
    let ok = target.is_dir();
    if ok {
        ctx.dir = Some(target);
    } else {
        let msg = format!(
            "cd: {}: No such file or directory\n",
            Path::new(dir).display()
        );
        let _ = match &io.stderr {
            Stdio::Inherit => io::stderr().write_all(msg.as_bytes()),
            Stdio::Null => Ok(()),
            Stdio::Fd(fd) => fd
                .try_clone()
                .and_then(|fd| File::from(fd).write_all(msg.as_bytes())),
        };
    }
    let status = ExitStatus::from_code(if ok { 0 } else { 1 });
    Outcome {
        accepted: expr.opts().judge(&status, ok),
        status,
        stage: Some(quote::render(expr)),
        machine: None,
    }
}

fn wait_running(running: Running, shared: &Shared) -> Result<Outcome> {
    match running {
        Running::Cmd { expr, child } => {
            let result = child.wait().map(ExitStatus::from_std);
            shared.reaped(&child);
            let status = result.map_err(|e| {
                Error::io(NAME, "waiting for the command failed", e)
                    .with_command(quote::render(&expr))
            })?;
            Ok(Outcome {
                accepted: expr.opts().judge(&status, status.success()),
                status,
                stage: Some(quote::render(&expr)),
                machine: None,
            })
        }
        Running::Pipe { expr, stages } => {
            let mut outcomes = Vec::with_capacity(stages.len());
            let mut first_err = None;
            for stage in stages {
                match wait_running(stage, shared) {
                    Ok(o) => outcomes.push(o),
                    Err(e) => first_err = first_err.or(Some(e)),
                }
            }
            if let Some(e) = first_err {
                return Err(e);
            }
            Ok(Outcome::pipeline(outcomes, expr.opts()))
        }
        Running::Thread { thread } => thread.join().unwrap_or_else(|_| {
            Err(Error::new(
                ErrorKind::Io,
                NAME,
                "a sequence thread panicked",
            ))
        }),
        Running::Done(outcome) => Ok(outcome),
    }
}

fn is_finished(running: &Running) -> io::Result<bool> {
    Ok(match running {
        Running::Cmd { child, .. } => child.try_wait()?.is_some(),
        Running::Pipe { stages, .. } => {
            for s in stages {
                if !is_finished(s)? {
                    return Ok(false);
                }
            }
            true
        }
        Running::Thread { thread } => thread.is_finished(),
        Running::Done(_) => true,
    })
}

fn spawn_error(expr: &Expr, e: io::Error) -> Error {
    Error::io(NAME, "cannot set up the standard streams", e).with_command(quote::render(expr))
}

/// The streams of one pipeline stage: it reads `stdin` (replaced by the read end of the
/// pipe to the next stage) and writes into that pipe, or, last, into the pipeline's stdout.
fn stage_io(last: bool, stdin: &mut Stdio, io: &Io) -> io::Result<Io> {
    let (stdout, next) = if last {
        (io.stdout.try_clone()?, Stdio::Null)
    } else {
        let (r, w) = os_pipe::pipe()?;
        (Stdio::Fd(w.into()), Stdio::Fd(r.into()))
    };
    Ok(Io {
        stdin: std::mem::replace(stdin, next),
        stdout,
        stderr: io.stderr.try_clone()?,
    })
}

/// Where one of a command's three standard streams goes while its redirections are
/// worked out, left to right as a shell does.
enum Target {
    /// This process's own stream with that number.
    Parent(u8),
    Null,
    Fd(OwnedFd),
}

impl Target {
    fn from_stdio(stdio: Stdio, n: u8) -> Target {
        match stdio {
            Stdio::Inherit => Target::Parent(n),
            Stdio::Null => Target::Null,
            Stdio::Fd(fd) => Target::Fd(fd),
        }
    }

    fn try_clone(&self) -> io::Result<Target> {
        Ok(match self {
            Target::Parent(n) => Target::Parent(*n),
            Target::Null => Target::Null,
            Target::Fd(fd) => Target::Fd(fd.try_clone()?),
        })
    }

    /// The `std` stream for the child's descriptor `n`.
    fn into_std(self, n: u8) -> io::Result<process::Stdio> {
        Ok(match self {
            Target::Parent(p) if p == n => process::Stdio::inherit(),
            Target::Parent(0) => io::stdin().as_fd().try_clone_to_owned()?.into(),
            Target::Parent(1) => io::stdout().as_fd().try_clone_to_owned()?.into(),
            Target::Parent(_) => io::stderr().as_fd().try_clone_to_owned()?.into(),
            Target::Null => process::Stdio::null(),
            Target::Fd(fd) => fd.into(),
        })
    }
}

/// Starts one command with its redirections, environment and streams.
fn spawn_cmd(
    expr: &Expr,
    cmd: &Cmd,
    ctx: &Ctx,
    io: Io,
    late_dup: bool,
    shared: &Shared,
) -> Result<Arc<SharedChild>> {
    let command = || quote::render(expr);
    // `exec::launch` has validated the tree: a program, no NUL bytes, valid names.
    let Some((program, args)) = cmd.argv.split_first() else {
        unreachable!("validated: a command has a program");
    };

    let mut fds = [
        Target::from_stdio(io.stdin, 0),
        Target::from_stdio(io.stdout, 1),
        Target::from_stdio(io.stderr, 2),
    ];
    for r in &cmd.redirects {
        redirect(&mut fds, r, ctx).map_err(|err| err.with_command(command()))?;
    }
    let setup = |e: io::Error| {
        Error::io(NAME, "cannot set up the standard streams", e).with_command(command())
    };
    if late_dup {
        fds[2] = fds[1].try_clone().map_err(setup)?;
    }

    let mut c = Command::new(program);
    c.args(args);
    for (k, v) in &ctx.env {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    for (k, v) in &cmd.env {
        c.env(k, v);
    }
    if let Some(dir) = &ctx.dir {
        c.current_dir(dir);
    }
    let [stdin, stdout, stderr] = fds;
    c.stdin(stdin.into_std(0).map_err(setup)?);
    c.stdout(stdout.into_std(1).map_err(setup)?);
    c.stderr(stderr.into_std(2).map_err(setup)?);
    if shared.kill_tree {
        // Only when a kill may come: a process in its own group no longer gets the
        // terminal's Ctrl-C, and reading the terminal from a background group stops it.
        c.process_group(0);
    }
    shared.start(&mut c).map_err(|err| {
        let program = Path::new(program).display();
        let error = match err.kind() {
            io::ErrorKind::NotFound => {
                let message = match &ctx.dir {
                    Some(dir) if !dir.is_dir() => {
                        format!("directory `{}` not found", dir.display())
                    }
                    _ => format!("program `{program}` not found"),
                };
                Error::new(ErrorKind::NotFound, NAME, message)
            }
            io::ErrorKind::PermissionDenied => {
                Error::io(NAME, format!("program `{program}` cannot be executed"), err)
            }
            _ => Error::io(NAME, format!("cannot start `{program}`"), err),
        };
        error.with_command(command())
    })
}

/// Performs one redirection on the table of the child's streams.
fn redirect(fds: &mut [Target; 3], r: &Redirect, ctx: &Ctx) -> Result<()> {
    let open = |path: &OsStr, append: bool| -> Result<Target> {
        let path = ctx.resolve(Path::new(path));
        let mut opts = OpenOptions::new();
        opts.create(true).write(true);
        if append {
            opts.append(true);
        } else {
            opts.truncate(true);
        }
        let file = opts.open(&path).map_err(|err| {
            Error::io(
                NAME,
                format!("cannot open `{}` for writing", path.display()),
                err,
            )
        })?;
        Ok(Target::Fd(file.into()))
    };
    let dup = |t: &Target| {
        t.try_clone()
            .map_err(|e| Error::io(NAME, "cannot duplicate a stream", e))
    };
    match r {
        Redirect::Out { fd, append, path } => fds[usize::from(*fd).min(2)] = open(path, *append)?,
        Redirect::OutAll { append, path } => {
            fds[1] = open(path, *append)?;
            fds[2] = dup(&fds[1])?;
        }
        Redirect::In(path) => {
            let path = ctx.resolve(Path::new(path));
            let file = File::open(&path).map_err(|err| {
                Error::io(
                    NAME,
                    format!("cannot open `{}` for reading", path.display()),
                    err,
                )
            })?;
            fds[0] = Target::Fd(file.into());
        }
        Redirect::Here(bytes) => {
            let stdin = exec::feed(bytes.as_slice().into())
                .map_err(|e| Error::io(NAME, "cannot create a pipe", e))?;
            fds[0] = Target::from_stdio(stdin, 0);
        }
        Redirect::Dup { from, to } => {
            let copy = dup(&fds[usize::from(*to).min(2)])?;
            fds[usize::from(*from).min(2)] = copy;
        }
    }
    Ok(())
}

struct LocalProcess {
    shared: Arc<Shared>,
    state: Mutex<State>,
}

/// Running until waited for, then done; `try_wait` and `wait` both leave the outcome here.
enum State {
    Running(Running),
    Done(Outcome),
    Failed,
}

impl Process for LocalProcess {
    fn wait(&self) -> Result<Outcome> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match std::mem::replace(&mut *state, State::Failed) {
            State::Running(r) => {
                let outcome = wait_running(r, &self.shared)?;
                *state = State::Done(outcome.clone());
                Ok(outcome)
            }
            State::Done(o) => {
                *state = State::Done(o.clone());
                Ok(o)
            }
            State::Failed => Err(Error::new(
                ErrorKind::Io,
                NAME,
                "waiting for the process failed before",
            )),
        }
    }

    fn try_wait(&self) -> Result<Option<Outcome>> {
        let finished = match &*self.state.lock().unwrap_or_else(PoisonError::into_inner) {
            State::Running(r) => {
                is_finished(r).map_err(|e| Error::io(NAME, "cannot poll the process", e))?
            }
            State::Done(_) | State::Failed => true,
        };
        if finished {
            self.wait().map(Some)
        } else {
            Ok(None)
        }
    }

    fn kill(&self) -> Result<()> {
        self.shared.kill();
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Files.

fn fs_error(what: &str, path: &Path, err: io::Error) -> Error {
    Error::io(NAME, format!("cannot {what} `{}`", path.display()), err)
}

impl Fs for LocalMachine {
    fn read(&self, path: &Path) -> Result<Vec<u8>> {
        let path = self.ctx.resolve(path);
        fs::read(&path).map_err(|e| fs_error("read", &path, e))
    }

    fn write(&self, path: &Path, data: &[u8]) -> Result<()> {
        let path = self.ctx.resolve(path);
        fs::write(&path, data).map_err(|e| fs_error("write", &path, e))
    }

    fn metadata(&self, path: &Path, follow: bool) -> Result<Metadata> {
        let path = self.ctx.resolve(path);
        let m = if follow {
            fs::metadata(&path)
        } else {
            fs::symlink_metadata(&path)
        };
        let m = m.map_err(|e| fs_error("stat", &path, e))?;
        let ft = m.file_type();
        Ok(Metadata {
            len: m.len(),
            mode: m.mode(),
            modified: m.modified().ok(),
            file_type: if ft.is_symlink() {
                FileType::Symlink
            } else if ft.is_dir() {
                FileType::Dir
            } else if ft.is_file() {
                FileType::File
            } else {
                FileType::Other
            },
        })
    }

    fn read_dir(&self, path: &Path) -> Result<Vec<OsString>> {
        let path = self.ctx.resolve(path);
        let entries = fs::read_dir(&path).map_err(|e| fs_error("list", &path, e))?;
        let mut names = entries
            .map(|e| e.map(|e| e.file_name()))
            .collect::<io::Result<Vec<_>>>()
            .map_err(|e| fs_error("list", &path, e))?;
        names.sort();
        Ok(names)
    }

    fn create_dir_all(&self, path: &Path) -> Result<()> {
        let path = self.ctx.resolve(path);
        fs::create_dir_all(&path).map_err(|e| fs_error("create", &path, e))
    }

    fn remove(&self, path: &Path) -> Result<()> {
        let path = self.ctx.resolve(path);
        let m = fs::symlink_metadata(&path).map_err(|e| fs_error("remove", &path, e))?;
        let result = if m.is_dir() {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
        result.map_err(|e| fs_error("remove", &path, e))
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        let (from, to) = (self.ctx.resolve(from), self.ctx.resolve(to));
        fs::rename(&from, &to).map_err(|e| fs_error("rename", &from, e))
    }
}

/// Copies a file or a directory tree; `to` is the destination itself.
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    let m = fs::symlink_metadata(from).map_err(|e| fs_error("copy", from, e))?;
    if m.is_dir() {
        fs::create_dir_all(to).map_err(|e| fs_error("create", to, e))?;
        let entries = fs::read_dir(from).map_err(|e| fs_error("list", from, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| fs_error("list", from, e))?;
            copy_tree(&entry.path(), &to.join(entry.file_name()))?;
        }
        fs::set_permissions(to, m.permissions()).map_err(|e| fs_error("set permissions of", to, e))
    } else if m.file_type().is_symlink() {
        let target = fs::read_link(from).map_err(|e| fs_error("read link", from, e))?;
        let _ = fs::remove_file(to);
        std::os::unix::fs::symlink(target, to).map_err(|e| fs_error("create link", to, e))
    } else {
        fs::copy(from, to)
            .map(drop)
            .map_err(|e| fs_error("copy", from, e))
    }
}

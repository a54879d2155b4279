//! Running a tree here: a command is a process, a pipeline one process per stage joined by
//! kernel pipes (so every stage's status is known), a sequence its items in order on a
//! thread of its own.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};

use shared_child::SharedChild;

use super::builtin::BuiltinRun;
use super::spawn::{spawn_cmd, Spawned};
use super::words::{self, Expanded};
use super::{os, Ctx, Shared, NAME};
use crate::error::{Error, ErrorKind};
use crate::model::expr::{Expr, Node, SeqOp};
use crate::model::job::{Outcome, Process, Stdio};
use crate::model::word::Word;
use crate::output::ExitStatus;
use crate::render::quote;
use crate::Result;

/// The standard streams of one node.
pub(super) struct Io {
    pub(super) stdin: Stdio,
    pub(super) stdout: Stdio,
    pub(super) stderr: Stdio,
}

impl Io {
    pub(super) fn try_clone(&self) -> io::Result<Io> {
        Ok(Io {
            stdin: self.stdin.try_clone()?,
            stdout: self.stdout.try_clone()?,
            stderr: self.stderr.try_clone()?,
        })
    }
}

pub(super) enum Running {
    Cmd { expr: Expr, child: Arc<SharedChild> },
    Builtin { expr: Expr, run: Arc<BuiltinRun> },
    Pipe { expr: Expr, stages: Vec<Running> },
    Thread { thread: JoinHandle<Result<Outcome>> },
    Done(Outcome),
}

pub(super) fn start_node(
    expr: &Expr,
    ctx: &Ctx,
    mut io: Io,
    late_dup: bool,
    shared: &Arc<Shared>,
) -> Result<Running> {
    let ctx = ctx.enter(expr);
    if let Some(bytes) = &expr.opts().stdin {
        io.stdin = Stdio::feed(bytes.clone()).map_err(|e| spawn_error(expr, e))?;
    }
    let node_dup = late_dup || expr.opts().stderr_to_stdout;
    match expr.node() {
        Node::Cmd(cmd) => {
            let cmd = match words::expand_cmd(cmd, &ctx, &io, shared)? {
                Expanded::Ready(cmd) => cmd,
                Expanded::Failed(outcome) => return Ok(Running::Done(failed(expr, outcome))),
            };
            let expr = expr.clone();
            Ok(match spawn_cmd(&expr, &cmd, &ctx, io, node_dup, shared)? {
                Spawned::Child(child) => Running::Cmd { expr, child },
                Spawned::Builtin(run) => Running::Builtin { expr, run },
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
                        abandon(started, shared);
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
            Ok(Running::Done(cd(expr, dir, &mut ctx, &io, shared)?))
        }
        Node::Block { .. } => {
            if node_dup {
                io.stderr = io.stdout.try_clone().map_err(|e| spawn_error(expr, e))?;
            }
            let (expr, shared) = (expr.clone(), shared.clone());
            let thread = thread::Builder::new()
                .name("plumb-block".into())
                .spawn(move || run_block(&expr, &mut ctx.clone(), &io, &shared))
                .map_err(|e| Error::io(NAME, "cannot start a thread", e))?;
            Ok(Running::Thread { thread })
        }
    }
}

/// A command whose substitution failed: it fails as that substitution did, naming it.
fn failed(expr: &Expr, sub: Outcome) -> Outcome {
    Outcome {
        accepted: false,
        stage: sub.stage.or_else(|| Some(quote::render(expr))),
        ..sub
    }
}

/// `{ ...; }` or `( ... )`: the body with the block's redirections, in `ctx` (a group's
/// `cd` and variables go on after it; a subshell's end with it).
fn run_block(expr: &Expr, ctx: &mut Ctx, io: &Io, shared: &Arc<Shared>) -> Result<Outcome> {
    let Node::Block {
        body,
        subshell,
        redirects,
    } = expr.node()
    else {
        return start_node(
            expr,
            ctx,
            io.try_clone().map_err(|e| spawn_error(expr, e))?,
            false,
            shared,
        )
        .and_then(|r| wait_running(r, shared));
    };
    let block_io = match super::spawn::redirected(
        io.try_clone().map_err(|e| spawn_error(expr, e))?,
        redirects,
        ctx,
    ) {
        Ok(block_io) => block_io,
        Err(e) => return Ok(not_started(expr, &e, io)),
    };
    let items = match body.node() {
        Node::Seq(items) if body.opts().is_plain() => items.clone(),
        _ => vec![(SeqOp::Then, body.clone())],
    };
    let mut inner = if *subshell {
        ctx.clone()
    } else {
        ctx.enter(body)
    };
    let last = run_items(&items, &mut inner, &block_io, shared)?;
    if !*subshell {
        *ctx = inner;
    }
    let outcome = Outcome::sequence(last, body.opts());
    Ok(Outcome {
        accepted: expr.opts().judge(&outcome.status, outcome.accepted),
        ..outcome
    })
}

fn run_seq(
    expr: &Expr,
    items: &[(SeqOp, Expr)],
    mut ctx: Ctx,
    io: Io,
    shared: &Arc<Shared>,
) -> Result<Outcome> {
    let last = run_items(items, &mut ctx, &io, shared)?;
    Ok(Outcome::sequence(last, expr.opts()))
}

/// A sequence's items in `ctx`, which a `cd` (or a group's) changes for those after it;
/// the outcome of the last one that ran.
fn run_items(
    items: &[(SeqOp, Expr)],
    ctx: &mut Ctx,
    io: &Io,
    shared: &Arc<Shared>,
) -> Result<Option<Outcome>> {
    let mut last: Option<Outcome> = None;
    for (op, item) in items {
        if !Outcome::runs_next(last.as_ref(), *op) {
            continue;
        }
        if shared.killed() {
            return Ok(Some(killed()));
        }
        let outcome = match item.node() {
            Node::Cd(dir) => cd(item, dir, ctx, io, shared)?,
            Node::Block {
                subshell: false, ..
            } => {
                let mut inner = ctx.enter(item);
                let outcome = run_block(item, &mut inner, io, shared)?;
                ctx.dir = inner.dir;
                outcome
            }
            _ => {
                let item_io = io.try_clone().map_err(|e| spawn_error(item, e))?;
                match start_node(item, ctx, item_io, false, shared) {
                    // `exit` ends the list it is in, as it ends a shell's script.
                    Ok(running) if is_exit(&running) => {
                        return wait_running(running, shared).map(Some);
                    }
                    Ok(running) => wait_running(running, shared)?,
                    Err(_) if shared.killed() => return Ok(Some(killed())),
                    Err(e) => not_started(item, &e, io),
                }
            }
        };
        last = Some(outcome);
    }
    Ok(last)
}

/// The stages of a pipeline that could not start in full: their processes are killed
/// (with their trees) and reaped. A builtin or a sequence among them is left to end as
/// its pipes close (the stage after it never started): stopping them would stop the
/// whole job, and a pipeline that cannot start is a failure of its own, which a sequence
/// goes on from (`a | missing || fallback`).
fn abandon(started: Vec<Running>, shared: &Shared) {
    for r in started {
        match r {
            Running::Cmd { child, .. } => {
                shared.kill_one(&child);
                let _ = child.wait();
                shared.reaped(&child);
            }
            Running::Pipe { stages, .. } => abandon(stages, shared),
            Running::Builtin { .. } | Running::Thread { .. } | Running::Done(_) => {}
        }
    }
}

fn is_exit(running: &Running) -> bool {
    matches!(running, Running::Builtin { run, .. } if run.name == "exit")
}

fn killed() -> Outcome {
    Outcome {
        status: ExitStatus::from_signal(crate::sys::SIGKILL),
        stage: None,
        accepted: false,
        machine: None,
    }
}

/// `cd dir`: a status like the shell's, and the directory for what follows. A word that
/// expands must give exactly one directory.
fn cd(expr: &Expr, dir: &Word, ctx: &mut Ctx, io: &Io, shared: &Arc<Shared>) -> Result<Outcome> {
    let dirs = match words::fields(dir, ctx, io, shared)? {
        Expanded::Ready(dirs) => dirs,
        Expanded::Failed(outcome) => return Ok(failed(expr, outcome)),
    };
    let ok = match dirs.as_slice() {
        [dir] => {
            let target = ctx.resolve(Path::new(dir));
            let ok = target.is_dir();
            if ok {
                ctx.dir = Some(target);
            } else {
                let dir = Path::new(dir).display();
                write_stderr(io, &format!("cd: {dir}: No such file or directory\n"));
            }
            ok
        }
        _ => {
            write_stderr(io, &format!("cd: {} directories match\n", dirs.len()));
            false
        }
    };
    let status = ExitStatus::from_code(if ok { 0 } else { 1 });
    Ok(Outcome {
        accepted: expr.opts().judge(&status, ok),
        status,
        stage: Some(quote::render(expr)),
        machine: None,
    })
}

/// An item of a sequence that could not start fails as it would in a shell, and the
/// sequence goes on (`nosuch || echo fallback`): code 127 for a missing program, 126 for
/// one that cannot run, 1 for a redirection; the reason goes to the item's stderr.
fn not_started(item: &Expr, e: &Error, io: &Io) -> Outcome {
    write_stderr(io, &format!("{e}\n"));
    let code = match e.kind() {
        ErrorKind::NotFound if e.to_string().contains("program") => 127,
        _ if e.to_string().contains("cannot be executed") => 126,
        _ => 1,
    };
    let status = ExitStatus::from_code(code);
    Outcome {
        accepted: item.opts().judge(&status, false),
        status,
        stage: Some(quote::render(item)),
        machine: None,
    }
}

fn write_stderr(io: &Io, msg: &str) {
    let _ = match &io.stderr {
        Stdio::Inherit => io::stderr().write_all(msg.as_bytes()),
        Stdio::Null => Ok(()),
        Stdio::Fd(fd) => fd
            .try_clone()
            .and_then(|fd| File::from(fd).write_all(msg.as_bytes())),
    };
}

pub(super) fn wait_running(running: Running, shared: &Shared) -> Result<Outcome> {
    match running {
        Running::Cmd { expr, child } => {
            let result = child.wait().map(|s| os::status(s, shared.killed()));
            shared.reaped(&child);
            let status = result.map_err(|e| {
                Error::io(NAME, "waiting for the command failed", e)
                    .with_command(quote::render(&expr))
            })?;
            Ok(command_outcome(&expr, status))
        }
        Running::Builtin { expr, run } => Ok(command_outcome(&expr, run.wait(shared))),
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

fn command_outcome(expr: &Expr, status: ExitStatus) -> Outcome {
    Outcome {
        accepted: expr.opts().judge(&status, status.success()),
        status,
        stage: Some(quote::render(expr)),
        machine: None,
    }
}

fn is_finished(running: &Running) -> io::Result<bool> {
    Ok(match running {
        Running::Cmd { child, .. } => child.try_wait()?.is_some(),
        Running::Builtin { run, .. } => run.is_finished(),
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

pub(super) struct LocalProcess {
    pub(super) shared: Arc<Shared>,
    pub(super) state: Mutex<State>,
    /// Kept (the file exists) until the job is dropped.
    pub(super) _askpass: Option<Arc<super::sudo::AskpassFile>>,
}

/// Running until waited for, then done; `try_wait` and `wait` both leave the outcome here.
pub(super) enum State {
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

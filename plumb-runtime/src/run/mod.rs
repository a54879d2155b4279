//! Running an `Expr`: above the machine seam and the same for every machine.
//!
//! Here live the standard streams of each terminal call (captured, inherited, teed,
//! handed to the caller: [`capture`], [`handle`]), timeouts ([`timer`]), the final check and
//! the error it makes, `echo`, tracing, and pipelines whose stages run on different machines
//! ([`cross`]).

mod calls;
mod capture;
mod cross;
mod handle;
#[cfg(feature = "tokio")]
mod streams;
#[cfg(feature = "tokio")]
mod tasks;
mod timer;

use std::io::{self, BufReader};
use std::sync::Arc;
use std::time::{Duration, Instant};

use self::capture::{collect, Sink};
use self::timer::Timer;
use crate::error::{Error, ErrorKind};
use crate::machine::Machine;
use crate::model::expr::Expr;
use crate::model::job::{Job, Outcome, Process, Stdio};
use crate::model::sudo::{self, uses_sudo};
use crate::model::validate::validate;
use crate::output::{ExitStatus, Output};
use crate::render::quote;
use crate::Result;

pub use self::handle::{ChildStdin, ChildStdout, Handle, Lines};
#[cfg(feature = "tokio")]
pub use self::streams::{AsyncChildStdin, AsyncChildStdout, AsyncHandle, AsyncLines};
#[cfg(feature = "tokio")]
pub(crate) use self::tasks::off_runtime;
#[cfg(feature = "tokio")]
pub use self::tasks::route_through_async;

#[derive(Clone, Copy, PartialEq)]
enum In {
    Inherit,
    Null,
    Pipe,
}

#[derive(Clone, Copy, PartialEq)]
enum Out {
    Inherit,
    Capture,
    Tee,
    Pipe,
    /// This process's stdout through a pipe it copies (see [`capture::Sink::Relay`]).
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    Relay,
}

/// A started expression and everything needed to finish it.
pub(crate) struct Started {
    command: String,
    machine: String,
    process: Arc<dyn Process>,
    stdout: Option<Sink>,
    stderr: Option<Sink>,
    timer: Option<Timer>,
    /// The shortest timeout of the tree ([`timeout_of`]), if any.
    timeout: Option<Duration>,
    began: Instant,
    finished: bool,
    /// Whether a failure may be sudo's own (see [`sudo::failure_kind`]).
    sudo: bool,
}

/// The streams handed back to the caller.
struct Streams {
    stdin: Option<os_pipe::PipeWriter>,
    stdout: Option<os_pipe::PipeReader>,
}

/// The job's three streams, and what the caller keeps of them.
struct Wiring {
    job: [Stdio; 3],
    caller: Streams,
    stdout: Option<Sink>,
    stderr: Option<Sink>,
}

/// The machine an expression not bound with `.on` runs on: the local one, which the
/// crate root provides (run knows no backend).
fn default_machine() -> Arc<dyn Machine> {
    crate::default_machine()
}

/// The shortest timeout anywhere in the tree bounds the whole run.
fn timeout_of(expr: &Expr) -> Option<Duration> {
    let own = expr.opts().timeout;
    let inner = expr.children().into_iter().filter_map(timeout_of).min();
    own.into_iter().chain(inner).min()
}

fn launch(expr: &Expr, stdin: In, stdout: Out, stderr: Out) -> Result<(Started, Streams)> {
    launch_with(expr, stdin, stdout, stderr, Waiting::Blocked)
}

/// How the caller waits for what it launches.
#[derive(Clone, Copy, PartialEq)]
enum Waiting {
    /// On this thread: a timeout needs a timer thread.
    Blocked,
    /// Awaited: the runtime's timer; and the future may be dropped any time, which kills
    /// the command, so a kill must be able to reach its whole tree.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    Awaited,
}

/// What [`launch`] does, for a caller that waits as `waiting` says.
fn launch_with(
    expr: &Expr,
    stdin: In,
    stdout: Out,
    stderr: Out,
    waiting: Waiting,
) -> Result<(Started, Streams)> {
    let machine = expr.opts().machine.clone().unwrap_or_else(default_machine);
    let command = quote::render(expr);
    let setup = |e: io::Error| {
        Error::io(machine.name(), "cannot set up the standard streams", e)
            .with_command(command.clone())
    };
    if let Err(msg) = validate(expr) {
        return Err(Error::new(ErrorKind::InvalidInput, machine.name(), msg).with_command(command));
    }
    let timeout = timeout_of(expr);
    if expr.opts().echo {
        match machine.name() {
            "local" => eprintln!("$ {command}"),
            name => eprintln!("{name}$ {command}"),
        }
    }
    let streamed = stdout == Out::Pipe || stdin == In::Pipe;
    let wiring = wire(stdin, stdout, stderr, waiting).map_err(setup)?;
    // A kill has to reach whole process trees only when one can come.
    let guarded = timeout.is_some() || stdout == Out::Pipe;
    let kill_tree = guarded || waiting == Waiting::Awaited;
    let tree = Tree {
        kill: kill_tree,
        guarded,
        streamed,
        awaited: waiting == Waiting::Awaited,
    };
    let process = start(expr, &machine, wiring.job, tree, &command)?;
    let timer = match timeout {
        Some(after) if waiting == Waiting::Blocked => {
            Some(Timer::start(process.clone(), after).map_err(setup)?)
        }
        _ => None,
    };
    let started = Started {
        command,
        machine: machine.name().to_string(),
        process,
        stdout: wiring.stdout,
        stderr: wiring.stderr,
        timer,
        timeout,
        began: Instant::now(),
        finished: false,
        sudo: uses_sudo(expr),
    };
    Ok((started, wiring.caller))
}

/// The pipes between the job and the caller for one kind of call.
fn wire(stdin: In, stdout: Out, stderr: Out, waiting: Waiting) -> io::Result<Wiring> {
    let mut caller = Streams {
        stdin: None,
        stdout: None,
    };
    let job_stdin = match stdin {
        In::Inherit => Stdio::Inherit,
        In::Null => Stdio::Null,
        In::Pipe => {
            let (r, w) = os_pipe::pipe()?;
            caller.stdin = Some(w);
            Stdio::Fd(r.into())
        }
    };
    let mut out_capture = None;
    let job_stdout = match stdout {
        Out::Inherit => Stdio::Inherit,
        Out::Capture | Out::Tee | Out::Pipe | Out::Relay => {
            let (r, w) = os_pipe::pipe()?;
            match stdout {
                Out::Pipe => caller.stdout = Some(r),
                Out::Relay => out_capture = Some(Sink::Relay(r)),
                _ => out_capture = Some(Sink::inline(r, stdout == Out::Tee)),
            }
            Stdio::Fd(w.into())
        }
    };
    let mut err_capture = None;
    let job_stderr = match stderr {
        Out::Inherit => Stdio::Inherit,
        Out::Pipe | Out::Capture | Out::Tee | Out::Relay => {
            let (r, w) = os_pipe::pipe()?;
            // When the caller reads stdout itself, stderr needs a reader of its own: a
            // thread, or, awaited, a task of the runtime.
            err_capture = Some(if stdout == Out::Pipe && waiting == Waiting::Blocked {
                Sink::thread(r)?
            } else {
                Sink::inline(r, stderr == Out::Tee)
            });
            Stdio::Fd(w.into())
        }
    };
    Ok(Wiring {
        job: [job_stdin, job_stdout, job_stderr],
        caller,
        stdout: out_capture,
        stderr: err_capture,
    })
}

/// How a job's processes may be ended (see [`Job`]'s fields of the same names).
#[derive(Clone, Copy)]
pub(crate) struct Tree {
    pub(crate) kill: bool,
    pub(crate) guarded: bool,
    pub(crate) streamed: bool,
    pub(crate) awaited: bool,
}

/// Starts the job on its machine, or as a group of jobs when its stages are bound to
/// different machines.
fn start(
    expr: &Expr,
    machine: &Arc<dyn Machine>,
    [stdin, stdout, stderr]: [Stdio; 3],
    tree: Tree,
    command: &str,
) -> Result<Arc<dyn Process>> {
    if let Some(segments) = cross::segments(expr, machine) {
        let group = cross::Group::start(expr, segments, [stdin, stdout, stderr], tree)?;
        return Ok(Arc::new(group));
    }
    let job = Job {
        expr: expr.clone(),
        stdin,
        stdout,
        stderr,
        kill_tree: tree.kill,
        guarded: tree.guarded,
        streamed: tree.streamed,
        awaited: tree.awaited,
    };
    match machine.start(job) {
        Ok(p) => Ok(Arc::from(p)),
        Err(e) if e.has_command() => Err(e),
        Err(e) => Err(e.with_command(command)),
    }
}

/// How a finished expression ended, with what it wrote.
struct Finished {
    outcome: Outcome,
    stdout: Vec<u8>,
    stderr: Option<Vec<u8>>,
    timed_out: Option<Duration>,
}

impl Finished {
    fn into_output(self) -> Output {
        Output {
            status: self.outcome.status,
            stdout: self.stdout,
            stderr: self.stderr.unwrap_or_default(),
        }
    }
}

impl Started {
    fn finish(&mut self) -> Result<Finished> {
        self.finished = true;
        let [stdout, stderr] = collect([self.stdout.take(), self.stderr.take()]);
        let waited = self.process.wait();
        let fired = self.timer.take().is_some_and(Timer::stop);
        let timed_out = self.timeout.filter(|_| fired);
        let stdout = stdout.unwrap_or_default();
        let outcome = waited?;
        self.trace(&outcome);
        Ok(Finished {
            outcome,
            stdout,
            stderr,
            timed_out,
        })
    }

    fn trace(&self, outcome: &Outcome) {
        tracing::debug!(
            target: "plumb",
            machine = %self.machine,
            command = %self.command,
            code = ?outcome.status.code(),
            signal = ?outcome.status.signal(),
            elapsed = ?self.began.elapsed(),
            "command finished"
        );
    }

    /// The error for a finished expression that failed, if it did.
    fn check(&self, f: Finished, captured_stdout: bool) -> Result<Finished> {
        if f.timed_out.is_none() && f.outcome.accepted {
            return Ok(f);
        }
        let machine = f
            .outcome
            .machine
            .clone()
            .unwrap_or_else(|| self.machine.clone());
        // Moved, not copied: the output can be large.
        let stdout = captured_stdout.then_some(f.stdout);
        let error = match f.timed_out {
            Some(after) => Error::timed_out(&machine, after),
            None => {
                let sudo_said = match (self.sudo, f.outcome.status.code(), &f.stderr) {
                    (true, Some(1), Some(stderr)) => sudo::failure_kind(stderr),
                    _ => None,
                };
                let kind = match (sudo_said, f.outcome.status.code()) {
                    (Some(kind), _) => kind,
                    // A shell's "command not found".
                    (None, Some(127)) => ErrorKind::NotFound,
                    _ => ErrorKind::Exit,
                };
                Error::exit(&machine, f.outcome.status, kind)
            }
        };
        // A timeout bounds the whole run and ends every stage: naming the one that happens
        // to decide the status would blame it alone.
        let stage = f.outcome.stage.filter(|_| f.timed_out.is_none());
        Err(error
            .with_command(self.command.clone())
            .with_stage(stage)
            .with_output(stdout, f.stderr))
    }

    /// Ends the process if the caller walked away from it.
    fn abandon(&mut self) {
        if !self.finished {
            let _ = self.process.kill();
            let _ = self.finish();
        }
    }
}

fn stdin_mode(expr: &Expr, default: In) -> In {
    // The machine feeds `stdin_bytes`; the job's own stdin is then never read.
    if expr.opts().stdin.is_some() {
        In::Null
    } else {
        default
    }
}

/// `call` on `expr`, and again while it fails, as `expr`'s [`retry`](Expr::retry) says.
pub(crate) fn retried<T>(expr: &Expr, call: fn(&Expr) -> Result<T>) -> Result<T> {
    let mut retries = Retries::of(expr);
    loop {
        match call(expr) {
            Err(e) => match retries.pause_after(&e) {
                Some(pause) => std::thread::sleep(pause),
                None => return Err(e),
            },
            ok => return ok,
        }
    }
}

/// What an expression's [`retry`](Expr::retry) allows, attempt by attempt: for the
/// blocking calls and their async twins alike.
struct Retries {
    times: u32,
    attempt: u32,
    pause: Duration,
}

impl Retries {
    fn of(expr: &Expr) -> Retries {
        let (times, pause) = expr.opts().retry.unwrap_or((0, Duration::ZERO));
        Retries {
            times,
            attempt: 0,
            pause,
        }
    }

    /// The pause before the next attempt after `e`; `None` when no attempt is left or
    /// none can help (an input that can never run). Each retry is a `tracing` event, and
    /// each pause doubles the one before.
    fn pause_after(&mut self, e: &Error) -> Option<Duration> {
        if self.attempt >= self.times || e.kind() == ErrorKind::InvalidInput {
            return None;
        }
        self.attempt += 1;
        let pause = self.pause;
        tracing::info!(target: "plumb", attempt = self.attempt, ?pause, error = %e, "retrying");
        self.pause = pause.saturating_mul(2);
        Some(pause)
    }
}

pub(crate) fn run(expr: &Expr) -> Result<()> {
    let (mut started, _) = launch(expr, stdin_mode(expr, In::Inherit), Out::Inherit, Out::Tee)?;
    let f = started.finish()?;
    started.check(f, false).map(drop)
}

pub(crate) fn status(expr: &Expr) -> Result<ExitStatus> {
    let (mut started, _) = launch(expr, stdin_mode(expr, In::Inherit), Out::Inherit, Out::Tee)?;
    let f = started.finish()?;
    started.status_of(f)
}

pub(crate) fn output(expr: &Expr) -> Result<Output> {
    let (mut started, _) = launch(expr, stdin_mode(expr, In::Null), Out::Capture, Out::Capture)?;
    let f = started.finish()?;
    started.output_of(f)
}

impl Started {
    /// What [`status`] returns of a finished expression: any status but a timeout's.
    fn status_of(&self, f: Finished) -> Result<ExitStatus> {
        if let Some(after) = f.timed_out {
            return Err(Error::timed_out(&self.machine, after)
                .with_command(self.command.clone())
                .with_output(None, f.stderr));
        }
        Ok(f.outcome.status)
    }

    /// What [`output`] returns of a finished expression.
    fn output_of(&self, f: Finished) -> Result<Output> {
        Ok(self.check(f, true)?.into_output())
    }
}

pub(crate) fn read(expr: &Expr) -> Result<String> {
    text(expr, output(expr)?)
}

/// What [`read`] returns of an expression's output: its stdout as text, trailing newlines
/// trimmed.
fn text(expr: &Expr, out: Output) -> Result<String> {
    let text = String::from_utf8(out.stdout).map_err(|e| {
        Error::new(
            ErrorKind::Utf8,
            expr.opts().machine.as_ref().map_or("local", |m| m.name()),
            format!(
                "the output is not valid UTF-8 ({}); use `read_bytes`",
                e.utf8_error()
            ),
        )
        .with_command(quote::render(expr))
    })?;
    Ok(text.trim_end_matches(['\n', '\r']).to_string())
}

pub(crate) fn lines(expr: &Expr) -> Result<Lines> {
    let (started, streams) = launch(expr, stdin_mode(expr, In::Null), Out::Pipe, Out::Capture)?;
    Ok(Lines {
        reader: streams.stdout.map(BufReader::new),
        started,
        done: false,
    })
}

/// Starts `expr` detached on its machine (see [`Expr::spawn_detached`]); its pid.
pub(crate) fn spawn_detached(expr: &Expr) -> Result<u32> {
    let machine = expr.opts().machine.clone().unwrap_or_else(default_machine);
    let command = quote::render(expr);
    if let Some(msg) = detachable(expr).err().or_else(|| validate(expr).err()) {
        return Err(Error::new(ErrorKind::InvalidInput, machine.name(), msg).with_command(command));
    }
    if expr.opts().echo {
        eprintln!("$ {command} &");
    }
    machine.start_detached(expr).map_err(|e| {
        if e.has_command() {
            e
        } else {
            e.with_command(command)
        }
    })
}

/// A detached command runs on one machine, unwatched: nothing may bind part of it
/// elsewhere, give it stdin to feed, or expect a timeout to end it.
fn detachable(expr: &Expr) -> std::result::Result<(), String> {
    if cross::segments(
        expr,
        &expr.opts().machine.clone().unwrap_or_else(default_machine),
    )
    .is_some()
    {
        return Err("a detached command runs on one machine".into());
    }
    if timeout_of(expr).is_some() {
        return Err("a detached command has no timeout: plumb no longer watches it".into());
    }
    Ok(())
}

pub(crate) fn spawn(expr: &Expr) -> Result<Handle> {
    let (started, streams) = launch(expr, stdin_mode(expr, In::Pipe), Out::Pipe, Out::Capture)?;
    Ok(Handle {
        started,
        stdin: streams.stdin.map(ChildStdin),
        stdout: streams.stdout.map(ChildStdout),
        result: None,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata, Subscriber};

    /// Records the fields of every event.
    struct Recorder(Arc<Mutex<Vec<String>>>);

    struct Fields<'a>(&'a mut String);

    impl Visit for Fields<'_> {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0.push_str(&format!("{}={:?} ", field.name(), value));
        }
    }

    impl Subscriber for Recorder {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            let mut line = String::new();
            event.record(&mut Fields(&mut line));
            self.0.lock().unwrap().push(line);
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    #[test]
    fn every_command_emits_a_tracing_event() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        tracing::subscriber::with_default(Recorder(seen.clone()), || {
            crate::cmd("sh", ["-c", "exit 3"])
                .unchecked()
                .run()
                .unwrap();
        });
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1, "{seen:?}");
        let e = &seen[0];
        assert!(e.contains("machine=local"), "{e}");
        assert!(e.contains("command=sh -c 'exit 3'"), "{e}");
        assert!(e.contains("code=Some(3)"), "{e}");
        assert!(e.contains("elapsed="), "{e}");
    }
}

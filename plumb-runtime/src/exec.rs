//! Running an `Expr`: above the machine seam and the same for every machine.
//!
//! Here live the standard streams of each terminal call (captured, inherited, teed,
//! handed to the caller), timeouts, the final check and the error it makes, `echo`, tracing,
//! and pipelines whose stages run on different machines.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind};
use crate::expr::{Expr, Node, Opts};
use crate::machine::local::LocalMachine;
use crate::machine::{Job, Machine, Outcome, Process, Stdio};
use crate::output::{ExitStatus, Output};
use crate::{quote, Result};

/// How much of stderr `run` keeps for its error while passing it through.
const TEE_TAIL: usize = 64 * 1024;

/// Feeds `bytes` to a new pipe from a thread and returns its read end.
pub(crate) fn feed(bytes: Arc<[u8]>) -> io::Result<Stdio> {
    let (r, mut w) = os_pipe::pipe()?;
    thread::Builder::new()
        .name("plumb-stdin".into())
        .spawn(move || {
            // A reader that stops early (`head`) closes the pipe: not an error.
            let _ = w.write_all(&bytes);
        })?;
    Ok(Stdio::Fd(r.into()))
}

/// Keeps the last `TEE_TAIL` bytes of what it is given, with amortised trimming.
fn keep_tail(tail: &mut Vec<u8>, chunk: &[u8]) {
    tail.extend_from_slice(chunk);
    if tail.len() > 2 * TEE_TAIL {
        tail.drain(..tail.len() - TEE_TAIL);
    }
}

fn trim_tail(mut tail: Vec<u8>) -> Vec<u8> {
    if tail.len() > TEE_TAIL {
        tail.drain(..tail.len() - TEE_TAIL);
    }
    tail
}

fn set_nonblocking(fd: std::os::fd::RawFd) {
    // SAFETY: fcntl on a descriptor we own; no memory is involved.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
    }
}

/// Reads what `fd` has straight into `buf`'s spare capacity (growing it by doubling), with
/// no intermediate copy: capturing a large output costs no more than `std`'s `output()`.
fn read_into(fd: std::os::fd::RawFd, buf: &mut Vec<u8>) -> io::Result<usize> {
    if buf.capacity() - buf.len() < 64 * 1024 {
        buf.reserve(buf.len().max(256 * 1024));
    }
    let len = buf.len();
    let spare = buf.capacity() - len;
    // SAFETY: the pointer and length describe `buf`'s allocated, unused capacity; read(2)
    // writes at most `spare` bytes there, and `set_len` only covers bytes it wrote.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().add(len).cast(), spare) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    unsafe { buf.set_len(len + n as usize) };
    Ok(n as usize)
}

/// An output stream of a running command that the caller collects.
enum Sink {
    /// Read by the thread that finishes the command (no thread of its own: a thread per
    /// stream costs as much as 5% of spawning a small command).
    Inline {
        reader: os_pipe::PipeReader,
        tee: bool,
    },
    /// Drained by a thread, for calls that return before the command ends.
    Thread(JoinHandle<Vec<u8>>),
}

impl Sink {
    fn inline(reader: os_pipe::PipeReader, tee: bool) -> Sink {
        Sink::Inline { reader, tee }
    }

    fn thread(mut reader: os_pipe::PipeReader) -> io::Result<Sink> {
        let t = thread::Builder::new()
            .name("plumb-capture".into())
            .spawn(move || {
                let mut buf = Vec::new();
                let _ = reader.read_to_end(&mut buf);
                buf
            })?;
        Ok(Sink::Thread(t))
    }
}

/// Collects `sinks` to their ends. Inline ones are read here, several at once with
/// `poll(2)` so that a full pipe on one never blocks the other; a teed one is also copied to
/// this process's stderr and only its tail kept.
fn collect(sinks: [Option<Sink>; 2]) -> [Option<Vec<u8>>; 2] {
    let mut out: [Option<Vec<u8>>; 2] = [None, None];
    let mut open: Vec<(usize, os_pipe::PipeReader, bool)> = Vec::new();
    let mut threads = Vec::new();
    for (i, sink) in sinks.into_iter().enumerate() {
        match sink {
            None => {}
            Some(Sink::Inline { reader, tee }) => {
                out[i] = Some(Vec::new());
                open.push((i, reader, tee));
            }
            Some(Sink::Thread(t)) => threads.push((i, t)),
        }
    }
    for (_, reader, _) in &open {
        set_nonblocking(reader.as_raw_fd());
    }
    let mut chunk = vec![0u8; 64 * 1024];
    while !open.is_empty() {
        let mut fds: Vec<libc::pollfd> = open
            .iter()
            .map(|(_, r, _)| libc::pollfd {
                fd: r.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        // SAFETY: `fds` is a valid array of `fds.len()` pollfd structs for the whole call.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if n < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            break;
        }
        let mut closed = Vec::new();
        for (k, pfd) in fds.iter().enumerate() {
            if pfd.revents == 0 {
                continue;
            }
            let (i, reader, tee) = &mut open[k];
            let buf = out[*i].get_or_insert_with(Vec::new);
            // Everything there is now, until the pipe would block.
            let eof = loop {
                let got = if *tee {
                    reader.read(&mut chunk).inspect(|&n| {
                        let _ = io::stderr().write_all(&chunk[..n]);
                        keep_tail(buf, &chunk[..n]);
                    })
                } else {
                    read_into(reader.as_raw_fd(), buf)
                };
                match got {
                    Ok(0) => break true,
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break false,
                    Err(_) => break true,
                }
            };
            if eof {
                if *tee {
                    out[*i] = out[*i].take().map(trim_tail);
                }
                closed.push(k);
            }
        }
        for k in closed.into_iter().rev() {
            open.remove(k);
        }
    }
    for (i, t) in threads {
        out[i] = Some(t.join().unwrap_or_default());
    }
    out
}

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
}

/// Kills a process when its time is up.
struct Timer {
    done: mpsc::Sender<()>,
    fired: Arc<AtomicBool>,
    thread: JoinHandle<()>,
    after: Duration,
}

impl Timer {
    fn start(process: Arc<dyn Process>, after: Duration) -> io::Result<Timer> {
        let (done, rx) = mpsc::channel::<()>();
        let fired = Arc::new(AtomicBool::new(false));
        let flag = fired.clone();
        let thread = thread::Builder::new()
            .name("plumb-timeout".into())
            .spawn(move || {
                if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(after) {
                    flag.store(true, Ordering::SeqCst);
                    let _ = process.kill();
                }
            })?;
        Ok(Timer {
            done,
            fired,
            thread,
            after,
        })
    }

    /// Stops the timer; tells whether it fired.
    fn stop(self) -> bool {
        drop(self.done);
        let _ = self.thread.join();
        self.fired.load(Ordering::SeqCst)
    }
}

/// A started expression and everything needed to finish it.
pub(crate) struct Started {
    command: String,
    machine: String,
    process: Arc<dyn Process>,
    stdout: Option<Sink>,
    stderr: Option<Sink>,
    timer: Option<Timer>,
    began: Instant,
    finished: bool,
}

/// The streams handed back to the caller.
struct Streams {
    stdin: Option<os_pipe::PipeWriter>,
    stdout: Option<os_pipe::PipeReader>,
}

fn default_machine() -> Arc<dyn Machine> {
    static LOCAL: OnceLock<Arc<dyn Machine>> = OnceLock::new();
    LOCAL.get_or_init(|| Arc::new(LocalMachine::new())).clone()
}

/// The shortest timeout anywhere in the tree bounds the whole run.
fn timeout_of(expr: &Expr) -> Option<Duration> {
    let own = expr.opts().timeout;
    let inner = match expr.node() {
        Node::Pipe(stages) => stages.iter().filter_map(|(e, _)| timeout_of(e)).min(),
        Node::Seq(items) => items.iter().filter_map(|(_, e)| timeout_of(e)).min(),
        Node::Cmd(_) | Node::Cd(_) => None,
    };
    own.into_iter().chain(inner).min()
}

fn echo_of(expr: &Expr) -> bool {
    expr.opts().echo
}

fn launch(expr: &Expr, stdin: In, stdout: Out, stderr: Out) -> Result<(Started, Streams)> {
    let machine = expr.opts().machine.clone().unwrap_or_else(default_machine);
    let command = quote::render(expr);
    let setup = |e: io::Error| {
        Error::io(machine.name(), "cannot set up the standard streams", e)
            .with_command(command.clone())
    };
    if let Err(msg) = crate::expr::validate(expr) {
        return Err(Error::new(ErrorKind::InvalidInput, machine.name(), msg).with_command(command));
    }
    let timeout = timeout_of(expr);
    if echo_of(expr) {
        match machine.name() {
            "local" => eprintln!("$ {command}"),
            name => eprintln!("{name}$ {command}"),
        }
    }

    let mut streams = Streams {
        stdin: None,
        stdout: None,
    };
    let job_stdin = match stdin {
        In::Inherit => Stdio::Inherit,
        In::Null => Stdio::Null,
        In::Pipe => {
            let (r, w) = os_pipe::pipe().map_err(setup)?;
            streams.stdin = Some(w);
            Stdio::Fd(r.into())
        }
    };
    let mut out_capture = None;
    let job_stdout = match stdout {
        Out::Inherit => Stdio::Inherit,
        Out::Capture | Out::Tee | Out::Pipe => {
            let (r, w) = os_pipe::pipe().map_err(setup)?;
            match stdout {
                Out::Pipe => streams.stdout = Some(r),
                _ => out_capture = Some(Sink::inline(r, stdout == Out::Tee)),
            }
            Stdio::Fd(w.into())
        }
    };
    let mut err_capture = None;
    let job_stderr = match stderr {
        Out::Inherit => Stdio::Inherit,
        Out::Pipe | Out::Capture | Out::Tee => {
            let (r, w) = os_pipe::pipe().map_err(setup)?;
            // When the caller reads stdout itself, stderr needs a reader of its own.
            err_capture = Some(if stdout == Out::Pipe {
                Sink::thread(r).map_err(setup)?
            } else {
                Sink::inline(r, stderr == Out::Tee)
            });
            Stdio::Fd(w.into())
        }
    };
    // A kill has to reach whole process trees only when one can come.
    let kill_tree = timeout.is_some() || stdout == Out::Pipe;

    let process: Arc<dyn Process> = match segments(expr, &machine) {
        None => Arc::from(
            machine
                .start(Job {
                    expr: expr.clone(),
                    stdin: job_stdin,
                    stdout: job_stdout,
                    stderr: job_stderr,
                    kill_tree,
                })
                .map_err(|e| {
                    if e.has_command() {
                        e
                    } else {
                        e.with_command(command.clone())
                    }
                })?,
        ),
        Some(segments) => Arc::new(Group::start(
            expr, segments, job_stdin, job_stdout, job_stderr, kill_tree,
        )?),
    };
    let timer = match timeout {
        Some(after) => Some(Timer::start(process.clone(), after).map_err(setup)?),
        None => None,
    };
    Ok((
        Started {
            command,
            machine: machine.name().to_string(),
            process,
            stdout: out_capture,
            stderr: err_capture,
            timer,
            began: Instant::now(),
            finished: false,
        },
        streams,
    ))
}

/// How a finished expression ended, with what it wrote.
struct Finished {
    outcome: Outcome,
    stdout: Vec<u8>,
    stderr: Option<Vec<u8>>,
    timed_out: Option<Duration>,
}

impl Started {
    fn finish(&mut self) -> Result<Finished> {
        self.finished = true;
        let [stdout, stderr] = collect([self.stdout.take(), self.stderr.take()]);
        let waited = self.process.wait();
        let timed_out = self.timer.take().and_then(|t| {
            let after = t.after;
            t.stop().then_some(after)
        });
        let stdout = stdout.unwrap_or_default();
        let outcome = waited?;
        tracing::debug!(
            target: "plumb",
            machine = %self.machine,
            command = %self.command,
            code = ?outcome.status.code(),
            signal = ?outcome.status.signal(),
            elapsed = ?self.began.elapsed(),
            "command finished"
        );
        Ok(Finished {
            outcome,
            stdout,
            stderr,
            timed_out,
        })
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
                // A shell's "command not found".
                let kind = match f.outcome.status.code() {
                    Some(127) => ErrorKind::NotFound,
                    _ => ErrorKind::Exit,
                };
                Error::exit(&machine, f.outcome.status, kind)
            }
        };
        Err(error
            .with_command(self.command.clone())
            .with_stage(f.outcome.stage)
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

pub(crate) fn run(expr: &Expr) -> Result<()> {
    let (mut started, _) = launch(expr, stdin_mode(expr, In::Inherit), Out::Inherit, Out::Tee)?;
    let f = started.finish()?;
    started.check(f, false).map(drop)
}

pub(crate) fn status(expr: &Expr) -> Result<ExitStatus> {
    let (mut started, _) = launch(expr, stdin_mode(expr, In::Inherit), Out::Inherit, Out::Tee)?;
    let f = started.finish()?;
    if let Some(after) = f.timed_out {
        return Err(Error::timed_out(&started.machine, after)
            .with_command(started.command.clone())
            .with_output(None, f.stderr));
    }
    Ok(f.outcome.status)
}

pub(crate) fn output(expr: &Expr) -> Result<Output> {
    let (mut started, _) = launch(expr, stdin_mode(expr, In::Null), Out::Capture, Out::Capture)?;
    let f = started.finish()?;
    let f = started.check(f, true)?;
    Ok(Output {
        status: f.outcome.status,
        stdout: f.stdout,
        stderr: f.stderr.unwrap_or_default(),
    })
}

pub(crate) fn read(expr: &Expr) -> Result<String> {
    let out = output(expr)?;
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

pub(crate) fn spawn(expr: &Expr) -> Result<Handle> {
    let (started, streams) = launch(expr, stdin_mode(expr, In::Pipe), Out::Pipe, Out::Capture)?;
    Ok(Handle {
        started,
        stdin: streams.stdin.map(ChildStdin),
        stdout: streams.stdout.map(ChildStdout),
        result: None,
    })
}

/// The lines of a running command's stdout, as they come; from [`Expr::lines`].
///
/// Each item is a line without its line ending. If the command fails, the last item is the
/// error (with the stderr tail). Dropping the iterator early kills the command.
pub struct Lines {
    reader: Option<BufReader<os_pipe::PipeReader>>,
    started: Started,
    done: bool,
}

impl Iterator for Lines {
    type Item = Result<String>;

    fn next(&mut self) -> Option<Result<String>> {
        if self.done {
            return None;
        }
        if let Some(reader) = &mut self.reader {
            let mut line = Vec::new();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) => {}
                Ok(_) => {
                    if line.last() == Some(&b'\n') {
                        line.pop();
                        if line.last() == Some(&b'\r') {
                            line.pop();
                        }
                    }
                    return Some(String::from_utf8(line).map_err(|e| {
                        Error::new(
                            ErrorKind::Utf8,
                            &self.started.machine,
                            format!("a line is not valid UTF-8 ({})", e.utf8_error()),
                        )
                        .with_command(self.started.command.clone())
                    }));
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(Error::io(
                        &self.started.machine,
                        "cannot read stdout",
                        e,
                    )
                    .with_command(self.started.command.clone())));
                }
            }
        }
        self.done = true;
        self.reader = None;
        match self
            .started
            .finish()
            .and_then(|f| self.started.check(f, false))
        {
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        }
    }
}

impl Drop for Lines {
    fn drop(&mut self) {
        self.reader = None;
        self.started.abandon();
    }
}

/// A running command; from [`Expr::spawn`].
///
/// Write to its [`stdin`](Handle::stdin), read its [`stdout`](Handle::stdout), then
/// [`wait`](Handle::wait) for its [`Output`]. Dropping a handle that was not waited for
/// kills the command.
pub struct Handle {
    started: Started,
    stdin: Option<ChildStdin>,
    stdout: Option<ChildStdout>,
    result: Option<Output>,
}

/// The write end of a spawned command's stdin.
#[derive(Debug)]
pub struct ChildStdin(os_pipe::PipeWriter);

/// The read end of a spawned command's stdout.
#[derive(Debug)]
pub struct ChildStdout(os_pipe::PipeReader);

impl Write for ChildStdin {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl Read for ChildStdout {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Handle {
    /// The command's stdin, until taken; [`wait`](Handle::wait) closes it.
    pub fn stdin(&mut self) -> Option<&mut ChildStdin> {
        self.stdin.as_mut()
    }

    /// Takes the command's stdin; dropping it closes the stream (the command sees EOF).
    pub fn take_stdin(&mut self) -> Option<ChildStdin> {
        self.stdin.take()
    }

    /// The command's stdout, until taken. What is not read here, `wait` collects.
    pub fn stdout(&mut self) -> Option<&mut ChildStdout> {
        self.stdout.as_mut()
    }

    /// Takes the command's stdout, to read it elsewhere.
    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.stdout.take()
    }

    /// Closes stdin, collects the rest of stdout and stderr, and waits for the command to
    /// end. A status the check does not accept is an error.
    ///
    /// ```
    /// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
    /// let mut h = sh!(echo done).spawn().unwrap();
    /// assert_eq!(h.wait().unwrap().stdout, b"done\n");
    /// ```
    pub fn wait(&mut self) -> Result<Output> {
        if let Some(out) = &self.result {
            return Ok(out.clone());
        }
        self.stdin = None;
        let mut stdout = Vec::new();
        if let Some(mut s) = self.stdout.take() {
            let _ = s.read_to_end(&mut stdout);
        }
        let f = self.started.finish()?;
        let mut f = self.started.check(f, false)?;
        f.stdout = stdout;
        let out = Output {
            status: f.outcome.status,
            stdout: f.stdout,
            stderr: f.stderr.unwrap_or_default(),
        };
        self.result = Some(out.clone());
        Ok(out)
    }

    /// The exit status if the command has ended, without blocking.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        if let Some(out) = &self.result {
            return Ok(Some(out.status));
        }
        Ok(self.started.process.try_wait()?.map(|o| o.status))
    }

    /// Kills the command and every process it started.
    ///
    /// ```
    /// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
    /// let mut h = sh!(sleep 30).spawn().unwrap();
    /// h.kill().unwrap();
    /// assert_eq!(h.wait().unwrap_err().signal(), Some(9));
    /// ```
    pub fn kill(&self) -> Result<()> {
        self.started.process.kill()
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.stdin = None;
        self.stdout = None;
        self.started.abandon();
    }
}

// ---------------------------------------------------------------------------------------
// Pipelines across machines.

/// Stages that run on one machine, in order.
type Segment = (Arc<dyn Machine>, Vec<(Expr, bool)>);

/// Splits a pipeline whose stages are bound to different machines into runs of stages on
/// one machine; `None` when the whole tree runs on `machine`.
fn segments(expr: &Expr, machine: &Arc<dyn Machine>) -> Option<Vec<(Arc<dyn Machine>, Expr)>> {
    let Node::Pipe(stages) = expr.node() else {
        return None;
    };
    let bound = |e: &Expr| e.opts().machine.clone().unwrap_or_else(|| machine.clone());
    if stages
        .iter()
        .all(|(e, _)| bound(e).identity() == machine.identity())
    {
        return None;
    }
    let mut out: Vec<Segment> = Vec::new();
    for (stage, all) in stages {
        let m = bound(stage);
        match out.last_mut() {
            Some((last, run)) if last.identity() == m.identity() => run.push((stage.clone(), *all)),
            _ => out.push((m, vec![(stage.clone(), *all)])),
        }
    }
    let outer = expr.opts();
    let segments = out.into_iter().enumerate().map(|(i, (m, run))| {
        // Each segment keeps the pipeline's directory and environment; stdin goes first.
        let opts = Opts {
            dir: outer.dir.clone(),
            env: outer.env.clone(),
            stdin: if i == 0 { outer.stdin.clone() } else { None },
            ..Opts::default()
        };
        let seg = match run.as_slice() {
            [(stage, false)] => with_opts(stage, &opts),
            _ => Expr(Arc::new(crate::expr::Inner {
                node: Node::Pipe(run),
                opts,
            })),
        };
        (m, seg)
    });
    Some(segments.collect())
}

/// `expr` with the context options of an enclosing node around it.
fn with_opts(expr: &Expr, outer: &Opts) -> Expr {
    if outer.dir.is_none() && outer.env.is_empty() && outer.stdin.is_none() {
        return expr.clone();
    }
    Expr(Arc::new(crate::expr::Inner {
        node: Node::Pipe(vec![(expr.clone(), false)]),
        opts: outer.clone(),
    }))
}

/// The segments of a cross-machine pipeline, joined by pipes through this process.
struct Group {
    expr: Expr,
    parts: Vec<(String, Box<dyn Process>)>,
}

impl Group {
    fn start(
        expr: &Expr,
        segments: Vec<(Arc<dyn Machine>, Expr)>,
        stdin: Stdio,
        stdout: Stdio,
        stderr: Stdio,
        kill_tree: bool,
    ) -> Result<Group> {
        let stderr = if expr.opts().stderr_to_stdout {
            stdout
                .try_clone()
                .map_err(|e| Error::io("local", "cannot duplicate stdout", e))?
        } else {
            stderr
        };
        let n = segments.len();
        let mut parts: Vec<(String, Box<dyn Process>)> = Vec::with_capacity(n);
        let mut next_stdin = Some(stdin);
        let mut last_stdout = Some(stdout);
        for (i, (machine, seg)) in segments.into_iter().enumerate() {
            let pipe_err = |e| Error::io(machine.name(), "cannot create a pipe", e);
            let (seg_stdout, following) = if i + 1 == n {
                (last_stdout.take().unwrap_or(Stdio::Null), None)
            } else {
                let (r, w) = os_pipe::pipe().map_err(pipe_err)?;
                (Stdio::Fd(w.into()), Some(Stdio::Fd(r.into())))
            };
            let job = Job {
                expr: seg,
                stdin: next_stdin.take().unwrap_or(Stdio::Null),
                stdout: seg_stdout,
                stderr: stderr.try_clone().map_err(pipe_err)?,
                kill_tree,
            };
            match machine.start(job) {
                Ok(p) => parts.push((machine.name().to_string(), p)),
                Err(e) => {
                    for (_, p) in &parts {
                        let _ = p.kill();
                        let _ = p.wait();
                    }
                    return Err(e);
                }
            }
            next_stdin = following;
        }
        Ok(Group {
            expr: expr.clone(),
            parts,
        })
    }
}

impl Process for Group {
    fn wait(&self) -> Result<Outcome> {
        let mut outcomes = Vec::with_capacity(self.parts.len());
        let mut first_err = None;
        for (name, p) in &self.parts {
            match p.wait() {
                Ok(o) => outcomes.push(Outcome {
                    machine: Some(o.machine.unwrap_or_else(|| name.clone())),
                    ..o
                }),
                Err(e) => first_err = first_err.or(Some(e)),
            }
        }
        if let Some(e) = first_err {
            return Err(e);
        }
        Ok(Outcome::pipeline(outcomes, self.expr.opts()))
    }

    fn try_wait(&self) -> Result<Option<Outcome>> {
        for (_, p) in &self.parts {
            if p.try_wait()?.is_none() {
                return Ok(None);
            }
        }
        self.wait().map(Some)
    }

    fn kill(&self) -> Result<()> {
        for (_, p) in &self.parts {
            p.kill()?;
        }
        Ok(())
    }
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

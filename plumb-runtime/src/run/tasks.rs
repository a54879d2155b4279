//! The async twins of the terminal calls (cargo feature `tokio`): the same launch, checks
//! and errors as the blocking calls, awaited on the runtime instead of blocked on.
//!
//! Nothing here takes a thread per command: a command's output pipes are read through
//! the runtime's reactor (`AsyncFd`), a command on an `Ssh2Machine` is woken by its
//! connection's I/O thread when its channel ends ([`Process::wake_on_exit`]), and elsewhere
//! the process is polled once its output has ended (a process is almost always gone by
//! then), with a short backoff. A timeout is the runtime's timer. A future dropped before
//! its command ended kills the command's whole tree, as a timeout does: on a thread, so that
//! a remote kill's round trip never blocks the runtime.

use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use super::capture::Sink;
use super::{launch_with, stdin_mode, Finished, In, Out, Retries, Started, Streams, Waiting};
use crate::error::{Error, ErrorKind};
use crate::model::expr::Expr;
use crate::model::job::{Outcome, Process};
use crate::output::{ExitStatus, Output};
use crate::Result;

/// The calls return `'static` futures that own a clone of the expression: they can be
/// stored, spawned (`tokio::spawn(sh!(...).output_async())`) and awaited later.
impl Expr {
    /// [`run`](Expr::run), awaited (cargo feature `tokio`).
    ///
    /// ```
    /// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// sh!(true).run_async().await?;
    /// assert!(sh!(false).run_async().await.is_err());
    /// # Ok::<(), plumb::Error>(()) }).unwrap();
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub fn run_async(&self) -> impl Future<Output = Result<()>> + Send + 'static {
        let expr = self.clone();
        async move { run(&expr).await }
    }

    /// [`read`](Expr::read), awaited (cargo feature `tokio`).
    ///
    /// ```
    /// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// assert_eq!(sh!(echo hello).read_async().await?, "hello");
    /// # Ok::<(), plumb::Error>(()) }).unwrap();
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub fn read_async(&self) -> impl Future<Output = Result<String>> + Send + 'static {
        let expr = self.clone();
        async move { super::text(&expr, output(&expr).await?) }
    }

    /// [`read_bytes`](Expr::read_bytes), awaited (cargo feature `tokio`).
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub fn read_bytes_async(&self) -> impl Future<Output = Result<Vec<u8>>> + Send + 'static {
        let expr = self.clone();
        async move { Ok(output(&expr).await?.stdout) }
    }

    /// [`output`](Expr::output), awaited (cargo feature `tokio`).
    ///
    /// ```
    /// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let out = sh!(sh -c "echo out; echo err >&2").output_async().await?;
    /// assert_eq!((out.stdout, out.stderr), (b"out\n".to_vec(), b"err\n".to_vec()));
    /// # Ok::<(), plumb::Error>(()) }).unwrap();
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub fn output_async(&self) -> impl Future<Output = Result<Output>> + Send + 'static {
        let expr = self.clone();
        async move { output(&expr).await }
    }

    /// [`code`](Expr::code), awaited (cargo feature `tokio`).
    ///
    /// ```
    /// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// assert_eq!(sh!(sh -c "exit 7").code_async().await?, 7);
    /// # Ok::<(), plumb::Error>(()) }).unwrap();
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub fn code_async(&self) -> impl Future<Output = Result<i32>> + Send + 'static {
        let expr = self.clone();
        async move { Ok(status(&expr).await?.shell_code()) }
    }

    /// [`success`](Expr::success), awaited (cargo feature `tokio`).
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub fn success_async(&self) -> impl Future<Output = Result<bool>> + Send + 'static {
        let expr = self.clone();
        async move { Ok(status(&expr).await?.success()) }
    }
}

async fn run(expr: &Expr) -> Result<()> {
    retried(expr, || async {
        let mut job = Running::launch(expr, In::Inherit, Out::Inherit, Out::Tee)?;
        let f = job.finish().await?;
        job.started().check(f, false).map(drop)
    })
    .await
}

async fn output(expr: &Expr) -> Result<Output> {
    retried(expr, || async {
        let mut job = Running::launch(expr, In::Null, Out::Capture, Out::Capture)?;
        let f = job.finish().await?;
        job.started().output_of(f)
    })
    .await
}

async fn status(expr: &Expr) -> Result<ExitStatus> {
    retried(expr, || async {
        let mut job = Running::launch(expr, In::Inherit, Out::Inherit, Out::Tee)?;
        let f = job.finish().await?;
        job.started().status_of(f)
    })
    .await
}

/// `call`, and again while it fails, as `expr`'s [`retry`](Expr::retry) says (the pauses
/// on the runtime's timer).
async fn retried<T, F: Future<Output = Result<T>>>(
    expr: &Expr,
    mut call: impl FnMut() -> F,
) -> Result<T> {
    let mut retries = Retries::of(expr);
    loop {
        match call().await {
            Err(e) => match retries.pause_after(&e) {
                Some(pause) => tokio::time::sleep(pause).await,
                None => return Err(e),
            },
            ok => return ok,
        }
    }
}

/// A launched expression being awaited. Dropped before it finished (its future was
/// dropped), it kills the command and reaps it on a thread of its own.
struct Running {
    started: Option<Started>,
}

impl Running {
    fn launch(expr: &Expr, stdin: In, stdout: Out, stderr: Out) -> Result<Running> {
        let (started, _) = launch_awaited(expr, stdin, stdout, stderr)?;
        Ok(Running {
            started: Some(started),
        })
    }

    fn started(&self) -> &Started {
        self.started.as_ref().expect("present until dropped")
    }

    /// Reads the output to its end and waits for the command, killing it when its time is
    /// up; what [`Started::finish`] does, awaited.
    async fn finish(&mut self) -> Result<Finished> {
        let started = self.started.as_mut().expect("present until dropped");
        let sinks = [started.stdout.take(), started.stderr.take()];
        let process = started.process.clone();
        let work = async {
            let outs = collect(sinks).await;
            (outs, Exited::new(&*process).await)
        };
        let mut work = pin!(work);
        let mut timed_out = None;
        let ((stdout, stderr), waited) = match started.timeout {
            None => work.await,
            Some(after) => {
                let mut sleep = pin!(tokio::time::sleep(after));
                let first = poll_fn(|cx| match work.as_mut().poll(cx) {
                    Poll::Ready(r) => Poll::Ready(Some(r)),
                    Poll::Pending => sleep.as_mut().poll(cx).map(|()| None),
                })
                .await;
                match first {
                    Some(r) => r,
                    None => {
                        timed_out = Some(after);
                        kill_aside(process.clone());
                        work.await
                    }
                }
            }
        };
        started.finished = true;
        let stdout = stdout.map_err(|e| started.io_error(e))?;
        let stderr = stderr.map_err(|e| started.io_error(e))?;
        let outcome = waited?;
        started.trace(&outcome);
        Ok(Finished {
            outcome,
            stdout: stdout.unwrap_or_default(),
            stderr,
            timed_out,
        })
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let Some(mut started) = self.started.take() else {
            return;
        };
        if started.finished {
            return;
        }
        // Killing a remote command is a round trip, and reaping waits: not on the runtime.
        aside(Box::new(move || started.abandon()));
    }
}

/// What [`launch_with`] does for an awaited call: after the checks only an async call needs
/// (a runtime to await on, enough descriptors), with this process's stdout relayed by the
/// runtime where the machine would copy it on a thread.
pub(super) fn launch_awaited(
    expr: &Expr,
    stdin: In,
    stdout: Out,
    stderr: Out,
) -> Result<(Started, Streams)> {
    // A thousand commands in flight hold four thousand pipe ends: more than a desktop's
    // soft limit of open files, far less than its hard one (raised once, as Go does).
    crate::sys::raise_fd_limit();
    if tokio::runtime::Handle::try_current().is_err() {
        let machine = expr.opts().machine.as_ref().map_or("local", |m| m.name());
        let why = "an async call must be awaited on a tokio runtime (with IO and time)";
        return Err(Error::new(ErrorKind::Unsupported, machine, why));
    }
    let stdin = stdin_mode(expr, stdin);
    let machine = expr.opts().machine.clone();
    let relayed = machine.is_some_and(|m| m.copies_inherited_output());
    let stdout = match stdout {
        Out::Inherit if relayed => Out::Relay,
        other => other,
    };
    launch_with(expr, stdin, stdout, stderr, Waiting::Awaited)
}

/// `f`, a blocking call that is not a command (a handshake, a file copy), on the runtime's
/// blocking pool: the runtime's own threads never wait for a server. `who` names the
/// machine in the error if the pool cannot run it.
pub(crate) async fn off_runtime<T: Send + 'static>(
    who: String,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    if tokio::runtime::Handle::try_current().is_err() {
        let why = "an async call must be awaited on a tokio runtime";
        return Err(Error::new(ErrorKind::Unsupported, &who, why));
    }
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        let why = format!("the blocking call did not finish: {e}");
        Err(Error::new(ErrorKind::Io, &who, why))
    })
}

type Chore = Box<dyn FnOnce() + Send>;

/// A thread that runs chores in order, started when needed and ended when idle: a
/// thousand aborted tasks never start a thousand threads.
struct Queue {
    name: &'static str,
    tx: std::sync::Mutex<Option<std::sync::mpsc::Sender<Chore>>>,
}

/// Where cancelled commands are killed and reaped (a reap waits for the end).
static REAPS: Queue = Queue::new("plumb-cancel");
/// Where timeouts and explicit kills go: never behind a reap that waits.
static KILLS: Queue = Queue::new("plumb-kill");

/// How long a queue's thread waits for more before it ends.
const CHORES_IDLE: Duration = Duration::from_secs(5);

impl Queue {
    const fn new(name: &'static str) -> Queue {
        Queue {
            name,
            tx: std::sync::Mutex::new(None),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<std::sync::mpsc::Sender<Chore>>> {
        self.tx
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `chore` on this queue's thread; where no thread can start, here.
    fn run(&'static self, chore: Chore) {
        let mut queue = self.lock();
        let chore = match queue.as_ref() {
            Some(tx) => match tx.send(chore) {
                Ok(()) => return,
                Err(std::sync::mpsc::SendError(chore)) => chore,
            },
            None => chore,
        };
        let (tx, rx) = std::sync::mpsc::channel::<Chore>();
        let worker = move || loop {
            while let Ok(chore) = rx.recv_timeout(CHORES_IDLE) {
                chore();
            }
            // Idle: leave, unless something came in meanwhile (sent under the lock).
            let mut queue = self.lock();
            match rx.try_recv() {
                Ok(chore) => {
                    drop(queue);
                    chore();
                }
                Err(_) => {
                    *queue = None;
                    return;
                }
            }
        };
        match std::thread::Builder::new()
            .name(self.name.into())
            .spawn(worker)
        {
            Ok(_) => {
                let _ = tx.send(chore);
                *queue = Some(tx);
            }
            Err(_) => {
                drop(queue);
                tracing::warn!(target: "plumb", "cannot start a thread to end commands: ending here");
                chore();
            }
        }
    }
}

/// Runs `chore` (a kill and a reap of a cancelled command) on the thread that does them,
/// in order.
pub(super) fn aside(chore: Chore) {
    REAPS.run(chore);
}

/// Runs `chore` (a kill: a remote one is a round trip) on the thread that does them, in
/// order, never behind a reap.
pub(super) fn kill_aside_with(chore: Chore) {
    KILLS.run(chore);
}

impl Started {
    pub(super) fn io_error(&self, e: std::io::Error) -> Error {
        Error::io(&self.machine, "cannot read the output", e).with_command(self.command.clone())
    }
}

/// Kills `process` aside (see [`kill_aside_with`]).
pub(super) fn kill_aside(process: Arc<dyn Process>) {
    kill_aside_with(Box::new(move || {
        let _ = process.kill();
    }));
}

/// The end of a process: woken by its machine where it can ([`Process::wake_on_exit`]),
/// else polled with a pause that doubles up to [`LONGEST_PAUSE`].
pub(super) struct Exited<'a> {
    process: &'a dyn Process,
    pause: Duration,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

const FIRST_PAUSE: Duration = Duration::from_millis(1);
const LONGEST_PAUSE: Duration = Duration::from_millis(20);

impl<'a> Exited<'a> {
    pub(super) fn new(process: &'a dyn Process) -> Exited<'a> {
        Exited {
            process,
            pause: FIRST_PAUSE,
            sleep: None,
        }
    }
}

impl Future for Exited<'_> {
    type Output = Result<Outcome>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Outcome>> {
        loop {
            // Asked before looking, so that an end in between still wakes this task.
            let woken = self.process.wake_on_exit(cx.waker());
            if let Some(done) = self.process.try_wait().transpose() {
                return Poll::Ready(done);
            }
            if woken {
                return Poll::Pending;
            }
            let pause = self.pause;
            let sleep = self
                .sleep
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(pause)));
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.sleep = None;
            self.pause = (self.pause * 2).min(LONGEST_PAUSE);
        }
    }
}

pub(super) type Collected = std::io::Result<Option<Vec<u8>>>;

/// Both output streams to their ends, read at once.
async fn collect([out, err]: [Option<Sink>; 2]) -> (Collected, Collected) {
    let mut out = pin!(read_sink(out));
    let mut err = pin!(read_sink(err));
    let (mut a, mut b) = (None, None);
    poll_fn(|cx| {
        if a.is_none() {
            a = ready(out.as_mut().poll(cx));
        }
        if b.is_none() {
            b = ready(err.as_mut().poll(cx));
        }
        match (a.take(), b.take()) {
            (Some(x), Some(y)) => Poll::Ready((x, y)),
            (x, y) => {
                (a, b) = (x, y);
                Poll::Pending
            }
        }
    })
    .await
}

fn ready<T>(p: Poll<T>) -> Option<T> {
    match p {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

/// One stream to its end: through the reactor on Unix.
pub(super) async fn read_sink(sink: Option<Sink>) -> Collected {
    match sink {
        None => Ok(None),
        Some(Sink::Inline { reader, tee }) => read_pipe(reader, Pass::keep(tee)).await.map(Some),
        Some(Sink::Relay(reader)) => read_pipe(reader, Pass::Relay).await.map(|_| None),
        // Only calls that return early drain on a thread; none of these do.
        Some(Sink::Thread(t)) => Ok(Some(
            tokio::task::spawn_blocking(move || t.join().unwrap_or_default())
                .await
                .unwrap_or_default(),
        )),
    }
}

/// What becomes of what a stream gives.
#[derive(Clone, Copy, PartialEq)]
enum Pass {
    Keep,
    /// Copied to this process's stderr, its tail kept.
    Tee,
    /// Copied to this process's stdout, nothing kept.
    Relay,
}

impl Pass {
    fn keep(tee: bool) -> Pass {
        if tee {
            Pass::Tee
        } else {
            Pass::Keep
        }
    }
}

#[cfg(unix)]
async fn read_pipe(reader: os_pipe::PipeReader, pass: Pass) -> std::io::Result<Vec<u8>> {
    use std::io::{Read, Write};
    use tokio::io::unix::AsyncFd;
    crate::sys::set_nonblocking(&reader);
    // SAFETY: the reader owns its descriptor, and nothing closes or replaces it while the
    // AsyncFd holds it (the reader lives inside it until both are dropped).
    let fd = unsafe { AsyncFd::register_with_interest(reader, tokio::io::Interest::READABLE) }
        .map_err(|e| e.into_parts().1)?;
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let mut guard = fd.readable().await?;
        match guard.try_io(|r| r.get_ref().read(&mut chunk)) {
            Ok(Ok(0)) => break,
            Ok(Ok(n)) => match pass {
                Pass::Keep => buf.extend_from_slice(&chunk[..n]),
                Pass::Tee => {
                    let _ = std::io::stderr().write_all(&chunk[..n]);
                    super::capture::keep_tail(&mut buf, &chunk[..n]);
                }
                Pass::Relay => {
                    let mut out = std::io::stdout().lock();
                    let _ = out.write_all(&chunk[..n]).and_then(|()| out.flush());
                }
            },
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Ok(Err(e)) => return Err(e),
            // Not ready after all: the guard cleared readiness; wait again.
            Err(_would_block) => {}
        }
    }
    Ok(match pass {
        Pass::Tee => super::capture::trim_tail(buf),
        _ => buf,
    })
}

/// Windows' anonymous pipes cannot join a reactor: there each stream is read on the
/// runtime's blocking pool.
#[cfg(windows)]
async fn read_pipe(reader: os_pipe::PipeReader, pass: Pass) -> std::io::Result<Vec<u8>> {
    let sink = match pass {
        Pass::Relay => Sink::Relay(reader),
        _ => Sink::Inline {
            reader,
            tee: pass == Pass::Tee,
        },
    };
    tokio::task::spawn_blocking(move || {
        let [out, _] = super::capture::collect([Some(sink), None]);
        out.unwrap_or_default()
    })
    .await
    .map_err(std::io::Error::other)
}

/// Runs the blocking calls of this thread through their async twins, each on a runtime of
/// its own, while `on`: how the tests run every test body on the async API too.
#[doc(hidden)]
pub fn route_through_async(on: bool) {
    THROUGH_ASYNC.with(|t| t.set(on));
}

thread_local! {
    static THROUGH_ASYNC: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// `Some(twin's result)` while this thread routes calls through their twins.
pub(super) fn twin<T, F: Future<Output = Result<T>>>(
    call: impl FnOnce() -> F,
) -> Option<Result<T>> {
    if !THROUGH_ASYNC.with(std::cell::Cell::get) {
        return None;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    Some(match runtime {
        Ok(rt) => rt.block_on(call()),
        Err(e) => Err(Error::io("local", "cannot start a tokio runtime", e)),
    })
}

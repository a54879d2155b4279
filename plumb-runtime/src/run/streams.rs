//! The async streaming calls (cargo feature `tokio`): [`AsyncLines`] and [`AsyncHandle`],
//! the twins of [`Lines`](super::Lines) and [`Handle`](super::Handle).
//!
//! The caller holds stdout (and stdin), registered with the runtime's reactor. What the
//! blocking twins give a thread each, a task does here: stderr is drained from the start
//! (a command that fills it must never stall), and a timeout is a timer task that kills
//! the tree whether or not anyone is polling. Dropped before the command ended, either
//! kills the command's whole tree, as a dropped awaited call does.

use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{
    AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, ReadBuf,
};
use tokio::task::JoinHandle;

use super::tasks::{aside, kill_aside_with, launch_awaited, read_sink, Collected, Exited};
use super::{Finished, In, Out, Started};
use crate::error::{Error, ErrorKind};
use crate::model::expr::Expr;
use crate::model::job::Process;
use crate::output::{ExitStatus, Output};
use crate::Result;

impl Expr {
    /// [`lines`](Expr::lines), as a [`Stream`](futures_core::Stream) (cargo feature
    /// `tokio`): stdout line by line as the command runs, each without its line ending; a
    /// failure (or a launch that failed) is the last item. The command starts when the
    /// stream is first polled; dropping the stream early kills its whole tree.
    ///
    /// ```
    /// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let mut lines = sh!(printf "a\nb\n").lines_async();
    /// while let Some(line) = lines.next().await {
    ///     println!("{}", line?);
    /// }
    /// # Ok::<(), plumb::Error>(()) }).unwrap();
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub fn lines_async(&self) -> AsyncLines {
        AsyncLines {
            state: Some(LinesState::Ready(self.clone())),
            pending: None,
        }
    }

    /// [`spawn`](Expr::spawn), for async code (cargo feature `tokio`): starts the command
    /// and returns at once with an [`AsyncHandle`] to its stdin and stdout. Call it on a
    /// tokio runtime (with IO and time).
    ///
    /// ```
    /// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
    /// use tokio::io::AsyncWriteExt;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let mut child = sh!(tr a-z A-Z).spawn_async()?;
    /// child.stdin().unwrap().write_all(b"shout").await.unwrap();
    /// assert_eq!(child.wait().await?.stdout, b"SHOUT");
    /// # Ok::<(), plumb::Error>(()) }).unwrap();
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub fn spawn_async(&self) -> Result<AsyncHandle> {
        let (core, streams) = Streamed::launch(self, In::Pipe)?;
        let machine = core.started().machine.clone();
        let setup = |e: io::Error| Error::io(&machine, "cannot set up the standard streams", e);
        Ok(AsyncHandle {
            stdin: streams.stdin.map(pipe_writer).transpose().map_err(setup)?,
            stdout: streams.stdout.map(pipe_reader).transpose().map_err(setup)?,
            core,
            kept: Vec::new(),
            result: None,
            failed: None,
        })
    }
}

/// A launched command whose stdout the caller reads: its stderr drained by a task, its
/// timeout a timer task. Dropped unfinished, it kills the command and reaps it aside.
struct Streamed {
    started: Option<Started>,
    stderr: Option<JoinHandle<Collected>>,
    /// What the stderr task collected, once it has ended.
    stderr_done: Option<Collected>,
    deadline: Option<Deadline>,
}

impl Streamed {
    fn launch(expr: &Expr, stdin: In) -> Result<(Streamed, super::Streams)> {
        let (mut started, streams) = launch_awaited(expr, stdin, Out::Pipe, Out::Capture)?;
        let stderr = tokio::spawn(read_sink(started.stderr.take()));
        let deadline =
            (started.timeout).map(|after| Deadline::start(started.process.clone(), after));
        let core = Streamed {
            started: Some(started),
            stderr: Some(stderr),
            stderr_done: None,
            deadline,
        };
        Ok((core, streams))
    }

    fn started(&self) -> &Started {
        self.started.as_ref().expect("present until dropped")
    }

    fn process(&self) -> Arc<dyn Process> {
        self.started().process.clone()
    }

    /// Waits for stderr's end and the command's, the caller having read stdout to its end
    /// (`stdout`, what it kept). Cancel-safe: dropped half way, it can be called again.
    async fn finish(&mut self, stdout: Vec<u8>) -> Result<Finished> {
        if let Some(task) = self.stderr.as_mut() {
            let collected = task.await.unwrap_or_else(|e| Err(io::Error::other(e)));
            self.stderr = None;
            self.stderr_done = Some(collected);
        }
        let outcome = Exited::new(&*self.process()).await;
        let started = self.started.as_mut().expect("present until dropped");
        started.finished = true;
        let timed_out = self.deadline.take().and_then(Deadline::stop);
        let stderr = (self.stderr_done.take())
            .unwrap_or(Ok(None))
            .map_err(|e| started.io_error(e))?;
        let outcome = outcome?;
        started.trace(&outcome);
        Ok(Finished {
            outcome,
            stdout,
            stderr,
            timed_out,
        })
    }
}

impl Drop for Streamed {
    fn drop(&mut self) {
        if let Some(deadline) = self.deadline.take() {
            deadline.task.abort();
        }
        let Some(mut started) = self.started.take() else {
            return;
        };
        if started.finished {
            return;
        }
        if let Some(task) = self.stderr.take() {
            task.abort();
        }
        // Killing a remote command is a round trip, and reaping waits: not on the runtime.
        aside(Box::new(move || started.abandon()));
    }
}

/// A timeout that fires whether or not the caller polls: a task of the runtime.
struct Deadline {
    task: JoinHandle<()>,
    fired: Arc<AtomicBool>,
    after: Duration,
}

impl Deadline {
    fn start(process: Arc<dyn Process>, after: Duration) -> Deadline {
        let fired = Arc::new(AtomicBool::new(false));
        let flag = fired.clone();
        // Made here: a runtime without a timer panics in the caller, not unseen in a task.
        let sleep = tokio::time::sleep(after);
        let task = tokio::spawn(async move {
            sleep.await;
            // Asked aside (a remote answer can be a round trip): a command that ended in
            // time but was not waited for yet did not time out.
            kill_aside_with(Box::new(move || {
                if matches!(process.try_wait(), Ok(None)) {
                    flag.store(true, Ordering::SeqCst);
                    let _ = process.kill();
                }
            }));
        });
        Deadline { task, fired, after }
    }

    /// Stops the timer; the timeout if it had fired.
    fn stop(self) -> Option<Duration> {
        self.task.abort();
        self.fired.load(Ordering::SeqCst).then_some(self.after)
    }
}

/// The lines of a running command's stdout, as they come, for async code; from
/// [`Expr::lines_async`](crate::Expr::lines_async). A
/// [`Stream`](futures_core::Stream) of `Result<String>`, with an inherent
/// [`next`](AsyncLines::next) for code without a stream library.
///
/// Each item is a line without its line ending. If the command fails, the last item is
/// the error (with the stderr tail). Dropping the stream early kills the command.
#[must_use = "streams do nothing unless polled"]
pub struct AsyncLines {
    state: Option<LinesState>,
    pending: Option<Advancing>,
}

/// The stream's next step in flight: it owns the state until it yields the item.
type Advancing = Pin<Box<dyn Future<Output = (LinesState, Option<Result<String>>)> + Send + Sync>>;

enum LinesState {
    /// Not polled yet.
    Ready(Expr),
    Running {
        stdout: Option<BufReader<AsyncChildStdout>>,
        core: Box<Streamed>,
    },
    Done,
}

impl AsyncLines {
    /// The next line; `None` after the last.
    #[allow(clippy::should_implement_trait)] // `Stream::next` is an extension trait's.
    pub async fn next(&mut self) -> Option<Result<String>> {
        poll_fn(|cx| futures_core::Stream::poll_next(Pin::new(&mut *self), cx)).await
    }
}

impl futures_core::Stream for AsyncLines {
    type Item = Result<String>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<String>>> {
        if self.pending.is_none() {
            let Some(state) = self.state.take() else {
                return Poll::Ready(None);
            };
            self.pending = Some(Box::pin(state.advance()));
        }
        let pending = self.pending.as_mut().expect("set above");
        let (state, item) = std::task::ready!(pending.as_mut().poll(cx));
        self.pending = None;
        self.state = Some(state);
        Poll::Ready(item)
    }
}

impl LinesState {
    /// The state after the next item, and the item.
    async fn advance(self) -> (LinesState, Option<Result<String>>) {
        match self {
            LinesState::Done => (LinesState::Done, None),
            LinesState::Ready(expr) => match Streamed::launch(&expr, In::Null) {
                Err(e) => (LinesState::Done, Some(Err(e))),
                Ok((core, streams)) => match streams.stdout.map(pipe_reader).transpose() {
                    Err(e) => {
                        let machine = core.started().machine.clone();
                        let e = Error::io(&machine, "cannot read stdout", e);
                        (LinesState::Done, Some(Err(e)))
                    }
                    Ok(stdout) => {
                        let stdout = stdout.map(BufReader::new);
                        let core = Box::new(core);
                        Box::pin(LinesState::Running { core, stdout }.advance()).await
                    }
                },
            },
            LinesState::Running {
                mut core,
                mut stdout,
            } => {
                if let Some(reader) = stdout.as_mut() {
                    match next_line(reader, core.started()).await {
                        Some(Ok(line)) => {
                            return (LinesState::Running { core, stdout }, Some(Ok(line)));
                        }
                        // A line that is not text does not end the stream; a read error does.
                        Some(Err(e)) if e.kind() == ErrorKind::Utf8 => {
                            return (LinesState::Running { core, stdout }, Some(Err(e)));
                        }
                        Some(Err(e)) => return (LinesState::Done, Some(Err(e))),
                        None => {}
                    }
                }
                drop(stdout);
                let ended = core.finish(Vec::new()).await;
                let checked = ended.and_then(|f| core.started().check(f, false));
                (LinesState::Done, checked.err().map(Err))
            }
        }
    }
}

/// The next line of `reader`, without its ending; `None` at the end.
async fn next_line(
    reader: &mut BufReader<AsyncChildStdout>,
    started: &Started,
) -> Option<Result<String>> {
    let mut line = Vec::new();
    match reader.read_until(b'\n', &mut line).await {
        Ok(0) => None,
        Ok(_) => Some(super::handle::line_text(line, started)),
        Err(e) => Some(Err(Error::io(&started.machine, "cannot read stdout", e)
            .with_command(started.command.clone()))),
    }
}

/// A running command, for async code; from [`Expr::spawn_async`](crate::Expr::spawn_async).
///
/// Write to its [`stdin`](AsyncHandle::stdin) ([`AsyncWrite`]), read its
/// [`stdout`](AsyncHandle::stdout) ([`AsyncRead`]), then [`wait`](AsyncHandle::wait) for
/// its [`Output`]. Dropping a handle whose command still runs kills the command's tree.
#[must_use = "dropping an `AsyncHandle` kills the command"]
pub struct AsyncHandle {
    // Fields drop in order: the pipes close before the command is killed and reaped.
    stdin: Option<AsyncChildStdin>,
    stdout: Option<AsyncChildStdout>,
    core: Streamed,
    /// What `wait` has read of stdout so far (a `wait` dropped half way loses nothing).
    kept: Vec<u8>,
    result: Option<Output>,
    /// How `wait` failed: a second `wait` says it again.
    failed: Option<crate::Error>,
}

impl AsyncHandle {
    /// The command's stdin, until taken; [`wait`](AsyncHandle::wait) closes it.
    pub fn stdin(&mut self) -> Option<&mut AsyncChildStdin> {
        self.stdin.as_mut()
    }

    /// Takes the command's stdin; dropping it closes the stream (the command sees EOF).
    pub fn take_stdin(&mut self) -> Option<AsyncChildStdin> {
        self.stdin.take()
    }

    /// The command's stdout, until taken. What is not read here, `wait` collects.
    pub fn stdout(&mut self) -> Option<&mut AsyncChildStdout> {
        self.stdout.as_mut()
    }

    /// Takes the command's stdout, to read it elsewhere.
    pub fn take_stdout(&mut self) -> Option<AsyncChildStdout> {
        self.stdout.take()
    }

    /// Closes stdin, collects the rest of stdout and stderr, and waits for the command to
    /// end. A status the check does not accept is an error. Cancel-safe: a `wait` dropped
    /// half way (a `select!` that chose another branch) loses nothing.
    pub async fn wait(&mut self) -> Result<Output> {
        if let Some(out) = &self.result {
            return Ok(out.clone());
        }
        if let Some(failed) = &self.failed {
            return Err(failed.duplicate());
        }
        if let Some(mut stdin) = self.stdin.take() {
            // Windows' file wrapper writes in the background: the last write's error
            // comes with the flush.
            let _ = stdin.flush().await;
        }
        if let Some(s) = self.stdout.as_mut() {
            // `read_buf` appends: what was read stays in `kept` if this future is dropped.
            while matches!(s.read_buf(&mut self.kept).await, Ok(n) if n > 0) {}
            self.stdout = None;
        }
        // What was read stays in `kept` until the command has ended: a `wait` dropped in
        // between loses none of it.
        let f = self.core.finish(Vec::new()).await;
        let f = f.and_then(|mut f| {
            f.stdout = std::mem::take(&mut self.kept);
            self.core.started().check(f, false)
        });
        let f = match f {
            Ok(f) => f,
            Err(e) => {
                self.failed = Some(e.duplicate());
                return Err(e);
            }
        };
        let out = f.into_output();
        self.result = Some(out.clone());
        Ok(out)
    }

    /// The exit status if the command has ended, without waiting.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        if let Some(out) = &self.result {
            return Ok(Some(out.status));
        }
        Ok(self.core.process().try_wait()?.map(|o| o.status))
    }

    /// Kills the command and every process it started; [`wait`](AsyncHandle::wait) then
    /// reports how it ended. Remotely a kill is a round trip, made off the runtime.
    ///
    /// ```
    /// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let mut h = sh!(sleep 30).spawn_async()?;
    /// h.kill().await?;
    /// assert_eq!(h.wait().await.unwrap_err().signal(), Some(9));
    /// # Ok::<(), plumb::Error>(()) }).unwrap();
    /// ```
    pub async fn kill(&self) -> Result<()> {
        let process = self.core.process();
        let (tx, rx) = tokio::sync::oneshot::channel();
        // On the thread that ends commands, not the runtime's blocking pool (which a
        // program may have filled).
        kill_aside_with(Box::new(move || {
            let _ = tx.send(process.kill());
        }));
        rx.await.unwrap_or_else(|_| {
            let why = "the kill did not run";
            Err(Error::new(ErrorKind::Io, &self.core.started().machine, why))
        })
    }
}

/// The write end of an async-spawned command's stdin ([`AsyncWrite`]). `shutdown` closes
/// it: the command reads its end (as dropping it does).
#[derive(Debug)]
pub struct AsyncChildStdin(Option<Writer>);

/// The read end of an async-spawned command's stdout ([`AsyncRead`]).
#[derive(Debug)]
pub struct AsyncChildStdout(Reader);

#[cfg(unix)]
type Reader = tokio::net::unix::pipe::Receiver;
#[cfg(unix)]
type Writer = tokio::net::unix::pipe::Sender;
// Windows' anonymous pipes cannot join a reactor: tokio's file wrapper reads them on its
// blocking pool, as tokio's own child processes do there.
#[cfg(windows)]
type Reader = tokio::fs::File;
#[cfg(windows)]
type Writer = tokio::fs::File;

#[cfg(unix)]
fn pipe_reader(r: os_pipe::PipeReader) -> io::Result<AsyncChildStdout> {
    Reader::from_owned_fd(r.into()).map(AsyncChildStdout)
}

#[cfg(unix)]
fn pipe_writer(w: os_pipe::PipeWriter) -> io::Result<AsyncChildStdin> {
    Writer::from_owned_fd(w.into()).map(|w| AsyncChildStdin(Some(w)))
}

#[cfg(windows)]
fn pipe_reader(r: os_pipe::PipeReader) -> io::Result<AsyncChildStdout> {
    let handle = std::os::windows::io::OwnedHandle::from(r);
    Ok(AsyncChildStdout(Reader::from_std(handle.into())))
}

#[cfg(windows)]
fn pipe_writer(w: os_pipe::PipeWriter) -> io::Result<AsyncChildStdin> {
    let handle = std::os::windows::io::OwnedHandle::from(w);
    Ok(AsyncChildStdin(Some(Writer::from_std(handle.into()))))
}

impl AsyncRead for AsyncChildStdout {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for AsyncChildStdin {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.0 {
            Some(w) => Pin::new(w).poll_write(cx, buf),
            None => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the command's stdin is closed",
            ))),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.0 {
            Some(w) => Pin::new(w).poll_flush(cx),
            None => Poll::Ready(Ok(())),
        }
    }

    /// Flushes, then closes the pipe (tokio's own pipe types leave it open until dropped:
    /// a command reading to its end would wait forever).
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(w) = &mut self.0 {
            std::task::ready!(Pin::new(w).poll_flush(cx))?;
        }
        self.0 = None;
        Poll::Ready(Ok(()))
    }
}

impl std::fmt::Debug for AsyncLines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncLines").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for AsyncHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncHandle")
            .field("command", &self.core.started().command)
            .field("machine", &self.core.started().machine)
            .field("result", &self.result)
            .finish_non_exhaustive()
    }
}

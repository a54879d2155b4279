//! A job: an expression to start on one machine with its standard streams, and how it
//! ended ([`Outcome`], with the pipefail rule that judges a pipeline).

use std::sync::Arc;

use crate::model::expr::{Expr, Opts, SeqOp};
use crate::output::ExitStatus;
use crate::Result;

/// Where one of a job's standard streams goes.
#[derive(Debug)]
pub enum Stdio {
    /// This process's own stream.
    Inherit,
    /// `/dev/null`.
    Null,
    /// A stream of this process (a file descriptor, or a handle on Windows): a pipe end
    /// or a file.
    Fd(crate::sys::OwnedStream),
}

impl Stdio {
    /// A pipe fed `bytes` from a thread: stdin from a value.
    pub(crate) fn feed(bytes: Arc<[u8]>) -> std::io::Result<Stdio> {
        let (r, mut w) = os_pipe::pipe()?;
        std::thread::Builder::new()
            .name("plumb-stdin".into())
            .spawn(move || {
                // A reader that stops early (`head`) closes the pipe: not an error.
                let _ = std::io::Write::write_all(&mut w, &bytes);
            })?;
        Ok(Stdio::Fd(r.into()))
    }

    /// A second handle to the same stream.
    pub(crate) fn try_clone(&self) -> std::io::Result<Stdio> {
        Ok(match self {
            Stdio::Inherit => Stdio::Inherit,
            Stdio::Null => Stdio::Null,
            Stdio::Fd(fd) => Stdio::Fd(fd.try_clone()?),
        })
    }
}

/// A tree to start on one machine, with its standard streams.
#[derive(Debug)]
pub struct Job {
    pub expr: Expr,
    pub stdin: Stdio,
    pub stdout: Stdio,
    pub stderr: Stdio,
    /// Put the processes in their own process groups so that a kill reaches their
    /// children too.
    pub kill_tree: bool,
    /// With `kill_tree`: a watchdog also ends the tree if this program dies first (on the
    /// local machine; a remote job's watchdog is always there). Timeouts and streaming
    /// calls have it, as the blocking calls always did; an awaited call that is only
    /// killable (its future may be dropped) need not pay a second process per command.
    pub guarded: bool,
    /// The caller awaits the job on an async runtime: starting it must not wait for
    /// anything (a session's busy shells).
    pub awaited: bool,
    /// The caller reads the streams as they flow (`lines`, `spawn`, a pipe to another
    /// machine), so output must arrive as it is written.
    pub streamed: bool,
}

/// How a job ended.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub status: ExitStatus,
    /// The rendered stage that decided the status, when it is a part of the whole.
    pub stage: Option<String>,
    /// Whether `status` passed the checks of the stage that produced it.
    pub accepted: bool,
    /// The machine of the stage that decided the status, when the job spans several.
    pub machine: Option<String>,
}

/// A started job.
pub trait Process: Send + Sync {
    /// Blocks until the job ends.
    fn wait(&self) -> Result<Outcome>;
    /// The outcome if the job has ended.
    fn try_wait(&self) -> Result<Option<Outcome>>;
    /// Kills every process of the job (their trees too, with `kill_tree`).
    fn kill(&self) -> Result<()>;
    /// Arranges for `waker` to be woken once the job has ended, where the machine learns
    /// of it by itself (a libssh2 channel's end, from the connection's I/O thread); false
    /// where it does not, and an async caller polls [`try_wait`](Process::try_wait).
    fn wake_on_exit(&self, _waker: &std::task::Waker) -> bool {
        false
    }
}

impl Outcome {
    /// Whether an item of a sequence runs after `last`, the outcome of the item that ran
    /// before it (`None`: it is the first): `&&` after a success, `||` after a failure, as
    /// in a shell; `;` only when what came before passed its checks (errexit, as after
    /// `set -e`): a failure never passes silently into the next command, which would run
    /// in the wrong directory or on missing input. Unlike `set -e`, the left side of a
    /// `&&` counts: `false && x; y` stops before `y`, since the list before `;` failed.
    pub(crate) fn runs_next(last: Option<&Outcome>, op: SeqOp) -> bool {
        let prev_ok = last.is_none_or(|o| o.status.success());
        match op {
            SeqOp::Then => last.is_none_or(|o| o.accepted),
            SeqOp::And => prev_ok,
            SeqOp::Or => !prev_ok,
        }
    }

    /// A sequence's outcome: its last item that ran, judged by the sequence's own options;
    /// an empty sequence succeeds.
    pub(crate) fn sequence(last: Option<Outcome>, opts: &Opts) -> Outcome {
        let last = last.unwrap_or(Outcome {
            status: ExitStatus::from_code(0),
            stage: None,
            accepted: true,
            machine: None,
        });
        Outcome {
            accepted: opts.judge(&last.status, last.accepted),
            ..last
        }
    }

    /// Pipefail: the rightmost stage that failed its check decides the pipeline's status;
    /// when none failed, the last stage does.
    ///
    /// A stage before the last one that died of SIGPIPE is not a failure: its reader
    /// stopped reading (`yes | head -n 1`), which is how pipelines end early.
    /// `opts` are the pipeline's own options, which judge its status.
    pub(crate) fn pipeline(mut stages: Vec<Outcome>, opts: &Opts) -> Outcome {
        let n = stages.len();
        for stage in stages.iter_mut().take(n.saturating_sub(1)) {
            if stage.status.signal() == Some(crate::sys::SIGPIPE) {
                stage.accepted = true;
            }
        }
        let decisive = stages
            .iter()
            .rposition(|o| !o.accepted)
            .unwrap_or(stages.len().saturating_sub(1));
        let all_ok = stages.iter().all(|o| o.accepted);
        let decisive = stages
            .into_iter()
            .nth(decisive)
            .expect("a pipeline has at least one stage");
        Outcome {
            accepted: opts.judge(&decisive.status, all_ok),
            ..decisive
        }
    }
}

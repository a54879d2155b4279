//! A builtin in place of a process: on a thread of its own, with the streams the process
//! would have had (its redirections applied), waited for like a process and ended by the
//! job's kill like one.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use super::spawn::Target;
use super::{Ctx, Shared};
use crate::builtins::{Builtin, Call};
use crate::output::ExitStatus;

/// A builtin that runs: its status once it ended.
pub(super) struct BuiltinRun {
    pub(super) name: &'static str,
    status: Mutex<Option<ExitStatus>>,
}

impl BuiltinRun {
    fn status(&self) -> Option<ExitStatus> {
        *self.status.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Its status, or SIGKILL's as soon as the job is killed (a builtin blocked reading
    /// a stream nobody closes is then left to end with it).
    pub(super) fn wait(&self, shared: &Shared) -> ExitStatus {
        if shared.cancel.wait_for(|| self.status().is_some()) {
            self.status().unwrap_or(ExitStatus::from_code(0))
        } else {
            ExitStatus::from_signal(crate::sys::SIGKILL)
        }
    }

    pub(super) fn is_finished(&self) -> bool {
        self.status().is_some()
    }
}

/// Starts builtin `name` with `args` and the streams of `fds`.
pub(super) fn start(
    builtin: Builtin,
    name: &'static str,
    args: Vec<OsString>,
    fds: [Target; 3],
    ctx: &Ctx,
    shared: &Arc<Shared>,
) -> io::Result<Arc<BuiltinRun>> {
    let [stdin, stdout, stderr] = fds;
    let streams = (reader(stdin)?, writer(stdout, 1)?, writer(stderr, 2)?);
    let run = Arc::new(BuiltinRun {
        name,
        status: Mutex::new(None),
    });
    let (ctx, job, me) = (ctx.clone(), shared.clone(), run.clone());
    shared.start_builtin(|| {
        std::thread::Builder::new()
            .name(format!("plumb-{name}"))
            .spawn(move || {
                let status = run_call(builtin, name, &args, streams, &ctx, &job);
                *me.status.lock().unwrap_or_else(PoisonError::into_inner) = Some(status);
                job.cancel.notify();
            })
    })?;
    Ok(run)
}

type Streams = (
    Box<dyn Read + Send>,
    Box<dyn Write + Send>,
    Box<dyn Write + Send>,
);

/// Runs the builtin; its streams are closed when it returns (the reader of its stdout
/// sees the end before anyone learns the status).
fn run_call(
    builtin: Builtin,
    name: &str,
    args: &[OsString],
    (stdin, stdout, stderr): Streams,
    ctx: &Ctx,
    job: &Shared,
) -> ExitStatus {
    let which = |program: &str, all: bool| -> Vec<PathBuf> { ctx.which_all(program, all) };
    let mut call = Call {
        name,
        args,
        stdin,
        stdout,
        stderr,
        dir: ctx.dir.as_deref(),
        which: &which,
        cancel: &job.cancel,
    };
    let status = builtin(&mut call);
    let _ = call.stdout.flush();
    status
}

fn reader(t: Target) -> io::Result<Box<dyn Read + Send>> {
    Ok(match t {
        Target::Null => Box::new(io::empty()),
        Target::Parent(n) => Box::new(File::from(crate::sys::clone_std(n)?)),
        Target::Fd(fd) => Box::new(File::from(fd)),
    })
}

fn writer(t: Target, n: u8) -> io::Result<Box<dyn Write + Send>> {
    Ok(match t {
        Target::Null => Box::new(io::sink()),
        // This process's own stream, through std's handle (and its lock) when it is the
        // same one, so that lines do not interleave with this program's own output.
        Target::Parent(p) if p == n && n == 1 => Box::new(io::stdout()),
        Target::Parent(p) if p == n => Box::new(io::stderr()),
        Target::Parent(p) => Box::new(File::from(crate::sys::clone_std(p)?)),
        Target::Fd(fd) => Box::new(File::from(fd)),
    })
}

//! Portable builtins: plumb's own `cat cd cp echo exit false head mkdir mv pwd rm sleep
//! test [ touch true which`, so that a script runs where those programs are missing
//! (Windows). Each is a small file with the contract of a program: arguments, three
//! standard streams, an exit status; the local machine runs one on a thread of its own in
//! place of a process (see [`Builtins`] for when).
//!
//! They take the POSIX options scripts use; an option one does not know is an error
//! that names the builtin and the option (exit code 1, as GNU's tools give; 2 for
//! `test`), never a silent difference. A
//! write into a pipe whose reader left ends the builtin as SIGPIPE ends a program, so
//! pipelines judge both alike; a kill ends it as SIGKILL ends a program.

mod cat;
mod cd;
mod cp;
mod echo;
mod exit;
mod head;
mod mkdir;
mod mv;
mod opts;
mod pwd;
mod rm;
mod sleep;
mod test;
mod touch;
mod true_false;
mod which;

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::output::ExitStatus;

/// When the local machine runs plumb's builtin for a command instead of a program; set
/// with [`LocalMachine::with_builtins`](crate::LocalMachine::with_builtins).
///
/// Only commands named by one of the builtins' names, with no directory in the name, are
/// concerned: `rm` may be the builtin, `/bin/rm` and `./rm` never are. A `sudo`'d
/// command is never a builtin.
///
/// ```
/// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
/// use plumb::Builtins;
/// let portable = plumb::local().with_builtins(Builtins::Always);
/// assert_eq!(sh!(echo -n hi).on(&portable).read().unwrap(), "hi");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Builtins {
    /// The builtin when no program of that name is on `PATH` (the default): the real
    /// programs run where they exist, and a script still runs where they do not.
    #[default]
    Fallback,
    /// Always the builtin: the same behaviour on every OS, whatever is installed.
    Always,
    /// Never: a missing program is a `NotFound` error, as without builtins.
    Never,
}

/// The names of the builtins, sorted.
pub(crate) const NAMES: &[&str] = &[
    "[", "cat", "cd", "cp", "echo", "exit", "false", "head", "mkdir", "mv", "pwd", "rm", "sleep",
    "test", "touch", "true", "which",
];

/// A builtin: its arguments (without its name) and surroundings to an exit status.
pub(crate) type Builtin = fn(&mut Call) -> ExitStatus;

/// The builtin called `name`, if there is one, with its name kept for the whole run.
pub(crate) fn find(name: &str) -> Option<(&'static str, Builtin)> {
    let name: &'static str = NAMES.iter().find(|n| **n == name)?;
    let builtin: Builtin = match name {
        "[" => test::bracket,
        "cat" => cat::main,
        "cd" => cd::main,
        "cp" => cp::main,
        "echo" => echo::main,
        "exit" => exit::main,
        "false" => true_false::r#false,
        "head" => head::main,
        "mkdir" => mkdir::main,
        "mv" => mv::main,
        "pwd" => pwd::main,
        "rm" => rm::main,
        "sleep" => sleep::main,
        "test" => test::main,
        "touch" => touch::main,
        "true" => true_false::r#true,
        "which" => which::main,
        _ => return None,
    };
    Some((name, builtin))
}

/// What a builtin runs with: what a process would get.
pub(crate) struct Call<'a> {
    /// Its name, for messages.
    pub(crate) name: &'a str,
    pub(crate) args: &'a [OsString],
    pub(crate) stdin: Box<dyn Read + Send>,
    pub(crate) stdout: Box<dyn Write + Send>,
    pub(crate) stderr: Box<dyn Write + Send>,
    /// The directory it runs in; `None`: this process's.
    pub(crate) dir: Option<&'a Path>,
    /// The machine's `which`, for the `which` builtin.
    pub(crate) which: &'a dyn Fn(&str, bool) -> Vec<PathBuf>,
    pub(crate) cancel: &'a Cancel,
}

/// Where `cp` and `mv` put their sources (`source... target`): into `target` when it is
/// a directory, which it must be when there are several.
pub(crate) struct Destination<'a> {
    pub(crate) sources: &'a [OsString],
    target: PathBuf,
    into: bool,
}

impl Destination<'_> {
    /// Where `src` goes.
    pub(crate) fn of(&self, src: &OsStr) -> PathBuf {
        match (self.into, Path::new(src).file_name()) {
            (true, Some(name)) => self.target.join(name),
            _ => self.target.clone(),
        }
    }
}

impl Call<'_> {
    /// The sources and target of `operands`, or the status of the usage error.
    pub(crate) fn destination<'o>(
        &mut self,
        operands: &'o [OsString],
    ) -> Result<Destination<'o>, ExitStatus> {
        let Some((target, sources)) = operands.split_last() else {
            return Err(self.usage("missing file operand"));
        };
        if sources.is_empty() {
            let after = shown(target);
            return Err(self.usage(format!("missing destination file operand after '{after}'")));
        }
        let into = self.resolve(target).is_dir();
        if sources.len() > 1 && !into {
            return Err(self.fail(format!("target '{}' is not a directory", shown(target))));
        }
        let target = self.resolve(target);
        Ok(Destination {
            sources,
            target,
            into,
        })
    }

    /// `path` as the builtin's working directory sees it.
    pub(crate) fn resolve(&self, path: &OsStr) -> PathBuf {
        match self.dir {
            Some(dir) => dir.join(path),
            None => PathBuf::from(path),
        }
    }

    /// Writes `name: message` to stderr; the status of a failure (1).
    pub(crate) fn fail(&mut self, message: impl fmt::Display) -> ExitStatus {
        self.warn(message);
        ExitStatus::from_code(1)
    }

    /// Writes `name: message` to stderr.
    pub(crate) fn warn(&mut self, message: impl fmt::Display) {
        let _ = writeln!(self.stderr, "{}: {message}", self.name);
    }

    /// A usage error (exit code 1, as GNU's tools give): an option this builtin does not
    /// know, an operand missing.
    pub(crate) fn usage(&mut self, message: impl fmt::Display) -> ExitStatus {
        self.usage_with(message, 1)
    }

    /// A usage error with its own exit code (`test` and `exit` give 2, as shells do).
    pub(crate) fn usage_with(&mut self, message: impl fmt::Display, code: i32) -> ExitStatus {
        let name = self.name;
        let _ = writeln!(self.stderr, "{name}: {message} (plumb's builtin `{name}`)");
        ExitStatus::from_code(code)
    }

    /// The status after writing to stdout failed: SIGPIPE's when nobody reads any more,
    /// as a program killed by it; else a failure with the reason.
    pub(crate) fn write_failed(&mut self, e: io::Error) -> ExitStatus {
        if is_broken_pipe(&e) {
            return ExitStatus::from_signal(crate::sys::SIGPIPE);
        }
        self.fail(format!("write error: {e}"))
    }

    /// The status of a builtin that a kill stopped.
    pub(crate) fn killed(&self) -> ExitStatus {
        ExitStatus::from_signal(crate::sys::SIGKILL)
    }
}

/// Whether writing failed because the reader left (EPIPE; on Windows, the pipe is being
/// closed).
fn is_broken_pipe(e: &io::Error) -> bool {
    const ERROR_NO_DATA: i32 = 232;
    e.kind() == io::ErrorKind::BrokenPipe
        || (cfg!(windows) && e.raw_os_error() == Some(ERROR_NO_DATA))
}

/// `path` for messages, as a shell prints it.
pub(crate) fn shown(path: &OsStr) -> std::path::Display<'_> {
    Path::new(path).display()
}

/// Why an operation on a file failed, in the words of the coreutils.
pub(crate) fn reason(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "No such file or directory".into(),
        io::ErrorKind::PermissionDenied => "Permission denied".into(),
        io::ErrorKind::AlreadyExists => "File exists".into(),
        io::ErrorKind::NotADirectory => "Not a directory".into(),
        io::ErrorKind::IsADirectory => "Is a directory".into(),
        io::ErrorKind::DirectoryNotEmpty => "Directory not empty".into(),
        _ => e.to_string(),
    }
}

/// The kill switch of one job, shared by its builtins and whoever waits for them: a kill
/// wakes both a sleeping builtin and a waiter.
#[derive(Debug, Default)]
pub(crate) struct Cancel {
    killed: Mutex<bool>,
    changed: Condvar,
}

impl Cancel {
    fn lock(&self) -> MutexGuard<'_, bool> {
        self.killed.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn cancel(&self) {
        *self.lock() = true;
        self.changed.notify_all();
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        *self.lock()
    }

    /// Wakes every waiter, to look at what changed (a builtin that ended).
    pub(crate) fn notify(&self) {
        let _guard = self.lock();
        self.changed.notify_all();
    }

    /// Waits for `done` (checked after each [`notify`](Cancel::notify)); false when a
    /// kill came first.
    pub(crate) fn wait_for(&self, done: impl Fn() -> bool) -> bool {
        let mut killed = self.lock();
        loop {
            if done() {
                return true;
            }
            if *killed {
                return false;
            }
            killed = self
                .changed
                .wait(killed)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Sleeps for `d`; false when a kill ended the sleep.
    pub(crate) fn sleep(&self, d: Duration) -> bool {
        let deadline = Instant::now().checked_add(d);
        let mut killed = self.lock();
        loop {
            if *killed {
                return false;
            }
            let left = match deadline {
                Some(at) => at.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(3600),
            };
            if left.is_zero() {
                return true;
            }
            killed = self
                .changed
                .wait_timeout(killed, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// Why a copy between streams stopped early.
pub(crate) enum CopyError {
    Read(io::Error),
    Write(io::Error),
    Killed,
}

/// Copies `from` to `to` in chunks, stopping at a kill.
pub(crate) fn copy_stream(
    from: &mut dyn Read,
    to: &mut dyn Write,
    cancel: &Cancel,
) -> Result<(), CopyError> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if cancel.is_cancelled() {
            return Err(CopyError::Killed);
        }
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        to.write_all(&buf[..n]).map_err(CopyError::Write)?;
    }
}

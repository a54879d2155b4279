//! What a finished command leaves behind.

use std::fmt;

/// How a command ended: an exit code, or the signal that killed it.
///
/// ```
/// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
/// let out = sh!(sh -c "exit 3").unchecked().output().unwrap();
/// assert_eq!(out.status.code(), Some(3));
/// assert!(!out.status.success());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ExitStatus {
    code: Option<i32>,
    signal: Option<i32>,
}

impl ExitStatus {
    pub(crate) fn from_code(code: i32) -> ExitStatus {
        ExitStatus {
            code: Some(code),
            signal: None,
        }
    }

    pub(crate) fn from_signal(signal: i32) -> ExitStatus {
        ExitStatus {
            code: None,
            signal: Some(signal),
        }
    }

    /// On Windows a process always has a code: a kill gives the code its killer chose.
    pub(crate) fn from_std(status: std::process::ExitStatus) -> ExitStatus {
        #[cfg(unix)]
        let signal = std::os::unix::process::ExitStatusExt::signal(&status);
        #[cfg(not(unix))]
        let signal = None;
        ExitStatus {
            code: status.code(),
            signal,
        }
    }

    /// The exit code, or `None` when a signal ended the command.
    pub fn code(&self) -> Option<i32> {
        self.code
    }

    /// The signal that ended the command, if one did.
    pub fn signal(&self) -> Option<i32> {
        self.signal
    }

    /// True for exit code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// The code a shell would report in `$?`: the exit code, or 128 + the signal.
    pub fn shell_code(&self) -> i32 {
        match (self.code, self.signal) {
            (Some(c), _) => c,
            (None, Some(s)) => 128 + s,
            (None, None) => 1,
        }
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.code, self.signal) {
            (Some(c), _) => write!(f, "exit code {c}"),
            (None, Some(s)) => write!(f, "signal {s}"),
            (None, None) => write!(f, "unknown status"),
        }
    }
}

/// The result of [`Expr::output`](crate::Expr::output): the status and everything the
/// command wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Output {
    /// How the command ended.
    pub status: ExitStatus,
    /// Everything it wrote to stdout.
    pub stdout: Vec<u8>,
    /// Everything it wrote to stderr.
    pub stderr: Vec<u8>,
}

//! `sudo`: commands run as another user, and the password that may take, which never
//! shows: not in argv, the environment, a log, an error or `Debug`.
//!
//! How the password reaches sudo: each machine writes it to a file only its login user can
//! read (mode 0600, in `/dev/shm` when there is one) for the length of the job, and every
//! sudo'd command runs as `SUDO_ASKPASS=cat sudo -A -p FILE`: sudo runs its askpass helper
//! with the prompt as its one argument, so `cat FILE` answers. sudo asks only when it needs
//! to, so with `NOPASSWD` the password is never read, and the command's stdin is never
//! touched (feeding `-S` on stdin would leave the password in the command's stdin whenever
//! sudo does not ask).

use std::ffi::OsString;
use std::fmt;
use std::sync::{Arc, OnceLock};

use crate::error::{Error, ErrorKind};
use crate::model::expr::Expr;
use crate::Result;

/// Whom a node's commands run as under sudo.
#[derive(Clone, Debug)]
pub(crate) struct Sudo {
    /// `None`: root (sudo's default).
    pub(crate) user: Option<OsString>,
}

/// Whether any part of `expr` runs under sudo.
pub(crate) fn uses_sudo(expr: &Expr) -> bool {
    expr.opts().sudo.is_some() || expr.children().into_iter().any(uses_sudo)
}

/// Bytes that are wiped when dropped and never printed.
pub(crate) struct Secret(Vec<u8>);

impl Secret {
    /// The password as sudo's askpass helper prints it: one line.
    pub(crate) fn line(&self) -> Secret {
        let mut line = Vec::with_capacity(self.0.len() + 1);
        line.extend_from_slice(&self.0);
        line.push(b'\n');
        Secret(line)
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.fill(0);
        // Keeps the wipe from being optimised away as a write to memory about to be freed.
        std::hint::black_box(&self.0);
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

type Ask = dyn Fn(&str) -> Option<String> + Send + Sync;

/// A machine's sudo password: given, or asked for once (by machine name) when a sudo'd
/// command first runs. `Debug` shows only which.
#[derive(Clone)]
pub(crate) struct SudoPassword(Arc<Source>);

enum Source {
    Given(Secret),
    Asked {
        ask: Box<Ask>,
        answer: OnceLock<Option<Secret>>,
    },
}

impl SudoPassword {
    pub(crate) fn given(password: impl Into<String>) -> SudoPassword {
        SudoPassword(Arc::new(Source::Given(Secret(
            password.into().into_bytes(),
        ))))
    }

    pub(crate) fn asked(ask: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        SudoPassword(Arc::new(Source::Asked {
            ask: Box::new(ask),
            answer: OnceLock::new(),
        }))
    }

    /// The password's askpass line for `machine`, if there is one; a password sudo could
    /// not read as one line is refused here, before anything runs.
    pub(crate) fn line(&self, machine: &str) -> Result<Option<Secret>> {
        let secret = match &*self.0 {
            Source::Given(s) => Some(s),
            Source::Asked { ask, answer } => answer
                .get_or_init(|| ask(machine).map(|p| Secret(p.into_bytes())))
                .as_ref(),
        };
        match secret {
            Some(s) if s.0.iter().any(|b| matches!(b, b'\n' | b'\r' | 0)) => Err(Error::new(
                ErrorKind::InvalidInput,
                machine,
                "the sudo password contains a line break or a NUL byte, which sudo cannot read",
            )),
            Some(s) => Ok(Some(s.line())),
            None => Ok(None),
        }
    }
}

impl fmt::Debug for SudoPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match &*self.0 {
            Source::Given(_) => "<given>",
            Source::Asked { .. } => "<asked>",
        })
    }
}

/// The argv that runs a command under `sudo` as `as_user`, up to its `--`. `askpass`: the
/// password file, when there is a password (else sudo must not need one: `-n` fails at
/// once instead of asking a terminal). sudo resets the environment, so what plumb set for
/// the command goes after the `--` through `env` (see [`ENV`]).
pub(crate) fn argv(as_user: &Sudo, askpass: Option<&std::ffi::OsStr>) -> Vec<OsString> {
    let mut argv: Vec<OsString> = vec!["sudo".into()];
    match askpass {
        // `-k`: check this password every time, never a credential cached by an earlier
        // command, so that a wrong password always fails the same way.
        Some(file) => argv.extend(["-k".into(), "-A".into(), "-p".into(), file.to_owned()]),
        None => argv.push("-n".into()),
    }
    if let Some(user) = &as_user.user {
        argv.extend(["-u".into(), user.clone()]);
    }
    argv.push("--".into());
    argv
}

/// The program that hands the variables plumb set to a sudo'd command.
pub(crate) const ENV: &str = "env";

/// The kind of a failure that sudo itself reported on `stderr` (it exits with 1, like
/// many commands), if it did: a refused password or user is `Auth`, a missing program is
/// `NotFound`.
pub(crate) fn failure_kind(stderr: &[u8]) -> Option<ErrorKind> {
    let text = String::from_utf8_lossy(stderr);
    let said = |what: &str| {
        text.lines()
            .any(|l| l.starts_with("sudo: ") && l.contains(what))
    };
    const AUTH: [&str; 6] = [
        "a password is required",
        "incorrect password attempt",
        "no password was provided",
        "is not in the sudoers file",
        "is not allowed to",
        "unknown user",
    ];
    if AUTH.iter().any(|w| said(w)) {
        Some(ErrorKind::Auth)
    } else if said("command not found") {
        Some(ErrorKind::NotFound)
    } else {
        None
    }
}

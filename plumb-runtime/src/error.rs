//! The one error type: what failed, where, and the tail of what it said.

use std::fmt;
use std::io;
use std::path::Path;
use std::time::Duration;

use crate::output::ExitStatus;

/// `Result<T, plumb::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What kind of failure an [`Error`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The command ran and exited with a code (or signal) it was not allowed to.
    Exit,
    /// The command ran past its [`timeout`](crate::Expr::timeout) and was killed.
    Timeout,
    /// The program, file or directory does not exist.
    NotFound,
    /// An I/O error on this machine (spawning, pipes, files).
    Io,
    /// The machine refused access to a file or directory.
    PermissionDenied,
    /// A directory was expected and something else is there.
    NotADirectory,
    /// Not run: an earlier host of a serial [`Group`](crate::Group) failed.
    Skipped,
    /// The machine could not be reached.
    Connect,
    /// The machine refused our credentials.
    Auth,
    /// The machine's host key is unknown or changed.
    HostKey,
    /// The remote side broke the protocol or the connection died.
    Protocol,
    /// The expression cannot be run as given: a NUL byte in an argument, an empty command.
    InvalidInput,
    /// Output that should be text is not valid UTF-8 (use `read_bytes`).
    Utf8,
    /// Output that should be JSON of a given shape is not (`Expr::json`, feature `serde`).
    Json,
    /// This computer's operating system cannot do it: an `SshMachine` or a local `sudo`
    /// on Windows (see the guide's "Platforms").
    Unsupported,
}

/// The error of every fallible plumb call.
///
/// `Display` (and `Debug`, so that `fn main() -> Result<(), plumb::Error>` reports well) reads
/// like ``command `ls nope` on local exited with code 2: ls: cannot access 'nope': No such
/// file or directory``, ending with a bounded tail of the command's stderr.
///
/// ```
/// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
/// use plumb::ErrorKind;
/// let err = sh!(sh -c "echo oops >&2; exit 3").read().unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::Exit);
/// assert_eq!(err.code(), Some(3));
/// assert_eq!(err.stderr(), Some(&b"oops\n"[..]));
/// assert_eq!(err.to_string(), "command `sh -c 'echo oops >&2; exit 3'` on local exited with code 3: oops");
/// ```
pub struct Error(Box<Inner>);

struct Inner {
    kind: ErrorKind,
    machine: String,
    command: Option<String>,
    /// The pipeline stage that failed, when it is not the whole command.
    stage: Option<String>,
    status: Option<ExitStatus>,
    timeout: Option<Duration>,
    stdout: Option<Vec<u8>>,
    stderr: Option<Vec<u8>>,
    message: Option<String>,
    /// The underlying failure: an OS error, what each authentication method said.
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

/// How much of stderr `Display` shows: at most this many lines and bytes in all, of which
/// the first lines take at most `HEAD_*` when it is longer.
const TAIL_BYTES: usize = 2048;
const TAIL_LINES: usize = 20;
const HEAD_LINES: usize = 5;
const HEAD_BYTES: usize = 640;

impl Error {
    /// An error of `kind` on `machine`, described by `message`.
    pub(crate) fn new(kind: ErrorKind, machine: &str, message: impl Into<String>) -> Error {
        Error(Box::new(Inner {
            kind,
            machine: machine.to_string(),
            command: None,
            stage: None,
            status: None,
            timeout: None,
            stdout: None,
            stderr: None,
            message: Some(message.into()),
            source: None,
        }))
    }

    /// An I/O error; `NotFound` when the OS says so.
    pub(crate) fn io(machine: &str, message: impl Into<String>, source: io::Error) -> Error {
        let kind = match source.kind() {
            io::ErrorKind::NotFound => ErrorKind::NotFound,
            io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
            io::ErrorKind::NotADirectory => ErrorKind::NotADirectory,
            io::ErrorKind::InvalidInput => ErrorKind::InvalidInput,
            io::ErrorKind::Unsupported => ErrorKind::Unsupported,
            _ => ErrorKind::Io,
        };
        let mut e = Error::new(kind, machine, message);
        e.0.source = Some(Box::new(source));
        e
    }

    /// The error of a stream (a file's `Read` or `Write`): ours when one of our streams
    /// made it, else an I/O error that `cannot {what} \`path\``.
    pub(crate) fn from_stream(machine: &str, what: &str, path: &Path, e: io::Error) -> Error {
        let message = || format!("cannot {what} `{}`", path.display());
        if e.get_ref().is_none() {
            return Error::io(machine, message(), e);
        }
        let kind = e.kind();
        match e.into_inner().map(|inner| inner.downcast::<Error>()) {
            Some(Ok(ours)) => *ours,
            Some(Err(other)) => Error::io(machine, message(), io::Error::new(kind, other)),
            None => Error::new(ErrorKind::Io, machine, message()),
        }
    }

    /// The same error with `context` before its message (`through jump host ...: why`),
    /// its source kept.
    pub(crate) fn in_context(mut self, context: impl fmt::Display) -> Error {
        self.0.message = Some(match self.0.message.take() {
            Some(m) => format!("{context}: {m}"),
            None => context.to_string(),
        });
        self
    }

    /// The same error, reported as `machine`'s (a jump host's failure, on the way to the
    /// machine the caller asked for).
    #[cfg_attr(not(feature = "ssh2"), allow(dead_code))]
    pub(crate) fn for_machine(mut self, machine: &str) -> Error {
        self.0.machine = machine.to_string();
        self
    }

    /// A copy, for an error reported more than once (an unreachable host of a group, to
    /// every call): the source, which cannot be cloned, goes into the message.
    pub(crate) fn duplicate(&self) -> Error {
        let e = &self.0;
        let message = match (&e.message, &e.source) {
            (Some(m), Some(s)) => Some(format!("{m}: {s}")),
            (None, Some(s)) => Some(s.to_string()),
            (m, None) => m.clone(),
        };
        Error(Box::new(Inner {
            kind: e.kind,
            machine: e.machine.clone(),
            command: e.command.clone(),
            stage: e.stage.clone(),
            status: e.status,
            timeout: e.timeout,
            stdout: e.stdout.clone(),
            stderr: e.stderr.clone(),
            message,
            source: None,
        }))
    }

    /// A command that finished with a status it was not allowed to.
    pub(crate) fn exit(machine: &str, status: ExitStatus, kind: ErrorKind) -> Error {
        let mut e = Error::new(kind, machine, "");
        e.0.message = None;
        e.0.status = Some(status);
        e
    }

    pub(crate) fn timed_out(machine: &str, after: Duration) -> Error {
        let mut e = Error::new(ErrorKind::Timeout, machine, "");
        e.0.message = None;
        e.0.timeout = Some(after);
        e
    }

    /// The same error, caused by `source`.
    #[cfg_attr(not(feature = "ssh2"), allow(dead_code))]
    pub(crate) fn with_source(
        mut self,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Error {
        self.0.source = Some(Box::new(source));
        self
    }

    pub(crate) fn with_command(mut self, command: impl Into<String>) -> Error {
        self.0.command = Some(command.into());
        self
    }

    pub(crate) fn with_stage(mut self, stage: Option<String>) -> Error {
        self.0.stage = stage.filter(|s| Some(s) != self.0.command.as_ref());
        self
    }

    pub(crate) fn with_output(mut self, stdout: Option<Vec<u8>>, stderr: Option<Vec<u8>>) -> Error {
        self.0.stdout = stdout;
        self.0.stderr = stderr;
        self
    }

    pub(crate) fn has_command(&self) -> bool {
        self.0.command.is_some()
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    /// The exit code, when the command exited normally with a code it was not allowed to.
    pub fn code(&self) -> Option<i32> {
        self.0.status.and_then(|s| s.code())
    }

    /// The signal that killed the command, when one did.
    pub fn signal(&self) -> Option<i32> {
        self.0.status.and_then(|s| s.signal())
    }

    /// The captured stdout, when the call captured it (`read`, `output`, ...).
    pub fn stdout(&self) -> Option<&[u8]> {
        self.0.stdout.as_deref()
    }

    /// The captured stderr (for `run`, its last 64 KiB), when the command ran.
    pub fn stderr(&self) -> Option<&[u8]> {
        self.0.stderr.as_deref()
    }

    /// The rendered command line, e.g. `ls -la 'a b'`.
    pub fn command(&self) -> Option<&str> {
        self.0.command.as_deref()
    }

    /// The name of the machine it happened on, e.g. `local`.
    pub fn machine(&self) -> &str {
        &self.0.machine
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.0;
        match &e.command {
            Some(c) => write!(f, "command `{}` on {}", shorten(c), e.machine)?,
            None => write!(f, "on {}", e.machine)?,
        }
        if let Some(stage) = &e.stage {
            write!(f, " failed: `{stage}`")?;
        }
        if let Some(status) = e.status {
            match (status.code(), status.signal()) {
                (Some(code), _) => write!(f, " exited with code {code}")?,
                (None, Some(sig)) => write!(f, " was killed by signal {sig}")?,
                (None, None) => write!(f, " failed")?,
            }
        }
        if let Some(after) = e.timeout {
            write!(f, " timed out after {after:?}")?;
        }
        if let Some(m) = &e.message {
            write!(f, ": {m}")?;
        }
        if let Some(s) = &e.source {
            write!(f, ": {s}")?;
        }
        if let Some(tail) = e.stderr.as_deref().map(tail).filter(|t| !t.is_empty()) {
            write!(f, ": {tail}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source.as_deref().map(|s| s as _)
    }
}

/// A command line for a message: a huge one (thousands of arguments) is cut in the middle.
fn shorten(command: &str) -> std::borrow::Cow<'_, str> {
    const MAX: usize = 400;
    if command.len() <= MAX {
        return command.into();
    }
    let mut head = MAX / 2;
    while !command.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = command.len() - MAX / 4;
    while !command.is_char_boundary(tail) {
        tail += 1;
    }
    let cut = command.len() - head - (command.len() - tail);
    format!(
        "{} ... ({cut} bytes) ... {}",
        &command[..head],
        &command[tail..]
    )
    .into()
}

/// What `Display` shows of stderr, trimmed: all of it when short; else its first lines
/// (where a usage error says what went wrong: `error: unknown option`) and its last ones
/// (where a build says how it ended), each part bounded in lines and bytes.
fn tail(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let text = text.trim_end();
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() <= TAIL_LINES && text.len() <= TAIL_BYTES {
        return text.to_string();
    }
    let head: Vec<&str> = bounded(lines.iter().copied().take(HEAD_LINES), HEAD_BYTES);
    let rest = &lines[head.len()..];
    let mut end: Vec<&str> = bounded(
        rest.iter().rev().copied().take(TAIL_LINES - HEAD_LINES),
        TAIL_BYTES - HEAD_BYTES,
    );
    end.reverse();
    let skipped = rest.len() - end.len();
    let mut out = head.join("\n");
    if skipped > 0 {
        out.push_str(&format!("\n... ({skipped} more lines) ...\n"));
    } else if !head.is_empty() {
        out.push('\n');
    }
    out.push_str(&end.join("\n"));
    out
}

/// The lines of `lines` while their bytes stay within `max`; a first line longer than
/// that is cut at a character boundary.
fn bounded<'a>(lines: impl Iterator<Item = &'a str>, max: usize) -> Vec<&'a str> {
    let mut taken = Vec::new();
    let mut used = 0;
    for line in lines {
        if used + line.len() > max {
            if taken.is_empty() {
                let mut cut = max.min(line.len());
                while !line.is_char_boundary(cut) {
                    cut -= 1;
                }
                taken.push(&line[..cut]);
            }
            break;
        }
        used += line.len() + 1;
        taken.push(line);
    }
    taken
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_command_is_shortened_in_messages() {
        let huge = "x ".repeat(100_000);
        let e = Error::exit("local", ExitStatus::from_code(1), ErrorKind::Exit)
            .with_command(huge.clone());
        assert!(e.to_string().len() < 600, "{}", e.to_string().len());
        assert!(e.to_string().contains("bytes) ..."));
        assert_eq!(e.command(), Some(huge.as_str()));
    }

    #[test]
    fn tail_is_bounded_and_keeps_the_first_lines() {
        let long: String = (0..100).map(|i| format!("line {i}\n")).collect();
        let t = tail(long.as_bytes());
        assert!(t.starts_with("line 0\nline 1\n"), "{t}");
        assert!(t.contains("... (80 more lines) ..."), "{t}");
        assert!(t.ends_with("line 99"));
        assert_eq!(t.lines().count(), TAIL_LINES + 1);
        assert!(tail("é".repeat(3000).as_bytes()).len() <= TAIL_BYTES + 4);
        let wide = format!("{}\n{}", "a".repeat(5000), "b".repeat(5000));
        assert!(tail(wide.as_bytes()).len() <= TAIL_BYTES + 40);
        assert_eq!(tail(b"short\nerror\n"), "short\nerror");
    }
}

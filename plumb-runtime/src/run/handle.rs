//! What the streaming calls hand back: [`Lines`] and [`Handle`].

use std::io::{self, BufRead, BufReader, Read, Write};

use crate::error::{Error, ErrorKind};
use crate::output::{ExitStatus, Output};
use crate::run::Started;
use crate::Result;

/// The lines of a running command's stdout, as they come; from [`Expr::lines`](crate::Expr::lines).
///
/// Each item is a line without its line ending. If the command fails, the last item is the
/// error (with the stderr tail). Dropping the iterator early kills the command.
#[must_use = "dropping `Lines` kills the command"]
pub struct Lines {
    pub(super) reader: Option<BufReader<os_pipe::PipeReader>>,
    pub(super) started: Started,
    pub(super) done: bool,
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
                Ok(_) => return Some(line_text(line, &self.started)),
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

/// A line read with its ending, as text without it: an error naming the command when it
/// is not UTF-8.
pub(super) fn line_text(mut line: Vec<u8>, started: &Started) -> Result<String> {
    if line.last() == Some(&b'\n') {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    }
    String::from_utf8(line).map_err(|e| {
        Error::new(
            ErrorKind::Utf8,
            &started.machine,
            format!("a line is not valid UTF-8 ({})", e.utf8_error()),
        )
        .with_command(started.command.clone())
    })
}

impl Drop for Lines {
    fn drop(&mut self) {
        self.reader = None;
        self.started.abandon();
    }
}

/// A running command; from [`Expr::spawn`](crate::Expr::spawn).
///
/// Write to its [`stdin`](Handle::stdin), read its [`stdout`](Handle::stdout), then
/// [`wait`](Handle::wait) for its [`Output`]. Dropping a handle that was not waited for
/// kills the command.
#[must_use = "dropping a `Handle` kills the command"]
pub struct Handle {
    pub(super) started: Started,
    pub(super) stdin: Option<ChildStdin>,
    pub(super) stdout: Option<ChildStdout>,
    pub(super) result: Option<Output>,
}

/// The write end of a spawned command's stdin.
#[derive(Debug)]
pub struct ChildStdin(pub(super) os_pipe::PipeWriter);

/// The read end of a spawned command's stdout.
#[derive(Debug)]
pub struct ChildStdout(pub(super) os_pipe::PipeReader);

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
        let out = f.into_output();
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

impl std::fmt::Debug for Lines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lines")
            .field("command", &self.started.command)
            .field("machine", &self.started.machine)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle")
            .field("command", &self.started.command)
            .field("machine", &self.started.machine)
            .field("result", &self.result)
            .finish_non_exhaustive()
    }
}

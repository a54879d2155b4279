//! One persistent remote `sh` and the frame around each command it runs.
//!
//! Each command runs in a subshell of its own, `( SCRIPT )`, so `cd`, variables, `umask`
//! and traps end with it; its stdin is `/dev/null` or a file of its `stdin_bytes`, never
//! the shell's own input; its stdout and stderr go to files of its own, so a background
//! child that keeps writing writes there, never into the next command's answer. The shell
//! then prints stdout, a marker with the exit code, stderr and an end marker. The markers
//! hold a random nonce, new for every command and only in its frame: no name, path or
//! variable a command (or another user) can see holds it, so no output can imitate them.
//! A newline before each marker (which the reader drops) keeps them at a line start
//! whatever the output ends with. An empty stream costs no process (`[ -s ]` is built in).

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use super::super::transport::Child;
use super::super::Remote;
use crate::error::{Error, ErrorKind};
use crate::model::job::Stdio;
use crate::output::ExitStatus;
use crate::render::quote::quote_into;
use crate::Result;

/// Commands between two cleanups of the shell's output files.
const CLEANUP_EVERY: u64 = 64;

/// A persistent `sh` on the remote host, reading frames on its stdin.
pub(super) struct Shell {
    input: os_pipe::PipeWriter,
    output: Replies,
    /// Taken when the shell is dropped, to be reaped.
    child: Option<Box<dyn Child>>,
}

impl Shell {
    /// Starts `sh` through the user's login shell and waits for it to say it is ready.
    pub(super) fn open(remote: &Remote) -> Result<Shell> {
        let name = crate::machine::Machine::name(remote).to_string();
        let setup = |e| Error::io(&name, "cannot create a pipe", e);
        let (in_r, input) = os_pipe::pipe().map_err(setup)?;
        let (out_r, out_w) = os_pipe::pipe().map_err(setup)?;
        let stdio = [Stdio::Fd(in_r.into()), Stdio::Fd(out_w.into()), Stdio::Null];
        let child = remote.exec_script(b"exec /bin/sh", stdio)?;
        let mut shell = Shell {
            input,
            output: Replies::new(out_r),
            child: Some(child),
        };
        let nonce = random_hex();
        let start = start_script(&nonce);
        let ready = shell.input.write_all(start.as_bytes()).and_then(|()| {
            let marker = format!("\n{nonce} ready\n");
            shell
                .output
                .copy_until(marker.as_bytes(), &mut io::sink(), None)
        });
        match ready {
            Ok(true) => Ok(shell),
            Ok(false) => Err(Error::new(
                ErrorKind::Protocol,
                &name,
                "the session's shell did not start",
            )),
            Err(e) => Err(Error::io(&name, "cannot start the session's shell", e)),
        }
    }

    /// The frame that runs `script`, with `stdin` as its input: in a subshell, or in the
    /// shell itself when it cannot change the shell (see `pool::in_place`), which saves a
    /// fork.
    fn frame(script: &Script, stdin: Option<&[u8]>, nonce: &str) -> Vec<u8> {
        // A command that may start processes gets output files of its own, which a child
        // it leaves behind may go on writing; a builtin leaves no child, so it reuses one
        // pair (creating two files is 60 µs of the 100 µs a frame costs the shell).
        let own_files: &[u8] = b"__plumb_next; ";
        let (open, close, script, files): (&[u8], &[u8], &[u8], &[u8]) = match script {
            Script::Subshell(s) => (b"( ", b"\n)", s, own_files),
            Script::External(s) => (b"{ ", b"\n}", s, own_files),
            Script::Builtin(s) => (b"{ ", b"\n}", s, b"__plumb_f=\"$__plumb_d/0\"; "),
        };
        let mut f = Vec::with_capacity(script.len() + 128);
        f.extend_from_slice(files);
        let input: &[u8] = match stdin {
            Some(bytes) => {
                f.extend_from_slice(b"printf ");
                quote_into(&octal(bytes), &mut f);
                f.extend_from_slice(b" >\"$__plumb_f.i\"; ");
                b"\"$__plumb_f.i\""
            }
            None => b"/dev/null",
        };
        f.extend_from_slice(open);
        f.extend_from_slice(script);
        f.extend_from_slice(close);
        f.extend_from_slice(b" >\"$__plumb_f.o\" 2>\"$__plumb_f.e\" <");
        f.extend_from_slice(input);
        f.extend_from_slice(b"; __plumb_end ");
        f.extend_from_slice(nonce.as_bytes());
        f.extend_from_slice(b"\n");
        f
    }

    /// Runs one command: its output goes to `stdout` and `stderr`, its code comes back.
    /// An error means the shell is broken (it ended, or the connection did).
    pub(super) fn run(
        &mut self,
        script: &Script,
        stdin: Option<&[u8]>,
        stdout: &mut dyn Write,
        stderr: &mut dyn Write,
    ) -> io::Result<i32> {
        // A new marker for every command, which exists only in the frame: nothing the
        // command can see (a name, a path, the shell's variables) holds it.
        let nonce = random_hex();
        let frame = Self::frame(script, stdin, &nonce);
        self.input.write_all(&frame)?;
        let ended = || io::Error::new(io::ErrorKind::UnexpectedEof, "the session's shell ended");
        let code_marker = format!("\n{nonce} ");
        let nudge = &mut self.input;
        if !self
            .output
            .copy_until(code_marker.as_bytes(), stdout, Some(&mut *nudge))?
        {
            return Err(ended());
        }
        let mut line = Vec::new();
        if !self
            .output
            .copy_until(b"\n", &mut line, Some(&mut *nudge))?
        {
            return Err(ended());
        }
        let code = std::str::from_utf8(&line)
            .ok()
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| io::Error::other("a malformed exit code from the session's shell"))?;
        let end_marker = format!("\n{nonce}.\n");
        if !self
            .output
            .copy_until(end_marker.as_bytes(), stderr, Some(nudge))?
        {
            return Err(ended());
        }
        Ok(code)
    }
}

/// What a new shell runs first: a private directory for the commands' output files, gone
/// when the shell ends (a hangup or TERM ends it through the EXIT trap), in memory where
/// there is a tmpfs (creating two files per command on a disk cost 0.4 ms here, on tmpfs
/// 0.06 ms); then the two halves of every frame, as functions parsed once, and `ready`.
///
/// The directory's name holds the shell's pid and a random part that is not `nonce` (any
/// user can list `/dev/shm`): a later shell removes the directories of this user's shells
/// that died without their trap (SIGKILL).
fn start_script(nonce: &str) -> String {
    format!(
        "__plumb_n=0; for __plumb_t in /dev/shm \"${{TMPDIR:-/tmp}}\" /tmp; do \
         __plumb_d=\"$__plumb_t/.plumb-session-$$-{dir}\"; mkdir -m 700 \"$__plumb_d\" 2>/dev/null && break; \
         __plumb_d=; done; [ -n \"$__plumb_d\" ] || exit 1; \
         trap 'rm -rf \"$__plumb_d\"' EXIT; trap 'exit 129' HUP; trap 'exit 143' TERM; trap 'exit 141' PIPE; \
         for __plumb_o in \"$__plumb_t\"/.plumb-session-*; do __plumb_p=${{__plumb_o##*/.plumb-session-}}; \
         __plumb_p=${{__plumb_p%%-*}}; case $__plumb_p in ''|*[!0-9]*) continue;; esac; \
         [ -O \"$__plumb_o\" ] && ! kill -0 \"$__plumb_p\" 2>/dev/null && rm -rf \"$__plumb_o\"; done; \
         __plumb_next() {{ __plumb_n=$((__plumb_n+1)); __plumb_f=\"$__plumb_d/$__plumb_n\"; \
         if [ $((__plumb_n % {CLEANUP_EVERY})) = 0 ]; then rm -f \"$__plumb_d\"/*; fi; }}; \
         __plumb_end() {{ __plumb_rc=$?; if [ -s \"$__plumb_f.o\" ] || [ -s \"$__plumb_f.e\" ]; then \
         [ -s \"$__plumb_f.o\" ] && cat \"$__plumb_f.o\"; printf '\\n%s %d\\n' \"$1\" \"$__plumb_rc\"; \
         [ -s \"$__plumb_f.e\" ] && cat \"$__plumb_f.e\"; printf '\\n%s.\\n' \"$1\"; \
         else printf '\\n%s %d\\n\\n%s.\\n' \"$1\" \"$__plumb_rc\" \"$1\"; fi; }}; \
         printf '\\n{nonce} ready\\n'\n",
        dir = random_hex(),
    )
}

impl Drop for Shell {
    /// The input closes after this (the fields drop), which ends the shell; a thread then
    /// reaps what ran it (the local `ssh` client, for `SshMachine`), so no zombie stays.
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            let reaped = std::thread::Builder::new()
                .name("plumb-session-end".into())
                .spawn(move || drop(child.wait()));
            // No thread: the process stays a zombie until this program ends.
            drop(reaped);
        }
    }
}

/// What a shell runs for one command.
pub(super) enum Script {
    /// A whole rendered script, in a subshell of its own.
    Subshell(Vec<u8>),
    /// A builtin that cannot change the shell, run in it: no process at all.
    Builtin(Vec<u8>),
    /// A program (not a builtin), run from the shell itself: one fork, as in a subshell
    /// that execs it, without the subshell's.
    External(Vec<u8>),
}

/// Every byte as `\ooo`, for `printf`: binary-safe, NUL included, in any POSIX `sh`.
fn octal(bytes: &[u8]) -> Vec<u8> {
    bytes
        .iter()
        .flat_map(|b| format!("\\{b:03o}").into_bytes())
        .collect()
}

/// 128 random bits in hex, from the kernel.
fn random_hex() -> String {
    crate::sys::random_token()
}

/// The shell's stdout, read up to markers.
struct Replies {
    r: os_pipe::PipeReader,
    /// Read, not yet handed out.
    buf: Vec<u8>,
    chunk: Box<[u8]>,
}

impl Replies {
    fn new(r: os_pipe::PipeReader) -> Replies {
        Replies {
            r,
            buf: Vec::new(),
            chunk: vec![0; 64 * 1024].into_boxed_slice(),
        }
    }

    /// Copies everything before `marker` into `sink` and consumes the marker; false if
    /// the stream ended first. Holds back only what could be the start of a marker.
    ///
    /// After each read that leaves the reply unfinished, a newline goes to `nudge` (the
    /// shell's input, where it is an empty command): the shell writes a reply in several
    /// pieces, sshd sends a piece while the last is unacknowledged only after an ACK
    /// (Nagle), and our side delays ACKs by up to 40 ms unless it has data to send.
    fn copy_until(
        &mut self,
        marker: &[u8],
        sink: &mut dyn Write,
        mut nudge: Option<&mut os_pipe::PipeWriter>,
    ) -> io::Result<bool> {
        loop {
            if let Some(at) = find(&self.buf, marker) {
                sink.write_all(&self.buf[..at])?;
                self.buf.drain(..at + marker.len());
                return Ok(true);
            }
            let keep = marker.len() - 1;
            if self.buf.len() > keep {
                let n = self.buf.len() - keep;
                sink.write_all(&self.buf[..n])?;
                self.buf.drain(..n);
            }
            let n = self.r.read(&mut self.chunk)?;
            if n == 0 {
                return Ok(false);
            }
            self.buf.extend_from_slice(&self.chunk[..n]);
            if let Some(input) = nudge.as_deref_mut() {
                if find(&self.buf, marker).is_none() {
                    input.write_all(b"\n")?;
                }
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A command run in a session's shell, as the remote layer sees a command: its status
/// arrives from whoever ran it (the caller's thread, or one of its own).
pub(super) struct LaneChild {
    pub(super) state: Arc<LaneState>,
    /// For the errors.
    pub(super) machine: String,
}

/// Where the command's runner leaves the outcome.
#[derive(Default)]
pub(super) struct LaneState {
    done: Mutex<Option<std::result::Result<ExitStatus, String>>>,
    cv: Condvar,
    /// Set by `kill` before the shell dies of it: its end is then the kill, not a fault.
    pub(super) killed: AtomicBool,
}

impl LaneState {
    pub(super) fn finish(&self, result: std::result::Result<ExitStatus, String>) {
        *self.done.lock().unwrap() = Some(result);
        self.cv.notify_all();
    }
}

impl LaneChild {
    fn answer(&self, outcome: &std::result::Result<ExitStatus, String>) -> Result<ExitStatus> {
        outcome
            .clone()
            .map_err(|why| Error::new(ErrorKind::Connect, &self.machine, why))
    }
}

impl Child for LaneChild {
    fn wait(&self) -> Result<ExitStatus> {
        let mut done = self.state.done.lock().unwrap();
        loop {
            if let Some(outcome) = done.as_ref() {
                return self.answer(outcome);
            }
            done = self.state.cv.wait(done).unwrap();
        }
    }

    fn try_wait(&self) -> Result<Option<ExitStatus>> {
        let done = self.state.done.lock().unwrap();
        done.as_ref().map(|o| self.answer(o)).transpose()
    }

    fn kill(&self) {
        self.state.killed.store(true, Ordering::SeqCst);
    }
}

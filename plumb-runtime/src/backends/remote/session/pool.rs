//! The shells of a session: a pool of workers, each a shell and the thread that drives
//! it, and the lane one command takes through one of them.

use crate::sys::OsBytes;
use std::fs::File;
use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex};

use super::shell::{LaneChild, LaneState, Script, Shell};
use crate::backends::remote::transport::Child;
use crate::backends::remote::Remote;
use crate::model::expr::{Expr, Node};
use crate::model::job::{Job, Stdio};
use crate::output::ExitStatus;
use crate::render::script::Context;
use crate::Result;

/// `stdin_bytes` above this size go through a channel: in a shell they travel as a
/// `printf` argument four times their size.
const MAX_LANE_STDIN: usize = 1 << 20;

/// Outputs up to this size are written to the job's pipes at once: an empty pipe takes
/// 64 KiB without blocking. Larger ones are written by a thread while the caller reads.
const PIPE_ROOM: usize = 64 * 1024;

/// The shells of a session and the cap on how many may be open.
pub(crate) struct Pool {
    remote: Remote,
    pub(super) max: usize,
    pub(super) state: Mutex<PoolState>,
    freed: Condvar,
}

#[derive(Default)]
pub(super) struct PoolState {
    pub(super) idle: Vec<Shell>,
    pub(super) open: usize,
}

impl Pool {
    pub(super) fn new(remote: Remote, max: usize) -> Pool {
        Pool {
            remote,
            max: max.max(1),
            state: Mutex::new(PoolState::default()),
            freed: Condvar::new(),
        }
    }

    /// Whether `job` runs in a shell as it would on the machine: nothing streamed, and no
    /// stdin but `stdin_bytes` of a reasonable size.
    pub(super) fn takes(job: &Job) -> bool {
        let stdin_ok = matches!(job.stdin, Stdio::Null | Stdio::Inherit);
        let bytes_ok = job
            .expr
            .opts()
            .stdin
            .as_ref()
            .is_none_or(|b| b.len() <= MAX_LANE_STDIN);
        !job.streamed && stdin_ok && bytes_ok
    }

    /// An idle shell, a new one while under the cap, or the next one freed.
    pub(super) fn acquire(&self) -> Result<Shell> {
        let mut state = self.state.lock().unwrap();
        loop {
            match Self::turn(&mut state, self.max) {
                Turn::Idle(shell) => return Ok(shell),
                Turn::New => {
                    drop(state);
                    return self.open();
                }
                Turn::Busy => state = self.freed.wait(state).unwrap(),
            }
        }
    }

    /// An idle shell or a new one while under the cap; `None` when all are busy.
    pub(super) fn try_acquire(&self) -> Option<Shell> {
        let mut state = self.state.lock().unwrap();
        match Self::turn(&mut state, self.max) {
            Turn::Idle(shell) => Some(shell),
            Turn::New => {
                drop(state);
                self.open().ok()
            }
            Turn::Busy => None,
        }
    }

    /// What a caller gets now: an idle shell, the right to open one (counted already),
    /// or nothing while every shell is busy.
    fn turn(state: &mut PoolState, max: usize) -> Turn {
        if let Some(shell) = state.idle.pop() {
            return Turn::Idle(shell);
        }
        if state.open < max {
            state.open += 1;
            return Turn::New;
        }
        Turn::Busy
    }

    /// A new shell for a caller that was given the right to open one.
    fn open(&self) -> Result<Shell> {
        Shell::open(&self.remote).inspect_err(|_| self.release(None))
    }

    /// Returns a working shell to the pool, or forgets a broken one.
    fn release(&self, shell: Option<Shell>) {
        let mut state = self.state.lock().unwrap();
        match shell {
            Some(s) => state.idle.push(s),
            None => state.open -= 1,
        }
        self.freed.notify_one();
    }
}

/// See [`Pool::turn`].
enum Turn {
    Idle(Shell),
    New,
    Busy,
}

/// A shell taken from a pool for one command; back to the pool if the command never
/// starts (a refused value, a sudo password that could not be written).
pub(crate) struct Lane {
    pub(super) in_place: Option<Script>,
    pub(super) pool: Arc<Pool>,
    pub(super) shell: Option<Shell>,
    pub(super) machine: String,
}

impl Drop for Lane {
    fn drop(&mut self) {
        if let Some(shell) = self.shell.take() {
            self.pool.release(Some(shell));
        }
    }
}

impl Lane {
    /// Runs `script` in the shell and hands its output to `streams` as a channel would.
    /// In the caller's thread when nothing can interrupt it: that saves two thread
    /// switches per command. When a timeout can come (`background`), in a thread of its
    /// own, so that the timer runs meanwhile.
    pub(crate) fn exec(
        mut self,
        script: &[u8],
        stdin: Option<&[u8]>,
        streams: [Stdio; 2],
        background: bool,
    ) -> Result<Box<dyn Child>> {
        let script = self
            .in_place
            .take()
            .unwrap_or_else(|| Script::Subshell(script.to_vec()));
        let state = Arc::new(LaneState::default());
        let command = Command {
            script,
            stdin: stdin.map(<[u8]>::to_vec),
            streams,
            done: state.clone(),
            pool: self.pool.clone(),
            shell: self.shell.take(),
        };
        if background {
            std::thread::Builder::new()
                .name("plumb-session".into())
                .spawn(move || command.run())
                .map_err(|e| crate::Error::io(&self.machine, "cannot start a thread", e))?;
        } else {
            command.run();
        }
        Ok(Box::new(LaneChild {
            state,
            machine: self.machine.clone(),
        }))
    }
}

/// One command in its shell, and where its results go.
struct Command {
    script: Script,
    stdin: Option<Vec<u8>>,
    streams: [Stdio; 2],
    done: Arc<LaneState>,
    pool: Arc<Pool>,
    /// Taken by `run`; a command dropped unrun (no thread for it) forgets its shell.
    shell: Option<Shell>,
}

impl Command {
    /// Runs it, delivers its output, returns the shell (or forgets a broken one), and
    /// leaves the status.
    fn run(mut self) {
        let Some(mut shell) = self.shell.take() else {
            return;
        };
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let ran = shell.run(&self.script, self.stdin.as_deref(), &mut out, &mut err);
        let streams = std::mem::replace(&mut self.streams, [Stdio::Null, Stdio::Null]);
        deliver(streams, out, err);
        match ran {
            Ok(code) => {
                self.pool.release(Some(shell));
                self.done.finish(Ok(ExitStatus::from_code(code)));
            }
            Err(e) => {
                self.pool.release(None);
                let killed = self.done.killed.load(std::sync::atomic::Ordering::SeqCst);
                self.done.finish(if killed {
                    Ok(ExitStatus::from_signal(crate::sys::SIGKILL))
                } else {
                    Err(format!(
                        "the session's shell broke during the command ({e}); \
                         the next command gets a new shell"
                    ))
                });
            }
        }
    }
}

impl Drop for Command {
    fn drop(&mut self) {
        if self.shell.take().is_some() {
            self.pool.release(None);
            self.done
                .finish(Err("the session could not run the command".into()));
        }
    }
}

/// Writes a command's output to its streams and closes them, as a channel's end does:
/// at once when the pipes have room, else from a thread while the caller reads.
fn deliver([stdout, stderr]: [Stdio; 2], out: Vec<u8>, err: Vec<u8>) {
    let fits = out.len() <= PIPE_ROOM && err.len() <= PIPE_ROOM;
    let write = move || {
        let mut o = sink(stdout, io::stdout);
        let mut e = sink(stderr, io::stderr);
        // A reader that went away (a closed pipe) is not this command's failure.
        let _ = o.write_all(&out);
        let _ = e.write_all(&err);
    };
    if fits {
        write();
    } else if std::thread::Builder::new()
        .name("plumb-session-output".into())
        .spawn(write)
        .is_err()
    {
        // No thread: the streams close unwritten, which the caller sees as empty output.
    }
}

/// Builtins that cannot change the shell that runs them (no `cd`, `exit`, `set`,
/// assignments or traps), whatever their arguments.
const STATELESS: &[&str] = &["true", "false", "echo", "printf", "test", "[", "pwd"];

/// Names a shell may run as builtins that change it (POSIX's, and bash's, ksh's and zsh's
/// where `/bin/sh` is one of them): such a command needs a subshell. Any other program is
/// a process of its own, which cannot change the shell that starts it.
const SHELL_STATE: &[&str] = &[
    ".",
    ":",
    "alias",
    "bg",
    "break",
    "builtin",
    "cd",
    "chdir",
    "command",
    "continue",
    "declare",
    "dirs",
    "disown",
    "enable",
    "eval",
    "exec",
    "exit",
    "export",
    "fc",
    "fg",
    "getopts",
    "hash",
    "history",
    "jobs",
    "let",
    "local",
    "logout",
    "mapfile",
    "popd",
    "pushd",
    "read",
    "readarray",
    "readonly",
    "return",
    "set",
    "setopt",
    "shift",
    "shopt",
    "source",
    "trap",
    "typeset",
    "ulimit",
    "umask",
    "unalias",
    "unset",
    "wait",
];

/// How `expr` can run in the shell itself rather than in a subshell: a stateless builtin
/// (no fork at all), or a program that is not a shell builtin (the shell forks it either
/// way; the subshell would fork once more, 0.3 ms here). Only a single command with
/// plain arguments in the handle's own directory and environment, no timeout (whose kill
/// needs the subshell's process group) and no sudo.
pub(super) fn in_place(expr: &Expr, ctx: &Context) -> Option<Script> {
    let Node::Cmd(cmd) = expr.node() else {
        return None;
    };
    let opts = expr.opts();
    let plain = cmd.env.is_empty()
        && cmd.redirects.is_empty()
        && opts.dir.is_none()
        && opts.env.is_empty()
        && opts.timeout.is_none()
        && !opts.stderr_to_stdout
        && opts.sudo.is_none()
        && ctx.dir.is_none()
        && ctx.env.is_empty();
    let program = cmd.argv.first()?.to_str()?;
    if !plain || SHELL_STATE.contains(&program) {
        return None;
    }
    let mut line = Vec::new();
    for (i, arg) in cmd.argv.iter().enumerate() {
        if i == 0 {
            crate::render::quote::quote_program_into(arg.as_bytes(), &mut line);
        } else {
            crate::render::quote::quote_into(arg.as_bytes(), &mut line);
        }
        line.push(b' ');
    }
    Some(if STATELESS.contains(&program) {
        Script::Builtin(line)
    } else {
        Script::External(line)
    })
}

/// Where a stream's bytes go: the job's pipe, this process's own stream, or nowhere.
fn sink<W: Write + Send + 'static>(stdio: Stdio, own: fn() -> W) -> Box<dyn Write + Send> {
    match stdio {
        Stdio::Fd(fd) => Box::new(File::from(fd)),
        Stdio::Inherit => Box::new(own()),
        Stdio::Null => Box::new(io::sink()),
    }
}

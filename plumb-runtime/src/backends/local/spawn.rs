//! Starting one command: its redirections applied left to right on a table of its three
//! streams, as a shell does, then the program (`std::process::Command`) or, when
//! [`Builtins`] says so, plumb's builtin of that name.

use std::borrow::Cow;
use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;
use std::process::{self, Command};
use std::sync::Arc;

use shared_child::SharedChild;

use super::builtin::{self, BuiltinRun};
use super::tree::Io;
use super::{os, Ctx, Shared, NAME};
use crate::builtins::{self as portable, Builtin, Builtins};
use crate::error::{Error, ErrorKind};
use crate::model::expr::{Cmd, Expr, Redirect};
use crate::model::job::Stdio;
use crate::render::quote;
use crate::sys::OwnedStream;
use crate::Result;

/// Where one of a command's three standard streams goes while its redirections are
/// worked out, left to right as a shell does.
pub(super) enum Target {
    /// This process's own stream with that number.
    Parent(u8),
    Null,
    Fd(OwnedStream),
}

/// A started command: a process, or a builtin on a thread.
pub(super) enum Spawned {
    Child(Arc<SharedChild>),
    Builtin(Arc<BuiltinRun>),
}

/// What runs for a command.
enum Choice<'a> {
    Program(Cow<'a, OsStr>),
    Builtin(&'static str, Builtin),
}

impl Target {
    fn from_stdio(stdio: Stdio, n: u8) -> Target {
        match stdio {
            Stdio::Inherit => Target::Parent(n),
            Stdio::Null => Target::Null,
            Stdio::Fd(fd) => Target::Fd(fd),
        }
    }

    fn try_clone(&self) -> io::Result<Target> {
        Ok(match self {
            Target::Parent(n) => Target::Parent(*n),
            Target::Null => Target::Null,
            Target::Fd(fd) => Target::Fd(fd.try_clone()?),
        })
    }

    /// The `std` stream for the child's descriptor `n`.
    fn into_std(self, n: u8) -> io::Result<process::Stdio> {
        Ok(match self {
            Target::Parent(p) if p == n => process::Stdio::inherit(),
            Target::Parent(p) => crate::sys::clone_std(p)?.into(),
            Target::Null => process::Stdio::null(),
            Target::Fd(fd) => fd.into(),
        })
    }
}

/// Starts one command with its redirections, environment and streams.
pub(super) fn spawn_cmd(
    expr: &Expr,
    cmd: &Cmd,
    ctx: &Ctx,
    io: Io,
    late_dup: bool,
    shared: &Arc<Shared>,
) -> Result<Spawned> {
    let command = || quote::render(expr);
    // `run::launch` has validated the tree: a program, no NUL bytes, valid names.
    let Some((program, args)) = cmd.argv.split_first() else {
        unreachable!("validated: a command has a program");
    };

    let mut fds = [
        Target::from_stdio(io.stdin, 0),
        Target::from_stdio(io.stdout, 1),
        Target::from_stdio(io.stderr, 2),
    ];
    for r in &cmd.redirects {
        redirect(&mut fds, r, ctx).map_err(|err| err.with_command(command()))?;
    }
    let setup = |e: io::Error| {
        Error::io(NAME, "cannot set up the standard streams", e).with_command(command())
    };
    if late_dup {
        fds[2] = fds[1].try_clone().map_err(setup)?;
    }
    let program = match choose(program, cmd, ctx) {
        Choice::Builtin(name, b) => {
            return builtin::start(b, name, args.to_vec(), fds, ctx, shared)
                .map(Spawned::Builtin)
                .map_err(|e| Error::io(NAME, format!("cannot start the builtin `{name}`"), e))
                .map_err(|e| e.with_command(command()));
        }
        Choice::Program(p) => p,
    };
    let c = command_for(&program, args, cmd, ctx, fds).map_err(setup)?;
    start(c, &program, ctx, shared).map_err(|e| e.with_command(command()))
}

/// Starts one command detached from this process (see `detached.rs`): a program only,
/// its streams `/dev/null`'s (`NUL`) unless redirected; its pid.
#[cfg_attr(unix, allow(dead_code))]
pub(super) fn spawn_detached(expr: &Expr, cmd: &Cmd, ctx: &Ctx) -> Result<u32> {
    let command = || quote::render(expr);
    let Some((program, args)) = cmd.argv.split_first() else {
        unreachable!("validated: a command has a program");
    };
    let mut fds = [Target::Null, Target::Null, Target::Null];
    for r in &cmd.redirects {
        redirect(&mut fds, r, ctx).map_err(|err| err.with_command(command()))?;
    }
    let program = match choose(program, cmd, ctx) {
        Choice::Builtin(name, _) => {
            let why = format!("the builtin `{name}` cannot run detached: it lives in this process");
            return Err(Error::new(ErrorKind::NotFound, NAME, why).with_command(command()));
        }
        Choice::Program(p) => p,
    };
    let setup = |e: io::Error| {
        Error::io(NAME, "cannot set up the standard streams", e).with_command(command())
    };
    let mut c = command_for(&program, args, cmd, ctx, fds).map_err(setup)?;
    os::detach(&mut c)
        .map(|child| child.id())
        .map_err(|e| start_error(e, &program, ctx).with_command(command()))
}

/// The program or builtin that runs `program`, by [`Builtins`]: a builtin only for one
/// of the builtins' names with no directory in it, and never under sudo (which finds its
/// program itself). Where the OS cannot look programs up as a shell does (Windows, where
/// std finds only `.exe` files), the program is looked up here, with `PATHEXT`.
fn choose<'a>(program: &'a OsStr, cmd: &Cmd, ctx: &Ctx) -> Choice<'a> {
    let name = program.to_str().filter(|n| !os::names_path(n));
    let (Some(name), None) = (name, &ctx.sudo) else {
        return Choice::Program(Cow::Borrowed(program));
    };
    let builtin = portable::find(name);
    let found = || {
        let path = cmd
            .env
            .iter()
            .rev()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| v.clone());
        ctx.lookup(name, path, false).into_iter().next()
    };
    match (builtin, ctx.builtins) {
        (Some((name, b)), Builtins::Always) => Choice::Builtin(name, b),
        (Some((name, b)), Builtins::Fallback) => match found() {
            Some(path) if os::LOOKS_UP_PROGRAMS => Choice::Program(Cow::Owned(path.into())),
            Some(_) => Choice::Program(Cow::Borrowed(program)),
            None => Choice::Builtin(name, b),
        },
        _ if os::LOOKS_UP_PROGRAMS => match found() {
            Some(path) => Choice::Program(Cow::Owned(path.into())),
            None => Choice::Program(Cow::Borrowed(program)),
        },
        _ => Choice::Program(Cow::Borrowed(program)),
    }
}

/// The process for `program`: sudo's command line when the context sudos, its
/// environment, directory and streams.
fn command_for(
    program: &OsStr,
    args: &[std::ffi::OsString],
    cmd: &Cmd,
    ctx: &Ctx,
    fds: [Target; 3],
) -> io::Result<Command> {
    let sudo_argv;
    let (program, args) = match &ctx.sudo {
        Some(as_user) => {
            sudo_argv = super::sudo::command_line(as_user, cmd, ctx);
            let (p, a) = sudo_argv
                .split_first()
                .expect("sudo's argv starts with sudo");
            (p.as_os_str(), a)
        }
        None => (program, args),
    };
    let mut c = Command::new(program);
    c.args(args);
    if ctx.askpass.is_some() {
        // sudo runs `cat FILE`, FILE being its prompt (see model::sudo).
        c.env("SUDO_ASKPASS", cat_program());
    }
    for (k, v) in &ctx.env {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    for (k, v) in &cmd.env {
        c.env(k, v);
    }
    if let Some(dir) = &ctx.dir {
        c.current_dir(dir);
    }
    let [stdin, stdout, stderr] = fds;
    c.stdin(stdin.into_std(0)?);
    c.stdout(stdout.into_std(1)?);
    c.stderr(stderr.into_std(2)?);
    Ok(c)
}

/// Starts the process, with an error that says why it could not start.
fn start(mut c: Command, program: &OsStr, ctx: &Ctx, shared: &Shared) -> Result<Spawned> {
    shared
        .start(&mut c)
        .map(Spawned::Child)
        .map_err(|err| start_error(err, program, ctx))
}

/// Why `program` could not start.
fn start_error(err: io::Error, program: &OsStr, ctx: &Ctx) -> Error {
    {
        let program = Path::new(program).display();
        match err.kind() {
            io::ErrorKind::NotFound => {
                let message = match &ctx.dir {
                    Some(dir) if !dir.is_dir() => {
                        format!("directory `{}` not found", dir.display())
                    }
                    _ => format!("program `{program}` not found"),
                };
                Error::new(ErrorKind::NotFound, NAME, message)
            }
            io::ErrorKind::PermissionDenied => {
                Error::io(NAME, format!("program `{program}` cannot be executed"), err)
            }
            // std refuses arguments that a batch file (`.bat`, `.cmd`) could read as
            // commands (CVE-2024-24576): nothing ran, and nothing can run them safely.
            io::ErrorKind::InvalidInput => Error::io(
                NAME,
                format!(
                    "`{program}` cannot be given these arguments safely (a batch file would \
                     read some of their characters as commands)"
                ),
                err,
            ),
            _ => Error::io(NAME, format!("cannot start `{program}`"), err),
        }
    }
}

/// `io` with `redirects` performed on it, left to right: the streams of a block.
pub(super) fn redirected(io: Io, redirects: &[Redirect], ctx: &Ctx) -> Result<Io> {
    let mut fds = [
        Target::from_stdio(io.stdin, 0),
        Target::from_stdio(io.stdout, 1),
        Target::from_stdio(io.stderr, 2),
    ];
    for r in redirects {
        redirect(&mut fds, r, ctx)?;
    }
    let [stdin, stdout, stderr] = fds;
    let back = |t: Target, n: u8| -> Result<Stdio> {
        match t {
            Target::Parent(p) if p == n => Ok(Stdio::Inherit),
            Target::Parent(p) => crate::sys::clone_std(p)
                .map(Stdio::Fd)
                .map_err(|e| Error::io(NAME, "cannot duplicate a stream", e)),
            Target::Null => Ok(Stdio::Null),
            Target::Fd(fd) => Ok(Stdio::Fd(fd)),
        }
    };
    Ok(Io {
        stdin: back(stdin, 0)?,
        stdout: back(stdout, 1)?,
        stderr: back(stderr, 2)?,
    })
}

/// Performs one redirection on the table of the child's streams.
fn redirect(fds: &mut [Target; 3], r: &Redirect, ctx: &Ctx) -> Result<()> {
    let open = |path: &OsStr, append: bool| -> Result<Target> {
        let path = ctx.resolve(Path::new(path));
        let mut opts = OpenOptions::new();
        opts.create(true).write(true);
        if append {
            opts.append(true);
        } else {
            opts.truncate(true);
        }
        let file = opts.open(&path).map_err(|err| {
            Error::io(
                NAME,
                format!("cannot open `{}` for writing", path.display()),
                err,
            )
        })?;
        Ok(Target::Fd(file.into()))
    };
    let dup = |t: &Target| {
        t.try_clone()
            .map_err(|e| Error::io(NAME, "cannot duplicate a stream", e))
    };
    match r {
        Redirect::Out { fd, append, path } => fds[usize::from(*fd).min(2)] = open(path, *append)?,
        Redirect::OutAll { append, path } => {
            fds[1] = open(path, *append)?;
            fds[2] = dup(&fds[1])?;
        }
        Redirect::In(path) => {
            let path = ctx.resolve(Path::new(path));
            let file = File::open(&path).map_err(|err| {
                Error::io(
                    NAME,
                    format!("cannot open `{}` for reading", path.display()),
                    err,
                )
            })?;
            fds[0] = Target::Fd(file.into());
        }
        Redirect::Here(bytes) => {
            let stdin = Stdio::feed(bytes.as_slice().into())
                .map_err(|e| Error::io(NAME, "cannot create a pipe", e))?;
            fds[0] = Target::from_stdio(stdin, 0);
        }
        Redirect::Dup { from, to } => {
            let copy = dup(&fds[usize::from(*to).min(2)])?;
            fds[usize::from(*from).min(2)] = copy;
        }
    }
    Ok(())
}

/// Where `cat` is here, for sudo's askpass helper (which must be a path).
fn cat_program() -> &'static Path {
    static CAT: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    CAT.get_or_init(|| {
        let here = super::LocalMachine::new();
        crate::machine::Machine::which(&here, "cat").unwrap_or_else(|_| "/bin/cat".into())
    })
}

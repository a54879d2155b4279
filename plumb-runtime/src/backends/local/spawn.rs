//! Starting one command: its redirections applied left to right on a table of its three
//! streams, as a shell does, then `std::process::Command`.

use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{self, Command};
use std::sync::Arc;

use shared_child::SharedChild;

use super::tree::Io;
use super::watchdog::Shared;
use super::{Ctx, NAME};
use crate::error::{Error, ErrorKind};
use crate::model::expr::{Cmd, Expr, Redirect};
use crate::model::job::Stdio;
use crate::render::quote;
use crate::Result;

/// Where one of a command's three standard streams goes while its redirections are
/// worked out, left to right as a shell does.
enum Target {
    /// This process's own stream with that number.
    Parent(u8),
    Null,
    Fd(OwnedFd),
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
            Target::Parent(0) => io::stdin().as_fd().try_clone_to_owned()?.into(),
            Target::Parent(1) => io::stdout().as_fd().try_clone_to_owned()?.into(),
            Target::Parent(_) => io::stderr().as_fd().try_clone_to_owned()?.into(),
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
    shared: &Shared,
) -> Result<Arc<SharedChild>> {
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

    let sudo_argv;
    let (program, args) = match &ctx.sudo {
        Some(as_user) => {
            sudo_argv = super::sudo::command_line(as_user, cmd, ctx);
            sudo_argv
                .split_first()
                .expect("sudo's argv starts with sudo")
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
    c.stdin(stdin.into_std(0).map_err(setup)?);
    c.stdout(stdout.into_std(1).map_err(setup)?);
    c.stderr(stderr.into_std(2).map_err(setup)?);
    if shared.kill_tree {
        // Only when a kill may come: a process in its own group no longer gets the
        // terminal's Ctrl-C, and reading the terminal from a background group stops it.
        c.process_group(0);
    }
    shared.start(&mut c).map_err(|err| {
        let program = Path::new(program).display();
        let error = match err.kind() {
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
            _ => Error::io(NAME, format!("cannot start `{program}`"), err),
        };
        error.with_command(command())
    })
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
        let own = |fd: std::io::Result<OwnedFd>| {
            fd.map(Stdio::Fd)
                .map_err(|e| Error::io(NAME, "cannot duplicate a stream", e))
        };
        match t {
            Target::Parent(p) if p == n => Ok(Stdio::Inherit),
            Target::Parent(0) => own(io::stdin().as_fd().try_clone_to_owned()),
            Target::Parent(1) => own(io::stdout().as_fd().try_clone_to_owned()),
            Target::Parent(_) => own(io::stderr().as_fd().try_clone_to_owned()),
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

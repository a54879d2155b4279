//! A command started here and left running (`Expr::spawn_detached`): the remote machines'
//! script, run by `/bin/sh`, which backgrounds the command in a shell that ignores HUP and
//! exits at once with its pid. The detached command is then the child of no process of
//! ours (init reaps it), in no process group we kill, and its stdio is `/dev/null`
//! unless redirected.
//!
//! Windows has no `sh`: there one command (no pipeline or sequence) starts detached from
//! this process's console and Job Object, with its redirections.

#[cfg(unix)]
use std::io::Write;
#[cfg(unix)]
use std::os::unix::ffi::OsStrExt;
#[cfg(unix)]
use std::process::{Command, Stdio};

use super::{Ctx, NAME};
#[cfg(unix)]
use crate::backends::remote::{detached_pid, RawOutput};
use crate::error::Error;
use crate::model::Expr;
#[cfg(unix)]
use crate::render::script::{self, Context};
use crate::Result;

/// Starts `expr` detached in `ctx`; its pid.
#[cfg(windows)]
pub(super) fn start(expr: &Expr, ctx: &Ctx) -> Result<u32> {
    use crate::error::ErrorKind;
    use crate::model::expr::Node;
    match expr.node() {
        Node::Cmd(cmd) if cmd.expand.is_none() => {
            super::spawn::spawn_detached(expr, cmd, &ctx.enter(expr))
        }
        _ => Err(Error::new(
            ErrorKind::Unsupported,
            NAME,
            "on Windows a detached command is one program with its redirections: there is \
             no `sh` to run a pipeline, a sequence or words to expand",
        )
        .with_command(crate::render::quote::render(expr))),
    }
}

/// Starts `expr` detached in `ctx`; its pid.
#[cfg(unix)]
pub(super) fn start(expr: &Expr, ctx: &Ctx) -> Result<u32> {
    let context = Context {
        dir: ctx.dir.clone(),
        env: ctx.env.clone(),
    };
    let rendered = script::render_detached(expr, &context);
    let io = |e| Error::io(NAME, "cannot start /bin/sh", e);
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(std::ffi::OsStr::from_bytes(&rendered.script))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(io)?;
    if let Some(mut stdin) = child.stdin.take() {
        // The secret values, read first by the script (never its argv).
        let _ = stdin.write_all(&rendered.preamble);
    }
    let out = child.wait_with_output().map_err(io)?;
    let raw = RawOutput {
        code: crate::output::ExitStatus::from_std(out.status).shell_code(),
        stdout: out.stdout,
        stderr: out.stderr,
    };
    detached_pid(NAME, &raw)
}

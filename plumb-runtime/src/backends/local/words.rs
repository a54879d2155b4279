//! Words expanded here, before the command they belong to starts: a home directory from
//! the environment (or the passwd entry), a substitution run on this machine in the
//! command's directory and environment (its stdout read, its failure the command's), a
//! pattern matched against `std::fs`'s listings. What a word means is decided in
//! [`crate::expand`]; this file only finds the pieces.

use std::ffi::OsString;
use std::io::Read;
use std::sync::Arc;

use super::tree::{start_node, wait_running, Io};
use super::Shared;
use super::{Ctx, NAME};
use crate::error::Error;
use crate::expand::{self, Piece};
use crate::model::expr::{Cmd, Expr};
use crate::model::job::{Outcome, Stdio};
use crate::model::word::{Part, Word};
use crate::Result;

/// What expanding a command's words gave: its plain command line, or the outcome of a
/// substitution that failed (the command does not run).
pub(super) enum Expanded<T> {
    Ready(T),
    Failed(Outcome),
}

/// `cmd` with its words expanded into a plain argv and environment.
pub(super) fn expand_cmd(
    cmd: &Cmd,
    ctx: &Ctx,
    io: &Io,
    shared: &Arc<Shared>,
) -> Result<Expanded<Cmd>> {
    let Some(x) = &cmd.expand else {
        return Ok(Expanded::Ready(cmd.clone()));
    };
    let mut argv = Vec::new();
    for word in &x.argv {
        match fields(word, ctx, io, shared)? {
            Expanded::Ready(f) => argv.extend(f),
            Expanded::Failed(o) => return Ok(Expanded::Failed(o)),
        }
    }
    let mut env = Vec::new();
    for (k, word) in &x.env {
        // An assignment's value is one word: no splitting, no globbing.
        match assigned(word, ctx, io, shared)? {
            Expanded::Ready(v) => env.push((k.clone(), v)),
            Expanded::Failed(o) => return Ok(Expanded::Failed(o)),
        }
    }
    Ok(Expanded::Ready(Cmd {
        argv,
        env,
        redirects: cmd.redirects.clone(),
        expand: None,
    }))
}

/// The arguments `word` gives in `ctx`.
pub(super) fn fields(
    word: &Word,
    ctx: &Ctx,
    io: &Io,
    shared: &Arc<Shared>,
) -> Result<Expanded<Vec<OsString>>> {
    if let Some(plain) = word.as_plain() {
        return Ok(Expanded::Ready(vec![plain.to_os_string()]));
    }
    let pieces = match pieces(word, ctx, io, shared)? {
        Expanded::Ready(p) => p,
        Expanded::Failed(o) => return Ok(Expanded::Failed(o)),
    };
    let base = ctx.resolve(std::path::Path::new("."));
    Ok(Expanded::Ready(expand::fields(
        &pieces,
        &base,
        &crate::sys::each_entry,
    )))
}

/// `word` as one value (an assignment's): its pieces joined, nothing split or globbed.
fn assigned(word: &Word, ctx: &Ctx, io: &Io, shared: &Arc<Shared>) -> Result<Expanded<OsString>> {
    let pieces = match pieces(word, ctx, io, shared)? {
        Expanded::Ready(p) => p,
        Expanded::Failed(o) => return Ok(Expanded::Failed(o)),
    };
    let mut value = Vec::new();
    for p in pieces {
        match p {
            Piece::Text(b) | Piece::Pattern(b) | Piece::Split(b) => value.extend(b),
        }
    }
    Ok(Expanded::Ready(crate::sys::os_from_bytes(value)))
}

/// The word's parts with homes found and substitutions run.
fn pieces(word: &Word, ctx: &Ctx, io: &Io, shared: &Arc<Shared>) -> Result<Expanded<Vec<Piece>>> {
    let mut pieces = Vec::new();
    for part in &word.0 {
        pieces.push(match part {
            Part::Text(t) => Piece::Text(t.as_encoded_bytes().to_vec()),
            Part::Pattern(p) => Piece::Pattern(p.as_encoded_bytes().to_vec()),
            Part::Home(user) => {
                Piece::Text(home(ctx, user.as_deref())?.as_encoded_bytes().to_vec())
            }
            Part::Subst { expr, quoted } => match substitute(expr, ctx, io, shared)? {
                Expanded::Ready(out) if *quoted => Piece::Text(out),
                Expanded::Ready(out) => Piece::Split(out),
                Expanded::Failed(o) => return Ok(Expanded::Failed(o)),
            },
        });
    }
    Ok(Expanded::Ready(pieces))
}

/// Runs `expr` here in `ctx`, with the command's stdin and stderr: its stdout without
/// trailing newlines, or its outcome when it failed.
fn substitute(expr: &Expr, ctx: &Ctx, io: &Io, shared: &Arc<Shared>) -> Result<Expanded<Vec<u8>>> {
    let setup = |e| Error::io(NAME, "cannot set up a command substitution", e);
    let (mut r, w) = os_pipe::pipe().map_err(setup)?;
    let sub_io = Io {
        stdin: io.stdin.try_clone().map_err(setup)?,
        stdout: Stdio::Fd(w.into()),
        stderr: io.stderr.try_clone().map_err(setup)?,
    };
    let running = start_node(expr, ctx, sub_io, false, shared)?;
    let mut out = Vec::new();
    let read = r.read_to_end(&mut out);
    let outcome = wait_running(running, shared)?;
    read.map_err(setup)?;
    if !outcome.accepted {
        return Ok(Expanded::Failed(outcome));
    }
    while out.last() == Some(&b'\n') {
        out.pop();
    }
    Ok(Expanded::Ready(out))
}

/// A home directory: the user's own (`HOME` as the command would see it, else the passwd
/// entry), or `user`'s.
fn home(ctx: &Ctx, user: Option<&std::ffi::OsStr>) -> Result<OsString> {
    if user.is_none() {
        if let Some(home) = ctx.var("HOME").filter(|h| !h.is_empty()) {
            return Ok(home);
        }
    }
    crate::sys::home_of(user).ok_or_else(|| {
        let who = user.map_or("this user".to_string(), |u| {
            format!("`{}`", u.to_string_lossy())
        });
        Error::new(
            crate::ErrorKind::NotFound,
            NAME,
            format!("no home directory for {who}"),
        )
    })
}

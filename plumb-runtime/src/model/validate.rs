//! What no machine can run, refused before anything starts.

use crate::sys::OsBytes;
use std::ffi::{OsStr, OsString};

use crate::model::expr::{Cmd, Expr, Node, Redirect};
use crate::model::word::{Part, Word};

/// Checks what no machine can run: an empty command, a NUL byte (no program can receive
/// one), an environment variable name that is not `[A-Za-z_][A-Za-z0-9_]*`.
pub(crate) fn validate(expr: &Expr) -> std::result::Result<(), String> {
    validate_in(expr, false)
}

/// [`validate`] for a node whose ancestors sudo (`sudo`).
fn validate_in(expr: &Expr, sudo: bool) -> std::result::Result<(), String> {
    let opts = expr.opts();
    if opts.dir.as_deref().is_some_and(|d| nul(d.as_os_str())) {
        return Err("the directory contains a NUL byte".into());
    }
    for (k, v) in &opts.env {
        check_env(k, v.as_deref())?;
    }
    if let Some(user) = opts.sudo.as_ref().and_then(|s| s.user.as_deref()) {
        if user.is_empty() || nul(user) || user.as_bytes().starts_with(b"-") {
            return Err(format!(
                "`{}` is not a user to sudo as",
                user.to_string_lossy()
            ));
        }
    }
    let sudo = sudo || opts.sudo.is_some();
    match expr.node() {
        Node::Cmd(cmd) => command(cmd, sudo)?,
        Node::Cd(dir) if word_has_nul(dir) => {
            return Err("`cd`'s directory contains a NUL byte".into())
        }
        Node::Block { redirects, .. } => check_redirects(redirects)?,
        Node::Cd(_) | Node::Pipe(_) | Node::Seq(_) => {}
    }
    expr.children()
        .into_iter()
        .try_for_each(|e| validate_in(e, sudo))
}

fn nul(s: &OsStr) -> bool {
    s.as_bytes().contains(&0)
}

/// A NUL byte in a word's text (what expands from it is checked when it runs).
fn word_has_nul(word: &Word) -> bool {
    word.0.iter().any(|p| match p {
        Part::Text(t) | Part::Pattern(t) | Part::Home(Some(t)) => nul(t),
        Part::Home(None) | Part::Subst { .. } => false,
    })
}

fn command(cmd: &Cmd, sudo: bool) -> std::result::Result<(), String> {
    let (first, words): (Option<&OsStr>, Vec<bool>) = match &cmd.expand {
        Some(x) => (
            x.argv.first().and_then(Word::as_plain),
            x.argv.iter().map(word_has_nul).collect(),
        ),
        None => (
            cmd.argv.first().map(OsString::as_os_str),
            cmd.argv.iter().map(|a| nul(a)).collect(),
        ),
    };
    if words.is_empty() {
        return Err("empty command: the program name expanded to nothing".into());
    }
    if let Some(first) = first.filter(|f| sudo && is_assignment(f)) {
        // sudo (and the `env` that hands variables on) read a leading `NAME=value` as a
        // variable to set, not as the program.
        return Err(format!(
            "`{}` cannot be run under sudo: sudo would read it as a variable to set",
            first.to_string_lossy()
        ));
    }
    if let Some(i) = words.iter().position(|&n| n) {
        return Err(format!(
            "argument {i} contains a NUL byte, which no program can receive"
        ));
    }
    for (k, v) in &cmd.env {
        check_env(k, Some(v))?;
    }
    for (k, w) in cmd.expand.iter().flat_map(|x| x.env.iter()) {
        check_env(k, None)?;
        if word_has_nul(w) {
            return Err(format!(
                "environment variable `{}` contains a NUL byte",
                k.to_string_lossy()
            ));
        }
    }
    check_redirects(&cmd.redirects)
}

fn check_redirects(redirects: &[Redirect]) -> std::result::Result<(), String> {
    for r in redirects {
        if let Redirect::Out { path, .. } | Redirect::OutAll { path, .. } | Redirect::In(path) = r {
            if nul(path) {
                return Err("a redirection's file name contains a NUL byte".into());
            }
        }
    }
    Ok(())
}

/// The environment a machine handle adds (`with_env`): names every shell can carry, as
/// for the expression's own.
pub(crate) fn check_env_list(
    env: &[(OsString, Option<OsString>)],
) -> std::result::Result<(), String> {
    env.iter().try_for_each(|(k, v)| check_env(k, v.as_deref()))
}

/// Whether a word reads as an assignment (`NAME=...`) in the place of a command name.
pub(crate) fn is_assignment(word: &OsStr) -> bool {
    let w = word.as_bytes();
    w.iter()
        .position(|&b| b == b'=')
        .is_some_and(|at| at > 0 && is_name(&w[..at]))
}

fn is_name(k: &[u8]) -> bool {
    k.first()
        .is_some_and(|c| *c == b'_' || c.is_ascii_alphabetic())
        && k.iter().all(|c| *c == b'_' || c.is_ascii_alphanumeric())
}

/// An environment variable every shell and machine can carry.
pub(crate) fn check_env(key: &OsStr, value: Option<&OsStr>) -> std::result::Result<(), String> {
    if !is_name(key.as_bytes()) {
        return Err(format!(
            "`{}` is not a valid environment variable name",
            key.to_string_lossy()
        ));
    }
    if value.is_some_and(|v| v.as_bytes().contains(&0)) {
        return Err(format!(
            "environment variable `{}` contains a NUL byte",
            key.to_string_lossy()
        ));
    }
    Ok(())
}

/// Checks that every word of `expr` can reach a remote host as it is: on Windows, an
/// OS string with an unpaired surrogate has no UTF-8 to send (see
/// [`crate::sys::is_text`]); on Unix every word can.
pub(crate) fn check_text(expr: &Expr) -> std::result::Result<(), String> {
    let opts = expr.opts();
    let mut words: Vec<&OsStr> = Vec::new();
    words.extend(opts.dir.as_deref().map(|d| d.as_os_str()));
    for (k, v) in &opts.env {
        words.push(k);
        words.extend(v.as_deref());
    }
    words.extend(opts.sudo.as_ref().and_then(|s| s.user.as_deref()));
    let texts = |w: &Word| -> Vec<OsString> {
        let mut out = Vec::new();
        for p in &w.0 {
            if let Part::Text(t) | Part::Pattern(t) | Part::Home(Some(t)) = p {
                out.push(t.clone());
            }
        }
        out
    };
    let mut owned: Vec<OsString> = Vec::new();
    let redirects = match expr.node() {
        Node::Cmd(cmd) => {
            words.extend(cmd.argv.iter().map(|a| a.as_os_str()));
            for (k, v) in &cmd.env {
                words.extend([k.as_os_str(), v.as_os_str()]);
            }
            for x in cmd.expand.iter() {
                owned.extend(x.argv.iter().flat_map(texts));
                for (k, w) in &x.env {
                    owned.push(k.clone());
                    owned.extend(texts(w));
                }
            }
            cmd.redirects.as_slice()
        }
        Node::Cd(dir) => {
            owned.extend(texts(dir));
            &[]
        }
        Node::Block { redirects, .. } => redirects.as_slice(),
        Node::Pipe(_) | Node::Seq(_) => &[],
    };
    for r in redirects {
        if let Redirect::Out { path, .. } | Redirect::OutAll { path, .. } | Redirect::In(path) = r {
            words.push(path);
        }
    }
    words.extend(owned.iter().map(|o| o.as_os_str()));
    if let Some(w) = words.into_iter().find(|w| !crate::sys::is_text(w)) {
        return Err(not_text(w));
    }
    expr.children().into_iter().try_for_each(check_text)
}

/// The message for a word that is not text (see [`check_text`]).
pub(crate) fn not_text(word: &OsStr) -> String {
    format!(
        "`{}` is not Unicode text (it has an unpaired surrogate), which a remote host \
         cannot be sent",
        word.to_string_lossy()
    )
}

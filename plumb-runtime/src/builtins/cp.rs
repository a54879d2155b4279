//! `cp [-rRafpP] source... target`: files, and with `-r`/`-R`/`-a` directory trees,
//! copied to `target` (into it when it is a directory, and always when there are several
//! sources).
//!
//! As GNU's `cp`: a tree is copied with its symbolic links as links (`-P`); a single file
//! follows a link to what it names. A new file gets its source's permission bits under
//! the umask, an existing one is overwritten and keeps its own (`-f`: removed first if it
//! cannot be opened); `-p` and `-a` keep modes and modification times too.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::Path;

use super::opts::{parse, Spec};
use super::{copy_stream, reason, shown, Call, CopyError};
use crate::output::ExitStatus;

const SPEC: Spec = Spec {
    flags: "rRafpP",
    with_value: "",
    long: &[("recursive", 'r'), ("archive", 'a'), ("force", 'f')],
};

/// How the copy goes.
#[derive(Clone, Copy)]
struct How {
    recursive: bool,
    keep: bool,
    force: bool,
}

pub(super) fn main(call: &mut Call) -> ExitStatus {
    let p = match parse(call.args, &SPEC) {
        Ok(p) => p,
        Err(e) => return call.usage(e),
    };
    let how = How {
        recursive: p.has('r') || p.has('R') || p.has('a'),
        keep: p.has('p') || p.has('a'),
        force: p.has('f'),
    };
    let dest = match call.destination(&p.operands) {
        Ok(dest) => dest,
        Err(status) => return status,
    };
    let mut failed = false;
    for src in dest.sources {
        if call.cancel.is_cancelled() {
            return call.killed();
        }
        let from = call.resolve(src);
        let to = dest.of(src);
        if let Err(message) = copy_one(call, &from, &to, src, how) {
            if call.cancel.is_cancelled() {
                return call.killed();
            }
            call.warn(message);
            failed = true;
        }
    }
    ExitStatus::from_code(i32::from(failed))
}

/// Copies one source; the message of what failed.
fn copy_one(call: &Call, from: &Path, to: &Path, src: &OsStr, how: How) -> Result<(), String> {
    let meta =
        fs::metadata(from).map_err(|e| format!("cannot stat '{}': {}", shown(src), reason(&e)))?;
    if meta.is_dir() {
        if !how.recursive {
            return Err(format!(
                "-r not specified; omitting directory '{}'",
                shown(src)
            ));
        }
        if inside(from, to) {
            return Err(format!(
                "cannot copy a directory, '{}', into itself, '{}'",
                shown(src),
                to.display()
            ));
        }
        return copy_tree(call, from, to, how);
    }
    if same_file(from, to) {
        return Err(format!(
            "'{}' and '{}' are the same file",
            shown(src),
            to.display()
        ));
    }
    copy_file(call, from, to, &meta, how)
}

/// Whether `to` is `from` or inside it (a copy of a tree into itself never ends).
fn inside(from: &Path, to: &Path) -> bool {
    let Ok(from) = fs::canonicalize(from) else {
        return false;
    };
    let parent = to.parent().and_then(|p| fs::canonicalize(p).ok());
    match (parent, to.file_name()) {
        (Some(parent), Some(name)) => parent.join(name).starts_with(&from),
        _ => false,
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

fn copy_tree(call: &Call, from: &Path, to: &Path, how: How) -> Result<(), String> {
    let fail = |what: &str, p: &Path, e: io::Error| {
        format!("cannot {what} '{}': {}", p.display(), reason(&e))
    };
    let meta = fs::symlink_metadata(from).map_err(|e| fail("stat", from, e))?;
    if meta.file_type().is_symlink() {
        let target = fs::read_link(from).map_err(|e| fail("read link", from, e))?;
        let _ = fs::remove_file(to);
        return crate::sys::symlink(&target, to).map_err(|e| fail("create link", to, e));
    }
    if !meta.is_dir() {
        return copy_file(call, from, to, &meta, how);
    }
    match crate::sys::dir_builder(crate::sys::mode(&meta).unwrap_or(0o777) | 0o700).create(to) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && to.is_dir() => {}
        Err(e) => return Err(fail("create directory", to, e)),
    }
    let entries = fs::read_dir(from).map_err(|e| fail("list", from, e))?;
    let mut first_error = None;
    for entry in entries {
        if call.cancel.is_cancelled() {
            return Err("killed".into());
        }
        let entry = entry.map_err(|e| fail("list", from, e))?;
        let result = copy_tree(call, &entry.path(), &to.join(entry.file_name()), how);
        first_error = first_error.or(result.err());
    }
    if how.keep {
        keep_attributes(to, &meta).map_err(|e| fail("preserve the mode of", to, e))?;
    }
    first_error.map_or(Ok(()), Err)
}

/// Copies a file's bytes to `to` (created, or overwritten keeping its mode).
fn copy_file(
    call: &Call,
    from: &Path,
    to: &Path,
    meta: &fs::Metadata,
    how: How,
) -> Result<(), String> {
    let fail = |what: &str, p: &Path, e: io::Error| {
        format!("cannot {what} '{}': {}", p.display(), reason(&e))
    };
    let mut src = File::open(from).map_err(|e| fail("open", from, e))?;
    let open = || {
        let mut opts = OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        crate::sys::create_mode(&mut opts, crate::sys::mode(meta).unwrap_or(0o666)).open(to)
    };
    let mut dst = match open() {
        Err(_) if how.force && fs::remove_file(to).is_ok() => open(),
        other => other,
    }
    .map_err(|e| fail("create regular file", to, e))?;
    match copy_stream(&mut src, &mut dst, call.cancel) {
        Ok(()) => {}
        Err(CopyError::Killed) => return Err("killed".into()),
        Err(CopyError::Read(e)) => return Err(fail("read", from, e)),
        Err(CopyError::Write(e)) => return Err(fail("write", to, e)),
    }
    drop(dst);
    if how.keep {
        keep_attributes(to, meta).map_err(|e| fail("preserve the mode of", to, e))?;
    }
    Ok(())
}

/// `-p`: the source's mode (where the OS has modes) and modification time.
fn keep_attributes(to: &Path, meta: &fs::Metadata) -> io::Result<()> {
    if let Ok(modified) = meta.modified() {
        // A file opens for writing; a directory only for reading, which sets its time
        // on Unix (Windows leaves a directory's time as it is).
        let f = OpenOptions::new()
            .write(true)
            .open(to)
            .or_else(|_| File::open(to));
        if let Ok(f) = f {
            let _ = f.set_modified(modified);
        }
    }
    match crate::sys::mode(meta) {
        Some(mode) => crate::sys::set_mode(to, mode & 0o7777),
        None => {
            let readonly = meta.permissions().readonly();
            crate::sys::set_mode(to, if readonly { 0o444 } else { 0o666 })
        }
    }
}

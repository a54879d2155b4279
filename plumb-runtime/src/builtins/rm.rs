//! `rm [-rRfdv] path...`: removes files, with `-r`/`-R` directory trees (links are
//! removed, never followed), with `-d` empty directories. `-f`: a missing path is no
//! error, and no operand is no error. `.`, `..` and `/` are refused, as POSIX and GNU
//! do. On Windows a read-only file is removed too, as on Unix (whose `rm` looks at the
//! directory's permission, not the file's).

use std::ffi::OsStr;
use std::fs;
use std::io::{self, Write};
use std::path::{Component, Path};

use super::opts::{parse, Spec};
use super::{reason, shown, Call};
use crate::output::ExitStatus;
use crate::sys::OsBytes;

const SPEC: Spec = Spec {
    flags: "rRfdv",
    with_value: "",
    long: &[
        ("recursive", 'r'),
        ("force", 'f'),
        ("dir", 'd'),
        ("verbose", 'v'),
    ],
};

pub(super) fn main(call: &mut Call) -> ExitStatus {
    let p = match parse(call.args, &SPEC) {
        Ok(p) => p,
        Err(e) => return call.usage(e),
    };
    let force = p.has('f');
    if p.operands.is_empty() && !force {
        return call.usage("missing operand");
    }
    let recursive = p.has('r') || p.has('R');
    let mut failed = false;
    for arg in &p.operands {
        if call.cancel.is_cancelled() {
            return call.killed();
        }
        if let Some(why) = refused(arg, recursive) {
            call.warn(why);
            failed = true;
            continue;
        }
        let path = call.resolve(arg);
        let result = match fs::symlink_metadata(&path) {
            Err(e) if force && e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => Err(e),
            Ok(m) if m.is_dir() && recursive => remove_tree(&path),
            Ok(m) if m.is_dir() && p.has('d') => fs::remove_dir(&path),
            Ok(m) if m.is_dir() => {
                call.warn(format!("cannot remove '{}': Is a directory", shown(arg)));
                failed = true;
                continue;
            }
            Ok(_) => remove_file(&path),
        };
        match result {
            Ok(()) if p.has('v') => {
                let _ = writeln!(call.stdout, "removed '{}'", shown(arg));
            }
            Ok(()) => {}
            Err(e) => {
                call.warn(format!("cannot remove '{}': {}", shown(arg), reason(&e)));
                failed = true;
            }
        }
    }
    ExitStatus::from_code(i32::from(failed))
}

/// Why `arg` may not be removed: `.` or `..` as its last part, or the root with `-r`.
fn refused(arg: &OsStr, recursive: bool) -> Option<String> {
    let bytes = arg.as_bytes();
    let sep = |b: &u8| *b == b'/' || (cfg!(windows) && *b == b'\\');
    let last = bytes.rsplit(sep).find(|s| !s.is_empty());
    if matches!(last, Some(b".") | Some(b"..")) {
        return Some(format!(
            "refusing to remove '.' or '..' directory: skipping '{}'",
            shown(arg)
        ));
    }
    let root = matches!(
        Path::new(arg).components().next_back(),
        Some(Component::RootDir | Component::Prefix(_))
    );
    if recursive && root {
        return Some(format!(
            "it is dangerous to operate recursively on '{}'",
            shown(arg)
        ));
    }
    None
}

/// A file or a link (on Windows a link to a directory is a directory entry of its own).
fn remove_file(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if cfg!(windows) && e.kind() == io::ErrorKind::PermissionDenied => {
            let is_link = fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
            if is_link {
                return fs::remove_dir(path);
            }
            make_writable(path)?;
            fs::remove_file(path)
        }
        other => other,
    }
}

/// A tree, its links removed and never followed (`std`'s walk).
fn remove_tree(path: &Path) -> io::Result<()> {
    match fs::remove_dir_all(path) {
        Err(e) if cfg!(windows) && e.kind() == io::ErrorKind::PermissionDenied => {
            writable_tree(path)?;
            fs::remove_dir_all(path)
        }
        other => other,
    }
}

/// Clears the read-only attribute of everything in the tree at `path` (Windows refuses to
/// remove a read-only file).
fn writable_tree(path: &Path) -> io::Result<()> {
    let meta = fs::symlink_metadata(path)?;
    if meta.is_dir() && !meta.file_type().is_symlink() {
        for entry in fs::read_dir(path)? {
            writable_tree(&entry?.path())?;
        }
    }
    if meta.permissions().readonly() && !meta.file_type().is_symlink() {
        make_writable(path)?;
    }
    Ok(())
}

fn make_writable(path: &Path) -> io::Result<()> {
    let mut perms = fs::metadata(path)?.permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    fs::set_permissions(path, perms)
}

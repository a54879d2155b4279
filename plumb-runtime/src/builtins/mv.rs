//! `mv [-fn] source... target`: renames, into `target` when it is a directory (always
//! when there are several sources). `-n` keeps an existing target; `-f` is accepted (a
//! builtin never asks). Across file systems a rename is a copy (links kept, modes and
//! times too) and a removal, as with GNU's `mv`.

use std::fs;
use std::io;
use std::path::Path;

use super::opts::{parse, Spec};
use super::{reason, shown, Call};
use crate::output::ExitStatus;

const SPEC: Spec = Spec {
    flags: "fn",
    with_value: "",
    long: &[("force", 'f'), ("no-clobber", 'n')],
};

pub(super) fn main(call: &mut Call) -> ExitStatus {
    let p = match parse(call.args, &SPEC) {
        Ok(p) => p,
        Err(e) => return call.usage(e),
    };
    let dest = match call.destination(&p.operands) {
        Ok(dest) => dest,
        Err(status) => return status,
    };
    let no_clobber = p.flags.iter().rev().find(|f| "fn".contains(**f)) == Some(&'n');
    let mut failed = false;
    for src in dest.sources {
        let from = call.resolve(src);
        let to = dest.of(src);
        if no_clobber && fs::symlink_metadata(&to).is_ok() {
            continue;
        }
        if let Err(e) = rename(&from, &to) {
            call.warn(format!(
                "cannot move '{}' to '{}': {}",
                shown(src),
                to.display(),
                reason(&e)
            ));
            failed = true;
        }
    }
    ExitStatus::from_code(i32::from(failed))
}

fn rename(from: &Path, to: &Path) -> io::Result<()> {
    fs::symlink_metadata(from)?;
    match fs::rename(from, to) {
        Err(e) if e.kind() == io::ErrorKind::CrossesDevices => {
            copy_all(from, to)?;
            remove_all(from)
        }
        other => other,
    }
}

/// A copy that keeps links, modes and times: what a rename would have kept.
fn copy_all(from: &Path, to: &Path) -> io::Result<()> {
    let meta = fs::symlink_metadata(from)?;
    if meta.file_type().is_symlink() {
        return crate::sys::symlink(&fs::read_link(from)?, to);
    }
    if meta.is_dir() {
        fs::create_dir(to)?;
        for entry in fs::read_dir(from)? {
            let entry = entry?;
            copy_all(&entry.path(), &to.join(entry.file_name()))?;
        }
    } else {
        fs::copy(from, to)?;
    }
    if let Some(mode) = crate::sys::mode(&meta) {
        crate::sys::set_mode(to, mode & 0o7777)?;
    }
    Ok(())
}

fn remove_all(path: &Path) -> io::Result<()> {
    if fs::symlink_metadata(path)?.is_dir() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    }
}

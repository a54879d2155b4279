//! `which` and transfers: a file streamed through the machine's files (SFTP, else `cat`),
//! a tree as one `tar` stream, both with progress.
//!
//! Modes as `cp` without `-p` (see `backends/local/files.rs`): what a transfer creates
//! gets the source's permission bits under the receiving side's umask, never a set-ID
//! or sticky bit, nor the source's owner; what was there keeps its mode. `tar` extracts
//! with `-o --no-same-permissions` (GNU, BSD and BusyBox `tar` all take both), which
//! root's `tar` needs too: by default it restores owners and every mode bit.

use std::ffi::OsStr;
use std::fs::File;
use std::path::{Path, PathBuf};

use super::Remote;
use crate::backends::local::{create_copy, fs_error};
use crate::error::{Error, ErrorKind};
use crate::machine::fs::Fs;
use crate::machine::Machine;
use crate::model::expr::cmd;
use crate::progress::{self, Observer};
use crate::render::quote::quote;
use crate::{Handle, Result};

/// The full path of `program` on the remote `PATH`.
pub(super) fn which(m: &Remote, program: &str) -> Result<PathBuf> {
    let script = [b"command -v -- ".as_slice(), &quote(program)].concat();
    let out = m.run_script(&script, &[])?;
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if out.code == 0 && path.starts_with('/') {
        Ok(PathBuf::from(path))
    } else {
        Err(Error::new(
            ErrorKind::NotFound,
            Machine::name(m),
            format!("program `{program}` not found on PATH"),
        ))
    }
}

/// Copies a local file or tree to `remote`: a file streamed into the remote one (SFTP, or
/// `cat` without it), a tree as one `tar` stream.
pub(super) fn upload(m: &Remote, local: &Path, remote: &Path, observer: Observer) -> Result<()> {
    let meta = std::fs::metadata(local).map_err(|e| fs_error("read", local, e))?;
    if meta.is_dir() {
        let total = tree_size(local);
        let from = progress::bounded(cmd(
            "tar",
            [os("-C"), local.as_os_str(), os("-cf"), os("-"), os(".")],
        ))
        .on(&crate::local())
        .spawn()?;
        let script = "mkdir -p \"$1\" && exec tar -C \"$1\" -o --no-same-permissions -xf -";
        let to = progress::bounded(cmd(
            "sh",
            [os("-c"), os(script), os("sh"), remote.as_os_str()],
        ))
        .on(m)
        .spawn()?;
        return pump(from, to, local, Some(total), observer);
    }
    let mut src = File::open(local).map_err(|e| fs_error("read", local, e))?;
    let mut dst = m.create_copy(remote, crate::backends::local::transfer_mode(&meta))?;
    progress::copy(&mut src, &mut dst, local, Some(meta.len()), observer)
        .map_err(|e| Error::from_stream(Machine::name(m), "write", remote, e))?;
    dst.finish()
}

/// Copies a remote file or tree to `local`, streamed the same ways.
pub(super) fn download(m: &Remote, remote: &Path, local: &Path, observer: Observer) -> Result<()> {
    let meta = m.metadata(remote, true)?;
    if meta.is_dir() {
        std::fs::create_dir_all(local).map_err(|e| fs_error("create", local, e))?;
        let from = progress::bounded(cmd(
            "tar",
            [
                os("-C"),
                m.resolve(remote).as_os_str(),
                os("-cf"),
                os("-"),
                os("."),
            ],
        ))
        .on(m)
        .spawn()?;
        let to = progress::bounded(cmd(
            "tar",
            [
                os("-C"),
                local.as_os_str(),
                os("-o"),
                os("--no-same-permissions"),
                os("-xf"),
                os("-"),
            ],
        ))
        .on(&crate::local())
        .spawn()?;
        return pump(from, to, remote, None, observer);
    }
    let mut src = m.open(remote)?;
    let mut dst = create_copy(local, meta.mode())?;
    progress::copy(&mut src, &mut dst, remote, Some(meta.len()), observer)
        .map_err(|e| Error::from_stream(Machine::name(m), "read", remote, e))
        .map(drop)
}

/// Streams `from`'s stdout into `to`'s stdin, counting. A failure of `to` (which makes
/// the copy fail too) is the one reported.
fn pump(
    mut from: Handle,
    mut to: Handle,
    file: &Path,
    total: Option<u64>,
    observer: Observer,
) -> Result<()> {
    let mut out = from.take_stdout().expect("a spawned command's stdout");
    let mut input = to.take_stdin().expect("a spawned command's stdin");
    let copied = progress::copy(&mut out, &mut input, file, total, observer);
    // Closed before waiting, so that neither side blocks on the other.
    drop((out, input));
    let received = to.wait();
    let sent = from.wait();
    received?;
    sent?;
    copied
        .map(drop)
        .map_err(|e| Error::io("local", format!("cannot copy `{}`", file.display()), e))
}

/// The size of the files below `dir`, for the progress total.
fn tree_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok())
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => tree_size(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

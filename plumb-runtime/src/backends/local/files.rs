//! Files here: `std::fs`, with errors that name the path.
//!
//! Transfers copy as `cp` without `-p` does (and `scp` and `sftp` without it, and
//! `rsync` without `-p`): a file or directory they create gets the source's permission
//! bits under the umask, never a set-user-ID, set-group-ID or sticky bit, and one that
//! was there keeps its own mode. A copy on one machine ([`Fs::copy`]) keeps modes, as
//! `cp -p`. Created files start with their final mode, so no other user ever sees them
//! more open than the umask allows; the umask itself is applied by the kernel, as
//! reading it would change it for every thread of the process.
//!
//! Windows has no modes: files get none, [`Metadata`] reports none, and what stands for
//! a mode there is the read-only attribute (kept by a copy, set by `set_permissions`
//! from the owner's write bit).

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use super::{LocalMachine, NAME};
use crate::error::Error;
use crate::machine::fs::{sorted, temp_name, FileType, Fs, Metadata, WriteFile};
use crate::progress::{self, Observer};
use crate::sys::{dir_builder, set_mode as chmod};
use crate::Result;

/// An error of a file here that names it.
pub(crate) fn fs_error(what: &str, path: &Path, err: io::Error) -> Error {
    Error::io(NAME, format!("cannot {what} `{}`", path.display()), err)
}

impl Fs for LocalMachine {
    fn read(&self, path: &Path) -> Result<Vec<u8>> {
        let path = self.ctx.resolve(path);
        fs::read(&path).map_err(|e| fs_error("read", &path, e))
    }

    fn write(&self, path: &Path, data: &[u8]) -> Result<()> {
        let path = self.ctx.resolve(path);
        fs::write(&path, data).map_err(|e| fs_error("write", &path, e))
    }

    fn append(&self, path: &Path, data: &[u8]) -> Result<()> {
        let mut f = self.create(path, true)?;
        f.write_all(data)
            .map_err(|e| fs_error("write", &self.ctx.resolve(path), e))?;
        f.finish()
    }

    fn open(&self, path: &Path) -> Result<Box<dyn Read + Send>> {
        let path = self.ctx.resolve(path);
        let f = File::open(&path).map_err(|e| fs_error("read", &path, e))?;
        Ok(Box::new(f))
    }

    fn create(&self, path: &Path, append: bool) -> Result<Box<dyn WriteFile>> {
        let path = self.ctx.resolve(path);
        let f = fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(&path)
            .map_err(|e| fs_error("write", &path, e))?;
        Ok(Box::new(LocalFile { f, path }))
    }

    fn metadata(&self, path: &Path, follow: bool) -> Result<Metadata> {
        let path = self.ctx.resolve(path);
        let m = if follow {
            fs::metadata(&path)
        } else {
            fs::symlink_metadata(&path)
        };
        let m = m.map_err(|e| fs_error("stat", &path, e))?;
        Ok(metadata(&m))
    }

    fn read_dir(&self, path: &Path) -> Result<Vec<OsString>> {
        let path = self.ctx.resolve(path);
        let entries = fs::read_dir(&path).map_err(|e| {
            // Windows says "invalid name" (Wine) or "invalid directory name" for a file.
            let e = match fs::metadata(&path) {
                Ok(m) if !m.is_dir() => io::Error::new(io::ErrorKind::NotADirectory, e),
                _ => e,
            };
            fs_error("list", &path, e)
        })?;
        let names = entries
            .map(|e| e.map(|e| e.file_name()))
            .collect::<io::Result<Vec<_>>>()
            .map_err(|e| fs_error("list", &path, e))?;
        Ok(sorted(names))
    }

    fn create_dir_all(&self, path: &Path) -> Result<()> {
        let path = self.ctx.resolve(path);
        fs::create_dir_all(&path).map_err(|e| fs_error("create", &path, e))
    }

    fn remove(&self, path: &Path) -> Result<()> {
        let path = self.ctx.resolve(path);
        let m = fs::symlink_metadata(&path).map_err(|e| fs_error("remove", &path, e))?;
        let result = if m.is_dir() {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
        result.map_err(|e| fs_error("remove", &path, e))
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        let (from, to) = (self.ctx.resolve(from), self.ctx.resolve(to));
        fs::rename(&from, &to).map_err(|e| fs_error("rename", &from, e))
    }

    fn set_permissions(&self, path: &Path, mode: u32) -> Result<()> {
        let path = self.ctx.resolve(path);
        chmod(&path, mode).map_err(|e| fs_error("set permissions of", &path, e))
    }

    fn symlink(&self, target: &Path, link: &Path) -> Result<()> {
        let link = self.ctx.resolve(link);
        crate::sys::symlink(target, &link).map_err(|e| fs_error("create link", &link, e))
    }

    fn read_link(&self, path: &Path) -> Result<PathBuf> {
        let path = self.ctx.resolve(path);
        fs::read_link(&path).map_err(|e| fs_error("read link", &path, e))
    }

    fn touch(&self, path: &Path) -> Result<()> {
        let path = self.ctx.resolve(path);
        let f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| fs_error("touch", &path, e))?;
        f.set_modified(std::time::SystemTime::now())
            .map_err(|e| fs_error("touch", &path, e))
    }

    /// `to` is the copy itself: an existing directory there is refused, as remotely.
    fn copy(&self, from: &Path, to: &Path) -> Result<()> {
        let (from, to) = (self.ctx.resolve(from), self.ctx.resolve(to));
        if fs::symlink_metadata(&to).is_ok_and(|m| m.is_dir()) {
            let exists = io::Error::from(io::ErrorKind::AlreadyExists);
            return Err(fs_error("copy to", &to, exists));
        }
        copy(&from, &to, Modes::Keep, &mut |_| {})
    }

    fn temp_dir(&self) -> Result<PathBuf> {
        let base = std::env::temp_dir();
        temp_name(|name| {
            let dir = base.join(name);
            match dir_builder(0o700).create(&dir) {
                Ok(()) => Ok(Some(dir)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(None),
                Err(e) => Err(fs_error("create", &dir, e)),
            }
        })
    }
}

/// A local file being written; `finish` syncs nothing, it only reports the close.
struct LocalFile {
    f: File,
    path: PathBuf,
}

impl Write for LocalFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.f.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.f.flush()
    }
}

impl WriteFile for LocalFile {
    fn finish(&mut self) -> Result<()> {
        self.f.flush().map_err(|e| fs_error("write", &self.path, e))
    }
}

/// What `std` says of a file, as plumb reports it.
fn metadata(m: &fs::Metadata) -> Metadata {
    let modified = m.modified().ok();
    match crate::sys::mode(m) {
        Some(mode) => Metadata::from_mode(mode, m.len(), modified, crate::sys::owner(m)),
        None => {
            let t = m.file_type();
            let file_type = if t.is_symlink() {
                FileType::Symlink
            } else if t.is_dir() {
                FileType::Dir
            } else if t.is_file() {
                FileType::File
            } else {
                FileType::Other
            };
            Metadata::without_mode(file_type, m.len(), modified, m.permissions().readonly())
        }
    }
}

/// The mode a transfer gives the copy of a local file on a machine with modes: its own,
/// or, from Windows, which has none, what a new file or directory gets under the
/// receiving side's umask (read-only: no write bits).
pub(crate) fn transfer_mode(m: &fs::Metadata) -> u32 {
    if let Some(mode) = crate::sys::mode(m) {
        return mode;
    }
    let all = if m.is_dir() { 0o777 } else { 0o666 };
    if m.permissions().readonly() {
        all & !0o222
    } else {
        all
    }
}

/// Whose modes a copy gets.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Modes {
    /// The source's, all of them: a copy on one machine.
    Keep,
    /// A transfer's, as the module says.
    Transfer,
}

/// Copies a file or a directory tree for a transfer; `to` is the destination itself.
/// Symlinks stay links; modes as the module says.
pub(super) fn copy_tree(from: &Path, to: &Path, observer: Observer) -> Result<()> {
    copy(from, to, Modes::Transfer, observer)
}

/// A file that receives a transfer: created with the permission bits of `mode` under
/// the umask, or truncated keeping its own mode.
pub(crate) fn create_copy(path: &Path, mode: u32) -> Result<File> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    crate::sys::create_mode(&mut opts, mode)
        .open(path)
        .map_err(|e| fs_error("create", path, e))
}

/// Copies a file or a directory tree; `to` is the destination itself.
fn copy(from: &Path, to: &Path, modes: Modes, observer: Observer) -> Result<()> {
    let m = fs::symlink_metadata(from).map_err(|e| fs_error("copy", from, e))?;
    if m.is_dir() {
        copy_dir(from, to, &m, modes, observer)
    } else if m.file_type().is_symlink() {
        let target = fs::read_link(from).map_err(|e| fs_error("read link", from, e))?;
        let _ = fs::remove_file(to);
        crate::sys::symlink(&target, to).map_err(|e| fs_error("create link", to, e))
    } else {
        let mut src = File::open(from).map_err(|e| fs_error("copy", from, e))?;
        let mut dst = match modes {
            Modes::Keep => File::create(to).map_err(|e| fs_error("copy to", to, e))?,
            Modes::Transfer => create_copy(to, transfer_mode(&m))?,
        };
        progress::copy(&mut src, &mut dst, from, Some(m.len()), observer)
            .map_err(|e| fs_error("copy", from, e))?;
        drop(dst);
        match modes {
            Modes::Keep => keep_mode(to, &m),
            Modes::Transfer => Ok(()),
        }
    }
}

/// A directory and what is in it. A transfer's new directory is made with the owner's
/// bits added, so that it can be filled, and loses those the source lacks at the end.
fn copy_dir(
    from: &Path,
    to: &Path,
    m: &fs::Metadata,
    modes: Modes,
    observer: Observer,
) -> Result<()> {
    let created = match modes {
        Modes::Keep => {
            fs::create_dir_all(to).map_err(|e| fs_error("create", to, e))?;
            false
        }
        Modes::Transfer => make_dir(to, transfer_mode(m))?,
    };
    let entries = fs::read_dir(from).map_err(|e| fs_error("list", from, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| fs_error("list", from, e))?;
        copy(&entry.path(), &to.join(entry.file_name()), modes, observer)?;
    }
    let lacking = 0o700 & !transfer_mode(m);
    match modes {
        Modes::Keep => keep_mode(to, m),
        Modes::Transfer if created && lacking != 0 => {
            let now = fs::metadata(to).map_err(|e| fs_error("stat", to, e))?;
            // A set-group-ID bit here was inherited from the parent: it stays, as with
            // `mkdir`. (Windows has no mode to narrow.)
            match crate::sys::mode(&now) {
                Some(mode) => set_mode(to, mode & 0o7777 & !lacking),
                None => Ok(()),
            }
        }
        Modes::Transfer => Ok(()),
    }
}

/// A copy on one machine keeps the source's mode (on Windows its read-only attribute).
fn keep_mode(to: &Path, m: &fs::Metadata) -> Result<()> {
    fs::set_permissions(to, m.permissions()).map_err(|e| fs_error("set permissions of", to, e))
}

/// Makes `dir` (its parents too) for a transfer of a directory of `mode`: whether it is
/// new.
fn make_dir(dir: &Path, mode: u32) -> Result<bool> {
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|e| fs_error("create", parent, e))?;
    }
    match dir_builder(mode & 0o777 | 0o700).create(dir) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(false),
        Err(e) => Err(fs_error("create", dir, e)),
    }
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    chmod(path, mode).map_err(|e| fs_error("set permissions of", path, e))
}

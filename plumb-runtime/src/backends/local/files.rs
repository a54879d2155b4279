//! Files here: `std::fs`, with errors that name the path.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::{LocalMachine, NAME};
use crate::error::Error;
use crate::machine::fs::{FileType, Fs, Metadata};
use crate::Result;

fn fs_error(what: &str, path: &Path, err: io::Error) -> Error {
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

    fn metadata(&self, path: &Path, follow: bool) -> Result<Metadata> {
        let path = self.ctx.resolve(path);
        let m = if follow {
            fs::metadata(&path)
        } else {
            fs::symlink_metadata(&path)
        };
        let m = m.map_err(|e| fs_error("stat", &path, e))?;
        let ft = m.file_type();
        Ok(Metadata {
            len: m.len(),
            mode: m.mode(),
            modified: m.modified().ok(),
            file_type: if ft.is_symlink() {
                FileType::Symlink
            } else if ft.is_dir() {
                FileType::Dir
            } else if ft.is_file() {
                FileType::File
            } else {
                FileType::Other
            },
        })
    }

    fn read_dir(&self, path: &Path) -> Result<Vec<OsString>> {
        let path = self.ctx.resolve(path);
        let entries = fs::read_dir(&path).map_err(|e| fs_error("list", &path, e))?;
        let mut names = entries
            .map(|e| e.map(|e| e.file_name()))
            .collect::<io::Result<Vec<_>>>()
            .map_err(|e| fs_error("list", &path, e))?;
        names.sort();
        Ok(names)
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
}

/// Copies a file or a directory tree; `to` is the destination itself.
pub(super) fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    let m = fs::symlink_metadata(from).map_err(|e| fs_error("copy", from, e))?;
    if m.is_dir() {
        fs::create_dir_all(to).map_err(|e| fs_error("create", to, e))?;
        let entries = fs::read_dir(from).map_err(|e| fs_error("list", from, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| fs_error("list", from, e))?;
            copy_tree(&entry.path(), &to.join(entry.file_name()))?;
        }
        fs::set_permissions(to, m.permissions()).map_err(|e| fs_error("set permissions of", to, e))
    } else if m.file_type().is_symlink() {
        let target = fs::read_link(from).map_err(|e| fs_error("read link", from, e))?;
        let _ = fs::remove_file(to);
        std::os::unix::fs::symlink(target, to).map_err(|e| fs_error("create link", to, e))
    } else {
        fs::copy(from, to)
            .map(drop)
            .map_err(|e| fs_error("copy", from, e))
    }
}

//! Every file operation over SFTP: one round trip for a stat, two for a small read or
//! write, and no remote shell or tool at all.

use std::ffi::OsString;

use crate::backends::remote::files::os_name;
use crate::sys::OsBytes;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::files::{Named, SftpReader, SftpWriter};
use super::wire::{fx, fxp, open, Attrs};
use super::{Failed, Pending, Sftp};
use crate::backends::remote::files::ShellFs;
use crate::error::{Error, ErrorKind};
use crate::machine::fs::{sorted, temp_name, Fs, Metadata, WriteFile};
use crate::Result;

/// The file operations of a machine whose server speaks SFTP.
pub(crate) struct SftpFs<'a> {
    pub(crate) sftp: &'a Arc<Sftp>,
    pub(crate) machine: &'a str,
    /// For what SFTP cannot do, or not safely.
    pub(crate) shell: &'a ShellFs<'a>,
}

fn bytes(path: &Path) -> &[u8] {
    path.as_os_str().as_bytes()
}

impl SftpFs<'_> {
    fn named(&self, path: &Path) -> Named {
        Named {
            machine: self.machine.to_string(),
            path: bytes(path).to_vec(),
        }
    }

    /// Names the machine, the operation and the path in a failure.
    fn fail<'p>(&'p self, what: &'p str, path: &'p Path) -> impl FnOnce(Failed) -> Error + 'p {
        move |f| f.error(self.machine, what, bytes(path))
    }

    /// A file that receives an upload: OpenSSH's server opens it with the permission
    /// bits of `mode`, which its umask narrows for a new file and an existing one
    /// ignores (the `sftp` client's `put` without `-p` relies on the same).
    pub(crate) fn create_copy(&self, path: &Path, mode: u32) -> Result<Box<dyn WriteFile>> {
        let flags = open::WRITE | open::CREAT | open::TRUNC;
        let attrs = Attrs::mode(mode & 0o777);
        let w = SftpWriter::open(self.sftp.clone(), self.named(path), flags, &attrs)
            .map_err(self.fail("write", path))?;
        Ok(Box::new(w))
    }

    fn write_all(&self, path: &Path, data: &[u8], append: bool) -> Result<()> {
        let mut w = self.create(path, append)?;
        w.write_all(data)
            .map_err(|e| Error::from_stream(self.machine, "write", path, e))?;
        w.finish()
    }

    fn mkdir_all(&self, path: &Path) -> std::result::Result<(), Failed> {
        let mkdir = |p: &Path| {
            self.sftp
                .call_ok(fxp::MKDIR, |r| r.bytes(bytes(p)).attrs(&Attrs::default()))
        };
        let is_dir = |p: &Path| {
            self.sftp
                .stat(bytes(p), true)
                .is_ok_and(|a| metadata(&a).is_dir())
        };
        match mkdir(path) {
            Ok(()) => Ok(()),
            Err(Failed::Status(..)) if is_dir(path) => Ok(()),
            Err(Failed::Status(..)) => {
                match path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    Some(parent) if !is_dir(parent) => self.mkdir_all(parent)?,
                    _ => {}
                }
                // Another process may make it meanwhile: that is success too.
                mkdir(path).or_else(|e| if is_dir(path) { Ok(()) } else { Err(e) })
            }
            Err(lost) => Err(lost),
        }
    }

    /// Removes `path` (whose attributes, not followed, are `attrs`) and what is below
    /// it: each directory's files with one window of requests, then its subdirectories,
    /// then itself. Where the host has no `rm` (see [`ShellFs::remove_tree`]).
    ///
    /// A symlink is never followed: REMOVE takes the link itself, and a subdirectory is
    /// entered only if an LSTAT right before says it is one (a listing's attributes may
    /// describe a link's target: servers other than OpenSSH's stat what they list). What
    /// stays is the race of a path: a directory swapped for a link between that LSTAT and
    /// the requests on its entries; SFTP has no `openat` to close it.
    fn remove_tree(&self, path: &[u8], attrs: &Attrs) -> std::result::Result<(), Failed> {
        if !metadata(attrs).is_dir() {
            return self.sftp.call_ok(fxp::REMOVE, |r| r.bytes(path));
        }
        let entries = self.sftp.read_dir(path)?;
        let child = |name: &[u8]| [path, b"/", name].concat();
        let removals: Vec<Pending> = entries
            .iter()
            .filter(|(_, a)| !metadata(a).is_dir())
            .map(|(name, _)| self.sftp.send(fxp::REMOVE, |r| r.bytes(&child(name))))
            .collect();
        for p in removals {
            super::expect_ok(p.wait())?;
        }
        for (name, _) in entries.iter().filter(|(_, a)| metadata(a).is_dir()) {
            let path = child(name);
            let now = self.sftp.stat(&path, false)?;
            self.remove_tree(&path, &now)?;
        }
        self.sftp.call_ok(fxp::RMDIR, |r| r.bytes(path))
    }
}

impl Fs for SftpFs<'_> {
    fn read(&self, path: &Path) -> Result<Vec<u8>> {
        let mut r = SftpReader::open(self.sftp.clone(), self.named(path))
            .map_err(self.fail("read", path))?;
        let mut data = Vec::new();
        r.read_to_end(&mut data)
            .map_err(|e| Error::from_stream(self.machine, "read", path, e))?;
        Ok(data)
    }

    fn write(&self, path: &Path, data: &[u8]) -> Result<()> {
        self.write_all(path, data, false)
    }

    fn append(&self, path: &Path, data: &[u8]) -> Result<()> {
        self.write_all(path, data, true)
    }

    fn open(&self, path: &Path) -> Result<Box<dyn Read + Send>> {
        let r = SftpReader::open(self.sftp.clone(), self.named(path))
            .map_err(self.fail("read", path))?;
        Ok(Box::new(r))
    }

    fn create(&self, path: &Path, append: bool) -> Result<Box<dyn WriteFile>> {
        let w = SftpWriter::create(self.sftp.clone(), self.named(path), append)
            .map_err(self.fail("write", path))?;
        Ok(Box::new(w))
    }

    fn metadata(&self, path: &Path, follow: bool) -> Result<Metadata> {
        let a = self
            .sftp
            .stat(bytes(path), follow)
            .map_err(self.fail("stat", path))?;
        Ok(metadata(&a))
    }

    /// A server says "no such file" for a file that is there but not a directory: a stat
    /// tells which.
    fn read_dir(&self, path: &Path) -> Result<Vec<OsString>> {
        let entries = match self.sftp.read_dir(bytes(path)) {
            Ok(entries) => entries,
            Err(Failed::Status(fx::NO_SUCH_FILE, _))
                if self.sftp.stat(bytes(path), true).is_ok() =>
            {
                let why = format!("cannot list `{}`: Not a directory", path.display());
                return Err(Error::new(ErrorKind::NotADirectory, self.machine, why));
            }
            Err(e) => return Err(self.fail("list", path)(e)),
        };
        Ok(sorted(
            entries
                .into_iter()
                .map(|(name, _)| os_name(self.machine, "list", path, name))
                .collect::<Result<_>>()?,
        ))
    }

    fn create_dir_all(&self, path: &Path) -> Result<()> {
        self.mkdir_all(path).map_err(self.fail("create", path))
    }

    /// A file or a link in one request; a tree with the host's `rm` where it can run,
    /// else walked over SFTP (see [`SftpFs::remove_tree`] for why).
    fn remove(&self, path: &Path) -> Result<()> {
        let a = self
            .sftp
            .stat(bytes(path), false)
            .map_err(self.fail("remove", path))?;
        if metadata(&a).is_dir() && self.shell.remove_tree(path)? {
            return Ok(());
        }
        self.remove_tree(bytes(path), &a)
            .map_err(self.fail("remove", path))
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        self.sftp
            .rename(bytes(from), bytes(to))
            .map_err(self.fail("rename", from))
    }

    fn set_permissions(&self, path: &Path, mode: u32) -> Result<()> {
        self.sftp
            .call_ok(fxp::SETSTAT, |r| {
                r.bytes(bytes(path)).attrs(&Attrs::mode(mode))
            })
            .map_err(self.fail("set permissions of", path))
    }

    fn symlink(&self, target: &Path, link: &Path) -> Result<()> {
        self.sftp
            .symlink(bytes(target), bytes(link))
            .map_err(self.fail("create link", link))
    }

    fn read_link(&self, path: &Path) -> Result<PathBuf> {
        let target = self
            .sftp
            .read_link(bytes(path))
            .map_err(self.fail("read link", path))?;
        os_name(self.machine, "read link", path, target).map(PathBuf::from)
    }

    /// New times for a file that exists (one round trip), else an empty file.
    fn touch(&self, path: &Path) -> Result<()> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as u32);
        let times = Attrs {
            times: Some((now, now)),
            ..Attrs::default()
        };
        let set = self
            .sftp
            .call_ok(fxp::SETSTAT, |r| r.bytes(bytes(path)).attrs(&times));
        match set {
            Err(Failed::Status(fx::NO_SUCH_FILE, _)) => {}
            other => return other.map_err(self.fail("touch", path)),
        }
        let handle = self
            .sftp
            .open(bytes(path), open::WRITE | open::CREAT, &Attrs::default())
            .map_err(self.fail("touch", path))?;
        self.sftp.close(&handle).map_err(self.fail("touch", path))
    }

    /// SFTP cannot copy: `cp` on the remote host can.
    fn copy(&self, from: &Path, to: &Path) -> Result<()> {
        self.shell.copy(from, to)
    }

    /// A new directory in `/tmp`, only the user's (mode 0700).
    fn temp_dir(&self) -> Result<PathBuf> {
        temp_name(|name| {
            let dir = crate::sys::posix_join(Path::new("/tmp"), Path::new(name));
            let mkdir = self.sftp.call_ok(fxp::MKDIR, |r| {
                r.bytes(bytes(&dir)).attrs(&Attrs::mode(0o700))
            });
            match mkdir {
                Ok(()) => Ok(Some(dir)),
                // Taken, or another failure: which, a stat tells.
                Err(Failed::Status(..)) if self.sftp.stat(bytes(&dir), false).is_ok() => Ok(None),
                Err(e) => Err(e.error(self.machine, "create", bytes(&dir))),
            }
        })
    }
}

/// Metadata from SFTP attributes.
fn metadata(a: &Attrs) -> Metadata {
    Metadata::from_mode(
        a.mode.unwrap_or(0),
        a.size.unwrap_or(0),
        a.times
            .map(|(_, mtime)| UNIX_EPOCH + Duration::from_secs(mtime.into())),
        a.uid_gid,
    )
}

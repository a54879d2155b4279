//! `MPath`: a path on a particular machine.

mod io;
#[cfg(feature = "tokio")]
mod tasks;

use crate::sys::OsBytes;
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::arg::ToArg;
use crate::error::{Error, ErrorKind};
use crate::machine::{Machine, Metadata};
use crate::Result;

pub use self::io::{FileReader, FileWriter, TempDir, Walk};

/// A path on a machine, with file operations that run there.
///
/// Made by [`MachineExt::path`](crate::MachineExt::path). `Display`s as the path, and
/// interpolates into `plumb::sh!` as one argument.
///
/// ```
/// # extern crate plumb_runtime as plumb;
/// use plumb::prelude::*;
/// let dir = tempfile::tempdir().unwrap();
/// let p = plumb::local().path(dir.path()).join("notes.txt");
/// p.write("hello").unwrap();
/// assert_eq!(p.read_to_string().unwrap(), "hello");
/// assert!(p.is_file().unwrap());
/// ```
#[derive(Clone)]
pub struct MPath {
    machine: Arc<dyn Machine>,
    path: PathBuf,
}

impl MPath {
    pub(crate) fn new(machine: Arc<dyn Machine>, path: PathBuf) -> MPath {
        MPath { machine, path }
    }

    /// The path itself.
    pub fn as_path(&self) -> &Path {
        &self.path
    }

    /// The machine it is on.
    pub fn machine(&self) -> &Arc<dyn Machine> {
        &self.machine
    }

    /// `self/rest` on the same machine.
    pub fn join(&self, rest: impl AsRef<Path>) -> MPath {
        let path = self.machine.fs().join_path(&self.path, rest.as_ref());
        MPath::new(self.machine.clone(), path)
    }

    /// The parent directory, if there is one.
    pub fn parent(&self) -> Option<MPath> {
        self.path
            .parent()
            .map(|p| MPath::new(self.machine.clone(), p.to_path_buf()))
    }

    /// The last component.
    pub fn file_name(&self) -> Option<&std::ffi::OsStr> {
        self.path.file_name()
    }

    /// The whole content.
    pub fn read(&self) -> Result<Vec<u8>> {
        self.machine.fs().read(&self.path)
    }

    /// The whole content as text.
    pub fn read_to_string(&self) -> Result<String> {
        String::from_utf8(self.read()?).map_err(|_| {
            Error::new(
                ErrorKind::Utf8,
                self.machine.name(),
                format!("`{}` is not valid UTF-8", self.path.display()),
            )
        })
    }

    /// Creates or replaces the file with `data`.
    pub fn write(&self, data: impl AsRef<[u8]>) -> Result<()> {
        self.machine.fs().write(&self.path, data.as_ref())
    }

    /// Size, type, permissions and modification time (following symlinks).
    pub fn metadata(&self) -> Result<Metadata> {
        self.machine.fs().metadata(&self.path, true)
    }

    /// Whether anything is there (a dangling symlink counts).
    pub fn exists(&self) -> Result<bool> {
        self.probe(|fs, p| fs.metadata(p, false).map(|_| true))
    }

    /// Whether it is a directory.
    pub fn is_dir(&self) -> Result<bool> {
        self.probe(|fs, p| fs.metadata(p, true).map(|m| m.is_dir()))
    }

    /// Whether it is a regular file.
    pub fn is_file(&self) -> Result<bool> {
        self.probe(|fs, p| fs.metadata(p, true).map(|m| m.is_file()))
    }

    /// A metadata question where "not found" is the answer `false`.
    fn probe(
        &self,
        f: impl FnOnce(&dyn crate::machine::fs::Fs, &Path) -> Result<bool>,
    ) -> Result<bool> {
        match f(self.machine.fs(), &self.path) {
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            other => other,
        }
    }

    /// The entries of a directory, sorted by name.
    pub fn read_dir(&self) -> Result<Vec<MPath>> {
        let names = self.machine.fs().read_dir(&self.path)?;
        Ok(names.into_iter().map(|n| self.join(n)).collect())
    }

    /// The paths below this directory that match `pattern`, sorted: `*` and `?` within one
    /// component, `[abc]` classes, `**` for any depth. As in a shell, wildcards do not
    /// match a leading `.`.
    ///
    /// ```
    /// # extern crate plumb_runtime as plumb;
    /// use plumb::prelude::*;
    /// let dir = tempfile::tempdir().unwrap();
    /// let d = plumb::local().path(dir.path());
    /// for f in ["a.rs", "b.rs", "c.txt", "sub/d.rs"] {
    ///     d.join(f).parent().unwrap().create_dir_all().unwrap();
    ///     d.join(f).write("").unwrap();
    /// }
    /// let names = |v: Vec<MPath>| v.iter().map(|p| p.file_name().unwrap().to_owned()).collect::<Vec<_>>();
    /// assert_eq!(names(d.glob("*.rs").unwrap()), ["a.rs", "b.rs"]);
    /// assert_eq!(names(d.glob("**/*.rs").unwrap()), ["a.rs", "b.rs", "d.rs"]);
    /// ```
    pub fn glob(&self, pattern: &str) -> Result<Vec<MPath>> {
        let parts: Vec<&str> = pattern
            .split('/')
            .filter(|p| !p.is_empty() && *p != ".")
            .collect();
        let mut found = Vec::new();
        self.glob_walk(&parts, &mut found)?;
        found.sort_by(|a, b| a.path.cmp(&b.path));
        found.dedup_by(|a, b| a.path == b.path);
        Ok(found)
    }

    fn glob_walk(&self, parts: &[&str], found: &mut Vec<MPath>) -> Result<()> {
        let Some((first, rest)) = parts.split_first() else {
            found.push(self.clone());
            return Ok(());
        };
        if *first == "**" {
            // Zero directories, or one more and `**` again.
            self.glob_walk(rest, found)?;
            for entry in self.dirs()? {
                entry.glob_walk(parts, found)?;
            }
            return Ok(());
        }
        if !first.contains(['*', '?', '[']) {
            let next = self.join(first);
            if rest.is_empty() {
                if next.exists()? {
                    found.push(next);
                }
                return Ok(());
            }
            return next.glob_walk(rest, found);
        }
        let names = match self.machine.fs().read_dir(&self.path) {
            Ok(names) => names,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        for name in names {
            if wildcard(first.as_bytes(), name.as_bytes()) {
                let next = self.join(&name);
                if rest.is_empty() {
                    found.push(next);
                } else if next.is_dir()? {
                    next.glob_walk(rest, found)?;
                }
            }
        }
        Ok(())
    }

    /// Subdirectories that `**` descends into (not hidden ones, not symlinks).
    fn dirs(&self) -> Result<Vec<MPath>> {
        let mut out = Vec::new();
        let names = match self.machine.fs().read_dir(&self.path) {
            Ok(names) => names,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e),
        };
        for name in names
            .into_iter()
            .filter(|n| !n.as_bytes().starts_with(b"."))
        {
            let p = self.join(&name);
            if self
                .machine
                .fs()
                .metadata(&p.path, false)
                .is_ok_and(|m| m.is_dir())
            {
                out.push(p);
            }
        }
        Ok(out)
    }

    /// Creates the directory and its missing parents.
    pub fn create_dir_all(&self) -> Result<()> {
        self.machine.fs().create_dir_all(&self.path)
    }

    /// Removes a file, or a directory with everything in it.
    pub fn remove(&self) -> Result<()> {
        self.machine.fs().remove(&self.path)
    }

    /// Renames (moves) it to `to` on the same machine. As `rename(2)`: an existing file
    /// at `to` is replaced, and so is an empty directory when this is one.
    pub fn rename(&self, to: impl AsRef<Path>) -> Result<MPath> {
        let to = to.as_ref().to_path_buf();
        self.machine.fs().rename(&self.path, &to)?;
        Ok(MPath::new(self.machine.clone(), to))
    }

    /// Like [`metadata`](MPath::metadata), but a symlink describes itself, not its target.
    pub fn symlink_metadata(&self) -> Result<Metadata> {
        self.machine.fs().metadata(&self.path, false)
    }

    /// Adds `data` to the end of the file, creating it if needed.
    pub fn append(&self, data: impl AsRef<[u8]>) -> Result<()> {
        self.machine.fs().append(&self.path, data.as_ref())
    }

    /// Creates an empty file, or sets an existing file's modification time to now.
    pub fn touch(&self) -> Result<()> {
        self.machine.fs().touch(&self.path)
    }

    /// Sets the permission bits, e.g. `0o755`.
    ///
    /// ```
    /// # extern crate plumb_runtime as plumb;
    /// use plumb::prelude::*;
    /// let dir = plumb::local().temp_dir().unwrap();
    /// let f = dir.join("run.sh");
    /// f.write("#!/bin/sh\n").unwrap();
    /// f.set_permissions(0o750).unwrap();
    /// assert_eq!(f.metadata().unwrap().mode(), 0o750);
    /// ```
    pub fn set_permissions(&self, mode: u32) -> Result<()> {
        self.machine.fs().set_permissions(&self.path, mode)
    }

    /// Makes `link` (on the same machine) a symbolic link to this path, which is stored as
    /// written: a relative path is relative to the link's directory.
    ///
    /// ```
    /// # extern crate plumb_runtime as plumb;
    /// use plumb::prelude::*;
    /// let dir = plumb::local().temp_dir().unwrap();
    /// dir.join("real.txt").write("hi").unwrap();
    /// let link = plumb::local().path("real.txt").symlink(dir.join("link.txt")).unwrap();
    /// assert_eq!(link.read_link().unwrap(), std::path::Path::new("real.txt"));
    /// assert_eq!(link.read_to_string().unwrap(), "hi");
    /// assert!(link.symlink_metadata().unwrap().is_symlink());
    /// ```
    pub fn symlink(&self, link: impl AsRef<Path>) -> Result<MPath> {
        let link = link.as_ref().to_path_buf();
        self.machine.fs().symlink(&self.path, &link)?;
        Ok(MPath::new(self.machine.clone(), link))
    }

    /// Where a symbolic link points.
    pub fn read_link(&self) -> Result<PathBuf> {
        self.machine.fs().read_link(&self.path)
    }

    /// Copies this file or tree to `to` on the same machine, without the data passing
    /// through here; symlinks are copied as links, modes kept. `to` is the copy itself: an
    /// existing directory there is an error.
    pub fn copy_to(&self, to: impl AsRef<Path>) -> Result<MPath> {
        let to = to.as_ref().to_path_buf();
        self.machine.fs().copy(&self.path, &to)?;
        Ok(MPath::new(self.machine.clone(), to))
    }

    /// Every path below this directory, depth first, each directory before its entries and
    /// entries in name order. Symlinks are listed, not followed. Memory grows with the
    /// tree's depth, not its size.
    ///
    /// ```
    /// # extern crate plumb_runtime as plumb;
    /// use plumb::prelude::*;
    /// let dir = plumb::local().temp_dir().unwrap();
    /// dir.join("a/b").create_dir_all().unwrap();
    /// dir.join("a/b/c.txt").touch().unwrap();
    /// let found: Vec<_> = dir.walk().unwrap().map(|p| p.unwrap().file_name().unwrap().to_owned()).collect();
    /// assert_eq!(found, ["a", "b", "c.txt"]);
    /// ```
    pub fn walk(&self) -> Result<Walk> {
        Walk::new(self)
    }

    /// The file as a stream, read as it is consumed.
    ///
    /// ```
    /// # extern crate plumb_runtime as plumb;
    /// use plumb::prelude::*;
    /// use std::io::{Read, Write};
    /// let dir = plumb::local().temp_dir().unwrap();
    /// let f = dir.join("big.bin");
    /// let mut w = f.create().unwrap();
    /// w.write_all(&[7; 100_000]).unwrap();
    /// w.finish().unwrap();
    /// let mut n = 0;
    /// let mut r = f.open().unwrap();
    /// let mut buf = [0; 4096];
    /// loop { match r.read(&mut buf).unwrap() { 0 => break, k => n += k } }
    /// assert_eq!(n, 100_000);
    /// ```
    pub fn open(&self) -> Result<FileReader> {
        self.machine.fs().open(&self.path).map(|inner| FileReader {
            inner,
            _machine: self.machine.clone(),
        })
    }

    /// A stream into the file, created or truncated.
    pub fn create(&self) -> Result<FileWriter> {
        self.machine
            .fs()
            .create(&self.path, false)
            .map(|inner| FileWriter {
                inner,
                _machine: self.machine.clone(),
            })
    }

    /// A stream to the end of the file, created if needed.
    pub fn append_stream(&self) -> Result<FileWriter> {
        self.machine
            .fs()
            .create(&self.path, true)
            .map(|inner| FileWriter {
                inner,
                _machine: self.machine.clone(),
            })
    }
}

/// Shell wildcard matching of one path component.
fn wildcard(pattern: &[u8], name: &[u8]) -> bool {
    if name.first() == Some(&b'.') && pattern.first() != Some(&b'.') {
        return false;
    }
    fn go(p: &[u8], n: &[u8]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some((b'*', rest)) => (0..=n.len()).any(|i| go(rest, &n[i..])),
            Some((b'?', rest)) => !n.is_empty() && go(rest, &n[1..]),
            Some((b'[', rest)) => {
                let Some(close) = rest.iter().skip(1).position(|&c| c == b']').map(|i| i + 1)
                else {
                    return n.first() == Some(&b'[') && go(rest, &n[1..]);
                };
                let Some((&c, n_rest)) = n.split_first() else {
                    return false;
                };
                let (negate, set) = match rest[..close].split_first() {
                    Some((b'!' | b'^', set)) => (true, set),
                    _ => (false, &rest[..close]),
                };
                let mut hit = false;
                let mut i = 0;
                while i < set.len() {
                    if i + 2 < set.len() && set[i + 1] == b'-' {
                        hit |= set[i] <= c && c <= set[i + 2];
                        i += 3;
                    } else {
                        hit |= set[i] == c;
                        i += 1;
                    }
                }
                hit != negate && go(&rest[close + 1..], n_rest)
            }
            Some((&c, rest)) => n.first() == Some(&c) && go(rest, &n[1..]),
        }
    }
    go(pattern, name)
}

impl fmt::Display for MPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.path.display(), f)
    }
}

impl fmt::Debug for MPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.machine.name(), self.path.display())
    }
}

impl AsRef<Path> for MPath {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

impl ToArg for MPath {
    fn to_arg(&self) -> OsString {
        self.path.as_os_str().to_owned()
    }
}

/// Conveniences for every machine.
pub trait MachineExt: Machine + Clone + 'static {
    /// A path on this machine.
    ///
    /// ```
    /// # extern crate plumb_runtime as plumb;
    /// use plumb::prelude::*;
    /// assert!(plumb::local().path("/").is_dir().unwrap());
    /// ```
    fn path(&self, path: impl AsRef<Path>) -> MPath {
        MPath::new(Arc::new(self.clone()), path.as_ref().to_path_buf())
    }

    /// A new directory only this user can enter (mode 0700), removed with everything in it
    /// when the [`TempDir`] is dropped. It is in `/tmp` on a remote machine, in
    /// [`std::env::temp_dir`] here.
    ///
    /// ```
    /// # extern crate plumb_runtime as plumb;
    /// use plumb::prelude::*;
    /// let kept = {
    ///     let dir = plumb::local().temp_dir().unwrap();
    ///     dir.join("x").write("1").unwrap();
    ///     dir.as_path().to_path_buf()
    /// };
    /// assert!(!kept.exists());
    /// ```
    fn temp_dir(&self) -> Result<TempDir> {
        let dir = self.fs().temp_dir()?;
        Ok(TempDir::new(self.path(dir)))
    }
}

impl<M: Machine + Clone + 'static> MachineExt for M {}

#[cfg(test)]
mod tests {
    use super::wildcard;

    #[test]
    fn wildcards() {
        let m = |p: &str, n: &str| wildcard(p.as_bytes(), n.as_bytes());
        assert!(m("*.rs", "a.rs"));
        assert!(!m("*.rs", "a.rsx"));
        assert!(!m("*", ".hidden"));
        assert!(m(".*", ".hidden"));
        assert!(m("a?c", "abc"));
        assert!(m("[a-c]x", "bx"));
        assert!(!m("[!a-c]x", "bx"));
        assert!(m("[!a-c]x", "dx"));
        assert!(m("*a*b*", "xxaxxbxx"));
    }
}

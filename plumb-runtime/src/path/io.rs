//! What `MPath` hands out: file streams, a directory walk, a temporary directory.

use std::fmt;
use std::io::{self, Read, Write};
use std::ops::Deref;
use std::path::Path;
use std::sync::Arc;

use super::MPath;
use crate::machine::fs::WriteFile;
use crate::machine::Machine;
use crate::Result;

/// A file being read, from [`MPath::open`]: on a remote machine it streams, with a few
/// requests in flight and memory bounded whatever the file's size.
pub struct FileReader {
    pub(super) inner: Box<dyn Read + Send>,
    /// Keeps the machine's connection open while the stream lives (dropped after it).
    pub(super) _machine: Arc<dyn Machine>,
}

impl Read for FileReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
}

impl fmt::Debug for FileReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FileReader")
    }
}

/// A file being written, from [`MPath::create`]: writes stream out as they come.
/// [`finish`](FileWriter::finish) says whether every byte landed; dropping it closes the
/// file too, but can only ignore a late error.
pub struct FileWriter {
    pub(super) inner: Box<dyn WriteFile>,
    /// Keeps the machine's connection open while the stream lives (dropped after it).
    pub(super) _machine: Arc<dyn Machine>,
}

impl FileWriter {
    /// Writes what is buffered, closes the file, and reports any failure on the way.
    pub fn finish(mut self) -> Result<()> {
        self.inner.finish()
    }
}

impl Write for FileWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }

    /// Waits until everything written so far is in the file.
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl fmt::Debug for FileWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FileWriter")
    }
}

/// Every path below a directory, depth first, from [`MPath::walk`]. Symlinks are listed,
/// not followed. It holds one listing per level of depth, not the whole tree.
pub struct Walk {
    /// Per open directory, its entries not yet visited (last first).
    stack: Vec<Vec<MPath>>,
}

impl Walk {
    pub(super) fn new(root: &MPath) -> Result<Walk> {
        Ok(Walk {
            stack: vec![listing(root)?],
        })
    }
}

/// A directory's entries, reversed so that `pop` gives them in order.
fn listing(dir: &MPath) -> Result<Vec<MPath>> {
    let mut entries = dir.read_dir()?;
    entries.reverse();
    Ok(entries)
}

impl Iterator for Walk {
    type Item = Result<MPath>;

    fn next(&mut self) -> Option<Result<MPath>> {
        loop {
            let top = self.stack.last_mut()?;
            let Some(next) = top.pop() else {
                self.stack.pop();
                continue;
            };
            match next.symlink_metadata() {
                Ok(m) if m.is_dir() => match listing(&next) {
                    Ok(entries) => self.stack.push(entries),
                    Err(e) => return Some(Err(e)),
                },
                Ok(_) => {}
                Err(e) => return Some(Err(e)),
            }
            return Some(Ok(next));
        }
    }
}

impl fmt::Debug for Walk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Walk")
            .field("depth", &self.stack.len())
            .finish()
    }
}

/// A new private directory on a machine, removed with everything in it when dropped;
/// from [`MachineExt::temp_dir`](crate::MachineExt::temp_dir). Derefs to its [`MPath`].
#[derive(Debug)]
pub struct TempDir {
    path: Option<MPath>,
}

impl TempDir {
    pub(super) fn new(path: MPath) -> TempDir {
        TempDir { path: Some(path) }
    }

    /// Its path on its machine, as `tempfile::TempDir::path` gives it; the directory
    /// itself is also an [`MPath`] (it derefs to one) and an argument (`$dir` in `sh!`).
    ///
    /// ```
    /// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
    /// use plumb::prelude::*;
    /// let dir = plumb::local().temp_dir().unwrap();
    /// sh!(touch ${dir.path().join("a")}).run().unwrap();
    /// assert_eq!(sh!(ls $dir).read().unwrap(), "a");
    /// ```
    pub fn path(&self) -> &Path {
        self.as_path()
    }

    /// Keeps the directory: it is not removed, and its path is returned.
    pub fn keep(mut self) -> MPath {
        self.path
            .take()
            .expect("a TempDir holds its path until kept or dropped")
    }

    /// Removes it now, reporting a failure that dropping would ignore.
    pub fn close(mut self) -> Result<()> {
        match self.path.take() {
            Some(p) => p.remove(),
            None => Ok(()),
        }
    }
}

impl Deref for TempDir {
    type Target = MPath;

    fn deref(&self) -> &MPath {
        self.path
            .as_ref()
            .expect("a TempDir holds its path until kept or dropped")
    }
}

impl crate::ToArg for TempDir {
    fn to_arg(&self) -> std::ffi::OsString {
        self.as_path().as_os_str().to_owned()
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        self.as_path()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            let _ = p.remove();
        }
    }
}

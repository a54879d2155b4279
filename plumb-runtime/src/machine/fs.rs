//! Files on a machine: the operations every backend provides, and what they report.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::Result;

/// File operations of a machine; use them through [`MPath`](crate::MPath). Every error
/// names the path and the machine.
pub trait Fs: Send + Sync {
    fn read(&self, path: &Path) -> Result<Vec<u8>>;
    /// Creates or truncates the file.
    fn write(&self, path: &Path, data: &[u8]) -> Result<()>;
    /// Adds to the end of the file, creating it if needed.
    fn append(&self, path: &Path, data: &[u8]) -> Result<()>;
    /// The file as a stream.
    fn open(&self, path: &Path) -> Result<Box<dyn Read + Send>>;
    /// A stream into the file: created or truncated, or appended to.
    fn create(&self, path: &Path, append: bool) -> Result<Box<dyn WriteFile>>;
    /// Metadata without following a final symlink's target... unless `follow`.
    fn metadata(&self, path: &Path, follow: bool) -> Result<Metadata>;
    /// The names of the entries of a directory.
    fn read_dir(&self, path: &Path) -> Result<Vec<std::ffi::OsString>>;
    fn create_dir_all(&self, path: &Path) -> Result<()>;
    /// Removes a file, a symlink or a whole directory tree.
    fn remove(&self, path: &Path) -> Result<()>;
    fn rename(&self, from: &Path, to: &Path) -> Result<()>;
    /// Sets the permission bits (`0o644`), following symlinks.
    fn set_permissions(&self, path: &Path, mode: u32) -> Result<()>;
    /// Makes `link` a symbolic link to `target`.
    fn symlink(&self, target: &Path, link: &Path) -> Result<()>;
    fn read_link(&self, path: &Path) -> Result<PathBuf>;
    /// Creates an empty file, or sets an existing one's times to now.
    fn touch(&self, path: &Path) -> Result<()>;
    /// Copies a file or a tree on the machine itself; symlinks are copied as links.
    fn copy(&self, from: &Path, to: &Path) -> Result<()>;
    /// Makes a new private directory for temporary files.
    fn temp_dir(&self) -> Result<PathBuf>;
    /// `rest` after `base` as this machine's paths join: with this computer's separator
    /// here, with `/` on a remote host (also from Windows).
    fn join_path(&self, base: &Path, rest: &Path) -> PathBuf {
        base.join(rest)
    }
}

/// A stream into a file whose last writes can fail: `finish` says whether they all landed.
pub trait WriteFile: Write + Send {
    /// Writes what is buffered and closes the file; later calls do nothing.
    fn finish(&mut self) -> Result<()>;
}

/// Tries fresh `plumb-…` names with `make` (which creates the directory, `None` when the
/// name is taken) until one is new. Creating is the check, so a name someone else took
/// first is never used.
pub(crate) fn temp_name(mut make: impl FnMut(&str) -> Result<Option<PathBuf>>) -> Result<PathBuf> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNT: AtomicU32 = AtomicU32::new(0);
    loop {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        let name = format!("plumb-{}-{nanos:08x}{n:x}", std::process::id());
        if let Some(dir) = make(&name)? {
            return Ok(dir);
        }
    }
}

/// Entry names, sorted: what `read_dir` returns.
pub(crate) fn sorted(mut names: Vec<OsString>) -> Vec<OsString> {
    names.sort();
    names
}

/// What kind of file a [`Metadata`] describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileType {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link (only from a metadata call that does not follow links).
    Symlink,
    /// Anything else: a socket, a device, a FIFO.
    Other,
}

/// Size, type, permissions and modification time of a file.
///
/// Files on Windows have no permission bits, owner or group: there [`unix_mode`],
/// [`uid`] and [`gid`] are `None`, and [`readonly`] is what Windows has.
///
/// [`unix_mode`]: Metadata::unix_mode
/// [`uid`]: Metadata::uid
/// [`gid`]: Metadata::gid
/// [`readonly`]: Metadata::readonly
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metadata {
    pub(crate) len: u64,
    /// `st_mode`: the type and permission bits, where the machine has them.
    pub(crate) mode: Option<u32>,
    pub(crate) readonly: bool,
    pub(crate) modified: Option<SystemTime>,
    pub(crate) file_type: FileType,
    pub(crate) owner: Option<(u32, u32)>,
}

impl Metadata {
    /// From a raw `st_mode` (type and permission bits).
    pub(crate) fn from_mode(
        mode: u32,
        len: u64,
        modified: Option<SystemTime>,
        owner: Option<(u32, u32)>,
    ) -> Metadata {
        let file_type = match mode & 0o170000 {
            0o040000 => FileType::Dir,
            0o100000 => FileType::File,
            0o120000 => FileType::Symlink,
            _ => FileType::Other,
        };
        Metadata {
            len,
            mode: Some(mode),
            readonly: mode & 0o222 == 0,
            modified,
            file_type,
            owner,
        }
    }

    /// For a file of a machine without modes or owners (Windows).
    #[cfg_attr(unix, allow(dead_code))]
    pub(crate) fn without_mode(
        file_type: FileType,
        len: u64,
        modified: Option<SystemTime>,
        readonly: bool,
    ) -> Metadata {
        Metadata {
            len,
            mode: None,
            readonly,
            modified,
            file_type,
            owner: None,
        }
    }
}

impl Metadata {
    /// The size in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True for an empty file.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The permission bits, e.g. `0o644`; 0 for a file that has none (on Windows),
    /// which [`unix_mode`](Metadata::unix_mode) tells apart.
    pub fn mode(&self) -> u32 {
        self.unix_mode().unwrap_or(0)
    }

    /// The permission bits, e.g. `Some(0o644)`, where the machine has them: every Unix;
    /// `None` on Windows.
    ///
    /// ```
    /// # extern crate plumb_runtime as plumb;
    /// use plumb::prelude::*;
    /// let dir = tempfile::tempdir().unwrap();
    /// let f = plumb::local().path(dir.path().join("a"));
    /// f.write("x").unwrap();
    /// let mode = f.metadata().unwrap().unix_mode();
    /// assert_eq!(mode.is_some(), cfg!(unix));
    /// ```
    pub fn unix_mode(&self) -> Option<u32> {
        self.mode.map(|m| m & 0o7777)
    }

    /// True when nobody may write the file: no write bit at all on Unix, the read-only
    /// attribute on Windows.
    pub fn readonly(&self) -> bool {
        self.readonly
    }

    /// The last modification time, when the machine reports one.
    pub fn modified(&self) -> Option<SystemTime> {
        self.modified
    }

    /// The kind of file.
    pub fn file_type(&self) -> FileType {
        self.file_type
    }

    /// True for a directory.
    pub fn is_dir(&self) -> bool {
        self.file_type == FileType::Dir
    }

    /// True for a regular file.
    pub fn is_file(&self) -> bool {
        self.file_type == FileType::File
    }

    /// True for a symbolic link (only from [`MPath::symlink_metadata`](crate::MPath::symlink_metadata)).
    pub fn is_symlink(&self) -> bool {
        self.file_type == FileType::Symlink
    }

    /// The owner's numeric user id, when the machine reports it.
    pub fn uid(&self) -> Option<u32> {
        self.owner.map(|(uid, _)| uid)
    }

    /// The owner's numeric group id, when the machine reports it.
    pub fn gid(&self) -> Option<u32> {
        self.owner.map(|(_, gid)| gid)
    }
}

//! Files on a machine: the operations every backend provides, and what they report.

use std::path::Path;
use std::time::SystemTime;

use crate::Result;

/// File operations of a machine; use them through [`MPath`].
pub trait Fs: Send + Sync {
    fn read(&self, path: &Path) -> Result<Vec<u8>>;
    fn write(&self, path: &Path, data: &[u8]) -> Result<()>;
    /// Metadata without following a final symlink's target... unless `follow`.
    fn metadata(&self, path: &Path, follow: bool) -> Result<Metadata>;
    /// The names of the entries of a directory.
    fn read_dir(&self, path: &Path) -> Result<Vec<std::ffi::OsString>>;
    fn create_dir_all(&self, path: &Path) -> Result<()>;
    /// Removes a file, a symlink or a whole directory tree.
    fn remove(&self, path: &Path) -> Result<()>;
    fn rename(&self, from: &Path, to: &Path) -> Result<()>;
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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metadata {
    pub(crate) len: u64,
    pub(crate) mode: u32,
    pub(crate) modified: Option<SystemTime>,
    pub(crate) file_type: FileType,
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

    /// The permission bits, e.g. `0o644`.
    pub fn mode(&self) -> u32 {
        self.mode & 0o7777
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
}

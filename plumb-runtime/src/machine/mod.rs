//! The seam between what to run and where: the [`Machine`] trait.
//!
//! Everything above it (`Expr`, the macro's output, pipes across machines, paths) is
//! machine-agnostic; each module below it knows one transport.

use std::fmt;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use crate::expr::Expr;
use crate::output::ExitStatus;
use crate::path::MPath;
use crate::Result;

pub mod local;
mod remote;
pub mod ssh;
pub mod ssh2;

/// What to do with a remote host's key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum HostKeyPolicy {
    /// Only hosts whose key is already in known_hosts (the default).
    #[default]
    Strict,
    /// Record the key of a host seen for the first time; refuse a changed key.
    AcceptNew,
    /// Accept any key. Only for throwaway hosts: it allows a man in the middle.
    Insecure,
}

/// A place that runs commands and holds files: this computer or a remote host.
///
/// Object safe: hold one as `Arc<dyn Machine>` to choose the machine at run time. Each
/// implementation is `Clone + Send + Sync`, and a clone shares the connection.
///
/// ```
/// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
/// use plumb::prelude::*;
/// use std::sync::Arc;
/// let m: Arc<dyn Machine> = Arc::new(plumb::local());
/// assert_eq!(m.name(), "local");
/// assert_eq!(sh!(echo hi).on_dyn(m).read().unwrap(), "hi");
/// ```
pub trait Machine: Send + Sync + fmt::Debug {
    /// A short name for messages: `local`, `user@host:port`.
    fn name(&self) -> &str;

    /// The full path of `program` as this machine would find it on its `PATH`; a
    /// [`NotFound`](crate::ErrorKind::NotFound) error when it is not there.
    fn which(&self, program: &str) -> Result<PathBuf>;

    /// Copies `local` (a file or a whole directory tree on this computer) to `remote` on
    /// this machine. `remote` is the destination itself, not a directory to put it in.
    fn upload(&self, local: &Path, remote: &Path) -> Result<()>;

    /// Copies `remote` (a file or a whole directory tree on this machine) to `local` on this
    /// computer.
    fn download(&self, remote: &Path, local: &Path) -> Result<()>;

    /// Ends the connection; commands and tunnels still running fail.
    fn close(&self) -> Result<()> {
        Ok(())
    }

    /// Starts `job`, whose whole tree runs on this machine.
    #[doc(hidden)]
    fn start(&self, job: Job) -> Result<Box<dyn Process>>;

    /// File operations behind [`MPath`]. Relative paths are relative to the machine's
    /// directory.
    #[doc(hidden)]
    fn fs(&self) -> &dyn Fs;

    /// Equal for two handles that run commands the same way (clones of one handle), so
    /// that adjacent pipeline stages on them start as one job.
    #[doc(hidden)]
    fn identity(&self) -> usize;
}

/// A shared machine is a machine: `Arc<dyn Machine>` runs commands and makes paths.
impl<M: Machine + ?Sized> Machine for Arc<M> {
    fn name(&self) -> &str {
        (**self).name()
    }

    fn which(&self, program: &str) -> Result<PathBuf> {
        (**self).which(program)
    }

    fn upload(&self, local: &Path, remote: &Path) -> Result<()> {
        (**self).upload(local, remote)
    }

    fn download(&self, remote: &Path, local: &Path) -> Result<()> {
        (**self).download(remote, local)
    }

    fn close(&self) -> Result<()> {
        (**self).close()
    }

    fn start(&self, job: Job) -> Result<Box<dyn Process>> {
        (**self).start(job)
    }

    fn fs(&self) -> &dyn Fs {
        (**self).fs()
    }

    fn identity(&self) -> usize {
        (**self).identity()
    }
}

/// File operations of a machine; use them through [`MPath`].
#[doc(hidden)]
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
}

impl<M: Machine + Clone + 'static> MachineExt for M {}

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

/// Where one of a job's standard streams goes.
#[doc(hidden)]
#[derive(Debug)]
pub enum Stdio {
    /// This process's own stream.
    Inherit,
    /// `/dev/null`.
    Null,
    /// A file descriptor of this process: a pipe end or a file.
    Fd(OwnedFd),
}

impl Stdio {
    /// A second handle to the same stream.
    pub(crate) fn try_clone(&self) -> std::io::Result<Stdio> {
        Ok(match self {
            Stdio::Inherit => Stdio::Inherit,
            Stdio::Null => Stdio::Null,
            Stdio::Fd(fd) => Stdio::Fd(fd.try_clone()?),
        })
    }
}

/// A tree to start on one machine, with its standard streams.
#[doc(hidden)]
#[derive(Debug)]
pub struct Job {
    pub expr: Expr,
    pub stdin: Stdio,
    pub stdout: Stdio,
    pub stderr: Stdio,
    /// Put the processes in their own process groups so that a kill reaches their
    /// children too.
    pub kill_tree: bool,
}

/// How a job ended.
#[doc(hidden)]
#[derive(Clone, Debug)]
pub struct Outcome {
    pub status: ExitStatus,
    /// The rendered stage that decided the status, when it is a part of the whole.
    pub stage: Option<String>,
    /// Whether `status` passed the checks of the stage that produced it.
    pub accepted: bool,
    /// The machine of the stage that decided the status, when the job spans several.
    pub machine: Option<String>,
}

/// A started job.
#[doc(hidden)]
pub trait Process: Send + Sync {
    /// Blocks until the job ends.
    fn wait(&self) -> Result<Outcome>;
    /// The outcome if the job has ended.
    fn try_wait(&self) -> Result<Option<Outcome>>;
    /// Kills every process of the job (their trees too, with `kill_tree`).
    fn kill(&self) -> Result<()>;
}

impl Outcome {
    /// Pipefail: the rightmost stage that failed its check decides the pipeline's status;
    /// when none failed, the last stage does.
    ///
    /// A stage before the last one that died of SIGPIPE is not a failure: its reader
    /// stopped reading (`yes | head -n 1`), which is how pipelines end early.
    /// `opts` are the pipeline's own options, which judge its status.
    pub(crate) fn pipeline(mut stages: Vec<Outcome>, opts: &crate::expr::Opts) -> Outcome {
        let n = stages.len();
        for stage in stages.iter_mut().take(n.saturating_sub(1)) {
            if stage.status.signal() == Some(libc::SIGPIPE) {
                stage.accepted = true;
            }
        }
        let decisive = stages
            .iter()
            .rposition(|o| !o.accepted)
            .unwrap_or(stages.len().saturating_sub(1));
        let all_ok = stages.iter().all(|o| o.accepted);
        let decisive = stages
            .into_iter()
            .nth(decisive)
            .expect("a pipeline has at least one stage");
        Outcome {
            accepted: opts.judge(&decisive.status, all_ok),
            ..decisive
        }
    }
}

//! The seam between what to run and where: the [`Machine`] trait.
//!
//! Everything above it (`Expr`, the macro's output, pipes across machines, paths) is
//! machine-agnostic; each backend below it knows one transport. `Machine` is what users
//! call; what a backend implements is the crate-private [`seam::Backend`], a supertrait
//! nobody outside can name, so the trait is sealed: users hold machines, they do not write
//! them, and no call can skip the checks that `crate::run` makes before a job starts.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::progress::{Observer, Progress};
use crate::Result;

pub(crate) mod fs;

pub use fs::{FileType, Metadata};

/// What to do with a remote host's key.
///
/// Keys are looked up in known_hosts as `ssh` looks them up: a host on a port other than
/// 22 is `[host]:port` there (hashed names included), and only when that name holds no
/// key of the type offered is the bare `host` looked at, where the same key is accepted
/// and another one makes the key unknown, not changed. A key on a `@revoked` line for the
/// host is refused under `Strict` and `AcceptNew` alike, as `ssh` refuses it even with
/// `StrictHostKeyChecking=no`; `@cert-authority` lines are not used (host certificates
/// are not checked).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum HostKeyPolicy {
    /// Only hosts whose key is already in known_hosts (the default).
    #[default]
    Strict,
    /// Record the key of a host seen for the first time; refuse a changed or revoked key.
    /// The key is recorded by appending one line to known_hosts (under a lock, for
    /// `Ssh2Machine`, so that connections at once write it once); the rest of the file
    /// is left as it is.
    AcceptNew,
    /// Accept any key, without reading known_hosts (so a revoked key too). Only for
    /// throwaway hosts: it allows a man in the middle.
    Insecure,
}

/// What a backend implements. Public in a private module: nameable only inside the crate,
/// which seals [`Machine`].
pub(crate) mod seam {
    use std::path::Path;

    use crate::machine::fs::Fs;
    use crate::model::job::{Job, Process};
    use crate::progress::Observer;
    use crate::Result;

    /// The calls the runtime makes on a machine, below what users see.
    pub trait Backend: Send + Sync {
        /// Starts `job`, whose whole tree runs on this machine. Only `crate::run` calls
        /// this, after validating the expression.
        fn start(&self, job: Job) -> Result<Box<dyn Process>>;

        /// Starts `expr` detached (see [`Expr::spawn_detached`](crate::Expr::spawn_detached))
        /// and returns its pid. Only `crate::run` calls this, after validating it.
        fn start_detached(&self, expr: &crate::model::Expr) -> Result<u32>;

        /// File operations behind `MPath`. Relative paths are relative to the machine's
        /// directory.
        fn fs(&self) -> &dyn Fs;

        /// Equal for two handles that run commands the same way (clones of one handle), so
        /// that adjacent pipeline stages on them start as one job.
        fn identity(&self) -> usize;

        /// Copies a local file or tree to `remote` on this machine, reporting progress.
        fn upload_path(&self, local: &Path, remote: &Path, observer: Observer) -> Result<()>;

        /// Copies a file or tree on this machine to `local`, reporting progress.
        fn download_path(&self, remote: &Path, local: &Path, observer: Observer) -> Result<()>;

        /// Whether a command given this process's own stdout needs a thread here to copy
        /// it there (a libssh2 channel's does): the async calls then copy it themselves.
        fn copies_inherited_output(&self) -> bool {
            false
        }

        /// Lets go of what this machine keeps open for file calls (a remote machine's
        /// SFTP session, four descriptors and a thread here) if no call uses it: a
        /// group's transfer, done on a host, calls it so that a fleet's sessions do not
        /// add up past the limit of open files.
        fn release_files(&self) {}
    }
}

/// A place that runs commands and holds files: this computer or a remote host.
///
/// Object safe: hold one as `Arc<dyn Machine>` to choose the machine at run time. Each
/// implementation is `Clone + Send + Sync`, and a clone shares the connection. The trait is
/// sealed: plumb's machines implement it, programs use it.
///
/// ```
/// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
/// use plumb::prelude::*;
/// use std::sync::Arc;
/// let m: Arc<dyn Machine> = Arc::new(plumb::local());
/// assert_eq!(m.name(), "local");
/// assert_eq!(sh!(echo hi).on_dyn(m).read().unwrap(), "hi");
/// ```
pub trait Machine: seam::Backend + fmt::Debug {
    /// A short name for messages: `local`, `user@host:port`.
    fn name(&self) -> &str;

    /// The full path of `program` as this machine would find it on its `PATH`; a
    /// [`NotFound`](crate::ErrorKind::NotFound) error when it is not there.
    ///
    /// ```
    /// # extern crate plumb_runtime as plumb;
    /// use plumb::prelude::*;
    /// assert!(plumb::local().which("sh").unwrap().is_absolute());
    /// ```
    fn which(&self, program: &str) -> Result<PathBuf>;

    /// Ends the connection; commands and tunnels still running fail.
    fn close(&self) -> Result<()> {
        Ok(())
    }

    /// Copies `local` (a file or a whole directory tree on this computer) to `remote` on
    /// this machine. `remote` is the destination itself, not a directory to put it in.
    ///
    /// Modes go as with `cp` without `-p`: what the copy creates gets the source's
    /// permission bits under the receiving side's umask, never a set-ID or sticky bit
    /// nor the source's owner; a file that was there keeps its mode. The same holds for
    /// [`download`](Machine::download).
    ///
    /// ```
    /// # extern crate plumb_runtime as plumb;
    /// use plumb::prelude::*;
    /// let dir = tempfile::tempdir().unwrap();
    /// std::fs::write(dir.path().join("a.txt"), "hi").unwrap();
    /// plumb::local().upload(dir.path().join("a.txt"), dir.path().join("b.txt")).unwrap();
    /// assert_eq!(std::fs::read(dir.path().join("b.txt")).unwrap(), b"hi");
    /// ```
    fn upload(&self, local: impl AsRef<Path>, remote: impl AsRef<Path>) -> Result<()>
    where
        Self: Sized,
    {
        self.upload_path(local.as_ref(), remote.as_ref(), &mut |_| {})
    }

    /// [`upload`](Machine::upload), telling `observer` how far it is after every chunk:
    /// bytes done, bytes in all, the file.
    ///
    /// ```
    /// # extern crate plumb_runtime as plumb;
    /// use plumb::prelude::*;
    /// let dir = tempfile::tempdir().unwrap();
    /// std::fs::write(dir.path().join("a.bin"), vec![0; 300_000]).unwrap();
    /// let mut last = 0;
    /// plumb::local()
    ///     .upload_with(dir.path().join("a.bin"), dir.path().join("b.bin"), &mut |p| {
    ///         last = p.bytes_done();
    ///         assert_eq!(p.bytes_total(), Some(300_000));
    ///     })
    ///     .unwrap();
    /// assert_eq!(last, 300_000);
    /// ```
    fn upload_with(
        &self,
        local: impl AsRef<Path>,
        remote: impl AsRef<Path>,
        observer: &mut dyn FnMut(&Progress),
    ) -> Result<()>
    where
        Self: Sized,
    {
        self.upload_path(local.as_ref(), remote.as_ref(), observer)
    }

    /// Copies `remote` (a file or a whole directory tree on this machine) to `local` on this
    /// computer.
    fn download(&self, remote: impl AsRef<Path>, local: impl AsRef<Path>) -> Result<()>
    where
        Self: Sized,
    {
        self.download_path(remote.as_ref(), local.as_ref(), &mut |_| {})
    }

    /// [`download`](Machine::download), telling `observer` how far it is.
    fn download_with(
        &self,
        remote: impl AsRef<Path>,
        local: impl AsRef<Path>,
        observer: &mut dyn FnMut(&Progress),
    ) -> Result<()>
    where
        Self: Sized,
    {
        self.download_path(remote.as_ref(), local.as_ref(), observer)
    }
}

/// A shared machine is a machine: `Arc<dyn Machine>` runs commands and makes paths.
impl<M: Machine + ?Sized> Machine for Arc<M> {
    fn name(&self) -> &str {
        (**self).name()
    }

    fn which(&self, program: &str) -> Result<PathBuf> {
        (**self).which(program)
    }

    fn close(&self) -> Result<()> {
        (**self).close()
    }
}

impl<M: Machine + ?Sized> seam::Backend for Arc<M> {
    fn start(&self, job: crate::model::job::Job) -> Result<Box<dyn crate::model::job::Process>> {
        (**self).start(job)
    }

    fn start_detached(&self, expr: &crate::model::Expr) -> Result<u32> {
        (**self).start_detached(expr)
    }

    fn fs(&self) -> &dyn fs::Fs {
        (**self).fs()
    }

    fn identity(&self) -> usize {
        (**self).identity()
    }

    fn upload_path(&self, local: &Path, remote: &Path, observer: Observer) -> Result<()> {
        (**self).upload_path(local, remote, observer)
    }

    fn download_path(&self, remote: &Path, local: &Path, observer: Observer) -> Result<()> {
        (**self).download_path(remote, local, observer)
    }

    fn copies_inherited_output(&self) -> bool {
        (**self).copies_inherited_output()
    }

    fn release_files(&self) {
        (**self).release_files()
    }
}

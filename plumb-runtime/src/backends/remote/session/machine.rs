//! `Session`, the public machine over a pool of shells.

use std::sync::Arc;

use super::pool::Pool;
use crate::backends::remote::Remote;
use crate::machine::Machine;
use crate::model::job::Job;
use crate::Result;

/// Shells a session opens at most unless told otherwise: sshd's default `MaxSessions` is
/// 10 channels per connection, and the machine's own commands and files need some.
const DEFAULT_SHELLS: usize = 4;

/// Commands in persistent remote shells over a machine's connection: a round trip each,
/// instead of a channel and a login shell per command. Made by `session()` on
/// [`SshMachine`](crate::SshMachine) and `Ssh2Machine`; a [`Machine`], `Clone + Send +
/// Sync`, and clones share the shells.
///
/// Each command runs as it would on the machine itself: in a subshell of its own (`cd`,
/// variables, `umask` and traps never leak into the next command), its stdout and stderr
/// kept apart byte for byte, its real exit code and the same errors, `stdin_bytes`
/// delivered, and a [`timeout`](crate::Expr::timeout) or kill ending its whole process
/// tree (and that shell, which the next command replaces). Threads run in parallel on up
/// to four shells ([`max_shells`](Session::max_shells)), opened on demand.
///
/// What a shell cannot do as the machine would goes through a channel of its own,
/// transparently: streamed stdin or output ([`spawn`](crate::Expr::spawn),
/// [`lines`](crate::Expr::lines), pipes to other machines) and `stdin_bytes` over 1 MiB.
/// Output reaches the caller when the command ends, not as it is written; a command reads
/// an empty stdin unless given `stdin_bytes`. File operations ([`MPath`](crate::MPath))
/// use the machine's SFTP session, which is faster still.
///
/// ```no_run
/// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
/// use plumb::prelude::*;
/// let web = plumb::SshMachine::connect("deploy@web1").unwrap();
/// let s = web.session();
/// for unit in ["nginx", "redis", "myapp"] {
///     let state = sh!(systemctl is-active $unit).on(&s).unchecked().read().unwrap();
///     println!("{unit}: {state}");
/// }
/// ```
#[derive(Clone)]
pub struct Session {
    remote: Remote,
    pool: Arc<Pool>,
}

impl Session {
    pub(crate) fn new(remote: Remote) -> Session {
        let pool = Arc::new(Pool::new(remote.clone(), DEFAULT_SHELLS));
        Session { remote, pool }
    }

    /// A session like this one (same directory and environment) with up to `n` shells:
    /// more lets more threads run at once, each costing a channel of the connection.
    pub fn max_shells(&self, n: usize) -> Session {
        Session {
            remote: self.remote.clone(),
            pool: Arc::new(Pool::new(self.remote.clone(), n)),
        }
    }

    /// A handle whose commands and relative paths start in `dir`; it shares the shells.
    pub fn with_dir(&self, dir: impl AsRef<std::path::Path>) -> Session {
        Session {
            remote: self.remote.with_dir(dir.as_ref()),
            pool: self.pool.clone(),
        }
    }

    /// A handle whose commands get this environment variable; it shares the shells.
    pub fn with_env(
        &self,
        key: impl AsRef<std::ffi::OsStr>,
        value: impl AsRef<std::ffi::OsStr>,
    ) -> Session {
        Session {
            remote: self.remote.with_env(key.as_ref(), value.as_ref()),
            pool: self.pool.clone(),
        }
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let open = self.pool.state.lock().map(|s| s.open).unwrap_or(0);
        f.debug_struct("Session")
            .field("machine", &self.remote)
            .field("shells_open", &open)
            .field("max_shells", &self.pool.max)
            .finish()
    }
}

impl Machine for Session {
    fn name(&self) -> &str {
        self.remote.name()
    }

    fn which(&self, program: &str) -> Result<std::path::PathBuf> {
        self.remote.which(program)
    }

    /// Ends the session's shells; the machine's connection stays open.
    fn close(&self) -> Result<()> {
        let mut state = self.pool.state.lock().unwrap();
        state.open -= state.idle.len();
        state.idle.clear();
        Ok(())
    }
}

impl crate::machine::seam::Backend for Session {
    fn start(&self, job: Job) -> Result<Box<dyn crate::model::job::Process>> {
        self.remote.start_in_session(job, &self.pool)
    }

    /// On the machine itself: a session's shell would end the command with it.
    fn start_detached(&self, expr: &crate::model::Expr) -> Result<u32> {
        crate::machine::seam::Backend::start_detached(&self.remote, expr)
    }

    fn fs(&self) -> &dyn crate::machine::fs::Fs {
        crate::machine::seam::Backend::fs(&self.remote)
    }

    fn release_files(&self) {
        crate::machine::seam::Backend::release_files(&self.remote)
    }

    fn copies_inherited_output(&self) -> bool {
        crate::machine::seam::Backend::copies_inherited_output(&self.remote)
    }

    /// Not the machine's: a session's commands run elsewhere than the machine's.
    fn identity(&self) -> usize {
        let pool = Arc::as_ptr(&self.pool) as usize;
        pool ^ crate::machine::seam::Backend::identity(&self.remote).rotate_left(17)
    }

    fn upload_path(
        &self,
        local: &std::path::Path,
        remote: &std::path::Path,
        observer: crate::progress::Observer,
    ) -> Result<()> {
        crate::machine::seam::Backend::upload_path(&self.remote, local, remote, observer)
    }

    fn download_path(
        &self,
        remote: &std::path::Path,
        local: &std::path::Path,
        observer: crate::progress::Observer,
    ) -> Result<()> {
        crate::machine::seam::Backend::download_path(&self.remote, remote, local, observer)
    }
}

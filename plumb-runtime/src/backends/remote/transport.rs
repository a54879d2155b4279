//! The seam below the one remote machine: what a way of reaching a host (the OpenSSH
//! client, a libssh2 session) must provide. Everything else about remote machines is
//! written once, above it.

use std::net::SocketAddr;

use crate::model::job::Stdio;
use crate::output::ExitStatus;
use crate::tunnel::{Forward, Tunnel};
use crate::Result;

/// A connection to one host.
pub(crate) trait Transport: Send + Sync + 'static {
    /// Runs `command`, a line for the user's login shell, with these local streams.
    fn exec(&self, command: &str, stdio: [Stdio; 3]) -> Result<Box<dyn Child>>;

    /// Runs `command` like [`exec`](Transport::exec), on a terminal of `size` (columns,
    /// rows) on the host: the command's stdout and stderr are the terminal's one output,
    /// its stdin the terminal's input.
    fn exec_pty(
        &self,
        command: &str,
        stdio: [Stdio; 3],
        size: (u16, u16),
    ) -> Result<Box<dyn Child>>;

    /// Starts the server's subsystem `name` (`sftp`) with these local streams; a server
    /// without it ends the streams at once.
    fn subsystem(&self, name: &str, stdio: [Stdio; 3]) -> Result<Box<dyn Child>>;

    /// A byte stream to `host:port` as seen from the remote host.
    fn connect_sock_to(&self, host: &str, port: u16) -> Result<Tunnel>;

    /// Listens on 127.0.0.1 here and tunnels every connection to `host:port` as seen from
    /// the remote host.
    fn forward_local(&self, host: &str, port: u16) -> Result<Forward>;

    /// Asks the server to listen on `port` (0: it chooses) on its loopback interface and
    /// tunnel every connection to `local` here.
    fn forward_remote(&self, port: u16, local: SocketAddr) -> Result<Forward>;

    /// Whether a command given this process's own stdin (`Stdio::Inherit`) reads it: the
    /// `ssh` client passes it on; a libssh2 channel would need a thread that outlives the
    /// command to read it, so its command reads nothing.
    fn passes_inherited_stdin(&self) -> bool {
        true
    }

    /// Whether a command killed by a signal is told from one that exited (libssh2's
    /// exit-signal; the `ssh` client exits with 255 for that and for a lost connection).
    fn reports_signals(&self) -> bool {
        false
    }

    /// Whether [`exec_reporting_pid`](Transport::exec_reporting_pid) learns the pid: the
    /// I/O thread of a libssh2 session reads every channel's stderr itself; the `ssh`
    /// client hands it to the caller's pipe.
    fn reports_pid(&self) -> bool {
        false
    }

    /// [`exec`](Transport::exec) of a script whose first line on stderr is `MARKER PID`:
    /// the line is taken out of the stream and the pid given by [`Child::job_pid`], where
    /// the transport [`reports_pid`](Transport::reports_pid).
    fn exec_reporting_pid(
        &self,
        command: &str,
        stdio: [Stdio; 3],
        _marker: &str,
    ) -> Result<Box<dyn Child>> {
        self.exec(command, stdio)
    }

    /// Replaces a lost connection with a new one.
    fn reopen(&self) -> Result<()>;

    /// Ends the connection; what still runs on it fails.
    fn close(&self);

    /// The settings the connection was made with and where each came from
    /// (`key = value (builder|config|default)`), for `Debug`.
    fn settings(&self) -> Vec<String> {
        Vec::new()
    }
}

/// A command started by [`Transport::exec`].
pub(crate) trait Child: Send + Sync {
    /// Blocks until the command ends; a lost connection is a `Connect` error.
    fn wait(&self) -> Result<ExitStatus>;

    /// The status if the command has ended, without blocking.
    fn try_wait(&self) -> Result<Option<ExitStatus>>;

    /// Lets go of the command on this side (the `ssh` client process, for one). The remote
    /// processes are ended by the layer above, which knows their process group.
    fn kill(&self);

    /// The pid the job's script reported (see [`Transport::exec_reporting_pid`]), waiting
    /// up to `within` for it; `None` once it never will.
    fn job_pid(&self, _within: std::time::Duration) -> Option<u32> {
        None
    }

    /// Calls `then` with the reported pid once it is known (`None`: it never will be),
    /// at once if it is; `then` must not block (it may run on a connection's I/O thread).
    fn on_job_pid(&self, then: Box<dyn FnOnce(Option<u32>) + Send>) {
        then(None);
    }

    /// See [`Process::wake_on_exit`](crate::model::job::Process::wake_on_exit).
    fn wake_on_exit(&self, _waker: &std::task::Waker) -> bool {
        false
    }
}

//! The master's life bound to this program's: a master connection must not outlive the
//! program, even when its `SshMachine` is never dropped (in a `static`, at `exit`) or the
//! program is killed with SIGKILL.
//!
//! Linux alone has `PR_SET_PDEATHSIG` (and it follows the thread that forks, not the
//! process). What every Unix has is a pipe: a watchdog `sh` waits for EOF on a pipe whose
//! write end only this process holds. When this process ends, however it ends, the kernel
//! closes that end and the watchdog sends the master SIGTERM (ssh then ends its
//! ProxyCommand too). The local machine's process groups are guarded the same way.

use std::io;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Mutex, PoisonError};

use shared_child::SharedChild;

/// A running master and its watchdog.
#[derive(Debug)]
pub(super) struct Bound {
    child: SharedChild,
    watchdog: Mutex<Option<Watchdog>>,
}

impl Bound {
    /// Starts `command` under a watchdog; if the watchdog cannot start, neither does the
    /// command (an unguarded master could outlive the program).
    pub(super) fn spawn(mut command: Command) -> io::Result<Bound> {
        let child = SharedChild::spawn(&mut command)?;
        match Watchdog::guard(child.id()) {
            Ok(w) => Ok(Bound {
                child,
                watchdog: Mutex::new(Some(w)),
            }),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(e)
            }
        }
    }

    /// `None` while the master runs. Once it has ended (and is reaped here), its watchdog
    /// goes too, before the pid it would signal can name another process.
    pub(super) fn try_wait(&self) -> io::Result<Option<ExitStatus>> {
        let status = self.child.try_wait()?;
        if status.is_some() {
            self.dismiss();
        }
        Ok(status)
    }

    /// Ends the master now (SIGKILL), reaps it, then its watchdog.
    pub(super) fn kill(&self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.dismiss();
    }

    pub(super) fn take_stderr(&self) -> Option<std::process::ChildStderr> {
        self.child.take_stderr()
    }

    fn dismiss(&self) {
        let watchdog = self
            .watchdog
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(mut w) = watchdog {
            let _ = w.process.kill();
            let _ = w.process.wait();
        }
    }
}

/// A `sh` blocked reading a pipe nobody writes to: `read` returns only at EOF, when this
/// process (the only holder of the write end, which no child inherits: close-on-exec) is
/// gone.
#[derive(Debug)]
struct Watchdog {
    process: std::process::Child,
    _pipe: os_pipe::PipeWriter,
}

impl Watchdog {
    fn guard(pid: u32) -> io::Result<Watchdog> {
        use std::os::unix::process::CommandExt;
        let (r, w) = os_pipe::pipe()?;
        let mut c = Command::new("/bin/sh");
        c.args(["-c", "read _; kill -TERM \"$1\"", "plumb-ssh-watchdog"])
            .arg(pid.to_string())
            .stdin(r)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Out of the terminal's group: Ctrl-C must not end it before it did its job.
            .process_group(0);
        Ok(Watchdog {
            process: c.spawn()?,
            _pipe: w,
        })
    }
}

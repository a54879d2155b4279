//! Making a kill reach every process of a job: the live processes of a job, and with
//! `kill_tree` a process group per process guarded by a watchdog that outlives this
//! program only to end the group.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::{self, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use shared_child::SharedChild;

/// What `kill` needs to reach every process of a job, from any thread.
pub(super) struct Shared {
    pub(super) kill_tree: bool,
    killed: AtomicBool,
    /// Processes started and not yet reaped.
    live: Mutex<Vec<Arc<SharedChild>>>,
    /// With `kill_tree`: a watchdog per process group, which kills the group if this
    /// program ends without cleaning up (`std::process::exit`, a crash, a Handle kept in a
    /// `static`).
    watchdogs: Mutex<Vec<(u32, Watchdog)>>,
}

/// A `sh` that waits for EOF on a pipe whose write end only this process holds: when this
/// process ends, however it ends, the kernel closes the pipe and the watchdog kills the
/// process group it guards. Cleared (killed first) when the group's leader is reaped.
struct Watchdog {
    process: std::process::Child,
    _pipe: os_pipe::PipeWriter,
}

impl Watchdog {
    fn guard(pgid: u32) -> io::Result<Watchdog> {
        let (r, w) = os_pipe::pipe()?;
        let mut c = Command::new("/bin/sh");
        c.args(["-c", "read _; kill -KILL -\"$1\"", "plumb-watchdog"])
            .arg(pgid.to_string())
            .stdin(r)
            .stdout(process::Stdio::null())
            .stderr(process::Stdio::null())
            // Out of the terminal's group, so that Ctrl-C leaves it to do its job.
            .process_group(0);
        Ok(Watchdog {
            process: c.spawn()?,
            _pipe: w,
        })
    }

    fn dismiss(mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

impl Shared {
    pub(super) fn new(kill_tree: bool) -> Shared {
        Shared {
            kill_tree,
            killed: AtomicBool::new(false),
            live: Mutex::new(Vec::new()),
            watchdogs: Mutex::new(Vec::new()),
        }
    }

    /// Starts `command`, registered so that a concurrent `kill` reaches it.
    pub(super) fn start(&self, command: &mut Command) -> io::Result<Arc<SharedChild>> {
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        // Checked under the lock: a kill that came first must not miss this process.
        if self.killed.load(Ordering::SeqCst) {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "killed"));
        }
        let child = Arc::new(SharedChild::spawn(command)?);
        live.push(child.clone());
        if self.kill_tree {
            // Best effort: without a watchdog the job still runs, only unguarded.
            if let Ok(w) = Watchdog::guard(child.id()) {
                self.watchdogs
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push((child.id(), w));
            }
        }
        Ok(child)
    }

    pub(super) fn reaped(&self, handle: &Arc<SharedChild>) {
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        live.retain(|h| !Arc::ptr_eq(h, handle));
        let mut watchdogs = self
            .watchdogs
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(i) = watchdogs.iter().position(|(pid, _)| *pid == handle.id()) {
            watchdogs.swap_remove(i).1.dismiss();
        }
    }

    pub(super) fn kill(&self) {
        let live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        self.killed.store(true, Ordering::SeqCst);
        for child in live.iter() {
            if self.kill_tree {
                // Each process leads its own group, which holds its children too. A child
                // leaves `live` as soon as it is reaped, so its pid still names its group.
                // SAFETY: kill(2) with a negative pid signals a process group; no memory is
                // involved.
                unsafe { libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL) };
            }
            let _ = child.kill();
        }
    }

    pub(super) fn killed(&self) -> bool {
        self.killed.load(Ordering::SeqCst)
    }
}

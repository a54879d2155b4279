//! Unix: process groups guarded by watchdogs; programs are files with an execute bit.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::{self, Command};
use std::sync::{Arc, Mutex, PoisonError};

use shared_child::SharedChild;

use crate::output::ExitStatus;

/// The processes of one job. With `kill_tree`, each leads a process group of its own
/// (which holds its children too), guarded by a watchdog that outlives this program only
/// to end the group.
pub(in crate::backends::local) struct Tree {
    kill_tree: bool,
    /// The watchdogs are started (else a kill from this program alone ends the group).
    guarded: bool,
    /// A watchdog per process group, which kills the group if this program ends without
    /// cleaning up (`std::process::exit`, a crash, a Handle kept in a `static`).
    watchdogs: Mutex<Vec<(u32, Watchdog)>>,
}

impl Tree {
    pub(in crate::backends::local) fn new(kill_tree: bool, guarded: bool) -> io::Result<Tree> {
        Ok(Tree {
            kill_tree,
            guarded,
            watchdogs: Mutex::new(Vec::new()),
        })
    }

    /// Starts `command` in the tree.
    pub(in crate::backends::local) fn spawn(
        &self,
        command: &mut Command,
    ) -> io::Result<SharedChild> {
        if self.kill_tree {
            // Only when a kill may come: a process in its own group no longer gets the
            // terminal's Ctrl-C, and reading the terminal from a background group stops it.
            command.process_group(0);
        }
        let child = SharedChild::spawn(command)?;
        if self.kill_tree && self.guarded {
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

    /// `child` was waited for: its watchdog goes (its group's other processes stay).
    pub(in crate::backends::local) fn reaped(&self, child: &SharedChild) {
        let mut watchdogs = self
            .watchdogs
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(i) = watchdogs.iter().position(|(pid, _)| *pid == child.id()) {
            watchdogs.swap_remove(i).1.dismiss();
        }
    }

    /// Kills `child`, with its group under `kill_tree`.
    pub(in crate::backends::local) fn kill_one(&self, child: &Arc<SharedChild>) {
        self.kill(std::slice::from_ref(child));
    }

    /// Kills `live` (the processes not reaped yet), with their groups under `kill_tree`.
    pub(in crate::backends::local) fn kill(&self, live: &[Arc<SharedChild>]) {
        for child in live {
            if self.kill_tree {
                // A child leaves `live` as soon as it is reaped, so its pid still names its
                // group. SAFETY: kill(2) with a negative pid signals a process group; no
                // memory is involved.
                unsafe { libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL) };
            }
            let _ = child.kill();
        }
    }
}

/// How a process ended, as plumb reports it.
pub(in crate::backends::local) fn status(status: process::ExitStatus, _killed: bool) -> ExitStatus {
    ExitStatus::from_std(status)
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

/// Whether a file with this metadata can be run: a file with an execute bit.
pub(in crate::backends::local) fn is_executable(m: &fs::Metadata) -> bool {
    m.is_file() && m.permissions().mode() & 0o111 != 0
}

/// Whether `program` names a file by its path rather than a name to look up on `PATH`.
pub(in crate::backends::local) fn names_path(program: &str) -> bool {
    program.contains('/')
}

/// The file names `program` may have in a directory of `PATH`: itself.
pub(in crate::backends::local) fn program_files(
    program: &str,
    _pathext: Option<&std::ffi::OsStr>,
) -> Vec<String> {
    vec![program.to_string()]
}

/// std looks programs up on `PATH` itself, as a shell does.
pub(in crate::backends::local) const LOOKS_UP_PROGRAMS: bool = false;

/// Why sudo cannot run here: it can.
pub(in crate::backends::local) const NO_SUDO: Option<&str> = None;

/// Starts `command` detached: on Unix `detached.rs` runs `sh` instead.
#[allow(dead_code)]
pub(in crate::backends::local) fn detach(command: &mut Command) -> io::Result<process::Child> {
    command.spawn()
}

//! Making a kill reach every process of a job, from any thread: the job's live
//! processes and builtins, and its [`os::Tree`], which ends what they started.

use std::io;
use std::process::Command;
use std::sync::{Arc, Mutex, PoisonError};

use shared_child::SharedChild;

use super::os;
use crate::builtins::Cancel;

/// What `kill` needs to reach every process of a job.
pub(super) struct Shared {
    /// Processes started and not yet reaped.
    live: Mutex<Vec<Arc<SharedChild>>>,
    tree: os::Tree,
    /// Set by a kill; it also wakes the job's builtins and whoever waits for one.
    pub(super) cancel: Cancel,
}

impl Shared {
    /// With `kill_tree`, a kill ends what the job's processes started too; `guarded`, a
    /// watchdog also does if this program dies first (see [`Job`](crate::model::job::Job)).
    pub(super) fn new(kill_tree: bool, guarded: bool) -> io::Result<Shared> {
        Ok(Shared {
            live: Mutex::new(Vec::new()),
            tree: os::Tree::new(kill_tree, guarded)?,
            cancel: Cancel::default(),
        })
    }

    /// Starts `command`, registered so that a concurrent `kill` reaches it.
    pub(super) fn start(&self, command: &mut Command) -> io::Result<Arc<SharedChild>> {
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        // Checked under the lock: a kill that came first must not miss this process.
        if self.cancel.is_cancelled() {
            return Err(killed());
        }
        let child = Arc::new(self.tree.spawn(command)?);
        live.push(child.clone());
        Ok(child)
    }

    /// Runs `start` (which starts a builtin's thread) unless a kill came first.
    pub(super) fn start_builtin<T>(&self, start: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
        let _live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        if self.cancel.is_cancelled() {
            return Err(killed());
        }
        start()
    }

    pub(super) fn reaped(&self, handle: &Arc<SharedChild>) {
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        live.retain(|h| !Arc::ptr_eq(h, handle));
        self.tree.reaped(handle);
    }

    pub(super) fn kill(&self) {
        let live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        self.cancel.cancel();
        self.tree.kill(&live);
    }

    /// Kills `child` and what it started, not the rest of the job.
    pub(super) fn kill_one(&self, child: &Arc<SharedChild>) {
        self.tree.kill_one(child);
    }

    pub(super) fn killed(&self) -> bool {
        self.cancel.is_cancelled()
    }
}

fn killed() -> io::Error {
    io::Error::new(io::ErrorKind::Interrupted, "killed")
}

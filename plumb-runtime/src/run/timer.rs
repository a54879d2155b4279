//! Timeouts: a thread per timed run that kills the process when its time is up.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::model::job::Process;

/// Kills a process when its time is up.
pub(super) struct Timer {
    done: mpsc::Sender<()>,
    fired: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Timer {
    pub(super) fn start(process: Arc<dyn Process>, after: Duration) -> io::Result<Timer> {
        let (done, rx) = mpsc::channel::<()>();
        let fired = Arc::new(AtomicBool::new(false));
        let flag = fired.clone();
        let thread = thread::Builder::new()
            .name("plumb-timeout".into())
            .spawn(move || {
                if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(after) {
                    // A command that ended in time but was not waited for yet did not
                    // time out.
                    if matches!(process.try_wait(), Ok(None)) {
                        flag.store(true, Ordering::SeqCst);
                        let _ = process.kill();
                    }
                }
            })?;
        Ok(Timer {
            done,
            fired,
            thread,
        })
    }

    /// Stops the timer; tells whether it fired.
    pub(super) fn stop(self) -> bool {
        drop(self.done);
        let _ = self.thread.join();
        self.fired.load(Ordering::SeqCst)
    }
}

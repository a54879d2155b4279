//! How a group call goes through its hosts beyond "all at once": rolling batches, a
//! failure budget, a progress line, and each host's output in files of its own.

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::backends::local::fs_error;
use crate::error::{Error, ErrorKind};
use crate::Result;

/// How many hosts may fail before no further host is started; `None`: no limit.
pub(super) struct Budget {
    allowed: Option<usize>,
    failed: AtomicUsize,
}

impl Budget {
    pub(super) fn new(allowed: Option<usize>) -> Budget {
        Budget {
            allowed,
            failed: AtomicUsize::new(0),
        }
    }

    /// Whether more hosts have failed than allowed (then nothing new starts).
    pub(super) fn spent(&self) -> bool {
        self.allowed
            .is_some_and(|n| self.failed.load(Ordering::SeqCst) > n)
    }

    pub(super) fn record(&self, ok: bool) {
        if !ok {
            self.failed.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// The result of a host that was not started.
    pub(super) fn skipped(&self, host: &str) -> Error {
        let failed = self.failed.load(Ordering::SeqCst);
        let allowed = self.allowed.unwrap_or(0);
        let why = match allowed {
            0 => {
                "not run: an earlier host failed (stop_on_failure, or max_failures(0))".to_string()
            }
            n => format!("not run: {failed} hosts failed, more than max_failures ({n}) allows"),
        };
        Error::new(ErrorKind::Skipped, host, why)
    }
}

/// Where a group draws its progress line.
#[derive(Clone)]
pub(super) enum ProgressTo {
    Off,
    /// This process's stderr, when it is a terminal.
    Stderr,
    Writer(Arc<Mutex<dyn Write + Send>>),
}

/// `done/total hosts, N failed`, redrawn in place (`\r`) as each host ends, then a
/// newline when the call ends.
pub(super) struct Progress {
    to: ProgressTo,
    total: usize,
    done: AtomicUsize,
    failed: AtomicUsize,
}

impl Progress {
    pub(super) fn new(to: &ProgressTo, total: usize) -> Progress {
        let to = match to {
            ProgressTo::Stderr if !io::stderr().is_terminal() => ProgressTo::Off,
            other => other.clone(),
        };
        let progress = Progress {
            to,
            total,
            done: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
        };
        progress.draw("");
        progress
    }

    pub(super) fn host_done(&self, ok: bool) {
        self.done.fetch_add(1, Ordering::SeqCst);
        if !ok {
            self.failed.fetch_add(1, Ordering::SeqCst);
        }
        self.draw("");
    }

    pub(super) fn finish(&self) {
        self.draw("\n");
    }

    fn draw(&self, end: &str) {
        let line = format!(
            "\r{}/{} hosts done, {} failed{end}",
            self.done.load(Ordering::SeqCst),
            self.total,
            self.failed.load(Ordering::SeqCst)
        );
        match &self.to {
            ProgressTo::Off => {}
            ProgressTo::Stderr => drop(io::stderr().lock().write_all(line.as_bytes())),
            ProgressTo::Writer(w) => {
                let mut w = w.lock().unwrap_or_else(|e| e.into_inner());
                let _ = w.write_all(line.as_bytes()).and_then(|()| w.flush());
            }
        }
    }
}

/// The directories that get each host's stdout and stderr, one file per host named after
/// it (pssh's `-o` and `-e`).
#[derive(Clone, Default)]
pub(super) struct OutFiles {
    pub(super) stdout: Option<PathBuf>,
    pub(super) stderr: Option<PathBuf>,
}

impl OutFiles {
    pub(super) fn any(&self) -> bool {
        self.stdout.is_some() || self.stderr.is_some()
    }

    /// Makes the directories, before any host runs: a directory that cannot be made
    /// fails every host the same way.
    pub(super) fn prepare(&self) -> Result<()> {
        for dir in [&self.stdout, &self.stderr].into_iter().flatten() {
            std::fs::create_dir_all(dir).map_err(|e| fs_error("create", dir, e))?;
        }
        Ok(())
    }

    /// Writes what `host` printed; a file that cannot be written is that host's error.
    pub(super) fn write(&self, host: &str, stdout: &[u8], stderr: &[u8]) -> Result<()> {
        let name = super::dir_name(host);
        for (dir, bytes) in [(&self.stdout, stdout), (&self.stderr, stderr)] {
            if let Some(dir) = dir {
                let path: &Path = &dir.join(&name);
                std::fs::write(path, bytes).map_err(|e| fs_error("write", path, e))?;
            }
        }
        Ok(())
    }
}

//! How far a transfer is: what [`Machine::upload_with`](crate::Machine::upload_with) and
//! [`Machine::download_with`](crate::Machine::download_with) report to their observer.

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::Expr;

/// One report of a transfer in progress.
#[derive(Clone, Copy, Debug)]
pub struct Progress<'a> {
    pub(crate) done: u64,
    pub(crate) total: Option<u64>,
    pub(crate) file: &'a Path,
}

impl Progress<'_> {
    /// Bytes copied so far. For a directory this counts the archive streamed, which is a
    /// little more than the files' sizes.
    pub fn bytes_done(&self) -> u64 {
        self.done
    }

    /// The size of everything to copy, when it is known up front (a file; a directory
    /// being uploaded).
    pub fn bytes_total(&self) -> Option<u64> {
        self.total
    }

    /// The file or directory being copied (its source path).
    pub fn file(&self) -> &Path {
        self.file
    }
}

/// What a transfer calls as it goes.
pub(crate) type Observer<'o> = &'o mut dyn FnMut(&Progress);

/// Copies `from` into `to`, telling `observer` after every chunk. Returns the bytes copied.
pub(crate) fn copy(
    from: &mut dyn Read,
    to: &mut dyn Write,
    file: &Path,
    total: Option<u64>,
    observer: Observer,
) -> io::Result<u64> {
    let mut buf = vec![0; 64 * 1024];
    let mut done = 0;
    observer(&Progress { done, total, file });
    loop {
        if expired() {
            return Err(timed_out());
        }
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all(&buf[..n])?;
        done += n as u64;
        observer(&Progress { done, total, file });
    }
    to.flush()?;
    Ok(done)
}

thread_local! {
    /// When the transfer running on this thread must stop: a group's `timeout_per_host`.
    /// A thread's setting rather than a parameter because it has to reach, several layers
    /// down, the SFTP client's waits and the commands a transfer starts, through the `Fs`
    /// calls that every other caller makes without one.
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
    /// The transfer running on this thread has had its one grace past the deadline.
    static GAVE_UP: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f`, a transfer, on this thread with `deadline`. Once it is past, the copy stops
/// at its next chunk, a wait for the SFTP server gives up (see `sftp::Pending::wait`),
/// and the commands the transfer started are ended (their [`Expr::timeout`]).
pub(crate) fn within<T>(deadline: Instant, f: impl FnOnce() -> T) -> T {
    struct Restore(Option<Instant>, bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            DEADLINE.with(|d| d.set(self.0));
            GAVE_UP.with(|g| g.set(self.1));
        }
    }
    let _restore = Restore(
        DEADLINE.with(|d| d.replace(Some(deadline))),
        GAVE_UP.with(|g| g.replace(false)),
    );
    f()
}

/// Whether this thread's transfer has given up waiting once already.
pub(crate) fn gave_up() -> bool {
    GAVE_UP.with(Cell::get)
}

/// Notes that this thread's transfer gave up waiting.
pub(crate) fn give_up() {
    GAVE_UP.with(|g| g.set(true));
}

/// The deadline of the transfer running on this thread, if it has one.
pub(crate) fn deadline() -> Option<Instant> {
    DEADLINE.with(Cell::get)
}

/// Whether this thread's transfer is past its deadline.
pub(crate) fn expired() -> bool {
    deadline().is_some_and(|at| Instant::now() >= at)
}

/// What a transfer past its deadline fails with.
pub(crate) fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "its time ran out")
}

/// `expr`, a command a transfer starts, ended at this thread's deadline if it has one.
pub(crate) fn bounded(expr: Expr) -> Expr {
    match deadline() {
        Some(at) => {
            let left = at.saturating_duration_since(Instant::now());
            expr.timeout(left.max(Duration::from_millis(1)))
        }
        None => expr,
    }
}

/// A terminal progress bar for transfers (feature `progress`, with `indicatif`): pass
/// `&mut |p| bar.update(p)` as the observer. It draws on stderr only when stderr is a
/// terminal, and prints nothing otherwise.
///
/// ```no_run
/// # extern crate plumb_runtime as plumb;
/// use plumb::prelude::*;
/// let m = plumb::SshMachine::connect("deploy@web1").unwrap();
/// let mut bar = plumb::progress::Bar::new();
/// m.upload_with("target/release/app", "/srv/app", &mut |p| bar.update(p)).unwrap();
/// ```
#[cfg(feature = "progress")]
#[cfg_attr(docsrs, doc(cfg(feature = "progress")))]
pub struct Bar {
    bar: Option<indicatif::ProgressBar>,
}

#[cfg(feature = "progress")]
impl Bar {
    /// A bar, shown only if stderr is a terminal.
    pub fn new() -> Bar {
        use std::io::IsTerminal;
        let bar = io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(0);
            let style = indicatif::ProgressStyle::with_template(
                "{msg} {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} {eta}",
            )
            .expect("a valid template");
            bar.set_style(style);
            bar
        });
        Bar { bar }
    }

    /// Shows one report.
    pub fn update(&mut self, p: &Progress) {
        let Some(bar) = &self.bar else { return };
        if let Some(total) = p.bytes_total() {
            bar.set_length(total);
        }
        bar.set_message(p.file().display().to_string());
        bar.set_position(p.bytes_done());
    }

    /// Ends the bar, leaving it on the screen.
    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish();
        }
    }
}

#[cfg(feature = "progress")]
impl Default for Bar {
    fn default() -> Bar {
        Bar::new()
    }
}

#[cfg(feature = "progress")]
impl std::fmt::Debug for Bar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bar")
            .field("shown", &self.bar.is_some())
            .finish()
    }
}

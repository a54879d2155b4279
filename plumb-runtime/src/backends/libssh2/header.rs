//! A job's pid, read from its stderr: the script's first line there is `MARKER PID`
//! (MARKER a nonce nobody else knows), which the I/O thread takes out of the stream. A
//! kill then reaches the job's process group with no pid file, and so without the job's
//! directory on the host (a `mkdir` and an `rm`, two processes, per command).
//!
//! What a login shell writes before the script runs (a `.bashrc` that talks) comes first
//! on stderr: the scan keeps it and hands it on after the line, in order. A stream that
//! says nothing like it within [`LIMIT`] bytes, or ends first, is handed on untouched,
//! and the job's pid stays unknown.

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How much stderr is held back while looking for the line.
const LIMIT: usize = 64 * 1024;

/// Where the pid goes once the I/O thread has read it; `Some(None)`: it never will.
#[derive(Default)]
pub(super) struct PidSlot {
    state: Mutex<SlotState>,
    set: Condvar,
}

#[derive(Default)]
struct SlotState {
    pid: Option<Option<u32>>,
    /// Called once the pid is known (or known never to come).
    then: Option<Then>,
}

type Then = Box<dyn FnOnce(Option<u32>) + Send>;

impl PidSlot {
    fn lock(&self) -> std::sync::MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set(&self, pid: Option<u32>) {
        let mut state = self.lock();
        if state.pid.is_none() {
            state.pid = Some(pid);
            self.set.notify_all();
            let then = state.then.take();
            drop(state);
            if let Some(then) = then {
                then(pid);
            }
        }
    }

    /// The pid, waiting up to `within` for it.
    pub(super) fn get(&self, within: Duration) -> Option<u32> {
        let deadline = Instant::now() + within;
        let mut state = self.lock();
        loop {
            if let Some(pid) = state.pid {
                return pid;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            state = (self.set.wait_timeout(state, left))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Calls `then` with the pid once it is known (here and now if it is): on the I/O
    /// thread otherwise, so `then` must not block.
    pub(super) fn then(&self, then: Then) {
        let mut state = self.lock();
        match state.pid {
            Some(pid) => {
                drop(state);
                then(pid);
            }
            None => state.then = Some(then),
        }
    }
}

/// The scan of a stderr stream for the pid line. Dropped before it found the line (the
/// channel never opened, or ended), it says the pid will never come.
pub(super) struct HeaderScan {
    /// `MARKER ` : what the line starts with.
    prefix: Vec<u8>,
    held: Vec<u8>,
    slot: Arc<PidSlot>,
}

impl HeaderScan {
    pub(super) fn new(marker: &str, slot: Arc<PidSlot>) -> HeaderScan {
        HeaderScan {
            prefix: format!("{marker} ").into_bytes(),
            held: Vec::new(),
            slot,
        }
    }

    /// Takes `data`, the stream's next bytes: `Some(bytes to hand on)` once the scan is
    /// over (the line found and taken out, or given up on), `None` while it holds them.
    pub(super) fn feed(&mut self, data: &[u8]) -> Option<Vec<u8>> {
        self.held.extend_from_slice(data);
        // Anywhere, not only at a line's start: a login shell's words may end without a
        // newline (the marker is a nonce: nothing else writes it).
        let at = (self.held.windows(self.prefix.len())).position(|w| w == &self.prefix[..]);
        if let Some(at) = at {
            // The rest of the line has yet to come.
            let nl = self.held[at..].iter().position(|&b| b == b'\n')?;
            let pid = &self.held[at + self.prefix.len()..at + nl];
            let pid = std::str::from_utf8(pid).ok().and_then(|p| p.parse().ok());
            self.slot.set(pid.filter(|&p| p > 1));
            let mut rest = self.held[..at].to_vec();
            rest.extend_from_slice(&self.held[at + nl + 1..]);
            self.held.clear();
            return Some(rest);
        }
        if self.held.len() > LIMIT {
            self.slot.set(None);
            return Some(std::mem::take(&mut self.held));
        }
        None
    }

    /// The stream ended before the line: what was held, to hand on.
    pub(super) fn end(mut self) -> Vec<u8> {
        self.slot.set(None);
        std::mem::take(&mut self.held)
    }
}

impl Drop for HeaderScan {
    fn drop(&mut self) {
        self.slot.set(None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan() -> (HeaderScan, Arc<PidSlot>) {
        let slot = Arc::new(PidSlot::default());
        (HeaderScan::new("plumb-pid-abc", slot.clone()), slot)
    }

    #[test]
    fn the_line_is_taken_out_and_the_rest_kept_in_order() {
        let (mut s, slot) = scan();
        assert_eq!(s.feed(b"bashrc says hi\nplumb-pid-a"), None);
        let out = s.feed(b"bc 4242\nerr from the job\n").unwrap();
        assert_eq!(out, b"bashrc says hi\nerr from the job\n");
        assert_eq!(slot.get(Duration::ZERO), Some(4242));
    }

    #[test]
    fn the_line_after_words_without_a_newline_is_found() {
        let (mut s, slot) = scan();
        let out = s.feed(b"partialplumb-pid-abc 77\nerr\n").unwrap();
        assert_eq!(out, b"partialerr\n");
        assert_eq!(slot.get(Duration::ZERO), Some(77));
    }

    #[test]
    fn what_waits_for_the_pid_gets_it() {
        let (mut s, slot) = scan();
        let got = Arc::new(Mutex::new(None));
        let seen = got.clone();
        slot.then(Box::new(move |pid| *seen.lock().unwrap() = Some(pid)));
        assert_eq!(*got.lock().unwrap(), None);
        s.feed(b"plumb-pid-abc 99\n").unwrap();
        assert_eq!(*got.lock().unwrap(), Some(Some(99)));
    }

    #[test]
    fn a_stream_without_the_line_is_handed_on_whole() {
        let (mut s, slot) = scan();
        assert_eq!(s.feed(b"no line here\n"), None);
        assert_eq!(s.end(), b"no line here\n");
        assert_eq!(slot.get(Duration::ZERO), None);
        let (mut s, slot) = scan();
        let big = vec![b'x'; LIMIT + 1];
        assert_eq!(s.feed(&big).unwrap(), big);
        assert_eq!(slot.get(Duration::from_millis(1)), None);
    }

    #[test]
    fn a_pid_that_is_no_number_above_one_is_none() {
        for line in [
            &b"plumb-pid-abc 1\n"[..],
            b"plumb-pid-abc x\n",
            b"plumb-pid-abc -5\n",
        ] {
            let (mut s, slot) = scan();
            assert_eq!(s.feed(line).unwrap(), b"");
            assert_eq!(slot.get(Duration::ZERO), None);
        }
    }

    #[test]
    fn a_scan_dropped_early_says_never() {
        let (s, slot) = scan();
        drop(s);
        assert_eq!(slot.get(Duration::from_secs(5)), None);
    }
}

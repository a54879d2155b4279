//! Collecting what a command writes: inline with `poll(2)` for calls that wait, on a
//! thread for calls that return early; teed to this process's stderr for `run`. Windows
//! cannot wait on several pipes at once, so there every stream but one has a thread.

use std::io::{self, Read, Write};
use std::thread::{self, JoinHandle};

/// How much of stderr `run` keeps for its error while passing it through.
const TEE_TAIL: usize = 64 * 1024;

/// Keeps the last `TEE_TAIL` bytes of what it is given, with amortised trimming.
pub(super) fn keep_tail(tail: &mut Vec<u8>, chunk: &[u8]) {
    tail.extend_from_slice(chunk);
    if tail.len() > 2 * TEE_TAIL {
        tail.drain(..tail.len() - TEE_TAIL);
    }
}

pub(super) fn trim_tail(mut tail: Vec<u8>) -> Vec<u8> {
    if tail.len() > TEE_TAIL {
        tail.drain(..tail.len() - TEE_TAIL);
    }
    tail
}

/// An output stream of a running command that the caller collects.
pub(super) enum Sink {
    /// Read by the thread that finishes the command (no thread of its own: a thread per
    /// stream costs as much as 5% of spawning a small command).
    Inline {
        reader: os_pipe::PipeReader,
        tee: bool,
    },
    /// Drained by a thread, for calls that return before the command ends.
    Thread(JoinHandle<Vec<u8>>),
    /// Copied to this process's stdout, nothing kept: output a machine would otherwise
    /// need a thread per command to pass on (an `Ssh2Machine`'s), for the async calls.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    Relay(os_pipe::PipeReader),
}

impl Sink {
    pub(super) fn inline(reader: os_pipe::PipeReader, tee: bool) -> Sink {
        Sink::Inline { reader, tee }
    }

    pub(super) fn thread(mut reader: os_pipe::PipeReader) -> io::Result<Sink> {
        let t = thread::Builder::new()
            .name("plumb-capture".into())
            .spawn(move || {
                let mut buf = Vec::new();
                let _ = reader.read_to_end(&mut buf);
                buf
            })?;
        Ok(Sink::Thread(t))
    }
}

/// Collects `sinks` to their ends. Inline ones are read here, several at once (see
/// [`drain`]) so that a full pipe on one never blocks the other; a teed one is also copied
/// to this process's stderr and only its tail kept.
pub(super) fn collect(sinks: [Option<Sink>; 2]) -> [Option<Vec<u8>>; 2] {
    let mut out: [Option<Vec<u8>>; 2] = [None, None];
    let mut open: Vec<Inline> = Vec::new();
    let mut threads = Vec::new();
    for (i, sink) in sinks.into_iter().enumerate() {
        match sink {
            None => {}
            Some(Sink::Inline { reader, tee }) => {
                out[i] = Some(Vec::new());
                open.push(Inline {
                    i,
                    reader,
                    tee,
                    buf: Vec::new(),
                });
            }
            Some(Sink::Thread(t)) => threads.push((i, t)),
            Some(Sink::Relay(mut r)) => {
                let relay = move || {
                    let _ = io::copy(&mut r, &mut io::stdout());
                    Vec::new()
                };
                match thread::Builder::new()
                    .name("plumb-relay".into())
                    .spawn(relay)
                {
                    Ok(t) => threads.push((i, t)),
                    Err(_) => out[i] = Some(Vec::new()),
                }
            }
        }
    }
    for done in drain(open) {
        let buf = if done.tee {
            trim_tail(done.buf)
        } else {
            done.buf
        };
        out[done.i] = Some(buf);
    }
    for (i, t) in threads {
        out[i] = Some(t.join().unwrap_or_default());
    }
    out
}

/// An inline stream being read: the index of its output, and what it gave so far.
struct Inline {
    i: usize,
    reader: os_pipe::PipeReader,
    tee: bool,
    buf: Vec<u8>,
}

impl Inline {
    /// Reads what there is now, until the pipe would block: true at its end.
    fn read_available(&mut self, chunk: &mut [u8]) -> bool {
        loop {
            let got = if self.tee {
                self.reader.read(chunk).inspect(|&n| {
                    let _ = io::stderr().write_all(&chunk[..n]);
                    keep_tail(&mut self.buf, &chunk[..n]);
                })
            } else {
                crate::sys::read_into(&self.reader, &mut self.buf)
            };
            match got {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(_) => return true,
            }
        }
    }
}

/// Reads every stream of `open` to its end, several at once with `poll(2)`.
#[cfg(unix)]
fn drain(mut open: Vec<Inline>) -> Vec<Inline> {
    for s in &open {
        crate::sys::set_nonblocking(&s.reader);
    }
    let mut chunk = vec![0u8; 64 * 1024];
    let mut done = Vec::new();
    while !open.is_empty() {
        let readers: Vec<_> = open.iter().map(|s| &s.reader).collect();
        let ready = crate::sys::wait_readable(&readers);
        for k in (0..open.len()).rev() {
            if ready[k] && open[k].read_available(&mut chunk) {
                done.push(open.remove(k));
            }
        }
    }
    done
}

/// Reads every stream of `open` to its end: the first here, each other on a thread (a
/// blocking read, as anonymous pipes cannot be polled on Windows).
#[cfg(windows)]
fn drain(open: Vec<Inline>) -> Vec<Inline> {
    let mut open = open.into_iter();
    let Some(mut first) = open.next() else {
        return Vec::new();
    };
    let read_all = |mut s: Inline| {
        let mut chunk = vec![0u8; 64 * 1024];
        while !s.read_available(&mut chunk) {}
        s
    };
    let threads: Vec<_> = open
        .map(|s| {
            thread::Builder::new()
                .name("plumb-capture".into())
                .spawn(move || read_all(s))
        })
        .collect();
    let mut chunk = vec![0u8; 64 * 1024];
    while !first.read_available(&mut chunk) {}
    let mut done = vec![first];
    for t in threads {
        // A stream whose thread could not start is left unread: its command then blocks
        // only if it fills the pipe, and the thread error is as rare as out-of-memory.
        if let Some(s) = t.ok().and_then(|t| t.join().ok()) {
            done.push(s);
        }
    }
    done
}

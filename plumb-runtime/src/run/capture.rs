//! Collecting what a command writes: inline with `poll(2)` for calls that wait, on a
//! thread for calls that return early; teed to this process's stderr for `run`.

use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::thread::{self, JoinHandle};

use crate::sys::{read_into, set_nonblocking};

/// How much of stderr `run` keeps for its error while passing it through.
const TEE_TAIL: usize = 64 * 1024;

/// Keeps the last `TEE_TAIL` bytes of what it is given, with amortised trimming.
fn keep_tail(tail: &mut Vec<u8>, chunk: &[u8]) {
    tail.extend_from_slice(chunk);
    if tail.len() > 2 * TEE_TAIL {
        tail.drain(..tail.len() - TEE_TAIL);
    }
}

fn trim_tail(mut tail: Vec<u8>) -> Vec<u8> {
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

/// Collects `sinks` to their ends. Inline ones are read here, several at once with
/// `poll(2)` so that a full pipe on one never blocks the other; a teed one is also copied to
/// this process's stderr and only its tail kept.
pub(super) fn collect(sinks: [Option<Sink>; 2]) -> [Option<Vec<u8>>; 2] {
    let mut out: [Option<Vec<u8>>; 2] = [None, None];
    let mut open: Vec<(usize, os_pipe::PipeReader, bool)> = Vec::new();
    let mut threads = Vec::new();
    for (i, sink) in sinks.into_iter().enumerate() {
        match sink {
            None => {}
            Some(Sink::Inline { reader, tee }) => {
                out[i] = Some(Vec::new());
                open.push((i, reader, tee));
            }
            Some(Sink::Thread(t)) => threads.push((i, t)),
        }
    }
    for (_, reader, _) in &open {
        set_nonblocking(reader.as_raw_fd());
    }
    let mut chunk = vec![0u8; 64 * 1024];
    while !open.is_empty() {
        let mut fds: Vec<libc::pollfd> = open
            .iter()
            .map(|(_, r, _)| libc::pollfd {
                fd: r.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        // SAFETY: `fds` is a valid array of `fds.len()` pollfd structs for the whole call.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if n < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            break;
        }
        let mut closed = Vec::new();
        for (k, pfd) in fds.iter().enumerate() {
            if pfd.revents == 0 {
                continue;
            }
            let (i, reader, tee) = &mut open[k];
            let buf = out[*i].get_or_insert_with(Vec::new);
            // Everything there is now, until the pipe would block.
            let eof = loop {
                let got = if *tee {
                    reader.read(&mut chunk).inspect(|&n| {
                        let _ = io::stderr().write_all(&chunk[..n]);
                        keep_tail(buf, &chunk[..n]);
                    })
                } else {
                    read_into(reader.as_raw_fd(), buf)
                };
                match got {
                    Ok(0) => break true,
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break false,
                    Err(_) => break true,
                }
            };
            if eof {
                if *tee {
                    out[*i] = out[*i].take().map(trim_tail);
                }
                closed.push(k);
            }
        }
        for k in closed.into_iter().rev() {
            open.remove(k);
        }
    }
    for (i, t) in threads {
        out[i] = Some(t.join().unwrap_or_default());
    }
    out
}

//! Streaming a file through SFTP with a window of requests in flight: reads ahead of the
//! caller, writes behind it, memory bounded by the window.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::sync::Arc;

use super::wire::{fx, fxp, Attrs, Fields};
use super::{expect_ok, Failed, Pending, Sftp};
use crate::machine::fs::WriteFile;
use crate::Result;

/// Bytes per READ or WRITE request: well under OpenSSH's 256 KiB limit.
const CHUNK: u32 = 64 * 1024;
/// Requests in flight at most: 1 MiB, half the libssh2 session's window.
const WINDOW: usize = 16;

/// What names a file in errors.
pub(crate) struct Named {
    pub(crate) machine: String,
    pub(crate) path: Vec<u8>,
}

impl Named {
    fn io(&self, what: &str, f: Failed) -> io::Error {
        let e = f.error(&self.machine, what, &self.path);
        let kind = match e.kind() {
            crate::ErrorKind::NotFound => io::ErrorKind::NotFound,
            crate::ErrorKind::PermissionDenied => io::ErrorKind::PermissionDenied,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, e)
    }
}

/// A file being read: requests go out ahead of the caller, one at first (a small file
/// takes its data and EOF one request at a time, see the module above), the window
/// doubling with each full chunk up to `WINDOW`.
pub(crate) struct SftpReader {
    sftp: Arc<Sftp>,
    handle: Vec<u8>,
    name: Named,
    /// The offset of the next request.
    next: u64,
    in_flight: VecDeque<(u64, u32, Pending)>,
    window: usize,
    eof: bool,
    chunk: Vec<u8>,
    pos: usize,
}

impl SftpReader {
    pub(crate) fn open(sftp: Arc<Sftp>, name: Named) -> std::result::Result<Self, Failed> {
        let handle = sftp.open(&name.path, super::wire::open::READ, &Attrs::default())?;
        Ok(SftpReader {
            sftp,
            handle,
            name,
            next: 0,
            in_flight: VecDeque::new(),
            window: 1,
            eof: false,
            chunk: Vec::new(),
            pos: 0,
        })
    }

    fn request(&self, offset: u64, len: u32) -> Pending {
        self.sftp
            .send(fxp::READ, |p| p.bytes(&self.handle).u64(offset).u32(len))
    }

    /// The next chunk of data into `self.chunk`; false at the end of the file.
    fn fill(&mut self) -> std::result::Result<bool, Failed> {
        while !self.eof && self.in_flight.len() < self.window {
            let p = self.request(self.next, CHUNK);
            self.in_flight.push_back((self.next, CHUNK, p));
            self.next += u64::from(CHUNK);
        }
        let Some((offset, len, pending)) = self.in_flight.pop_front() else {
            return Ok(false);
        };
        let reply = pending.wait()?;
        if reply.kind != fxp::DATA {
            return match reply.status() {
                Some((fx::EOF, _)) => {
                    self.stop();
                    Ok(false)
                }
                _ => Err(reply.unexpected()),
            };
        }
        let data = Fields(&reply.body)
            .bytes()
            .map_err(|bad| reply.malformed(bad))?;
        if data.len() > len as usize {
            // Taken, it would shift every later byte; and the next request, sent after
            // it, would be answered the same way without end.
            return Err(Failed::Protocol(format!(
                "a DATA reply of {} bytes where {len} were asked",
                data.len()
            )));
        }
        let n = data.len() as u32;
        if n == 0 {
            self.stop();
            return Ok(false);
        }
        if n < len {
            // A short read, most likely at the end: ask for the rest before anything
            // later, alone.
            self.window = 1;
            let rest = self.request(offset + u64::from(n), len - n);
            self.in_flight
                .push_front((offset + u64::from(n), len - n, rest));
        } else {
            self.window = (self.window * 2).min(WINDOW);
        }
        self.chunk.clear();
        self.chunk.extend_from_slice(data);
        self.pos = 0;
        Ok(true)
    }

    /// At the end: later requests can only say EOF too.
    fn stop(&mut self) {
        self.eof = true;
        self.in_flight.clear();
    }
}

impl Read for SftpReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.chunk.len() && !self.fill().map_err(|f| self.name.io("read", f))? {
            return Ok(0);
        }
        let n = buf.len().min(self.chunk.len() - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Drop for SftpReader {
    fn drop(&mut self) {
        // Replies still due come first; a reader dropped midway waits for them.
        self.in_flight.clear();
        let _ = self.sftp.close(&self.handle);
    }
}

/// A file being written: each full chunk goes out at once, with up to `WINDOW` writes
/// unanswered; `finish` waits for them all and the close.
pub(crate) struct SftpWriter {
    sftp: Arc<Sftp>,
    handle: Vec<u8>,
    name: Named,
    offset: u64,
    buf: Vec<u8>,
    in_flight: VecDeque<Pending>,
    closed: bool,
}

impl SftpWriter {
    /// Creates or truncates the file, or appends to it.
    pub(crate) fn create(
        sftp: Arc<Sftp>,
        name: Named,
        append: bool,
    ) -> std::result::Result<Self, Failed> {
        use super::wire::open::{APPEND, CREAT, TRUNC, WRITE};
        let flags = WRITE | CREAT | if append { APPEND } else { TRUNC };
        SftpWriter::open(sftp, name, flags, &Attrs::default())
    }

    /// Opens the file with `flags`, creating it with `attrs` if they say so.
    pub(crate) fn open(
        sftp: Arc<Sftp>,
        name: Named,
        flags: u32,
        attrs: &Attrs,
    ) -> std::result::Result<Self, Failed> {
        let handle = sftp.open(&name.path, flags, attrs)?;
        Ok(SftpWriter {
            sftp,
            handle,
            name,
            offset: 0,
            buf: Vec::new(),
            in_flight: VecDeque::new(),
            closed: false,
        })
    }

    /// Sends what is buffered, waiting for the oldest write when the window is full.
    fn send(&mut self) -> std::result::Result<(), Failed> {
        if self.buf.is_empty() {
            return Ok(());
        }
        while self.in_flight.len() >= WINDOW {
            expect_ok(self.in_flight.pop_front().expect("non-empty").wait())?;
        }
        let (handle, offset, data) = (&self.handle, self.offset, &self.buf);
        let p = self
            .sftp
            .send(fxp::WRITE, |p| p.bytes(handle).u64(offset).bytes(data));
        self.in_flight.push_back(p);
        self.offset += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    fn drain(&mut self) -> std::result::Result<(), Failed> {
        while let Some(p) = self.in_flight.pop_front() {
            expect_ok(p.wait())?;
        }
        Ok(())
    }

    /// The last writes, their answers, then the close.
    fn close(&mut self) -> std::result::Result<(), Failed> {
        self.closed = true;
        let written = self.send().and_then(|()| self.drain());
        let closed = self.sftp.close(&self.handle);
        written.and(closed)
    }
}

impl Write for SftpWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(CHUNK as usize - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK as usize {
            self.send().map_err(|f| self.name.io("write", f))?;
        }
        Ok(n)
    }

    /// Waits until everything written so far is in the file.
    fn flush(&mut self) -> io::Result<()> {
        self.send()
            .and_then(|()| self.drain())
            .map_err(|f| self.name.io("write", f))
    }
}

impl WriteFile for SftpWriter {
    fn finish(&mut self) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        let name = &self.name;
        let (machine, path) = (name.machine.clone(), name.path.clone());
        self.close().map_err(|f| f.error(&machine, "write", &path))
    }
}

impl Drop for SftpWriter {
    fn drop(&mut self) {
        if !self.closed {
            // A transfer out of time sends nothing more but the close.
            if crate::progress::expired() {
                self.buf.clear();
            }
            let _ = self.close();
        }
    }
}

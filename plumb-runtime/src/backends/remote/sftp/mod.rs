//! Our SFTP client, over the transport's `sftp` subsystem: a channel of the libssh2
//! session (pumped by its I/O thread like any command) or a session the OpenSSH master
//! opens (an `ssh -s sftp` where its socket speaks another protocol version). One client
//! per connection, shared by every thread: requests carry ids,
//! a reader thread hands each reply to its caller, so many calls are in flight at once
//! and bulk reads and writes keep a window of requests outstanding.
//!
//! Small operations go one request at a time. A burst of small replies stalls: sshd
//! sends the second while the first is unacknowledged, so Nagle holds it until our side's
//! delayed ACK, 20 to 40 ms. One reply at a time is acknowledged by the next request.
//! Bulk reads and writes keep a window in flight, where replies are big or many.
//!
//! Ours rather than libssh2's `sftp.c`: that one keeps one operation of each kind per
//! handle (no two threads statting at once), and only `Ssh2Machine` could use it.
//!
//! Nothing a server says is trusted to be small: `wire` bounds each packet and field,
//! `listing` a directory listing, and a reply that breaks a bound fails its call with a
//! `Protocol` error. A packet of a wrong length breaks the stream itself: the session is
//! then lost for every call, its subsystem let go of, and the next call starts another.

mod files;
pub(crate) mod fs;
mod listing;
pub(crate) mod wire;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use self::listing::Listing;
use self::wire::{fx, fxp, Attrs, Bad, Fields, Packet, MAX_PACKET};
use super::transport::{Child, Transport};
use crate::error::{Error, ErrorKind};
use crate::model::job::Stdio;
use crate::Result;

/// Why a request failed.
#[derive(Clone, Debug)]
pub(crate) enum Failed {
    /// The server answered with this status code and message.
    Status(u32, String),
    /// The server's reply broke the protocol or one of our bounds: what it did.
    Protocol(String),
    /// The connection ended.
    Lost(String),
    /// The transfer on this thread ran out of time (see `progress::within`).
    TimedOut,
}

impl Failed {
    /// The error for `what` (`read`, `stat`) on `path`, naming the machine.
    pub(crate) fn error(self, machine: &str, what: &str, path: &[u8]) -> Error {
        let path = String::from_utf8_lossy(path);
        let (kind, why) = match self {
            Failed::Status(fx::NO_SUCH_FILE, m) => (ErrorKind::NotFound, m),
            Failed::Status(fx::PERMISSION_DENIED, m) => (ErrorKind::PermissionDenied, m),
            Failed::Status(fx::OP_UNSUPPORTED, m) => (ErrorKind::Protocol, m),
            Failed::Status(_, m) => (ErrorKind::Io, m),
            Failed::Protocol(m) => (
                ErrorKind::Protocol,
                format!("the SFTP server broke the protocol: {m}"),
            ),
            Failed::Lost(m) => (ErrorKind::Connect, m),
            Failed::TimedOut => (ErrorKind::Timeout, "its time ran out".to_string()),
        };
        Error::new(kind, machine, format!("cannot {what} `{path}`: {why}"))
    }
}

type Answer = std::result::Result<Reply, Failed>;

/// A reply: its type and the fields after the request id.
pub(crate) struct Reply {
    kind: u8,
    body: Vec<u8>,
}

/// How long a reply still due may take once a transfer's time is up, before the server
/// is taken to have stopped answering: on a working connection a reply takes
/// milliseconds.
const GRACE: Duration = Duration::from_secs(1);

/// A request sent; its reply comes later.
pub(crate) struct Pending {
    reply: Receiver<Answer>,
    session: Arc<Mutex<Waiting>>,
}

impl Pending {
    /// The reply; within the deadline of the transfer running on this thread, if any.
    pub(crate) fn wait(self) -> Answer {
        let answer = match crate::progress::deadline() {
            None => self.reply.recv().ok(),
            Some(at) => match self
                .reply
                .recv_timeout(at.saturating_duration_since(Instant::now()))
            {
                Ok(answer) => Some(answer),
                Err(RecvTimeoutError::Disconnected) => None,
                Err(RecvTimeoutError::Timeout) => return self.give_up(),
            },
        };
        answer.unwrap_or_else(|| Err(Failed::Lost("the SFTP session ended".into())))
    }

    /// Past the deadline, the first time in this transfer (later waits give up at once:
    /// one grace per transfer, not one per reply due). A reply that comes within
    /// [`GRACE`] leaves the session as it was; without one the server has stopped
    /// answering (an `open` of a FIFO blocks `sftp-server`, which answers nothing more),
    /// and the session is let go of, if every call waiting on it is out of time too, so
    /// that the machine's next file call does not queue behind it.
    fn give_up(self) -> Answer {
        if !crate::progress::gave_up() {
            crate::progress::give_up();
            if let Err(RecvTimeoutError::Timeout) = self.reply.recv_timeout(GRACE) {
                abandon_if_overdue(&self.session);
            }
        }
        Err(Failed::TimedOut)
    }
}

/// Ends `session` for every caller, now and later, and closes the requests' stream, so
/// that `sftp-server`, once unstuck, reads its end and exits — unless a call waits on
/// it without a deadline or within one: another thread's work is not cut for this
/// one's time. The subsystem itself is not killed: the server holds its session until
/// `sftp-server` exits whatever we do here, and the stream's end is how we learn it
/// (see [`Sftp::is_stuck`]).
fn abandon_if_overdue(session: &Mutex<Waiting>) {
    let why = Failed::Lost("the SFTP server stopped answering (a transfer ran out of time)".into());
    let now = Instant::now();
    let (callers, requests) = {
        let mut w = session.lock().unwrap();
        if w.callers
            .values()
            .any(|c| c.deadline.is_none_or(|at| at > now))
        {
            return;
        }
        w.lost.get_or_insert(why.clone());
        w.abandoned = true;
        (std::mem::take(&mut w.callers), w.requests.clone())
    };
    for caller in callers.into_values() {
        let _ = caller.tx.send(Err(why.clone()));
    }
    // A writer blocked on a full pipe holds the lock: the stream then stays open.
    if let Some(requests) = requests {
        if let Ok(mut stream) = requests.try_lock() {
            stream.take();
        }
    }
}

/// A call waiting for its reply.
struct Caller {
    tx: SyncSender<Answer>,
    /// The deadline of its transfer, if it has one.
    deadline: Option<Instant>,
}

/// Callers waiting for replies, by request id.
#[derive(Default)]
struct Waiting {
    next_id: u32,
    callers: HashMap<u32, Caller>,
    /// Set once the reply stream ended or the session was abandoned: why.
    lost: Option<Failed>,
    /// Let go of by a transfer out of time (see [`abandon_if_overdue`]).
    abandoned: bool,
    /// The reply stream has ended: the server let go of the session too.
    ended: bool,
    /// The requests' stream, to close when the session is abandoned.
    requests: Option<Requests>,
}

/// Let go of, the session ends: the requests' stream closes (the session's `Waiting`, which
/// its reader thread holds, shares it), the server ends the subsystem, the reader sees
/// the end and goes.
impl Drop for Sftp {
    fn drop(&mut self) {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }
}

/// The stream of requests to the server; `None` once closed.
type Requests = Arc<Mutex<Option<os_pipe::PipeWriter>>>;

/// One SFTP session, shared by every thread of a machine.
pub(crate) struct Sftp {
    requests: Requests,
    waiting: Arc<Mutex<Waiting>>,
    /// The server renames over an existing target (`posix-rename@openssh.com`).
    posix_rename: bool,
}

impl Sftp {
    /// Starts the `sftp` subsystem; `None` when the server has none.
    pub(crate) fn start(transport: &dyn Transport, machine: &str) -> Result<Option<Sftp>> {
        let setup = |e| Error::io(machine, "cannot create a pipe", e);
        let (req_r, mut req_w) = os_pipe::pipe().map_err(setup)?;
        let (mut resp_r, resp_w) = os_pipe::pipe().map_err(setup)?;
        let stdio = [
            Stdio::Fd(req_r.into()),
            Stdio::Fd(resp_w.into()),
            Stdio::Null,
        ];
        let child = transport.subsystem("sftp", stdio)?;
        let extensions = match handshake(&mut req_w, &mut resp_r) {
            Some(ext) => ext,
            None => {
                // No subsystem: the streams ended at once. Reap whatever ran.
                let _ = child.wait();
                return Ok(None);
            }
        };
        let requests: Requests = Arc::new(Mutex::new(Some(req_w)));
        let waiting = Arc::new(Mutex::new(Waiting {
            requests: Some(requests.clone()),
            ..Waiting::default()
        }));
        let w = waiting.clone();
        thread::Builder::new()
            .name("plumb-sftp".into())
            .spawn(move || read_replies(resp_r, &w, child))
            .map_err(|e| Error::io(machine, "cannot start a thread", e))?;
        Ok(Some(Sftp {
            requests,
            waiting,
            posix_rename: extensions.iter().any(|e| e == "posix-rename@openssh.com"),
        }))
    }

    /// Whether the session still works.
    pub(crate) fn is_lost(&self) -> bool {
        self.waiting.lock().unwrap().lost.is_some()
    }

    /// Abandoned while the server still holds it (its `sftp-server` stuck): the machine
    /// opens no other session meanwhile, or each timed-out transfer would leave one
    /// more on the server until it refuses sessions (`MaxSessions`).
    pub(crate) fn is_stuck(&self) -> bool {
        let w = self.waiting.lock().unwrap();
        w.abandoned && !w.ended
    }

    /// Sends the request that `build` makes with a fresh id.
    pub(crate) fn send(&self, kind: u8, build: impl FnOnce(Packet) -> Packet) -> Pending {
        let (tx, rx) = mpsc::sync_channel(1);
        let pending = Pending {
            reply: rx,
            session: self.waiting.clone(),
        };
        let id = {
            let mut w = self.waiting.lock().unwrap();
            if let Some(why) = &w.lost {
                let _ = tx.send(Err(why.clone()));
                return pending;
            }
            let id = w.next_id;
            w.next_id = w.next_id.wrapping_add(1);
            let deadline = crate::progress::deadline();
            w.callers.insert(id, Caller { tx, deadline });
            id
        };
        let packet = build(Packet::new(kind, id)).finish();
        let written = match self.requests.lock().unwrap().as_mut() {
            Some(requests) => requests.write_all(&packet),
            None => Err(std::io::ErrorKind::BrokenPipe.into()),
        };
        if let Err(e) = written {
            // The reader sees the end too and answers every caller; this one now.
            let caller = self.waiting.lock().unwrap().callers.remove(&id);
            if let Some(Caller { tx, .. }) = caller {
                let _ = tx.send(Err(Failed::Lost(format!("the SFTP session ended: {e}"))));
            }
        }
        pending
    }

    /// Sends a request and waits for its reply.
    pub(crate) fn call(&self, kind: u8, build: impl FnOnce(Packet) -> Packet) -> Answer {
        self.send(kind, build).wait()
    }

    /// A request whose answer is a status: OK or the failure.
    pub(crate) fn call_ok(
        &self,
        kind: u8,
        build: impl FnOnce(Packet) -> Packet,
    ) -> std::result::Result<(), Failed> {
        expect_ok(self.call(kind, build))
    }

    pub(crate) fn stat(&self, path: &[u8], follow: bool) -> std::result::Result<Attrs, Failed> {
        let kind = if follow { fxp::STAT } else { fxp::LSTAT };
        let reply = self.call(kind, |p| p.bytes(path))?;
        reply.expect(fxp::ATTRS, |f| f.attrs())
    }

    /// Opens a file: its handle.
    pub(crate) fn open(
        &self,
        path: &[u8],
        flags: u32,
        attrs: &Attrs,
    ) -> std::result::Result<Vec<u8>, Failed> {
        let reply = self.call(fxp::OPEN, |p| p.bytes(path).u32(flags).attrs(attrs))?;
        reply.expect(fxp::HANDLE, Fields::handle)
    }

    /// Closes a handle, waiting for the answer even where it does not matter (a read):
    /// a reply left to arrive later would sit behind the next call's (see [`files`]).
    pub(crate) fn close(&self, handle: &[u8]) -> std::result::Result<(), Failed> {
        self.call_ok(fxp::CLOSE, |p| p.bytes(handle))
    }

    /// The entries of a directory (not `.` and `..`) with their attributes (not followed
    /// by OpenSSH's server; other servers may follow symlinks), within the bounds of
    /// [`listing`].
    pub(crate) fn read_dir(
        &self,
        path: &[u8],
    ) -> std::result::Result<Vec<(Vec<u8>, Attrs)>, Failed> {
        let reply = self.call(fxp::OPENDIR, |p| p.bytes(path))?;
        let handle = reply.expect(fxp::HANDLE, Fields::handle)?;
        let mut listing = Listing::new();
        let result = loop {
            match self.call(fxp::READDIR, |p| p.bytes(&handle)) {
                Ok(reply) if reply.kind == fxp::NAME => {
                    if let Err(bad) = listing.add(&reply.body) {
                        break Err(reply.malformed(bad));
                    }
                }
                Ok(reply) => match reply.status() {
                    Some((fx::EOF, _)) => break Ok(()),
                    _ => break Err(reply.unexpected()),
                },
                Err(e) => break Err(e),
            }
        };
        // Released before the close waits: a hostile listing may be large.
        let entries = result.map(|()| listing.into_entries());
        let closed = self.close(&handle);
        entries.and_then(|e| closed.map(|()| e))
    }

    pub(crate) fn rename(&self, from: &[u8], to: &[u8]) -> std::result::Result<(), Failed> {
        if self.posix_rename {
            self.call_ok(fxp::EXTENDED, |p| {
                p.bytes(b"posix-rename@openssh.com").bytes(from).bytes(to)
            })
        } else {
            self.call_ok(fxp::RENAME, |p| p.bytes(from).bytes(to))
        }
    }

    /// A symlink at `link` to `target`, in OpenSSH's argument order (target first), the
    /// reverse of the draft's, which every OpenSSH server and client use.
    pub(crate) fn symlink(&self, target: &[u8], link: &[u8]) -> std::result::Result<(), Failed> {
        self.call_ok(fxp::SYMLINK, |p| p.bytes(target).bytes(link))
    }

    /// The target of a symlink: the one name of a NAME reply.
    pub(crate) fn read_link(&self, path: &[u8]) -> std::result::Result<Vec<u8>, Failed> {
        let reply = self.call(fxp::READLINK, |p| p.bytes(path))?;
        let names = reply.expect(fxp::NAME, Fields::names)?;
        match names[..] {
            [(target, _)] => Ok(target.to_vec()),
            _ => Err(Failed::Protocol(format!(
                "a READLINK reply of {} names",
                names.len()
            ))),
        }
    }
}

/// Sends INIT and reads VERSION: the server's extensions, `None` if the stream ended or
/// the server speaks no SFTP we know.
fn handshake(requests: &mut impl Write, replies: &mut impl Read) -> Option<Vec<String>> {
    requests.write_all(&Packet::init()).ok()?;
    let packet = read_packet(replies).ok()??;
    let (&kind, rest) = packet.split_first()?;
    let mut f = Fields(rest);
    if kind != fxp::VERSION || f.u32().ok()? < 3 {
        return None;
    }
    let mut extensions = Vec::new();
    while let Ok(name) = f.bytes() {
        extensions.push(String::from_utf8_lossy(name).into_owned());
        f.bytes().ok()?;
    }
    Some(extensions)
}

/// One packet (type and fields), `None` at the end of the stream. Its length is checked
/// before anything is allocated; every packet has a type and a request id or version.
fn read_packet(r: &mut impl Read) -> std::result::Result<Option<Vec<u8>>, Failed> {
    let broke = |e: std::io::Error| Failed::Lost(format!("the SFTP session broke: {e}"));
    let mut len = [0; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(broke(e)),
    }
    let len = u32::from_be_bytes(len) as usize;
    if !(5..=MAX_PACKET).contains(&len) {
        return Err(Failed::Protocol(format!(
            "a packet of {len} bytes (at least 5, at most {MAX_PACKET})"
        )));
    }
    let mut packet = vec![0; len];
    r.read_exact(&mut packet).map_err(broke)?;
    Ok(Some(packet))
}

/// The reader thread: hands each reply to the caller waiting for its id. When the
/// stream ends or breaks, every caller, now and later, gets why.
fn read_replies(mut replies: os_pipe::PipeReader, waiting: &Mutex<Waiting>, child: Box<dyn Child>) {
    let why = loop {
        let packet = match read_packet(&mut replies) {
            Ok(Some(p)) => p,
            Ok(None) => break Failed::Lost("the SFTP session ended".to_string()),
            Err(e) => break e,
        };
        let id = u32::from_be_bytes([packet[1], packet[2], packet[3], packet[4]]);
        let caller = waiting.lock().unwrap().callers.remove(&id);
        if let Some(Caller { tx, .. }) = caller {
            let reply = Reply {
                kind: packet[0],
                body: packet[5..].to_vec(),
            };
            // A caller that stopped waiting (a close sent and forgotten) is fine.
            let _ = tx.send(Ok(reply));
        }
    };
    let callers = {
        let mut w = waiting.lock().unwrap();
        // An abandoned session keeps the reason it was abandoned for.
        w.lost.get_or_insert(why.clone());
        w.ended = true;
        std::mem::take(&mut w.callers)
    };
    for caller in callers.into_values() {
        let _ = caller.tx.send(Err(why.clone()));
    }
    // A server that broke the stream may go on writing: nobody reads it any more, and
    // the subsystem is let go of rather than waited for.
    drop(replies);
    if matches!(why, Failed::Protocol(_)) {
        child.kill();
    }
    let _ = child.wait();
}

impl Reply {
    /// The status code and message, if this is a STATUS reply.
    fn status(&self) -> Option<(u32, String)> {
        if self.kind != fxp::STATUS {
            return None;
        }
        let mut f = Fields(&self.body);
        let code = f.u32().ok()?;
        Some((code, f.message()))
    }

    /// A failure for a reply other than the one expected: the server's status, or a
    /// protocol error.
    fn unexpected(&self) -> Failed {
        match self.status() {
            Some((code, message)) => Failed::Status(code, message),
            None => Failed::Protocol(format!("{} out of place", fxp::reply(self.kind))),
        }
    }

    /// Reads a reply of type `kind` with `read`.
    fn expect<'a, T>(
        &'a self,
        kind: u8,
        read: impl FnOnce(&mut Fields<'a>) -> std::result::Result<T, Bad>,
    ) -> std::result::Result<T, Failed> {
        if self.kind != kind {
            return Err(self.unexpected());
        }
        read(&mut Fields(&self.body)).map_err(|bad| self.malformed(bad))
    }

    /// The failure for a reply of the right type whose fields are wrong.
    fn malformed(&self, bad: Bad) -> Failed {
        Failed::Protocol(format!("{}: {bad}", fxp::reply(self.kind)))
    }
}

/// OK, or the failure a status reply says.
fn expect_ok(answer: Answer) -> std::result::Result<(), Failed> {
    let reply = answer?;
    match reply.status() {
        Some((fx::OK, _)) => Ok(()),
        _ => Err(reply.unexpected()),
    }
}

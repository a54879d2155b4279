//! Opening channels: libssh2 opens one at a time, so requests wait their turn, and a
//! server that refuses more (its MaxSessions) is retried once a channel closes.

use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use ssh2::{Channel, Listener, PtyModeOpcode, Session};

use super::io::{fatal, would_block, Request};
use super::pump::{Kind, Pump};

/// A request whose channel is being opened: libssh2 opens one channel at a time, so
/// requests wait their turn in a queue. `ch` holds a session channel opened before its
/// `exec` would block, and `pty` whether its terminal was granted.
pub(super) struct Opening {
    req: Request,
    ch: Option<Channel>,
    pty: bool,
}

pub(super) enum Opened {
    /// Not done yet: call again.
    Pending(Opening),
    /// Refused; retry once a channel closes (the server's session limit).
    Refused(Opening),
    Pump(Pump),
    Listener(RemoteListener),
    /// Failed; the caller has its answer.
    Failed,
}

impl Opening {
    pub(super) fn new(req: Request) -> Opening {
        Opening {
            req,
            ch: None,
            pty: false,
        }
    }

    /// One more step of opening. Errors are those of the whole session.
    pub(super) fn step(self, session: &Session, busy: bool) -> Result<Opened, ssh2::Error> {
        match &self.req {
            Request::Exec { .. } => self.step_exec(session, busy),
            Request::Direct { host, port, .. } => {
                match session.channel_direct_tcpip(host, *port, None) {
                    Ok(c) => {
                        let Request::Direct { local, opened, .. } = self.req else {
                            unreachable!("matched above")
                        };
                        let out = local.try_clone().ok();
                        let _ = opened.send(Ok(()));
                        Ok(Opened::Pump(Pump::new(
                            c,
                            Kind::Tunnel,
                            Some(local),
                            out,
                            None,
                            None,
                        )))
                    }
                    Err(e) if would_block(&e) => Ok(Opened::Pending(self)),
                    Err(e) if fatal(&e) => Err(e),
                    Err(e) => {
                        let why = format!("cannot reach {host}:{port} from the remote host: {e}");
                        self.fail(&why);
                        Ok(Opened::Failed)
                    }
                }
            }
            Request::Listen { port, .. } => {
                match session.channel_forward_listen(*port, Some("127.0.0.1"), None) {
                    Ok((listener, bound_port)) => {
                        let Request::Listen {
                            target,
                            stop,
                            bound,
                            ..
                        } = self.req
                        else {
                            unreachable!("matched above")
                        };
                        let _ = bound.send(Ok(bound_port));
                        Ok(Opened::Listener(RemoteListener {
                            listener,
                            target,
                            stop,
                        }))
                    }
                    Err(e) if would_block(&e) => Ok(Opened::Pending(self)),
                    Err(e) if fatal(&e) => Err(e),
                    Err(e) => {
                        let why = format!("the server refused to listen on port {port}: {e}");
                        self.fail(&why);
                        Ok(Opened::Failed)
                    }
                }
            }
        }
    }

    fn step_exec(mut self, session: &Session, busy: bool) -> Result<Opened, ssh2::Error> {
        if self.ch.is_none() {
            match session.channel_session() {
                Ok(c) => self.ch = Some(c),
                Err(e) if would_block(&e) => return Ok(Opened::Pending(self)),
                Err(e) if fatal(&e) => return Err(e),
                Err(_) if busy => return Ok(Opened::Refused(self)),
                Err(e) => {
                    self.fail(&format!("the server refused a channel: {e}"));
                    return Ok(Opened::Failed);
                }
            }
        }
        if !self.pty {
            match self.request_pty() {
                Ok(()) => self.pty = true,
                Err(e) if would_block(&e) => return Ok(Opened::Pending(self)),
                Err(e) if fatal(&e) => return Err(e),
                Err(e) => {
                    self.fail(&format!("the server refused a terminal (PTY): {e}"));
                    return Ok(Opened::Failed);
                }
            }
        }
        let (
            Request::Exec {
                command, subsystem, ..
            },
            Some(ch),
        ) = (&self.req, self.ch.as_mut())
        else {
            unreachable!("an exec request with its channel")
        };
        let started = if *subsystem {
            ch.subsystem(command)
        } else {
            ch.exec(command)
        };
        match started {
            Ok(()) => {
                let (
                    Request::Exec {
                        stdin,
                        stdout,
                        stderr,
                        header,
                        done,
                        ..
                    },
                    Some(ch),
                ) = (self.req, self.ch)
                else {
                    unreachable!("an exec request with its channel")
                };
                Ok(Opened::Pump(Pump::new(
                    ch,
                    Kind::Exec(done),
                    stdin,
                    stdout,
                    stderr,
                    header,
                )))
            }
            Err(e) if would_block(&e) => Ok(Opened::Pending(self)),
            Err(e) if fatal(&e) => Err(e),
            Err(e) => {
                self.fail(&format!("the server refused to run the command: {e}"));
                Ok(Opened::Failed)
            }
        }
    }

    /// Asks for the request's terminal, if it wants one; libssh2 keeps the request's
    /// state in the channel, so a call that would block is simply made again.
    fn request_pty(&mut self) -> Result<(), ssh2::Error> {
        let (
            Request::Exec {
                pty: Some((cols, rows)),
                ..
            },
            Some(ch),
        ) = (&self.req, self.ch.as_mut())
        else {
            return Ok(());
        };
        let size = (u32::from(*cols), u32::from(*rows), 0, 0);
        // The usual terminal, without echo: the output is what the program wrote.
        let mut modes = ssh2::PtyModes::new();
        for echo in [PtyModeOpcode::ECHO, PtyModeOpcode::ECHONL] {
            modes.set_boolean(echo, false);
        }
        ch.request_pty("xterm", Some(modes), Some(size))
    }

    /// Answers the caller with `why`.
    pub(super) fn fail(self, why: &str) {
        let why = why.to_string();
        match self.req {
            Request::Exec { done, .. } => done.send(Err(why)),
            Request::Direct { opened, .. } => drop(opened.send(Err(why))),
            Request::Listen { bound, .. } => drop(bound.send(Err(why))),
        }
    }
}

/// A `forward_remote` listener: each accepted channel is tunnelled to `target`.
pub(super) struct RemoteListener {
    pub(super) listener: Listener,
    pub(super) target: SocketAddr,
    pub(super) stop: Arc<AtomicBool>,
}

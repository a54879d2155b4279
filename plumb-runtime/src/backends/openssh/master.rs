//! The OpenSSH ControlMaster that carries every command, file operation and tunnel of an
//! `SshMachine`: started in a private directory ([`ControlDir`]), bound to this process's
//! life ([`Bound`]), and asked whether it still runs before anything goes through it (else
//! `ssh` would silently open a connection of its own).

use std::ffi::OsString;
use std::io::{self, BufRead, Read};
use std::path::PathBuf;
use std::process::{Command, Stdio as StdStdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::control_dir::ControlDir;
use super::errors::{connect_error, open_failure};
use super::lifeline::Bound;
use crate::error::{Error, ErrorKind};
use crate::Result;

/// A master connection and how to reach it.
#[derive(Debug)]
pub(super) struct Master {
    pub(super) name: String,
    pub(super) destination: String,
    /// Options for every `ssh` run: port, identity, host keys, `-o` options.
    pub(super) args: Vec<OsString>,
    /// The private directory that holds the control socket.
    pub(super) dir: ControlDir,
    pub(super) socket: PathBuf,
    pub(super) connect_timeout: Duration,
    pub(super) process: Mutex<Option<Bound>>,
    /// What the master said about the channels it could not open.
    pub(super) open_failures: Arc<Mutex<OpenFailures>>,
}

/// The master's words about channels the server refused ("channel 3: open failed:
/// connect failed: Connection refused"), which its clients are not told.
#[derive(Debug, Default)]
pub(super) struct OpenFailures {
    /// How many so far.
    pub(super) count: u64,
    pub(super) last: String,
}

impl Master {
    /// Starts a master for `destination` with `args`, in `dir` (removed if it fails).
    pub(super) fn start(
        name: String,
        destination: String,
        args: Vec<OsString>,
        dir: ControlDir,
        connect_timeout: Duration,
    ) -> Result<Master> {
        let master = Master {
            socket: dir.path().join("master"),
            dir,
            name,
            destination,
            args,
            connect_timeout,
            process: Mutex::new(None),
            open_failures: Arc::default(),
        };
        if let Err(e) = master.start_master(connect_timeout) {
            master.dir.remove();
            return Err(e);
        }
        Ok(master)
    }

    /// A new master after the old one was lost, in the same directory if it is still
    /// ours and private.
    pub(super) fn restart(&self) -> Result<()> {
        self.stop_master();
        self.dir.ensure(&self.name)?;
        self.start_master(self.connect_timeout)
    }

    /// Ends the master and removes its directory.
    pub(super) fn close(&self) {
        self.stop_master();
        self.dir.remove();
    }

    /// `ssh` with the options every run shares, through the master's socket.
    pub(super) fn ssh(&self) -> Command {
        let mut c = Command::new("ssh");
        c.args(&self.args);
        c.arg("-S")
            .arg(&self.socket)
            .arg("-o")
            .arg("ControlMaster=no");
        c
    }

    /// `ssh -O ...` control commands to the master.
    pub(super) fn control(&self, op: &[&str]) -> io::Result<std::process::Output> {
        let mut c = self.ssh();
        c.args(op).arg(&self.destination);
        c.stdin(StdStdio::null());
        c.output()
    }

    pub(super) fn start_master(&self, timeout: Duration) -> Result<()> {
        let mut c = Command::new("ssh");
        c.args(&self.args)
            .arg("-M")
            .arg("-S")
            .arg(&self.socket)
            .arg("-N")
            .arg("-o")
            .arg("ControlPersist=no")
            .arg(&self.destination);
        c.stdin(StdStdio::null())
            .stdout(StdStdio::null())
            .stderr(StdStdio::piped());
        let child = Bound::spawn(c).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::new(
                ErrorKind::NotFound,
                &self.name,
                "the `ssh` program is not installed",
            ),
            _ => Error::io(&self.name, "cannot start ssh", e),
        })?;
        let deadline = Instant::now() + timeout + Duration::from_secs(5);
        loop {
            if let Some(_status) = child
                .try_wait()
                .map_err(|e| Error::io(&self.name, "ssh failed", e))?
            {
                let mut stderr = Vec::new();
                if let Some(mut s) = child.take_stderr() {
                    let _ = s.read_to_end(&mut stderr);
                }
                let _ = std::fs::remove_file(&self.socket);
                return Err(connect_error(&self.name, &stderr));
            }
            if self.socket.exists() && super::mux::alive(&self.socket) {
                break;
            }
            if Instant::now() > deadline {
                child.kill();
                let _ = std::fs::remove_file(&self.socket);
                return Err(Error::new(
                    ErrorKind::Connect,
                    &self.name,
                    "connecting timed out",
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        // The master keeps writing to stderr (warnings): drain it so that it never blocks.
        if let Some(s) = child.take_stderr() {
            let failures = self.open_failures.clone();
            std::thread::spawn(move || read_stderr(s, &failures));
        }
        *self.process.lock().unwrap_or_else(PoisonError::into_inner) = Some(child);
        Ok(())
    }

    /// Refuses to run through a master that is gone: `ssh` would silently make a new
    /// connection of its own instead.
    pub(super) fn check_open(&self) -> Result<()> {
        if self.alive() {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::Connect,
                &self.name,
                "the connection is closed",
            ))
        }
    }

    /// After ssh exited with 255 (its own failures, or a remote command's exit code):
    /// whether the connection is gone. The master may take a moment to notice a cut link
    /// after the session has ended, so a live master gets up to a second to exit.
    pub(super) fn lost(&self) -> bool {
        // Its process, not its socket, decides: a master on its way out closes our
        // sessions and its socket before it exits.
        let deadline = Instant::now() + Duration::from_secs(1);
        while self.alive() {
            if Instant::now() >= deadline {
                return !self.alive();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }

    /// Whether the master still runs.
    pub(super) fn alive(&self) -> bool {
        let master = self.process.lock().unwrap_or_else(PoisonError::into_inner);
        master
            .as_ref()
            .is_some_and(|m| matches!(m.try_wait(), Ok(None)))
    }

    /// Ends the master (politely first) and removes its socket.
    pub(super) fn stop_master(&self) {
        let master = self
            .process
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(m) = master {
            if !super::mux::terminate(&self.socket) {
                let _ = self.control(&["-O", "exit"]);
            }
            // A master asked to exit is gone within a millisecond or two: short first
            // naps, so that closing a group's machines one by one does not cost each a
            // whole nap (measured: 10.8 ms a machine with a flat 10 ms nap, 2.5 ms so).
            let deadline = Instant::now() + Duration::from_secs(2);
            let mut nap = Duration::from_micros(500);
            while matches!(m.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(nap);
                nap = (nap * 2).min(Duration::from_millis(10));
            }
            m.kill();
        }
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// Reads what the master says until it exits, keeping what it says about channels that
/// failed to open.
fn read_stderr(stderr: impl Read, failures: &Mutex<OpenFailures>) {
    let mut lines = io::BufReader::new(stderr);
    let mut line = Vec::new();
    while matches!(lines.read_until(b'\n', &mut line), Ok(n) if n > 0) {
        let text = String::from_utf8_lossy(&line);
        if let Some(why) = open_failure(&text) {
            let mut f = failures.lock().unwrap_or_else(PoisonError::into_inner);
            f.count += 1;
            f.last = why.to_string();
        }
        line.clear();
    }
}

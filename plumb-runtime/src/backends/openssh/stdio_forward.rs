//! A tunnel through the master: `ssh -W host:port`, returned once the server has opened
//! its channel.
//!
//! The `ssh -W` client hands its stdin and stdout to the master and waits for the answer,
//! which the master sends only once the server has opened the channel or refused it. A
//! refused one (nothing listens there) makes the client exit, and a tunnel returned before
//! that would take writes and then read a clean EOF, as if the far end had closed. So the
//! client runs with `-v`, whose one line "master session id" tells that the channel is
//! open; until then the tunnel is not returned. It costs one round trip to the server
//! (libssh2 waits for the same answer). Why a channel was refused, the master alone says.

use std::io::{self, BufRead, BufReader, Read};
use std::process::Stdio as StdStdio;
use std::sync::{mpsc, PoisonError};
use std::time::{Duration, Instant};

use super::errors::{stdio_forward_opened, stdio_forward_refusal};
use super::master::{Master, OpenFailures};
use crate::error::{Error, ErrorKind};
use crate::tunnel::Tunnel;
use crate::Result;

/// A tunnel to `host:port` as seen from the remote host.
pub(super) fn open(master: &Master, host: &str, port: u16) -> Result<Tunnel> {
    master.check_open()?;
    let target = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let failures_before = failures(master).count;
    let mut c = master.ssh();
    // After the options: the user's `LogLevel` would otherwise hide the line we wait for.
    c.arg("-v").arg("-W").arg(&target).arg(&master.destination);
    c.stdin(StdStdio::piped())
        .stdout(StdStdio::piped())
        .stderr(StdStdio::piped());
    let mut child = c
        .spawn()
        .map_err(|e| Error::io(&master.name, "cannot start ssh -W", e))?;
    let answer = child
        .stderr
        .take()
        .map(|e| wait_for_channel(e, master.connect_timeout));
    let why = match answer {
        Some(Answer::Opened) => return Tunnel::from_child(child, &master.name),
        Some(Answer::Refused(said)) => master_says(master, failures_before).unwrap_or(said),
        Some(Answer::TimedOut) => format!(
            "the remote host did not open the channel within {:?}",
            master.connect_timeout
        ),
        None => "ssh -W has no stderr".to_string(),
    };
    let _ = child.kill();
    let _ = child.wait();
    Err(Error::new(
        ErrorKind::Connect,
        &master.name,
        format!("cannot reach {host}:{port} from the remote host: {why}"),
    ))
}

fn failures(master: &Master) -> std::sync::MutexGuard<'_, OpenFailures> {
    (master.open_failures.lock()).unwrap_or_else(PoisonError::into_inner)
}

/// Why the server refused the channel, in the master's words: the client is told only
/// "Session open refused by peer". The master logs it before it answers the client, and
/// its stderr is read by another thread, hence a short wait. With other tunnels failing
/// at the same moment, the reason may be theirs; it is still a refusal's.
fn master_says(master: &Master, before: u64) -> Option<String> {
    let deadline = Instant::now() + Duration::from_millis(200);
    loop {
        {
            let f = failures(master);
            if f.count > before {
                return Some(f.last.clone());
            }
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

enum Answer {
    Opened,
    Refused(String),
    TimedOut,
}

/// Reads the client's stderr until it says that the channel is open, or ends; what it
/// says later is read and dropped (a full pipe would stop the client).
fn wait_for_channel(stderr: impl Read + Send + 'static, timeout: Duration) -> Answer {
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::Builder::new()
        .name("plumb-ssh-w".into())
        .spawn(move || {
            let mut said = String::new();
            let mut lines = BufReader::new(stderr);
            let mut line = Vec::new();
            while matches!(lines.read_until(b'\n', &mut line), Ok(n) if n > 0) {
                let text = String::from_utf8_lossy(&line);
                if stdio_forward_opened(&text) {
                    let _ = tx.send(Answer::Opened);
                    let _ = io::copy(&mut lines, &mut io::sink());
                    return;
                }
                said.push_str(&text);
                line.clear();
            }
            let _ = tx.send(Answer::Refused(stdio_forward_refusal(&said)));
        });
    if let Err(e) = reader {
        return Answer::Refused(format!("cannot read what ssh says: {e}"));
    }
    match rx.recv_timeout(timeout) {
        Ok(answer) => answer,
        Err(mpsc::RecvTimeoutError::Timeout) => Answer::TimedOut,
        Err(mpsc::RecvTimeoutError::Disconnected) => Answer::Refused("ssh exited".into()),
    }
}

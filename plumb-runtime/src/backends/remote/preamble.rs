//! A job's stdin when its script reads values first (see
//! [`Secrets::Stdin`](crate::render::script)): those lines, then the command's own input.
//! Only such jobs pay for it; every other job's stdin goes to the transport untouched.

use std::io::{self, IsTerminal, Read, Write};
use std::sync::Arc;

use crate::model::job::Stdio;

/// The stdin for a job whose script reads `preamble` first: then `bytes` (its
/// `stdin_bytes`), or what `stdin` gives. This process's own stdin is relayed only when
/// the transport would have passed it on (`inherited`); else the command reads nothing
/// after the preamble, as it would have read nothing at all.
pub(super) fn job_stdin(
    preamble: Vec<u8>,
    bytes: Option<&Arc<[u8]>>,
    stdin: Stdio,
    inherited: bool,
) -> io::Result<Stdio> {
    if preamble.is_empty() {
        return match bytes {
            Some(bytes) => Stdio::feed(bytes.clone()),
            None => Ok(stdin),
        };
    }
    let rest = match (bytes, stdin) {
        (Some(bytes), _) => return Stdio::feed([preamble.as_slice(), bytes].concat().into()),
        (None, Stdio::Fd(fd)) => fd,
        (None, Stdio::Inherit) if inherited => crate::sys::clone_std(0)?,
        (None, _) => return Stdio::feed(preamble.into()),
    };
    relay(preamble, rest, Vec::new())
}

/// The terminal's end-of-file character (Ctrl-D): a terminal has no end of input, so
/// a program on one reads an end where a line starts with it.
const EOF: u8 = 0x04;

/// The stdin for a job on a terminal: its input, then the end of it as a keyboard sends
/// it (after a line, one Ctrl-D; after a partial line, one to send the line and one to
/// end). A job whose input is this process's own terminal, relayed by the `ssh` client
/// (`inherited`), gets it untouched: the user types, and ends it, there. This process's
/// stdin when it is not a terminal is not read (as libssh2's channels never do): a thread
/// relaying it would outlive the job and take input meant for this program.
pub(super) fn terminal_stdin(
    bytes: Option<&Arc<[u8]>>,
    stdin: Stdio,
    inherited: bool,
) -> io::Result<Stdio> {
    // A stream may end after a partial line: one Ctrl-D sends it, one ends the input.
    let eofs = vec![EOF, EOF];
    match (bytes, stdin) {
        (Some(bytes), _) => Stdio::feed([bytes, &end_of_input(bytes)[..]].concat().into()),
        (None, Stdio::Fd(fd)) => relay(Vec::new(), fd, eofs),
        (None, Stdio::Inherit) if inherited && io::stdin().is_terminal() => Ok(Stdio::Inherit),
        (None, _) => Stdio::feed(vec![EOF].into()),
    }
}

/// What ends `input` on a terminal.
fn end_of_input(input: &[u8]) -> Vec<u8> {
    match input.last() {
        None | Some(b'\n') => vec![EOF],
        Some(_) => vec![EOF, EOF],
    }
}

/// A pipe fed `preamble`, then what `from` gives, then `suffix`, from a thread that stops
/// at the end of `from` or as soon as the job stops reading (its end of the pipe closed).
fn relay(preamble: Vec<u8>, from: crate::sys::OwnedStream, suffix: Vec<u8>) -> io::Result<Stdio> {
    let (r, mut w) = os_pipe::pipe()?;
    std::thread::Builder::new()
        .name("plumb-stdin".into())
        .spawn(move || {
            let mut from = std::fs::File::from(from);
            if w.write_all(&preamble).is_err() {
                return;
            }
            let mut buf = vec![0u8; 64 * 1024];
            while crate::sys::wait_input_for(&from, &w) {
                match from.read(&mut buf) {
                    Ok(0) => return drop(w.write_all(&suffix)),
                    Err(_) => return,
                    Ok(n) if w.write_all(&buf[..n]).is_err() => return,
                    Ok(_) => {}
                }
            }
        })?;
    Ok(Stdio::Fd(r.into()))
}

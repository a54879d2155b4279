//! A terminal on this side for `ssh -tt`, so that a job on a terminal (`Expr::pty`) gets
//! the same one through the `ssh` client as through libssh2.
//!
//! ssh gives the remote terminal the modes and window size of its own stdin when that is
//! a terminal; when it is not, the modes are all zero (a raw terminal: no line editing,
//! no end-of-file character, `\n` not turned into `\r\n`) and the size is 0×0. So ssh's
//! stdin here is a terminal of ours: the usual modes without echo, of the job's size.

use std::fs::File;
use std::io::{self, Read, Write};
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::backends::remote::transport::Child;
use crate::model::job::Stdio;
use crate::output::ExitStatus;
use crate::Result;

/// ssh's stdin for a job on a terminal of `cols`×`rows`: a terminal here whose other
/// end a thread feeds with `input`.
pub(super) fn stdin_terminal(input: Stdio, (cols, rows): (u16, u16)) -> io::Result<Stdio> {
    let (master, slave) = open(cols, rows)?;
    let input = match input {
        Stdio::Fd(fd) => Some(File::from(fd)),
        Stdio::Inherit | Stdio::Null => None,
    };
    std::thread::Builder::new()
        .name("plumb-pty".into())
        .spawn(move || feed(master, input))?;
    Ok(Stdio::Fd(slave))
}

/// A new terminal pair: the usual modes without echo, of this size, neither end inherited
/// by the programs we start (the slave end reaches ssh as its stdin only).
fn open(cols: u16, rows: u16) -> io::Result<(File, OwnedFd)> {
    let (mut master, mut slave): (RawFd, RawFd) = (-1, -1);
    let mut size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty writes the two descriptors it opens; the name and termios are
    // optional (null), the size is read.
    let done = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            // `*mut` on macOS and the BSDs, `*const` on Linux: a raw pointer fits both.
            std::ptr::addr_of_mut!(size),
        )
    };
    if done != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both were just opened by openpty and belong to nobody else.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    for fd in [&master, &slave] {
        // SAFETY: fcntl on a descriptor we own.
        if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    let mut modes = modes_of(slave.as_raw_fd())?;
    modes.c_lflag &= !(libc::ECHO | libc::ECHOE | libc::ECHOK | libc::ECHONL);
    // SAFETY: tcsetattr with a termios read from this very terminal.
    if unsafe { libc::tcsetattr(slave.as_raw_fd(), libc::TCSANOW, &modes) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((File::from(master), slave))
}

fn modes_of(fd: RawFd) -> io::Result<libc::termios> {
    let mut modes = MaybeUninit::<libc::termios>::uninit();
    // SAFETY: tcgetattr fills the termios when it returns 0.
    if unsafe { libc::tcgetattr(fd, modes.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: initialised by the successful tcgetattr above.
    Ok(unsafe { modes.assume_init() })
}

/// Copies `input` into the terminal once ssh has made it raw (before, this side's line
/// discipline would act on the input itself: a Ctrl-D would end ssh's input instead of
/// reaching the host), then keeps this end open until ssh lets go of its own: closing it
/// first would hang the terminal up under ssh, losing input it has not read yet. Stops
/// as soon as ssh has gone, whatever the input does.
fn feed(master: File, input: Option<File>) {
    if !wait_raw(&master) {
        return;
    }
    if let Some(input) = input {
        if !copy_until_gone(&input, &master) {
            return;
        }
    }
    let mut sink = [0u8; 1024];
    while matches!((&master).read(&mut sink), Ok(n) if n > 0) {}
}

/// Copies `input` into the terminal: true at the end of the input, false once ssh has
/// gone (its end of the terminal closed).
fn copy_until_gone(input: &File, master: &File) -> bool {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let mut fds = [poll_for(input, libc::POLLIN), poll_for(master, 0)];
        // SAFETY: poll on two descriptors we own, without a time limit.
        if unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) } < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return false;
        }
        if fds[1].revents & (libc::POLLHUP | libc::POLLERR) != 0 {
            return false;
        }
        if fds[0].revents != 0 {
            match (&*input).read(&mut buf) {
                Ok(0) | Err(_) => return true,
                Ok(n) if (&*master).write_all(&buf[..n]).is_err() => return false,
                Ok(_) => {}
            }
        }
    }
}

fn poll_for(file: &File, events: libc::c_short) -> libc::pollfd {
    libc::pollfd {
        fd: file.as_raw_fd(),
        events,
        revents: 0,
    }
}

/// Waits until ssh has switched its stdin to raw mode (which it does once the session is
/// open, however long that takes); false when ssh has gone first.
fn wait_raw(master: &File) -> bool {
    loop {
        match modes_of(master.as_raw_fd()) {
            Ok(m) if m.c_lflag & libc::ICANON == 0 => return true,
            Ok(_) => {}
            Err(_) => return false,
        }
        let mut hup = poll_for(master, 0);
        // SAFETY: poll on one descriptor we own, for 5 ms.
        let n = unsafe { libc::poll(&mut hup, 1, 5) };
        if n > 0 && hup.revents & (libc::POLLHUP | libc::POLLERR) != 0 {
            return false;
        }
    }
}

/// A job whose input is this process's own terminal: ssh makes that terminal raw while it
/// runs and sets it back as it ends, but an ssh that is killed (a timeout, `kill()`)
/// cannot, so this does, leaving the user's shell usable.
pub(super) struct Restoring {
    inner: Box<dyn Child>,
    saved: libc::termios,
}

impl Restoring {
    /// `inner`, started after the modes of this process's terminal were saved; `inner`
    /// as it is when stdin is not a terminal (nothing to set back).
    pub(super) fn saved_before(
        inner: impl FnOnce() -> Result<Box<dyn Child>>,
    ) -> Result<Box<dyn Child>> {
        let Ok(saved) = modes_of(0) else {
            return inner();
        };
        Ok(Box::new(Restoring {
            inner: inner()?,
            saved,
        }))
    }

    fn restore(&self) {
        // SAFETY: tcsetattr with modes read from this very terminal.
        unsafe { libc::tcsetattr(0, libc::TCSADRAIN, &self.saved) };
    }
}

impl Child for Restoring {
    fn wait(&self) -> Result<ExitStatus> {
        let status = self.inner.wait();
        self.restore();
        status
    }

    fn try_wait(&self) -> Result<Option<ExitStatus>> {
        let status = self.inner.try_wait();
        if !matches!(status, Ok(None)) {
            self.restore();
        }
        status
    }

    fn kill(&self) {
        self.inner.kill();
        self.restore();
    }
}

//! Unix: descriptors, `poll(2)`, OS strings that are bytes, file modes and owners.

use std::ffi::{CStr, OsStr, OsString};
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// A stream this process owns: a pipe end or a file.
pub(crate) type OwnedStream = std::os::fd::OwnedFd;

/// A second handle to this process's standard stream `n` (0, 1 or 2).
pub(crate) fn clone_std(n: u8) -> io::Result<OwnedStream> {
    match n {
        0 => io::stdin().as_fd().try_clone_to_owned(),
        1 => io::stdout().as_fd().try_clone_to_owned(),
        _ => io::stderr().as_fd().try_clone_to_owned(),
    }
}

/// The bytes of an OS string: on Unix exactly what the kernel gets.
pub(crate) fn bytes(s: &OsStr) -> &[u8] {
    s.as_bytes()
}

/// Whether `s` can reach a remote host as it is: on Unix every string can.
pub(crate) fn is_text(_: &OsStr) -> bool {
    true
}

/// An OS string from bytes a remote host sent (a file name, a link's target).
pub(crate) fn os_string(bytes: Vec<u8>) -> io::Result<OsString> {
    Ok(OsString::from_vec(bytes))
}

pub(crate) fn set_nonblocking(fd: &(impl AsRawFd + ?Sized)) {
    let fd = fd.as_raw_fd();
    // SAFETY: fcntl on a descriptor we own; no memory is involved.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
    }
}

/// Reads what `from` has straight into `buf`'s spare capacity (growing it by doubling),
/// with no intermediate copy: capturing a large output costs no more than `std`'s
/// `output()`.
pub(crate) fn read_into(from: &(impl AsRawFd + ?Sized), buf: &mut Vec<u8>) -> io::Result<usize> {
    if buf.capacity() - buf.len() < 64 * 1024 {
        buf.reserve(buf.len().max(256 * 1024));
    }
    let len = buf.len();
    let spare = buf.capacity() - len;
    // SAFETY: the pointer and length describe `buf`'s allocated, unused capacity; read(2)
    // writes at most `spare` bytes there, and `set_len` only covers bytes it wrote.
    let n = unsafe { libc::read(from.as_raw_fd(), buf.as_mut_ptr().add(len).cast(), spare) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    unsafe { buf.set_len(len + n as usize) };
    Ok(n as usize)
}

/// Blocks until some of `readers` have bytes (or their end) to read; true at their
/// index. An error of `poll(2)` other than an interruption: every reader is "ready", so
/// that its read reports it.
pub(crate) fn wait_readable(readers: &[&os_pipe::PipeReader]) -> Vec<bool> {
    let mut fds: Vec<libc::pollfd> = readers
        .iter()
        .map(|r| libc::pollfd {
            fd: r.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    loop {
        // SAFETY: `fds` is a valid array of `fds.len()` pollfd structs for the whole call.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if n >= 0 {
            return fds.iter().map(|f| f.revents != 0).collect();
        }
        if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return vec![true; fds.len()];
        }
    }
}

/// Blocks until `input` has bytes (or its end) to read: true; or until nobody reads
/// `output` any more (its reader closed: POLLERR/POLLHUP, reported whatever was asked):
/// false. A relay between the two then stops without taking input nobody will get.
pub(crate) fn wait_input_for(input: &File, output: &os_pipe::PipeWriter) -> bool {
    let mut fds = [
        libc::pollfd {
            fd: input.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: output.as_raw_fd(),
            events: 0,
            revents: 0,
        },
    ];
    loop {
        // SAFETY: `fds` is a valid array of two pollfd for the length of the call.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if n < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return false;
        }
        if fds[1].revents != 0 {
            return false;
        }
        if fds[0].revents != 0 {
            return true;
        }
    }
}

/// The login name of this process's uid, from the passwd database.
pub(crate) fn login_name() -> Option<String> {
    passwd(None).map(|(name, _)| String::from_utf8_lossy(&name).into_owned())
}

/// A home directory from the passwd database: `user`'s, or this process's user's.
pub(crate) fn home_of(user: Option<&OsStr>) -> Option<OsString> {
    passwd(user).map(|(_, dir)| OsString::from_vec(dir))
}

/// The login name and home directory of `user`, or of this process's uid, from the
/// passwd database.
pub(crate) fn passwd(user: Option<&OsStr>) -> Option<(Vec<u8>, Vec<u8>)> {
    let name = match user {
        Some(u) => Some(std::ffi::CString::new(u.as_bytes()).ok()?),
        None => None,
    };
    let mut buf = vec![0u8; 16 * 1024];
    let (ptr, len) = (buf.as_mut_ptr().cast(), buf.len());
    // SAFETY: `pwd` is plain data that getpw*_r fills; `buf` and `name` outlive every
    // pointer into them, and the strings are copied out before they go.
    unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        let rc = match &name {
            Some(n) => libc::getpwnam_r(n.as_ptr(), &mut pwd, ptr, len, &mut found),
            None => libc::getpwuid_r(libc::getuid(), &mut pwd, ptr, len, &mut found),
        };
        if rc != 0 || found.is_null() || pwd.pw_name.is_null() || pwd.pw_dir.is_null() {
            return None;
        }
        let text = |p: *const libc::c_char| CStr::from_ptr(p).to_bytes().to_vec();
        Some((text(pwd.pw_name), text(pwd.pw_dir)))
    }
}

/// The type and permission bits (`st_mode`).
pub(crate) fn mode(m: &fs::Metadata) -> Option<u32> {
    Some(m.mode())
}

/// The owner's uid and gid.
pub(crate) fn owner(m: &fs::Metadata) -> Option<(u32, u32)> {
    Some((m.uid(), m.gid()))
}

/// Files that `opts` creates get the permission bits of `mode` (under the umask).
pub(crate) fn create_mode(opts: &mut OpenOptions, mode: u32) -> &mut OpenOptions {
    opts.mode(mode & 0o777)
}

/// A directory builder whose directories get `mode` (under the umask).
pub(crate) fn dir_builder(mode: u32) -> DirBuilder {
    let mut b = DirBuilder::new();
    b.mode(mode);
    b
}

/// Sets the permission bits of `path` (chmod).
pub(crate) fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

/// Makes `link` a symbolic link to `target`.
pub(crate) fn symlink(target: &Path, link: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

/// Whether this process may read (4), write (2) or execute (1) `path`, as `test -r/-w/-x`
/// asks: by the effective user, as the kernel decides.
pub(crate) fn can_access(path: &Path, _meta: &fs::Metadata, bits: i32) -> bool {
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `c` is a valid NUL-terminated string for the length of the call.
    unsafe { libc::faccessat(libc::AT_FDCWD, c.as_ptr(), bits, libc::AT_EACCESS) == 0 }
}

/// The letter of `test` for a special file: `b`lock, `c`haracter device, `p`ipe,
/// `S`ocket.
pub(crate) fn special_type(meta: &fs::Metadata) -> Option<char> {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    [
        (t.is_block_device(), 'b'),
        (t.is_char_device(), 'c'),
        (t.is_fifo(), 'p'),
        (t.is_socket(), 'S'),
    ]
    .into_iter()
    .find_map(|(is, c)| is.then_some(c))
}

/// Hands the name of each entry of `dir` but `.` and `..` to `f`, without copying it; a
/// directory that cannot be read has none.
pub(crate) fn each_entry(dir: &Path, f: &mut dyn FnMut(&[u8])) {
    let Ok(path) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return;
    };
    // SAFETY: `path` is a valid C string; the DIR pointer is used only between a
    // successful opendir and its closedir; each dirent's name is read before the next
    // readdir, which may reuse it.
    unsafe {
        let d = libc::opendir(path.as_ptr());
        if d.is_null() {
            return;
        }
        loop {
            let entry = libc::readdir(d);
            if entry.is_null() {
                break;
            }
            let name = CStr::from_ptr((*entry).d_name.as_ptr()).to_bytes();
            if name != b"." && name != b".." {
                f(name);
            }
        }
        libc::closedir(d);
    }
}

/// `flock(2)` on `file`, shared or `exclusive`: held until the file is closed. Each open
/// of a file is locked apart, so this orders the threads of one process as well as
/// processes.
#[cfg_attr(not(feature = "ssh2"), allow(dead_code))]
pub(crate) fn lock_file(file: &File, exclusive: bool) -> io::Result<()> {
    let how = if exclusive {
        libc::LOCK_EX
    } else {
        libc::LOCK_SH
    };
    loop {
        // SAFETY: flock on a descriptor that `file` owns for the whole call.
        if unsafe { libc::flock(file.as_raw_fd(), how) } == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

//! Small helpers over file descriptors that several layers use.

use std::io;
use std::os::fd::RawFd;

pub(crate) fn set_nonblocking(fd: RawFd) {
    // SAFETY: fcntl on a descriptor we own; no memory is involved.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
    }
}

/// Reads what `fd` has straight into `buf`'s spare capacity (growing it by doubling), with
/// no intermediate copy: capturing a large output costs no more than `std`'s `output()`.
pub(crate) fn read_into(fd: RawFd, buf: &mut Vec<u8>) -> io::Result<usize> {
    if buf.capacity() - buf.len() < 64 * 1024 {
        buf.reserve(buf.len().max(256 * 1024));
    }
    let len = buf.len();
    let spare = buf.capacity() - len;
    // SAFETY: the pointer and length describe `buf`'s allocated, unused capacity; read(2)
    // writes at most `spare` bytes there, and `set_len` only covers bytes it wrote.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().add(len).cast(), spare) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    unsafe { buf.set_len(len + n as usize) };
    Ok(n as usize)
}

/// 128 random bits from the operating system, in hex: for names and markers nobody may
/// guess. Without a random source (never seen), a name still unique to this process.
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let n = N.fetch_add(1, Ordering::Relaxed);
        return format!("{:x}x{:x}x{n:x}", std::process::id(), t.as_nanos());
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Blocks until `input` has bytes (or its end) to read: true; or until nobody reads
/// `output` any more (its reader closed: POLLERR/POLLHUP, reported whatever was asked):
/// false. A relay between the two then stops without taking input nobody will get.
pub(crate) fn wait_input_for(input: RawFd, output: RawFd) -> bool {
    let mut fds = [
        libc::pollfd {
            fd: input,
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: output,
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

/// An `OsString` of `bytes`, which are this platform's encoding of `OsStr`s (joined and
/// split at ASCII bytes only): text of file names and arguments put back together.
pub(crate) fn os_from_bytes(bytes: Vec<u8>) -> std::ffi::OsString {
    #[cfg(unix)]
    {
        std::os::unix::ffi::OsStringExt::from_vec(bytes)
    }
    #[cfg(not(unix))]
    {
        // SAFETY: the bytes come from `OsStr::as_encoded_bytes` of this platform and from
        // UTF-8 text, cut and joined at ASCII bytes only, which keeps them valid.
        unsafe { std::ffi::OsString::from_encoded_bytes_unchecked(bytes) }
    }
}

/// A home directory from the passwd database: `user`'s, or this process's user's.
#[cfg(unix)]
pub(crate) fn home_of(user: Option<&std::ffi::OsStr>) -> Option<std::ffi::OsString> {
    use std::os::unix::ffi::OsStringExt;
    passwd(user).map(|(_, dir)| std::ffi::OsString::from_vec(dir))
}

/// The login name and home directory of `user`, or of this process's uid, from the
/// passwd database.
#[cfg(unix)]
pub(crate) fn passwd(user: Option<&std::ffi::OsStr>) -> Option<(Vec<u8>, Vec<u8>)> {
    use std::os::unix::ffi::OsStrExt;
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
        let text = |p: *const libc::c_char| std::ffi::CStr::from_ptr(p).to_bytes().to_vec();
        Some((text(pwd.pw_name), text(pwd.pw_dir)))
    }
}

/// A home directory: this user's (`USERPROFILE`); another user's is not known here.
#[cfg(not(unix))]
pub(crate) fn home_of(user: Option<&std::ffi::OsStr>) -> Option<std::ffi::OsString> {
    match user {
        None => std::env::var_os("USERPROFILE"),
        Some(_) => None,
    }
}

/// Hands the name of each entry of `dir` but `.` and `..` to `f`, without copying it; a
/// directory that cannot be read has none.
#[cfg(unix)]
pub(crate) fn each_entry(dir: &std::path::Path, f: &mut dyn FnMut(&[u8])) {
    use std::os::unix::ffi::OsStrExt;
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
            let name = std::ffi::CStr::from_ptr((*entry).d_name.as_ptr()).to_bytes();
            if name != b"." && name != b".." {
                f(name);
            }
        }
        libc::closedir(d);
    }
}

/// Hands the name of each entry of `dir` to `f`; a directory that cannot be read has none.
#[cfg(not(unix))]
pub(crate) fn each_entry(dir: &std::path::Path, f: &mut dyn FnMut(&[u8])) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        f(entry.file_name().as_encoded_bytes());
    }
}

//! Windows: handles, and OS strings that reach remote hosts as UTF-8 text.
//!
//! Anonymous pipes cannot be waited on together (no `poll` for them), so what reads
//! several at once uses a thread per pipe here. Files have no permission bits, owner or
//! group here: those are `None`, never made up, and creating a file takes no mode.

use std::ffi::{OsStr, OsString};
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io;
use std::os::windows::io::AsHandle;
use std::path::Path;

/// A stream this process owns: a pipe end or a file.
pub(crate) type OwnedStream = std::os::windows::io::OwnedHandle;

/// A second handle to this process's standard stream `n` (0, 1 or 2).
pub(crate) fn clone_std(n: u8) -> io::Result<OwnedStream> {
    match n {
        0 => io::stdin().as_handle().try_clone_to_owned(),
        1 => io::stdout().as_handle().try_clone_to_owned(),
        _ => io::stderr().as_handle().try_clone_to_owned(),
    }
}

/// The bytes of an OS string as they go to a remote host: UTF-8 for every string that
/// is text. A string with an unpaired surrogate (which no UTF-8 can carry) gives other
/// bytes, so what sends it checks [`is_text`] first.
pub(crate) fn bytes(s: &OsStr) -> &[u8] {
    s.as_encoded_bytes()
}

/// Whether `s` can reach a remote host as it is: only Unicode text (no unpaired
/// surrogate) has UTF-8 bytes.
pub(crate) fn is_text(s: &OsStr) -> bool {
    s.to_str().is_some()
}

/// An OS string from bytes a remote host sent (a file name, a link's target): UTF-8
/// text, as a Windows string can hold no other bytes.
pub(crate) fn os_string(bytes: Vec<u8>) -> io::Result<OsString> {
    String::from_utf8(bytes).map(OsString::from).map_err(|e| {
        let name = String::from_utf8_lossy(e.as_bytes());
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("`{name}` is not UTF-8 text, which a Windows string cannot hold"),
        )
    })
}

/// Always true: a pipe cannot be waited on here, so a relay reads (blocking) and learns
/// that its reader left at its next write.
pub(crate) fn wait_input_for(_input: &File, _output: &os_pipe::PipeWriter) -> bool {
    true
}

/// Reads what `from` has into `buf`; at its end 0.
pub(crate) fn read_into(mut from: &os_pipe::PipeReader, buf: &mut Vec<u8>) -> io::Result<usize> {
    let mut chunk = [0u8; 64 * 1024];
    let n = io::Read::read(&mut from, &mut chunk)?;
    buf.extend_from_slice(&chunk[..n]);
    Ok(n)
}

/// A home directory: this user's (`USERPROFILE`); another user's is not known here.
pub(crate) fn home_of(user: Option<&OsStr>) -> Option<OsString> {
    match user {
        None => std::env::var_os("USERPROFILE"),
        Some(_) => None,
    }
}

/// The name this user logs in with, which Windows's own ssh client sends too.
pub(crate) fn login_name() -> Option<String> {
    std::env::var("USERNAME").ok().filter(|u| !u.is_empty())
}

/// Windows has no permission bits.
pub(crate) fn mode(_: &fs::Metadata) -> Option<u32> {
    None
}

/// Windows has no numeric owner and group.
pub(crate) fn owner(_: &fs::Metadata) -> Option<(u32, u32)> {
    None
}

/// Files take no mode here.
pub(crate) fn create_mode(opts: &mut OpenOptions, _mode: u32) -> &mut OpenOptions {
    opts
}

/// Directories take no mode here.
pub(crate) fn dir_builder(_mode: u32) -> DirBuilder {
    DirBuilder::new()
}

/// What Windows has of a mode: the read-only attribute, set when the owner may not
/// write (no `0o200` bit).
pub(crate) fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    let mut p = fs::metadata(path)?.permissions();
    p.set_readonly(mode & 0o200 == 0);
    fs::set_permissions(path, p)
}

/// Makes `link` a symbolic link to `target`: a directory link when the target is a
/// directory (Windows tells the two apart). Creating links needs Developer Mode or the
/// privilege to create symbolic links.
pub(crate) fn symlink(target: &Path, link: &Path) -> io::Result<()> {
    let seen_from = link.parent().unwrap_or(Path::new("")).join(target);
    if seen_from.is_dir() {
        std::os::windows::fs::symlink_dir(target, link)
    } else {
        std::os::windows::fs::symlink_file(target, link)
    }
}

/// Whether `path` may be read (4), written (2) or executed (1), as `test -r/-w/-x`
/// asks: what Windows says without asking for access: every file can be read, one
/// without the read-only attribute written, a directory or a program (`.exe .com .bat
/// .cmd`) executed.
pub(crate) fn can_access(path: &Path, meta: &fs::Metadata, bits: i32) -> bool {
    let program = || {
        let ext = path.extension().and_then(OsStr::to_str).unwrap_or("");
        ["exe", "com", "bat", "cmd"]
            .iter()
            .any(|e| e.eq_ignore_ascii_case(ext))
    };
    (bits & 2 == 0 || !meta.permissions().readonly() || meta.is_dir())
        && (bits & 1 == 0 || meta.is_dir() || program())
}

/// Windows has no block or character devices, pipes or sockets in its file system.
pub(crate) fn special_type(_meta: &fs::Metadata) -> Option<char> {
    None
}

/// Hands the name of each entry of `dir` to `f`; a directory that cannot be read has none.
pub(crate) fn each_entry(dir: &Path, f: &mut dyn FnMut(&[u8])) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        f(entry.file_name().as_encoded_bytes());
    }
}

/// `LockFileEx` over the whole of `file`, shared or `exclusive`: held until the file is
/// closed, as `flock` is on Unix (Windows' locks also keep others from reading a region
/// locked exclusively, for as long as the lock).
#[cfg_attr(not(feature = "ssh2"), allow(dead_code))]
pub(crate) fn lock_file(file: &File, exclusive: bool) -> io::Result<()> {
    use std::os::windows::io::AsRawHandle;
    use windows_sys::Win32::Storage::FileSystem::{LockFileEx, LOCKFILE_EXCLUSIVE_LOCK};
    use windows_sys::Win32::System::IO::OVERLAPPED;
    let flags = if exclusive {
        LOCKFILE_EXCLUSIVE_LOCK
    } else {
        0
    };
    // SAFETY: a zeroed OVERLAPPED is a valid one (offset 0, no event).
    let mut at: OVERLAPPED = unsafe { std::mem::zeroed() };
    // SAFETY: the handle is open for the call, `at` valid for it; the call blocks until
    // the lock is held (no LOCKFILE_FAIL_IMMEDIATELY), so `at` is not used afterwards.
    let ok = unsafe { LockFileEx(file.as_raw_handle(), flags, 0, u32::MAX, u32::MAX, &mut at) };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

//! What differs between operating systems, for the layers above the backends: owned
//! stream handles (file descriptors on Unix, handles on Windows), the bytes of OS
//! strings, reading pipes, signal numbers. Each OS's part is in a file of its own; the
//! local machine's processes have their own seam (`backends::local::os`).

mod fd_limit;
pub(crate) use fd_limit::check_room;
// The remote machines' `connect` raise the limit; on Windows only `Ssh2Machine` connects.
#[cfg(any(unix, feature = "ssh2"))]
pub(crate) use fd_limit::raise_fd_limit;
#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub(crate) use unix::*;
#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub(crate) use windows::*;

/// SIGKILL and SIGPIPE as every Unix numbers them. They name how remote commands (always
/// on a Unix) ended, so they hold on any client, Windows included.
pub(crate) const SIGKILL: i32 = 9;
pub(crate) const SIGPIPE: i32 = 13;

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

/// The bytes of an OS string, as they go to a remote host or into a script: on Unix the
/// string's own bytes; on Windows its UTF-8 (see [`is_text`] for the strings that have
/// none).
pub(crate) trait OsBytes {
    fn as_bytes(&self) -> &[u8];
}

impl OsBytes for std::ffi::OsStr {
    fn as_bytes(&self) -> &[u8] {
        bytes(self)
    }
}

/// `rest` after `base` on a remote host, which is always a Unix: joined with `/`, and an
/// absolute `rest` (starting with `/`) replaces `base`. On Unix this is `Path::join`; on
/// Windows std would join with `\`, which a remote host reads as part of a name.
pub(crate) fn posix_join(base: &std::path::Path, rest: &std::path::Path) -> std::path::PathBuf {
    if cfg!(unix) {
        return base.join(rest);
    }
    let (b, r) = (base.as_os_str(), rest.as_os_str());
    if b.is_empty() || r.as_encoded_bytes().first() == Some(&b'/') {
        return rest.to_path_buf();
    }
    let mut joined = b.to_owned();
    if !b.as_encoded_bytes().ends_with(b"/") {
        joined.push("/");
    }
    joined.push(r);
    joined.into()
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

/// The bytes of an owned OS string (see [`OsBytes`]).
pub(crate) fn into_bytes(s: std::ffi::OsString) -> Vec<u8> {
    s.into_encoded_bytes()
}

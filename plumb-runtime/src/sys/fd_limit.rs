//! The limit on open file descriptors (`RLIMIT_NOFILE`). Every remote connection holds
//! descriptors, and a desktop's soft limit (often 1024) is far below its hard limit: a
//! group of a few hundred hosts would fail host by host with "Too many open files". So,
//! as Go's runtime does at start, the first remote connection raises the soft limit to
//! the hard one, once per process; what cannot be raised is reported before a group
//! starts connecting ([`check_room`]), never half way.
//!
//! Unlike Go's `os/exec`, processes started afterwards inherit the raised soft limit:
//! restoring it would take a `pre_exec` hook in every spawn, which makes std fork instead
//! of using `posix_spawn`.

/// The soft and hard limits, after raising the soft one to the hard one (once per
/// process; later calls only read). `None` where there is no such limit (Windows) or it
/// cannot be read.
pub(crate) fn raise_fd_limit() -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        static RAISED: std::sync::Once = std::sync::Once::new();
        RAISED.call_once(unix::raise);
        unix::get()
    }
    #[cfg(not(unix))]
    None
}

/// How many descriptors this process has open now; `None` where it cannot tell cheaply.
pub(crate) fn open_fds() -> Option<u64> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    return std::fs::read_dir("/proc/self/fd")
        .ok()
        .map(|d| d.count() as u64);
    #[cfg(any(target_os = "macos", target_os = "freebsd"))]
    return std::fs::read_dir("/dev/fd").ok().map(|d| d.count() as u64);
    #[allow(unreachable_code)]
    None
}

/// Whether `needed` more descriptors fit under the (raised) limit; the error says how
/// many are needed and what to raise.
pub(crate) fn check_room(needed: u64, what: &str) -> Result<(), String> {
    let Some((soft, hard)) = raise_fd_limit() else {
        return Ok(());
    };
    let open = open_fds().unwrap_or(0);
    if open + needed <= soft {
        return Ok(());
    }
    Err(format!(
        "{what} needs about {needed} more open files, {open} are open, and this process \
         may open {soft} (hard limit {hard}): raise the hard limit (`ulimit -Hn {at_least}` \
         or `nofile` in /etc/security/limits.conf, `LimitNOFILE=` for a systemd service) \
         or connect fewer hosts at once",
        at_least = open + needed,
    ))
}

#[cfg(unix)]
// `rlim_t` is u64 on Linux and macOS, i64 on FreeBSD: the casts are needed somewhere.
#[allow(clippy::unnecessary_cast)]
mod unix {
    /// The soft and hard limits now.
    pub(super) fn get() -> Option<(u64, u64)> {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes one rlimit struct, which `lim` is.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
            return None;
        }
        Some((lim.rlim_cur as u64, lim.rlim_max as u64))
    }

    /// Raises the soft limit to the hard one. macOS refuses more than `OPEN_MAX` (10240)
    /// even under an unlimited hard limit, as Go found: then that much.
    pub(super) fn raise() {
        let Some((soft, hard)) = get() else { return };
        for target in [hard, 10240] {
            if target <= soft {
                return;
            }
            let lim = libc::rlimit {
                rlim_cur: target as libc::rlim_t,
                rlim_max: hard as libc::rlim_t,
            };
            // SAFETY: setrlimit reads one rlimit struct, which `lim` is.
            if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } == 0 {
                return;
            }
        }
    }
}

//! plumb's SFTP client against hostile servers: a real sshd whose `sftp` subsystem is
//! `hostile/sftp_server.py`, which answers INIT well and then breaks the protocol in one
//! way per sshd. Every misbehaviour ends in a `Protocol` error naming the machine, within
//! seconds and with bounded memory, on both remote machines (they share the client).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use plumb::prelude::*;
use plumb::ErrorKind;

use crate::common::{self, sshd};

const SERVER: &str = include_str!("hostile/sftp_server.py");

/// The hostile server, copied where the sshd's login user can run it.
fn server_path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("plumb-hostile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("sftp_server.py");
        std::fs::write(&path, SERVER).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let open = std::fs::Permissions::from_mode(0o755);
        std::fs::set_permissions(&dir, open.clone()).unwrap();
        std::fs::set_permissions(&path, open).unwrap();
        path
    })
}

/// An sshd whose SFTP server misbehaves as `mode` says (one sshd per mode), and whose
/// sessions find no programs (`PATH` leads nowhere): there, files go over SFTP alone.
fn hostile(mode: &str) -> &'static sshd::Sshd {
    static SSHDS: OnceLock<Mutex<HashMap<String, &'static sshd::Sshd>>> = OnceLock::new();
    let mut sshds = SSHDS.get_or_init(Default::default).lock().unwrap();
    sshds.entry(mode.to_string()).or_insert_with(|| {
        let subsystem = format!(
            "MaxSessions 100\nSetEnv PATH=/nonexistent\n\
             Subsystem sftp /usr/bin/python3 {} {mode} /usr/lib/openssh/sftp-server\n",
            server_path().display()
        );
        let user = sshd::sshd().user.clone();
        Box::leak(Box::new(sshd::start_custom(user, &subsystem, false)))
    })
}

/// Both remote machines, logged in to the hostile sshd of `mode`.
fn machines(mode: &str) -> Vec<Arc<dyn Machine>> {
    let d = hostile(mode);
    let ssh = common::ssh_builder_for(d).connect().unwrap();
    #[cfg(feature = "ssh2")]
    {
        let ssh2 = common::ssh2_builder_for(d).connect().unwrap();
        vec![Arc::new(ssh), Arc::new(ssh2)]
    }
    #[cfg(not(feature = "ssh2"))]
    vec![Arc::new(ssh)]
}

/// Runs `op` on each machine of `mode`: it must fail with a `Protocol` error naming the
/// machine and containing `says`, within 10 s.
fn refused<T: std::fmt::Debug>(
    mode: &str,
    says: &str,
    op: impl Fn(&Arc<dyn Machine>) -> plumb::Result<T>,
) {
    for m in machines(mode) {
        let start = Instant::now();
        let e = op(&m).expect_err(mode);
        let took = start.elapsed();
        assert_eq!(e.kind(), ErrorKind::Protocol, "{mode}: {e}");
        assert_eq!(e.machine(), m.name(), "{mode}: {e}");
        assert!(e.to_string().contains(says), "{mode}: {e}");
        assert!(took < Duration::from_secs(10), "{mode}: took {took:?}");
    }
}

#[test]
fn a_listing_that_never_ends_is_refused() {
    refused("endless-readdir", "again", |m| m.path("/d").read_dir());
}

#[test]
fn a_listing_of_dots_forever_is_refused() {
    refused("dots-forever", "no entries", |m| m.path("/d").read_dir());
}

#[test]
fn a_packet_too_long_is_refused() {
    refused("huge-packet", "4294967280 bytes", |m| {
        m.path("/f").metadata()
    });
}

#[test]
fn a_name_count_past_the_packet_is_refused() {
    refused("name-count", "2147483648 names", |m| {
        m.path("/d").read_dir()
    });
}

#[test]
fn a_string_past_the_packet_is_refused() {
    refused("string-past-packet", "1000 bytes", |m| {
        m.path("/d").read_dir()
    });
}

#[test]
fn a_handle_too_long_is_refused() {
    refused("long-handle", "100000 bytes", |m| m.path("/d").read_dir());
}

#[test]
fn a_read_longer_than_asked_is_refused() {
    refused("read-too-long", "asked", |m| m.path("/f").read());
}

#[test]
fn attributes_with_too_many_extensions_are_refused() {
    refused("attrs-extensions", "2147483648 extensions", |m| {
        m.path("/f").metadata()
    });
}

#[test]
fn an_entry_name_with_a_slash_is_refused() {
    refused("slash-name", "../../escape", |m| m.path("/d").read_dir());
}

#[test]
fn a_link_read_with_three_names_is_refused() {
    refused("readlink-count", "3 names", |m| m.path("/l").read_link());
}

fn rss_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// The peak memory of this process while `op` runs, above what it used before, in KiB.
fn peak_growth(op: impl FnOnce()) -> u64 {
    // Resets VmHWM to the current RSS (Linux 4.0 and later).
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let before = rss_kib("VmRSS:");
    op();
    rss_kib("VmHWM:").saturating_sub(before)
}

/// Run alone in a child process, where the peak memory is this test's own: the servers
/// that once made the client grow without end now cost it little.
#[test]
fn hostile_servers_cost_little_memory() {
    if std::env::var_os("PLUMB_TEST_ALONE").is_none() {
        let name = test_path!(hostile_servers_cost_little_memory);
        assert!(common::run_alone(name, ("PLUMB_TEST_ALONE", "1")));
        return;
    }
    type Op = fn(&Arc<dyn Machine>) -> plumb::Result<()>;
    let cases: [(&str, Op); 5] = [
        ("endless-readdir", |m| m.path("/d").read_dir().map(drop)),
        ("dots-forever", |m| m.path("/d").read_dir().map(drop)),
        ("huge-packet", |m| m.path("/f").metadata().map(drop)),
        ("name-count", |m| m.path("/d").read_dir().map(drop)),
        ("read-too-long", |m| m.path("/f").read().map(drop)),
    ];
    for (mode, op) in cases {
        for m in machines(mode) {
            let grew = peak_growth(|| {
                let e = op(&m).expect_err(mode);
                assert_eq!(e.kind(), ErrorKind::Protocol, "{mode}: {e}");
            });
            assert!(grew < 100 * 1024, "{mode} on {}: {grew} KiB more", m.name());
        }
    }
}

/// A server whose listing describes a symlink by its target, as servers that stat what
/// they list do: a tree removed over SFTP alone (no `rm` on this host) loses the link
/// inside it, never what the link points to.
#[test]
fn a_tree_removed_over_sftp_keeps_what_its_links_point_to() {
    for m in machines("lying-readdir") {
        let outside = m.temp_dir().unwrap();
        outside.join("precious").write("keep me").unwrap();
        let tree = m.temp_dir().unwrap().keep();
        tree.join("sub").create_dir_all().unwrap();
        tree.join("sub/file").write("x").unwrap();
        outside.symlink(tree.join("sub/link")).unwrap();
        let removed = tree.remove();
        assert_eq!(
            outside.join("precious").read_to_string().ok().as_deref(),
            Some("keep me"),
            "on {}",
            m.name()
        );
        removed.unwrap();
        assert!(!tree.exists().unwrap(), "on {}", m.name());
    }
}

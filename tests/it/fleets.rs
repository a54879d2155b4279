//! Fleets: a group of hundreds of hosts connected at once (`Group::connect_all`), within a
//! desktop's limit of open files, and what each idle connection costs.
//!
//! Tests that count this process's descriptors or change its limits run alone in a child
//! process of this binary (`common::run_alone_with`).
// Without `ssh2` only the `SshMachine` and local tests remain.
#![cfg_attr(not(feature = "ssh2"), allow(dead_code, unused_imports))]

use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

use plumb::{sh, Group};

use crate::common::{self, sshd};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

// `rlim_t` is u64 on Linux, i64 on FreeBSD.
#[allow(clippy::unnecessary_cast)]
fn fd_limit() -> (u64, u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit struct, which `lim` is.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    (lim.rlim_cur as u64, lim.rlim_max as u64)
}

/// Runs the test `name` alone in a child whose limit of open files is `soft`/`hard`.
#[allow(clippy::unnecessary_cast)]
fn alone_with_limit(name: &str, env: &str, soft: u64, hard: u64) -> bool {
    common::run_alone_with(name, |c: &mut Command| {
        c.env(env, "1");
        // SAFETY: setrlimit is async-signal-safe, and the closure touches nothing else.
        unsafe {
            c.pre_exec(move || {
                let lim = libc::rlimit {
                    rlim_cur: soft as libc::rlim_t,
                    rlim_max: hard as libc::rlim_t,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    })
}

/// An idle connected `Ssh2Machine` holds one descriptor, its socket (it was four: a
/// duplicate of the socket for libssh2, a wake-up pipe pair): its I/O thread and that
/// thread's wake-up channel serve many machines. Closed, it leaves nothing open.
#[test]
#[cfg(feature = "ssh2")]
fn an_idle_ssh2_machine_holds_one_descriptor() {
    if std::env::var_os("PLUMB_TEST_FDS").is_none() {
        let name = test_path!(an_idle_ssh2_machine_holds_one_descriptor);
        assert!(common::run_alone(name, ("PLUMB_TEST_FDS", "1")));
        return;
    }
    // The first connection starts the tests' sshd and anything else done once.
    let first = common::ssh2_builder().connect().unwrap();
    sh!(true).on(&first).run().unwrap();
    let before = open_fds();
    let machines: Vec<_> = (0..20)
        .map(|_| common::ssh2_builder().connect().unwrap())
        .collect();
    for m in &machines {
        sh!(true).on(m).run().unwrap();
    }
    let per_machine = (open_fds() - before) as f64 / machines.len() as f64;
    println!("descriptors per idle Ssh2Machine: {per_machine}");
    // The second I/O thread's wake-up channel is one more for all twenty.
    assert!(per_machine <= 1.05, "{per_machine} descriptors per machine");
    drop(machines);
    // An I/O thread left without machines ends, and closes its channel, just after.
    let start = Instant::now();
    while open_fds() > before && start.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(open_fds() <= before, "descriptors left after closing");
}

/// What the server runs per command is what parallel-ssh's command costs it: on a login
/// shell that is `/bin/sh`, over libssh2 (which tells a signal from an exit), a single
/// command is exec'd by the login shell itself, with no second shell and no fork in between:
/// its parent is sshd. Its signal still reads as a shell's 128 + N.
#[test]
#[cfg(feature = "ssh2")]
fn a_lone_command_on_ssh2_has_no_shell_in_between() {
    let m = common::ssh2_builder().connect().unwrap();
    let parent = sh!(sh -c "ps -o comm= -p $$PPID").on(&m).read().unwrap();
    assert!(parent.starts_with("sshd"), "{parent}");
    let err = sh!(sh -c "kill -KILL $$$$").on(&m).run().unwrap_err();
    assert_eq!(err.code(), Some(128 + 9), "{err}");
    assert_eq!(err.signal(), None, "{err}");
    // A shell's builtins are never exec'd: `exec command` or `exec :` would fail, and
    // `/bin/echo` or `/bin/pwd` are not the builtins.
    assert!(sh!(command -v sh).on(&m).success().unwrap());
    assert_eq!(
        sh!(echo "a\tb").on(&m).read().unwrap(),
        sh!(echo "a\tb").on(&common::ssh()).read().unwrap()
    );
}

/// The first remote connection raises the soft limit of open files to the hard one.
#[test]
#[cfg(feature = "ssh2")]
fn connecting_raises_the_soft_fd_limit_to_the_hard_one() {
    if std::env::var_os("PLUMB_TEST_RLIMIT").is_none() {
        let name = test_path!(connecting_raises_the_soft_fd_limit_to_the_hard_one);
        let (_, hard) = fd_limit();
        assert!(alone_with_limit(name, "PLUMB_TEST_RLIMIT", 256, hard));
        return;
    }
    assert_eq!(fd_limit().0, 256);
    let m = common::ssh2_builder().connect().unwrap();
    let (soft, hard) = fd_limit();
    assert_eq!(soft, hard);
    drop(m);
}

/// A group that cannot fit under the hard limit fails at once, with one error that says
/// what to raise, and connects nothing.
#[test]
#[cfg(feature = "ssh2")]
fn a_group_too_big_for_the_hard_limit_fails_before_connecting() {
    if std::env::var_os("PLUMB_TEST_TOO_BIG").is_none() {
        let name = test_path!(a_group_too_big_for_the_hard_limit_fails_before_connecting);
        assert!(alone_with_limit(name, "PLUMB_TEST_TOO_BIG", 200, 200));
        return;
    }
    let d = sshd::sshd();
    let before = open_fds();
    let start = Instant::now();
    let builders = (0..300).map(|_| common::ssh2_builder_for(d));
    let err = Group::new().connect_all(builders).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("a group of 300 hosts"), "{msg}");
    assert!(msg.contains("ulimit -Hn"), "{msg}");
    assert!(start.elapsed() < Duration::from_secs(1), "{msg}");
    assert!(open_fds() <= before, "{msg}");
}

/// A listener that accepts connections and never says a word; its port.
fn black_hole() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in listener.incoming().flatten() {
            held.push(c);
        }
    });
    port
}

/// Unreachable and black-holed hosts stay in the group with their errors; a black hole
/// ends within the connect timeout and holds nobody up.
#[test]
#[cfg(feature = "ssh2")]
fn connect_all_keeps_unreachable_hosts_and_ends_black_holes_in_time() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    let timeout = Duration::from_secs(2);
    let to = |port: u16| common::ssh2_builder().port(port).connect_timeout(timeout);
    let (hole1, hole2) = (black_hole(), black_hole());
    let builders = vec![
        common::ssh2_builder(),
        to(hole1),
        common::ssh2_builder(),
        to(closed_port),
        to(hole2),
        common::ssh2_builder(),
    ];
    let start = Instant::now();
    // Three at a time: the two black holes never take every slot.
    let group = Group::new()
        .quiet()
        .max_connecting(3)
        .connect_all(builders)
        .unwrap();
    let took = start.elapsed();
    assert!(took < timeout + Duration::from_millis(1500), "{took:?}");
    assert_eq!(group.names().len(), 6, "{:?}", group.names());
    let results = group.output(&sh!(echo hi));
    let ok: Vec<&str> = results
        .iter()
        .filter(|(_, r)| r.is_ok())
        .map(|(h, _)| h)
        .collect();
    assert_eq!(ok.len(), 3, "{results:?}");
    let failed: Vec<String> = results.failures().map(|(h, _)| h.to_string()).collect();
    assert_eq!(failed.len(), 3, "{results:?}");
    for port in [hole1, hole2, closed_port] {
        let port = format!(":{port}");
        assert!(failed.iter().any(|h| h.ends_with(&port)), "{failed:?}");
    }
    // In the order given: the black hole second.
    assert!(group.names()[1].ends_with(&format!(":{hole1}")));
}

/// The per-server cap keeps a server that drops connections past 4 unauthenticated ones
/// (`MaxStartups 4`) happy: every one of 16 hosts connects. The cap stays below the
/// server's limit (as the default 8 does below OpenSSH's 10): sshd counts a connection
/// until its listener has noticed the login, a moment after the client has.
#[test]
#[cfg(feature = "ssh2")]
fn handshakes_per_server_stays_under_max_startups() {
    let d = sshd::start_with(sshd::sshd().user.clone(), "MaxStartups 4\n");
    let builders = (0..16).map(|_| common::ssh2_builder_for(&d));
    let group = Group::new()
        .quiet()
        .handshakes_per_server(2)
        .connect_all(builders)
        .unwrap();
    let results = group.output(&sh!(true));
    assert!(results.all_ok(), "{results:?}");
    assert_eq!(results.len(), 16);
}

/// 300 hosts (logins to one sshd that admits them all) answer `uname -n` under a limit of
/// 1024 open files, soft and hard: run alone in a child with that limit.
#[test]
#[cfg(feature = "ssh2")]
fn three_hundred_hosts_answer_under_1024_open_files() {
    if std::env::var_os("PLUMB_TEST_FLEET").is_none() {
        let name = test_path!(three_hundred_hosts_answer_under_1024_open_files);
        assert!(alone_with_limit(name, "PLUMB_TEST_FLEET", 1024, 1024));
        return;
    }
    assert_eq!(fd_limit(), (1024, 1024));
    let extra = "MaxStartups 2000:30:4000\nMaxSessions 100\n";
    let d = sshd::start_with(sshd::sshd().user.clone(), extra);
    let hosts = 300;
    let start = Instant::now();
    let group = Group::new()
        .quiet()
        .handshakes_per_server(64)
        .connect_all((0..hosts).map(|_| common::ssh2_builder_for(&d)))
        .unwrap();
    let connected = start.elapsed();
    let fds = open_fds();
    let results = group.output(&sh! {uname -n});
    let total = start.elapsed();
    let expected = sh! {uname -n}.read().unwrap();
    let failures: Vec<_> = results
        .failures()
        .map(|(h, e)| format!("{h}: {e}"))
        .collect();
    assert!(
        failures.is_empty(),
        "{} failed: {failures:?}",
        failures.len()
    );
    for (host, out) in results.iter() {
        let out = out.as_ref().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            expected,
            "{host}"
        );
    }
    println!(
        "{hosts} hosts: connected in {connected:?}, all answered in {total:?}, {fds} descriptors open"
    );
    // Reuse: the same group again, over its open connections.
    let again = Instant::now();
    assert!(group.output(&sh! {uname -n}).all_ok());
    println!("{hosts} hosts again (reuse): {:?}", again.elapsed());
}

/// `SshMachine` builders connect through `connect_all` too; this measures what an idle
/// master costs this process in descriptors (the figure `connect_all` plans with).
#[test]
fn connect_all_takes_ssh_builders() {
    if std::env::var_os("PLUMB_TEST_SSH_FDS").is_none() {
        let name = test_path!(connect_all_takes_ssh_builders);
        assert!(common::run_alone(name, ("PLUMB_TEST_SSH_FDS", "1")));
        return;
    }
    let first = common::ssh_builder().connect().unwrap();
    sh!(true).on(&first).run().unwrap();
    let before = open_fds();
    let group = Group::new()
        .quiet()
        .connect_all((0..4).map(|_| common::ssh_builder()))
        .unwrap();
    assert!(group.output(&sh!(true)).all_ok());
    let per_machine = (open_fds() - before) as f64 / 4.0;
    println!("descriptors per idle SshMachine: {per_machine}");
    assert!(per_machine <= 2.0, "{per_machine}");
}

/// The `ssh` processes that are children of this process.
fn ssh_children() -> usize {
    let me = std::process::id().to_string();
    let procs = std::fs::read_dir("/proc").unwrap().filter_map(|e| e.ok());
    procs
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| {
            // `pid (comm) state ppid ...`: the name may hold spaces, the fields after `)` not.
            let (name, rest) = stat
                .split_once(" (")
                .unwrap_or_default()
                .1
                .rsplit_once(") ")
                .unwrap_or_default();
            name == "ssh" && rest.split(' ').nth(1) == Some(me.as_str())
        })
        .count()
}

/// An `SshMachine`'s files go over an SFTP session its master opens, as its commands do:
/// no `ssh` process but the master's (a fleet's upload used to start one per host).
#[test]
fn an_ssh_machine_reads_files_with_no_ssh_process_but_its_master() {
    if std::env::var_os("PLUMB_TEST_SSH_SFTP").is_none() {
        let name = test_path!(an_ssh_machine_reads_files_with_no_ssh_process_but_its_master);
        assert!(common::run_alone(name, ("PLUMB_TEST_SSH_SFTP", "1")));
        return;
    }
    use plumb::MachineExt;
    let m = common::ssh_builder().connect().unwrap();
    let dir = sh! {mktemp -d}.on(&m).read().unwrap();
    let file = m.path(&dir).join("f");
    file.write("over sftp").unwrap();
    assert_eq!(file.read_to_string().unwrap(), "over sftp");
    assert_eq!(ssh_children(), 1, "the master alone");
}

/// A group's transfer lets go of each host's SFTP session once done with it: a fleet's
/// uploads leave its machines at their idle cost in descriptors (they held four each,
/// and 200 hosts uploading ran out of 1024).
#[test]
fn a_group_transfer_leaves_machines_idle() {
    if std::env::var_os("PLUMB_TEST_RELEASE").is_none() {
        let name = test_path!(a_group_transfer_leaves_machines_idle);
        assert!(common::run_alone(name, ("PLUMB_TEST_RELEASE", "1")));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f");
    std::fs::write(&file, "payload").unwrap();
    let remote = dir.path().join("remote");
    std::fs::create_dir(&remote).unwrap();
    sh!(chmod 777 ${&remote}).run().unwrap();
    let builders = (0..5).map(|_| common::ssh_builder());
    let g = Group::new().quiet().connect_all(builders).unwrap();
    #[cfg(feature = "ssh2")]
    let g = (0..5).fold(g, |g, _| {
        g.machine(common::ssh2_builder().connect().unwrap())
    });
    assert!(g.output(&sh!(true)).all_ok());
    let idle = open_fds();
    assert!(g.upload(&file, remote.join("f")).all_ok());
    // The sessions end on the server's side too: their last descriptors go then.
    let deadline = Instant::now() + Duration::from_secs(10);
    while open_fds() > idle && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(open_fds() <= idle, "{} open, {idle} before", open_fds());
}

/// `timeout_per_host` ends each slow host's command (remote and local) and lets the fast
/// ones finish; `summary` tells the story in one line.
#[test]
#[cfg(feature = "ssh2")]
fn timeout_per_host_ends_slow_hosts_and_summary_names_them() {
    let remote = common::ssh2_builder().connect().unwrap();
    let group = Group::new()
        .quiet()
        .machine_named("fast", plumb::local().with_env("DELAY", "0"))
        .machine_named("slow-local", plumb::local().with_env("DELAY", "30"))
        .machine_named("slow-remote", remote.with_env("DELAY", "30"))
        .timeout_per_host(Duration::from_secs(1));
    let start = Instant::now();
    let results = group.output(&sh!("sh -c 'sleep $DELAY; echo done'"));
    assert!(start.elapsed() < Duration::from_secs(5), "{results:?}");
    assert_eq!(
        results.get("fast").unwrap().as_ref().unwrap().stdout,
        b"done\n"
    );
    for host in ["slow-local", "slow-remote"] {
        let err = results.get(host).unwrap().as_ref().unwrap_err();
        assert_eq!(err.kind(), plumb::ErrorKind::Timeout, "{host}: {err}");
        let took = results.elapsed(host).unwrap();
        assert!(took >= Duration::from_secs(1), "{host}: {took:?}");
    }
    let summary = results.summary();
    assert!(
        summary.starts_with("1 ok, 2 failed (slow-local, slow-remote), slowest slow-"),
        "{summary}"
    );
    assert!(summary.ends_with(" s"), "{summary}");
    // An expression's own shorter timeout still holds.
    let results = group.output(&sh!("sh -c 'sleep $DELAY'").timeout(Duration::from_millis(300)));
    assert!(results.elapsed("slow-local").unwrap() < Duration::from_secs(1));
}

/// `summary` names at most ten failed hosts.
#[test]
fn summary_names_ten_failed_hosts_at_most() {
    let group = (0..12).fold(Group::new().quiet(), |g, i| {
        g.machine_named(format!("h{i}"), plumb::local())
    });
    let summary = group.output(&sh!(false)).summary();
    assert!(
        summary.starts_with(
            "0 ok, 12 failed (h0, h1, h2, h3, h4, h5, h6, h7, h8, h9 and 2 more), slowest h"
        ),
        "{summary}"
    );
}

/// No host of a busy group waits for its keepalive: the reply libssh2 waited for when
/// opening a channel may bring the command's output and exit with it, unparsed in its
/// buffer, and nothing more comes on the socket. Before the I/O thread read it at once,
/// one host in a hundred took the keepalive interval (10 s) to answer.
#[test]
#[cfg(feature = "ssh2")]
fn no_host_of_a_busy_group_waits_for_a_keepalive() {
    let extra = "MaxStartups 2000:30:4000\nMaxSessions 100\n";
    let d = sshd::start_with(sshd::sshd().user.clone(), extra);
    let hosts = 100;
    let keepalive = Duration::from_secs(30);
    let builders = (0..hosts).map(|_| common::ssh2_builder_for(&d).keepalive(keepalive));
    let group = Group::new()
        .quiet()
        .max_parallel(hosts)
        .handshakes_per_server(64)
        .connect_all(builders)
        .unwrap();
    for _ in 0..6 {
        let results = group.output(&sh! {uname -n});
        assert!(results.all_ok(), "{}", results.summary());
        let (host, _) = results.iter().next().unwrap();
        let slowest = results
            .iter()
            .map(|(h, _)| results.elapsed(h).unwrap())
            .max()
            .unwrap();
        assert!(
            // Far below the keepalive (30 s), far above a loaded machine's worst.
            slowest < Duration::from_secs(8),
            "{host}...: {}",
            results.summary()
        );
    }
}

/// The defaults suit a server with OpenSSH's default `MaxStartups 10:30:100`, which drops
/// new connections at random past 10 unauthenticated ones: 150 logins at once all connect.
#[test]
#[cfg(feature = "ssh2")]
fn the_default_pace_suits_openssh_default_max_startups() {
    let d = sshd::start_with(sshd::sshd().user.clone(), "MaxStartups 10:30:100\n");
    let group = Group::new()
        .quiet()
        .connect_all((0..150).map(|_| common::ssh2_builder_for(&d)))
        .unwrap();
    let results = group.output(&sh!(true));
    assert!(results.all_ok(), "{}", results.summary());
}

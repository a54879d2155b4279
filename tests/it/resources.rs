//! Long use leaks nothing: open file descriptors and memory stay flat over a thousand
//! commands and a thousand tunnel connections on one machine.

use plumb::sh;

use crate::common;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Runs `f` 1000 times after a warm-up and checks descriptors and memory before and after.
fn flat(what: &str, mut f: impl FnMut()) {
    for _ in 0..50 {
        f();
    }
    let (fds, rss) = (open_fds(), rss_kib());
    for _ in 0..1000 {
        f();
    }
    let (fds_after, rss_after) = (open_fds(), rss_kib());
    assert!(
        fds_after <= fds + 2,
        "{what}: {fds} open descriptors became {fds_after}"
    );
    assert!(
        rss_after < rss + 16 * 1024,
        "{what}: memory grew from {rss} KiB to {rss_after} KiB"
    );
}

/// One test, run alone in a child process: descriptors and memory are counted
/// process-wide, so nothing else may run meanwhile.
#[test]
fn a_thousand_commands_and_tunnels_leave_nothing_open() {
    if std::env::var_os("PLUMB_TEST_ALONE").is_none() {
        let name = test_path!(a_thousand_commands_and_tunnels_leave_nothing_open);
        assert!(common::run_alone(name, ("PLUMB_TEST_ALONE", "1")));
        return;
    }
    commands();
    #[cfg(feature = "ssh2")]
    tunnels();
    #[cfg(feature = "ssh2")]
    idle_costs_nothing();
}

/// CPU time of this process so far, in clock ticks.
#[cfg(feature = "ssh2")]
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // The fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// An idle session costs no CPU, also after keepalives were answered (a reply nobody reads
/// once kept the I/O thread spinning on a readable socket).
#[cfg(feature = "ssh2")]
fn idle_costs_nothing() {
    let m = common::ssh2_builder()
        .keepalive(std::time::Duration::from_secs(1))
        .connect()
        .unwrap();
    sh!(true).on(&m).run().unwrap();
    std::thread::sleep(std::time::Duration::from_secs(2));
    let before = cpu_ticks();
    std::thread::sleep(std::time::Duration::from_secs(3));
    let used = cpu_ticks() - before;
    // 3 s are 300 ticks; a few keepalives take well under one.
    assert!(used < 15, "an idle session used {used} ticks of CPU in 3 s");
}

fn commands() {
    #[cfg(feature = "ssh2")]
    {
        let ssh2 = common::ssh2();
        flat("ssh2 commands", || {
            sh!(echo x).on_dyn(ssh2.clone()).read().map(drop).unwrap()
        });
    }
    let local = common::local();
    flat("local commands", || {
        sh!(echo x | cat)
            .on_dyn(local.clone())
            .read()
            .map(drop)
            .unwrap()
    });
}

#[cfg(feature = "ssh2")]
fn tunnels() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for c in listener.incoming().flatten() {
            let mut c = c;
            let mut b = [0u8; 4];
            if c.read_exact(&mut b).is_ok() {
                let _ = c.write_all(&b);
            }
        }
    });
    let m = common::ssh2_builder().connect().unwrap();
    flat("ssh2 tunnels", || {
        let mut s = m.connect_sock(port).unwrap();
        s.write_all(b"ping").unwrap();
        let mut b = [0u8; 4];
        s.read_exact(&mut b).unwrap();
    });
}

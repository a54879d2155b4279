//! Remote benchmarks against the tests' kind of loopback sshd, logged in as a user whose
//! login shell is `/bin/sh`: `cargo bench --bench remote`.
//!
//! Ratios are plumb / baseline, baselines run side by side in the same process.

#[path = "../tests/common/sshd.rs"]
mod sshd;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use plumb::prelude::*;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn compare(
    rounds: usize,
    iters: usize,
    mut base: impl FnMut(),
    mut ours: impl FnMut(),
) -> (Duration, Duration) {
    let (mut b, mut o) = (Vec::new(), Vec::new());
    base();
    ours();
    for _ in 0..rounds {
        let t = Instant::now();
        (0..iters).for_each(|_| base());
        b.push(t.elapsed() / iters as u32);
        let t = Instant::now();
        (0..iters).for_each(|_| ours());
        o.push(t.elapsed() / iters as u32);
    }
    (median(b), median(o))
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let user = if sh! { id -un }.read().unwrap() == "root" {
        assert!(sshd::ensure_user("plumbtest", "/bin/sh"));
        "plumbtest".to_string()
    } else {
        sh! { id -un }.read().unwrap()
    };
    let d = sshd::start(user.clone());
    let m = SshMachine::builder("127.0.0.1")
        .port(d.port)
        .user(&user)
        .identity_file(&d.key)
        .known_hosts_file(&d.known_hosts)
        .connect()
        .unwrap();
    let m2 = Ssh2Machine::builder("127.0.0.1")
        .port(d.port)
        .user(&user)
        .identity_file(&d.key)
        .known_hosts_file(&d.known_hosts)
        .connect()
        .unwrap();
    let fresh_ssh = || {
        let mut c = Command::new("ssh");
        c.args(["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-i"])
            .arg(&d.key)
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", d.known_hosts.display()))
            .args(["-p", &d.port.to_string()])
            .arg(format!("{user}@127.0.0.1"));
        c
    };
    let (rounds, iters) = if quick { (3, 5) } else { (7, 20) };

    println!("| comparison | baseline | baseline median | plumb median | ratio |");
    println!("|---|---|---|---|---|");
    let row = |name: &str, baseline: &str, (b, o): (Duration, Duration)| {
        println!(
            "| {name} | {baseline} | {b:.1?} | {o:.1?} | {:.3} |",
            o.as_secs_f64() / b.as_secs_f64()
        );
    };
    row(
        "SshMachine, `true` per command",
        "fresh `ssh host true`",
        compare(
            rounds,
            iters,
            || {
                assert!(fresh_ssh()
                    .arg("true")
                    .stdin(Stdio::null())
                    .status()
                    .unwrap()
                    .success())
            },
            || sh!(true).on(&m).run().unwrap(),
        ),
    );
    row(
        "Ssh2Machine, `true` per command",
        "fresh `ssh host true`",
        compare(
            rounds,
            iters,
            || {
                assert!(fresh_ssh()
                    .arg("true")
                    .stdin(Stdio::null())
                    .status()
                    .unwrap()
                    .success())
            },
            || sh!(true).on(&m2).run().unwrap(),
        ),
    );
    row(
        "Ssh2Machine, `true` per command",
        "SshMachine, same",
        compare(
            rounds,
            iters * 4,
            || sh!(true).on(&m).run().unwrap(),
            || sh!(true).on(&m2).run().unwrap(),
        ),
    );
    let size = if quick { "50M" } else { "500M" };
    row(
        "SshMachine stdout, `head -c` /dev/zero",
        "fresh `ssh` binary, same command",
        compare(
            if quick { 2 } else { 5 },
            1,
            || {
                let out = fresh_ssh()
                    .args(["head", "-c", size, "/dev/zero"])
                    .stdin(Stdio::null())
                    .output()
                    .unwrap();
                assert!(out.status.success());
            },
            || drop(sh!(head -c $size /dev/zero).on(&m).read_bytes().unwrap()),
        ),
    );
    row(
        "Ssh2Machine stdout, `head -c` /dev/zero",
        "fresh `ssh` binary, same command",
        compare(
            if quick { 2 } else { 5 },
            1,
            || {
                let out = fresh_ssh()
                    .args(["head", "-c", size, "/dev/zero"])
                    .stdin(Stdio::null())
                    .output()
                    .unwrap();
                assert!(out.status.success());
            },
            || drop(sh!(head -c $size /dev/zero).on(&m2).read_bytes().unwrap()),
        ),
    );

    let here = tempfile::tempdir().unwrap();
    let big = here.path().join("big.bin");
    let mb = if quick { 20 } else { 100 };
    std::fs::write(&big, vec![7u8; mb << 20]).unwrap();
    let remote_tmp = sh! { mktemp -d }.on(&m).read().unwrap();
    let dest = std::path::Path::new(&remote_tmp).join("up.bin");
    let scp = || {
        let mut c = Command::new("scp");
        c.args([
            "-q",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-i",
        ])
        .arg(&d.key)
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", d.known_hosts.display()))
        .args(["-P", &d.port.to_string()]);
        c
    };
    row(
        &format!("SshMachine upload, {mb} MB"),
        "fresh `scp`",
        compare(
            if quick { 2 } else { 5 },
            1,
            || {
                let ok = scp()
                    .arg(&big)
                    .arg(format!("{user}@127.0.0.1:{}", dest.display()))
                    .status()
                    .unwrap();
                assert!(ok.success());
            },
            || m.upload(&big, &dest).unwrap(),
        ),
    );
    let back = here.path().join("back.bin");
    row(
        &format!("SshMachine download, {mb} MB"),
        "fresh `scp`",
        compare(
            if quick { 2 } else { 5 },
            1,
            || {
                let ok = scp()
                    .arg(format!("{user}@127.0.0.1:{}", dest.display()))
                    .arg(&back)
                    .status()
                    .unwrap();
                assert!(ok.success());
            },
            || m.download(&dest, &back).unwrap(),
        ),
    );
    row(
        &format!("Ssh2Machine upload, {mb} MB"),
        "fresh `scp`",
        compare(
            if quick { 2 } else { 5 },
            1,
            || {
                let ok = scp()
                    .arg(&big)
                    .arg(format!("{user}@127.0.0.1:{}", dest.display()))
                    .status()
                    .unwrap();
                assert!(ok.success());
            },
            || m2.upload(&big, &dest).unwrap(),
        ),
    );
    row(
        &format!("Ssh2Machine download, {mb} MB"),
        "fresh `scp`",
        compare(
            if quick { 2 } else { 5 },
            1,
            || {
                let ok = scp()
                    .arg(format!("{user}@127.0.0.1:{}", dest.display()))
                    .arg(&back)
                    .status()
                    .unwrap();
                assert!(ok.success());
            },
            || m2.download(&dest, &back).unwrap(),
        ),
    );
    m.path(&remote_tmp).remove().unwrap();
}

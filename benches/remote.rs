//! Remote benchmarks against a loopback sshd, logged in as a user whose login shell is
//! `/bin/sh`: `cargo bench --bench remote`.

mod harness;

use std::process::Stdio;

use harness::{quick, Remotes, Table};
use plumb::prelude::*;

fn main() {
    let r = Remotes::start();
    let (m, m2) = (&r.ssh, &r.ssh2);
    let runs = if quick() { (3, 5) } else { (7, 20) };
    let fresh_true = || {
        assert!(r
            .fresh_ssh()
            .arg("true")
            .stdin(Stdio::null())
            .status()
            .unwrap()
            .success())
    };
    let t = Table::new();
    t.compare(
        "`SshMachine`, `true` per command",
        "fresh `ssh host true`",
        runs,
        fresh_true,
        || sh!(true).on(m).run().unwrap(),
    );
    t.compare(
        "`Ssh2Machine`, `true` per command",
        "fresh `ssh host true`",
        runs,
        fresh_true,
        || sh!(true).on(m2).run().unwrap(),
    );
    t.compare(
        "`Ssh2Machine`, `true` per command",
        "`SshMachine`, same",
        (runs.0, runs.1 * 4),
        || sh!(true).on(m).run().unwrap(),
        || sh!(true).on(m2).run().unwrap(),
    );

    let size = if quick() { "50M" } else { "500M" };
    let big_runs = (if quick() { 2 } else { 5 }, 1);
    let fresh_stdout = || {
        let out = r
            .fresh_ssh()
            .args(["head", "-c", size, "/dev/zero"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success());
    };
    t.compare(
        &format!("`SshMachine` stdout, {size}"),
        "fresh `ssh` binary, same command",
        big_runs,
        fresh_stdout,
        || drop(sh!(head -c $size /dev/zero).on(m).read_bytes().unwrap()),
    );
    t.compare(
        &format!("`Ssh2Machine` stdout, {size}"),
        "fresh `ssh` binary, same command",
        big_runs,
        fresh_stdout,
        || drop(sh!(head -c $size /dev/zero).on(m2).read_bytes().unwrap()),
    );

    let here = tempfile::tempdir().unwrap();
    let big = here.path().join("big.bin");
    let mb = if quick() { 20 } else { 100 };
    std::fs::write(&big, vec![7u8; mb << 20]).unwrap();
    let remote_tmp = sh! { mktemp -d }.on(m).read().unwrap();
    let dest = std::path::Path::new(&remote_tmp).join("up.bin");
    let back = here.path().join("back.bin");
    let scp_up = || {
        assert!(r
            .scp()
            .arg(&big)
            .arg(r.remote_path(&dest))
            .status()
            .unwrap()
            .success())
    };
    let scp_down = || {
        assert!(r
            .scp()
            .arg(r.remote_path(&dest))
            .arg(&back)
            .status()
            .unwrap()
            .success())
    };
    t.compare(
        &format!("`SshMachine::upload`, {mb} MB"),
        "fresh `scp`",
        big_runs,
        scp_up,
        || m.upload(&big, &dest).unwrap(),
    );
    t.compare(
        &format!("`SshMachine::download`, {mb} MB"),
        "fresh `scp`",
        big_runs,
        scp_down,
        || m.download(&dest, &back).unwrap(),
    );
    t.compare(
        &format!("`Ssh2Machine::upload`, {mb} MB"),
        "fresh `scp`",
        big_runs,
        scp_up,
        || m2.upload(&big, &dest).unwrap(),
    );
    t.compare(
        &format!("`Ssh2Machine::download`, {mb} MB"),
        "fresh `scp`",
        big_runs,
        scp_down,
        || m2.download(&dest, &back).unwrap(),
    );
    m.path(&remote_tmp).remove().unwrap();
}

//! Remote benchmarks against a loopback sshd, logged in as a user whose login shell is
//! `/bin/sh`: `cargo bench --bench remote`.

mod harness;

use std::process::Stdio;

use harness::{quick, Remotes, Table};
use plumb::prelude::*;
use plumb::Tunnels;

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

    remote_glob_rows(&t, m2, runs);

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

    let fresh_stdin = || {
        let script = format!(
            "head -c {size} /dev/zero | ssh -o BatchMode=yes -o IdentitiesOnly=yes -i {} -o UserKnownHostsFile={} -p {} {}@127.0.0.1 wc -c",
            r.sshd.key.display(),
            r.sshd.known_hosts.display(),
            r.sshd.port,
            r.user
        );
        assert!(std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdout(Stdio::null())
            .status()
            .unwrap()
            .success());
    };
    t.compare(
        &format!("`SshMachine` stdin, {size}"),
        "fresh `ssh host wc -c` fed by `head`",
        big_runs,
        fresh_stdin,
        || {
            drop(
                (sh!(head -c $size /dev/zero) | sh! { wc -c }.on(m))
                    .read()
                    .unwrap(),
            )
        },
    );
    t.compare(
        &format!("`Ssh2Machine` stdin, {size}"),
        "fresh `ssh host wc -c` fed by `head`",
        big_runs,
        fresh_stdin,
        || {
            drop(
                (sh!(head -c $size /dev/zero) | sh! { wc -c }.on(m2))
                    .read()
                    .unwrap(),
            )
        },
    );

    tunnels(&r, &t);

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
    concurrency(&r);
}

/// A sink on the remote side's loopback (this host) that counts what it receives and
/// answers with the count when the sender half-closes.
fn sink() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for c in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut c = c;
                let n = std::io::copy(&mut c, &mut std::io::sink()).unwrap_or(0);
                let _ = std::io::Write::write_all(&mut c, n.to_string().as_bytes());
            });
        }
    });
    port
}

/// Sends `bytes` through `stream` and waits for the sink's count.
fn push<S: std::io::Read + std::io::Write>(
    mut stream: S,
    bytes: usize,
    half_close: impl FnOnce(&mut S),
) {
    let chunk = vec![0u8; 256 * 1024];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(chunk.len());
        stream.write_all(&chunk[..n]).unwrap();
        left -= n;
    }
    half_close(&mut stream);
    let mut count = String::new();
    stream.read_to_string(&mut count).unwrap();
    assert_eq!(count, bytes.to_string());
}

fn tunnels(r: &Remotes, t: &Table) {
    let port = sink();
    let bytes = if quick() { 50 << 20 } else { 500 << 20 };
    let runs = (if quick() { 2 } else { 5 }, 1);
    // The baseline: `ssh -L` started once, its startup not counted.
    let local_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut forward = r
        .fresh_ssh()
        .arg("-N")
        .arg("-L")
        .arg(format!("127.0.0.1:{local_port}:127.0.0.1:{port}"))
        .spawn()
        .unwrap();
    while std::net::TcpStream::connect(("127.0.0.1", local_port)).is_err() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let tcp = |port: u16| {
        let s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_nodelay(true).unwrap();
        s
    };
    let half_close = |s: &mut std::net::TcpStream| s.shutdown(std::net::Shutdown::Write).unwrap();
    let baseline = || push(tcp(local_port), bytes, half_close);
    let mb = bytes >> 20;
    for (name, m) in [
        ("SshMachine", &r.ssh as &dyn Tunnels),
        ("Ssh2Machine", &r.ssh2 as &dyn Tunnels),
    ] {
        t.compare(
            &format!("`{name}::connect_sock`, {mb} MB"),
            "`ssh -L`",
            runs,
            baseline,
            || {
                push(m.connect_sock(port).unwrap(), bytes, |s| {
                    s.shutdown_write().unwrap()
                })
            },
        );
        let fwd = m.forward_local("127.0.0.1", port).unwrap();
        let fport = fwd.local_addr().port();
        t.compare(
            &format!("`{name}::forward_local`, {mb} MB"),
            "`ssh -L`",
            runs,
            baseline,
            || push(tcp(fport), bytes, half_close),
        );
    }
    let _ = forward.kill();
    let _ = forward.wait();
}

/// Commands per second from 1 to 16 threads on one `Ssh2Machine`.
fn concurrency(r: &Remotes) {
    let per_thread = if quick() { 10 } else { 50 };
    println!();
    println!("| threads on one `Ssh2Machine` | commands/s | speed-up over 1 thread |");
    println!("|---|---|---|");
    let mut one = 0.0;
    for threads in [1usize, 2, 4, 8, 16] {
        let started = std::time::Instant::now();
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    for _ in 0..per_thread {
                        sh!(true).on(&r.ssh2).run().unwrap();
                    }
                });
            }
        });
        let rate = (threads * per_thread) as f64 / started.elapsed().as_secs_f64();
        if threads == 1 {
            one = rate;
        }
        println!("| {threads} | {rate:.0} | {:.2}× |", rate / one);
    }
    println!();
}

/// `printf "%s\n" *.txt` over 10 000 files on the host: plumb's word, expanded by the
/// remote shell, against the same script written by hand.
fn remote_glob_rows(t: &Table, m: &plumb::Ssh2Machine, runs: (usize, usize)) {
    let n = if quick() { 1_000 } else { 10_000 };
    let dir = sh! { mktemp -d }.on(m).read().unwrap();
    sh!(sh -c "cd \"$$0\" && i=0; while [ $$i -lt $$1 ]; do : > f-$$i.txt; : > f-$$i.log; i=$$((i+1)); done" $dir $n)
        .on(m)
        .run()
        .unwrap();
    let count = |out: Vec<u8>| out.iter().filter(|&&b| b == b'\n').count();
    t.compare(
        &format!("`Ssh2Machine`, glob `*.txt` over {n} files"),
        "`sh -c` with the glob, same machine",
        runs,
        || {
            let out = sh!(sh -c "cd \"$$0\" && printf '%s\n' *.txt" $dir)
                .on(m)
                .read_bytes()
                .unwrap();
            assert_eq!(count(out), n);
        },
        || {
            let out = sh!(printf "%s\n" *.txt)
                .on(m)
                .dir(&dir)
                .read_bytes()
                .unwrap();
            assert_eq!(count(out), n);
        },
    );
    sh!(rm -rf $dir).on(m).run().unwrap();
}

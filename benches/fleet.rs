//! Fleets against parallel-ssh and (up to 200 hosts) Fabric: `uname -n` on 50 and 200 logins to one loopback sshd that
//! admits them all (`MaxStartups 2000:30:4000`), every output collected; fresh (connect,
//! run, close) and reuse (run over open connections), for `Ssh2Machine` groups and (up to
//! 200 hosts) `SshMachine` groups, with OpenSSH's default key exchange and with the one
//! libssh2 makes; each client's CPU per run in a table of its own. `cargo bench --bench fleet`, or
//! `scripts/bench-fleet`, which runs it under `ulimit -n 1024`; `--hosts 50,200,500` picks
//! the group sizes.
//!
//! parallel-ssh and Fabric run in a venv this bench makes in `target/` (`pip install
//! parallel-ssh fabric`); Fabric's `ThreadingGroup` has a thread per host;
//! with `pool_size` = hosts; plumb's group runs at most 100 commands at once (each running
//! command holds its output's pipes, and 200 at once would not fit under 1024 open files)
//! and connects with the defaults but `handshakes_per_server`, raised as the server allows.

mod harness;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use harness::{common, quick, Table};
use plumb::{sh, Group};

fn main() {
    let user = common::sshd::sshd().user.clone();
    let d = common::sshd::start_with(user, "MaxStartups 2000:30:4000\nMaxSessions 100\n");
    let python = venv();
    let t = Table::new();
    let counts = hosts();
    let rounds = if quick() { 1 } else { 3 };
    for &n in &counts {
        let answer = |g: &Group| {
            let results = g.output(&sh! {uname -n});
            assert!(results.all_ok(), "{}", results.summary());
        };
        // Fresh and reuse rows for groups that `connect` makes.
        let rows = |kind: &'static str, connect: &dyn Fn() -> Group| {
            let theirs = |mode: &'static str| {
                let (python, d) = (&python, &d);
                move |iters: usize| pssh(python, d, n, mode, iters)
            };
            t.compare_reported(
                &format!("`{kind}` group, {n} hosts, fresh"),
                "parallel-ssh, same",
                (rounds, 1),
                theirs("fresh"),
                with_cpu(kind, n, "fresh", || answer(&connect())),
            );
            let open = connect();
            t.compare_reported(
                &format!("`{kind}` group, {n} hosts, reuse"),
                "parallel-ssh, same",
                (rounds, 3),
                theirs("reuse"),
                with_cpu(kind, n, "reuse", || answer(&open)),
            );
        };
        rows("Ssh2Machine", &|| {
            group(n, |_| common::ssh2_builder_for(&d))
        });
        // Fabric: a Paramiko client and a thread per host; up to 200 hosts, as `SshMachine`.
        if n <= 200 {
            let open = group(n, |_| common::ssh2_builder_for(&d));
            t.compare_reported(
                &format!("`Ssh2Machine` group, {n} hosts, fresh"),
                "Fabric `ThreadingGroup`, same",
                (rounds, 1),
                |iters| peer("fabric_peer.py", &python, &d, n, ("fresh", &[]), iters),
                with_cpu("Ssh2Machine", n, "fresh", || {
                    answer(&group(n, |_| common::ssh2_builder_for(&d)))
                }),
            );
            t.compare_reported(
                &format!("`Ssh2Machine` group, {n} hosts, reuse"),
                "Fabric `ThreadingGroup`, same",
                (rounds, 3),
                |iters| peer("fabric_peer.py", &python, &d, n, ("reuse", &[]), iters),
                with_cpu("Ssh2Machine", n, "reuse", || answer(&open)),
            );
        }
        upload_rows(&t, &python, &d, n, rounds);
        // A master per host: 200 hosts at most under 1024 files.
        if n <= 200 {
            rows("SshMachine", &|| group(n, |_| common::ssh_builder_for(&d)));
            // Like with like: OpenSSH's default key exchange is post-quantum
            // (`mlkem768x25519`, `sntrup761x25519`), which libssh2, and so parallel-ssh,
            // does not offer; most of a fresh master's CPU goes there.
            rows(CURVE25519, &|| {
                group(n, |_| {
                    common::ssh_builder_for(&d).option("KexAlgorithms", "curve25519-sha256")
                })
            });
        }
    }
    println!();
    println!("| peak RSS, largest group | parallel-ssh | plumb (this whole process) |");
    println!("|---|---|---|");
    let mib = |kib: u64| kib as f64 / 1024.0;
    let theirs = mib(PSSH_PEAK_KIB.load(Ordering::Relaxed));
    println!(
        "| {} hosts | {theirs:.0} MiB | {:.0} MiB |",
        counts.iter().max().unwrap_or(&0),
        mib(own_peak_kib())
    );
    cpu_table(&counts);
}

/// The row of `SshMachine`s given the key exchange parallel-ssh's libssh2 makes.
const CURVE25519: &str = "SshMachine` with `KexAlgorithms=curve25519-sha256";

/// Client CPU seconds (user and system) of every run, by who ran (`Ssh2Machine`,
/// `pssh_peer.py`, ...), hosts and mode: the work each client does for the same result,
/// which the server (on this machine, the same one for both) does not blur.
static CPU: Mutex<Vec<(&str, usize, &str, f64)>> = Mutex::new(Vec::new());

fn record_cpu(who: &'static str, n: usize, mode: &'static str, secs: f64) {
    CPU.lock().unwrap().push((who, n, mode, secs));
}

/// `run`, recording the CPU each call of it takes in this process and the children it
/// reaps (an `SshMachine`'s `ssh` master).
fn with_cpu(who: &'static str, n: usize, mode: &'static str, run: impl Fn()) -> impl FnMut() {
    move || {
        let before = own_cpu();
        run();
        record_cpu(who, n, mode, own_cpu() - before);
    }
}

/// The median CPU seconds of `who`'s runs of `n` hosts in `mode`.
fn median_cpu(who: &str, n: usize, mode: &str) -> Option<f64> {
    let mut v: Vec<f64> = (CPU.lock().unwrap().iter())
        .filter(|r| (r.0, r.1, r.2) == (who, n, mode))
        .map(|r| r.3)
        .collect();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied()
}

/// The client CPU of each row that ran: plumb's median against its peer's.
fn cpu_table(counts: &[usize]) {
    println!();
    println!("| client CPU per run (user + system) | baseline | baseline median | plumb median | ratio |");
    println!("|---|---|---|---|---|");
    let pairs = [
        ("Ssh2Machine", "pssh_peer.py", "parallel-ssh"),
        ("Ssh2Machine", "fabric_peer.py", "Fabric `ThreadingGroup`"),
        ("SshMachine", "pssh_peer.py", "parallel-ssh"),
        (CURVE25519, "pssh_peer.py", "parallel-ssh"),
    ];
    for &n in counts {
        for mode in ["fresh", "reuse", "upload"] {
            for (ours, peer, named) in pairs {
                let (Some(o), Some(b)) = (median_cpu(ours, n, mode), median_cpu(peer, n, mode))
                else {
                    continue;
                };
                println!(
                    "| `{ours}` group, {n} hosts, {mode} | {named}, same | {:.0}ms | {:.0}ms | {:.3} |",
                    b * 1e3,
                    o * 1e3,
                    o / b
                );
            }
        }
    }
}

/// CPU seconds used so far by this process and the children it has reaped.
fn own_cpu() -> f64 {
    let secs = |who| {
        // SAFETY: an all-zero rusage is valid; getrusage writes one, which `usage` is.
        let u = unsafe {
            let mut usage: libc::rusage = std::mem::zeroed();
            libc::getrusage(who, &mut usage);
            usage
        };
        let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        tv(u.ru_utime) + tv(u.ru_stime)
    };
    secs(libc::RUSAGE_SELF) + secs(libc::RUSAGE_CHILDREN)
}

/// A file of 64 KiB uploaded to every host of an open group (SFTP, each host's session
/// opened before the clock), against parallel-ssh's `copy_file`: `Ssh2Machine` groups,
/// and `SshMachine` groups up to 200 hosts.
fn upload_rows(t: &Table, python: &Path, d: &common::sshd::Sshd, n: usize, rounds: usize) {
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("payload");
    std::fs::write(&local, vec![b'x'; 64 << 10]).unwrap();
    let remote = PathBuf::from(format!("/tmp/plumb-fleet-upload-{}", std::process::id()));
    let theirs = |iters| {
        peer(
            "pssh_peer.py",
            python,
            d,
            n,
            ("upload", &[local.as_path(), remote.as_path()]),
            iters,
        )
    };
    let (local, remote) = (&local, &remote);
    let ours = |kind: &'static str, g: Group| {
        // 50 copies at once: each holds, here, its local file, its SFTP session's two
        // pipe ends and (`SshMachine`) the master's socket, on top of every machine's
        // idle descriptors, all under 1024.
        let g = g.max_parallel(50);
        let upload = move || {
            let done = g.upload(local, remote);
            let first = done.failures().next().map(|(h, e)| format!("{h}: {e}"));
            assert!(done.all_ok(), "{}: {first:?}", done.summary());
        };
        upload();
        t.compare_reported(
            &format!("`{kind}` group, {n} hosts, upload 64 KiB"),
            "parallel-ssh `copy_file`, same",
            (rounds, 3),
            theirs,
            with_cpu(kind, n, "upload", upload),
        );
    };
    ours("Ssh2Machine", group(n, |_| common::ssh2_builder_for(d)));
    if n <= 200 {
        ours("SshMachine", group(n, |_| common::ssh_builder_for(d)));
    }
    // Every "host" is this one.
    let _ = std::fs::remove_file(remote);
}

/// `n` hosts connected at once, with the server's pace and at most 100 commands at once.
fn group<B: plumb::Connect>(n: usize, builder: impl FnMut(usize) -> B) -> Group {
    Group::new()
        .quiet()
        .max_parallel(n.min(100))
        .handshakes_per_server(n)
        .connect_all((0..n).map(builder))
        .unwrap()
}

/// `--hosts 50,200,500`: the group sizes; 50 and 200 by default, 50 with `--quick`.
fn hosts() -> Vec<usize> {
    let args: Vec<String> = std::env::args().collect();
    let given = args
        .iter()
        .position(|a| a == "--hosts")
        .and_then(|i| args.get(i + 1));
    match given {
        Some(list) => list.split(',').filter_map(|n| n.parse().ok()).collect(),
        None if quick() => vec![50],
        None => vec![50, 200],
    }
}

/// The largest peak RSS of parallel-ssh's processes.
static PSSH_PEAK_KIB: AtomicU64 = AtomicU64::new(0);

/// This process's peak RSS in KiB (Linux reports KiB).
fn own_peak_kib() -> u64 {
    // SAFETY: an all-zero rusage is valid; getrusage writes one, which `usage` is.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage.ru_maxrss as u64
    }
}

/// The time of one parallel-ssh iteration, measured by the Python side.
fn pssh(python: &Path, d: &common::sshd::Sshd, n: usize, mode: &str, iters: usize) -> Duration {
    peer("pssh_peer.py", python, d, n, (mode, &[]), iters)
}

/// The time of one iteration of `script` (a peer in `benches/peers/`), measured by the
/// Python side; its peak RSS kept.
fn peer(
    script: &str,
    python: &Path,
    d: &common::sshd::Sshd,
    n: usize,
    (mode, extra): (&str, &[&Path]),
    iters: usize,
) -> Duration {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("benches/peers")
        .join(script);
    let out = Command::new(python)
        .arg(&script)
        .arg(d.port.to_string())
        .arg(&d.user)
        .arg(&d.key)
        .args([n.to_string(), mode.to_string(), iters.to_string()])
        .args(extra)
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success(), "{} failed", script.display());
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut fields = text.split_whitespace();
    let secs: f64 = fields.next().unwrap().parse().unwrap();
    let peak: u64 = fields.next().unwrap().parse().unwrap();
    let cpu: f64 = fields.next().unwrap().parse().unwrap();
    PSSH_PEAK_KIB.fetch_max(peak, Ordering::Relaxed);
    let who = if script.ends_with("pssh_peer.py") {
        "pssh_peer.py"
    } else {
        "fabric_peer.py"
    };
    record_cpu(who, n, mode_name(mode), cpu);
    Duration::from_secs_f64(secs)
}

/// `mode` as the static name the CPU records keep.
fn mode_name(mode: &str) -> &'static str {
    match mode {
        "fresh" => "fresh",
        "upload" => "upload",
        _ => "reuse",
    }
}

/// A venv with parallel-ssh, made on first use in `target/` (the same one as the files
/// bench's).
fn venv() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-venv");
    let python = dir.join("bin/python");
    let ready = Command::new(&python)
        .args(["-c", "import pssh, fabric"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ready {
        let ok = |c: &mut Command| assert!(c.status().unwrap().success(), "{c:?}");
        if !python.exists() {
            ok(Command::new("python3").args(["-m", "venv"]).arg(&dir));
        }
        ok(Command::new(dir.join("bin/pip")).args(["install", "-q", "parallel-ssh", "fabric"]));
    }
    python
}

//! Tunnels under real clients, side by side with `ssh -N -L` in one run:
//! `cargo bench --bench tunnels`.
//!
//! - redis-benchmark (50 clients, SET and GET) through `forward_local` on both machines,
//!   against the same through `ssh -N -L`, with a Redis server bound to the remote host's
//!   127.0.0.1 (installed with apt when missing, when we are root);
//! - round trips per second of a 1-byte echo through `connect_sock`, against `ssh -L`;
//! - this process's RSS with 200 tunnelled connections open at once.
//!
//! Rounds alternate between the paths and the tables show medians. (500 MB through
//! `connect_sock` and `forward_local` are rows of the `remote` bench.)

mod harness;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use harness::common::sshd::free_port;
use harness::{quick, Remotes};

fn main() {
    let r = Remotes::start();
    let rounds = if quick() { 1 } else { 5 };
    let redis = Redis::start();
    let ssh_l = SshL::start(&r, redis.port);
    let ssh_fwd = r.ssh.forward_local("127.0.0.1", redis.port).unwrap();
    let ssh2_fwd = r.ssh2.forward_local("127.0.0.1", redis.port).unwrap();
    let paths = [
        ("`ssh -N -L`", ssh_l.port),
        ("`SshMachine::forward_local`", ssh_fwd.local_addr().port()),
        ("`Ssh2Machine::forward_local`", ssh2_fwd.local_addr().port()),
    ];
    redis_table(&paths, redis.port, rounds);
    drop(ssh_l);

    let echo = echo_server();
    let ssh_l = SshL::start(&r, echo);
    echo_table(&r, &ssh_l, echo, rounds);
    rss_table(&r, echo);
}

/// redis-benchmark's requests per second for SET and GET through each path, and direct.
fn redis_table(paths: &[(&str, u16)], direct: u16, rounds: usize) {
    let n = if quick() { 5000 } else { 20000 };
    let mut results: Vec<Vec<(f64, f64)>> = vec![Vec::new(); paths.len() + 1];
    for _ in 0..rounds {
        results[paths.len()].push(redis_benchmark(direct, n));
        for (i, (_, port)) in paths.iter().enumerate() {
            results[i].push(redis_benchmark(*port, n));
        }
    }
    let med = |v: &[(f64, f64)]| {
        let mut set: Vec<f64> = v.iter().map(|p| p.0).collect();
        let mut get: Vec<f64> = v.iter().map(|p| p.1).collect();
        set.sort_by(f64::total_cmp);
        get.sort_by(f64::total_cmp);
        (set[set.len() / 2], get[get.len() / 2])
    };
    let base = med(&results[0]);
    println!("| redis-benchmark -c 50 -n {n} | SET req/s | GET req/s | SET ratio to `ssh -L` | GET ratio |");
    println!("|---|---|---|---|---|");
    let (s, g) = med(&results[paths.len()]);
    println!(
        "| direct (no tunnel) | {s:.0} | {g:.0} | {:.2} | {:.2} |",
        s / base.0,
        g / base.1
    );
    for (i, (name, _)) in paths.iter().enumerate() {
        let (s, g) = med(&results[i]);
        println!(
            "| {name} | {s:.0} | {g:.0} | {:.2} | {:.2} |",
            s / base.0,
            g / base.1
        );
    }
    println!();
}

/// SET and GET requests per second through `port`.
fn redis_benchmark(port: u16, n: usize) -> (f64, f64) {
    let out = Command::new("redis-benchmark")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(["-c", "50", "-n", &n.to_string(), "-t", "set,get", "--csv"])
        .stderr(Stdio::null())
        .output()
        .expect("redis-benchmark");
    let text = String::from_utf8_lossy(&out.stdout);
    let rps = |test: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("\"{test}\"")))
            .and_then(|l| l.split(',').nth(1))
            .and_then(|v| v.trim_matches('"').parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no {test} in redis-benchmark's output: {text}"))
    };
    (rps("SET"), rps("GET"))
}

/// Round trips per second of a 1-byte echo: through `ssh -L`, and `connect_sock` on
/// both machines.
fn echo_table(r: &Remotes, ssh_l: &SshL, echo: u16, rounds: usize) {
    let n = if quick() { 500 } else { 5000 };
    let ping = |s: &mut dyn ReadWrite| {
        let started = Instant::now();
        let mut b = [0u8; 1];
        for _ in 0..n {
            s.write_all(b"x").unwrap();
            s.read_exact(&mut b).unwrap();
        }
        n as f64 / started.elapsed().as_secs_f64()
    };
    let mut base = TcpStream::connect(("127.0.0.1", ssh_l.port)).unwrap();
    base.set_nodelay(true).unwrap();
    let mut via_ssh = r.ssh.connect_sock(echo).unwrap();
    let mut via_ssh2 = r.ssh2.connect_sock(echo).unwrap();
    let (mut b, mut s, mut s2) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        b.push(ping(&mut base));
        s.push(ping(&mut via_ssh));
        s2.push(ping(&mut via_ssh2));
    }
    let med = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let b = med(b);
    println!("| 1-byte echo, {n} round trips | round trips/s | ratio to `ssh -L` |");
    println!("|---|---|---|");
    println!("| `ssh -L` | {b:.0} | 1.00 |");
    for (name, v) in [
        ("`SshMachine::connect_sock`", med(s)),
        ("`Ssh2Machine::connect_sock`", med(s2)),
    ] {
        println!("| {name} | {v:.0} | {:.2} |", v / b);
    }
    println!();
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// Opens one connection of a kind.
type Opener<'a> = &'a dyn Fn() -> Box<dyn ReadWrite>;

/// This process's RSS idle, with 200 tunnelled connections open (each having echoed
/// 64 KiB), and after they closed.
fn rss_table(r: &Remotes, echo: u16) {
    let n = if quick() { 50 } else { 200 };
    println!("| {n} connections at once | RSS before | with them open | after they closed |");
    println!("|---|---|---|---|");
    let fwd = r.ssh2.forward_local("127.0.0.1", echo).unwrap();
    let addr = fwd.local_addr();
    let rows: [(&str, Opener); 2] = [
        ("`Ssh2Machine::forward_local`", &|| {
            let s = TcpStream::connect(addr).unwrap();
            s.set_nodelay(true).unwrap();
            Box::new(s)
        }),
        ("`Ssh2Machine::connect_sock`", &|| {
            Box::new(r.ssh2.connect_sock(echo).unwrap())
        }),
    ];
    for (name, open) in rows {
        let before = rss_kib();
        let block = vec![5u8; 64 << 10];
        let mut conns: Vec<Box<dyn ReadWrite>> = (0..n).map(|_| open()).collect();
        for c in &mut conns {
            c.write_all(&block).unwrap();
        }
        let mut back = vec![0u8; block.len()];
        for c in &mut conns {
            c.read_exact(&mut back).unwrap();
        }
        let open_rss = rss_kib();
        drop(conns);
        std::thread::sleep(Duration::from_millis(500));
        let after = rss_kib();
        println!(
            "| {name} | {} MiB | {} MiB | {} MiB |",
            before / 1024,
            open_rss / 1024,
            after / 1024
        );
    }
    println!();
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// An echo server on 127.0.0.1 (the remote host's loopback: the sshd runs here).
fn echo_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for c in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let _ = c.set_nodelay(true);
                let mut r = c.try_clone().unwrap();
                let mut w = c;
                let _ = std::io::copy(&mut r, &mut w);
            });
        }
    });
    port
}

/// A Redis server on a free port of 127.0.0.1, without persistence.
struct Redis {
    port: u16,
    child: Child,
}

impl Redis {
    fn start() -> Redis {
        ensure_redis();
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server");
        wait_listening(port);
        Redis { port, child }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Installs Redis's server and tools when missing (we are root on the bench machine).
fn ensure_redis() {
    let have = |p: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {p}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if have("redis-server") && have("redis-benchmark") {
        return;
    }
    let ok = Command::new("apt-get")
        .args(["install", "-y", "-qq", "redis-server", "redis-tools"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "cannot install redis-server and redis-tools (apt-get, as root)"
    );
}

/// `ssh -N -L`, started once: the baseline, its startup not counted.
struct SshL {
    port: u16,
    child: Child,
}

impl SshL {
    fn start(r: &Remotes, target: u16) -> SshL {
        let port = free_port();
        let child = r
            .fresh_ssh()
            .arg("-N")
            .arg("-L")
            .arg(format!("127.0.0.1:{port}:127.0.0.1:{target}"))
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        wait_listening(port);
        SshL { port, child }
    }
}

impl Drop for SshL {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

//! Remote files against the peers, side by side in one run: `cargo bench --bench files`.
//! Plumbum's `SshMachine` (its persistent shell) and `ParamikoMachine` (Paramiko's SFTP)
//! run in a Python process this bench starts from a venv it makes (`pip install plumbum
//! paramiko`); rounds of theirs and ours alternate, on the same sshd and user.

mod harness;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use harness::{quick, Remotes, Table};
use plumb::prelude::*;
use plumb::{sh, Session};

/// Commands per second from 8 threads sharing one session (8 shells), against one thread
/// (one shell).
fn threads(s: &Session, name: &str, expr: &plumb::Expr) {
    let per_thread = if quick() { 50 } else { 300 };
    let rate = |n: usize| {
        let s = s.max_shells(n);
        sh!(true).on(&s).run().unwrap();
        let started = std::time::Instant::now();
        std::thread::scope(|scope| {
            for _ in 0..n {
                let s = s.clone();
                scope.spawn(move || {
                    for _ in 0..per_thread {
                        expr.on(&s).run().unwrap();
                    }
                });
            }
        });
        (n * per_thread) as f64 / started.elapsed().as_secs_f64()
    };
    let one = rate(1);
    let eight = rate(8);
    println!(
        "| `{name}` session, 8 threads vs 1 (`{expr}`) | 1 thread: {one:.0}/s | | 8 threads: {eight:.0}/s | {:.2}× |",
        eight / one
    );
}

/// The Python process that times the peers.
struct Peers {
    _child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
}

impl Peers {
    fn start(settings: &str) -> Peers {
        let python = venv();
        let mut child = Command::new(python)
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/peers/peers.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the peers' Python process");
        let mut input = child.stdin.take().unwrap();
        let mut output = BufReader::new(child.stdout.take().unwrap());
        writeln!(input, "{settings}").unwrap();
        let mut line = String::new();
        output.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready", "the peers did not start");
        Peers {
            _child: child,
            input,
            output,
        }
    }

    /// One iteration of `op` by `peer`, averaged over `iters`.
    fn time(&mut self, peer: &str, op: &str, iters: usize) -> Duration {
        writeln!(self.input, "{peer} {op} {iters}").unwrap();
        let mut line = String::new();
        self.output.read_line(&mut line).unwrap();
        Duration::from_secs_f64(line.trim().parse().expect("seconds from the peers"))
    }
}

/// A venv with Plumbum and Paramiko, made on first use in `target/`.
fn venv() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-venv");
    let python = dir.join("bin/python");
    let ready = Command::new(&python)
        .args(["-c", "import plumbum, paramiko"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ready {
        let ok = |c: &mut Command| assert!(c.status().unwrap().success(), "{c:?}");
        ok(Command::new("python3").args(["-m", "venv"]).arg(&dir));
        ok(Command::new(dir.join("bin/pip")).args(["install", "-q", "plumbum", "paramiko"]));
    }
    python
}

fn main() {
    let r = Remotes::start();
    let (m, m2) = (&r.ssh, &r.ssh2);
    let dir = m.temp_dir().unwrap();
    let small = dir.join("small.txt");
    small.write([b'x'; 4096]).unwrap();
    let many = dir.join("many");
    many.create_dir_all().unwrap();
    let names: Vec<String> = (0..1000).map(|i| format!("entry-{i:04}")).collect();
    plumb::sh!(touch $[names])
        .on(&m.with_dir(many.as_path()))
        .run()
        .unwrap();
    let here = tempfile::tempdir().unwrap();
    let mb = if quick() { 10 } else { 100 };
    let big_local = here.path().join("big.bin");
    std::fs::write(&big_local, vec![7u8; mb << 20]).unwrap();
    let big_remote = dir.join("big.bin");
    let big_back = here.path().join("back.bin");
    let out = dir.join("out.txt");

    let settings = format!(
        r#"{{"user": "{}", "port": {}, "key": "{}", "known_hosts": "{}", "small": "{}", "out": "{}", "many": "{}", "big_local": "{}", "big_remote": "{}", "big_back": "{}"}}"#,
        r.user,
        r.sshd.port,
        r.sshd.key.display(),
        r.sshd.known_hosts.display(),
        small,
        out,
        many,
        big_local.display(),
        big_remote,
        big_back.display(),
    );
    let mut peers = Peers::start(&settings);
    let t = Table::new();
    let runs = if quick() { (3, 10) } else { (9, 50) };
    let slow = if quick() { (3, 3) } else { (7, 10) };
    let bulk = if quick() { (2, 1) } else { (5, 1) };
    let data = [b'x'; 4096];

    // Each row twice: `Ssh2Machine` against Paramiko (`ParamikoMachine`, its SFTP for
    // files), `SshMachine` against Plumbum's `SshMachine`; `op` is the peers' operation.
    let mut row = |what: &str, op: &str, runs, ours2: &mut dyn FnMut(), ours: &mut dyn FnMut()| {
        let session = op.starts_with("session");
        let (p2, p) = if session {
            (
                "`ParamikoMachine.session().run`",
                "Plumbum `SshMachine.session().run`",
            )
        } else {
            (
                "Paramiko SFTP (`ParamikoMachine`), same",
                "Plumbum `SshMachine`, same",
            )
        };
        t.compare_reported(
            &format!("`Ssh2Machine` {what}"),
            p2,
            runs,
            |n| peers.time("paramiko", op, n),
            ours2,
        );
        t.compare_reported(
            &format!("`SshMachine` {what}"),
            p,
            runs,
            |n| peers.time("plumbum_ssh", op, n),
            ours,
        );
    };
    let (sess2, sess) = (m2.session(), m.session());
    row(
        "session `true`",
        "session_true",
        runs,
        &mut || sh!(true).on(&sess2).run().unwrap(),
        &mut || sh!(true).on(&sess).run().unwrap(),
    );
    row(
        "session `/bin/true`",
        "session_bin_true",
        runs,
        &mut || sh!(/bin/true).on(&sess2).run().unwrap(),
        &mut || sh!(/bin/true).on(&sess).run().unwrap(),
    );
    for expr in [sh!(true), sh!(/bin/true), sh!(sleep 0.02)] {
        threads(&sess2, "Ssh2Machine", &expr);
        threads(&sess, "SshMachine", &expr);
    }
    let s2 = m2.path(small.as_path());
    let s = m.path(small.as_path());
    row(
        "`exists()`",
        "exists",
        runs,
        &mut || assert!(s2.exists().unwrap()),
        &mut || assert!(s.exists().unwrap()),
    );
    row(
        "`metadata()`",
        "stat",
        runs,
        &mut || assert!(s2.metadata().unwrap().is_file()),
        &mut || assert!(s.metadata().unwrap().is_file()),
    );
    row(
        "read 4 KiB",
        "read4k",
        runs,
        &mut || drop(s2.read().unwrap()),
        &mut || drop(s.read().unwrap()),
    );
    let (o2, o) = (m2.path(out.as_path()), m.path(out.as_path()));
    row(
        "write 4 KiB",
        "write4k",
        runs,
        &mut || o2.write(data).unwrap(),
        &mut || o.write(data).unwrap(),
    );
    let (d2, d) = (m2.path(many.as_path()), m.path(many.as_path()));
    row(
        "`read_dir` of 1 000",
        "listdir",
        slow,
        &mut || assert_eq!(d2.read_dir().unwrap().len(), 1000),
        &mut || assert_eq!(d.read_dir().unwrap().len(), 1000),
    );
    row(
        &format!("upload {mb} MB"),
        "upload",
        bulk,
        &mut || m2.upload(&big_local, big_remote.as_path()).unwrap(),
        &mut || m.upload(&big_local, big_remote.as_path()).unwrap(),
    );
    row(
        &format!("download {mb} MB"),
        "download",
        bulk,
        &mut || m2.download(big_remote.as_path(), &big_back).unwrap(),
        &mut || m.download(big_remote.as_path(), &big_back).unwrap(),
    );
}

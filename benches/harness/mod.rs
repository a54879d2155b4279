//! The benchmark harness: each comparison runs its baseline and plumb side by side, in
//! alternating rounds in the same process, and reports the median round of each and their
//! ratio (plumb / baseline; below 1 is faster), so that the noise of a shared machine hits
//! both sides alike. `--quick` shrinks every run for a smoke test.
#![allow(dead_code)]

// The tests' loopback sshd and machine builders, so that benchmarks log in exactly as the
// tests do.
#[path = "../../tests/it/common/mod.rs"]
pub mod common;

use std::time::{Duration, Instant};

use plumb::prelude::*;

pub fn quick() -> bool {
    std::env::args().any(|a| a == "--quick")
}

/// `--only TEXT`: run just the comparisons whose name contains TEXT.
fn only() -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1).cloned())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// A table of comparisons, printed as Markdown as rows arrive.
pub struct Table;

impl Table {
    pub fn new() -> Table {
        println!("| comparison | baseline | baseline median | plumb median | ratio |");
        println!("|---|---|---|---|---|");
        Table
    }

    /// Runs `rounds` alternating rounds of `iters` runs of each side and prints the row.
    pub fn compare(
        &self,
        name: &str,
        baseline: &str,
        (rounds, iters): (usize, usize),
        mut base: impl FnMut(),
        mut ours: impl FnMut(),
    ) {
        if only().is_some_and(|o| !name.contains(&o)) {
            return;
        }
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
        self.row(name, baseline, b, o);
    }

    /// Like [`compare`](Table::compare), for a baseline that times itself (another
    /// process): `base(iters)` returns the time of one iteration.
    pub fn compare_reported(
        &self,
        name: &str,
        baseline: &str,
        (rounds, iters): (usize, usize),
        mut base: impl FnMut(usize) -> Duration,
        mut ours: impl FnMut(),
    ) {
        if only().is_some_and(|o| !name.contains(&o)) {
            return;
        }
        let (mut b, mut o) = (Vec::new(), Vec::new());
        base(1);
        ours();
        for _ in 0..rounds {
            b.push(base(iters));
            let t = Instant::now();
            (0..iters).for_each(|_| ours());
            o.push(t.elapsed() / iters as u32);
        }
        self.row(name, baseline, b, o);
    }

    fn row(&self, name: &str, baseline: &str, b: Vec<Duration>, o: Vec<Duration>) {
        let (b, o) = (median(b), median(o));
        println!(
            "| {name} | {baseline} | {b:.1?} | {o:.1?} | {:.3} |",
            o.as_secs_f64() / b.as_secs_f64()
        );
    }
}

/// A loopback sshd and both remote machines on it, logged in as a user whose login shell
/// is `/bin/sh` (made when we are root: root's login shell reads `.bashrc`).
pub struct Remotes {
    pub sshd: &'static common::sshd::Sshd,
    pub user: String,
    pub ssh: SshMachine,
    pub ssh2: Ssh2Machine,
}

impl Remotes {
    pub fn start() -> Remotes {
        let d = common::sshd::sshd();
        Remotes {
            sshd: d,
            user: d.user.clone(),
            ssh: common::ssh_builder().connect().unwrap(),
            ssh2: common::ssh2_builder().connect().unwrap(),
        }
    }

    /// The `ssh` binary with the fixture's key and host key, no multiplexing: what a
    /// script would otherwise run per command.
    pub fn fresh_ssh(&self) -> std::process::Command {
        let mut c = std::process::Command::new("ssh");
        self.key_args(&mut c);
        c.args(["-p", &self.sshd.port.to_string()])
            .arg(format!("{}@127.0.0.1", self.user));
        c
    }

    /// `scp` with the same options (the port flag is `-P`).
    pub fn scp(&self) -> std::process::Command {
        let mut c = std::process::Command::new("scp");
        c.arg("-q");
        self.key_args(&mut c);
        c.args(["-P", &self.sshd.port.to_string()]);
        c
    }

    /// `user@127.0.0.1:path` for scp.
    pub fn remote_path(&self, path: &std::path::Path) -> String {
        format!("{}@127.0.0.1:{}", self.user, path.display())
    }

    fn key_args(&self, c: &mut std::process::Command) {
        c.args(["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-i"])
            .arg(&self.sshd.key)
            .arg("-o")
            .arg(format!(
                "UserKnownHostsFile={}",
                self.sshd.known_hosts.display()
            ));
    }
}

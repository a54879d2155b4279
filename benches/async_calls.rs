//! The async calls (cargo feature `tokio`): `cargo bench --features tokio --bench async`.
//!
//! Many commands in flight at once, awaited on one current-thread runtime: 1000 local
//! `sleep 1` against tokio's own `tokio::process::Command`, and 1000 `true` on one
//! `Ssh2Machine` against the same 1000 through the blocking API from 8 threads. Each row
//! also reports the most threads this process had while plumb's side ran.

mod harness;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use harness::{common, quick, Table};
use plumb::prelude::*;

fn main() {
    let n = if quick() { 200 } else { 1000 };
    let rounds = if quick() { 1 } else { 3 };
    let t = Table::new();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let peak = Arc::new(AtomicUsize::new(0));
    // A first remote connection raises the soft limit of open files for both sides.
    let d = common::sshd::start_with(common::sshd::sshd().user.clone(), "MaxSessions 2000\n");
    let m = common::ssh2_builder_for(&d).connect().unwrap();
    t.compare(
        &format!("{n} concurrent local `sleep 1`, `run_async`"),
        &format!("{n} `tokio::process::Command` `status()`"),
        (rounds, 1),
        || rt.block_on(tokio_sleeps(n)),
        || rt.block_on(watched(&peak, plumb_sleeps(n))),
    );
    println!(
        "| threads, most while plumb's {n} local commands ran | | | {} | |",
        take(&peak)
    );
    t.compare(
        &format!("{n} concurrent `true` on one `Ssh2Machine`, `run_async`"),
        &format!("{n} `run()` from 8 threads"),
        (rounds, 1),
        || from_threads(&m, n, 8),
        || rt.block_on(watched(&peak, remote_trues(&m, n))),
    );
    println!(
        "| threads, most while plumb's {n} remote commands ran | | | {} | |",
        take(&peak)
    );
}

async fn tokio_sleeps(n: usize) {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        set.spawn(async {
            let status = tokio::process::Command::new("sleep")
                .arg("1")
                .status()
                .await;
            assert!(status.unwrap().success());
        });
    }
    set.join_all().await;
}

async fn plumb_sleeps(n: usize) {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        set.spawn(sh!(sleep 1).run_async());
    }
    for r in set.join_all().await {
        r.unwrap();
    }
}

async fn remote_trues(m: &Ssh2Machine, n: usize) {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        set.spawn(sh!(true).on(m).run_async());
    }
    for r in set.join_all().await {
        r.unwrap();
    }
}

fn from_threads(m: &Ssh2Machine, n: usize, threads: usize) {
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                while next.fetch_add(1, Ordering::SeqCst) < n {
                    sh!(true).on(m).run().unwrap();
                }
            });
        }
    });
}

/// Runs `work`, sampling this process's thread count every 20 ms on the same runtime.
async fn watched(peak: &AtomicUsize, work: impl std::future::Future<Output = ()>) {
    let start = Instant::now();
    let mut work = std::pin::pin!(work);
    loop {
        peak.fetch_max(threads(), Ordering::SeqCst);
        let tick = tokio::time::sleep(Duration::from_millis(20));
        tokio::select! {
            () = &mut work => break,
            () = tick => {}
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the run took too long"
        );
    }
}

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count())
}

fn take(peak: &AtomicUsize) -> usize {
    peak.swap(0, Ordering::SeqCst)
}

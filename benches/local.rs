//! Local benchmarks as ratios against a baseline run side by side in the same process:
//! `cargo bench --bench local`.
//!
//! Each comparison alternates rounds of the baseline and of plumb and reports the median
//! round time of each and their ratio (plumb / baseline; below 1 is faster), so that the
//! noise of a shared machine hits both sides alike.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use plumb::prelude::*;

struct Row {
    name: &'static str,
    baseline: &'static str,
    base: Duration,
    ours: Duration,
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// `rounds` alternating rounds of `iters` runs each.
fn compare(
    name: &'static str,
    baseline: &'static str,
    rounds: usize,
    iters: usize,
    mut base: impl FnMut(),
    mut ours: impl FnMut(),
) -> Row {
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
    Row {
        name,
        baseline,
        base: median(b),
        ours: median(o),
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (rounds, iters) = if quick { (5, 20) } else { (15, 100) };
    let mut rows = Vec::new();

    rows.push(compare(
        "spawn `true`, run()",
        "std::process::Command::status",
        rounds,
        iters,
        || assert!(Command::new("true").status().unwrap().success()),
        || sh!(true).run().unwrap(),
    ));
    rows.push(compare(
        "spawn `true`, output()",
        "std::process::Command::output",
        rounds,
        iters,
        || assert!(Command::new("true").output().unwrap().status.success()),
        || drop(sh!(true).output().unwrap()),
    ));
    rows.push(compare(
        "spawn `true`, run()",
        "duct::cmd!(\"true\").run()",
        rounds,
        iters,
        || drop(duct::cmd!("true").run().unwrap()),
        || sh!(true).run().unwrap(),
    ));

    let size = if quick { "100M" } else { "1G" };
    let script = format!("head -c {size} /dev/zero | tr '\\0' a | wc -c");
    rows.push(compare(
        "3-stage pipeline, 1 GB",
        "sh -c, same pipeline",
        if quick { 3 } else { 7 },
        1,
        || {
            let out = Command::new("sh")
                .arg("-c")
                .arg(&script)
                .stderr(Stdio::inherit())
                .output()
                .unwrap();
            assert!(out.status.success());
        },
        || {
            drop(
                sh!(head -c $size /dev/zero | tr "\\0" a | wc -c)
                    .read()
                    .unwrap(),
            )
        },
    ));

    println!("| comparison | baseline | baseline median | plumb median | ratio |");
    println!("|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {} | {:.1?} | {:.1?} | {:.3} |",
            r.name,
            r.baseline,
            r.base,
            r.ours,
            r.ours.as_secs_f64() / r.base.as_secs_f64()
        );
    }
}

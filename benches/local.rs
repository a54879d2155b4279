//! Local benchmarks: `cargo bench --bench local`.

mod harness;

use std::process::{Command, Stdio};

use harness::{quick, Table};
use plumb::prelude::*;

fn main() {
    let runs = if quick() { (5, 20) } else { (15, 100) };
    let t = Table::new();
    t.compare(
        "spawn `true`, `run()`",
        "`std::process::Command::status`",
        runs,
        || assert!(Command::new("true").status().unwrap().success()),
        || sh!(true).run().unwrap(),
    );
    t.compare(
        "spawn `true`, `output()`",
        "`std::process::Command::output`",
        runs,
        || assert!(Command::new("true").output().unwrap().status.success()),
        || drop(sh!(true).output().unwrap()),
    );
    t.compare(
        "spawn `true`, `run()`",
        "`duct::cmd!(\"true\").run()`",
        runs,
        || drop(duct::cmd!("true").run().unwrap()),
        || sh!(true).run().unwrap(),
    );
    let size = if quick() { "100M" } else { "1G" };
    let script = format!("head -c {size} /dev/zero | tr '\\0' a | wc -c");
    t.compare(
        &format!("3-stage pipeline, {size}"),
        "`sh -c`, same pipeline",
        (if quick() { 3 } else { 7 }, 1),
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
    );
}

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
    glob_rows(&t);
}

/// `printf "%s\n" *.txt` over 10 000 files (1 000 in a quick run): plumb's matcher against
/// the shell's.
fn glob_rows(t: &Table) {
    let n = if quick() { 1_000 } else { 10_000 };
    let dir = tempfile::tempdir().unwrap();
    for i in 0..n {
        std::fs::write(dir.path().join(format!("file-{i:05}.txt")), "").unwrap();
        std::fs::write(dir.path().join(format!("file-{i:05}.log")), "").unwrap();
    }
    let runs = if quick() { (5, 5) } else { (9, 20) };
    t.compare(
        &format!("glob `*.txt` over {n} files"),
        "`sh -c 'printf \"%s\\n\" *.txt'`",
        runs,
        || {
            let out = Command::new("sh")
                .arg("-c")
                .arg("printf '%s\\n' *.txt")
                .current_dir(dir.path())
                .output()
                .unwrap();
            assert_eq!(out.stdout.iter().filter(|&&b| b == b'\n').count(), n);
        },
        || {
            let out = sh!(printf "%s\n" *.txt)
                .dir(dir.path())
                .read_bytes()
                .unwrap();
            assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), n);
        },
    );
}

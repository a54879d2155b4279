//! Peak memory while streaming 1 GB through each machine into a local `wc -c`, and
//! through a remote file's `create()` and `open()` streams: `cargo bench --bench memory`. The bytes of a remote stage pass through this process
//! (the ssh client's pipe, or the ssh2 I/O thread), which must not hold them.

mod harness;

use harness::{quick, Remotes};
use std::io::Write;

use plumb::prelude::*;

/// This process's peak resident set so far, in MiB (`VmHWM`).
fn peak_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        / 1024
}

fn main() {
    let size = if quick() { "100M" } else { "1G" };
    let r = Remotes::start();
    let (ssh, ssh2) = (&r.ssh, &r.ssh2);
    println!("| streamed {size} into local `wc -c` | peak RSS of this process |");
    println!("|---|---|");
    println!("| (before) | {} MiB |", peak_mib());
    let count = (sh!(head -c $size /dev/zero) | sh! { wc -c })
        .read()
        .unwrap();
    println!("| local pipeline ({count} bytes) | {} MiB |", peak_mib());
    let count = (sh!(head -c $size /dev/zero).on(ssh) | sh! { wc -c })
        .read()
        .unwrap();
    println!(
        "| SshMachine -> local ({count} bytes) | {} MiB |",
        peak_mib()
    );
    let count = (sh!(head -c $size /dev/zero).on(ssh2) | sh! { wc -c })
        .read()
        .unwrap();
    println!(
        "| Ssh2Machine -> local ({count} bytes) | {} MiB |",
        peak_mib()
    );
    let count = (sh!(head -c $size /dev/zero) | sh! { wc -c }.on(ssh2))
        .read()
        .unwrap();
    println!(
        "| local -> Ssh2Machine ({count} bytes) | {} MiB |",
        peak_mib()
    );
    let bytes: u64 = if quick() { 100 << 20 } else { 1 << 30 };
    let dir = ssh2.temp_dir().unwrap();
    let file = dir.join("big.bin");
    for (name, m) in [
        ("Ssh2Machine", ssh2.path(file.as_path())),
        ("SshMachine", ssh.path(file.as_path())),
    ] {
        let mut w = m.create().unwrap();
        let block = vec![7u8; 1 << 20];
        for _ in 0..bytes >> 20 {
            w.write_all(&block).unwrap();
        }
        w.finish().unwrap();
        println!(
            "| `create()` on {name}, {bytes} bytes written | {} MiB |",
            peak_mib()
        );
        let n = std::io::copy(&mut m.open().unwrap(), &mut std::io::sink()).unwrap();
        println!(
            "| `open()` on {name}, {n} bytes read | {} MiB |",
            peak_mib()
        );
    }
}

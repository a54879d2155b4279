//! Peak memory while streaming 1 GB through each machine into a local `wc -c`:
//! `cargo bench --bench memory`. The bytes of a remote stage pass through this process
//! (the ssh client's pipe, or the ssh2 I/O thread), which must not hold them.

#[path = "../tests/common/sshd.rs"]
mod sshd;

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
    let size = if std::env::args().any(|a| a == "--quick") {
        "100M"
    } else {
        "1G"
    };
    let user = if sh! { id -un }.read().unwrap() == "root" {
        assert!(sshd::ensure_user("plumbtest", "/bin/sh"));
        "plumbtest".to_string()
    } else {
        sh! { id -un }.read().unwrap()
    };
    let d = sshd::start(user.clone());
    let ssh = SshMachine::builder("127.0.0.1")
        .port(d.port)
        .user(&user)
        .identity_file(&d.key)
        .known_hosts_file(&d.known_hosts)
        .connect()
        .unwrap();
    let ssh2 = Ssh2Machine::builder("127.0.0.1")
        .port(d.port)
        .user(&user)
        .identity_file(&d.key)
        .known_hosts_file(&d.known_hosts)
        .connect()
        .unwrap();
    println!("| streamed {size} into local `wc -c` | peak RSS of this process |");
    println!("|---|---|");
    println!("| (before) | {} MiB |", peak_mib());
    let count = (sh!(head -c $size /dev/zero) | sh! { wc -c })
        .read()
        .unwrap();
    println!("| local pipeline ({count} bytes) | {} MiB |", peak_mib());
    let count = (sh!(head -c $size /dev/zero).on(&ssh) | sh! { wc -c })
        .read()
        .unwrap();
    println!(
        "| SshMachine -> local ({count} bytes) | {} MiB |",
        peak_mib()
    );
    let count = (sh!(head -c $size /dev/zero).on(&ssh2) | sh! { wc -c })
        .read()
        .unwrap();
    println!(
        "| Ssh2Machine -> local ({count} bytes) | {} MiB |",
        peak_mib()
    );
    let count = (sh!(head -c $size /dev/zero) | sh! { wc -c }.on(&ssh2))
        .read()
        .unwrap();
    println!(
        "| local -> Ssh2Machine ({count} bytes) | {} MiB |",
        peak_mib()
    );
}

//! `SshMachine` and the ssh config: an alias from a config file, and jump hosts.

use std::path::Path;

use crate::common::sshd::{self, Sshd};
use plumb::prelude::*;
use plumb::sh;

/// A `Host` block that logs in to `d` as the tests do.
fn host_block(alias: &str, d: &Sshd) -> String {
    format!(
        "Host {alias}\n  HostName 127.0.0.1\n  Port {}\n  User {}\n  IdentityFile {}\n  \
         IdentitiesOnly yes\n  UserKnownHostsFile {}\n  BatchMode yes\n",
        d.port,
        d.user,
        d.key.display(),
        d.known_hosts.display()
    )
}

fn write_config(dir: &Path, blocks: &[String]) -> std::path::PathBuf {
    let path = dir.join("ssh_config");
    std::fs::write(&path, blocks.concat()).unwrap();
    path
}

#[test]
fn an_alias_from_a_config_file() {
    let here = tempfile::tempdir().unwrap();
    let d = sshd::sshd();
    let config = write_config(here.path(), &[host_block("plumb-target", d)]);
    let m = plumb::SshMachine::builder("plumb-target")
        .config_file(&config)
        .connect()
        .unwrap();
    assert_eq!(sh!(echo hi).on(&m).read().unwrap(), "hi");
    assert!(m.name().contains(&d.port.to_string()), "{}", m.name());
    // Without the file, the alias means nothing.
    let err = plumb::SshMachine::builder("plumb-target")
        .no_config()
        .connect()
        .unwrap_err();
    assert!(err.to_string().contains("plumb-target"), "{err}");
}

/// Through two jump hosts in a row. That the path is taken shows in the second hop: with
/// forwarding refused there, the same connection fails.
#[test]
fn a_chain_of_jump_hosts() {
    let here = tempfile::tempdir().unwrap();
    let target = sshd::sshd();
    let user = target.user.clone();
    let first = sshd::start(user.clone());
    let second = sshd::start(user.clone());
    let closed = sshd::start_with(user, "Match all\n    AllowTcpForwarding no\n");
    let config = write_config(
        here.path(),
        &[
            host_block("plumb-target", target),
            host_block("plumb-hop1", &first),
            host_block("plumb-hop2", &second),
            host_block("plumb-closed", &closed),
        ],
    );
    let m = plumb::SshMachine::builder("plumb-target")
        .config_file(&config)
        .jump("plumb-hop1")
        .jump("plumb-hop2")
        .connect()
        .unwrap();
    assert_eq!(sh!(echo through).on(&m).read().unwrap(), "through");
    m.path("/tmp").is_dir().unwrap();
    let err = plumb::SshMachine::builder("plumb-target")
        .config_file(&config)
        .jump("plumb-hop1")
        .jump("plumb-closed")
        .connect()
        .unwrap_err();
    assert_eq!(err.kind(), plumb::ErrorKind::Connect, "{err}");
    let text = err.to_string();
    assert!(text.contains("plumb-closed"), "{text}");
    assert!(text.contains("administratively prohibited"), "{text}");
}

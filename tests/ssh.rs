//! What only the remote machines do: connecting (host keys, authentication, refusals),
//! tunnels, closing. Run against the tests' own sshd on 127.0.0.1.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use common::{ssh_builder, sshd::sshd};
use plumb::prelude::*;
use plumb::{ErrorKind, HostKeyPolicy, SshMachine};

/// A throwaway known_hosts file with `content`.
fn known_hosts(content: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(content.as_bytes()).unwrap();
    f
}

#[test]
fn unknown_host_key_is_refused_by_default() {
    let empty = known_hosts("");
    let err = ssh_builder()
        .known_hosts_file(empty.path())
        .connect()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::HostKey, "{err}");
}

#[test]
fn changed_host_key_is_refused_even_with_accept_new() {
    let other = "AAAAC3NzaC1lZDI1NTE5AAAAIJhFwsqmQ1m8k8kVtVJc3NS8BDR+5rSjm0ISmuLN5OhG";
    let wrong = known_hosts(&format!(
        "[127.0.0.1]:{} ssh-ed25519 {other}\n",
        sshd().port
    ));
    for policy in [HostKeyPolicy::Strict, HostKeyPolicy::AcceptNew] {
        let err = ssh_builder()
            .known_hosts_file(wrong.path())
            .host_key_policy(policy)
            .connect()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::HostKey, "{err}");
    }
}

#[test]
fn accept_new_records_the_key() {
    let empty = known_hosts("");
    let m = ssh_builder()
        .known_hosts_file(empty.path())
        .host_key_policy(HostKeyPolicy::AcceptNew)
        .connect()
        .unwrap();
    assert_eq!(plumb::sh!(echo in).on(&m).read().unwrap(), "in");
    let recorded = std::fs::read_to_string(empty.path()).unwrap();
    assert!(recorded.contains("ssh-ed25519"), "{recorded:?}");
    // Now strict checking accepts it.
    ssh_builder()
        .known_hosts_file(empty.path())
        .connect()
        .unwrap();
}

#[test]
fn wrong_key_is_an_auth_error() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("stranger");
    let ok = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(ok.success());
    let err = ssh_builder().identity_file(&key).connect().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
}

#[test]
fn closed_port_is_a_connect_error() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = SshMachine::builder("127.0.0.1")
        .port(port)
        .connect_timeout(Duration::from_secs(3))
        .connect()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connect, "{err}");
    assert!(err.to_string().contains("refused"), "{err}");
}

#[test]
fn connect_parses_user_host_port() {
    // `connect` takes the destination as one string; the fixture's key and known_hosts come
    // through the environment of ssh here, so only the error kind is checked.
    let d = sshd();
    let err = SshMachine::connect(&format!("nobody-here@127.0.0.1:{}", d.port)).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::HostKey | ErrorKind::Auth),
        "{err}"
    );
    assert_eq!(err.machine(), format!("nobody-here@127.0.0.1:{}", d.port));
}

#[test]
fn a_remote_exit_255_is_not_a_connection_failure() {
    let m = ssh_builder().connect().unwrap();
    let err = plumb::sh!(sh -c "exit 255").on(&m).run().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Exit);
    assert_eq!(err.code(), Some(255));
}

#[test]
fn close_ends_the_master_and_removes_the_socket() {
    let m = ssh_builder().connect().unwrap();
    assert_eq!(plumb::sh!(echo x).on(&m).read().unwrap(), "x");
    let sockets = || {
        std::fs::read_dir(std::env::temp_dir())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with("plumb-ssh-"))
            .count()
    };
    let before = sockets();
    m.close().unwrap();
    assert_eq!(sockets(), before - 1);
    let err = plumb::sh!(echo x).on(&m).read().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connect, "{err}");
    assert_eq!(
        m.connect_sock(22).err().map(|e| e.kind()),
        Some(ErrorKind::Connect)
    );
}

/// An echo server on the remote side's loopback: a local listener, since the remote host is
/// this one.
fn echo_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut c) = conn else { continue };
            thread::spawn(move || {
                let mut buf = [0u8; 4096];
                loop {
                    match c.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if c.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                    }
                }
            });
        }
    });
    port
}

#[test]
fn connect_sock_reaches_a_remote_port() {
    let m = ssh_builder().connect().unwrap();
    let port = echo_server();
    let mut sock = m.connect_sock(port).unwrap();
    sock.write_all(b"ping").unwrap();
    let mut buf = [0u8; 4];
    sock.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");
    let mut other = m.connect_sock_to("localhost", port).unwrap();
    other.write_all(b"pong").unwrap();
    other.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"pong");
}

#[test]
fn forward_local_carries_many_connections() {
    let m = ssh_builder().connect().unwrap();
    let port = echo_server();
    let fwd = m.forward_local("127.0.0.1", port).unwrap();
    let addr = fwd.local_addr();
    let clients: Vec<_> = (0..8)
        .map(|i| {
            thread::spawn(move || {
                let mut c = TcpStream::connect(addr).unwrap();
                let msg = format!("hello {i}").repeat(1000);
                c.write_all(msg.as_bytes()).unwrap();
                c.shutdown(std::net::Shutdown::Write).unwrap();
                let mut back = String::new();
                c.read_to_string(&mut back).unwrap();
                assert_eq!(back, msg);
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    drop(fwd);
    assert!(
        TcpStream::connect(addr).is_err(),
        "the listener outlived the Forward"
    );
}

#[test]
fn forward_remote_reports_the_chosen_port() {
    let m = ssh_builder().connect().unwrap();
    let port = echo_server();
    let fwd = m
        .forward_remote(0, format!("127.0.0.1:{port}").parse().unwrap())
        .unwrap();
    let remote_port = fwd.remote_port();
    assert_ne!(remote_port, 0);
    // A connection to the remote port (on this same host) arrives at our echo server.
    let mut c = TcpStream::connect(("127.0.0.1", remote_port)).unwrap();
    c.write_all(b"around").unwrap();
    let mut buf = [0u8; 6];
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"around");
}

#[test]
fn machine_handles_share_the_connection() {
    let m = ssh_builder().connect().unwrap();
    let tmp = plumb::sh! { mktemp -d }.on(&m).read().unwrap();
    let inside = m.with_dir(&tmp).with_env("WHO", "handle");
    plumb::sh!(sh -c "echo $$WHO > f")
        .on(&inside)
        .run()
        .unwrap();
    assert_eq!(inside.path("f").read_to_string().unwrap(), "handle\n");
    assert_eq!(plumb::sh!(pwd).on(&inside).read().unwrap(), tmp);
    m.path(&tmp).remove().unwrap();
}

#[test]
fn many_threads_share_one_machine() {
    let m = ssh_builder().connect().unwrap();
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let m = m.clone();
            thread::spawn(move || plumb::sh!(echo $i).on(&m).read().unwrap())
        })
        .collect();
    let mut got: Vec<String> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    got.sort();
    assert_eq!(got, ["0", "1", "2", "3", "4", "5", "6", "7"]);
}

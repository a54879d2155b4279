//! What a value keeps alive: a `Tunnel` or `Forward` keeps its machine's connection, as a
//! clone of the machine does, so it works after the machine value that made it is gone;
//! a connection that is cut ends them with an error, never a hang or a silent end. Each
//! body runs on both remote machines.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use crate::common::{self, sshd};
use plumb::prelude::*;
use plumb::{sh, ErrorKind};

#[derive(Clone, Copy, Debug)]
enum Kind {
    Ssh,
    #[cfg(feature = "ssh2")]
    Ssh2,
}

/// A remote machine of `kind` on `d`, as a value of its own type behind the trait both
/// share.
fn connect(kind: Kind, d: &sshd::Sshd) -> Box<dyn RemoteMachine> {
    match kind {
        Kind::Ssh => Box::new(common::ssh_builder_for(d).connect().expect("connect")),
        #[cfg(feature = "ssh2")]
        Kind::Ssh2 => Box::new(common::ssh2_builder_for(d).connect().expect("connect")),
    }
}

/// What the tests need of a remote machine: tunnels, a clone, a name.
trait RemoteMachine: Tunnels + Machine + Send + Sync {
    fn clone_box(&self) -> Box<dyn RemoteMachine>;
}

impl<T: Tunnels + Machine + Clone + Send + Sync + 'static> RemoteMachine for T {
    fn clone_box(&self) -> Box<dyn RemoteMachine> {
        Box::new(self.clone())
    }
}

/// Echoes everything back, on the remote side's loopback (this host).
fn echo_server() -> u16 {
    static PORT: OnceLock<u16> = OnceLock::new();
    *PORT.get_or_init(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        thread::spawn(move || {
            for mut c in listener.incoming().flatten() {
                thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = c.read(&mut buf) {
                        if n == 0 || c.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        port
    })
}

/// One round trip through `stream`.
fn ping(stream: &mut (impl Read + Write), word: &[u8]) {
    stream.write_all(word).unwrap();
    let mut back = vec![0u8; word.len()];
    stream.read_exact(&mut back).unwrap();
    assert_eq!(back, word);
}

fn ping_forward(fwd: &plumb::Forward, word: &[u8]) {
    let mut c = TcpStream::connect(fwd.local_addr()).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    ping(&mut c, word);
}

/// The machine value is dropped at the end of the block; the forward and the tunnel go on.
fn forward_and_tunnel_outlive_the_machine_value(kind: Kind) {
    let port = echo_server();
    let (fwd, mut tunnel) = {
        let m = connect(kind, sshd::sshd());
        (
            m.forward_local("127.0.0.1", port).unwrap(),
            m.connect_sock(port).unwrap(),
        )
    };
    thread::sleep(Duration::from_millis(300));
    for round in 0..3u8 {
        ping_forward(&fwd, &[b'a' + round; 100]);
        ping(&mut tunnel, b"through the tunnel");
    }
    let back = {
        let m = connect(kind, sshd::sshd());
        let remote = m.forward_remote(0, local_echo()).unwrap();
        let port = remote.remote_port();
        drop(m);
        (remote, port)
    };
    // The remote forward still listens on the host (this one) and reaches the local echo.
    let mut c = TcpStream::connect(("127.0.0.1", back.1)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    ping(&mut c, b"back through the remote forward");
}

fn local_echo() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], echo_server()))
}

/// Forwards from many clones of one machine, the clones (and the machine) dropped in an
/// order of their own: every forward keeps working until it is dropped itself.
fn forwards_from_clones_dropped_in_any_order(kind: Kind) {
    let port = echo_server();
    let m = connect(kind, sshd::sshd());
    let mut clones: Vec<Box<dyn RemoteMachine>> = (0..6).map(|_| m.clone_box()).collect();
    let mut forwards: Vec<plumb::Forward> = clones
        .iter()
        .map(|c| c.forward_local("127.0.0.1", port).unwrap())
        .collect();
    drop(m);
    for order in [3usize, 0, 4, 1, 2, 0] {
        let _ = clones.remove(order.min(clones.len() - 1));
        for (i, f) in forwards.iter().enumerate() {
            ping_forward(f, format!("forward {i}").as_bytes());
        }
    }
    assert!(clones.is_empty());
    while let Some(f) = forwards.pop() {
        for (i, f) in forwards.iter().enumerate() {
            ping_forward(f, format!("still {i}").as_bytes());
        }
        drop(f);
    }
}

/// The connection is cut (its sshd stops): a new connection to the forward is closed at
/// once, a tunnel's next read or write fails, the machine's next command is a `Connect`
/// error naming it; nothing hangs.
fn a_cut_connection_ends_them_with_an_error(kind: Kind) {
    let d = sshd::start(sshd::sshd().user.clone());
    let port = echo_server();
    let m = connect(kind, &d);
    let fwd = m.forward_local("127.0.0.1", port).unwrap();
    let mut tunnel = m.connect_sock(port).unwrap();
    ping_forward(&fwd, b"before");
    ping(&mut tunnel, b"before");
    let name = m.name().to_string();
    d.restart();
    let began = Instant::now();
    // A client of the forward: refused, reset or closed, within seconds.
    let outcome = TcpStream::connect(fwd.local_addr()).and_then(|mut c| {
        c.set_read_timeout(Some(Duration::from_secs(20)))?;
        let _ = c.write_all(b"after");
        let mut buf = [0u8; 5];
        c.read(&mut buf)
    });
    assert!(matches!(outcome, Ok(0) | Err(_)), "{outcome:?}");
    let failed = tunnel
        .write_all(b"after")
        .and_then(|()| tunnel.read(&mut [0u8; 5]));
    assert!(matches!(failed, Ok(0) | Err(_)), "{failed:?}");
    let err = sh!(true).on_dyn(shared(&*m)).run().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connect, "{err}");
    assert!(err.to_string().contains(&name), "{err}");
    assert!(began.elapsed() < Duration::from_secs(30), "it hung");
}

/// The machine behind `m`, shared.
fn shared(m: &dyn RemoteMachine) -> Arc<dyn Machine> {
    let boxed: Box<dyn Machine> = m.clone_box();
    Arc::from(boxed)
}

/// What else a program may keep after dropping the machine value: a spawned command, a
/// stream of lines, file streams, a temporary directory. Each holds the connection.
fn handles_and_streams_outlive_the_machine_value(kind: Kind) {
    let (mut handle, lines, mut reader, mut writer, tmp) = {
        let m = shared(&*connect(kind, sshd::sshd()));
        let tmp = m.temp_dir().unwrap();
        tmp.join("in").write("file content").unwrap();
        (
            sh!(sleep 0.5; echo spawned)
                .on_dyn(m.clone())
                .spawn()
                .unwrap(),
            sh!(sleep 0.5; printf "a\nb\n")
                .on_dyn(m.clone())
                .lines()
                .unwrap(),
            tmp.join("in").open().unwrap(),
            tmp.join("out").create().unwrap(),
            tmp,
        )
    };
    thread::sleep(Duration::from_millis(200));
    assert_eq!(handle.wait().unwrap().stdout, b"spawned\n");
    let lines: Vec<String> = lines.map(Result::unwrap).collect();
    assert_eq!(lines, ["a", "b"]);
    let mut content = String::new();
    reader.read_to_string(&mut content).unwrap();
    assert_eq!(content, "file content");
    writer.write_all(b"written later").unwrap();
    writer.finish().unwrap();
    assert_eq!(tmp.join("out").read_to_string().unwrap(), "written later");
    let dir = tmp.as_path().to_path_buf();
    let m = shared(&*connect(kind, sshd::sshd()));
    drop(tmp);
    assert!(!m.path(&dir).exists().unwrap(), "the temp dir stayed");
}

macro_rules! for_both_remotes {
    ($($name:ident),* $(,)?) => {
        mod ssh {
            $( #[test] fn $name() { super::$name(super::Kind::Ssh) } )*
        }
        #[cfg(feature = "ssh2")]
        mod ssh2 {
            $( #[test] fn $name() { super::$name(super::Kind::Ssh2) } )*
        }
    };
}

for_both_remotes!(
    forward_and_tunnel_outlive_the_machine_value,
    forwards_from_clones_dropped_in_any_order,
    a_cut_connection_ends_them_with_an_error,
    handles_and_streams_outlive_the_machine_value,
);

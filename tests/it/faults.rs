//! A connection that is cut or frozen ends every running command and tunnel with an error,
//! in bounded time, never a hang; a new machine works afterwards.

use crate::common;
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::relay::Relay;
use crate::common::sshd::sshd;
use plumb::prelude::*;
#[cfg(feature = "ssh2")]
use plumb::Ssh2Machine;
use plumb::{sh, ErrorKind, HostKeyPolicy};

trait Remote: Machine + Tunnels {}
impl<T: Machine + Tunnels> Remote for T {}

#[derive(Clone, Copy)]
enum Kind {
    Ssh,
    #[cfg(feature = "ssh2")]
    Ssh2,
}

/// A machine through `relay`, with one-second keepalives.
fn through(kind: Kind, relay: &Relay) -> Arc<dyn Remote> {
    through_as(kind, relay, &sshd().user)
}

/// [`through`], logged in as `user`.
fn through_as(kind: Kind, relay: &Relay, user: &str) -> Arc<dyn Remote> {
    let d = sshd();
    match kind {
        Kind::Ssh => Arc::new(
            SshMachine::builder("127.0.0.1")
                .port(relay.port)
                .user(user)
                .identity_file(&d.key)
                .host_key_policy(HostKeyPolicy::Insecure)
                .option("ServerAliveInterval", "1")
                .option("ServerAliveCountMax", "3")
                .connect()
                .unwrap(),
        ),
        #[cfg(feature = "ssh2")]
        Kind::Ssh2 => Arc::new(
            Ssh2Machine::builder("127.0.0.1")
                .port(relay.port)
                .user(user)
                .identity_file(&d.key)
                .host_key_policy(HostKeyPolicy::Insecure)
                .keepalive(Duration::from_secs(1))
                .connect()
                .unwrap(),
        ),
    }
}

/// Runs a long command and a tunnel through a relay, breaks the relay with `fault`, and
/// checks that both fail within `bound`.
fn everything_fails_in_time(kind: Kind, fault: fn(&Relay), bound: Duration) {
    let relay = Relay::start(sshd().port);
    let m = through(kind, &relay);
    let echo = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = echo.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for c in echo.incoming() {
            let Ok(mut c) = c else { continue };
            std::thread::spawn(move || {
                let mut b = [0u8; 1024];
                while let Ok(n) = c.read(&mut b) {
                    if n == 0 || c.write_all(&b[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    let mut sock = m.connect_sock(port).unwrap();
    sock.write_all(b"x").unwrap();
    let mut one = [0u8; 1];
    sock.read_exact(&mut one).unwrap();
    let mut long = sh!(sleep 60).on_dyn(m.clone()).spawn().unwrap();
    // The file session is open too.
    assert!(m.path("/tmp").is_dir().unwrap());
    std::thread::sleep(Duration::from_millis(300));

    let started = Instant::now();
    fault(&relay);
    let err = long.wait().unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Connect | ErrorKind::Protocol),
        "{err}"
    );
    assert!(
        started.elapsed() < bound,
        "the command noticed after {:?}",
        started.elapsed()
    );
    let tunnel_failed =
        sock.write_all(b"y").is_err() || matches!(sock.read(&mut one), Ok(0) | Err(_));
    assert!(tunnel_failed, "the tunnel still works");
    assert!(started.elapsed() < bound + Duration::from_secs(2));
    // New commands and file operations on the dead machine fail at once; a new machine
    // works.
    assert!(sh!(true).on_dyn(m.clone()).run().is_err());
    let err = m.path("/tmp").is_dir().unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Connect | ErrorKind::Protocol),
        "{err}"
    );
    let fresh = through(kind, &Relay::start(sshd().port));
    assert_eq!(sh!(echo back).on_dyn(fresh).read().unwrap(), "back");
}

#[test]
fn ssh_cut() {
    everything_fails_in_time(Kind::Ssh, Relay::cut, Duration::from_secs(10));
}

#[test]
#[cfg(feature = "ssh2")]
fn ssh2_cut() {
    everything_fails_in_time(Kind::Ssh2, Relay::cut, Duration::from_secs(10));
}

#[test]
fn ssh_frozen() {
    everything_fails_in_time(Kind::Ssh, Relay::freeze, Duration::from_secs(10));
}

#[test]
#[cfg(feature = "ssh2")]
fn ssh2_frozen() {
    everything_fails_in_time(Kind::Ssh2, Relay::freeze, Duration::from_secs(10));
}

/// A machine of each kind on `d` (clones kept), with a way to reconnect it.
type Reconnectable = (Arc<dyn Machine>, Box<dyn Fn() -> plumb::Result<()>>);

fn reconnectable(d: &common::sshd::Sshd) -> Vec<Reconnectable> {
    let ssh = common::ssh_builder_for(d).connect().unwrap();
    let again = ssh.clone();
    #[cfg_attr(not(feature = "ssh2"), allow(unused_mut))]
    let mut all: Vec<Reconnectable> = vec![(Arc::new(ssh), Box::new(move || again.reconnect()))];
    #[cfg(feature = "ssh2")]
    {
        let ssh2 = common::ssh2_builder_for(d)
            .keepalive(Duration::from_secs(1))
            .connect()
            .unwrap();
        let again = ssh2.clone();
        all.push((Arc::new(ssh2), Box::new(move || again.reconnect())));
    }
    all
}

/// After the server restarts, running commands fail, and `reconnect()` restores service
/// for every clone of the machine.
#[test]
fn reconnect_after_a_server_restart() {
    let d = common::sshd::start_with(sshd().user.clone(), "MaxSessions 100\n");
    let machines = reconnectable(&d);
    for (m, _) in &machines {
        assert_eq!(sh!(echo before).on(m).read().unwrap(), "before");
        assert!(m.path("/tmp").is_dir().unwrap());
    }
    let mut running = sh!(sleep 60)
        .on(&machines.last().unwrap().0)
        .spawn()
        .unwrap();

    d.restart();
    let err = running.wait().unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Connect | ErrorKind::Protocol),
        "{err}"
    );
    // The old connections are gone...
    let deadline = Instant::now() + Duration::from_secs(10);
    while machines.iter().any(|(m, _)| sh!(true).on(m).run().is_ok()) {
        assert!(
            Instant::now() < deadline,
            "a dead connection still runs commands"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // ...and reconnect() brings them back, for the clones too.
    for (m, reconnect) in &machines {
        reconnect().unwrap();
        assert_eq!(sh!(echo after).on(m).read().unwrap(), "after");
        assert!(m.path("/tmp").is_dir().unwrap());
    }
}

/// A program that ends without cleaning up (no destructors run) or loses its connection
/// leaves no remote processes behind: a watchdog in the job's script ends its process group
/// once the session's sshd process is gone.
fn no_remote_orphans_when_the_connection_goes(kind: Kind, sudo: bool) {
    let relay = Relay::start(sshd().port);
    let m = match sudo {
        // sudo'd commands are root's: the watchdog has sudo relay a TERM to them.
        true => through_as(kind, &relay, crate::sudo::setup()),
        false => through(kind, &relay),
    };
    let mark = common::marker();
    let script = format!("sleep {mark} & sleep {mark}");
    let job = sh!(sh -c $script).on_dyn(m.clone());
    let job = if sudo { job.sudo() } else { job };
    let handle = job.spawn().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !common::survivors(&common::local(), &mark).is_empty(),
        "the job did not start"
    );
    // As at process exit: nothing is dropped, the connection just goes away.
    std::mem::forget(handle);
    std::mem::forget(m);
    relay.cut();
    common::assert_no_survivors(&common::local(), &mark);
}

#[test]
fn ssh_no_remote_orphans_when_the_connection_goes() {
    no_remote_orphans_when_the_connection_goes(Kind::Ssh, false);
}

#[test]
#[cfg(feature = "ssh2")]
fn ssh2_no_remote_orphans_when_the_connection_goes() {
    no_remote_orphans_when_the_connection_goes(Kind::Ssh2, false);
}

#[test]
fn ssh_no_remote_orphans_of_sudo_when_the_connection_goes() {
    no_remote_orphans_when_the_connection_goes(Kind::Ssh, true);
}

#[test]
#[cfg(feature = "ssh2")]
fn ssh2_no_remote_orphans_of_sudo_when_the_connection_goes() {
    no_remote_orphans_when_the_connection_goes(Kind::Ssh2, true);
}

//! What only the remote machines do: connecting (host keys, authentication, refusals),
//! tunnels, closing. Each test body runs for `SshMachine` and `Ssh2Machine`, against the
//! tests' own sshd on 127.0.0.1.

use crate::common;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::common::sshd::sshd;
use plumb::prelude::*;
#[cfg(feature = "ssh2")]
use plumb::Ssh2Machine;
use plumb::{sh, ErrorKind, HostKeyPolicy};

/// A remote machine of either kind.
trait Remote: Machine + Tunnels {}
impl<T: Machine + Tunnels> Remote for T {}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Ssh,
    #[cfg(feature = "ssh2")]
    Ssh2,
}

/// What a test changes from the fixture's defaults.
#[derive(Default)]
struct Opts {
    known_hosts: Option<PathBuf>,
    policy: Option<HostKeyPolicy>,
    identity: Option<PathBuf>,
    port: Option<u16>,
    user: Option<String>,
}

fn connect(kind: Kind, o: Opts) -> plumb::Result<Arc<dyn Remote>> {
    let d = sshd();
    let known = o.known_hosts.unwrap_or_else(|| d.known_hosts.clone());
    let identity = o.identity.unwrap_or_else(|| d.key.clone());
    let port = o.port.unwrap_or(d.port);
    let user = o.user.unwrap_or_else(|| d.user.clone());
    let policy = o.policy.unwrap_or_default();
    let timeout = Duration::from_secs(3);
    Ok(match kind {
        Kind::Ssh => Arc::new(
            SshMachine::builder("127.0.0.1")
                .port(port)
                .user(user)
                .identity_file(identity)
                .known_hosts_file(known)
                .host_key_policy(policy)
                .connect_timeout(timeout)
                .connect()?,
        ),
        #[cfg(feature = "ssh2")]
        Kind::Ssh2 => Arc::new(
            Ssh2Machine::builder("127.0.0.1")
                .port(port)
                .user(user)
                .identity_file(identity)
                .known_hosts_file(known)
                .host_key_policy(policy)
                .connect_timeout(timeout)
                .connect()?,
        ),
    })
}

fn fixture(kind: Kind) -> Arc<dyn Remote> {
    connect(kind, Opts::default()).unwrap()
}

/// Instantiates each test body (a `fn(Kind)`) for both remote machines.
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

/// A throwaway known_hosts file with `content`.
fn known_hosts(content: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(content.as_bytes()).unwrap();
    f
}

fn with_known_hosts(path: &Path, policy: HostKeyPolicy) -> Opts {
    Opts {
        known_hosts: Some(path.to_path_buf()),
        policy: Some(policy),
        ..Opts::default()
    }
}

fn unknown_host_key_is_refused_by_default(kind: Kind) {
    let empty = known_hosts("");
    let err = connect(kind, with_known_hosts(empty.path(), HostKeyPolicy::Strict))
        .err()
        .unwrap();
    assert_eq!(err.kind(), ErrorKind::HostKey, "{err}");
}

fn changed_host_key_is_refused_even_with_accept_new(kind: Kind) {
    let other = "AAAAC3NzaC1lZDI1NTE5AAAAIJhFwsqmQ1m8k8kVtVJc3NS8BDR+5rSjm0ISmuLN5OhG";
    let wrong = known_hosts(&format!(
        "[127.0.0.1]:{} ssh-ed25519 {other}\n",
        sshd().port
    ));
    for policy in [HostKeyPolicy::Strict, HostKeyPolicy::AcceptNew] {
        let err = connect(kind, with_known_hosts(wrong.path(), policy))
            .err()
            .unwrap();
        assert_eq!(err.kind(), ErrorKind::HostKey, "{err}");
        #[cfg(feature = "ssh2")]
        if let Kind::Ssh2 = kind {
            // The error shows the key the server offered.
            assert!(err.to_string().contains("SHA256:"), "{err}");
        }
    }
}

fn accept_new_records_the_key(kind: Kind) {
    let empty = known_hosts("");
    let m = connect(
        kind,
        with_known_hosts(empty.path(), HostKeyPolicy::AcceptNew),
    )
    .unwrap();
    assert_eq!(sh!(echo in).on_dyn(m).read().unwrap(), "in");
    let recorded = std::fs::read_to_string(empty.path()).unwrap();
    assert!(recorded.contains("ssh-ed25519"), "{recorded:?}");
    // Now strict checking accepts it.
    connect(kind, with_known_hosts(empty.path(), HostKeyPolicy::Strict)).unwrap();
}

fn insecure_accepts_any_key(kind: Kind) {
    let empty = known_hosts("");
    let m = connect(
        kind,
        with_known_hosts(empty.path(), HostKeyPolicy::Insecure),
    )
    .unwrap();
    assert_eq!(sh!(echo ok).on_dyn(m).read().unwrap(), "ok");
    assert_eq!(std::fs::read_to_string(empty.path()).unwrap(), "");
}

fn wrong_key_is_an_auth_error(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("stranger");
    let ok = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(ok.success());
    let opts = Opts {
        identity: Some(key),
        ..Opts::default()
    };
    let err = connect(kind, opts).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
}

fn closed_port_is_a_connect_error(kind: Kind) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let opts = Opts {
        port: Some(port),
        ..Opts::default()
    };
    let err = connect(kind, opts).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::Connect, "{err}");
    assert!(err.to_string().contains("refused"), "{err}");
}

fn a_remote_exit_255_is_not_a_connection_failure(kind: Kind) {
    let err = sh!(sh -c "exit 255")
        .on_dyn(fixture(kind))
        .run()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Exit);
    assert_eq!(err.code(), Some(255));
}

fn close_ends_the_connection(kind: Kind) {
    let m = fixture(kind);
    assert_eq!(sh!(echo x).on_dyn(m.clone()).read().unwrap(), "x");
    m.close().unwrap();
    let err = sh!(echo x).on_dyn(m.clone()).read().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connect, "{err}");
    assert_eq!(
        m.connect_sock(22).err().map(|e| e.kind()),
        Some(ErrorKind::Connect)
    );
}

/// A server on the remote side's loopback (a local listener, since the remote host is this
/// one), serving each connection with `serve` on a thread of its own.
fn server(serve: fn(TcpStream)) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for c in listener.incoming().flatten() {
            thread::spawn(move || serve(c));
        }
    });
    port
}

/// Echoes everything back.
fn echo_server() -> u16 {
    server(|mut c| {
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
    })
}

fn connect_sock_reaches_a_remote_port(kind: Kind) {
    let m = fixture(kind);
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
    // Half-close: the far end sees EOF and this end still reads the rest.
    let mut half = m.connect_sock(port).unwrap();
    half.write_all(b"last words").unwrap();
    half.shutdown_write().unwrap();
    let mut rest = String::new();
    half.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "last words");
}

/// The seed's example: a service bound to the remote host's localhost, reached through the
/// connection; once the machine is closed, the stream fails.
fn a_stream_fails_after_close(kind: Kind) {
    let m = fixture(kind);
    let port = echo_server();
    let mut sock = m.connect_sock(port).unwrap();
    sock.write_all(b"hi").unwrap();
    let mut buf = [0u8; 2];
    sock.read_exact(&mut buf).unwrap();
    m.close().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let failed =
            sock.write_all(b"more").is_err() || matches!(sock.read(&mut buf), Ok(0) | Err(_));
        if failed {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the tunnel still works after close()"
        );
    }
}

/// A service that answers and hangs up at once: the remote side closes each channel while
/// this side may still be sending. (Ssh2Machine once sent an EOF after its CLOSE here, and
/// the server dropped the whole connection.)
fn short_tunnels_closed_by_the_remote(kind: Kind) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for c in listener.incoming().flatten() {
            let mut c = c;
            let mut b = [0u8; 4];
            if c.read_exact(&mut b).is_ok() {
                let _ = c.write_all(&b);
            }
        }
    });
    let m = fixture(kind);
    for _ in 0..200 {
        let mut s = m.connect_sock(port).unwrap();
        s.write_all(b"ping").unwrap();
        let mut b = [0u8; 4];
        s.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"ping");
    }
}

fn forward_local_carries_many_connections(kind: Kind) {
    let m = fixture(kind);
    let port = echo_server();
    let fwd = m.forward_local("127.0.0.1", port).unwrap();
    let addr = fwd.local_addr();
    let clients: Vec<_> = (0..16)
        .map(|i| {
            thread::spawn(move || {
                let mut c = TcpStream::connect(addr).unwrap();
                let msg = format!("hello {i}").repeat(10_000);
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

/// 60 clients at once through one forward, each making small request/response round
/// trips, while a bulk stream pushes through the same forward without pause: every small
/// client finishes while the bulk stream still runs (none starves behind it), and the bulk
/// stream's bytes all arrive.
fn forward_local_serves_small_requests_beside_a_bulk_stream(kind: Kind) {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let m = fixture(kind);
    let (echo, sink) = (echo_server(), counting_sink());
    let small_fwd = m.forward_local("127.0.0.1", echo).unwrap();
    let bulk_fwd = m.forward_local("127.0.0.1", sink).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let bulk = {
        let (stop, sent, addr) = (stop.clone(), sent.clone(), bulk_fwd.local_addr());
        thread::spawn(move || {
            let mut c = TcpStream::connect(addr).unwrap();
            let block = vec![9u8; 256 << 10];
            while !stop.load(Ordering::SeqCst) {
                c.write_all(&block).unwrap();
                sent.fetch_add(block.len() as u64, Ordering::SeqCst);
            }
            c.shutdown(std::net::Shutdown::Write).unwrap();
            let mut count = String::new();
            c.read_to_string(&mut count).unwrap();
            count.parse::<u64>().unwrap()
        })
    };
    // The bulk stream is under way before the small clients start.
    while sent.load(Ordering::SeqCst) < 4 << 20 {
        thread::sleep(Duration::from_millis(10));
    }
    let addr = small_fwd.local_addr();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    for i in 0..60 {
        let done = done_tx.clone();
        thread::spawn(move || {
            let mut c = TcpStream::connect(addr).unwrap();
            c.set_nodelay(true).unwrap();
            for j in 0..10 {
                let msg = format!("client {i} request {j}");
                c.write_all(msg.as_bytes()).unwrap();
                let mut back = vec![0u8; msg.len()];
                c.read_exact(&mut back).unwrap();
                assert_eq!(back, msg.as_bytes());
            }
            done.send(i).unwrap();
        });
    }
    drop(done_tx);
    let before = sent.load(Ordering::SeqCst);
    for _ in 0..60 {
        // Generous: a starved client would wait for the bulk stream, which never ends.
        done_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("a small client starved behind the bulk stream");
    }
    assert!(
        sent.load(Ordering::SeqCst) > before,
        "the bulk stream stalled while the small clients ran"
    );
    stop.store(true, Ordering::SeqCst);
    let received = bulk.join().unwrap();
    assert_eq!(received, sent.load(Ordering::SeqCst));
}

/// Counts what it reads and answers the count.
fn counting_sink() -> u16 {
    server(|mut c| {
        let n = std::io::copy(&mut c, &mut std::io::sink()).unwrap_or(0);
        let _ = c.write_all(n.to_string().as_bytes());
    })
}

fn forward_remote_reports_the_chosen_port(kind: Kind) {
    let m = fixture(kind);
    let port = echo_server();
    let fwd = m
        .forward_remote(0, format!("127.0.0.1:{port}").parse().unwrap())
        .unwrap();
    let remote_port = fwd.remote_port();
    assert_ne!(remote_port, 0);
    // A connection to the remote port (on this same host) arrives at our echo server.
    for msg in [&b"around"[..], b"again!"] {
        let mut c = TcpStream::connect(("127.0.0.1", remote_port)).unwrap();
        c.write_all(msg).unwrap();
        let mut buf = [0u8; 6];
        c.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, msg);
    }
}

fn machine_handles_share_the_connection(kind: Kind) {
    let m = fixture(kind);
    let tmp = sh! { mktemp -d }.on_dyn(m.clone()).read().unwrap();
    let dir = m.path(&tmp);
    sh!(sh -c "echo $$WHO > f")
        .on_dyn(m.clone())
        .dir(&tmp)
        .env("WHO", "handle")
        .run()
        .unwrap();
    assert_eq!(dir.join("f").read_to_string().unwrap(), "handle\n");
    dir.remove().unwrap();
}

/// Closing a machine ends the remote processes of commands still running (sshd would let
/// them run on).
fn close_ends_running_remote_commands(kind: Kind) {
    let m = fixture(kind);
    let mark = common::marker();
    let script = format!("sleep {mark} & sleep {mark}");
    let _running = sh!(sh -c $script).on_dyn(m.clone()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !common::survivors(&common::local(), &mark).is_empty(),
        "the job did not start"
    );
    m.close().unwrap();
    common::assert_no_survivors(&common::local(), &mark);
}

fn commands_from_many_threads_overlap(kind: Kind) {
    let m = fixture(kind);
    let started = Instant::now();
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let m = m.clone();
            thread::spawn(move || sh!(sh -c "sleep 1; echo $$0" $i).on_dyn(m).read().unwrap())
        })
        .collect();
    let mut got: Vec<String> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    got.sort();
    assert_eq!(got, ["0", "1", "2", "3", "4", "5", "6", "7"]);
    // One after another they would take 8 s; a loaded machine stretches the overlap.
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "took {:?}",
        started.elapsed()
    );
}

fn big_output_on_both_streams(kind: Kind) {
    let m = fixture(kind);
    // Far beyond the 2 MiB window that stdout and stderr share.
    let out = sh!(sh -c "head -c 20000000 /dev/zero >&2; head -c 20000000 /dev/zero; head -c 5000000 /dev/zero >&2")
        .on_dyn(m)
        .output()
        .unwrap();
    assert_eq!(out.stdout.len(), 20_000_000);
    assert_eq!(out.stderr.len(), 25_000_000);
}

for_both_remotes!(
    unknown_host_key_is_refused_by_default,
    changed_host_key_is_refused_even_with_accept_new,
    accept_new_records_the_key,
    insecure_accepts_any_key,
    wrong_key_is_an_auth_error,
    closed_port_is_a_connect_error,
    a_remote_exit_255_is_not_a_connection_failure,
    close_ends_the_connection,
    connect_sock_reaches_a_remote_port,
    a_stream_fails_after_close,
    short_tunnels_closed_by_the_remote,
    forward_local_carries_many_connections,
    forward_local_serves_small_requests_beside_a_bulk_stream,
    forward_remote_reports_the_chosen_port,
    machine_handles_share_the_connection,
    close_ends_running_remote_commands,
    commands_from_many_threads_overlap,
    big_output_on_both_streams,
);

/// Without a user given, both machines log in as `$USER` (else the passwd entry), and
/// name themselves alike: `user@host:port`.
#[test]
fn the_default_user_and_the_name_are_the_same_on_both() {
    let d = sshd();
    let me = std::env::var("USER").unwrap_or_default();
    let names = [
        SshMachine::builder("127.0.0.1")
            .port(d.port)
            .known_hosts_file(&d.known_hosts)
            .identity_file(&d.key)
            .connect_timeout(Duration::from_secs(3))
            .connect()
            .map(|m| m.name().to_string())
            .unwrap_or_else(|e| e.machine().to_string()),
        #[cfg(feature = "ssh2")]
        Ssh2Machine::builder("127.0.0.1")
            .port(d.port)
            .known_hosts_file(&d.known_hosts)
            .identity_file(&d.key)
            .connect_timeout(Duration::from_secs(3))
            .connect()
            .map(|m| m.name().to_string())
            .unwrap_or_else(|e| e.machine().to_string()),
    ];
    for name in names {
        if !me.is_empty() {
            assert_eq!(name, format!("{me}@127.0.0.1:{}", d.port));
        }
        assert!(!name.is_empty() && name.ends_with(&format!("@127.0.0.1:{}", d.port)));
    }
}

/// `run()` on an `Ssh2Machine` gives the remote command an empty stdin (reading this
/// process's stdin would take a thread that outlives the command and steals later input);
/// `SshMachine` passes the real one. Pinned here: the command sees EOF at once.
#[test]
#[cfg(feature = "ssh2")]
fn ssh2_run_gives_the_command_an_empty_stdin() {
    let m = common::ssh2();
    let dir = sh! {mktemp -d}.on_dyn(m.clone()).read().unwrap();
    let file = format!("{dir}/stdin");
    sh!(sh -c "cat > $$0" $file)
        .on_dyn(m.clone())
        .run()
        .unwrap();
    assert_eq!(m.path(&file).read().unwrap(), b"");
    m.path(&dir).remove().unwrap();
}

/// A refused login keeps what each method said, as the error's source.
#[test]
#[cfg(feature = "ssh2")]
fn ssh2_auth_errors_keep_what_each_method_said() {
    let d = sshd();
    let other = tempfile::tempdir().unwrap();
    let key = other.path().join("id");
    let made = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(made.success());
    let err = common::ssh2_builder()
        .identity_file(&key)
        .connect()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    let source = std::error::Error::source(&err).expect("what the methods said");
    assert!(
        source.to_string().contains(&key.display().to_string()),
        "{source}"
    );
    assert!(
        err.to_string().contains(&format!("user `{}`", d.user)),
        "{err}"
    );
}

/// With `HOME` unset there is no default known_hosts file: a clear error, and no file
/// written in the current directory. Runs alone in a child without `HOME`.
#[test]
#[cfg(feature = "ssh2")]
fn ssh2_without_home_is_a_clear_error() {
    if std::env::var_os("PLUMB_TEST_NO_HOME").is_none() {
        let cwd = tempfile::tempdir().unwrap();
        let name = test_path!(ssh2_without_home_is_a_clear_error);
        assert!(common::run_alone_with(name, |c| {
            c.env("PLUMB_TEST_NO_HOME", "1")
                .env_remove("HOME")
                .current_dir(cwd.path());
        }));
        assert_eq!(std::fs::read_dir(cwd.path()).unwrap().count(), 0);
        return;
    }
    let d = sshd();
    for policy in [HostKeyPolicy::Strict, HostKeyPolicy::AcceptNew] {
        let err = Ssh2Machine::builder("127.0.0.1")
            .port(d.port)
            .user(&d.user)
            .identity_file(&d.key)
            .host_key_policy(policy)
            .connect()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        assert!(err.to_string().contains("$HOME is not set"), "{err}");
    }
}

/// `SshMachine::forward_local` is the master's own forwarding, as `ssh -L`: no `ssh -W`
/// process per connection.
#[test]
fn ssh_forward_local_goes_through_the_master() {
    let m = common::ssh_builder().connect().unwrap();
    let port = echo_server();
    let fwd = m.forward_local("127.0.0.1", port).unwrap();
    let target = format!("127.0.0.1:{port}");
    let mut c = TcpStream::connect(fwd.local_addr()).unwrap();
    c.write_all(b"ping").unwrap();
    let mut back = [0u8; 4];
    c.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"ping");
    let me = std::process::id().to_string();
    let tunnels = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let stat = std::fs::read_to_string(p.join("stat")).unwrap_or_default();
            let ppid = stat
                .rsplit_once(')')
                .map(|(_, r)| r.split_whitespace().nth(1));
            ppid == Some(Some(me.as_str()))
        })
        .filter(|p| {
            // Other tests' tunnels reach other ports.
            let cmdline = std::fs::read(p.join("cmdline")).unwrap_or_default();
            let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
            args.windows(2)
                .any(|w| w[0] == b"-W" && w[1] == target.as_bytes())
        })
        .count();
    // The master carries the connection: no `ssh -W` client of ours.
    assert_eq!(tunnels, 0, "an ssh process per connection");
}

#[test]
fn ssh_close_removes_the_socket_directory() {
    let m = common::ssh_builder().connect().unwrap();
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
}

#[test]
fn connect_parses_user_host_port() {
    let d = sshd();
    let err = SshMachine::connect(&format!("nobody-here@127.0.0.1:{}", d.port)).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::HostKey | ErrorKind::Auth),
        "{err}"
    );
    assert_eq!(err.machine(), format!("nobody-here@127.0.0.1:{}", d.port));
    #[cfg(feature = "ssh2")]
    {
        let err = Ssh2Machine::connect(&format!("nobody-here@127.0.0.1:{}", d.port)).unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::HostKey | ErrorKind::Auth),
            "{err}"
        );
        assert_eq!(err.machine(), format!("nobody-here@127.0.0.1:{}", d.port));
    }
}

/// sshd refuses more sessions per connection than `MaxSessions`: an `Ssh2Machine` queues
/// the extra commands until a channel closes.
#[test]
#[cfg(feature = "ssh2")]
fn ssh2_queues_commands_beyond_max_sessions() {
    let d = common::sshd::start_with(sshd().user.clone(), "MaxSessions 2\n");
    let m = common::ssh2_builder_for(&d).connect().unwrap();
    let threads: Vec<_> = (0..6)
        .map(|i| {
            let m = m.clone();
            thread::spawn(move || sh!(sh -c "sleep 0.3; echo $$0" $i).on(&m).read())
        })
        .collect();
    let mut got: Vec<String> = threads
        .into_iter()
        .map(|t| t.join().unwrap().unwrap())
        .collect();
    got.sort();
    assert_eq!(got, ["0", "1", "2", "3", "4", "5"]);
}

/// A builder takes a whole destination, as `connect` does: `user@host:port`, its parts
/// overridden by the builder's own; the machine's name says each part once.
#[test]
fn a_builder_takes_a_whole_destination() {
    let d = sshd();
    let dest = format!("{}@127.0.0.1:{}", d.user, d.port);
    let ssh = plumb::SshMachine::builder(dest.as_str())
        .identity_file(&d.key)
        .known_hosts_file(&d.known_hosts)
        .connect()
        .unwrap();
    assert_eq!(ssh.name(), dest);
    assert_eq!(sh! { id -un }.on(&ssh).read().unwrap(), d.user);
    #[cfg(feature = "ssh2")]
    {
        let ssh2 = Ssh2Machine::builder(dest.as_str())
            .identity_file(&d.key)
            .known_hosts_file(&d.known_hosts)
            .connect()
            .unwrap();
        assert_eq!(ssh2.name(), dest);
        assert_eq!(sh! { id -un }.on(&ssh2).read().unwrap(), d.user);
    }
    // The builder's port wins over the destination's.
    let err = plumb::SshMachine::builder(dest.as_str())
        .port(common::sshd::free_port())
        .identity_file(&d.key)
        .known_hosts_file(&d.known_hosts)
        .connect()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connect, "{err}");
    assert_eq!(err.to_string().matches('@').count(), 1, "{err}");
}

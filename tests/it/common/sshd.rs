//! A private `sshd` on 127.0.0.1 for the remote tests (and the tour): generated host and
//! client keys in a temp dir, its own config, a free port. Started once per test binary and
//! killed when the binary exits. A test that cannot get it fails loudly.
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

/// Where and how to log in.
pub struct Sshd {
    pub port: u16,
    pub user: String,
    pub key: PathBuf,
    pub known_hosts: PathBuf,
    pub dir: PathBuf,
    config: PathBuf,
    pid: std::sync::atomic::AtomicU32,
}

impl Sshd {
    /// Stops this sshd and its sessions (every connection drops), then starts it again on
    /// the same port with the same keys.
    pub fn restart(&self) {
        let pid = self.pid.load(std::sync::atomic::Ordering::SeqCst);
        for p in std::iter::once(pid).chain(descendants(pid)) {
            // SAFETY: kill(2) on processes of the sshd we started.
            unsafe { libc::kill(p as libc::pid_t, libc::SIGKILL) };
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            assert!(Instant::now() < deadline, "sshd did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
        self.pid.store(
            spawn(&self.config, self.port),
            std::sync::atomic::Ordering::SeqCst,
        );
    }
}

/// The login user: a `/bin/sh` user made for the tests when we are root (root's login runs
/// `.bashrc`), else ourselves.
fn user() -> String {
    let me = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap();
    let me = me.trim().to_string();
    if me != "root" {
        return me;
    }
    ensure_user("plumbtest", "/bin/sh");
    "plumbtest".to_string()
}

/// A user whose login shell is `shell`, made when missing (needs root). Returns whether it
/// can log in.
pub fn ensure_user(name: &str, shell: &str) -> bool {
    let exists = |n: &str| {
        Command::new("id")
            .arg(n)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success()
    };
    if !exists(name) {
        let _ = Command::new("useradd")
            .args(["-m", "-s", shell, name])
            .status();
    }
    if !exists(name) {
        return false;
    }
    let _ = Command::new("usermod")
        .args(["-s", shell, name])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    // sshd refuses accounts whose password field is locked.
    Command::new("usermod")
        .args(["-p", "*", name])
        .status()
        .unwrap()
        .success()
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn keygen(path: &Path) {
    run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path));
}

/// A port nothing listens on at the moment.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn sshd() -> &'static Sshd {
    static SSHD: OnceLock<Sshd> = OnceLock::new();
    SSHD.get_or_init(|| start(user()))
}

/// Starts an sshd that lets `user` log in with a generated key; it lives as long as this
/// process.
pub fn start(user: String) -> Sshd {
    start_with(user, "MaxSessions 100\n")
}

/// Like [`start`], with `extra` lines of sshd configuration.
pub fn start_with(user: String, extra: &str) -> Sshd {
    start_custom(user, extra, true)
}

/// An sshd whose sessions find only BusyBox's tools on their `PATH` (`SetEnv PATH`, a
/// directory of `busybox --install -s` links) and that has no SFTP subsystem: remote
/// files go through POSIX shell scripts there, as on an Alpine or embedded host.
pub fn busybox() -> &'static Sshd {
    static SSHD: OnceLock<Sshd> = OnceLock::new();
    SSHD.get_or_init(|| {
        let bin = std::env::temp_dir().join(format!("plumb-busybox-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&bin);
        std::fs::create_dir_all(&bin).unwrap();
        assert!(
            Path::new("/bin/busybox").exists(),
            "/bin/busybox is missing: run scripts/test, which installs busybox"
        );
        run(Command::new("/bin/busybox")
            .arg("--install")
            .arg("-s")
            .arg(&bin));
        run(Command::new("chmod").arg("755").arg(&bin));
        start_custom(
            user(),
            &format!("MaxSessions 100\nSetEnv PATH={}\n", bin.display()),
            false,
        )
    })
}

/// An sshd with SFTP whose sessions find no programs at all (`PATH` is empty): what
/// works there, works without any remote tool.
pub fn no_tools() -> &'static Sshd {
    static SSHD: OnceLock<Sshd> = OnceLock::new();
    SSHD.get_or_init(|| start_with(user(), "MaxSessions 100\nSetEnv PATH=/nonexistent\n"))
}

/// An sshd, with an SFTP subsystem or without.
pub fn start_custom(user: String, extra: &str, sftp: bool) -> Sshd {
    let d = prepare(user, extra, sftp);
    d.pid.store(
        spawn(&d.config, d.port),
        std::sync::atomic::Ordering::SeqCst,
    );
    d
}

/// An sshd's keys, known_hosts and config, for a free port here; not started.
fn prepare(user: String, extra: &str, sftp: bool) -> Sshd {
    let sshd_bin = Path::new("/usr/sbin/sshd");
    assert!(
        sshd_bin.exists(),
        "/usr/sbin/sshd is missing: run scripts/test, which installs openssh-server"
    );
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("plumb-sshd-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let _ = std::fs::create_dir_all("/run/sshd");
    let (host_key, key) = (dir.join("host_key"), dir.join("client_key"));
    keygen(&host_key);
    keygen(&key);
    std::fs::copy(dir.join("client_key.pub"), dir.join("authorized_keys")).unwrap();
    // The test user must be able to read its authorized_keys.
    run(Command::new("chmod").args(["755"]).arg(&dir));
    run(Command::new("chmod")
        .args(["644"])
        .arg(dir.join("authorized_keys")));
    let port = free_port();
    let host_pub = std::fs::read_to_string(dir.join("host_key.pub")).unwrap();
    let mut fields = host_pub.split_whitespace();
    let (kind, blob) = (fields.next().unwrap(), fields.next().unwrap());
    let known_hosts = dir.join("known_hosts");
    std::fs::write(&known_hosts, format!("[127.0.0.1]:{port} {kind} {blob}\n")).unwrap();
    let config = dir.join("sshd_config");
    std::fs::write(
        &config,
        format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {host}\nPidFile {dir}/sshd.pid\n\
             AuthorizedKeysFile {dir}/authorized_keys\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPermitRootLogin yes\n\
             AllowTcpForwarding yes\nGatewayPorts no\nMaxStartups 100:30:200\n\
             {subsystem}LogLevel {level}\n{extra}",
            subsystem = if sftp {
                "Subsystem sftp /usr/lib/openssh/sftp-server\n"
            } else {
                ""
            },
            host = host_key.display(),
            level = std::env::var("PLUMB_SSHD_LOG").unwrap_or_else(|_| "ERROR".into()),
            dir = dir.display(),
        ),
    )
    .unwrap();
    Sshd {
        config,
        pid: std::sync::atomic::AtomicU32::new(0),
        port,
        user,
        key,
        known_hosts,
        dir,
    }
}

/// An sshd in a network namespace of its own, which no connection from here can reach, and
/// the one way in: a listener here (`gate`) whose every connection is served by `sshd -i`
/// inside that namespace. Through the gate as a jump host, `127.0.0.1:target.port` is
/// the hidden sshd; from here, that address is nothing.
pub struct Hidden {
    /// The hidden sshd (its port is in the namespace); its known_hosts also knows the gate.
    pub target: Sshd,
    /// The gate's port here.
    pub gate: u16,
}

pub fn hidden() -> &'static Hidden {
    static HIDDEN: OnceLock<Hidden> = OnceLock::new();
    HIDDEN.get_or_init(|| {
        let target = prepare(user(), "MaxSessions 100\n", true);
        let gate = TcpListener::bind("127.0.0.1:0").unwrap();
        let gate_port = gate.local_addr().unwrap().port();
        // The gate's sshd has the same host key.
        let known = std::fs::read_to_string(&target.known_hosts).unwrap();
        let entry = known.replace(
            &format!("[127.0.0.1]:{}", target.port),
            &format!("[127.0.0.1]:{gate_port}"),
        );
        std::fs::write(&target.known_hosts, format!("{known}{entry}")).unwrap();
        let (tx, rx) = mpsc::channel();
        let (config, port) = (target.config.clone(), target.port);
        // The thread enters a new network namespace (unshare affects it alone); what it
        // starts runs there, while the gate, bound before, stays here.
        std::thread::spawn(move || {
            enter_own_network();
            run(Command::new("ip").args(["link", "set", "lo", "up"]));
            tx.send(spawn(&config, port)).unwrap();
            for conn in gate.incoming().flatten() {
                let log = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(config.with_file_name("gate.log"))
                    .unwrap();
                let mut cmd = Command::new("/usr/sbin/sshd");
                cmd.arg("-i").arg("-e").arg("-f").arg(&config);
                let fd = std::os::fd::OwnedFd::from(conn);
                cmd.stdin(fd.try_clone().unwrap()).stdout(fd).stderr(log);
                die_with_parent(&mut cmd);
                let _ = cmd.spawn();
            }
        });
        let pid = rx.recv().expect("the hidden sshd did not start");
        target.pid.store(pid, std::sync::atomic::Ordering::SeqCst);
        Hidden {
            target,
            gate: gate_port,
        }
    })
}

/// Moves this thread into a network namespace of its own, where only loopback exists.
#[cfg(target_os = "linux")]
fn enter_own_network() {
    // SAFETY: unshare(2) of this thread's network namespace.
    let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
    assert_eq!(
        rc,
        0,
        "unshare(CLONE_NEWNET): {}",
        std::io::Error::last_os_error()
    );
}

/// Network namespaces are Linux's: the tests of a host only jump hosts reach run there.
#[cfg(not(target_os = "linux"))]
fn enter_own_network() {
    panic!("a host only jump hosts reach needs a Linux network namespace");
}

/// Elsewhere nothing ends it with the test run: the tests run on Linux (`scripts/test`) and
/// only type-check for the other Unixes.
#[cfg(not(target_os = "linux"))]
fn die_with_parent(_cmd: &mut Command) {}

/// Kills `cmd`'s process when the thread that started it ends.
#[cfg(target_os = "linux")]
fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

/// Starts sshd on `config` and waits until it listens on `port`; returns its pid.
fn spawn(config: &Path, port: u16) -> u32 {
    // sshd is started by a thread that lives as long as the process and is killed when the
    // process ends (PR_SET_PDEATHSIG follows the thread that forked it).
    let (tx, rx) = mpsc::channel();
    let cfg = config.to_path_buf();
    std::thread::spawn(move || {
        let mut cmd = Command::new("/usr/sbin/sshd");
        // Its log goes to a file: sessions it forks must not hold the tests' output pipes.
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(cfg.with_file_name("sshd.log"))
            .unwrap();
        cmd.arg("-D").arg("-e").arg("-f").arg(&cfg);
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(log);
        die_with_parent(&mut cmd);
        let child = cmd.spawn();
        let failed = child.is_err();
        tx.send(child.map(|c| c.id()).map_err(|e| e.to_string()))
            .unwrap();
        if !failed {
            loop {
                std::thread::park();
            }
        }
    });
    let pid = rx.recv().unwrap().expect("cannot start /usr/sbin/sshd");
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "sshd did not listen on port {port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    pid
}

/// Every process below `pid`, from `/proc`.
fn descendants(pid: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|p| {
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).ok()?;
            // The field after the parenthesised command name is the state, then the ppid.
            let after = &stat[stat.rfind(')')? + 2..];
            let ppid = after.split_whitespace().nth(1)?.parse().ok()?;
            Some((p, ppid))
        })
        .collect();
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parents
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    found.remove(0);
    found
}

//! Jump hosts and tunnels, the same on both remote machines: the builder's known_hosts
//! file, identity and host key policy reach every jump host (given with `.jump` or by
//! `ProxyJump` in the config), a jump host with a wrong key fails naming it, and a tunnel
//! to a closed port fails when it is opened. Then `SshMachine`'s control directory: one
//! that someone else made, or that others may enter, is never used.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::common::sshd::{self, Sshd};
use plumb::prelude::*;
use plumb::{sh, ErrorKind, Tunnels};

/// A target and two jump hosts that all let in the target's client key, and a known_hosts
/// file of all three in a directory whose name needs quoting at every level (shell, ssh
/// config words, `%` tokens).
struct Chain {
    target: Sshd,
    hops: [Sshd; 2],
    dir: PathBuf,
    known_hosts: PathBuf,
    key: PathBuf,
    /// A client config whose default known_hosts files do not exist: a jump host that
    /// does not use the builder's file knows no key at all.
    config: PathBuf,
}

impl Chain {
    /// `user@127.0.0.1:port` of jump host `i`.
    fn hop(&self, i: usize) -> String {
        format!("{}@127.0.0.1:{}", self.hops[i].user, self.hops[i].port)
    }
}

fn chain() -> &'static Chain {
    static CHAIN: OnceLock<Chain> = OnceLock::new();
    CHAIN.get_or_init(|| {
        let user = sshd::sshd().user.clone();
        let target = sshd::start(user.clone());
        let hops = [sshd::start(user.clone()), sshd::start(user)];
        let dir = std::env::temp_dir().join(format!(
            "plumb hops {} it's 100% \"odd\" $HOME",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let client_pub = std::fs::read_to_string(target.key.with_extension("pub")).unwrap();
        let mut known = std::fs::read_to_string(&target.known_hosts).unwrap();
        for hop in &hops {
            let keys = hop.dir.join("authorized_keys");
            let mut authorized = std::fs::read_to_string(&keys).unwrap();
            authorized.push_str(&client_pub);
            std::fs::write(&keys, authorized).unwrap();
            known.push_str(&std::fs::read_to_string(&hop.known_hosts).unwrap());
        }
        let known_hosts = dir.join("known hosts");
        std::fs::write(&known_hosts, known).unwrap();
        let key = dir.join("client key");
        std::fs::copy(&target.key, &key).unwrap();
        set_mode(&key, 0o600);
        let config = dir.join("ssh config");
        std::fs::write(
            &config,
            "Host *\n  UserKnownHostsFile /nonexistent/plumb/known_hosts\n  \
             GlobalKnownHostsFile /nonexistent/plumb/global_known_hosts\n",
        )
        .unwrap();
        Chain {
            target,
            hops,
            dir,
            known_hosts,
            key,
            config,
        }
    })
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Ssh,
    #[cfg(feature = "ssh2")]
    Ssh2,
}

trait RemoteMachine: Machine + Tunnels {}
impl<T: Machine + Tunnels> RemoteMachine for T {}

/// What a test connects with; the rest is the same for both machines.
struct Via<'a> {
    host: &'a str,
    port: Option<u16>,
    known_hosts: &'a Path,
    jumps: Vec<String>,
}

/// Connects to `via` with the chain's key and client config, on either machine.
fn connect(kind: Kind, via: Via) -> plumb::Result<Arc<dyn RemoteMachine>> {
    let c = chain();
    macro_rules! build {
        ($b:expr) => {{
            let mut b = $b
                .identity_file(&c.key)
                .known_hosts_file(via.known_hosts)
                .host_key_policy(plumb::HostKeyPolicy::Strict)
                .config_file(&c.config)
                .connect_timeout(Duration::from_secs(5));
            if let Some(p) = via.port {
                b = b.port(p);
            }
            for hop in &via.jumps {
                b = b.jump(hop.as_str());
            }
            b
        }};
    }
    Ok(match kind {
        Kind::Ssh => Arc::new(build!(plumb::SshMachine::builder(via.host)).connect()?),
        #[cfg(feature = "ssh2")]
        Kind::Ssh2 => Arc::new(build!(plumb::Ssh2Machine::builder(via.host)).connect()?),
    })
}

macro_rules! on_both_remotes {
    ($($name:ident),* $(,)?) => {
        mod ssh {
            $(
                #[test]
                fn $name() {
                    super::$name(super::Kind::Ssh);
                }
            )*
        }
        #[cfg(feature = "ssh2")]
        mod ssh2 {
            $(
                #[test]
                fn $name() {
                    super::$name(super::Kind::Ssh2);
                }
            )*
        }
    };
}

on_both_remotes!(
    the_builders_known_hosts_reach_every_jump_host,
    the_builders_known_hosts_reach_jump_hosts_from_the_config,
    a_jump_host_with_a_wrong_key_in_the_builders_known_hosts,
    a_tunnel_to_a_closed_port_fails_when_opened,
);

/// Two jump hosts, neither known but in the builder's known_hosts file (the config's
/// default files do not exist), every path with spaces, quotes, `%` and `$`.
fn the_builders_known_hosts_reach_every_jump_host(kind: Kind) {
    let c = chain();
    let m = connect(
        kind,
        Via {
            host: "127.0.0.1",
            port: Some(c.target.port),
            known_hosts: &c.known_hosts,
            jumps: vec![c.hop(0), c.hop(1)],
        },
    )
    .unwrap();
    let m: Arc<dyn Machine> = m;
    assert_eq!(sh!(echo through).on_dyn(m).read().unwrap(), "through");
}

/// `ProxyJump` in the user's config, no `.jump`: the hop still gets the builder's file.
fn the_builders_known_hosts_reach_jump_hosts_from_the_config(kind: Kind) {
    let c = chain();
    let config = c.dir.join(format!("proxy jump config {kind:?}"));
    std::fs::write(
        &config,
        format!(
            "Host plumb-target\n  HostName 127.0.0.1\n  Port {}\n  User {}\n  ProxyJump {}\n\
             Host *\n  UserKnownHostsFile /nonexistent/plumb/known_hosts\n  \
             GlobalKnownHostsFile /nonexistent/plumb/global_known_hosts\n",
            c.target.port,
            c.target.user,
            c.hop(0)
        ),
    )
    .unwrap();
    let m: Arc<dyn Machine> = match kind {
        Kind::Ssh => Arc::new(
            plumb::SshMachine::builder("plumb-target")
                .config_file(&config)
                .identity_file(&c.key)
                .known_hosts_file(&c.known_hosts)
                .connect()
                .unwrap(),
        ),
        #[cfg(feature = "ssh2")]
        Kind::Ssh2 => Arc::new(
            plumb::Ssh2Machine::builder("plumb-target")
                .config_file(&config)
                .identity_file(&c.key)
                .known_hosts_file(&c.known_hosts)
                .connect()
                .unwrap(),
        ),
    };
    assert_eq!(sh!(echo configured).on_dyn(m).read().unwrap(), "configured");
}

/// The builder's file holds another server's key for the first jump host: the failure is
/// a host key one that names that hop and the file whose key differs (a hop reading
/// another file would find no key at all).
fn a_jump_host_with_a_wrong_key_in_the_builders_known_hosts(kind: Kind) {
    let c = chain();
    let (hop, other) = (&c.hops[0], &c.hops[1]);
    let wrong = std::fs::read_to_string(&c.known_hosts)
        .unwrap()
        .replace(&format!("[127.0.0.1]:{}", hop.port), "[127.0.0.1]:1");
    let wrong = wrong.replace(
        &format!("[127.0.0.1]:{}", other.port),
        &format!("[127.0.0.1]:{}", hop.port),
    );
    let file = c.dir.join(format!("wrong known hosts {kind:?}"));
    std::fs::write(&file, wrong).unwrap();
    let Err(err) = connect(
        kind,
        Via {
            host: "127.0.0.1",
            port: Some(c.target.port),
            known_hosts: &file,
            jumps: vec![c.hop(0)],
        },
    ) else {
        panic!("a wrong host key was accepted");
    };
    assert_eq!(err.kind(), ErrorKind::HostKey, "{err}");
    let text = err.to_string();
    assert!(text.contains(&c.hop(0)), "{text}");
    assert!(text.contains("changed"), "{text}");
    assert!(text.contains(&file.display().to_string()), "{text}");
}

/// Nothing listens there: opening the tunnel fails, as a connection failure, at once.
fn a_tunnel_to_a_closed_port_fails_when_opened(kind: Kind) {
    let d = sshd::sshd();
    let m: Arc<dyn RemoteMachine> = match kind {
        Kind::Ssh => Arc::new(crate::common::ssh_builder().connect().unwrap()),
        #[cfg(feature = "ssh2")]
        Kind::Ssh2 => Arc::new(crate::common::ssh2_builder().connect().unwrap()),
    };
    let closed = sshd::free_port();
    let started = Instant::now();
    let Err(err) = m.connect_sock(closed) else {
        panic!("a tunnel to a closed port was opened");
    };
    assert_eq!(err.kind(), ErrorKind::Connect, "{err}");
    let text = err.to_string();
    assert!(text.contains(&format!("127.0.0.1:{closed}")), "{text}");
    assert!(text.contains("connect failed"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(5), "{text}");
    // An open port still works: its sshd's banner.
    let mut tunnel = m.connect_sock(d.port).unwrap();
    let mut banner = [0u8; 7];
    std::io::Read::read_exact(&mut tunnel, &mut banner).unwrap();
    assert_eq!(&banner, b"SSH-2.0");
}

/// The pid and arguments of this process's child `ssh` master whose command line holds
/// `marker`.
fn master(marker: &str) -> (i32, Vec<String>) {
    let me = std::process::id();
    for pid in std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
    {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // The field after the parenthesised command name is the state, then the ppid.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok());
        let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let args: Vec<String> = raw
            .split(|&b| b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if ppid == Some(me)
            && args.iter().any(|a| a.contains(marker))
            && args.contains(&"-M".into())
        {
            return (pid, args);
        }
    }
    panic!("no ssh master with {marker}");
}

/// After the master is lost, `reconnect` starts a new one in the same directory: if that
/// directory was replaced by one that others may enter, or that someone else owns, it is
/// refused and nothing is put in it; once it is gone, a new private one is made.
#[test]
fn ssh_refuses_a_control_directory_it_did_not_make() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let marker = format!("PLUMB_MARK={}", crate::common::marker());
    let m = crate::common::ssh_builder()
        .option("SetEnv", &marker)
        .connect()
        .unwrap();
    let (pid, args) = master(&marker);
    let socket = args.iter().skip_while(|a| *a != "-S").nth(1).unwrap();
    let dir = Path::new(socket).parent().unwrap().to_path_buf();
    assert_eq!(dir.metadata().unwrap().mode() & 0o777, 0o700);
    // SAFETY: kill(2) of the ssh master this test started.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let deadline = Instant::now() + Duration::from_secs(5);
    while sh!(true).on(&m).run().is_ok() {
        assert!(Instant::now() < deadline, "the master is still used");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Someone else's directory at the same path, open to everyone.
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let Err(err) = m.reconnect() else {
        panic!("a directory open to all was used");
    };
    assert!(
        err.to_string().contains(&dir.display().to_string()),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "{err}");
    // Private, but another user's (only root can make one).
    let root = unsafe { libc::geteuid() } == 0;
    if root {
        let other = sshd::sshd().user.clone();
        let uid: u32 = String::from_utf8(
            std::process::Command::new("id")
                .args(["-u", &other])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap()
        .trim()
        .parse()
        .unwrap();
        assert_ne!(uid, 0, "the tests' login user is root");
        std::os::unix::fs::chown(&dir, Some(uid), None).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        let Err(err) = m.reconnect() else {
            panic!("another user's directory was used");
        };
        assert!(
            err.to_string().contains(&dir.display().to_string()),
            "{err}"
        );
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "{err}");
    }
    // Gone: a private one is made again.
    std::fs::remove_dir_all(&dir).unwrap();
    m.reconnect().unwrap();
    assert_eq!(sh!(echo back).on(&m).read().unwrap(), "back");
    let meta = std::fs::symlink_metadata(&dir).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o700);
    assert_eq!(meta.uid(), unsafe { libc::geteuid() });
}

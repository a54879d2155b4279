//! Both remote machines and the OpenSSH client config: an alias from a config file, the
//! builder winning over it, `ProxyJump` and `.jump` chains (into a network nothing here can
//! reach directly), a jump host with a wrong host key, and where each value came from.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::common::{
    self,
    sshd::{self, Sshd},
};
use plumb::prelude::*;
use plumb::{sh, ErrorKind};

/// A `Host` block that logs in to `d` as the tests do.
fn host_block(alias: &str, d: &Sshd) -> String {
    host_block_at(alias, d.port, d)
}

/// A `Host` block for `d`'s user, key and known_hosts, at `port`.
fn host_block_at(alias: &str, port: u16, d: &Sshd) -> String {
    format!(
        "Host {alias}\n  HostName 127.0.0.1\n  Port {port}\n  User {}\n  IdentityFile {}\n  \
         IdentitiesOnly yes\n  UserKnownHostsFile {}\n  BatchMode yes\n",
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

#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Ssh,
    #[cfg(feature = "ssh2")]
    Ssh2,
}

/// A machine with tunnels: either remote machine.
trait RemoteMachine: Machine + plumb::Tunnels {}
impl<T: Machine + plumb::Tunnels> RemoteMachine for T {}

/// Either remote builder, driven the same way.
enum Builder {
    Ssh(plumb::SshBuilder),
    #[cfg(feature = "ssh2")]
    Ssh2(plumb::Ssh2Builder),
}

macro_rules! each {
    ($b:expr, |$x:ident| $e:expr) => {
        match $b {
            Builder::Ssh($x) => Builder::Ssh($e),
            #[cfg(feature = "ssh2")]
            Builder::Ssh2($x) => Builder::Ssh2($e),
        }
    };
}

impl Builder {
    fn new(kind: Kind, host: &str) -> Builder {
        match kind {
            Kind::Ssh => Builder::Ssh(plumb::SshMachine::builder(host)),
            #[cfg(feature = "ssh2")]
            Kind::Ssh2 => Builder::Ssh2(plumb::Ssh2Machine::builder(host)),
        }
    }

    fn config_file(self, path: &Path) -> Builder {
        each!(self, |b| b.config_file(path))
    }

    fn no_config(self) -> Builder {
        each!(self, |b| b.no_config())
    }

    fn jump(self, hop: &str) -> Builder {
        each!(self, |b| b.jump(hop))
    }

    fn port(self, port: u16) -> Builder {
        each!(self, |b| b.port(port))
    }

    fn connect_timeout(self, t: Duration) -> Builder {
        each!(self, |b| b.connect_timeout(t))
    }

    fn connect(self) -> plumb::Result<Arc<dyn Machine>> {
        let m: Arc<dyn RemoteMachine> = self.connect_remote()?;
        Ok(m)
    }

    fn connect_remote(self) -> plumb::Result<Arc<dyn RemoteMachine>> {
        Ok(match self {
            Builder::Ssh(b) => Arc::new(b.connect()?),
            #[cfg(feature = "ssh2")]
            Builder::Ssh2(b) => Arc::new(b.connect()?),
        })
    }
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
    an_alias_from_a_config_file,
    the_builder_wins_over_the_config,
    a_chain_of_jump_hosts,
    into_a_network_only_the_jump_hosts_reach,
    proxy_jump_from_the_config,
    a_jump_host_with_a_wrong_host_key,
);

fn an_alias_from_a_config_file(kind: Kind) {
    let here = tempfile::tempdir().unwrap();
    let d = sshd::sshd();
    let config = write_config(here.path(), &[host_block("plumb-target", d)]);
    let m = Builder::new(kind, "plumb-target")
        .config_file(&config)
        .connect()
        .unwrap();
    assert_eq!(sh!(echo hi).on_dyn(m.clone()).read().unwrap(), "hi");
    assert!(m.name().contains(&d.port.to_string()), "{}", m.name());
    // Without the file, the alias means nothing.
    let err = Builder::new(kind, "plumb-target")
        .no_config()
        .connect_timeout(Duration::from_secs(3))
        .connect()
        .unwrap_err();
    assert!(err.to_string().contains("plumb-target"), "{err}");
}

fn the_builder_wins_over_the_config(kind: Kind) {
    let here = tempfile::tempdir().unwrap();
    let d = sshd::sshd();
    // The config's port is closed; the builder's is right.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let wrong = closed.local_addr().unwrap().port();
    drop(closed);
    let config = write_config(here.path(), &[host_block_at("plumb-target", wrong, d)]);
    let m = Builder::new(kind, "plumb-target")
        .config_file(&config)
        .port(d.port)
        .connect()
        .unwrap();
    assert_eq!(sh!(echo hi).on_dyn(m).read().unwrap(), "hi");
}

/// Through two jump hosts in a row. That the path is taken shows in the second hop: with
/// forwarding refused there, the same connection fails, naming that hop.
fn a_chain_of_jump_hosts(kind: Kind) {
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
    let m = Builder::new(kind, "plumb-target")
        .config_file(&config)
        .jump("plumb-hop1")
        .jump("plumb-hop2")
        .connect()
        .unwrap();
    assert_eq!(
        sh!(echo through).on_dyn(m.clone()).read().unwrap(),
        "through"
    );
    assert!(m.path("/tmp").is_dir().unwrap());
    let err = Builder::new(kind, "plumb-target")
        .config_file(&config)
        .jump("plumb-hop1")
        .jump("plumb-closed")
        .connect()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connect, "{err}");
    let text = err.to_string();
    assert!(text.contains("plumb-closed"), "{text}");
    assert!(text.contains("prohibited"), "{text}");
}

/// The config for the hidden sshd: `plumb-hidden` is reached through `plumb-hop1` (an
/// sshd here), then `plumb-gate` (the only way into its network namespace).
fn hidden_config(dir: &Path, first: &Sshd, proxy_jump: bool) -> std::path::PathBuf {
    let hidden = sshd::hidden();
    let mut target = host_block("plumb-hidden", &hidden.target);
    if proxy_jump {
        target.push_str("  ProxyJump plumb-hop1,plumb-gate\n");
    }
    write_config(
        dir,
        &[
            target,
            host_block("plumb-hop1", first),
            host_block_at("plumb-gate", hidden.gate, &hidden.target),
        ],
    )
}

/// The hidden sshd's address means nothing from here; through the chain, commands,
/// files and tunnels work there as they do directly.
fn into_a_network_only_the_jump_hosts_reach(kind: Kind) {
    let here = tempfile::tempdir().unwrap();
    let first = sshd::start(sshd::sshd().user.clone());
    let config = hidden_config(here.path(), &first, false);
    let direct = Builder::new(kind, "plumb-hidden")
        .config_file(&config)
        .connect_timeout(Duration::from_secs(3))
        .connect();
    assert!(direct.is_err(), "the hidden sshd is reachable directly");
    let remote = Builder::new(kind, "plumb-hidden")
        .config_file(&config)
        .jump("plumb-hop1")
        .jump("plumb-gate")
        .connect_remote()
        .unwrap();
    let m: Arc<dyn Machine> = remote.clone();
    assert_eq!(sh!(echo hidden).on_dyn(m.clone()).read().unwrap(), "hidden");
    let f = common::path_on(&m, "/tmp").join(format!("plumb-hidden-{kind:?}"));
    f.write("through the chain").unwrap();
    assert_eq!(f.read_to_string().unwrap(), "through the chain");
    f.remove().unwrap();
    // A tunnel from there: its own sshd's banner.
    let port = sshd::hidden().target.port;
    let mut tunnel = remote.connect_sock_to("127.0.0.1", port).unwrap();
    let mut banner = [0u8; 7];
    std::io::Read::read_exact(&mut tunnel, &mut banner).unwrap();
    assert_eq!(&banner, b"SSH-2.0");
}

/// `ProxyJump` in the config, and no `.jump` at all.
fn proxy_jump_from_the_config(kind: Kind) {
    let here = tempfile::tempdir().unwrap();
    let first = sshd::start(sshd::sshd().user.clone());
    let config = hidden_config(here.path(), &first, true);
    let m = Builder::new(kind, "plumb-hidden")
        .config_file(&config)
        .connect()
        .unwrap();
    assert_eq!(sh!(echo hidden).on_dyn(m).read().unwrap(), "hidden");
}

fn a_jump_host_with_a_wrong_host_key(kind: Kind) {
    let here = tempfile::tempdir().unwrap();
    let target = sshd::sshd();
    let hop = sshd::start(target.user.clone());
    let other = sshd::start(target.user.clone());
    // The hop's known_hosts holds another server's key for the hop's address.
    let wrong = here.path().join("wrong_known_hosts");
    let other_key = std::fs::read_to_string(&other.known_hosts).unwrap();
    std::fs::write(
        &wrong,
        other_key.replace(&other.port.to_string(), &hop.port.to_string()),
    )
    .unwrap();
    let hop_block = host_block("plumb-hop1", &hop).replace(
        &hop.known_hosts.display().to_string(),
        &wrong.display().to_string(),
    );
    let config = write_config(
        here.path(),
        &[host_block("plumb-target", target), hop_block],
    );
    let err = Builder::new(kind, "plumb-target")
        .config_file(&config)
        .jump("plumb-hop1")
        .connect()
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("plumb-hop1"), "{text}");
    match kind {
        // ssh says so in its words; the kind is a connection failure of the master.
        Kind::Ssh => assert!(text.to_lowercase().contains("host key"), "{text}"),
        #[cfg(feature = "ssh2")]
        Kind::Ssh2 => assert_eq!(err.kind(), ErrorKind::HostKey, "{err}"),
    }
}

/// `Debug` says where each value came from: the builder, the config, or a default.
#[cfg(feature = "ssh2")]
#[test]
fn ssh2_debug_shows_where_values_came_from() {
    let here = tempfile::tempdir().unwrap();
    let d = sshd::sshd();
    let config = write_config(here.path(), &[host_block("plumb-target", d)]);
    let m = plumb::Ssh2Machine::builder("plumb-target")
        .config_file(&config)
        .connect_timeout(Duration::from_secs(7))
        .connect()
        .unwrap();
    let debug = format!("{m:?}");
    for expected in [
        "host_name = 127.0.0.1 (config)".to_string(),
        format!("port = {} (config)", d.port),
        format!("user = {} (config)", d.user),
        format!("identity_file = {} (config)", d.key.display()),
        "connect_timeout = 7s (builder)".to_string(),
        "host_key_policy = Strict (default)".to_string(),
    ] {
        assert!(debug.contains(&expected), "no `{expected}` in {debug}");
    }
}

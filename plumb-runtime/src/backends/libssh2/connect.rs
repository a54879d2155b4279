//! Opening a libssh2 session: TCP, handshake, the host key, authentication. What comes
//! back is a session ready for the I/O thread.

use std::fmt;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ssh2::{HashType, Session};

use super::config::Target;
use super::known_hosts::{self, Lookup, Verdict};
use super::os::{AsRawFd, RawFd, Stream};
use super::tcp;
use super::Ssh2Builder;
use crate::backends::remote::options::home;
use crate::error::{Error, ErrorKind};
use crate::machine::HostKeyPolicy;
use crate::Result;

/// A session that has authenticated, in blocking mode, and its socket (declared after
/// the session: dropped after it).
pub(super) struct Opened {
    pub(super) session: Session,
    pub(super) socket: Link,
}

/// What a session runs over: TCP to the host, or a socket whose other end a jump host's
/// I/O thread pumps to a `direct-tcpip` channel.
pub(super) enum Link {
    Tcp(TcpStream),
    Jump(Stream),
}

/// The session's view of its socket: the number alone, not a duplicate descriptor (one
/// descriptor per connection, not two). The [`Link`] itself stays with whoever holds the
/// session, and must outlive it and its channels, which may still write on drop: the I/O
/// thread's loop declares it last.
struct SocketNumber(RawFd);

#[cfg(unix)]
impl AsRawFd for SocketNumber {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

#[cfg(windows)]
impl std::os::windows::io::AsRawSocket for SocketNumber {
    fn as_raw_socket(&self) -> std::os::windows::io::RawSocket {
        self.0 as std::os::windows::io::RawSocket
    }
}

impl Link {
    /// A pending error on the socket (a timeout from TCP_USER_TIMEOUT, a reset).
    pub(super) fn take_error(&self) -> Option<std::io::Error> {
        match self {
            Link::Tcp(s) => s.take_error(),
            Link::Jump(s) => s.take_error(),
        }
        .ok()
        .flatten()
    }

    /// Holds back partial TCP segments until uncorked; nothing for a jump host's socket.
    pub(super) fn cork(&self, on: bool) {
        if let Link::Tcp(s) = self {
            tcp::cork(s, on);
        }
    }

    /// The TCP connection to the host; `None` for a jump host's socket, whose liveness is
    /// that hop's session's.
    pub(super) fn tcp(&self) -> Option<&TcpStream> {
        match self {
            Link::Tcp(s) => Some(s),
            Link::Jump(_) => None,
        }
    }

    pub(super) fn shutdown(&self) {
        let _ = match self {
            Link::Tcp(s) => s.shutdown(std::net::Shutdown::Both),
            Link::Jump(s) => s.shutdown(std::net::Shutdown::Both),
        };
    }
}

impl AsRawFd for Link {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            Link::Tcp(s) => s.as_raw_fd(),
            Link::Jump(s) => s.as_raw_fd(),
        }
    }
}

impl Ssh2Builder {
    /// Over `link`: the handshake, the host key, authentication.
    pub(super) fn open_session(&self, t: &Target, link: Link, name: &str) -> Result<Opened> {
        let connect_err = |msg: String| Error::new(ErrorKind::Connect, name, msg);
        let mut session = Session::new().map_err(|e| connect_err(e.to_string()))?;
        // `link` (a parameter) is dropped after `session` (a local) on every early return.
        session.set_tcp_stream(SocketNumber(link.as_raw_fd()));
        session.set_timeout(millis(t.connect_timeout));
        session.handshake().map_err(|e| {
            Error::new(
                ErrorKind::Protocol,
                name,
                format!("the SSH handshake failed: {e}"),
            )
        })?;
        self.check_host_key(&session, t, name)?;
        self.authenticate(&session, t, name)?;
        Ok(Opened {
            session,
            socket: link,
        })
    }

    /// A TCP connection to the first address of the host that answers.
    pub(super) fn tcp(&self, t: &Target, name: &str) -> Result<TcpStream> {
        let connect_err = |msg: String| Error::new(ErrorKind::Connect, name, msg);
        let host = t.host.as_str();
        let addrs: Vec<SocketAddr> = (host, t.port)
            .to_socket_addrs()
            .map_err(|e| connect_err(format!("cannot resolve {host}: {e}")))?
            .collect();
        let mut last = None;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, t.connect_timeout) {
                Ok(s) => {
                    tcp::tune(&s, t.keepalive);
                    return Ok(s);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(connect_err(last.map_or_else(
            || "no address".to_string(),
            |e| e.to_string(),
        )))
    }

    fn known_hosts_path(&self, t: &Target, name: &str) -> Result<PathBuf> {
        match &t.known_hosts {
            Some(p) => Ok(p.clone()),
            None => Ok(home(name, "known_hosts file")?.join(".ssh/known_hosts")),
        }
    }

    /// Checks the server's key against the known_hosts file under the target's policy;
    /// [`known_hosts`] knows the file.
    fn check_host_key(&self, session: &Session, t: &Target, name: &str) -> Result<()> {
        if t.policy == HostKeyPolicy::Insecure {
            return Ok(());
        }
        let (key, _) = session
            .host_key()
            .ok_or_else(|| Error::new(ErrorKind::Protocol, name, "the server sent no host key"))?;
        let path = self.known_hosts_path(t, name)?;
        let lookup = Lookup::new(&t.host, t.port, key);
        let host_key_err = |msg: String| Error::new(ErrorKind::HostKey, name, msg);
        let verdict = verdict(&path, &lookup, t.policy).map_err(host_key_err)?;
        let offered = session
            .host_key_hash(HashType::Sha256)
            .map(|h| format!("SHA256:{}", known_hosts::base64(h, false)))
            .unwrap_or_default();
        let path = path.display();
        match verdict {
            Verdict::Known => Ok(()),
            Verdict::Revoked => Err(host_key_err(format!(
                "the host key {offered} is revoked in {path}: refusing to connect"
            ))),
            Verdict::Changed => Err(host_key_err(format!(
                "the host key has changed: the server offered {offered}, which does not \
                 match {path}"
            ))),
            Verdict::Unknown => Err(host_key_err(format!(
                "the host key is unknown: the server offered {offered}, which is not in {path}"
            ))),
        }
    }

    /// Tries the keys (the builder's, else the config's), the password and the agent the
    /// builder names, else the agent (unless `IdentitiesOnly`) and, with no key named
    /// anywhere, the default keys, as `ssh` does; what each one said becomes the error's
    /// source when none works.
    fn authenticate(&self, session: &Session, t: &Target, name: &str) -> Result<()> {
        let user = t.user.as_str();
        let mut tried = Attempts::default();
        let explicit = self.opts.identity_file.is_some() || self.password.is_some() || self.agent;
        for key in &t.identities {
            if try_key(session, user, key, &mut tried) {
                break;
            }
        }
        if let (false, Some(pw)) = (session.authenticated(), &self.password) {
            tried.note("password".into(), session.userauth_password(user, pw));
        }
        if !session.authenticated() && (self.agent || !(explicit || t.identities_only)) {
            try_agent(session, user, &mut tried);
        }
        if !session.authenticated() && !explicit && t.identities.is_empty() {
            let home = home(name, "key files")?;
            for key in ["id_ed25519", "id_ecdsa", "id_rsa"] {
                let path = home.join(".ssh").join(key);
                if path.exists() && try_key(session, user, &path, &mut tried) {
                    break;
                }
            }
        }
        if session.authenticated() {
            return Ok(());
        }
        let msg = format!("permission denied for user `{user}` ({})", tried.summary());
        Err(Error::new(ErrorKind::Auth, name, msg).with_source(tried))
    }
}

/// What the file at `path` says of the key, after recording it if it was new and `policy`
/// records new keys; the error says what could not be done with the file.
fn verdict(
    path: &Path,
    lookup: &Lookup,
    policy: HostKeyPolicy,
) -> std::result::Result<Verdict, String> {
    let text =
        known_hosts::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    match lookup.check(&text) {
        // `record` reads the file again under its lock: another connection may have
        // recorded this key meanwhile (then nothing is written), or another one.
        Verdict::Unknown if policy == HostKeyPolicy::AcceptNew => {
            match known_hosts::record(path, lookup) {
                Ok(Verdict::Unknown) => Ok(Verdict::Known),
                Ok(v) => Ok(v),
                Err(e) => Err(format!(
                    "cannot record the host key in {}: {e}",
                    path.display()
                )),
            }
        }
        v => Ok(v),
    }
}

fn try_key(session: &Session, user: &str, path: &Path, tried: &mut Attempts) -> bool {
    let result = session.userauth_pubkey_file(user, None, path, None);
    let ok = result.is_ok();
    tried.note(format!("key {}", path.display()), result);
    ok
}

/// Tries every identity of the agent, not only the first.
fn try_agent(session: &Session, user: &str, tried: &mut Attempts) {
    let mut agent = match session.agent() {
        Ok(a) => a,
        Err(e) => return tried.note("agent".into(), Err(e)),
    };
    if let Err(e) = agent.connect().and_then(|()| agent.list_identities()) {
        return tried.note("agent".into(), Err(e));
    }
    for id in agent.identities().unwrap_or_default() {
        let result = agent.userauth(user, &id);
        let ok = result.is_ok();
        tried.note(format!("agent key {}", id.comment()), result);
        if ok {
            break;
        }
    }
    let _ = agent.disconnect();
}

/// What each authentication method said: the source of an `Auth` error.
#[derive(Debug, Default)]
pub(super) struct Attempts(Vec<(String, String)>);

impl Attempts {
    fn note(&mut self, method: String, result: std::result::Result<(), ssh2::Error>) {
        if let Err(e) = result {
            self.0.push((method, e.to_string()));
        }
    }

    fn summary(&self) -> String {
        if self.0.is_empty() {
            return "no method to try: no key, password or agent".into();
        }
        let methods: Vec<&str> = self.0.iter().map(|(m, _)| m.as_str()).collect();
        format!("tried {}", methods.join(", "))
    }
}

impl fmt::Display for Attempts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.0.iter().map(|(m, e)| format!("{m}: {e}")).collect();
        f.write_str(&lines.join("; "))
    }
}

impl std::error::Error for Attempts {}

pub(super) fn millis(d: Duration) -> u32 {
    d.as_millis().min(u32::MAX as u128) as u32
}

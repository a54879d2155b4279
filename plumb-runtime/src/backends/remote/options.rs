//! The options both remote builders share, with OpenSSH's defaults: port 22; the user from
//! the config, else `$USER`, else the passwd entry (never a guessed `root`).

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, ErrorKind};
use crate::machine::HostKeyPolicy;
use crate::model::sudo::SudoPassword;
use crate::Result;

/// How long connecting may take unless the builder or the config says.
pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where and how to connect, as the user gave it.
#[derive(Clone, Debug)]
pub(crate) struct Options {
    pub(crate) host: String,
    pub(crate) user: Option<String>,
    pub(crate) port: Option<u16>,
    pub(crate) identity_file: Option<PathBuf>,
    pub(crate) known_hosts_file: Option<PathBuf>,
    /// `None`: not given (the config's, else [`HostKeyPolicy::Strict`]).
    pub(crate) policy: Option<HostKeyPolicy>,
    /// `None`: not given (the config's, else [`DEFAULT_CONNECT_TIMEOUT`]).
    pub(crate) connect_timeout: Option<Duration>,
    pub(crate) sudo_password: Option<SudoPassword>,
}

impl Options {
    pub(crate) fn new(host: String) -> Options {
        Options {
            host,
            user: None,
            port: None,
            identity_file: None,
            known_hosts_file: None,
            policy: None,
            connect_timeout: None,
            sudo_password: None,
        }
    }

    /// The options of `user@host:port` (user and port optional; `[v6]:port` for IPv6).
    pub(crate) fn from_destination(dest: &str) -> Options {
        let (user, rest) = match dest.rsplit_once('@') {
            Some((u, r)) => (Some(u.to_string()), r),
            None => (None, dest),
        };
        let (host, port) = split_port(rest);
        Options {
            user,
            port,
            ..Options::new(host)
        }
    }

    /// The host key policy, [`HostKeyPolicy::Strict`] unless given. (On Windows only
    /// `SshMachine`, which cannot connect there, asks for this and the timeout so.)
    #[cfg_attr(windows, allow(dead_code))]
    pub(crate) fn policy(&self) -> HostKeyPolicy {
        self.policy.unwrap_or(HostKeyPolicy::Strict)
    }

    /// How long connecting may take, [`DEFAULT_CONNECT_TIMEOUT`] unless given.
    #[cfg_attr(windows, allow(dead_code))]
    pub(crate) fn connect_timeout(&self) -> Duration {
        self.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT)
    }

    /// The port, 22 unless given.
    pub(crate) fn port(&self) -> u16 {
        self.port.unwrap_or(22)
    }

    /// `host:port` as given, for pacing handshakes per server (`Group::connect_all`).
    pub(crate) fn server(&self) -> String {
        format!("{}:{}", self.host, self.port())
    }

    /// The user to log in as: the one given, else `$USER`, else this process's passwd
    /// entry (on Windows `%USERNAME%`).
    pub(crate) fn user(&self) -> Result<String> {
        if let Some(u) = &self.user {
            return Ok(u.clone());
        }
        std::env::var("USER")
            .ok()
            .filter(|u| !u.is_empty())
            .or_else(crate::sys::login_name)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Auth,
                    &self.host,
                    "no user to log in as: none given, $USER is unset and this process's \
                     uid has no passwd entry",
                )
            })
    }
}

/// The machine's name in messages, the same for every backend: `user@host:port`.
pub(crate) fn machine_name(user: &str, host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("{user}@[{host}]:{port}")
    } else {
        format!("{user}@{host}:{port}")
    }
}

fn split_port(rest: &str) -> (String, Option<u16>) {
    if let Some(inner) = rest.strip_prefix('[') {
        if let Some((host, after)) = inner.split_once(']') {
            let port = after.strip_prefix(':').and_then(|p| p.parse().ok());
            return (host.to_string(), port);
        }
    }
    match rest.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => match port.parse() {
            Ok(p) => (host.to_string(), Some(p)),
            Err(_) => (rest.to_string(), None),
        },
        _ => (rest.to_string(), None),
    }
}

/// `$HOME`, or a clear error: a default file under an unset home would otherwise be
/// looked up (or written!) in the current directory.
#[cfg_attr(not(feature = "ssh2"), allow(dead_code))]
pub(crate) fn home(machine: &str, what: &str) -> Result<PathBuf> {
    match std::env::var_os("HOME") {
        Some(h) if !h.is_empty() => Ok(PathBuf::from(h)),
        _ => Err(Error::new(
            ErrorKind::InvalidInput,
            machine,
            format!("$HOME is not set, so there is no default {what}; name one in the builder"),
        )),
    }
}

/// The setters every remote builder has, written once; the builder holds `opts: Options`.
macro_rules! common_setters {
    () => {
        /// The user to log in as (default: the config's, else `$USER`, else the passwd
        /// entry of this process).
        pub fn user(mut self, user: impl Into<String>) -> Self {
            self.opts.user = Some(user.into());
            self
        }

        /// The port (default: the config's, else 22).
        pub fn port(mut self, port: u16) -> Self {
            self.opts.port = Some(port);
            self
        }

        /// Authenticate with this private key file (only that one is offered).
        pub fn identity_file(mut self, path: impl AsRef<std::path::Path>) -> Self {
            self.opts.identity_file = Some(path.as_ref().to_path_buf());
            self
        }

        /// The known_hosts file to check and record host keys in (default
        /// `~/.ssh/known_hosts`).
        pub fn known_hosts_file(mut self, path: impl AsRef<std::path::Path>) -> Self {
            self.opts.known_hosts_file = Some(path.as_ref().to_path_buf());
            self
        }

        /// What to do with an unknown host key (default: the config's
        /// `StrictHostKeyChecking`, else [`HostKeyPolicy::Strict`]).
        ///
        /// [`HostKeyPolicy::Strict`]: crate::HostKeyPolicy::Strict
        pub fn host_key_policy(mut self, policy: $crate::HostKeyPolicy) -> Self {
            self.opts.policy = Some(policy);
            self
        }

        /// How long connecting may take (default: the config's `ConnectTimeout`, else 10 s).
        pub fn connect_timeout(mut self, timeout: std::time::Duration) -> Self {
            self.opts.connect_timeout = Some(timeout);
            self
        }

        /// The password that [`sudo`](crate::Expr::sudo)'d commands give sudo when it asks.
        /// It reaches sudo through a file only the login user can read, for the length of
        /// the command, and never shows in argv, the environment, stdin, errors or `Debug`.
        pub fn sudo_password(mut self, password: impl Into<String>) -> Self {
            self.opts.sudo_password = Some($crate::model::sudo::SudoPassword::given(password));
            self
        }

        /// Like `sudo_password`, asking `ask` (given the machine's name) the first time a
        /// sudo'd command runs; `None`: no password.
        pub fn sudo_password_from(
            mut self,
            ask: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
        ) -> Self {
            self.opts.sudo_password = Some($crate::model::sudo::SudoPassword::asked(ask));
            self
        }
    };
}
pub(crate) use common_setters;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations() {
        let o = Options::from_destination("deploy@web1:2222");
        assert_eq!(
            (o.user.as_deref(), o.host.as_str(), o.port),
            (Some("deploy"), "web1", Some(2222))
        );
        let o = Options::from_destination("[::1]:22");
        assert_eq!((o.user, o.host.as_str(), o.port), (None, "::1", Some(22)));
        let o = Options::from_destination("web1");
        assert_eq!((o.host.as_str(), o.port()), ("web1", 22));
    }

    #[test]
    fn the_user_is_never_guessed() {
        let o = Options::from_destination("web1");
        // Whatever $USER says, the answer is a real account's name, never a made-up root.
        let user = o.user().unwrap();
        assert_eq!(
            user,
            std::env::var("USER")
                .ok()
                .filter(|u| !u.is_empty())
                .or_else(crate::sys::login_name)
                .unwrap()
        );
        assert_eq!(machine_name("u", "::1", 22), "u@[::1]:22");
    }
}

//! `Ssh2Machine` and the OpenSSH client config (`~/.ssh/config` by default), read with the
//! `ssh2-config` crate: the values that apply to a host, the builder's before the
//! config's before the defaults, and where each one came from (shown by `Debug`).
//!
//! Honoured: `Host` patterns (first match wins, as in ssh), `HostName` (`%h`), `User`,
//! `Port`, `IdentityFile` (several; `~`, `%d`, `%h`, `%r`, `%u`), `IdentitiesOnly`,
//! `ProxyJump`, `UserKnownHostsFile` (the first file), `StrictHostKeyChecking`,
//! `ServerAliveInterval`, `ConnectTimeout`, `Include`. `Match` blocks are left out (never
//! applied); everything else is read and ignored.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ssh2_config::{HostParams, ParseRule, SshConfig};

use super::Ssh2Builder;
use crate::backends::remote::options::{home, machine_name, DEFAULT_CONNECT_TIMEOUT};
use crate::error::{Error, ErrorKind};
use crate::machine::HostKeyPolicy;
use crate::Result;

/// Which config file a builder reads.
#[derive(Clone, Debug, Default)]
pub(super) enum ConfigFile {
    /// `~/.ssh/config`, when there is one.
    #[default]
    Default,
    File(PathBuf),
    /// None at all.
    Disabled,
}

/// Where a value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Source {
    Builder,
    Config,
    Default,
}

/// What one connection uses.
#[derive(Clone)]
pub(super) struct Target {
    /// The host as the builder names it (an alias, maybe): the machine's name uses it.
    pub(super) alias: String,
    /// The host to connect to (`HostName`).
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) user: String,
    /// Keys to offer, in order.
    pub(super) identities: Vec<PathBuf>,
    /// Offer only `identities`: no agent, no default keys.
    pub(super) identities_only: bool,
    pub(super) known_hosts: Option<PathBuf>,
    pub(super) policy: HostKeyPolicy,
    pub(super) connect_timeout: Duration,
    pub(super) keepalive: Duration,
    /// Jump hosts, in order.
    pub(super) jumps: Vec<String>,
    /// Each value and where it came from.
    pub(super) sources: Vec<(&'static str, String, Source)>,
}

impl Target {
    /// The machine's name: `user@alias:port`.
    pub(super) fn name(&self) -> String {
        machine_name(&self.user, &self.alias, self.port)
    }
}

impl Target {
    /// `key = value (from where)`, one per value.
    pub(super) fn settings(&self) -> Vec<String> {
        let lines = self.sources.iter().map(|(key, value, source)| {
            let from = match source {
                Source::Builder => "builder",
                Source::Config => "config",
                Source::Default => "default",
            };
            format!("{key} = {value} ({from})")
        });
        lines.collect()
    }
}

/// The config's values for one host, as read.
struct Found {
    params: HostParams,
}

impl Found {
    /// An option this crate keeps as text (not parsed into a field).
    fn text(&self, key: &str) -> Option<&str> {
        let p = &self.params;
        p.unsupported_fields
            .get(key)
            .or_else(|| p.ignored_fields.get(key))
            .and_then(|args| args.first())
            .map(String::as_str)
    }
}

impl Ssh2Builder {
    /// The values this builder connects with, the config file's where the builder is
    /// silent.
    pub(super) fn resolve(&self) -> Result<Target> {
        let found = self.read_config()?;
        let mut r = Resolver {
            sources: Vec::new(),
        };
        let params = found.as_ref().map(|f| &f.params);
        let o = &self.opts;
        let host = r.pick(
            "host_name",
            None,
            params.and_then(|p| p.host_name.clone()),
            || o.host.clone(),
        );
        let host = host.replace("%h", &o.host);
        let user = match r.either("user", o.user.clone(), params.and_then(|p| p.user.clone())) {
            Some(u) => u,
            None => r.default("user", o.user()?),
        };
        let port = r.pick("port", o.port, params.and_then(|p| p.port), || 22);
        let (identities, identities_only) = self.identities(&mut r, found.as_ref(), &host, &user);
        let known_hosts = r.either(
            "known_hosts_file",
            o.known_hosts_file.clone(),
            found
                .as_ref()
                .and_then(|f| f.text("userknownhostsfile"))
                .map(|p| expand(p, &host, &user)),
        );
        let policy = r.pick(
            "host_key_policy",
            o.policy,
            found
                .as_ref()
                .and_then(|f| f.text("stricthostkeychecking"))
                .map(policy_of),
            || HostKeyPolicy::Strict,
        );
        let connect_timeout = r.pick(
            "connect_timeout",
            o.connect_timeout,
            params.and_then(|p| p.connect_timeout),
            || DEFAULT_CONNECT_TIMEOUT,
        );
        let keepalive = r.pick(
            "keepalive",
            self.keepalive,
            params
                .and_then(|p| p.server_alive_interval)
                .filter(|d| !d.is_zero()),
            || DEFAULT_KEEPALIVE,
        );
        let config_jumps = params
            .and_then(|p| p.proxy_jump.clone())
            .filter(|j| !j.is_empty() && j[0] != "none");
        let builder_jumps = (!self.jumps.is_empty()).then(|| self.jumps.clone());
        let jumps = r
            .either("jump", builder_jumps, config_jumps)
            .unwrap_or_default();
        Ok(Target {
            alias: o.host.clone(),
            host,
            port,
            user,
            identities,
            identities_only,
            known_hosts,
            policy,
            connect_timeout,
            keepalive: keepalive.max(Duration::from_secs(1)),
            jumps,
            sources: r.sources,
        })
    }

    /// The keys to offer: the builder's one alone, else the config's; and whether only
    /// those (`IdentitiesOnly`, or a key named in the builder).
    fn identities(
        &self,
        r: &mut Resolver,
        found: Option<&Found>,
        host: &str,
        user: &str,
    ) -> (Vec<PathBuf>, bool) {
        if let Some(key) = &self.opts.identity_file {
            r.note("identity_file", key.display(), Source::Builder);
            return (vec![key.clone()], true);
        }
        let Some(found) = found else {
            return (Vec::new(), false);
        };
        let keys: Vec<PathBuf> = found
            .params
            .identity_file
            .iter()
            .flatten()
            .map(|p| expand(&p.to_string_lossy(), host, user))
            .collect();
        for key in &keys {
            r.note("identity_file", key.display(), Source::Config);
        }
        let only = found
            .text("identitiesonly")
            .is_some_and(|v| v.eq_ignore_ascii_case("yes"));
        if only {
            r.note("identities_only", "yes", Source::Config);
        }
        (keys, only)
    }

    /// The config's values for this builder's host, if there is a config to read.
    fn read_config(&self) -> Result<Option<Found>> {
        let name = &self.opts.host;
        let path = match &self.config {
            ConfigFile::Disabled => return Ok(None),
            ConfigFile::File(p) => p.clone(),
            ConfigFile::Default => match home(name, "config") {
                Ok(h) if h.join(".ssh/config").is_file() => h.join(".ssh/config"),
                _ => return Ok(None),
            },
        };
        let bad = |why: String| {
            Error::new(
                ErrorKind::InvalidInput,
                name,
                format!("cannot read the ssh config {}: {why}", path.display()),
            )
        };
        let text = std::fs::read_to_string(&path).map_err(|e| bad(e.to_string()))?;
        let text = without_match_blocks(&text);
        // Lenient, as the options this crate does not know are still valid for ssh.
        let rules = ParseRule::ALLOW_UNKNOWN_FIELDS | ParseRule::ALLOW_UNSUPPORTED_FIELDS;
        let config = SshConfig::default()
            .parse(&mut text.as_bytes(), rules)
            .map_err(|e| bad(e.to_string()))?;
        Ok(Some(Found {
            params: config.query(name),
        }))
    }
}

/// The config without its `Match` blocks, which the parser does not know: it would read
/// their options as the preceding `Host` block's. (Their conditions, `exec` among them,
/// are not evaluated: a `Match` block never applies.)
fn without_match_blocks(text: &str) -> String {
    let mut skipping = false;
    let mut kept = String::with_capacity(text.len());
    for line in text.lines() {
        let keyword = line
            .split(|c: char| c.is_whitespace() || c == '=')
            .find(|w| !w.is_empty())
            .unwrap_or("");
        if keyword.eq_ignore_ascii_case("match") {
            skipping = true;
        } else if keyword.eq_ignore_ascii_case("host") {
            skipping = false;
        }
        if !skipping {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    kept
}

/// The default keepalive interval.
pub(super) const DEFAULT_KEEPALIVE: Duration = Duration::from_secs(10);

/// Picks each value from the builder, else the config, else a default, and notes where it
/// came from.
struct Resolver {
    sources: Vec<(&'static str, String, Source)>,
}

impl Resolver {
    fn note(&mut self, key: &'static str, value: impl fmt::Display, source: Source) {
        self.sources.push((key, value.to_string(), source));
    }

    /// The builder's value, else the config's, if either.
    fn either<T: fmt::Debug>(
        &mut self,
        key: &'static str,
        builder: Option<T>,
        config: Option<T>,
    ) -> Option<T> {
        let (value, source) = match (builder, config) {
            (Some(b), _) => (b, Source::Builder),
            (None, Some(c)) => (c, Source::Config),
            (None, None) => return None,
        };
        self.note(key, format!("{value:?}").trim_matches('"'), source);
        Some(value)
    }

    fn pick<T: fmt::Debug>(
        &mut self,
        key: &'static str,
        builder: Option<T>,
        config: Option<T>,
        default: impl FnOnce() -> T,
    ) -> T {
        match self.either(key, builder, config) {
            Some(v) => v,
            None => self.default(key, default()),
        }
    }

    fn default<T: fmt::Debug>(&mut self, key: &'static str, value: T) -> T {
        self.note(key, format!("{value:?}").trim_matches('"'), Source::Default);
        value
    }
}

/// `StrictHostKeyChecking`: `yes` and `ask` (there is no terminal to ask on) refuse an
/// unknown key; `accept-new`, and `no`/`off` too, record it, but a changed key is always
/// refused (stricter than ssh's `no`, which lets some changed keys through).
fn policy_of(value: &str) -> HostKeyPolicy {
    match value.to_ascii_lowercase().as_str() {
        "accept-new" | "no" | "off" => HostKeyPolicy::AcceptNew,
        _ => HostKeyPolicy::Strict,
    }
}

/// A path from the config with its tokens and `~` expanded.
fn expand(path: &str, host: &str, user: &str) -> PathBuf {
    let home = std::env::var("HOME").unwrap_or_default();
    let local = std::env::var("USER").unwrap_or_default();
    let path = match path.strip_prefix('~') {
        Some(rest) => format!("{home}{rest}"),
        None => path.to_string(),
    };
    let mut out = String::new();
    let mut chars = path.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('d') => out.push_str(&home),
            Some('h') => out.push_str(host),
            Some('r') => out.push_str(user),
            Some('u') => out.push_str(&local),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    Path::new(&out).to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn match_blocks_are_left_out() {
        let text = "Host a\n  Port 1\nMatch exec \"true\"\n  Port 2\n  User m\nHost b\n  Port 3\n";
        assert_eq!(
            without_match_blocks(text),
            "Host a\n  Port 1\nHost b\n  Port 3\n"
        );
    }

    #[test]
    fn tokens_are_expanded() {
        let p = expand("/keys/%r@%h-%%", "web1", "deploy");
        assert_eq!(p, Path::new("/keys/deploy@web1-%"));
    }
}

//! The `ssh` command line of an `SshMachine`: the builder's options in ssh's words, for
//! the target and for every jump host.
//!
//! Jump hosts do not go to `ssh -J`: ssh gives a jump host only `-l`, `-p` and `-F`, so
//! the builder's known_hosts file, host key policy, identity and timeouts would not reach
//! it, and it would check its key against `~/.ssh/known_hosts`. Nor to a generated config
//! file (which ssh would pass on with `-F`): `-F` replaces the user's and the system's
//! config files, whose reading we would then have to imitate. Each hop is instead a small
//! `sh` script in the machine's private directory, `exec ssh <the builder's options> -W
//! "[$1]:$2" hop`, whose `ProxyCommand` is the previous hop's script; the target's
//! `ProxyCommand` is the last one's. The user's config is read as ssh reads it, and, as
//! with `-J`, the first hop's own `ProxyJump` there is followed (by ssh, without the
//! builder's options).
//!
//! Why scripts and not one nested `ProxyCommand`: a `ProxyCommand` is `%`-expanded, read as
//! an ssh config line (whose quotes and backslashes must balance) and then run by the
//! user's `$SHELL`, which need not be `sh`; nesting shell quoting in it breaks the config
//! line's rules. `/bin/sh <private dir>/hop-N '%h' '%p'` means the same to all of them, and
//! a script is read by `sh` alone, so plumb's quoting is all it needs.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

use crate::backends::remote::options::Options;
use crate::error::{Error, ErrorKind};
use crate::machine::HostKeyPolicy;
use crate::render::quote::quote;
use crate::Result;

/// Keepalives, so that a dead link ends commands instead of hanging them.
const KEEPALIVE: [&str; 4] = ["-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3"];

/// The options from the builder's setters, which the target and every jump host get.
pub(super) fn shared(
    opts: &Options,
    config: Option<&Path>,
    machine: &str,
) -> Result<Vec<OsString>> {
    let mut args: Vec<OsString> = vec!["-o".into(), "BatchMode=yes".into()];
    if let Some(config) = config {
        args.extend(["-F".into(), config.as_os_str().to_owned()]);
    }
    let mut opt = |s: OsString| args.extend(["-o".into(), s]);
    if let Some(id) = &opts.identity_file {
        opt(setting("IdentityFile", &config_word(machine, id)?));
        opt("IdentitiesOnly=yes".into());
    }
    opt(format!("ConnectTimeout={}", opts.connect_timeout().as_secs().max(1)).into());
    // Unless given, the config's `StrictHostKeyChecking` holds; BatchMode makes ssh's
    // own default ("ask") refuse an unknown key, as Strict does.
    match opts.policy {
        None => {}
        Some(HostKeyPolicy::Strict) => opt("StrictHostKeyChecking=yes".into()),
        Some(HostKeyPolicy::AcceptNew) => opt("StrictHostKeyChecking=accept-new".into()),
        Some(HostKeyPolicy::Insecure) => {
            opt("StrictHostKeyChecking=no".into());
            opt("UserKnownHostsFile=/dev/null".into());
        }
    }
    if let (Some(kh), false) = (
        &opts.known_hosts_file,
        opts.policy() == HostKeyPolicy::Insecure,
    ) {
        opt(setting("UserKnownHostsFile", &config_word(machine, kh)?));
    }
    Ok(args)
}

/// The target's options: through `proxy` (the last hop's `ProxyCommand`) if given, the
/// shared ones, its port, the user's `-o` options, keepalives.
pub(super) fn target(
    shared: &[OsString],
    port: Option<u16>,
    user_options: &[(String, String)],
    proxy: Option<&str>,
) -> Vec<OsString> {
    let mut args: Vec<OsString> = Vec::new();
    // First: a `ProxyJump` among the user's options then yields to it, as ssh takes the
    // first of the two it reads.
    if let Some(proxy) = proxy {
        args.extend(["-o".into(), format!("ProxyCommand={proxy}").into()]);
    }
    args.extend(shared.iter().cloned());
    if let Some(p) = port {
        args.extend(["-p".into(), p.to_string().into()]);
    }
    for (k, v) in user_options {
        args.extend(["-o".into(), format!("{k}={v}").into()]);
    }
    args.extend(KEEPALIVE.map(OsString::from));
    args
}

/// The script of jump host `hop` (`[user@]host[:port]` or `ssh://...`): its `ssh`, with
/// `shared` and keepalives, through `previous` (the hop before it) if any, forwards stdio
/// to the host and port given as `$1` and `$2`.
pub(super) fn hop_script(hop: &str, shared: &[OsString], previous: Option<&str>) -> Vec<u8> {
    let mut argv: Vec<OsString> = vec!["ssh".into()];
    argv.extend(shared.iter().cloned());
    argv.extend(KEEPALIVE.map(OsString::from));
    if let Some(p) = previous {
        argv.extend(["-o".into(), format!("ProxyCommand={p}").into()]);
    }
    let host = if hop.starts_with("ssh://") {
        hop.to_string()
    } else {
        let o = Options::from_destination(hop);
        if let Some(u) = o.user {
            argv.extend(["-l".into(), u.into()]);
        }
        if let Some(p) = o.port {
            argv.extend(["-p".into(), p.to_string().into()]);
        }
        o.host
    };
    let mut script = b"#!/bin/sh\n# plumb: a jump host, with the builder's options; $1 and $2 are \
                       the next host and port.\nexec"
        .to_vec();
    for a in &argv {
        script.push(b' ');
        script.extend(quote(a));
    }
    script.extend(b" -W \"[$1]:$2\" --");
    script.push(b' ');
    script.extend(quote(&host));
    script.push(b'\n');
    script
}

/// The `ProxyCommand` that runs `script` (a path made of plain characters, see
/// [`ControlDir::path`](super::control_dir::ControlDir::path)).
pub(super) fn proxy_command(script: &Path) -> String {
    format!("/bin/sh {} '%h' '%p'", script.display())
}

/// `key=value`, as `-o` takes it.
fn setting(key: &str, value: &OsString) -> OsString {
    let mut s = OsString::from(format!("{key}="));
    s.push(value);
    s
}

/// `path` as one word of an ssh config line whose value ssh expands (`%` tokens, `~`):
/// double-quoted, with `\`, `"` and `%` escaped. ssh has no escape for `${`, which it
/// would replace with an environment variable, nor can a line hold a line break: such
/// paths are refused.
fn config_word(machine: &str, path: &Path) -> Result<OsString> {
    let bytes = path.as_os_str().as_bytes();
    if bytes.windows(2).any(|w| w == b"${") || bytes.iter().any(|b| b"\n\r\0".contains(b)) {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            machine,
            format!(
                "ssh cannot be given the path {:?}: it would read `${{` in it as a variable, \
                 and a line break as the end of the option",
                path
            ),
        ));
    }
    let mut out = vec![b'"'];
    for &b in bytes {
        match b {
            b'\\' | b'"' => out.extend([b'\\', b]),
            b'%' => out.extend(b"%%"),
            _ => out.push(b),
        }
    }
    out.push(b'"');
    Ok(OsString::from_vec(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_words_escape_what_ssh_expands() {
        let w = config_word("m", Path::new("/a b/it's \"100%\" \\x")).unwrap();
        assert_eq!(w, OsString::from(r#""/a b/it's \"100%%\" \\x""#));
        let e = config_word("m", Path::new("/home/${USER}/kh")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(config_word("m", Path::new("/a\nb")).is_err());
        // `$` alone is no variable to ssh.
        assert!(config_word("m", Path::new("/a/$HOME")).is_ok());
    }

    /// The script, run by `sh`, gives ssh exactly the arguments meant.
    #[test]
    fn a_hop_script_passes_its_arguments_unchanged() {
        let shared: Vec<OsString> = vec!["-o".into(), "UserKnownHostsFile=\"/it's a $x\"".into()];
        let script = hop_script(
            "u@h.example:2222",
            &shared,
            Some("/bin/sh /p/hop-1 '%h' '%p'"),
        );
        let text = String::from_utf8(script.clone()).unwrap();
        assert!(text.starts_with("#!/bin/sh\n"), "{text}");
        // Run it with `ssh` replaced by a function that prints its arguments.
        let body = text.lines().last().unwrap().replacen("exec ", "", 1);
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("ssh() {{ printf '%s\\n' \"$@\"; }}; {body}"))
            .args(["sh", "::1", "22"])
            .output()
            .unwrap();
        let out = String::from_utf8(out.stdout).unwrap();
        let args: Vec<&str> = out.lines().collect();
        assert_eq!(
            args,
            [
                "-o",
                "UserKnownHostsFile=\"/it's a $x\"",
                "-o",
                "ServerAliveInterval=5",
                "-o",
                "ServerAliveCountMax=3",
                "-o",
                "ProxyCommand=/bin/sh /p/hop-1 '%h' '%p'",
                "-l",
                "u",
                "-p",
                "2222",
                "-W",
                "[::1]:22",
                "--",
                "h.example",
            ]
        );
        let uri = String::from_utf8(hop_script("ssh://u@h:1", &[], None)).unwrap();
        assert!(uri.trim_end().ends_with("-- ssh://u@h:1"), "{uri}");
    }
}

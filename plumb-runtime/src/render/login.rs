//! The one line a remote login shell receives: whatever that shell is (sh, bash, fish,
//! tcsh), it makes `/bin/sh` run our script byte for byte.

use crate::render::quote::quote_into;

/// What a host's login shell is, as far as running our scripts goes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum LoginShell {
    /// `/bin/sh` itself: it runs the script as it is, with no second shell.
    BinSh,
    /// Reads POSIX quoting (bash, zsh, ...): it hands the script to `/bin/sh`.
    Posix,
    /// Anything else (fish, tcsh): the script goes encoded.
    Other,
}

impl LoginShell {
    /// From the shell's path (`$SHELL`); an empty one is sshd's default, `/bin/sh`'s
    /// kind.
    pub(crate) fn from_path(path: &str) -> LoginShell {
        let name = path.rsplit('/').next().unwrap_or("");
        match path {
            "/bin/sh" => LoginShell::BinSh,
            _ if is_posix_shell(name) => LoginShell::Posix,
            _ => LoginShell::Other,
        }
    }
}

/// The command line that runs `script` under `login`, as text (libssh2 and the `ssh`
/// command line both take text); an error when no remote shell could receive it.
///
/// A script that is not UTF-8 goes encoded, whatever the shell.
pub(crate) fn login_command(script: &[u8], login: LoginShell) -> Result<String, String> {
    let text = std::str::from_utf8(script).is_ok();
    // `/bin/sh -c SCRIPT` is what the other shells are asked to run: here sshd runs it
    // itself (one process less per command, which a busy server feels).
    if login == LoginShell::BinSh && text {
        check_size(script)?;
        return Ok(String::from_utf8_lossy(script).into_owned());
    }
    let posix = login != LoginShell::Other && text;
    let command = encode(script, posix);
    check_size(&command)?;
    // Quoting UTF-8 gives UTF-8 and the encoded form is ASCII: the fallback never runs,
    // but if it did, it would still be a correct command.
    Ok(String::from_utf8(command)
        .unwrap_or_else(|_| String::from_utf8_lossy(&encode(script, false)).into_owned()))
}

/// Whether a login shell (by its file name) reads POSIX quoting.
fn is_posix_shell(name: &str) -> bool {
    const POSIX: [&str; 11] = [
        "sh", "bash", "dash", "zsh", "ksh", "mksh", "ksh93", "ash", "busybox", "yash", "rbash",
    ];
    name.is_empty() || POSIX.contains(&name)
}

/// The command line for the remote login shell: the script, run by `/bin/sh` whatever the
/// login shell is.
///
/// A POSIX login shell (sh, bash, zsh, ...) gets `exec /bin/sh -c 'SCRIPT'`. Others read
/// quotes differently (fish treats backslashes inside single quotes as escapes; csh
/// expands `!` and refuses line breaks inside them), so they get the script encoded as
/// letters, digits, a few safe signs and `\0NNN` octal escapes, which `/bin/sh` turns
/// back into bytes with `printf %b`: every shell passes that through untouched.
fn encode(script: &[u8], posix_login: bool) -> Vec<u8> {
    let mut out = b"exec /bin/sh -c ".to_vec();
    if posix_login {
        quote_into(script, &mut out);
        return out;
    }
    out.extend_from_slice(b"'eval \"$(printf %b \"");
    for &b in script {
        if b.is_ascii_alphanumeric() || b" _,.:/=+-".contains(&b) {
            out.push(b);
        } else {
            out.extend_from_slice(format!("\\0{b:03o}").as_bytes());
        }
    }
    // `$(...)` drops trailing newlines; the script never needs them.
    out.extend_from_slice(b"\")\"'");
    out
}

/// The longest single argument Linux passes to a program (MAX_ARG_STRLEN): sshd hands the
/// whole command line to the login shell as one argument.
const MAX_REMOTE_COMMAND: usize = 128 * 1024 - 1;

/// Refuses a login command no remote shell can receive, with a clear message instead of
/// whatever the transport would say.
fn check_size(login_command: &[u8]) -> Result<(), String> {
    if login_command.len() > MAX_REMOTE_COMMAND {
        Err(format!(
            "the command line is {} bytes, more than a remote shell can receive ({} bytes); \
             pass large data through stdin (`stdin_bytes`, `<<<`) or a file",
            login_command.len(),
            MAX_REMOTE_COMMAND
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_login_shell_is_known_by_its_path() {
        assert_eq!(LoginShell::from_path("/bin/sh"), LoginShell::BinSh);
        assert_eq!(LoginShell::from_path("/usr/bin/sh"), LoginShell::Posix);
        assert_eq!(LoginShell::from_path("/bin/bash"), LoginShell::Posix);
        assert_eq!(LoginShell::from_path(""), LoginShell::Posix);
        assert_eq!(LoginShell::from_path("/usr/bin/fish"), LoginShell::Other);
    }

    #[test]
    fn bin_sh_runs_the_script_itself_others_hand_it_to_bin_sh() {
        let script = b"echo 'a b'; exit $?";
        let direct = login_command(script, LoginShell::BinSh).unwrap();
        assert_eq!(direct.as_bytes(), script);
        let posix = login_command(script, LoginShell::Posix).unwrap();
        assert!(posix.starts_with("exec /bin/sh -c '"), "{posix}");
        let other = login_command(script, LoginShell::Other).unwrap();
        assert!(other.contains("printf %b"), "{other}");
        // Not UTF-8: encoded, whatever the shell.
        let bytes = login_command(b"echo \xff", LoginShell::BinSh).unwrap();
        assert!(bytes.contains("printf %b"), "{bytes}");
        assert!(login_command(&vec![b'x'; 200_000], LoginShell::BinSh).is_err());
    }
}

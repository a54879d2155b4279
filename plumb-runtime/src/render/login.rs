//! The one line a remote login shell receives: whatever that shell is (sh, bash, fish,
//! tcsh), it makes `/bin/sh` run our script byte for byte.

use crate::render::quote::quote_into;

/// The command line that runs `script` under a login shell that reads POSIX quoting
/// (`posix_login`) or not, as text (libssh2 and the `ssh` command line both take text); an
/// error when no remote shell could receive it.
///
/// A script that is not UTF-8 goes encoded, whatever the shell.
pub(crate) fn login_command(script: &[u8], posix_login: bool) -> Result<String, String> {
    let posix = posix_login && std::str::from_utf8(script).is_ok();
    let command = encode(script, posix);
    check_size(&command)?;
    // Quoting UTF-8 gives UTF-8 and the encoded form is ASCII: the fallback never runs,
    // but if it did, it would still be a correct command.
    Ok(String::from_utf8(command)
        .unwrap_or_else(|_| String::from_utf8_lossy(&encode(script, false)).into_owned()))
}

/// Whether a login shell (by its file name) reads POSIX quoting.
pub(crate) fn is_posix_shell(name: &str) -> bool {
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

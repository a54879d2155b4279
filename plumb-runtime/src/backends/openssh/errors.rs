//! What a failed `ssh` said, classified: the one place that reads ssh's stderr.

use crate::error::{Error, ErrorKind};

/// Maps what a failed `ssh` said to the kind of failure.
pub(super) fn connect_error(name: &str, stderr: &[u8]) -> Error {
    let text = String::from_utf8_lossy(stderr);
    let has = |s: &str| text.contains(s);
    let kind = if has("Host key verification failed")
        || has("REMOTE HOST IDENTIFICATION HAS CHANGED")
        || has("host key")
    {
        ErrorKind::HostKey
    } else if has("Permission denied") || has("Too many authentication failures") {
        ErrorKind::Auth
    } else {
        ErrorKind::Connect
    };
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('@'))
        .collect();
    // The last line that says why, not what followed from it (a jump host that refused
    // to forward is followed by "stdio forwarding failed" and "Connection closed by"; a
    // host key line that names the host by "Host key verification failed").
    let consequence = |l: &&str| {
        [
            "Connection closed by",
            "stdio forwarding failed",
            "kex_exchange_identification",
            "Host key verification failed",
        ]
        .iter()
        .any(|c| l.starts_with(c))
    };
    let summary = (lines.iter().rev().find(|l| !consequence(l)))
        .or(lines.last())
        .copied()
        .unwrap_or("ssh could not connect");
    let summary = match kind {
        // Which known_hosts file holds the other key, as ssh says it.
        ErrorKind::HostKey => match lines.iter().find(|l| l.starts_with("Offending ")) {
            Some(o) => format!("the host key is unknown or has changed ({summary} {o})"),
            None => format!("the host key is unknown or has changed ({summary})"),
        },
        _ => summary.to_string(),
    };
    Error::new(kind, name, summary)
}

/// Whether a line of `ssh -v -W` through a master says that the channel is open: the
/// master answers the client's request only once the server has opened it (or refused).
pub(super) fn stdio_forward_opened(line: &str) -> bool {
    line.contains("master session id")
}

/// Why the server refused a channel, from a line of the master's: "channel 3: open
/// failed: connect failed: Connection refused" gives "connect failed: Connection refused".
pub(super) fn open_failure(line: &str) -> Option<&str> {
    let rest = line.trim().strip_prefix("channel ")?;
    let (_, why) = rest.split_once(": open failed: ")?;
    Some(why)
}

/// Why `ssh -v -W` through a master failed: its last line that is not a debug one.
pub(super) fn stdio_forward_refusal(stderr: &str) -> String {
    stderr
        .lines()
        .map(str::trim)
        .rev()
        .find(|l| !l.is_empty() && !l.starts_with("debug"))
        .unwrap_or("ssh exited")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_what_ssh_says() {
        let e = connect_error("m", b"Host key verification failed.\r\n");
        assert_eq!(e.kind(), ErrorKind::HostKey);
        let e = connect_error("m", b"u@h: Permission denied (publickey).\r\n");
        assert_eq!(e.kind(), ErrorKind::Auth);
        assert!(
            e.to_string().contains("Permission denied (publickey)"),
            "{e}"
        );
        let e = connect_error(
            "m",
            b"ssh: connect to host h port 1: Connection refused\r\n",
        );
        assert_eq!(e.kind(), ErrorKind::Connect);
        let e = connect_error("m", b"");
        assert!(e.to_string().contains("ssh could not connect"), "{e}");
        let jump = b"channel 0: open failed: administratively prohibited: open failed\r\n\
                     stdio forwarding failed\r\nConnection closed by UNKNOWN port 65535\r\n";
        let e = connect_error("m", jump);
        assert!(e.to_string().contains("administratively prohibited"), "{e}");
        let changed = b"@@@@@@@\r\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\r\n\
                        Please contact your system administrator.\r\n\
                        Offending ED25519 key in /k/known_hosts:2\r\n\
                        Host key for [127.0.0.1]:2222 has changed and you have requested \
                        strict checking.\r\nHost key verification failed.\r\n";
        let e = connect_error("m", changed);
        assert_eq!(e.kind(), ErrorKind::HostKey);
        let text = e.to_string();
        assert!(text.contains("[127.0.0.1]:2222 has changed"), "{text}");
        assert!(text.contains("/k/known_hosts:2"), "{text}");
    }

    #[test]
    fn stdio_forwards_say_whether_the_channel_opened() {
        let said = "debug1: Reading configuration data /etc/ssh/ssh_config\n\
                    debug1: mux_client_request_stdio_fwd: master session id: 2\n";
        assert!(said.lines().any(stdio_forward_opened));
        let refused = "debug1: auto-mux: Trying existing master\n\
                       Stdio forwarding request failed: Session open refused by peer\n";
        assert!(!refused.lines().any(stdio_forward_opened));
        assert_eq!(
            open_failure("channel 3: open failed: connect failed: Connection refused\r\n"),
            Some("connect failed: Connection refused")
        );
        assert_eq!(open_failure("debug1: channel 3: new"), None);
        assert_eq!(
            stdio_forward_refusal(refused),
            "Stdio forwarding request failed: Session open refused by peer"
        );
    }
}

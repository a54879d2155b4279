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
    // to forward is followed by "stdio forwarding failed" and "Connection closed by").
    let consequence = |l: &&str| {
        [
            "Connection closed by",
            "stdio forwarding failed",
            "kex_exchange_identification",
        ]
        .iter()
        .any(|c| l.starts_with(c))
    };
    let summary = (lines.iter().rev().find(|l| !consequence(l)))
        .or(lines.last())
        .copied()
        .unwrap_or("ssh could not connect");
    let summary = match kind {
        ErrorKind::HostKey => format!("the host key is unknown or has changed ({summary})"),
        _ => summary.to_string(),
    };
    Error::new(kind, name, summary)
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
    }
}

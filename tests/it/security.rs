//! Secrets stay secret and private things stay private.

use crate::common;
use std::os::unix::fs::PermissionsExt;

#[test]
fn the_control_socket_directory_is_private() {
    let before: Vec<_> = socket_dirs();
    let m = common::ssh_builder().connect().unwrap();
    let new: Vec<_> = socket_dirs()
        .into_iter()
        .filter(|d| !before.contains(d))
        .collect();
    assert_eq!(new.len(), 1, "{new:?}");
    let mode = std::fs::metadata(&new[0]).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    plumb::Machine::close(&m).unwrap();
    assert!(!new[0].exists(), "close() left {}", new[0].display());
}

fn socket_dirs() -> Vec<std::path::PathBuf> {
    std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("plumb-ssh-"))
        .map(|e| e.path())
        .collect()
}

#[test]
#[cfg(feature = "ssh2")]
fn a_password_never_appears_in_errors_or_debug_output() {
    use plumb::ErrorKind;
    let secret = "hunter2-do-not-print";
    let d = common::sshd::sshd();
    let b = plumb::Ssh2Machine::builder("127.0.0.1")
        .port(d.port)
        .user(&d.user)
        .known_hosts_file(&d.known_hosts)
        .password(secret);
    assert!(!format!("{b:?}").contains(secret));
    // The test sshd refuses passwords: an authentication error, without the password.
    let err = b.connect().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    assert!(!err.to_string().contains(secret));
    assert!(!format!("{err:?}").contains(secret));
}

//! What every peer offers and users reached for: retries, JSON, a temp dir as an
//! argument, code generic over both remote machines.

use std::time::Duration;

use crate::common::{self, Ctx};
use plumb::prelude::*;
use plumb::{sh, ErrorKind};

/// A command that fails twice, then works: `retry` runs it until it does, and gives up
/// with the last error when the attempts run out.
fn retry_runs_again_while_it_fails(t: &Ctx) {
    let count = t.path("count");
    let flaky = || {
        let script = r#"n=$(cat "$0" 2>/dev/null || echo 0); echo $((n+1)) > "$0"; [ "$n" -ge 2 ]"#;
        t.on(sh!(sh -c $script $count))
    };
    flaky().retry(5, Duration::from_millis(1)).run().unwrap();
    assert_eq!(count.read_to_string().unwrap().trim(), "3");
    count.remove().unwrap();
    let err = flaky()
        .retry(1, Duration::from_millis(1))
        .run()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Exit, "{err}");
    assert_eq!(count.read_to_string().unwrap().trim(), "2");
    // What can never run is not retried.
    let err = t
        .on(sh!(true))
        .env("BAD NAME", "x")
        .retry(100, Duration::from_secs(10))
        .run()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

#[cfg(feature = "serde")]
fn json_parses_stdout(t: &Ctx) {
    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Host {
        name: String,
        ports: Vec<u16>,
    }
    let text = r#"{"name": "web1", "ports": [22, 443]}"#;
    let host: Host = t.on(sh!(printf "%s" $text)).json().unwrap();
    assert_eq!(
        host,
        Host {
            name: "web1".into(),
            ports: vec![22, 443]
        }
    );
    let err = t.on(sh!(echo "not json")).json::<Host>().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Json, "{err}");
    assert!(err.to_string().contains("echo 'not json'"), "{err}");
    // A failing command is its own error, not a JSON one.
    let err = t.on(sh!(false)).json::<Host>().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Exit, "{err}");
}

#[cfg(not(feature = "serde"))]
fn json_parses_stdout(_: &Ctx) {}

/// A temp dir is an argument and has a `path()`, as tempfile's has.
#[test]
fn a_temp_dir_is_an_argument() {
    let dir = plumb::local().temp_dir().unwrap();
    sh!(touch ${dir.path().join("x")}).run().unwrap();
    assert_eq!(sh!(ls $dir).read().unwrap(), "x");
}

/// Code generic over both remote machines reaches sessions, tunnels and `reconnect`.
fn uptime_like(host: &impl RemoteMachine) -> String {
    let s: Session = host.session();
    host.reconnect().unwrap();
    sh!(echo up).on(&s).read().unwrap()
}

#[test]
fn code_can_be_generic_over_remote_machines() {
    assert_eq!(uptime_like(&common::ssh_builder().connect().unwrap()), "up");
    #[cfg(feature = "ssh2")]
    assert_eq!(
        uptime_like(&common::ssh2_builder().connect().unwrap()),
        "up"
    );
}

/// A detached command keeps running on its own, with
/// its output where the expression sends it; its pid is the one returned; what cannot
/// start is an error at once.
fn spawn_detached_outlives_everything(t: &Ctx) {
    let marker = common::marker();
    let log = t.path("daemon.log");
    let script = "echo started $$; exec sleep \"$0\"";
    let pid = t
        .on(sh!(sh -c $script $marker > $log))
        .env("PLUMB_DETACHED", "1")
        .spawn_detached()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !log.read_to_string().is_ok_and(|s| s.contains("started")) {
        assert!(
            std::time::Instant::now() < deadline,
            "the daemon never wrote"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        log.read_to_string().unwrap().trim(),
        format!("started {pid}")
    );
    // Checked here: every test sshd runs on this host.
    std::thread::sleep(Duration::from_millis(300));
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).expect("the daemon is gone");
    assert!(String::from_utf8_lossy(&cmdline).contains(&marker));
    // SAFETY: kill(2) on the daemon this test started.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
    let err = t
        .on(sh! { plumb-no-such-daemon })
        .spawn_detached()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let err = t
        .on(sh!(true))
        .dir("/nonexistent-plumb")
        .spawn_detached()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let err = t
        .on(sh!(sleep 1))
        .timeout(Duration::from_secs(1))
        .spawn_detached()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
}

on_every_machine!(
    retry_runs_again_while_it_fails,
    json_parses_stdout,
    spawn_detached_outlives_everything,
);

/// Closing the machine (which ends every command plumb runs there) leaves a detached one
/// running.
#[test]
fn a_detached_command_survives_closing_its_machine() {
    let fresh: Vec<std::sync::Arc<dyn Machine>> = vec![
        std::sync::Arc::new(common::ssh_builder().connect().unwrap()),
        #[cfg(feature = "ssh2")]
        std::sync::Arc::new(common::ssh2_builder().connect().unwrap()),
    ];
    for m in fresh {
        let marker = common::marker();
        let pid = sh!(sleep $marker)
            .on_dyn(m.clone())
            .spawn_detached()
            .unwrap();
        m.close().unwrap();
        drop(m);
        std::thread::sleep(Duration::from_millis(1500));
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).expect("the daemon is gone");
        assert!(String::from_utf8_lossy(&cmdline).contains(&marker));
        // SAFETY: kill(2) on the daemon this test started.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
    }
}

//! `SshMachine`'s master connection lives no longer than the program, on every Unix alike:
//! a watchdog ends it when the program ends, even by SIGKILL; and the watchdog itself goes
//! as soon as its master is gone, so that it never signals a pid that names another process.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{self, assert_no_survivors, marker, survivors};
use plumb::sh;

/// The pid of this process's child with `pattern` in its command line, if any.
fn child_with(pattern: &str) -> Option<String> {
    let me = std::process::id().to_string();
    let out = sh!(pgrep -P $me -f $pattern).unchecked().read().unwrap();
    out.lines().next().map(str::to_string)
}

/// Whether the watchdog of the master `pid` runs (its last argument is that pid).
fn watchdog_of(pid: &str) -> bool {
    let pattern = format!("plumb-ssh-watchdog {pid}$");
    sh!(pgrep -f $pattern).unchecked().read().unwrap() != ""
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The test runs itself as a child program that connects and then waits to be killed with
/// SIGKILL: no destructor runs, no thread of it survives, and the master still ends.
#[test]
fn ssh_master_ends_with_a_killed_program() {
    if let Ok(mark) = std::env::var("PLUMB_TEST_MASTER_MARK") {
        let m = common::ssh_builder()
            .option("SetEnv", format!("PLUMB_MARK={mark}"))
            .connect()
            .unwrap();
        sh!(true).on(&m).run().unwrap();
        println!("PLUMB_MASTER_UP");
        std::thread::sleep(Duration::from_secs(60));
        return;
    }
    let mark = marker();
    let name = test_path!(ssh_master_ends_with_a_killed_program);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env("PLUMB_TEST_MASTER_MARK", &mark)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let up = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .any(|l| l.contains("PLUMB_MASTER_UP"));
    assert!(up, "the child program did not connect");
    assert!(!survivors(&common::local(), &mark).is_empty(), "no master");
    child.kill().unwrap();
    child.wait().unwrap();
    assert_no_survivors(&common::local(), &mark);
}

/// A master that is closed, or that is lost and then found gone, takes its watchdog along.
#[test]
fn ssh_master_watchdog_goes_with_its_master() {
    let mark = format!("PLUMB_MARK={}", marker());
    let connect = || {
        common::ssh_builder()
            .option("SetEnv", &mark)
            .connect()
            .unwrap()
    };
    let m = connect();
    let pid = child_with(&mark).expect("the master runs");
    assert!(watchdog_of(&pid), "the master has no watchdog");
    drop(m);
    wait_until("the closed master's watchdog is left", || {
        !watchdog_of(&pid)
    });

    let m = connect();
    let pid = child_with(&mark).expect("the master runs");
    assert!(watchdog_of(&pid));
    // The connection is lost: the next command finds the master gone.
    sh!(kill -KILL $pid).run().unwrap();
    wait_until("a lost master still takes commands", || {
        sh!(true).on(&m).run().is_err()
    });
    wait_until("the lost master's watchdog is left", || !watchdog_of(&pid));
}

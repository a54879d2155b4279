//! Timeouts, `kill()` and dropped handles end the whole process tree: nothing is left.

use crate::common;
use std::time::Duration;

use crate::common::{assert_no_survivors, marker, Ctx};
use plumb::{sh, ErrorKind};

/// A script that leaves a child and a grandchild running `sleep MARKER`.
pub(crate) fn tree(marker: &str) -> plumb::Expr {
    let script = format!("sleep {marker} & sh -c 'sleep {marker}' & sleep {marker}; wait");
    sh!(sh -c $script)
}

fn timeout_kills_the_tree(t: &Ctx) {
    let m = marker();
    let err = t
        .on(tree(&m))
        .timeout(Duration::from_millis(500))
        .run()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert_no_survivors(&t.m, &m);
}

fn timeout_kills_every_stage_and_sequence_item(t: &Ctx) {
    let m = marker();
    let e = t.on(tree(&m)) | t.on(sh!(cat));
    assert_eq!(
        e.timeout(Duration::from_millis(500))
            .read()
            .unwrap_err()
            .kind(),
        ErrorKind::Timeout
    );
    assert_no_survivors(&t.m, &m);
    let m = marker();
    let script = format!("sleep {m}");
    let e = t.on(sh!(true; sh -c $script; echo never));
    let started = std::time::Instant::now();
    assert_eq!(
        e.timeout(Duration::from_millis(500))
            .read()
            .unwrap_err()
            .kind(),
        ErrorKind::Timeout
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_no_survivors(&t.m, &m);
}

/// Waits (up to 10 s, on a busy machine a new channel's login takes a while) until the
/// tree with `marker` runs: a kill before it started would prove nothing.
pub(crate) fn wait_until_running(m: &std::sync::Arc<dyn plumb::Machine>, marker: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while common::survivors(m, marker).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the tree did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn kill_ends_the_tree(t: &Ctx) {
    let m = marker();
    let mut h = t.on(tree(&m)).spawn().unwrap();
    wait_until_running(&t.m, &m);
    h.kill().unwrap();
    let err = h.wait().unwrap_err();
    assert_eq!(err.signal(), Some(9));
    assert_no_survivors(&t.m, &m);
}

fn dropping_a_handle_kills(t: &Ctx) {
    let m = marker();
    let h = t.on(tree(&m)).spawn().unwrap();
    wait_until_running(&t.m, &m);
    drop(h);
    assert_no_survivors(&t.m, &m);
}

fn dropping_lines_early_kills(t: &Ctx) {
    let m = marker();
    let script = format!("echo first; sleep {m}");
    let mut lines = t.on(sh!(sh -c $script)).lines().unwrap();
    assert_eq!(lines.next().unwrap().unwrap(), "first");
    drop(lines);
    assert_no_survivors(&t.m, &m);
}

/// A timeout that fires before the job has even started (a millisecond) ends it at once:
/// it never waits for the command, and nothing is left running.
fn a_timeout_before_the_start_ends_it_at_once(t: &Ctx) {
    for ms in [1, 3, 10] {
        let m = marker();
        let began = std::time::Instant::now();
        let err = t
            .on(tree(&m))
            .timeout(Duration::from_millis(ms))
            .run()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
        let took = began.elapsed();
        assert!(took < Duration::from_secs(3), "{ms} ms took {took:?}");
        assert_no_survivors(&t.m, &m);
    }
}

on_every_machine_and_busybox!(
    a_timeout_before_the_start_ends_it_at_once,
    timeout_kills_the_tree,
    timeout_kills_every_stage_and_sequence_item,
    kill_ends_the_tree,
    dropping_a_handle_kills,
    dropping_lines_early_kills,
);

/// A program that exits without cleaning up (`std::process::exit`: no destructors) leaves
/// no process tree behind: a watchdog kills it when the program's end closes its pipe.
/// The test runs itself as a child program that spawns a tree and exits.
#[test]
fn no_local_orphans_after_process_exit() {
    if let Ok(mark) = std::env::var("PLUMB_TEST_EXIT_MARK") {
        let script = format!("sleep {mark} & sh -c 'sleep {mark}' & sleep {mark}; wait");
        let handle = sh!(sh -c $script).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(300));
        std::mem::forget(handle);
        std::process::exit(0);
    }
    let mark = marker();
    let name = test_path!(no_local_orphans_after_process_exit);
    assert!(common::run_alone(name, ("PLUMB_TEST_EXIT_MARK", &mark)));
    assert_no_survivors(&common::local(), &mark);
}

//! The async API (cargo feature `tokio`): what only it can show. Every general test body
//! also runs through the async twins (`on_every_machine!`'s `*_async` modules); here are
//! cancellation, many commands awaited together on one thread, and what a command in
//! flight costs in threads.
#![cfg(feature = "tokio")]

use std::time::Duration;

use plumb::sh;

use crate::common::{self, assert_no_survivors, marker, Ctx};
use crate::kill::{tree, wait_until_running};

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A future dropped while its command runs ends the command's whole tree, as a timeout
/// does.
fn dropping_a_running_future_ends_its_tree(t: &Ctx) {
    let m = marker();
    let expr = t.on(tree(&m));
    let rt = current_thread();
    // Boxed, so that dropping it drops the future itself.
    let mut run = Box::pin(expr.run_async());
    let early =
        rt.block_on(async { tokio::time::timeout(Duration::from_millis(50), &mut run).await });
    assert!(early.is_err(), "the tree ended by itself: {early:?}");
    wait_until_running(&t.m, &m);
    drop(run);
    assert_no_survivors(&t.m, &m);
}

/// Many commands awaited together on a current-thread runtime: each gets its own output,
/// byte for byte, and a failure is its own command's error.
fn many_commands_await_together_on_one_thread(t: &Ctx) {
    let rt = current_thread();
    let outputs = rt.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for i in 0..20 {
            let expr = t.on(sh!(printf "%s\n" $i));
            set.spawn(async move { (i, expr.read_bytes_async().await) });
        }
        set.join_all().await
    });
    assert_eq!(outputs.len(), 20);
    for (i, out) in outputs {
        assert_eq!(out.unwrap(), format!("{i}\n").into_bytes());
    }
    let err = rt
        .block_on(t.on(sh!(sh -c "echo why >&2; exit 3")).output_async())
        .unwrap_err();
    assert_eq!(err.code(), Some(3), "{err}");
    assert!(err.to_string().contains("why"), "{err}");
}

/// A timeout runs on the runtime's timer and ends the tree; the error names it.
fn a_timeout_ends_the_tree_on_the_runtimes_timer(t: &Ctx) {
    let m = marker();
    let expr = t.on(tree(&m)).timeout(Duration::from_millis(300));
    let err = current_thread().block_on(expr.output_async()).unwrap_err();
    assert_eq!(err.kind(), plumb::ErrorKind::Timeout, "{err}");
    assert_no_survivors(&t.m, &m);
}

on_every_machine!(
    dropping_a_running_future_ends_its_tree,
    many_commands_await_together_on_one_thread,
    a_timeout_ends_the_tree_on_the_runtimes_timer,
);

#[cfg(target_os = "linux")]
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[cfg(target_os = "linux")]
/// 200 commands in flight at once take no thread each: this process's threads stay
/// within a few of what it had before (run alone, so that no other test's threads count).
fn in_flight_commands_take_no_threads(m: std::sync::Arc<dyn plumb::Machine>) {
    // A first command: the connection's I/O thread is there before counting.
    sh!(true).on_dyn(m.clone()).run().unwrap();
    let before = threads();
    let rt = current_thread();
    let during = rt.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..200 {
            let expr = sh!(sleep 1).on_dyn(m.clone());
            set.spawn(async move { expr.run_async().await });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let during = threads();
        for r in set.join_all().await {
            r.unwrap();
        }
        during
    });
    println!("threads: {before} before, {during} with 200 commands in flight");
    assert!(
        during <= before + 2,
        "{before} threads before, {during} during"
    );
}

#[test]
#[cfg(target_os = "linux")]
fn local_commands_in_flight_take_no_threads() {
    if std::env::var_os("PLUMB_TEST_THREADS").is_none() {
        let name = test_path!(local_commands_in_flight_take_no_threads);
        assert!(common::run_alone(name, ("PLUMB_TEST_THREADS", "1")));
        return;
    }
    in_flight_commands_take_no_threads(common::local());
}

#[test]
#[cfg(all(target_os = "linux", feature = "ssh2"))]
fn ssh2_commands_in_flight_take_no_threads() {
    if std::env::var_os("PLUMB_TEST_THREADS").is_none() {
        let name = test_path!(ssh2_commands_in_flight_take_no_threads);
        assert!(common::run_alone(name, ("PLUMB_TEST_THREADS", "1")));
        return;
    }
    let extra = "MaxSessions 300\n";
    let d = common::sshd::start_with(common::sshd::sshd().user.clone(), extra);
    let m = common::ssh2_builder_for(&d).connect().unwrap();
    in_flight_commands_take_no_threads(std::sync::Arc::new(m));
}

/// `#[tokio::test]` as users write it: a multi-thread runtime, commands on every kind of
/// machine awaited side by side.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_thread_runtime_awaits_local_and_remote_side_by_side() {
    let local = sh!(echo here).read_async();
    let ssh = sh!(echo there).on_dyn(common::ssh()).read_async();
    let (a, b) = tokio::join!(local, ssh);
    assert_eq!(
        (a.unwrap(), b.unwrap()),
        ("here".to_string(), "there".to_string())
    );
    #[cfg(feature = "ssh2")]
    assert_eq!(
        sh!(echo far)
            .on_dyn(common::ssh2())
            .read_async()
            .await
            .unwrap(),
        "far"
    );
}

/// An awaited command on a session whose one shell is busy runs beside it (on a channel of
/// its own) instead of waiting for the shell: waiting would block the runtime's thread,
/// and with it the timer that would free the shell.
fn an_awaited_command_never_waits_for_a_busy_shell(session: std::sync::Arc<dyn plumb::Machine>) {
    let rt = current_thread();
    rt.block_on(async {
        let slow = sh!(sleep 30)
            .on_dyn(session.clone())
            .timeout(Duration::from_secs(2));
        let slow = tokio::spawn(slow.run_async());
        // The slow command has the shell by now (it started on the first poll).
        tokio::time::sleep(Duration::from_millis(300)).await;
        let quick = sh!(echo beside).on_dyn(session.clone()).read_async().await;
        assert_eq!(quick.unwrap(), "beside");
        let err = slow.await.unwrap().unwrap_err();
        assert_eq!(err.kind(), plumb::ErrorKind::Timeout, "{err}");
    });
}

#[test]
fn an_awaited_command_never_waits_for_a_busy_ssh_shell() {
    let m = common::ssh_builder().connect().unwrap();
    an_awaited_command_never_waits_for_a_busy_shell(std::sync::Arc::new(m.session().max_shells(1)));
}

#[test]
#[cfg(feature = "ssh2")]
fn an_awaited_command_never_waits_for_a_busy_ssh2_shell() {
    let m = common::ssh2_builder().connect().unwrap();
    an_awaited_command_never_waits_for_a_busy_shell(std::sync::Arc::new(m.session().max_shells(1)));
}

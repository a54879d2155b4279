//! Every terminal call and modifier of `Expr`, on every machine.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use crate::common::Ctx;
use plumb::{sh, ErrorKind};

fn run_checks_the_status(t: &Ctx) {
    t.on(sh!(true)).run().unwrap();
    let err = t.on(sh!(sh -c "echo why >&2; exit 4")).run().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Exit);
    assert_eq!(err.code(), Some(4));
    // run passes stderr through and still keeps its tail for the error.
    assert_eq!(err.stderr(), Some(&b"why\n"[..]));
}

fn read_trims_trailing_newlines_only(t: &Ctx) {
    assert_eq!(t.on(sh!(printf "  a\n\n\n")).read().unwrap(), "  a");
    assert_eq!(t.on(sh!(printf "a\r\n")).read().unwrap(), "a");
    assert_eq!(t.on(sh!(true)).read().unwrap(), "");
}

fn read_rejects_invalid_utf8_and_read_bytes_keeps_it(t: &Ctx) {
    let err = t.on(sh!(printf "\\377")).read().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Utf8);
    assert!(err.to_string().contains("read_bytes"), "{err}");
    assert_eq!(t.on(sh!(printf "\\377")).read_bytes().unwrap(), [0xff]);
}

fn output_returns_everything(t: &Ctx) {
    let out = t
        .on(sh!(sh -c "echo o; echo e >&2; exit 3"))
        .unchecked()
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(!out.status.success());
    assert_eq!(out.stdout, b"o\n");
    assert_eq!(out.stderr, b"e\n");
    let err = t.on(sh!(sh -c "echo o; exit 3")).output().unwrap_err();
    assert_eq!(err.stdout(), Some(&b"o\n"[..]));
}

fn code_and_success_never_fail_on_status(t: &Ctx) {
    assert_eq!(t.on(sh!(sh -c "exit 7")).code().unwrap(), 7);
    assert_eq!(t.on(sh!(true)).code().unwrap(), 0);
    assert!(t.on(sh!(test -d .)).success().unwrap());
    assert!(!t.on(sh!(test -f .)).success().unwrap());
    assert_eq!(t.on(sh!(sh -c "kill -9 $$$$")).code().unwrap(), 128 + 9);
}

fn lines_stream_as_the_command_runs(t: &Ctx) {
    let started = Instant::now();
    let mut lines = t
        .on(sh!(sh -c "echo first; sleep 3; echo second"))
        .lines()
        .unwrap();
    assert_eq!(lines.next().unwrap().unwrap(), "first");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the first line waited for the end"
    );
    assert_eq!(lines.next().unwrap().unwrap(), "second");
    assert!(lines.next().is_none());
}

fn lines_end_with_the_error(t: &Ctx) {
    let items: Vec<_> = t
        .on(sh!(sh -c "echo a; echo b; echo bad >&2; exit 2"))
        .lines()
        .unwrap()
        .collect();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0].as_ref().unwrap(), "a");
    assert_eq!(items[1].as_ref().unwrap(), "b");
    let err = items[2].as_ref().unwrap_err();
    assert_eq!(err.code(), Some(2));
    assert!(err.to_string().ends_with(": bad"), "{err}");
}

fn spawn_gives_streams_and_waits(t: &Ctx) {
    let mut h = t.on(sh!(tr a-z A-Z)).spawn().unwrap();
    h.stdin().unwrap().write_all(b"hello").unwrap();
    let out = h.wait().unwrap();
    assert_eq!(out.stdout, b"HELLO");
    // Waiting again returns the same output.
    assert_eq!(h.wait().unwrap().stdout, b"HELLO");

    let mut h = t.on(sh!(sh -c "read x; echo got $$x")).spawn().unwrap();
    let mut stdin = h.take_stdin().unwrap();
    stdin.write_all(b"ping\n").unwrap();
    drop(stdin);
    let mut stdout = h.take_stdout().unwrap();
    let mut text = String::new();
    stdout.read_to_string(&mut text).unwrap();
    assert_eq!(text, "got ping\n");
    assert!(h.wait().unwrap().status.success());
}

fn spawn_try_wait(t: &Ctx) {
    let mut h = t.on(sh!(sleep 0.3)).spawn().unwrap();
    assert_eq!(h.try_wait().unwrap(), None);
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(s) = h.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success());
    assert!(h.wait().unwrap().status.success());
}

fn spawn_reports_failure_at_wait(t: &Ctx) {
    let mut h = t.on(sh!(sh -c "exit 5")).spawn().unwrap();
    assert_eq!(h.wait().unwrap_err().code(), Some(5));
}

fn dir_env_and_env_remove(t: &Ctx) {
    t.path("d").create_dir_all().unwrap();
    assert!(t.on(sh!(pwd)).dir("d").read().unwrap().ends_with("/d"));
    let out = t
        .on(sh!(sh -c "echo $$X-$${HOME:-none}"))
        .env("X", "x y")
        .env_remove("HOME")
        .read()
        .unwrap();
    assert_eq!(out, "x y-none");
    // The command's own assignment wins over `.env`.
    let out = t
        .on(sh!(X=inner sh -c "echo $$X"))
        .env("X", "outer")
        .read()
        .unwrap();
    assert_eq!(out, "inner");
}

fn stdin_bytes(t: &Ctx) {
    assert_eq!(
        t.on(sh!(cat))
            .stdin_bytes(b"\x00\x01raw".to_vec())
            .read_bytes()
            .unwrap(),
        b"\x00\x01raw"
    );
    assert_eq!(
        t.on(sh!(cat | tr a-z A-Z))
            .stdin_bytes("abc")
            .read()
            .unwrap(),
        "ABC"
    );
    assert_eq!(
        t.on(sh!(cat)).stdin_bytes("in").output().unwrap().stdout,
        b"in"
    );
    // A reader that stops early is fine.
    let big = vec![b'x'; 1 << 20];
    assert_eq!(t.on(sh!(head -c 3)).stdin_bytes(big).read().unwrap(), "xxx");
}

fn timeout_fails_with_timeout(t: &Ctx) {
    let started = Instant::now();
    let err = t
        .on(sh!(sleep 30))
        .timeout(Duration::from_millis(300))
        .run()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(err.to_string().contains("timed out after 300ms"), "{err}");
    // A command that finishes in time is unaffected.
    assert_eq!(
        t.on(sh!(echo quick))
            .timeout(Duration::from_secs(30))
            .read()
            .unwrap(),
        "quick"
    );
}

fn unchecked_and_ok_codes(t: &Ctx) {
    t.on(sh!(false)).unchecked().run().unwrap();
    t.on(sh!(sh -c "exit 3")).ok_codes(&[0, 3]).run().unwrap();
    assert_eq!(
        t.on(sh!(sh -c "exit 4"))
            .ok_codes(&[0, 3])
            .run()
            .unwrap_err()
            .code(),
        Some(4)
    );
    assert!(t.on(sh!(true)).ok_codes(&[1]).run().is_err());
    // On a pipeline the check judges the pipeline's status.
    t.on(sh!(grep nothing-here /dev/null | cat))
        .ok_codes(&[0, 1])
        .run()
        .unwrap();
}

fn stderr_to_stdout(t: &Ctx) {
    let out = t
        .on(sh!(sh -c "echo o; echo e >&2"))
        .stderr_to_stdout()
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains('o') && text.contains('e'));
    assert!(out.stderr.is_empty());
}

fn exprs_are_values(t: &Ctx) {
    let e = t.on(sh!(echo again));
    let copy = e.clone();
    assert_eq!(e.read().unwrap(), "again");
    assert_eq!(copy.read().unwrap(), "again");
    let upper = t.on(sh!(echo a | tr a b));
    assert_eq!(upper.to_string(), "echo a | tr a b");
    assert_eq!(format!("{:?}", sh!(echo "x y")), "Expr(echo 'x y')");
}

fn bitor_pipes_exprs(t: &Ctx) {
    let e = t.on(sh!(printf "b\na\n")) | t.on(sh!(sort)) | t.on(sh!(head -n 1));
    assert_eq!(e.read().unwrap(), "a");
    assert_eq!(e.to_string(), "printf 'b\\na\\n' | sort | head -n 1");
}

fn cmd_builds_without_the_macro(t: &Ctx) {
    let args = vec!["%s-", "a b", "c"];
    assert_eq!(t.on(plumb::cmd("printf", &args)).read().unwrap(), "a b-c-");
}

on_every_machine_and_busybox!(
    // `#[cfg(unix)]`: the body runs Unix programs (`sh`, `printf`, `tr`...) that Windows lacks; `portable` tests the same there.
    #[cfg(unix)]
    run_checks_the_status,
    #[cfg(unix)]
    read_trims_trailing_newlines_only,
    #[cfg(unix)]
    read_rejects_invalid_utf8_and_read_bytes_keeps_it,
    #[cfg(unix)]
    output_returns_everything,
    #[cfg(unix)]
    code_and_success_never_fail_on_status,
    #[cfg(unix)]
    lines_stream_as_the_command_runs,
    #[cfg(unix)]
    lines_end_with_the_error,
    #[cfg(unix)]
    spawn_gives_streams_and_waits,
    spawn_try_wait,
    #[cfg(unix)]
    spawn_reports_failure_at_wait,
    #[cfg(unix)]
    dir_env_and_env_remove,
    #[cfg(unix)]
    stdin_bytes,
    timeout_fails_with_timeout,
    #[cfg(unix)]
    unchecked_and_ok_codes,
    #[cfg(unix)]
    stderr_to_stdout,
    exprs_are_values,
    #[cfg(unix)]
    bitor_pipes_exprs,
    #[cfg(unix)]
    cmd_builds_without_the_macro,
);

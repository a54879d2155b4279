//! Pipelines: pipefail, big data, no deadlocks, pipes across machines.

use crate::common::Ctx;
use plumb::prelude::*;
use plumb::{sh, ErrorKind};

fn pipefail_names_the_failing_stage(t: &Ctx) {
    let err = t
        .on(sh!(echo x | sh -c "cat; exit 3" | cat))
        .read()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Exit);
    assert_eq!(err.code(), Some(3));
    assert_eq!(err.command(), Some("echo x | sh -c 'cat; exit 3' | cat"));
    assert!(
        err.to_string()
            .contains("failed: `sh -c 'cat; exit 3'` exited with code 3"),
        "{err}"
    );
    // The rightmost failing stage decides, as with `set -o pipefail`.
    let err = t
        .on(sh!(sh -c "exit 2" | sh -c "exit 5" | true))
        .run()
        .unwrap_err();
    assert_eq!(err.code(), Some(5));
}

fn early_exit_of_the_reader_is_not_a_failure(t: &Ctx) {
    assert_eq!(t.on(sh!(yes | head -n 2)).read().unwrap(), "y\ny");
}

fn big_stdout_and_stderr_at_once_never_deadlock(t: &Ctx) {
    let out = t
        .on(sh!(sh -c "head -c 5000000 /dev/zero; head -c 5000000 /dev/zero >&2; head -c 5000000 /dev/zero"))
        .output()
        .unwrap();
    assert_eq!(out.stdout.len(), 10_000_000);
    assert_eq!(out.stderr.len(), 5_000_000);
}

fn data_flows_between_stages(t: &Ctx) {
    let out = t
        .on(sh!(head -c 100000000 /dev/zero | tr "\\0" a | wc -c))
        .read()
        .unwrap();
    assert_eq!(out.trim(), "100000000");
}

fn pipe_stages_on_different_handles(t: &Ctx) {
    t.path("a").create_dir_all().unwrap();
    t.path("b").create_dir_all().unwrap();
    t.path("a/f").write("from a\n").unwrap();
    let a = t.m.path(t.dir.as_path()).join("a");
    let b = t.m.path(t.dir.as_path()).join("b");
    let e = sh!(cat f).on_dyn(t.m.clone()).dir(a.as_path())
        | sh!(tee copy).on(&plumb::local().with_dir(b.as_path()));
    // The second stage is always local; this runs one stage per machine.
    let out = e.read().unwrap();
    assert_eq!(out, "from a");
    assert_eq!(
        std::fs::read_to_string(b.as_path().join("copy")).unwrap(),
        "from a\n"
    );
}

fn local_into_the_machine(t: &Ctx) {
    let e = sh!(printf "x\ny\n").on(&plumb::local())
        | t.on(sh! { wc -l })
        | sh!(tr -d " ").on(&plumb::local());
    assert_eq!(e.read().unwrap(), "2");
}

fn cross_machine_pipefail(t: &Ctx) {
    let e = sh!(sh -c "echo x; exit 4").on_dyn(t.m.clone()) | sh!(cat).on(&plumb::local());
    let err = e.read().unwrap_err();
    assert_eq!(err.code(), Some(4));
    assert_eq!(err.machine(), t.m.name());
}

/// A stage's own `ok_codes` accept its code, last stage included, on every machine alike.
/// (Remote machines once judged a pipeline whose last stage's accepted code was non-zero
/// as failed.)
fn a_stage_s_own_ok_codes_count_last_stage_included(t: &Ctx) {
    let last = sh!(echo x) | sh!(sh -c "cat >/dev/null; exit 3").ok_codes(&[3]);
    let out = t.on(last).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let first = sh!(sh -c "exit 3").ok_codes(&[3]) | sh!(echo y);
    assert_eq!(t.on(first).read().unwrap(), "y");
    // Not accepted: the check belongs to the other stage.
    let other = sh!(echo x).ok_codes(&[3]) | sh!(sh -c "cat >/dev/null; exit 3");
    assert_eq!(t.on(other).run().unwrap_err().code(), Some(3));
    // In a sequence the last item that ran decides, by its own check.
    let seq = sh!(false || sh -c "exit 3");
    assert!(t.on(seq).run().is_err());
}

/// An item of a sequence that cannot start fails like it would in a shell, and the
/// sequence goes on: the fallback runs on every machine.
fn a_missing_program_in_a_sequence_runs_the_fallback(t: &Ctx) {
    let out = t
        .on(sh!(plumb-no-such-program || echo fallback))
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"fallback\n");
    assert!(
        !out.stderr.is_empty(),
        "the shell-like complaint goes to stderr"
    );
    let err = t
        .on(sh!(plumb-no-such-program && echo never))
        .read()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert_eq!(err.code(), Some(127), "{err}");
}

on_every_machine!(
    // `#[cfg(unix)]`: the body runs Unix programs (`sh`, `printf`, `tr`...) that Windows lacks; `portable` tests the same there.
    #[cfg(unix)]
    a_stage_s_own_ok_codes_count_last_stage_included,
    a_missing_program_in_a_sequence_runs_the_fallback,
    #[cfg(unix)]
    pipefail_names_the_failing_stage,
    #[cfg(unix)]
    early_exit_of_the_reader_is_not_a_failure,
    #[cfg(unix)]
    big_stdout_and_stderr_at_once_never_deadlock,
    #[cfg(unix)]
    data_flows_between_stages,
    #[cfg(unix)]
    pipe_stages_on_different_handles,
    #[cfg(unix)]
    local_into_the_machine,
    #[cfg(unix)]
    cross_machine_pipefail,
);

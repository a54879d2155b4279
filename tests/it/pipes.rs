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

on_every_machine!(
    pipefail_names_the_failing_stage,
    early_exit_of_the_reader_is_not_a_failure,
    big_stdout_and_stderr_at_once_never_deadlock,
    data_flows_between_stages,
    pipe_stages_on_different_handles,
    local_into_the_machine,
    cross_machine_pipefail,
);

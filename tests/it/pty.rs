//! `.pty()`: a job on a terminal of the remote host (Paramiko's `get_pty`), on both remote
//! machines and from their sessions; the local machine refuses it clearly.

use std::time::{Duration, Instant};

use crate::common::{self, Ctx};
use plumb::prelude::*;
use plumb::{sh, ErrorKind};

fn is_local(t: &Ctx) -> bool {
    t.m.name() == "local"
}

/// The program sees a terminal (`tty` names it; without `.pty()` there is none).
fn a_pty_job_runs_on_a_terminal(t: &Ctx) {
    let on_tty = t.on(sh!(tty)).pty();
    if is_local(t) {
        let err = on_tty.read().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
        assert!(err.to_string().contains(".pty()"), "{err}");
        return;
    }
    let tty = on_tty.read().unwrap();
    assert!(tty.starts_with("/dev/"), "{tty:?}");
    let plain = t.on(sh!(tty)).unchecked().read().unwrap();
    assert_eq!(plain, "not a tty");
}

/// A terminal has one output: stderr arrives in stdout, lines end as a terminal's do.
fn a_pty_merges_stderr_into_stdout(t: &Ctx) {
    if is_local(t) {
        return;
    }
    let out = t
        .on(sh!(sh -c "echo out; echo err >&2"))
        .pty()
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"out\r\nerr\r\n");
    assert!(out.stderr.is_empty(), "{:?}", out.stderr);
    // A failure is still named, with its code.
    let err = t
        .on(sh!(sh -c "echo nope >&2; exit 3"))
        .pty()
        .run()
        .unwrap_err();
    assert_eq!(err.code(), Some(3), "{err}");
}

/// The window size: 80×24 unless asked, as `stty` and the program see it.
fn a_pty_has_the_size_asked_for(t: &Ctx) {
    if is_local(t) {
        return;
    }
    assert_eq!(t.on(sh!(stty size)).pty().read().unwrap(), "24 80");
    let sized = t.on(sh!(stty size)).pty_size(132, 50).read().unwrap();
    assert_eq!(sized, "50 132");
    // The outermost setting wins, and applies to the whole job.
    let pipeline = (sh!(stty size).pty_size(10, 5) | sh!(cat)).pty_size(100, 40);
    assert_eq!(t.on(pipeline).read().unwrap(), "40 100");
}

/// Input reaches the program through the terminal, without echo, and its end comes as a
/// keyboard's Ctrl-D: `cat` ends, with or without input, never waiting forever.
fn a_pty_job_gets_its_input_and_its_end(t: &Ctx) {
    if is_local(t) {
        return;
    }
    let began = Instant::now();
    let out = t.on(sh!(cat)).pty().stdin_bytes("hi\n").read().unwrap();
    assert_eq!(out, "hi");
    let out = t.on(sh!(cat)).pty().stdin_bytes("partial").read().unwrap();
    assert_eq!(out, "partial");
    // Input from a pipe: a stage on another machine.
    let piped = sh!(printf "a\nb\n").on_dyn(common::local()) | t.on(sh!(cat)).pty();
    assert_eq!(piped.read().unwrap(), "a\r\nb");
    let out = t.on(sh!(cat)).pty().read().unwrap();
    assert_eq!(out, "");
    assert!(began.elapsed() < Duration::from_secs(20));
}

/// Values that may be secret never pass through the terminal (which would echo them) or
/// argv: the output holds only what the command printed.
fn a_pty_job_gets_its_secrets_without_echo(t: &Ctx) {
    if is_local(t) {
        return;
    }
    let secret = "s3cret value; $(not run)";
    let out = t
        .on(sh!(sh -c "echo \"$$TOKEN\""))
        .env("TOKEN", secret)
        .pty()
        .read()
        .unwrap();
    assert_eq!(out, secret);
    let out = t.on(sh!(cat <<< $secret)).pty().read().unwrap();
    assert_eq!(out, secret);
    // The values' private file is gone once read.
    let gone = t
        .on(sh!(sh -c "grep -rl 's3cret value' /dev/shm/.plumb-* /tmp/.plumb-* 2>/dev/null; true"))
        .read()
        .unwrap();
    assert_eq!(gone, "", "a values file was left behind");
}

/// A timeout ends a job on a terminal, its whole process tree included.
fn a_pty_job_times_out_and_leaves_nothing(t: &Ctx) {
    if is_local(t) {
        return;
    }
    let marker = common::marker();
    let err = t
        .on(sh!(sh -c "sleep $$0 & sleep $$0; wait" $marker))
        .pty()
        .timeout(Duration::from_millis(500))
        .run()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    common::assert_no_survivors(&t.m, &marker);
}

/// Input is the job's, byte for byte within the terminal's rules: ssh's escape character
/// (`~.` at a line's start) does not end the connection.
fn a_pty_passes_ssh_escapes_through(t: &Ctx) {
    if is_local(t) {
        return;
    }
    let out = t
        .on(sh!(cat))
        .pty()
        .stdin_bytes("a\n~.\nb\n")
        .read()
        .unwrap();
    assert_eq!(out, "a\r\n~.\r\nb");
}

/// A job killed before its script could read its values leaves no file of them behind.
fn a_killed_pty_job_leaves_no_values_behind(t: &Ctx) {
    if is_local(t) {
        return;
    }
    let secret = common::marker();
    for ms in 1..=6 {
        let _ = t
            .on(sh!(sh -c "echo \"$$V\"; sleep 5"))
            .env("V", &secret)
            .pty()
            .timeout(Duration::from_millis(ms))
            .run();
    }
    let grep = format!("grep -rl '{secret}' /dev/shm/.plumb-* /tmp/.plumb-* 2>/dev/null; true");
    let left = t.on(sh!(sh -c $grep)).read().unwrap();
    assert_eq!(left, "", "values left behind");
}

crate::on_every_machine_and_busybox!(
    a_pty_job_runs_on_a_terminal,
    a_pty_merges_stderr_into_stdout,
    a_pty_has_the_size_asked_for,
    a_pty_job_gets_its_input_and_its_end,
    a_pty_job_gets_its_secrets_without_echo,
    a_pty_job_times_out_and_leaves_nothing,
    a_pty_passes_ssh_escapes_through,
    a_killed_pty_job_leaves_no_values_behind,
);

/// On a pipeline across machines, `.pty()` reaches each machine's part: the remote one
/// runs on a terminal, and the local one refuses, never ignores it.
#[test]
fn a_pty_over_machines_is_never_ignored() {
    let remote = sh!(tty).on_dyn(common::ssh());
    let err = (sh!(echo hi).on_dyn(common::local()) | remote.clone())
        .pty()
        .read()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    let tty = (remote | sh!(cat).on_dyn(common::local()).pty_size(80, 24)).read();
    assert!(
        tty.is_err(),
        "the local stage's .pty() must be refused: {tty:?}"
    );
}

/// A detached command has no terminal to run on: a clear error, on every machine.
#[test]
fn a_detached_command_cannot_have_a_pty() {
    let machines = [common::local(), common::ssh()];
    for m in machines {
        let err = sh!(sleep 1).on_dyn(m).pty().spawn_detached().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    }
}

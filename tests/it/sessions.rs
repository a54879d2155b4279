//! Sessions: commands in persistent remote shells give the machine's own results, and
//! the cases that break other libraries' sessions give a correct result or a clear error,
//! never a hang and never another command's output. Each body runs on a session of both
//! remote machines; the general test bodies (calls, pipes, errors, kill...) also run on
//! sessions through `on_every_machine!`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{self, assert_no_survivors, marker};
use plumb::prelude::*;
use plumb::{sh, ErrorKind, Session};

/// The path a command's stdout is: a session's own file, or a channel's pipe.
fn stdout_kind(out: &str) -> &'static str {
    if out.contains(".plumb-session-") {
        "session"
    } else {
        "channel"
    }
}

/// Which calls run in the session's shells, which on channels of their own.
fn calls_take_the_right_path(s: &Session) {
    let probe = || sh! { readlink /proc/self/fd/1 };
    let via = |out: String| stdout_kind(&out);
    assert_eq!(via(probe().on(s).read().unwrap()), "session");
    assert_eq!(
        via(probe().on(s).stdin_bytes("x").read().unwrap()),
        "session"
    );
    let out = probe().on(s).output().unwrap().stdout;
    assert_eq!(via(String::from_utf8(out).unwrap()), "session");
    // Streamed: lines, spawn, stdin from a local stage.
    let line = probe().on(s).lines().unwrap().next().unwrap().unwrap();
    assert_eq!(via(line), "channel");
    let mut h = probe().on(s).spawn().unwrap();
    assert_eq!(
        via(String::from_utf8(h.wait().unwrap().stdout).unwrap()),
        "channel"
    );
    let piped = (sh!(echo x) | sh!(sh -c "cat >/dev/null; readlink /proc/self/fd/1").on(s))
        .read()
        .unwrap();
    assert_eq!(via(piped), "channel");
}

/// `cd`, variables, `umask` and traps end with their command.
fn nothing_leaks_between_commands(s: &Session) {
    let home = sh!(pwd).on(s).read().unwrap();
    sh!(cd /).on(s).run().unwrap();
    sh! { umask 077 }.on(s).run().unwrap();
    sh!(sh -c "X=1; export X").on(s).run().unwrap();
    assert_eq!(sh!(pwd).on(s).read().unwrap(), home);
    assert_ne!(sh!(umask).on(s).read().unwrap(), "0077");
    assert_eq!(sh!(printenv X).on(s).code().unwrap(), 1);
    let with_trap = sh!(sh -c "trap 'echo trapped' EXIT; echo body").on(s);
    assert_eq!(with_trap.read().unwrap(), "body\ntrapped");
    assert_eq!(sh!(echo after).on(s).read().unwrap(), "after");
}

fn streams_stay_apart_and_exact(s: &Session) {
    let all: Vec<u8> = (0..=255u8).collect();
    let out = sh!(sh -c "cat; cat /dev/null >&2")
        .on(s)
        .stdin_bytes(all.clone())
        .output()
        .unwrap();
    assert_eq!(out.stdout, all);
    let err = sh!(sh -c "cat >&2")
        .on(s)
        .stdin_bytes(all.clone())
        .output()
        .unwrap();
    assert_eq!((err.stdout.as_slice(), err.stderr), (&b""[..], all.clone()));
    // Output that looks like framing: markers, newlines, no final newline.
    let fake = "\nabcdef0123456789abcdef0123456789 0\n\nabcdef0123456789abcdef0123456789.\n";
    let out = sh!(printf "%s" $fake).on(s).output().unwrap();
    assert_eq!(out.stdout, fake.as_bytes());
    let out = sh!(printf "no newline").on(s).read_bytes().unwrap();
    assert_eq!(out, b"no newline");
    let out = sh!(sh -c "echo out; echo err >&2; exit 3")
        .on(s)
        .unchecked()
        .output()
        .unwrap();
    assert_eq!(
        (out.status.code(), out.stdout, out.stderr),
        (Some(3), b"out\n".to_vec(), b"err\n".to_vec())
    );
    let err = sh!(sh -c "echo oops >&2; exit 4").on(s).read().unwrap_err();
    assert_eq!((err.kind(), err.code()), (ErrorKind::Exit, Some(4)));
    assert_eq!(err.stderr(), Some(&b"oops\n"[..]));
}

fn a_command_that_reads_stdin_reads_nothing_else(s: &Session) {
    assert_eq!(sh!(cat).on(s).read().unwrap(), "");
    assert_eq!(sh!(cat).on(s).stdin_bytes("given").read().unwrap(), "given");
    assert_eq!(sh!(echo next).on(s).read().unwrap(), "next");
}

fn a_command_that_closes_stdout_early(s: &Session) {
    let out = sh!(sh -c "echo before; exec >&-; echo gone >&2")
        .on(s)
        .output()
        .unwrap();
    assert_eq!(
        (out.stdout, out.stderr),
        (b"before\n".to_vec(), b"gone\n".to_vec())
    );
    assert_eq!(sh!(echo next).on(s).read().unwrap(), "next");
}

/// A child that outlives its command keeps writing to that command's own output, never
/// into the next command's.
fn a_background_child_never_reaches_the_next_command(s: &Session) {
    let started = Instant::now();
    let out = sh!(sh -c "(sleep 1; echo late) & echo now")
        .on(s)
        .read()
        .unwrap();
    assert!(out.starts_with("now"), "{out}");
    for _ in 0..15 {
        assert_eq!(sh!(echo mine).on(s).read().unwrap(), "mine");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(started.elapsed() > Duration::from_secs(1));
}

fn exit_and_exec_end_only_their_command(s: &Session) {
    assert_eq!(sh!(exit 3).on(s).code().unwrap(), 3);
    assert_eq!(sh!(exec echo replaced).on(s).read().unwrap(), "replaced");
    assert_eq!(sh!(echo still).on(s).read().unwrap(), "still");
}

/// Killing the session's shell itself breaks that shell: the command says so, and the
/// next one gets a new shell.
fn a_command_that_kills_its_shell(s: &Session) {
    let s = s.max_shells(1);
    // The nearest ancestor that is the session's `/bin/sh` (not sshd: killing that would
    // end the whole connection, as it would on the machine).
    let kill = "p=$PPID; while [ \"$(tr '\\0' ' ' </proc/$p/cmdline)\" != '/bin/sh ' ]; do \
                p=$(cut -d' ' -f4 /proc/$p/stat); done; kill -9 $p";
    let err = sh!(sh -c $kill).on(&s).run().unwrap_err();
    assert!(err.to_string().contains("session's shell"), "{err}");
    assert_eq!(sh!(echo next).on(&s).read().unwrap(), "next");
}

fn big_output_on_both_streams(s: &Session) {
    let out = sh!(sh -c "head -c 100000000 /dev/zero; head -c 100000000 /dev/zero >&2")
        .on(s)
        .output()
        .unwrap();
    assert_eq!(
        (out.stdout.len(), out.stderr.len()),
        (100_000_000, 100_000_000)
    );
    assert!(out.stdout.iter().all(|&b| b == 0));
    assert_eq!(sh!(echo next).on(s).read().unwrap(), "next");
}

fn a_timeout_kills_the_tree_and_the_session_goes_on(s: &Session) {
    let m = marker();
    let script = format!("sleep {m} & sleep {m}");
    let err = sh!(sh -c $script)
        .on(s)
        .timeout(Duration::from_millis(300))
        .run()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    let machine: Arc<dyn Machine> = Arc::new(s.clone());
    assert_no_survivors(&machine, &m);
    assert_eq!(sh!(echo again).on(s).read().unwrap(), "again");
}

/// Many threads share a session, each getting its own answers.
fn threads_run_in_parallel(s: &Session) {
    std::thread::scope(|scope| {
        for i in 0..8 {
            scope.spawn(move || {
                for j in 0..20 {
                    let out = sh!(sh -c "echo $$1-$$2; echo $$2-$$1 >&2" sh $i $j)
                        .on(s)
                        .output()
                        .unwrap();
                    assert_eq!(out.stdout, format!("{i}-{j}\n").into_bytes());
                    assert_eq!(out.stderr, format!("{j}-{i}\n").into_bytes());
                }
            });
        }
    });
}

macro_rules! on_both_sessions {
    ($($name:ident),* $(,)?) => {
        mod ssh {
            $(
                #[test]
                fn $name() {
                    let m = crate::common::ssh_builder().connect().unwrap();
                    super::$name(&m.session());
                }
            )*
        }
        #[cfg(feature = "ssh2")]
        mod ssh2 {
            $(
                #[test]
                fn $name() {
                    let m = crate::common::ssh2_builder().connect().unwrap();
                    super::$name(&m.session());
                }
            )*
        }
    };
}

on_both_sessions!(
    calls_take_the_right_path,
    nothing_leaks_between_commands,
    streams_stay_apart_and_exact,
    a_command_that_reads_stdin_reads_nothing_else,
    a_command_that_closes_stdout_early,
    a_background_child_never_reaches_the_next_command,
    exit_and_exec_end_only_their_command,
    a_command_that_kills_its_shell,
    big_output_on_both_streams,
    a_timeout_kills_the_tree_and_the_session_goes_on,
    threads_run_in_parallel,
);

/// The connection cut mid-command: the command fails in time, and says why.
fn cut_mid_command(m: Arc<dyn Machine>, relay: &common::relay::Relay) {
    let s = m.clone();
    let started = Instant::now();
    let waiting = std::thread::spawn(move || sh!(sleep 30).on_dyn(s).run());
    std::thread::sleep(Duration::from_millis(500));
    relay.cut();
    let err = waiting.join().unwrap().unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Connect | ErrorKind::Protocol),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn ssh_session_connection_cut_mid_command() {
    let d = common::sshd::sshd();
    let relay = common::relay::Relay::start(d.port);
    let m = plumb::SshMachine::builder("127.0.0.1")
        .port(relay.port)
        .user(&d.user)
        .identity_file(&d.key)
        .host_key_policy(plumb::HostKeyPolicy::Insecure)
        .option("ServerAliveInterval", "1")
        .option("ServerAliveCountMax", "3")
        .connect()
        .unwrap();
    cut_mid_command(Arc::new(m.session()), &relay);
}

#[cfg(feature = "ssh2")]
#[test]
fn ssh2_session_connection_cut_mid_command() {
    let d = common::sshd::sshd();
    let relay = common::relay::Relay::start(d.port);
    let m = plumb::Ssh2Machine::builder("127.0.0.1")
        .port(relay.port)
        .user(&d.user)
        .identity_file(&d.key)
        .host_key_policy(plumb::HostKeyPolicy::Insecure)
        .keepalive(Duration::from_secs(1))
        .connect()
        .unwrap();
    cut_mid_command(Arc::new(m.session()), &relay);
}

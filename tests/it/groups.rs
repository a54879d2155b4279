//! Groups: one expression on many machines (remote, local, unreachable), each host with
//! its own result, output prefixed per host, concurrency capped.

use std::io::Write;
use std::sync::{Arc, Mutex};

use crate::common;
use plumb::prelude::*;
use plumb::{sh, ErrorKind, Group};

/// A shared buffer for `show_on`.
#[derive(Clone, Default)]
pub(crate) struct Shown(pub(crate) Arc<Mutex<Vec<u8>>>);

impl Write for Shown {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Two remote machines, this one, and one that cannot be reached (a closed port).
fn four() -> Group {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let unreachable = plumb::SshMachine::builder("127.0.0.1")
        .port(port)
        .user(&common::sshd::sshd().user)
        .connect();
    let g = Group::new()
        .machine(common::ssh_builder().connect().unwrap())
        .machine(plumb::local());
    #[cfg(feature = "ssh2")]
    let g = g.machine(common::ssh2_builder().connect().unwrap());
    g.connected(unreachable)
}

#[test]
fn each_host_has_its_own_result() {
    let g = four();
    let results = g.output(&sh!(sh -c "echo out; echo err >&2"));
    assert!(!results.all_ok());
    let failures: Vec<_> = results.failures().collect();
    assert_eq!(failures.len(), 1);
    let (host, err) = failures[0];
    assert_eq!(err.kind(), ErrorKind::Connect, "{err}");
    assert!(err.to_string().contains(host), "{err}");
    // Named once: the kept connection error is not wrapped in itself.
    assert_eq!(err.to_string().matches(host).count(), 1, "{err}");
    for (host, result) in results.iter().filter(|(_, r)| r.is_ok()) {
        let out = result.as_ref().unwrap();
        assert_eq!(
            (out.stdout.as_slice(), out.stderr.as_slice()),
            (&b"out\n"[..], &b"err\n"[..]),
            "{host}"
        );
    }
    // A command failing on one host fails there only, and its error names the host.
    let results = g.output(&sh!(sh -c "test -d /root/.cargo || exit 3"));
    for (host, err) in results.failures() {
        // The machine's own name (a group tells apart two machines of one name with `#2`).
        let machine = host.split('#').next().unwrap();
        assert!(err.to_string().contains(machine), "{err}");
    }
}

#[test]
fn run_prefixes_every_line_with_its_host() {
    let shown = Shown::default();
    let g = four().show_on(shown.clone());
    let results = g.run(&sh!(sh -c "for i in 1 2 3; do echo line $$i; done; echo oops >&2"));
    assert_eq!(results.failures().count(), 1);
    let text = String::from_utf8(shown.0.lock().unwrap().clone()).unwrap();
    let width = g.names().iter().map(|n| n.len()).max().unwrap();
    for host in g
        .names()
        .into_iter()
        .filter(|h| results.get(h).unwrap().is_ok())
    {
        let prefix = format!("{host:<width$} | ");
        for line in ["line 1", "line 2", "line 3", "oops"] {
            assert!(text.contains(&format!("{prefix}{line}\n")), "{text}");
        }
    }
    // Whole lines only: every line starts with a host's prefix.
    for line in text.lines() {
        assert!(g.names().iter().any(|h| line.starts_with(h)), "{line:?}");
    }
}

#[test]
fn max_parallel_caps_concurrency() {
    let dir = plumb::local().temp_dir().unwrap();
    let d = dir.as_path().display().to_string();
    dir.join("max").touch().unwrap();
    sh!(chmod 777 $d).run().unwrap();
    sh!(chmod 666 ${dir.join("max")}).run().unwrap();
    // Every machine runs on this host: the files present at once count the hosts running.
    let script = format!("touch {d}/$$; ls {d} | grep -vc max >> {d}/max; sleep 0.5; rm -f {d}/$$");
    let g = four().max_parallel(2).quiet();
    let results = g.run(&sh!(sh -c $script));
    assert_eq!(results.failures().count(), 1);
    let seen = dir.join("max").read_to_string().unwrap();
    let counts: Vec<u32> = seen.lines().map(|l| l.trim().parse().unwrap()).collect();
    assert_eq!(counts.len(), g.names().len() - 1, "{seen}");
    assert!(counts.iter().all(|&n| n <= 2), "{seen}");
}

#[test]
fn serial_can_stop_at_the_first_failure() {
    let g = Group::new()
        .machine(plumb::local())
        .machine(common::ssh_builder().connect().unwrap())
        .machine(plumb::local().with_env("X", "1"))
        .serial()
        .stop_on_failure()
        .quiet();
    let results: Vec<_> = g.run(&sh!(false)).into_iter().collect();
    assert_eq!(results[0].1.as_ref().unwrap_err().kind(), ErrorKind::Exit);
    for (host, r) in &results[1..] {
        let err = r.as_ref().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Skipped, "{host}: {err}");
    }
    // Without stop_on_failure every host runs.
    let all = Group::new()
        .machine(plumb::local())
        .machine(plumb::local())
        .serial()
        .quiet();
    let ran = all.run(&sh!(false));
    assert_eq!(
        ran.failures()
            .filter(|(_, e)| e.kind() == ErrorKind::Exit)
            .count(),
        2
    );
}

/// Upload to and download from every remote host (they log in as one user here, so they
/// can share the target file on this host's disk).
#[test]
fn transfers_go_to_and_come_from_every_host() {
    let here = tempfile::tempdir().unwrap();
    let file = here.path().join("deploy.txt");
    std::fs::write(&file, "v2").unwrap();
    let remote = plumb::local().temp_dir().unwrap();
    sh!(chmod 777 ${remote.as_path()}).run().unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let g = Group::new()
        .machine(common::ssh_builder().connect().unwrap())
        .connected(plumb::SshMachine::builder("127.0.0.1").port(port).connect());
    #[cfg(feature = "ssh2")]
    let g = g.machine(common::ssh2_builder().connect().unwrap());
    let target = remote.as_path().join("deployed.txt");
    let results = g.upload(&file, &target);
    let failures: Vec<_> = results
        .failures()
        .map(|(h, e)| format!("{h}: {e}"))
        .collect();
    assert_eq!(failures.len(), 1, "{failures:?}");
    let back = here.path().join("back");
    let results = g.download(&target, &back);
    assert_eq!(results.failures().count(), 1);
    for (host, _) in results.iter().filter(|(_, r)| r.is_ok()) {
        let got = std::fs::read_to_string(back.join(host.replace('/', "_"))).unwrap();
        assert_eq!(got, "v2");
    }
}

/// The same host twice (and an `SshMachine` beside an `Ssh2Machine` to it, which have the
/// same name): each gets a name of its own in the group, its own result and its own
/// downloaded copy; a name can also be chosen.
/// Many machines of one name (a fleet of logins to one host) get `#2` up to `#N` in
/// order; a name given with its suffix is skipped, and names that only differ by `/` and
/// `_` (one download directory) are told apart too.
#[test]
fn many_machines_of_one_name_are_numbered_in_order() {
    let g = Group::new().machine_named("h#3", plumb::local());
    let g = (0..500).fold(g, |g, _| g.machine_named("h", plumb::local()));
    let g = g
        .machine_named("a/b", plumb::local())
        .machine_named("a_b", plumb::local());
    let names: Vec<&str> = g.names();
    assert_eq!(names[..4], ["h#3", "h", "h#2", "h#4"]);
    assert_eq!(names[500], "h#501");
    assert_eq!(names[501..], ["a/b", "a_b#2"]);
}

#[test]
fn names_are_unique_in_a_group() {
    let ssh = || common::ssh_builder().connect().unwrap();
    let g = Group::new()
        .machine(ssh())
        .machine(ssh())
        .machine_named("mine", plumb::local())
        .machine_named("mine", plumb::local());
    #[cfg(feature = "ssh2")]
    let g = g.machine(common::ssh2_builder().connect().unwrap());
    let names: Vec<String> = g.names().iter().map(|n| n.to_string()).collect();
    let first = ssh().name().to_string();
    assert_eq!(
        names[..4],
        [
            first.clone(),
            format!("{first}#2"),
            "mine".into(),
            "mine#2".into()
        ]
    );
    #[cfg(feature = "ssh2")]
    assert_eq!(names[4], format!("{first}#3"));
    let remote = plumb::local().temp_dir().unwrap();
    sh!(chmod 777 ${remote.as_path()}).run().unwrap();
    let file = remote.as_path().join("who");
    let results = g.clone().quiet().output(&sh!(echo hi));
    assert!(results.all_ok());
    for n in &names {
        assert!(results.get(n).is_some(), "{n}");
    }
    std::fs::write(&file, "same file").unwrap();
    let back = tempfile::tempdir().unwrap();
    assert!(g.download(&file, back.path()).all_ok());
    let copies = std::fs::read_dir(back.path()).unwrap().count();
    assert_eq!(copies, names.len());
}

/// Hosts named `h0`..: this machine, the ones in `failing` with `FAIL` set, so that
/// `sh -c 'test -z "$FAIL"'` fails there alone.
fn locals(n: usize, failing: &[usize]) -> Group {
    (0..n).fold(Group::new(), |g, i| {
        let m = match failing.contains(&i) {
            true => plumb::local().with_env("FAIL", "1"),
            false => plumb::local(),
        };
        g.machine_named(format!("h{i}"), m)
    })
}

/// Rolling batches: a batch starts when the one before has ended; with a failure budget,
/// a failure in the first batch keeps the others from starting.
#[test]
fn batches_roll_and_a_failure_budget_stops_launching() {
    let log = common::Ctx::new(common::local());
    let log = log.path("log");
    let script = r#"echo "start $1" >> "$0"; sleep 0.2; echo "end $1" >> "$0"; test -z "$FAIL""#;
    let g = locals(5, &[]).batches(2).max_parallel(8).quiet();
    let results = g.run(&sh!(sh -c $script $log HOST));
    assert!(results.all_ok());
    // Starts and ends alternate in groups of at most two: no start of a batch before the
    // batch before it has ended.
    let lines = log.read_to_string().unwrap();
    let mut running = 0usize;
    let mut in_batch = 0usize;
    for line in lines.lines() {
        if line.starts_with("start") {
            assert_eq!(running, in_batch, "a batch started early:\n{lines}");
            running += 1;
            in_batch += 1;
            assert!(in_batch <= 2, "a batch larger than 2:\n{lines}");
        } else {
            running -= 1;
            if running == 0 {
                in_batch = 0;
            }
        }
    }
    log.remove().unwrap();
    // h1 fails in the first batch: the rest never start.
    let g = locals(6, &[1]).batches(2).max_failures(0).quiet();
    let results: Vec<_> = g.run(&sh!(sh -c $script $log HOST)).into_iter().collect();
    assert!(results[0].1.is_ok());
    assert_eq!(results[1].1.as_ref().unwrap_err().kind(), ErrorKind::Exit);
    for (host, r) in &results[2..] {
        let err = r.as_ref().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Skipped, "{host}: {err}");
        assert!(err.to_string().contains("stop_on_failure"), "{err}");
    }
    assert_eq!(log.read_to_string().unwrap().matches("start").count(), 2);
    // A budget of one: two failures spend it.
    let g = locals(6, &[0, 2]).serial().max_failures(1).quiet();
    let results = g.output(&sh!(sh -c "test -z \"$$FAIL\""));
    let skipped: Vec<_> = results
        .failures()
        .filter(|(_, e)| e.kind() == ErrorKind::Skipped)
        .map(|(h, e)| (h.to_string(), e.to_string()))
        .collect();
    assert_eq!(skipped.len(), 3, "{skipped:?}");
    assert!(
        skipped[0]
            .1
            .contains("2 hosts failed, more than max_failures (1)"),
        "{skipped:?}"
    );
}

/// Each host's stdout and stderr in a file named after it (pssh's -o and -e), on every
/// kind of machine, a failing command's included; the progress line counts hosts.
#[test]
fn output_files_per_host_and_a_progress_line() {
    let here = common::Ctx::new(common::local());
    let (out, err) = (here.path("out"), here.path("err"));
    let shown = Shown::default();
    let g = Group::new()
        .machine_named("local", plumb::local())
        .machine_named("ssh/1", common::ssh_builder().connect().unwrap());
    #[cfg(feature = "ssh2")]
    let g = g.machine_named("ssh2", common::ssh2_builder().connect().unwrap());
    let g = g
        .output_dir(out.as_path())
        .errors_dir(err.as_path())
        .progress_on(shown.clone())
        .quiet();
    let results = g.run(&sh!(sh -c "echo out; echo err >&2; exit 3"));
    assert_eq!(results.failures().count(), g.names().len());
    for name in g.names() {
        let file = name.replace('/', "_");
        assert_eq!(out.join(&file).read_to_string().unwrap(), "out\n", "{name}");
        assert_eq!(err.join(&file).read_to_string().unwrap(), "err\n", "{name}");
    }
    let n = g.names().len();
    let text = String::from_utf8(shown.0.lock().unwrap().clone()).unwrap();
    assert!(text.starts_with("\r0/"), "{text:?}");
    assert!(
        text.ends_with(&format!("\r{n}/{n} hosts done, {n} failed\n")),
        "{text:?}"
    );
    // output() writes them too.
    let results = g.output(&sh!(echo again));
    assert!(results.all_ok());
    assert_eq!(out.join("ssh_1").read_to_string().unwrap(), "again\n");
    assert_eq!(err.join("ssh_1").read_to_string().unwrap(), "");
}

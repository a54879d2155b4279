//! The async streaming calls (`lines_async`, `spawn_async`), the async group calls and
//! `connect_async`, on every machine: what the blocking twins promise, awaited.
#![cfg(feature = "tokio")]

use std::sync::Arc;
use std::time::Duration;

use plumb::sh;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

use crate::common::{self, assert_no_survivors, marker, Ctx};
use crate::kill::{tree, wait_until_running};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Lines come without their endings (`\r\n` too), the last one even without any; a
/// failure is the last item, with its code and stderr.
fn lines_async_streams_lines_then_the_failure(t: &Ctx) {
    let script = "printf 'a\\nb\\r\\nc'; echo oops >&2; exit 3";
    let items: Vec<_> = rt().block_on(async {
        let mut lines = t.on(sh!(sh -c $script)).lines_async();
        let mut items = Vec::new();
        while let Some(item) = lines.next().await {
            items.push(item);
        }
        items
    });
    assert_eq!(items.len(), 4, "{items:?}");
    let texts: Vec<_> = items[..3]
        .iter()
        .map(|i| i.as_ref().unwrap().as_str())
        .collect();
    assert_eq!(texts, ["a", "b", "c"]);
    let err = items[3].as_ref().unwrap_err();
    assert_eq!(err.code(), Some(3), "{err}");
    assert!(err.to_string().contains("oops"), "{err}");
}

/// A command that fills stderr before it writes its line never stalls the stream: stderr
/// is drained from the start, by a task.
fn lines_async_drains_stderr_meanwhile(t: &Ctx) {
    let script = "i=0; while [ $i -lt 3000 ]; do echo 0123456789012345678901234567890123456789 >&2; i=$((i+1)); done; echo done";
    let lines = rt().block_on(async {
        let mut lines = t.on(sh!(sh -c $script)).lines_async();
        let mut got = Vec::new();
        while let Some(line) = lines.next().await {
            got.push(line.unwrap());
        }
        got
    });
    assert_eq!(lines, ["done"]);
}

/// A stream dropped before its end kills the command's tree; so does a consumer that
/// panics (its task unwinds, dropping the stream).
fn dropping_lines_async_or_panicking_ends_the_tree(t: &Ctx) {
    let m = marker();
    let rt = rt();
    let mut lines = t.on(talking_tree(&m)).lines_async();
    let first = rt.block_on(lines.next()).unwrap().unwrap();
    assert_eq!(first, "first");
    wait_until_running(&t.m, &m);
    drop(lines);
    assert_no_survivors(&t.m, &m);

    let m = marker();
    let lines = t.on(talking_tree(&m)).lines_async();
    let consumer = rt.spawn(async move {
        let mut lines = lines;
        if let Some(line) = lines.next().await {
            panic!("a consumer that fails on {line:?}");
        }
    });
    let joined = rt.block_on(consumer);
    assert!(joined.unwrap_err().is_panic());
    assert_no_survivors(&t.m, &m);
}

/// [`tree`], after a line on stdout.
fn talking_tree(marker: &str) -> plumb::Expr {
    let script =
        format!("echo first; sleep {marker} & sh -c 'sleep {marker}' & sleep {marker}; wait");
    sh!(sh -c $script)
}

/// A launch that fails is the stream's one item, not a panic nor an empty stream.
fn lines_async_reports_a_launch_failure(t: &Ctx) {
    let items: Vec<_> = rt().block_on(async {
        let mut lines = t.on(sh!(plumb_no_such_program)).lines_async();
        let mut items = Vec::new();
        while let Some(item) = lines.next().await {
            items.push(item);
        }
        items
    });
    assert_eq!(items.len(), 1, "{items:?}");
    let err = items[0].as_ref().unwrap_err();
    assert_eq!(err.kind(), plumb::ErrorKind::NotFound, "{err}");
}

/// A conversation: a line read, an answer written, the next line read, then the output.
fn spawn_async_talks_with_a_command(t: &Ctx) {
    let out = rt().block_on(async {
        let script = "echo ready; read x; echo got-$x; echo err >&2";
        let mut child = t.on(sh!(sh -c $script)).spawn_async().unwrap();
        let stdout = child.take_stdout().unwrap();
        let mut stdout = tokio::io::BufReader::new(stdout);
        let mut line = String::new();
        stdout.read_line(&mut line).await.unwrap();
        assert_eq!(line, "ready\n");
        child.stdin().unwrap().write_all(b"yes\n").await.unwrap();
        child.stdin().unwrap().flush().await.unwrap();
        line.clear();
        stdout.read_line(&mut line).await.unwrap();
        assert_eq!(line, "got-yes\n");
        child.wait().await.unwrap()
    });
    assert_eq!(out.stderr, b"err\n");
}

/// Bytes through stdin and stdout unchanged, however large: written and read at once.
fn spawn_async_pipes_bytes_exactly(t: &Ctx) {
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let back = rt().block_on(async {
        let mut child = t.on(sh!(cat)).spawn_async().unwrap();
        let mut stdin = child.take_stdin().unwrap();
        let mut stdout = child.take_stdout().unwrap();
        let input = data.clone();
        let writer = tokio::spawn(async move {
            stdin.write_all(&input).await.unwrap();
            stdin.shutdown().await.unwrap();
        });
        let mut back = Vec::new();
        stdout.read_to_end(&mut back).await.unwrap();
        writer.await.unwrap();
        child.wait().await.unwrap();
        back
    });
    assert!(back == data, "{} bytes back of {}", back.len(), data.len());
}

/// `shutdown` on stdin closes it: the command reads its end while the handle still holds
/// the stream.
fn spawn_async_stdin_shutdown_is_its_end(t: &Ctx) {
    let out = rt().block_on(async {
        let mut child = t.on(sh!(cat)).spawn_async().unwrap();
        let stdin = child.stdin().unwrap();
        stdin.write_all(b"all of it").await.unwrap();
        stdin.shutdown().await.unwrap();
        assert!(stdin.write_all(b"more").await.is_err());
        let mut out = Vec::new();
        let read = child.stdout().unwrap().read_to_end(&mut out);
        tokio::time::timeout(Duration::from_secs(10), read)
            .await
            .expect("cat never saw the end of its stdin")
            .unwrap();
        child.wait().await.unwrap();
        out
    });
    assert_eq!(out, b"all of it");
}

/// `kill` ends the whole tree, and `wait` then reports the kill; a handle dropped while
/// its command runs ends the tree too.
fn spawn_async_kill_and_drop_end_the_tree(t: &Ctx) {
    let rt = rt();
    let m = marker();
    let mut h = rt.block_on(async { t.on(tree(&m)).spawn_async() }).unwrap();
    wait_until_running(&t.m, &m);
    rt.block_on(h.kill()).unwrap();
    assert!(rt.block_on(h.wait()).is_err());
    assert_no_survivors(&t.m, &m);

    let m = marker();
    let h = rt.block_on(async { t.on(tree(&m)).spawn_async() }).unwrap();
    wait_until_running(&t.m, &m);
    drop(h);
    assert_no_survivors(&t.m, &m);
}

/// A timeout fires even while nobody polls the handle: a timer task kills the tree, and
/// `wait` reports the timeout.
fn spawn_async_timeout_fires_unpolled(t: &Ctx) {
    let rt = rt();
    let m = marker();
    let expr = t.on(tree(&m)).timeout(Duration::from_millis(500));
    let mut h = rt.block_on(async { expr.spawn_async() }).unwrap();
    rt.block_on(async { tokio::time::sleep(Duration::from_millis(1500)).await });
    assert_no_survivors(&t.m, &m);
    let err = rt.block_on(h.wait()).unwrap_err();
    assert_eq!(err.kind(), plumb::ErrorKind::Timeout, "{err}");
}

/// A path's common calls, awaited: the same answers as the blocking ones.
fn path_calls_awaited(t: &Ctx) {
    use plumb::MachineExt;
    let dir = t.m.temp_dir().unwrap();
    let rt = rt();
    rt.block_on(async {
        let sub = dir.join("sub");
        sub.create_dir_all_async().await.unwrap();
        assert!(sub.is_dir_async().await.unwrap());
        let f = sub.join("f.txt");
        assert!(!f.exists_async().await.unwrap());
        f.write_async("one\n").await.unwrap();
        f.append_async(b"two\n").await.unwrap();
        assert!(f.is_file_async().await.unwrap());
        assert_eq!(f.read_to_string_async().await.unwrap(), "one\ntwo\n");
        assert_eq!(f.metadata_async().await.unwrap().len(), 8);
        let g = f.rename_async(sub.join("g.txt")).await.unwrap();
        let h = g.copy_to_async(sub.join("h.txt")).await.unwrap();
        assert_eq!(h.read_async().await.unwrap(), b"one\ntwo\n");
        let names: Vec<_> = (sub.read_dir_async().await.unwrap().iter())
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["g.txt", "h.txt"]);
        sub.remove_async().await.unwrap();
        let err = g.read_async().await.unwrap_err();
        assert_eq!(err.kind(), plumb::ErrorKind::NotFound, "{err}");
    });
}

/// A `wait` cancelled half way (stdout read, the command still running) loses nothing:
/// the next `wait` has all of stdout.
fn a_cancelled_wait_loses_nothing(t: &Ctx) {
    let out = rt().block_on(async {
        let mut h = t
            .on(sh!(sh -c "echo hi; exec >&-; sleep 1"))
            .spawn_async()
            .unwrap();
        let first = tokio::time::timeout(Duration::from_millis(300), h.wait()).await;
        assert!(first.is_err(), "wait finished early");
        h.wait().await.unwrap()
    });
    assert_eq!(out.stdout, b"hi\n");
}

/// A command that ended well within its timeout but is waited for after it did not time
/// out: awaited, streamed, and blocking. (A second: a loaded machine's `SshMachine` took
/// more than 300 ms to run `echo` once.)
fn a_late_wait_is_no_timeout(t: &Ctx) {
    let quick = t.on(sh!(echo one)).timeout(Duration::from_secs(1));
    let rt = rt();
    let waited = rt.block_on(async {
        let mut h = quick.spawn_async().unwrap();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        h.wait().await
    });
    assert_eq!(waited.unwrap().stdout, b"one\n");
    let last = rt.block_on(async {
        let mut lines = quick.lines_async();
        assert_eq!(lines.next().await.unwrap().unwrap(), "one");
        tokio::time::sleep(Duration::from_millis(1500)).await;
        lines.next().await
    });
    assert!(last.is_none(), "{last:?}");
    let mut h = quick.spawn().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(h.wait().unwrap().stdout, b"one\n");
}

/// A second `wait` after a failure says the same, stderr included.
fn a_second_wait_repeats_the_failure(t: &Ctx) {
    rt().block_on(async {
        let mut h = t
            .on(sh!(sh -c "echo err >&2; exit 3"))
            .spawn_async()
            .unwrap();
        let a = h.wait().await.unwrap_err();
        let b = h.wait().await.unwrap_err();
        assert_eq!((a.code(), a.stderr()), (Some(3), Some(&b"err\n"[..])));
        assert_eq!((b.code(), b.stderr()), (a.code(), a.stderr()));
    });
}

on_every_machine!(
    a_cancelled_wait_loses_nothing,
    a_late_wait_is_no_timeout,
    a_second_wait_repeats_the_failure,
    a_future_dropped_at_once_leaves_nothing,
    path_calls_awaited,
    lines_async_streams_lines_then_the_failure,
    lines_async_drains_stderr_meanwhile,
    dropping_lines_async_or_panicking_ends_the_tree,
    lines_async_reports_a_launch_failure,
    spawn_async_talks_with_a_command,
    spawn_async_pipes_bytes_exactly,
    spawn_async_stdin_shutdown_is_its_end,
    spawn_async_kill_and_drop_end_the_tree,
    spawn_async_timeout_fires_unpolled,
);

/// Outside a runtime, `spawn_async` is an error that says so, not a panic.
#[test]
fn spawn_async_outside_a_runtime_is_an_error() {
    let err = sh!(true).spawn_async().unwrap_err();
    assert_eq!(err.kind(), plumb::ErrorKind::Unsupported, "{err}");
}

fn fleet() -> Vec<Arc<dyn plumb::Machine>> {
    let mut machines = vec![common::local(), common::ssh()];
    #[cfg(feature = "ssh2")]
    machines.push(common::ssh2());
    machines
}

fn group_of(machines: &[Arc<dyn plumb::Machine>]) -> plumb::Group {
    let mut g = plumb::Group::new();
    for (i, m) in machines.iter().enumerate() {
        g = g.machine_named(format!("h{i}"), m.clone());
    }
    g
}

/// The async group calls give what the blocking ones give: per host results, lines shown
/// with their host's name, a failure budget, files per host.
#[test]
fn group_calls_awaited_match_the_blocking_ones() {
    let machines = fleet();
    let n = machines.len();
    let rt = rt();
    let shown = Arc::new(std::sync::Mutex::new(Vec::new()));
    let dir = tempfile::tempdir().unwrap();
    let group = group_of(&machines)
        .show_on(crate::groups::Shown(shown.clone()))
        .output_dir(dir.path().join("out"));
    let ran = rt.block_on(group.run_async(&sh!(sh -c "echo one; echo two >&2")));
    assert!(ran.all_ok(), "{ran:?}");
    let shown = String::from_utf8(shown.lock().unwrap().clone()).unwrap();
    for i in 0..n {
        assert!(shown.contains(&format!("h{i} | one")), "{shown}");
        assert!(shown.contains(&format!("h{i} | two")), "{shown}");
        let kept = std::fs::read(dir.path().join("out").join(format!("h{i}"))).unwrap();
        assert_eq!(kept, b"one\n");
    }

    let out = rt.block_on(group.clone().quiet().output_async(&sh!(echo hi)));
    assert_eq!(out.len(), n);
    for (_, r) in out.iter() {
        assert_eq!(r.as_ref().unwrap().stdout, b"hi\n");
    }

    let serial = group_of(&machines).quiet().serial().stop_on_failure();
    let failed = rt.block_on(serial.output_async(&sh!(false)));
    let errors: Vec<_> = failed
        .iter()
        .map(|(_, r)| r.as_ref().unwrap_err().kind())
        .collect();
    assert_eq!(errors[0], plumb::ErrorKind::Exit);
    assert!(
        errors[1..].iter().all(|k| *k != plumb::ErrorKind::Exit),
        "{errors:?}"
    );
}

/// Dropping a group call's future ends every host's command tree.
#[test]
fn dropping_a_group_future_ends_every_hosts_tree() {
    let machines = fleet();
    let m = marker();
    let group = group_of(&machines).quiet();
    let rt = rt();
    let mut call = Box::pin(group.output_async(&tree(&m)));
    let early =
        rt.block_on(async { tokio::time::timeout(Duration::from_millis(50), &mut call).await });
    assert!(early.is_err());
    for machine in &machines {
        wait_until_running(machine, &m);
    }
    // The hosts are tasks: aborted with the call, each dropped (its tree killed) at the
    // runtime's next turn.
    drop(call);
    rt.block_on(async { tokio::time::sleep(Duration::from_millis(10)).await });
    for machine in &machines {
        assert_no_survivors(machine, &m);
    }
}

/// Files copied to and from every host, awaited.
#[test]
fn group_transfers_awaited() {
    // Remote hosts only: they share this machine's /tmp, as another user.
    let machines = fleet().split_off(1);
    let here = tempfile::tempdir().unwrap();
    let file = here.path().join("f.txt");
    std::fs::write(&file, b"payload").unwrap();
    let there = format!("/tmp/plumb-async-up-{}", marker());
    let group = group_of(&machines).quiet();
    let rt = rt();
    let up = rt.block_on(group.upload_async(&file, &there));
    assert!(up.all_ok(), "{up:?}");
    let down = rt.block_on(group.download_async(&there, here.path().join("back")));
    assert!(down.all_ok(), "{down:?}");
    for i in 0..machines.len() {
        let got = std::fs::read(here.path().join("back").join(format!("h{i}"))).unwrap();
        assert_eq!(got, b"payload");
    }
    let _ = std::fs::remove_file(&there);
}

/// Both builders connect awaited; a host that is not there is an error, not a hang.
#[test]
fn connect_async_on_both_builders() {
    let rt = rt();
    let ssh = rt.block_on(common::ssh_builder().connect_async()).unwrap();
    assert_eq!(
        rt.block_on(sh!(echo up).on(&ssh).read_async()).unwrap(),
        "up"
    );
    #[cfg(feature = "ssh2")]
    {
        let ssh2 = rt.block_on(common::ssh2_builder().connect_async()).unwrap();
        assert_eq!(
            rt.block_on(sh!(echo up).on(&ssh2).read_async()).unwrap(),
            "up"
        );
        let closed = common::sshd::free_port();
        let builder = plumb::Ssh2Machine::builder("127.0.0.1").port(closed);
        let err = rt.block_on(builder.connect_async()).unwrap_err();
        assert_eq!(err.kind(), plumb::ErrorKind::Connect, "{err}");
    }
}

/// Echoes everything back, a thread per connection.
fn echo_server() -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut c in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut b = [0u8; 4096];
                while let Ok(n) = c.read(&mut b) {
                    if n == 0 || c.write_all(&b[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    port
}

type Connecting =
    std::pin::Pin<Box<dyn std::future::Future<Output = plumb::Result<plumb::AsyncTunnel>>>>;

/// A tunnel awaited: bytes both ways, a half-close the far end sees while this end still
/// reads, a refused port an error, and a closed machine a failing stream, never a silent
/// end.
fn tunnels_awaited<M: plumb::RemoteMachine>(m: M, connect: impl Fn(&M, u16) -> Connecting) {
    let port = echo_server();
    let rt = rt();
    rt.block_on(async {
        let mut sock = connect(&m, port).await.unwrap();
        sock.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        sock.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        let big: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
        let (mut r, mut w) = tokio::io::split(sock);
        let sent = big.clone();
        let writer = async move {
            w.write_all(&sent).await.unwrap();
            w.shutdown().await.unwrap();
        };
        let mut back = Vec::new();
        let reader = r.read_to_end(&mut back);
        let (_, read) = tokio::join!(writer, reader);
        read.unwrap();
        assert!(back == big, "{} bytes back of {}", back.len(), big.len());

        let closed = common::sshd::free_port();
        assert!(connect(&m, closed).await.is_err());

        let mut sock = connect(&m, port).await.unwrap();
        sock.write_all(b"hi").await.unwrap();
        let mut two = [0u8; 2];
        sock.read_exact(&mut two).await.unwrap();
        plumb::Machine::close(&m).unwrap();
        let read = tokio::time::timeout(Duration::from_secs(10), sock.read(&mut two)).await;
        let wrote = sock.write_all(b"more").await;
        assert!(
            matches!(read, Ok(Ok(0)) | Ok(Err(_))) || wrote.is_err(),
            "the tunnel still works after close(): {read:?} {wrote:?}"
        );
    });
}

#[test]
fn ssh_tunnels_awaited() {
    let m = common::ssh_builder().connect().unwrap();
    tunnels_awaited(m, |m, port| Box::pin(m.connect_sock_async(port)));
    // A blocking tunnel turned async.
    let m = common::ssh_builder().connect().unwrap();
    tunnels_awaited(m, |m, port| {
        let tunnel = m.connect_sock(port).map(|t| t.into_async().unwrap());
        Box::pin(std::future::ready(tunnel))
    });
}

#[test]
#[cfg(feature = "ssh2")]
fn ssh2_tunnels_awaited() {
    let m = common::ssh2_builder().connect().unwrap();
    tunnels_awaited(m, |m, port| Box::pin(m.connect_sock_async(port)));
    let m = common::ssh2_builder().connect().unwrap();
    tunnels_awaited(m, |m, port| {
        let tunnel = m.connect_sock(port).map(|t| t.into_async().unwrap());
        Box::pin(std::future::ready(tunnel))
    });
}

/// A future dropped right after its first poll (before its command reported anything)
/// leaves nothing running, not even later: a kill that comes first waits for the job.
fn a_future_dropped_at_once_leaves_nothing(t: &Ctx) {
    let m = marker();
    let rt = rt();
    for _ in 0..3 {
        let mut run = Box::pin(t.on(tree(&m)).run_async());
        let polled = rt.block_on(async { tokio::time::timeout(Duration::ZERO, &mut run).await });
        assert!(polled.is_err(), "the tree ended at once: {polled:?}");
        drop(run);
    }
    // Long enough for anything that would start late to be there.
    std::thread::sleep(Duration::from_secs(1));
    assert_no_survivors(&t.m, &m);
}

/// A login shell that talks on stderr before the script runs: its words reach stderr in
/// order, the line with the job's pid never does, and the job can still be killed.
#[test]
#[cfg(feature = "ssh2")]
fn a_talking_login_shell_keeps_its_words_and_hides_the_pid_line() {
    let user = "plumbchatty";
    assert!(
        common::sshd::ensure_user(user, "/bin/bash"),
        "cannot make the user {user} (the tests need root)"
    );
    let rc = format!("/home/{user}/.bashrc");
    std::fs::write(rc, "echo 'bashrc says hi' >&2\n").unwrap();
    let m = common::ssh2_builder().user(user).connect().unwrap();
    let rt = rt();
    let out = rt
        .block_on(sh!(sh -c "echo out; echo err >&2").on(&m).output_async())
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "bashrc says hi\nerr\n"
    );
    assert_eq!(out.stdout, b"out\n");
    a_dropped_future_ends_the_tree_on(&m, &rt);
}

/// Closing an `Ssh2Machine` ends the awaited commands still running on it (sshd would
/// leave them running).
#[test]
#[cfg(feature = "ssh2")]
fn closing_the_machine_ends_its_awaited_commands() {
    let m = common::ssh2_builder().connect().unwrap();
    let mk = marker();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let task = rt.spawn(tree(&mk).on(&m).run_async());
    let here = common::local();
    wait_until_running(&here, &mk);
    plumb::Machine::close(&m).unwrap();
    assert_no_survivors(&here, &mk);
    assert!(rt.block_on(task).unwrap().is_err());
}

/// A tree started awaited on `m` and its future dropped once it runs: nothing of it is
/// left (seen from here: the sshd runs on this host).
#[cfg(feature = "ssh2")]
fn a_dropped_future_ends_the_tree_on(m: &plumb::Ssh2Machine, rt: &tokio::runtime::Runtime) {
    let mk = marker();
    let mut run = Box::pin(tree(&mk).on(m).run_async());
    let early =
        rt.block_on(async { tokio::time::timeout(Duration::from_millis(50), &mut run).await });
    assert!(early.is_err());
    let here = common::local();
    wait_until_running(&here, &mk);
    drop(run);
    assert_no_survivors(&here, &mk);
}

/// A user whose login shell is bash with `rc` as its `.bashrc`.
fn user_with_bashrc(user: &str, rc: &str) {
    assert!(
        common::sshd::ensure_user(user, "/bin/bash"),
        "cannot make the user {user} (the tests need root)"
    );
    std::fs::write(format!("/home/{user}/.bashrc"), rc).unwrap();
}

/// A login shell's words without a final newline: the pid line follows them on the same
/// line, and is still found and taken out; the job can still be killed.
#[test]
#[cfg(feature = "ssh2")]
fn the_pid_line_after_words_without_a_newline() {
    let user = "plumbnonl";
    user_with_bashrc(user, "printf 'partial' >&2\n");
    let m = common::ssh2_builder().user(user).connect().unwrap();
    let rt = rt();
    let out = rt
        .block_on(sh!(sh -c "echo err >&2").on(&m).output_async())
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stderr), "partialerr\n");
    a_dropped_future_ends_the_tree_on(&m, &rt);
}

/// A future dropped long before its job's script starts (a slow login): the kill goes out
/// when the script tells its pid, and the job never runs on.
#[test]
#[cfg(feature = "ssh2")]
fn a_kill_long_before_a_slow_start_still_lands() {
    let user = "plumbslowstart";
    let flag = format!("/tmp/plumb-slow-start-{}", std::process::id());
    user_with_bashrc(user, &format!("[ -e {flag} ] && sleep 3\n"));
    let m = common::ssh2_builder().user(user).connect().unwrap();
    std::fs::write(&flag, "").unwrap();
    let rt = rt();
    let mk = marker();
    let mut run = Box::pin(tree(&mk).on(&m).run_async());
    let polled = rt.block_on(async { tokio::time::timeout(Duration::ZERO, &mut run).await });
    assert!(polled.is_err());
    drop(run);
    std::thread::sleep(Duration::from_secs(1));
    let _ = std::fs::remove_file(&flag);
    // The script starts after 3 s; by then, and for a while after, nothing of it runs.
    std::thread::sleep(Duration::from_secs(3));
    let here = common::local();
    assert_no_survivors(&here, &mk);
    std::thread::sleep(Duration::from_secs(1));
    assert!(common::survivors(&here, &mk).is_empty());
}

/// An `SshMachine` session's shell, whose stderr is null, under a login shell that writes
/// megabytes to stderr first: the master writes them to /dev/null (a read-only one would
/// refuse them, and the channel's window would stall after 2 MB).
#[test]
fn a_null_stream_takes_megabytes_on_ssh() {
    let user = "plumbloudrc";
    let flag = format!("/tmp/plumb-loud-{}", std::process::id());
    user_with_bashrc(
        user,
        &format!("[ -e {flag} ] && head -c 3000000 /dev/zero >&2\n"),
    );
    let m = common::ssh_builder().user(user).connect().unwrap();
    std::fs::write(&flag, "").unwrap();
    let s = m.session();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(sh!(echo hi).on(&s).read());
    });
    let got = rx.recv_timeout(Duration::from_secs(30));
    let _ = std::fs::remove_file(&flag);
    assert!(matches!(got, Ok(Ok(ref h)) if h == "hi"), "{got:?}");
}

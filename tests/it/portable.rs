//! The local machine on every OS, Windows included: commands, pipes, redirections,
//! sequences, environment, streams, timeouts and kills of whole trees, files, groups and
//! transfers, written with the tests' helper program (`common::helper`) and plumb's
//! builtins instead of Unix programs, so that the same bodies run under Wine. On Unix they
//! run on every machine, as the other modules' bodies do.

use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::helper::helper;
use crate::common::Ctx;
use plumb::prelude::*;
use plumb::{sh, ErrorKind, Group};

fn status_output_and_codes(t: &Ctx) {
    let h = helper();
    assert_eq!(
        t.on(sh!($h args "a b" c "")).read().unwrap(),
        "a b\nc",
        "arguments arrive as they were given"
    );
    let err = t.on(sh!($h exit 3)).run().unwrap_err();
    assert_eq!(
        (err.kind(), err.code()),
        (ErrorKind::Exit, Some(3)),
        "{err}"
    );
    assert_eq!(t.on(sh!($h exit 7)).code().unwrap(), 7);
    assert!(!t.on(sh!($h exit 1)).success().unwrap());
    let out = t.on(sh!($h stderr oops)).output().unwrap();
    assert_eq!(
        (out.stdout.as_slice(), out.stderr.as_slice()),
        (&b""[..], &b"oops\n"[..])
    );
    let err = t.on(sh!($h stderr why; $h exit 4)).output().unwrap_err();
    assert_eq!(err.stderr(), Some(&b"why\n"[..]));
    assert_eq!(t.on(sh!($h exit 5)).ok_codes(&[0, 5]).code().unwrap(), 5);
    t.on(sh!($h exit 5)).ok_codes(&[0, 5]).run().unwrap();
}

fn pipes_and_stdin(t: &Ctx) {
    let h = helper();
    assert_eq!(t.on(sh!(echo hello | $h upper)).read().unwrap(), "HELLO");
    assert_eq!(
        t.on(sh!($h upper)).stdin_bytes("abc").read().unwrap(),
        "ABC"
    );
    let word = "here";
    assert_eq!(t.on(sh!($h upper <<< $word)).read().unwrap(), "HERE");
    // Pipefail names the stage that failed.
    let err = t.on(sh!($h exit 4 | $h upper)).read().unwrap_err();
    assert_eq!(
        (err.kind(), err.code()),
        (ErrorKind::Exit, Some(4)),
        "{err}"
    );
    assert!(err.to_string().contains("exit 4"), "{err}");
    // A large output through two stages and back.
    let big = "x".repeat(3 << 20);
    let out = t.on(sh!(cat | $h upper)).stdin_bytes(big).read().unwrap();
    assert_eq!(out.len(), 3 << 20);
    assert!(out.bytes().all(|b| b == b'X'));
    // Across handles of one machine, and through this process.
    let e = t.on(sh!(echo across)) | t.on(sh!($h upper));
    assert_eq!(e.read().unwrap(), "ACROSS");
}

fn redirections(t: &Ctx) {
    let h = helper();
    t.on(sh!(echo one > out.txt)).run().unwrap();
    t.on(sh!(echo two >> out.txt)).run().unwrap();
    assert_eq!(t.path("out.txt").read_to_string().unwrap(), "one\ntwo\n");
    assert_eq!(t.on(sh!($h upper < out.txt)).read().unwrap(), "ONE\nTWO");
    t.on(sh!($h stderr warned 2> err.txt)).run().unwrap();
    assert_eq!(t.path("err.txt").read_to_string().unwrap(), "warned\n");
    t.on(sh!($h stderr both &> all.txt)).run().unwrap();
    assert_eq!(t.path("all.txt").read_to_string().unwrap(), "both\n");
    assert_eq!(t.on(sh!($h stderr merged 2>&1)).read().unwrap(), "merged");
    assert_eq!(
        t.on(sh!($h stderr late)).stderr_to_stdout().read().unwrap(),
        "late"
    );
    let err = t.on(sh!(echo x > missing/out.txt)).run().unwrap_err();
    assert!(err.to_string().contains("out.txt"), "{err}");
}

fn sequences_cd_and_env(t: &Ctx) {
    let h = helper();
    let here = t
        .on(sh!(mkdir -p sub/inner && cd sub/inner && $h pwd))
        .read()
        .unwrap();
    assert!(
        Path::new(&here).ends_with(Path::new("sub").join("inner")),
        "{here}"
    );
    assert_eq!(
        t.on(sh!(false || echo fallback)).read().unwrap(),
        "fallback"
    );
    assert_eq!(t.on(sh!(true && echo yes)).read().unwrap(), "yes");
    assert_eq!(t.on(sh!(false; echo never)).code().unwrap(), 1);
    assert_eq!(t.on(sh!(A=1 $h env A)).read().unwrap(), "1");
    assert_eq!(t.on(sh!($h env B)).env("B", "2").read().unwrap(), "2");
    let gone = t.on(sh!($h env B)).env("B", "2").env_remove("B");
    assert_eq!(gone.code().unwrap(), 1);
    let missing = t.on(sh!(plumb_no_such_program || echo instead));
    assert_eq!(missing.read().unwrap(), "instead");
    // A pipeline that cannot start fails as a shell's does (127), and the sequence goes on.
    let piped = t.on(sh!(echo one; echo two | plumb_no_such_program || echo fallback));
    assert_eq!(piped.read().unwrap(), "one\nfallback");
    let err = t.on(sh!(plumb_no_such_program)).run().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
}

/// The example of the guide's "Platforms": the same line on every OS.
fn a_script_that_travels(t: &Ctx) {
    t.on(sh!(mkdir -p out && echo hi > out/a.txt && cp out/a.txt b.txt && rm -rf out))
        .run()
        .unwrap();
    assert_eq!(t.path("b.txt").read_to_string().unwrap(), "hi\n");
    assert!(!t.path("out").exists().unwrap());
    assert!(t.on(sh!(test -f b.txt && [ -s b.txt ])).success().unwrap());
    assert_eq!(t.on(sh!(head -n 1 b.txt)).read().unwrap(), "hi");
    // Globs expand on the machine, by plumb itself on the local one (Windows has no sh).
    assert_eq!(t.on(sh!(cat *.txt)).read().unwrap(), "hi");
}

fn lines_and_spawn(t: &Ctx) {
    let h = helper();
    let lines: Vec<String> = t
        .on(sh!($h args a b c))
        .lines()
        .unwrap()
        .collect::<plumb::Result<_>>()
        .unwrap();
    assert_eq!(lines, ["a", "b", "c"]);
    let mut last = t.on(sh!($h args ok; $h exit 2)).lines().unwrap().last();
    assert_eq!(last.take().unwrap().unwrap_err().code(), Some(2));
    let mut child = t.on(sh!($h upper)).spawn().unwrap();
    child.stdin().unwrap().write_all(b"streamed").unwrap();
    drop(child.take_stdin());
    let mut out = String::new();
    child.stdout().unwrap().read_to_string(&mut out).unwrap();
    assert_eq!(out, "STREAMED");
    child.wait().unwrap();
}

/// [`lines_and_spawn`] and kills of whole trees, awaited (Windows: the pipes through
/// tokio's file wrapper).
#[cfg(feature = "tokio")]
fn lines_and_spawn_awaited(t: &Ctx) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let h = helper();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut lines = t.on(sh!($h args a b c; $h exit 2)).lines_async();
        let mut got = Vec::new();
        while let Some(line) = lines.next().await {
            got.push(line);
        }
        assert_eq!(got.len(), 4, "{got:?}");
        assert_eq!(got[2].as_deref().unwrap(), "c");
        assert_eq!(got[3].as_ref().unwrap_err().code(), Some(2));

        let mut child = t.on(sh!($h upper)).spawn_async().unwrap();
        let mut stdin = child.take_stdin().unwrap();
        stdin.write_all(b"streamed").await.unwrap();
        stdin.flush().await.unwrap();
        drop(stdin);
        let mut out = String::new();
        child
            .stdout()
            .unwrap()
            .read_to_string(&mut out)
            .await
            .unwrap();
        assert_eq!(out, "STREAMED");
        child.wait().await.unwrap();
    });
    let (dir, d) = beat_dir(t, "kill_awaited");
    let mut handle = rt
        .block_on(async { t.on(sh!($h tree $d 2)).spawn_async() })
        .unwrap();
    beats(&dir, 3);
    rt.block_on(handle.kill()).unwrap();
    assert_eq!(rt.block_on(handle.wait()).unwrap_err().signal(), Some(9));
    assert_tree_ended(&dir);
}

/// The heartbeat files of a `test_helper tree` in `dir` (on the machine): their contents,
/// once `n` of them exist.
fn beats(dir: &MPath, n: usize) -> Vec<(String, String)> {
    // Generous: under a cold Wine, with the other tests starting theirs, a tree's two
    // children once took more than 20 s to start.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut found: Vec<(String, String)> = dir
            .read_dir()
            .unwrap()
            .into_iter()
            .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), p))
            .filter(|(name, _)| name.starts_with("beat-"))
            .map(|(name, p)| (name, p.read_to_string().unwrap_or_default()))
            .collect();
        if found.len() >= n {
            found.sort();
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "the tree did not start: {found:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every process of the tree is gone: no heartbeat changes any more.
fn assert_tree_ended(dir: &MPath) {
    std::thread::sleep(Duration::from_millis(200));
    let before = beats(dir, 3);
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(beats(dir, 3), before, "a process of the tree still runs");
}

/// A new directory for the beats of one tree, and its path as an argument.
fn beat_dir(t: &Ctx, name: &str) -> (MPath, String) {
    let dir = t.path(name);
    dir.create_dir_all().unwrap();
    let arg = dir.to_string();
    (dir, arg)
}

fn timeouts_and_kills_end_the_tree(t: &Ctx) {
    let h = helper();
    let (dir, d) = beat_dir(t, "timeout");
    let started = Instant::now();
    let err = t
        .on(sh!($h tree $d 2))
        .timeout(Duration::from_secs(3))
        .run()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(started.elapsed() < Duration::from_secs(15));
    assert_tree_ended(&dir);

    let (dir, d) = beat_dir(t, "kill");
    let mut handle = t.on(sh!($h tree $d 2)).spawn().unwrap();
    beats(&dir, 3);
    handle.kill().unwrap();
    assert_eq!(handle.wait().unwrap_err().signal(), Some(9));
    assert_tree_ended(&dir);

    let (dir, d) = beat_dir(t, "drop");
    let handle = t.on(sh!(echo start; $h tree $d 2)).spawn().unwrap();
    beats(&dir, 3);
    drop(handle);
    assert_tree_ended(&dir);
}

fn builtins_are_killed_too(t: &Ctx) {
    let started = Instant::now();
    let err = t
        .on(sh!(sleep 30))
        .timeout(Duration::from_millis(300))
        .run()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    let err = t
        .on(sh!(echo a; sleep 30; echo never))
        .timeout(Duration::from_millis(300))
        .read()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

fn files(t: &Ctx) {
    let f = t.path("notes.txt");
    f.write("hello").unwrap();
    f.append(" world").unwrap();
    assert_eq!(f.read_to_string().unwrap(), "hello world");
    let m = f.metadata().unwrap();
    assert_eq!((m.len(), m.is_file(), m.is_dir()), (11, true, false));
    assert!(m.modified().is_some());
    assert!(!m.readonly());
    // Windows has no modes, owners or groups: none are made up.
    assert_eq!(m.unix_mode().is_some(), t.m.name() != "local" || cfg!(unix));
    assert_eq!(m.uid().is_some(), t.m.name() != "local" || cfg!(unix));
    f.set_permissions(0o444).unwrap();
    assert!(f.metadata().unwrap().readonly());
    f.set_permissions(0o644).unwrap();
    assert!(!f.metadata().unwrap().readonly());
    t.path("d/e").create_dir_all().unwrap();
    let copy = f
        .copy_to(t.dir.as_path().join("d").join("e").join("copy.txt"))
        .unwrap();
    assert_eq!(copy.read_to_string().unwrap(), "hello world");
    let moved = copy
        .rename(t.dir.as_path().join("d").join("moved.txt"))
        .unwrap();
    assert!(moved.is_file().unwrap());
    let names: Vec<String> = t
        .path("d")
        .read_dir()
        .unwrap()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["e", "moved.txt"]);
    let walked = t.path("d").walk().unwrap().count();
    assert_eq!(walked, 2);
    let globbed = t.dir.glob("**/*.txt").unwrap();
    assert_eq!(globbed.len(), 2, "{globbed:?}");
    t.path("d").remove().unwrap();
    assert!(!t.path("d").exists().unwrap());
    let tmp = t.m.temp_dir().unwrap();
    let inside = tmp.join("x");
    inside.write("x").unwrap();
    let kept = tmp.as_path().to_path_buf();
    tmp.close().unwrap();
    assert!(!t.m.path(kept).exists().unwrap());
    let mut w = t.path("stream.bin").create().unwrap();
    w.write_all(&[7; 100_000]).unwrap();
    w.finish().unwrap();
    let mut back = Vec::new();
    t.path("stream.bin")
        .open()
        .unwrap()
        .read_to_end(&mut back)
        .unwrap();
    assert_eq!(back, vec![7; 100_000]);
}

fn transfers(t: &Ctx) {
    let here = tempfile::tempdir().unwrap();
    let tree = here.path().join("tree");
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    std::fs::write(tree.join("a.txt"), "a").unwrap();
    std::fs::write(tree.join("sub").join("b.txt"), "b").unwrap();
    let there = t.dir.as_path().join("copy");
    t.m.upload(&tree, &there).unwrap();
    assert_eq!(
        t.m.path(&there)
            .join("sub")
            .join("b.txt")
            .read_to_string()
            .unwrap(),
        "b"
    );
    let back = here.path().join("back");
    t.m.download(&there, &back).unwrap();
    assert_eq!(std::fs::read_to_string(back.join("a.txt")).unwrap(), "a");
    let mut seen = 0;
    t.m.upload_with(
        tree.join("a.txt"),
        t.dir.as_path().join("one.txt"),
        &mut |p| seen = p.bytes_done(),
    )
    .unwrap();
    assert_eq!(seen, 1);
}

on_every_machine!(
    status_output_and_codes,
    pipes_and_stdin,
    redirections,
    sequences_cd_and_env,
    a_script_that_travels,
    lines_and_spawn,
    #[cfg(feature = "tokio")]
    lines_and_spawn_awaited,
    timeouts_and_kills_end_the_tree,
    builtins_are_killed_too,
    files,
    transfers,
);

/// A group of local handles runs, uploads and downloads like any group.
#[test]
fn groups_of_local_machines() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let g = Group::new()
        .machine_named("a", plumb::local().with_dir(a.path()))
        .machine_named("b", plumb::local().with_dir(b.path()));
    let results = g.output(&sh!(echo hi > f.txt && cat f.txt));
    assert!(results.all_ok());
    for host in ["a", "b"] {
        let out = results.get(host).unwrap().as_ref().unwrap();
        assert_eq!(out.stdout, b"hi\n", "{host}");
    }
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("up.txt"), "up").unwrap();
    assert!(g.upload(src.path().join("up.txt"), "up.txt").all_ok());
    assert_eq!(
        std::fs::read_to_string(b.path().join("up.txt")).unwrap(),
        "up"
    );
    let down = tempfile::tempdir().unwrap();
    assert!(g.download("f.txt", down.path()).all_ok());
    assert_eq!(
        std::fs::read_to_string(down.path().join("a")).unwrap(),
        "hi\n"
    );
}

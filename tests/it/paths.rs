//! `MPath`, `which`, and recursive upload/download, on every machine.

#[cfg(unix)]
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::common::Ctx;
use plumb::prelude::*;
use plumb::{sh, ErrorKind};

fn read_write_and_metadata(t: &Ctx) {
    let f = t.path("notes.txt");
    assert!(!f.exists().unwrap());
    f.write("hello\n").unwrap();
    assert!(f.exists().unwrap() && f.is_file().unwrap() && !f.is_dir().unwrap());
    assert_eq!(f.read_to_string().unwrap(), "hello\n");
    assert_eq!(f.read().unwrap(), b"hello\n");
    let m = f.metadata().unwrap();
    assert_eq!(m.len(), 6);
    assert!(m.is_file());
    assert_eq!(m.mode() & 0o600, 0o600);
    let age = SystemTime::now()
        .duration_since(m.modified().unwrap())
        .unwrap_or_default();
    assert!(age < Duration::from_secs(60));
    assert_eq!(
        f.to_string(),
        t.dir.as_path().join("notes.txt").display().to_string()
    );
    let err = t.path("missing").read().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.to_string().contains("missing"), "{err}");
}

fn directories(t: &Ctx) {
    let d = t.path("a/b/c");
    d.create_dir_all().unwrap();
    assert!(d.is_dir().unwrap());
    t.path("a/z.txt").write("").unwrap();
    let names: Vec<_> = t
        .path("a")
        .read_dir()
        .unwrap()
        .iter()
        .map(|p| p.file_name().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["b", "z.txt"]);
    let moved = t.path("a").rename(t.dir.as_path().join("moved")).unwrap();
    assert!(moved.join("b/c").is_dir().unwrap());
    assert!(!t.path("a").exists().unwrap());
    moved.remove().unwrap();
    assert!(!moved.exists().unwrap());
}

fn glob(t: &Ctx) {
    for f in [
        "x.rs",
        "y.rs",
        "z.txt",
        ".hidden.rs",
        "sub/w.rs",
        "sub/deeper/v.rs",
    ] {
        let p = t.path(f);
        p.parent().unwrap().create_dir_all().unwrap();
        p.write("").unwrap();
    }
    let rel = |v: Vec<MPath>| -> Vec<String> {
        v.iter()
            .map(|p| {
                p.as_path()
                    .strip_prefix(t.dir.as_path())
                    .unwrap()
                    .display()
                    .to_string()
            })
            .collect()
    };
    assert_eq!(rel(t.dir.glob("*.rs").unwrap()), ["x.rs", "y.rs"]);
    assert_eq!(rel(t.dir.glob("sub/*.rs").unwrap()), ["sub/w.rs"]);
    assert_eq!(
        rel(t.dir.glob("**/*.rs").unwrap()),
        ["sub/deeper/v.rs", "sub/w.rs", "x.rs", "y.rs"]
    );
    assert_eq!(rel(t.dir.glob("[xz].*").unwrap()), ["x.rs", "z.txt"]);
    assert!(t.dir.glob("nothing*").unwrap().is_empty());
}

fn which(t: &Ctx) {
    let sh = t.m.which("sh").unwrap();
    assert!(sh.is_absolute() && sh.ends_with("sh"), "{sh:?}");
    assert_eq!(
        t.m.which("no-such-program-here").unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

fn upload_and_download_are_recursive(t: &Ctx) {
    let here = tempfile::tempdir().unwrap();
    let src = here.path().join("tree");
    std::fs::create_dir_all(src.join("inner/deep")).unwrap();
    std::fs::write(src.join("top.txt"), "top").unwrap();
    std::fs::write(src.join("inner/deep/leaf.bin"), [0u8, 1, 2, 255]).unwrap();
    let remote = t.dir.as_path().join("up");
    t.m.upload(&src, &remote).unwrap();
    assert_eq!(t.path("up/top.txt").read_to_string().unwrap(), "top");
    assert_eq!(
        t.path("up/inner/deep/leaf.bin").read().unwrap(),
        [0, 1, 2, 255]
    );
    let back = here.path().join("back");
    t.m.download(&remote, &back).unwrap();
    assert_eq!(
        std::fs::read(back.join("inner/deep/leaf.bin")).unwrap(),
        [0, 1, 2, 255]
    );
    // A single file too.
    let one = here.path().join("one.txt");
    t.m.download(remote.join("top.txt"), &one).unwrap();
    assert_eq!(std::fs::read_to_string(one).unwrap(), "top");
}

fn paths_interpolate_as_one_argument(t: &Ctx) {
    let p = t.path("with space.txt");
    p.write("x").unwrap();
    assert_eq!(t.on(plumb::sh!(cat $p)).read().unwrap(), "x");
}

fn append_touch_and_permissions(t: &Ctx) {
    let f = t.path("log.txt");
    f.append("one\n").unwrap();
    f.append("two\n").unwrap();
    assert_eq!(f.read_to_string().unwrap(), "one\ntwo\n");
    let empty = t.path("empty");
    empty.touch().unwrap();
    assert_eq!(empty.metadata().unwrap().len(), 0);
    empty.touch().unwrap();
    f.set_permissions(0o640).unwrap();
    let m = f.metadata().unwrap();
    assert_eq!(m.mode(), 0o640);
    let uid: u32 = t.on(plumb::sh! { id -u }).read().unwrap().parse().unwrap();
    assert_eq!(m.uid(), Some(uid));
    assert!(m.gid().is_some());
}

fn symlinks(t: &Ctx) {
    let real = t.path("real.txt");
    real.write("data").unwrap();
    let link = t
        .path("real.txt")
        .symlink(t.dir.as_path().join("link"))
        .unwrap();
    assert_eq!(link.read_link().unwrap().file_name().unwrap(), "real.txt");
    assert_eq!(link.read_to_string().unwrap(), "data");
    assert!(link.symlink_metadata().unwrap().is_symlink());
    assert!(link.metadata().unwrap().is_file());
    // A relative target is stored as written, and a dangling link still exists.
    let dangling = plumb::local().path("nowhere").as_path().to_path_buf();
    let d =
        t.m.path(&dangling)
            .symlink(t.dir.as_path().join("dangling"))
            .unwrap();
    assert_eq!(d.read_link().unwrap(), dangling);
    assert!(d.exists().unwrap());
    assert_eq!(d.metadata().unwrap_err().kind(), ErrorKind::NotFound);
    d.remove().unwrap();
    assert!(!d.exists().unwrap());
}

fn copies_on_the_machine(t: &Ctx) {
    let src = t.path("src");
    src.join("deep").create_dir_all().unwrap();
    src.join("deep/f.txt").write("f").unwrap();
    src.join("top.sh").write("#!/bin/sh\n").unwrap();
    src.join("top.sh").set_permissions(0o751).unwrap();
    t.path("src/top.sh")
        .symlink(src.as_path().join("ln"))
        .unwrap();
    let copy = src.copy_to(t.dir.as_path().join("copy")).unwrap();
    assert_eq!(copy.join("deep/f.txt").read_to_string().unwrap(), "f");
    assert_eq!(copy.join("top.sh").metadata().unwrap().mode(), 0o751);
    assert!(copy.join("ln").symlink_metadata().unwrap().is_symlink());
    let one = src
        .join("deep/f.txt")
        .copy_to(t.dir.as_path().join("one.txt"))
        .unwrap();
    assert_eq!(one.read_to_string().unwrap(), "f");
    // The destination is the copy itself: an existing directory there is refused.
    assert!(src.copy_to(copy.as_path()).is_err());
}

fn walks_a_tree(t: &Ctx) {
    for f in ["b/x.txt", "a/c/y.txt", "a/z.txt", ".h"] {
        let p = t.path(f);
        p.parent().unwrap().create_dir_all().unwrap();
        p.touch().unwrap();
    }
    let found: Vec<String> = t
        .dir
        .walk()
        .unwrap()
        .map(|p| {
            let p = p.unwrap();
            p.as_path()
                .strip_prefix(t.dir.as_path())
                .unwrap()
                .display()
                .to_string()
        })
        .collect();
    assert_eq!(
        found,
        [".h", "a", "a/c", "a/c/y.txt", "a/z.txt", "b", "b/x.txt"]
    );
}

fn streams_a_file(t: &Ctx) {
    use std::io::{Read, Write};
    let f = t.path("stream.bin");
    let block: Vec<u8> = (0..=255u8).cycle().take(1 << 20).collect();
    let mut w = f.create().unwrap();
    for _ in 0..3 {
        w.write_all(&block).unwrap();
    }
    w.finish().unwrap();
    assert_eq!(f.metadata().unwrap().len(), 3 << 20);
    let mut r = f.open().unwrap();
    let mut back = Vec::new();
    r.read_to_end(&mut back).unwrap();
    assert_eq!(back.len(), 3 << 20);
    assert!(back.chunks(1 << 20).all(|c| c == block));
    let mut w = f.append_stream().unwrap();
    w.write_all(b"tail").unwrap();
    w.finish().unwrap();
    assert!(f.read().unwrap().ends_with(b"\xfftail"));
    let missing = t.path("missing").open();
    let err = match missing {
        Err(e) => e,
        // A shell stream learns it at the end.
        Ok(mut r) => {
            let e = r.read_to_end(&mut Vec::new()).unwrap_err();
            e.into_inner()
                .unwrap()
                .downcast::<plumb::Error>()
                .map(|e| *e)
                .unwrap()
        }
    };
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(err.to_string().contains("missing"), "{err}");
}

fn temp_dirs_go_away(t: &Ctx) {
    let dir = t.m.temp_dir().unwrap();
    let kept = dir.as_path().to_path_buf();
    assert_eq!(dir.metadata().unwrap().mode(), 0o700);
    dir.join("sub").create_dir_all().unwrap();
    dir.join("sub/f").write("x").unwrap();
    drop(dir);
    assert!(!t.m.path(&kept).exists().unwrap());
}

fn errors_name_path_and_machine(t: &Ctx) {
    let missing = t.path("nope/deeper");
    for err in [
        missing.read().unwrap_err(),
        missing.metadata().unwrap_err(),
        missing.read_dir().unwrap_err(),
        missing.remove().unwrap_err(),
        missing.write("x").unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
        assert!(err.to_string().contains("nope/deeper"), "{err}");
        assert_eq!(err.machine(), t.m.name());
    }
    let file = t.path("plain");
    file.write("x").unwrap();
    let err = file.read_dir().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotADirectory, "{err}");
    assert!(err.to_string().contains("plain"), "{err}");
    let root = sh! { id -u }.on_dyn(t.m.clone()).read().unwrap() == "0";
    if !root {
        let err = t.m.path("/plumb-denied").write("x").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
        assert!(err.to_string().contains("/plumb-denied"), "{err}");
    }
}

/// Many threads use one machine's files at once, each getting its own answers.
fn threads_share_the_files(t: &Ctx) {
    std::thread::scope(|s| {
        for i in 0..8 {
            let f = t.path(&format!("t{i}"));
            s.spawn(move || {
                for j in 0..10 {
                    let data = format!("{i}:{j}").repeat(j * 1000 + 1);
                    f.write(&data).unwrap();
                    assert_eq!(f.metadata().unwrap().len(), data.len() as u64);
                    assert_eq!(f.read_to_string().unwrap(), data);
                }
            });
        }
    });
    assert_eq!(t.dir.read_dir().unwrap().len(), 8);
}

#[cfg(unix)]
fn transfers_report_progress(t: &Ctx) {
    let here = tempfile::tempdir().unwrap();
    let src = here.path().join("data.bin");
    std::fs::write(&src, vec![9u8; 1 << 20]).unwrap();
    std::fs::set_permissions(&src, std::os::unix::fs::PermissionsExt::from_mode(0o754)).unwrap();
    let remote = t.dir.as_path().join("data.bin");
    let mut seen = Vec::new();
    t.m.upload_with(&src, &remote, &mut |p| {
        assert_eq!(p.bytes_total(), Some(1 << 20));
        assert_eq!(p.file(), src);
        seen.push(p.bytes_done());
    })
    .unwrap();
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
    assert_eq!((seen[0], *seen.last().unwrap()), (0, 1 << 20));
    // The mode comes along, as with scp.
    assert_eq!(t.m.path(&remote).metadata().unwrap().mode(), 0o754);
    let back = here.path().join("back.bin");
    let mut last = 0;
    t.m.download_with(&remote, &back, &mut |p| last = p.bytes_done())
        .unwrap();
    assert_eq!(last, 1 << 20);
    assert_eq!(std::fs::read(&back).unwrap(), vec![9u8; 1 << 20]);
    // A tree reports the bytes of its stream, up to the total of its files at least.
    let tree = here.path().join("tree");
    std::fs::create_dir_all(tree.join("d")).unwrap();
    std::fs::write(tree.join("d/f"), vec![1u8; 100_000]).unwrap();
    let mut last = (0, None);
    t.m.upload_with(&tree, t.dir.as_path().join("tree"), &mut |p| {
        last = (p.bytes_done(), p.bytes_total())
    })
    .unwrap();
    assert_eq!(last.1, Some(100_000));
    assert!(last.0 >= 100_000, "{last:?}");
}

#[cfg(unix)]
/// Random names (quotes, `$`, newlines, a leading `-`, bytes that are not UTF-8) through
/// every file operation.
fn any_name_through_every_operation(t: &Ctx) {
    use proptest::prelude::*;
    use std::ffi::OsString;
    use std::io::{Read, Write};
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let name = crate::injection::nasty_bytes(24).prop_filter("a file name", |b| {
        !b.is_empty() && !b.contains(&b'/') && b.as_slice() != b"." && b.as_slice() != b".."
    });
    let mut runner = crate::injection::runner();
    let cases = runner.config().cases;
    let config = proptest::test_runner::Config {
        cases: (cases / 4).max(4),
        ..runner.config().clone()
    };
    runner = proptest::test_runner::TestRunner::new(config);
    runner
        .run(&name, |bytes| {
            let name = OsString::from_vec(bytes.clone());
            let d = t.dir.join(&name);
            d.create_dir_all().unwrap();
            let f = d.join(&name);
            f.write(&bytes).unwrap();
            f.append(b"+").unwrap();
            prop_assert_eq!(f.read().unwrap(), [bytes.as_slice(), b"+"].concat());
            prop_assert_eq!(f.metadata().unwrap().len(), bytes.len() as u64 + 1);
            let listed = d.read_dir().unwrap();
            prop_assert_eq!(listed.len(), 1);
            prop_assert_eq!(listed[0].file_name().unwrap().as_bytes(), bytes.as_slice());
            f.touch().unwrap();
            f.set_permissions(0o600).unwrap();
            let link = f.symlink(d.as_path().join("l")).unwrap();
            prop_assert_eq!(link.read_link().unwrap(), f.as_path());
            let mut w = f.create().unwrap();
            w.write_all(&bytes).unwrap();
            w.finish().unwrap();
            let mut back = Vec::new();
            f.open().unwrap().read_to_end(&mut back).unwrap();
            prop_assert_eq!(&back, &bytes);
            let copy = d.copy_to(t.dir.as_path().join("copy")).unwrap();
            prop_assert_eq!(copy.join(&name).read().unwrap(), bytes.clone());
            let moved = copy
                .rename(t.dir.as_path().join(&name).with_extension("moved"))
                .unwrap();
            prop_assert!(moved.join(&name).exists().unwrap());
            moved.remove().unwrap();
            d.remove().unwrap();
            prop_assert!(!d.exists().unwrap());
            Ok(())
        })
        .unwrap();
}

/// A missing name with `\c` in it (which a shell's `echo` reads as "stop here") is
/// reported missing, not as an unreadable error: the message keeps the whole name.
fn a_missing_name_with_backslash_c_is_missing(t: &Ctx) {
    let gone = t.path("no\\cpe\nx");
    assert!(!gone.exists().unwrap());
    let err = gone.metadata().unwrap_err();
    assert_eq!(err.kind(), plumb::ErrorKind::NotFound, "{err}");
}

on_every_machine_and_busybox!(
    // `#[cfg(unix)]`: the body checks Unix modes, `/` as the separator, links or `sh`; `portable` tests files on Windows.
    #[cfg(unix)]
    a_missing_name_with_backslash_c_is_missing,
    threads_share_the_files,
    #[cfg(unix)]
    transfers_report_progress,
    #[cfg(unix)]
    any_name_through_every_operation,
    #[cfg(unix)]
    append_touch_and_permissions,
    #[cfg(unix)]
    symlinks,
    #[cfg(unix)]
    copies_on_the_machine,
    #[cfg(unix)]
    walks_a_tree,
    streams_a_file,
    #[cfg(unix)]
    temp_dirs_go_away,
    #[cfg(unix)]
    errors_name_path_and_machine,
    #[cfg(unix)]
    read_write_and_metadata,
    directories,
    #[cfg(unix)]
    glob,
    #[cfg(unix)]
    which,
    upload_and_download_are_recursive,
    paths_interpolate_as_one_argument,
);

#[cfg(unix)]
/// With SFTP, files need no program on the remote host: on an sshd whose sessions find
/// none (`PATH` leads nowhere), every file operation but a copy on the host still works,
/// and so do single-file transfers.
fn files_need_no_remote_tools(m: Arc<dyn Machine>) {
    let err = sh! { cat /dev/null }.on_dyn(m.clone()).run().unwrap_err();
    assert_eq!(err.code(), Some(127), "{err}");
    let dir = m.temp_dir().unwrap();
    let f = dir.join("f.txt");
    f.write("a").unwrap();
    f.append("b").unwrap();
    assert_eq!(f.read_to_string().unwrap(), "ab");
    assert_eq!(f.metadata().unwrap().len(), 2);
    dir.join("sub/deeper").create_dir_all().unwrap();
    f.symlink(dir.as_path().join("sub/link")).unwrap();
    let names: Vec<_> = dir
        .walk()
        .unwrap()
        .map(|p| p.unwrap().to_string())
        .collect();
    assert_eq!(names.len(), 4, "{names:?}");
    f.set_permissions(0o600).unwrap();
    f.touch().unwrap();
    let moved = f.rename(dir.as_path().join("g.txt")).unwrap();
    let here = tempfile::tempdir().unwrap();
    m.download(moved.as_path(), here.path().join("g")).unwrap();
    m.upload(here.path().join("g"), dir.as_path().join("h.txt"))
        .unwrap();
    assert_eq!(dir.join("h.txt").read_to_string().unwrap(), "ab");
    dir.close().unwrap();
}

#[cfg(unix)]
#[test]
fn ssh_files_need_no_remote_tools() {
    let d = crate::common::sshd::no_tools();
    files_need_no_remote_tools(Arc::new(
        crate::common::ssh_builder_for(d).connect().unwrap(),
    ));
}

#[cfg(unix)]
#[cfg(feature = "ssh2")]
#[test]
fn ssh2_files_need_no_remote_tools() {
    let d = crate::common::sshd::no_tools();
    files_need_no_remote_tools(Arc::new(
        crate::common::ssh2_builder_for(d).connect().unwrap(),
    ));
}

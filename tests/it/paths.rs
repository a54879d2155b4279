//! `MPath`, `which`, and recursive upload/download, on every machine.

use std::time::{Duration, SystemTime};

use crate::common::Ctx;
use plumb::prelude::*;
use plumb::ErrorKind;

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

on_every_machine!(
    read_write_and_metadata,
    directories,
    glob,
    which,
    upload_and_download_are_recursive,
    paths_interpolate_as_one_argument,
);

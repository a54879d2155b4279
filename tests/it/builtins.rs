//! plumb's portable builtins (`cat cp echo head mkdir mv rm test touch`...): the same
//! bodies pass with the real programs (on Unix, `local` and the remote machines) and with
//! the builtins (`local_builtins`, and `local` on Windows, which lacks the programs); then
//! what only the builtins do: refuse an option they do not know, naming it, stop a
//! sequence at `exit`, and step aside for a real program unless forced.

use std::time::Duration;

use crate::common::helper::helper;
use crate::common::Ctx;
use plumb::prelude::*;
use plumb::{sh, Builtins, ErrorKind};

fn mkdir_rm_and_errors(t: &Ctx) {
    assert_eq!(t.on(sh!(mkdir a/b)).code().unwrap(), 1);
    t.on(sh!(mkdir -p a/b && mkdir -p a/b && mkdir a/c))
        .run()
        .unwrap();
    let err = t.on(sh!(mkdir a)).run().unwrap_err();
    assert!(
        String::from_utf8_lossy(err.stderr().unwrap()).contains("File exists"),
        "{err}"
    );
    t.on(sh!(touch a/b/f)).run().unwrap();
    let err = t.on(sh!(rm a)).run().unwrap_err();
    assert_eq!(err.code(), Some(1), "a directory needs -r: {err}");
    let err = t.on(sh!(rm nope)).run().unwrap_err();
    let why = String::from_utf8_lossy(err.stderr().unwrap()).into_owned();
    assert!(why.contains("No such file or directory"), "{why}");
    t.on(sh!(rm -f nope)).run().unwrap();
    assert_eq!(t.on(sh!(rm -r .)).code().unwrap(), 1, "`.` is refused");
    assert!(t.path("a/b/f").exists().unwrap());
    t.on(sh!(rm -rf a)).run().unwrap();
    assert!(!t.path("a").exists().unwrap());
    t.on(sh!(mkdir e && rm -d e)).run().unwrap();
}

fn cp_and_mv(t: &Ctx) {
    t.path("f").write("data").unwrap();
    t.on(sh!(mkdir d && cp f g && cp f d && cp g d/h))
        .run()
        .unwrap();
    assert_eq!(t.path("g").read_to_string().unwrap(), "data");
    assert_eq!(t.path("d/f").read_to_string().unwrap(), "data");
    assert_eq!(t.path("d/h").read_to_string().unwrap(), "data");
    assert_eq!(t.on(sh!(cp d e)).code().unwrap(), 1, "a directory needs -r");
    t.on(sh!(cp -r d e && cp -R d e)).run().unwrap();
    assert_eq!(t.path("e/h").read_to_string().unwrap(), "data");
    assert_eq!(
        t.path("e/d/f").read_to_string().unwrap(),
        "data",
        "into e, which exists"
    );
    t.on(sh!(mv g moved && mv moved d && mv e d)).run().unwrap();
    assert_eq!(t.path("d/moved").read_to_string().unwrap(), "data");
    assert!(t.path("d/e/h").is_file().unwrap());
    assert!(!t.path("g").exists().unwrap() && !t.path("e").exists().unwrap());
    assert_eq!(t.on(sh!(cp nope x)).code().unwrap(), 1);
    t.path("f").write("new").unwrap();
    t.on(sh!(cp f d/h)).run().unwrap();
    assert_eq!(
        t.path("d/h").read_to_string().unwrap(),
        "new",
        "overwritten"
    );
}

fn cat_head_and_echo(t: &Ctx) {
    let lines: String = (1..=12).map(|i| format!("{i}\n")).collect();
    t.path("n.txt").write(&lines).unwrap();
    t.path("ab.txt").write("a\nb\n").unwrap();
    assert_eq!(
        t.on(sh!(head n.txt)).read().unwrap(),
        "1\n2\n3\n4\n5\n6\n7\n8\n9\n10"
    );
    assert_eq!(t.on(sh!(head -n 2 n.txt)).read().unwrap(), "1\n2");
    assert_eq!(t.on(sh!(head -3 n.txt)).read().unwrap(), "1\n2\n3");
    assert_eq!(t.on(sh!(head -c 3 n.txt)).read().unwrap(), "1\n2");
    assert_eq!(
        t.on(sh!(head -n1 ab.txt n.txt)).read().unwrap(),
        "==> ab.txt <==\na\n\n==> n.txt <==\n1"
    );
    assert_eq!(
        t.on(sh!(cat ab.txt - ab.txt))
            .stdin_bytes("x\n")
            .read()
            .unwrap(),
        "a\nb\nx\na\nb"
    );
    assert_eq!(t.on(sh!(cat ab.txt | head -n 1)).read().unwrap(), "a");
    assert_eq!(
        t.on(sh!(cat nope ab.txt)).unchecked().read().unwrap(),
        "a\nb"
    );
    assert_eq!(t.on(sh!(cat nope)).code().unwrap(), 1);
    assert_eq!(t.on(sh!(echo -n hi)).read_bytes().unwrap(), b"hi");
    assert_eq!(t.on(sh!(echo a "b  c" -x)).read().unwrap(), "a b  c -x");
    // A remote `sh`'s own `echo` may not take `-e` (dash's does not): here only.
    if t.m.name() == "local" {
        let e = t.on(sh!("echo -e 'a\\tb\\n'"));
        assert_eq!(e.read_bytes().unwrap(), b"a\tb\n\n");
    }
    // A stage that stops reading ends the writer as SIGPIPE does: no failure.
    let big = "line\n".repeat(200_000);
    let first = t.on(sh!(cat | head -n 1)).stdin_bytes(big).read().unwrap();
    assert_eq!(first, "line");
}

fn test_and_brackets(t: &Ctx) {
    t.path("f").write("x").unwrap();
    t.path("empty").write("").unwrap();
    t.path("d").create_dir_all().unwrap();
    let yes = |e: plumb::Expr| assert!(t.on(e.clone()).success().unwrap(), "{e}");
    let no = |e: plumb::Expr| assert!(!t.on(e.clone()).success().unwrap(), "{e}");
    yes(sh!(test -e f));
    yes(sh!(test -f f));
    no(sh!(test -f d));
    yes(sh!(test -d d));
    yes(sh!(test -s f));
    no(sh!(test -s empty));
    no(sh!(test -e nope));
    yes(sh!(test ! -e nope));
    yes(sh!(test -z ""));
    yes(sh!(test -n x));
    yes(sh!(test abc));
    no(sh!(test ""));
    no(sh!(test));
    yes(sh!(test a = a));
    yes(sh!(test a != b));
    yes(sh!(test 10 -gt 9));
    no(sh!(test 10 -lt 9));
    yes(sh! { test -3 -le -3 });
    yes(sh!([ -d d ]));
    yes(sh!([ -f f -a -d d ]));
    yes(sh!([ -f nope -o -d d ]));
    yes(sh! { [ ! x = y ] });
    assert_eq!(t.on(sh!(test x -eq 1)).code().unwrap(), 2, "not an integer");
    assert_eq!(t.on(sh!("[ -f f")).code().unwrap(), 2, "no closing bracket");
}

fn touch_pwd_true_false_sleep(t: &Ctx) {
    t.on(sh!(touch new && touch -c not-made)).run().unwrap();
    assert!(t.path("new").is_file().unwrap());
    assert!(!t.path("not-made").exists().unwrap());
    let here = t.on(sh!(pwd)).read().unwrap();
    assert_eq!(std::path::Path::new(&here), t.dir.as_path());
    assert_eq!(t.on(sh!(true ignored)).code().unwrap(), 0);
    assert_eq!(t.on(sh!(false)).code().unwrap(), 1);
    t.on(sh!(sleep 0.05)).run().unwrap();
    assert_eq!(t.on(sh!(sleep nope)).code().unwrap(), 1);
}

on_every_machine!(
    mkdir_rm_and_errors,
    cp_and_mv,
    cat_head_and_echo,
    test_and_brackets,
    touch_pwd_true_false_sleep,
);

fn forced() -> plumb::LocalMachine {
    plumb::local().with_builtins(Builtins::Always)
}

/// What a builtin says of an option it does not know: its name, the option, and that it
/// is plumb's builtin; exit code 1, as GNU's tools give.
#[test]
fn unknown_options_are_errors_that_name_them() {
    let dir = tempfile::tempdir().unwrap();
    let m = forced().with_dir(dir.path());
    for (e, builtin, option) in [
        (sh!(rm -i f), "rm", "-i"),
        (sh!(rm -rfx f), "rm", "-x"),
        (sh!(mkdir --mode-of x), "mkdir", "--mode-of"),
        (sh!(cp -l a b), "cp", "-l"),
        (sh!(head -z f), "head", "-z"),
        (sh!(touch -d yesterday f), "touch", "-d"),
        (sh!(cat -n f), "cat", "-n"),
        (sh!(mv -i a b), "mv", "-i"),
        (sh!(which --skip-alias ls), "which", "--skip-alias"),
    ] {
        let err = e.on(&m).run().unwrap_err();
        assert_eq!(
            (err.kind(), err.code()),
            (ErrorKind::Exit, Some(1)),
            "{err}"
        );
        let says = String::from_utf8_lossy(err.stderr().unwrap()).into_owned();
        assert!(says.starts_with(&format!("{builtin}: ")), "{says}");
        assert!(
            says.contains(&format!("unknown option `{option}`")),
            "{says}"
        );
        assert!(
            says.contains(&format!("plumb's builtin `{builtin}`")),
            "{says}"
        );
    }
    let err = sh!(head -n -2 f).on(&m).run().unwrap_err();
    assert!(
        String::from_utf8_lossy(err.stderr().unwrap()).contains("not supported"),
        "{err}"
    );
    let err = sh!(test -t 0).on(&m).run().unwrap_err();
    assert_eq!(err.code(), Some(2), "{err}");
}

/// `exit` ends with its code, and a sequence stops there, as a script does.
#[test]
fn exit_stops_the_sequence() {
    let m = forced();
    let out = sh!(echo a; exit 3; echo never)
        .on(&m)
        .unchecked()
        .output()
        .unwrap();
    assert_eq!(
        (out.status.code(), out.stdout.as_slice()),
        (Some(3), &b"a\n"[..])
    );
    assert_eq!(sh!(exit 0; echo never).on(&m).read().unwrap(), "");
    assert_eq!(sh!(exit 300).on(&m).code().unwrap(), 44);
    // In a pipeline it ends its own stage only.
    assert_eq!(
        sh!(exit 1 | echo on).on(&m).unchecked().read().unwrap(),
        "on"
    );
}

/// `which` finds programs, not builtins; `-a` all of them.
#[test]
fn which_finds_programs() {
    let dir = tempfile::tempdir().unwrap();
    let h = helper();
    let bin = h.parent().unwrap();
    let m = forced().with_env("PATH", std::env::join_paths([bin, dir.path()]).unwrap());
    let name = h.file_stem().unwrap().to_str().unwrap();
    assert_eq!(sh!(which $name).on(&m).read().unwrap(), h.to_str().unwrap());
    assert_eq!(sh!(which plumb_nowhere).on(&m).code().unwrap(), 1);
    assert_eq!(
        sh!(which cat).on(&m).code().unwrap(),
        1,
        "builtins are not programs"
    );
}

/// By default a real program runs where there is one: the builtin only stands in for a
/// missing one; a path always names the program; `Never` never runs a builtin.
#[test]
fn the_real_program_runs_where_there_is_one() {
    let empty = tempfile::tempdir().unwrap();
    let no_programs = plumb::local().with_env("PATH", empty.path());
    assert_eq!(
        sh! { echo --version }.on(&no_programs).read().unwrap(),
        "--version"
    );
    let never = no_programs.with_builtins(Builtins::Never);
    let err = sh!(echo hi).on(&never).run().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    #[cfg(unix)]
    {
        let echo = plumb::local().which("echo").unwrap();
        assert!(
            sh! { echo --version }.read().unwrap().contains("GNU"),
            "the real echo"
        );
        let by_path = sh!($echo --version).on(&forced()).read().unwrap();
        assert!(
            by_path.contains("GNU"),
            "a path is the program, even when forced"
        );
        assert_eq!(
            sh! { echo --version }.on(&forced()).read().unwrap(),
            "--version"
        );
    }
}

/// A builtin in a pipeline is a stage like a program: its status counts (pipefail), a
/// kill ends it.
#[test]
fn builtins_in_pipelines() {
    let h = helper();
    let m = forced();
    let err = sh!(cat nope | $h upper).on(&m).read().unwrap_err();
    assert_eq!(err.code(), Some(1), "{err}");
    assert!(err.to_string().contains("cat nope"), "{err}");
    let started = std::time::Instant::now();
    let err = sh!(sleep 20 | cat)
        .on(&m)
        .timeout(Duration::from_millis(300))
        .read()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(started.elapsed() < Duration::from_secs(10));
}

//! Globs, `~`, command substitution, groups and subshells written in `sh!` itself, in both
//! forms, on every machine and BusyBox, with the same results (tests/it/expansion.rs feeds
//! the runtime hand-written plans; this is what users write).

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use crate::common::Ctx;
use plumb::sh;
use proptest::prelude::*;

fn touch(t: &Ctx, names: &[&str]) {
    for name in names {
        t.path(name).write("").unwrap();
    }
}

/// An unmatched pattern stays as written (bash's default): `rm -f *.o` does nothing and
/// `ls *.x` fails with ls's own message about `*.x`.
fn unmatched_patterns_stay_as_written(t: &Ctx) {
    touch(t, &["keep.c"]);
    t.on(sh!(rm -f *.o)).run().unwrap();
    t.on(sh!("rm -f build/*.o")).run().unwrap();
    assert!(t.path("keep.c").exists().unwrap());
    let err = t.on(sh!(ls *.x)).read().unwrap_err();
    let stderr = String::from_utf8_lossy(err.stderr().unwrap_or_default()).into_owned();
    assert!(stderr.contains("*.x"), "{err}");
    assert!(err.code().is_some_and(|c| c != 0), "{err}");
    assert_eq!(
        t.on(sh!(printf "%s|" *.none [ab].none)).read().unwrap(),
        "*.none|[ab].none|"
    );
}

/// Patterns match in the command's directory, sorted bytewise; the string form globs by
/// the same rules (the token form cannot write `logs/*.txt`: rustc reads a comment).
fn patterns_match_in_both_forms(t: &Ctx) {
    t.path("logs").create_dir_all().unwrap();
    touch(
        t,
        &["logs/b.txt", "logs/a.txt", "logs/c.log", "logs/.hidden.txt"],
    );
    assert_eq!(
        t.on(sh!("ls logs/*.txt")).read().unwrap(),
        "logs/a.txt\nlogs/b.txt"
    );
    assert_eq!(
        t.on(sh!(cd logs && printf "%s|" *.txt ?.log [!a].txt))
            .read()
            .unwrap(),
        "a.txt|b.txt|c.log|b.txt|"
    );
    assert_eq!(
        t.on(sh!(printf "%s|" *))
            .dir(t.path("logs").as_path())
            .read()
            .unwrap(),
        "a.txt|b.txt|c.log|"
    );
    // Quoted, it is a star; braces expand first, each word a pattern of its own.
    assert_eq!(
        t.on(sh!(cd logs && printf "%s|" "*.txt" {a,c}*))
            .read()
            .unwrap(),
        "*.txt|a.txt|c.log|"
    );
    assert_eq!(
        t.on(sh!("cd logs && printf '%s|' '*'.txt \\*.txt .*.txt"))
            .read()
            .unwrap(),
        "*.txt|*.txt|.hidden.txt|"
    );
}

/// In `${stem}*` only the written `*` globs: the value's `[ab]` and `*` are characters.
fn a_value_in_a_pattern_never_globs(t: &Ctx) {
    touch(t, &["[ab]1", "a1", "b1", "*2"]);
    let stem = "[ab]";
    assert_eq!(t.on(sh!(printf "%s|" ${stem}*)).read().unwrap(), "[ab]1|");
    let star = "*";
    assert_eq!(
        t.on(sh!("printf '%s|' $star? ${stem}?")).read().unwrap(),
        "*2|[ab]1|"
    );
    // Alone, a value is one argument whatever it holds.
    assert_eq!(t.on(sh!(printf "%s|" $star)).read().unwrap(), "*|");
}

/// `~` is the home directory of the user on the machine that runs the command, also in an
/// assignment; quoted it is a tilde.
fn tilde_is_the_home_directory(t: &Ctx) {
    let home = t.on(sh!(sh -c "echo $$HOME")).read().unwrap();
    let out = t.on(sh!(printf "%s|" ~ ~/.config/x "~" a~)).read().unwrap();
    assert_eq!(out, format!("{home}|{home}/.config/x|~|a~|"));
    let out = t.on(sh!("printf '%s|' ~/x '~/x' \\~")).read().unwrap();
    assert_eq!(out, format!("{home}/x|~/x|~|"));
    let out = t.on(sh!(A=~/bin sh -c "echo \"$$A\"")).read().unwrap();
    assert_eq!(out, format!("{home}/bin"));
    // `cp ~/.config/x .`: a file made in the home directory for the test, copied from it.
    let made = t.on(sh!(mktemp ~/.plumb-grammar-XXXXXX)).read().unwrap();
    let name = made.rsplit('/').next().unwrap().to_string();
    let result = (|| {
        t.on(sh!(sh -c "echo from home > \"$$1\"" sh $made)).run()?;
        t.on(sh!(cp ~/$name copied.txt)).run()?;
        t.path("copied.txt").read_to_string()
    })();
    t.on(sh!(rm -f $made)).run().unwrap();
    assert_eq!(result.unwrap(), "from home\n");
}

/// `{ ...; } > f` redirects the whole group; `( ... )` keeps its `cd` inside, a group does
/// not; exit codes and pipefail as in sh.
fn groups_and_subshells(t: &Ctx) {
    t.on(sh!({ date; echo b; } > build.log 2>&1)).run().unwrap();
    let log = t.path("build.log").read_to_string().unwrap();
    assert!(
        log.lines().count() == 2 && log.ends_with("\nb\n"),
        "{log:?}"
    );
    t.on(sh!({ echo a; sh -c "echo e >&2"; } > both.log 2>&1))
        .run()
        .unwrap();
    assert_eq!(t.path("both.log").read_to_string().unwrap(), "a\ne\n");
    t.on(sh!("{ echo x; echo y; } >> both.log")).run().unwrap();
    assert_eq!(t.path("both.log").read_to_string().unwrap(), "a\ne\nx\ny\n");
    t.path("sub").create_dir_all().unwrap();
    let here = t.on(sh!(pwd)).read().unwrap();
    let out = t.on(sh!((cd sub && pwd) | tail -n 1)).read().unwrap();
    assert_eq!(out, format!("{here}/sub"));
    assert_eq!(t.on(sh!((cd sub); pwd)).read().unwrap(), here);
    assert_eq!(
        t.on(sh!("{ cd sub; }; pwd")).read().unwrap(),
        format!("{here}/sub")
    );
    // Without the `;` before `}`, which sh would want.
    assert_eq!(
        t.on(sh!({ echo a; echo b } | wc -l)).read().unwrap().trim(),
        "2"
    );
    assert_eq!(
        t.on(sh!((echo a; echo b) |& sort -r)).read().unwrap(),
        "b\na"
    );
    let err = t.on(sh!({ true; sh -c "exit 3"; })).run().unwrap_err();
    assert_eq!(err.code(), Some(3), "{err}");
    let err = t.on(sh!((echo x | sh -c "exit 4"))).run().unwrap_err();
    assert_eq!(err.code(), Some(4), "{err}");
    assert_eq!(
        t.on(sh!((sh -c "exit 5") || echo recovered))
            .read()
            .unwrap(),
        "recovered"
    );
}

/// `$(...)`: stdout without trailing newlines; quoted one word with the text around it,
/// unquoted split on whitespace and never globbed or re-parsed; nested; a failure fails
/// the command and is named.
fn command_substitution(t: &Ctx) {
    let today = t.on(sh!(date +%F)).read().unwrap();
    t.path("data").create_dir_all().unwrap();
    t.on(sh!(touch "backup-$(date +%F).tgz")).run().unwrap();
    assert!(t.path(&format!("backup-{today}.tgz")).exists().unwrap());
    t.on(sh!("touch \"log $(date +%F).txt\"")).run().unwrap();
    assert!(t.path(&format!("log {today}.txt")).exists().unwrap());
    touch(t, &["a.txt"]);
    assert_eq!(
        t.on(sh!(printf "%s|" $(printf "x  *\n y;\n\n")))
            .read()
            .unwrap(),
        "x|*|y;|"
    );
    assert_eq!(
        t.on(sh!("printf '%s|' \"<$(printf 'x  *\\n y\\n\\n')>\""))
            .read()
            .unwrap(),
        "<x  *\n y>|"
    );
    // Nested, with a value inside, in both forms.
    let v = "a b";
    assert_eq!(
        t.on(sh!(echo $(echo $(printf %s $v)))).read().unwrap(),
        "a b"
    );
    assert_eq!(
        t.on(sh!("printf '%s|' \"[$(echo \"$(printf %s $v)\")]\""))
            .read()
            .unwrap(),
        "[a b]|"
    );
    // Its own pipes and sequences; in an assignment; in `cd`.
    assert_eq!(
        t.on(sh!(echo $(printf "b\na\n" | sort | head -n 1; echo c)))
            .read()
            .unwrap(),
        "a c"
    );
    assert_eq!(
        t.on(sh!(V=$(echo hi) sh -c "echo \"$$V\"")).read().unwrap(),
        "hi"
    );
    let here = t.on(sh!(pwd)).read().unwrap();
    assert_eq!(
        t.on(sh!(cd $(echo data) && pwd)).read().unwrap(),
        format!("{here}/data")
    );
    // A failing substitution fails the command, which never runs, with its own code.
    let err = t.on(sh!(echo never $(sh -c "exit 4"))).read().unwrap_err();
    assert_eq!(err.code(), Some(4), "{err}");
    assert!(err.to_string().contains("sh -c 'exit 4'"), "{err}");
    assert!(!String::from_utf8_lossy(err.stdout().unwrap_or_default()).contains("never"));
    assert_eq!(
        t.on(sh!(echo $(sh -c "exit 4") || echo fallback))
            .read()
            .unwrap(),
        "fallback"
    );
}

/// Random file names (spaces, newlines, `*`, `?`, `[`, a leading `-`, `$(`, non-UTF-8)
/// matched by a pattern each reach the program as exactly one argument, sorted bytewise.
fn matched_names_are_one_argument_each(t: &Ctx) {
    let fragment = prop_oneof![
        prop::sample::select(vec![
            b" ".to_vec(),
            b"\n".to_vec(),
            b"*".to_vec(),
            b"?".to_vec(),
            b"[".to_vec(),
            b"]".to_vec(),
            b"-".to_vec(),
            b"$(".to_vec(),
            b"$(id)".to_vec(),
            b"'".to_vec(),
            b"\"".to_vec(),
            b"\\".to_vec(),
            b"~".to_vec(),
            b"\xff".to_vec(),
            b"\x80".to_vec(),
        ]),
        prop::collection::vec(1u8..=255, 1..3),
    ];
    let name = prop::collection::vec(fragment, 1..6)
        .prop_map(|f| f.concat())
        .prop_filter("a visible file name", |b| {
            !b.contains(&b'/') && !b.contains(&0) && !b.starts_with(b".")
        });
    let names = prop::collection::btree_set(name, 1..5);
    let mut runner = crate::injection::runner_with(16);
    let case = std::cell::Cell::new(0);
    runner
        .run(&names, |names: BTreeSet<Vec<u8>>| {
            case.set(case.get() + 1);
            let dir = t.path(&format!("case{}", case.get()));
            dir.create_dir_all().unwrap();
            for n in &names {
                dir.join(OsString::from_vec(n.clone())).write("").unwrap();
            }
            // `/` is in no name: it separates the arguments.
            let out = t
                .on(sh!(printf "%s/" *))
                .dir(dir.as_path())
                .read_bytes()
                .unwrap();
            let got: Vec<&[u8]> = out
                .split(|&b| b == b'/')
                .filter(|a| !a.is_empty())
                .collect();
            let want: Vec<&[u8]> = names.iter().map(Vec::as_slice).collect();
            prop_assert_eq!(got, want);
            dir.remove().unwrap();
            Ok(())
        })
        .unwrap();
    // An argument is never split nor globbed again, whatever the matches hold.
    let spaced = t.path("spaced");
    spaced.create_dir_all().unwrap();
    spaced.join("a b*").write("").unwrap();
    let out = t
        .on(sh!(printf "<%s>" *))
        .dir(spaced.as_path())
        .read_bytes()
        .unwrap();
    assert_eq!(OsString::from_vec(out).as_bytes(), b"<a b*>");
}

/// `Expr`'s `Display` shows these forms as they were written.
#[test]
fn display_shows_them_as_written() {
    let stem = "a b";
    for (expr, want) in [
        (sh!(rm -f *.o ${stem}*.txt "*"), "rm -f *.o 'a b'*.txt '*'"),
        (sh!("ls logs/*.txt"), "ls logs/*.txt"),
        (
            sh!(cp ~/.config/x ~root/y "~"),
            "cp ~/.config/x ~root/y '~'",
        ),
        (
            sh!(tar czf "backup-$(date +%F).tgz" $(ls -d data)),
            "tar czf \"backup-$(date +%F).tgz\" $(ls -d data)",
        ),
        (
            sh!({ date; echo b; } > build.log 2>&1),
            "{ date; echo b; } > build.log 2>&1",
        ),
        (
            sh!((cd sub && pwd) | tail -n 1),
            "( cd sub && pwd ) | tail -n 1",
        ),
    ] {
        assert_eq!(expr.to_string(), want);
    }
}

on_every_machine_and_busybox!(
    unmatched_patterns_stay_as_written,
    patterns_match_in_both_forms,
    a_value_in_a_pattern_never_globs,
    tilde_is_the_home_directory,
    groups_and_subshells,
    command_substitution,
    matched_names_are_one_argument_each,
);

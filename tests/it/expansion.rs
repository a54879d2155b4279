//! Globs, `~`, command substitution, groups and subshells, on every machine with the same
//! results: the runtime's side of the grammar, fed the plans `sh!` writes for them.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use crate::common::Ctx;
use plumb::__private::{build, Val};
use plumb::prelude::*;
use plumb::sh;

/// The `Expr` of a plan (see plumb-macros/src/expand.rs for the grammar) with `values`.
fn plan(text: &str, values: Vec<Val>) -> Expr {
    let mut values = values;
    build(text, &mut values)
}

/// `L`: a literal part; `P` a pattern part.
fn lit(s: &str) -> String {
    format!("L{}:{s}", s.len())
}
fn pat(s: &str) -> String {
    format!("P{}:{s}", s.len())
}

/// A simple command of single-part words (each `L...` or `P...` or a whole part list).
fn simple(words: &[&str]) -> String {
    let mut s = format!("S0:{}:", words.len());
    for w in words {
        if w.starts_with(|c: char| c.is_ascii_digit()) {
            s.push_str(w);
        } else {
            s.push_str("1:");
            s.push_str(w);
        }
    }
    s.push_str("0:");
    s
}

fn one(cmd: &str) -> String {
    format!("T1:|{cmd}")
}

fn names(t: &Ctx, files: &[&[u8]]) {
    for f in files {
        t.path(".")
            .join(OsString::from_vec(f.to_vec()))
            .write("")
            .unwrap();
    }
}

/// Patterns match in the command's directory, sorted bytewise, each match one argument
/// whatever its bytes; hidden names need a written dot; an unmatched pattern stays as
/// written; a quoted `*` is a star.
fn globs_expand_in_the_commands_directory(t: &Ctx) {
    names(
        t,
        &[
            b"b.txt",
            b"a b.txt",
            b"-n.txt",
            b".hidden.txt",
            b"new\nline.txt",
            b"x.log",
            b"\xff.txt",
        ],
    );
    let e = plan(
        &one(&simple(&[&lit("printf"), &lit("%s|"), &pat("*.txt")])),
        vec![],
    );
    let out = t.on(e).read_bytes().unwrap();
    assert_eq!(
        out,
        b"-n.txt|a b.txt|b.txt|new\nline.txt|\xff.txt|".to_vec()
    );
    let e = plan(
        &one(&simple(&[&lit("printf"), &lit("%s|"), &pat(".*.txt")])),
        vec![],
    );
    assert_eq!(t.on(e).read().unwrap(), ".hidden.txt|");
    let e = plan(
        &one(&simple(&[&lit("printf"), &lit("%s|"), &pat("*.none")])),
        vec![],
    );
    assert_eq!(t.on(e).read().unwrap(), "*.none|");
    let e = plan(
        &one(&simple(&[&lit("printf"), &lit("%s|"), &lit("*.txt")])),
        vec![],
    );
    assert_eq!(t.on(e).read().unwrap(), "*.txt|");
    let e = plan(
        &one(&simple(&[
            &lit("printf"),
            &lit("%s|"),
            &pat("[ab]*.log"),
            &pat("x.[l]og"),
        ])),
        vec![],
    );
    assert_eq!(t.on(e).read().unwrap(), "[ab]*.log|x.log|");
    // A value inside a patterned word never globs: only the written `*` does.
    let stem = OsString::from("*");
    let word = format!("2:V{}", pat(".log"));
    let e = plan(
        &one(&simple(&[&lit("printf"), &lit("%s|"), &word])),
        vec![Val::One(stem)],
    );
    assert_eq!(t.on(e).read().unwrap(), "*.log|");
    let word = format!("2:{}{}", pat("*"), "V");
    let e = plan(
        &one(&simple(&[&lit("printf"), &lit("%s|"), &word])),
        vec![Val::One(".log".into())],
    );
    assert_eq!(t.on(e).read().unwrap(), "x.log|");
}

/// `cd` into a pattern, and a pattern after `cd` in the same sequence.
fn globs_follow_cd(t: &Ctx) {
    t.path("sub-dir").create_dir_all().unwrap();
    t.path("sub-dir/in.txt").write("").unwrap();
    let cd = format!("D1:{}", pat("sub-*"));
    let ls = simple(&[&lit("printf"), &lit("%s|"), &pat("*.txt")]);
    let e = plan(&format!("T1:|{cd}T1:|{ls}"), vec![]);
    assert_eq!(t.on(e).read().unwrap(), "in.txt|");
}

/// `~` is the home directory of the user on the machine that runs the command.
fn tilde_is_the_machines_home(t: &Ctx) {
    let home = t.on(sh!(sh -c "echo $$HOME")).read().unwrap();
    let e = plan(
        &one(&simple(&[&lit("printf"), &lit("%s|"), "2:HL4:/sub", "1:H"])),
        vec![],
    );
    assert_eq!(t.on(e).read().unwrap(), format!("{home}/sub|{home}|"));
    let e = plan(
        &one(&simple(&[&lit("printf"), &lit("%s|"), &lit("~")])),
        vec![],
    );
    assert_eq!(t.on(e).read().unwrap(), "~|");
    let e = plan(
        &one(&simple(&[&lit("printf"), &lit("%s|"), "1:U4:root"])),
        vec![],
    );
    assert_eq!(t.on(e).read().unwrap(), "/root|");
}

/// `$(...)`: its stdout without trailing newlines; unquoted, split on whitespace and never
/// globbed; quoted, one argument; nested; a failure fails the command and names what
/// failed.
fn substitutions(t: &Ctx) {
    names(t, &[b"a.txt"]);
    let inner = one(&simple(&[
        &lit("printf"),
        &lit("%s\\n\\n"),
        &lit("x  *  y"),
    ]));
    let unquoted = format!("1:C01:{inner}");
    let e = plan(
        &one(&simple(&[&lit("printf"), &lit("%s|"), &unquoted])),
        vec![],
    );
    assert_eq!(t.on(e).read().unwrap(), "x|*|y|");
    let quoted = format!("3:{}C11:{inner}{}", lit("<"), lit(">"));
    let e = plan(
        &one(&simple(&[&lit("printf"), &lit("%s|"), &quoted])),
        vec![],
    );
    assert_eq!(t.on(e).read().unwrap(), "<x  *  y>|");
    let nested_inner = one(&simple(&[
        &lit("echo"),
        &format!("1:C01:{}", one(&simple(&[&lit("echo"), &lit("deep")]))),
    ]));
    let e = plan(
        &one(&simple(&[&lit("echo"), &format!("1:C01:{nested_inner}")])),
        vec![],
    );
    assert_eq!(t.on(e).read().unwrap(), "deep");
    let failing = one(&simple(&[&lit("sh"), &lit("-c"), &lit("exit 7")]));
    let e = plan(
        &one(&simple(&[
            &lit("echo"),
            &lit("never"),
            &format!("1:C01:{failing}"),
        ])),
        vec![],
    );
    let err = t.on(e).read().unwrap_err();
    assert_eq!(err.code(), Some(7), "{err}");
    assert!(err.to_string().contains("`sh -c 'exit 7'`"), "{err}");
    assert_eq!(err.stdout().unwrap_or_default(), b"");
    // It runs in the command's directory.
    let pwd = one(&simple(&[&lit("pwd")]));
    let e = plan(
        &one(&simple(&[&lit("echo"), &format!("1:C01:{pwd}")])),
        vec![],
    );
    let here = t.on(sh!(pwd)).read().unwrap();
    assert_eq!(t.on(e).read().unwrap(), here);
}

/// `{ a; b; } > f`: one redirection for the whole; a group's `cd` goes on after it, a
/// subshell's does not; exit codes and pipefail as in sh.
fn groups_and_subshells(t: &Ctx) {
    t.path("sub").create_dir_all().unwrap();
    let echo = |w: &str| simple(&[&lit("echo"), &lit(w)]);
    let body = format!("2:T1:|{}T1:|{}", echo("a"), echo("b"));
    let e = plan(&format!("T1:|B0{body}1:o101:{}", lit("both.txt")), vec![]);
    t.on(e).run().unwrap();
    assert_eq!(t.path("both.txt").read_to_string().unwrap(), "a\nb\n");
    let pwd = simple(&[&lit("pwd")]);
    let cd = format!("D1:{}", lit("sub"));
    let here = t.on(sh!(pwd)).read().unwrap();
    let sub = format!("T1:|B11:T1:|{cd}0:T1:|{pwd}");
    assert_eq!(t.on(plan(&sub, vec![])).read().unwrap(), here);
    let group = format!("T1:|B01:T1:|{cd}0:T1:|{pwd}");
    assert_eq!(
        t.on(plan(&group, vec![])).read().unwrap(),
        format!("{here}/sub")
    );
    // A block in a pipeline, and its failure.
    let fail = simple(&[&lit("sh"), &lit("-c"), &lit("exit 3")]);
    let piped = format!(
        "T2:|B02:T1:|{}T1:|{}0:|{}",
        echo("x"),
        echo("y"),
        simple(&[&lit("cat")])
    );
    assert_eq!(t.on(plan(&piped, vec![])).read().unwrap(), "x\ny");
    let failing = format!("T1:|B11:T1:|{fail}0:");
    let err = t.on(plan(&failing, vec![])).run().unwrap_err();
    assert_eq!(err.code(), Some(3), "{err}");
}

on_every_machine_and_busybox!(
    globs_expand_in_the_commands_directory,
    globs_follow_cd,
    tilde_is_the_machines_home,
    substitutions,
    groups_and_subshells,
);

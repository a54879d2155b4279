//! Property tests: random byte strings (every byte but NUL) used as arguments, environment
//! values, directory names and redirect targets arrive byte for byte, on every machine; so
//! do values holding what the grammar expands when written in the macro (globs, `~`,
//! `$(...)`, braces, backticks).
//!
//! `PLUMB_PROPTEST_CASES` sets the number of cases (default 64 per property and machine;
//! the long run uses 10 000).

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use crate::common::Ctx;
use plumb::sh;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

pub(crate) fn runner() -> TestRunner {
    runner_with(64)
}

/// A runner of `PLUMB_PROPTEST_CASES` cases, else `default`.
pub(crate) fn runner_with(default: u32) -> TestRunner {
    let cases = std::env::var("PLUMB_PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(default);
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// Bytes that stress every quoting rule: quotes, `$`, backticks, newlines, `;`, globs, `~`,
/// a leading `-`, high bytes; never NUL.
pub(crate) fn nasty_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    let special = prop::sample::select(b"'\"$`\\\n\t ;&|<>*?[]{}()~#!-=%\x7f\x80\xff".to_vec());
    let any = 1u8..=255;
    prop::collection::vec(prop_oneof![3 => special, 2 => any], 0..max)
}

fn arguments(t: &Ctx) {
    runner()
        .run(&nasty_bytes(64), |bytes| {
            let v = OsString::from_vec(bytes.clone());
            let out = t.on(sh!(printf "%s" $v)).read_bytes().unwrap();
            prop_assert_eq!(out, bytes);
            Ok(())
        })
        .unwrap();
}

fn environment_values(t: &Ctx) {
    runner()
        .run(&nasty_bytes(64), |bytes| {
            let v = OsString::from_vec(bytes.clone());
            let out = t.on(sh!(printenv V)).env("V", &v).read_bytes().unwrap();
            prop_assert_eq!(out, [bytes.as_slice(), b"\n"].concat());
            Ok(())
        })
        .unwrap();
}

fn directory_names_and_redirect_targets(t: &Ctx) {
    let name = nasty_bytes(40).prop_filter("a file name", |b| {
        !b.is_empty() && !b.contains(&b'/') && b.as_slice() != b"." && b.as_slice() != b".."
    });
    runner()
        .run(&name, |bytes| {
            let name = OsString::from_vec(bytes.clone());
            // `--`: a name may start with `-`, which mkdir would read as an option.
            t.on(sh!(mkdir -p "--" $name)).run().unwrap();
            t.on(sh!(cd $name && printf "%s" $name > $name))
                .run()
                .unwrap();
            let back = t
                .on(sh!(cat < $name))
                .dir(t.dir.as_path().join(&name))
                .read_bytes()
                .unwrap();
            prop_assert_eq!(back, bytes.clone());
            let listed = t.path(".").join(&name).read_dir().unwrap();
            prop_assert_eq!(listed.len(), 1);
            prop_assert_eq!(listed[0].file_name().unwrap().as_bytes(), bytes.as_slice());
            t.path(".").join(&name).remove().unwrap();
            Ok(())
        })
        .unwrap();
}

/// Bytes that hold what the grammar expands when the author writes it: globs, `~`, `$(...)`,
/// `{a,b}`, backticks; mixed with other nasty bytes.
fn expanding_bytes() -> impl Strategy<Value = Vec<u8>> {
    let fragment = prop_oneof![
        3 => prop::sample::select(vec![
            &b"*"[..], b"?", b"[ab]", b"[!a]", b"~", b"~/", b"~root", b"$(id)", b"$(", b")",
            b"{a,b}", b"{1..3}", b"`id`", b"`", b"\"$(id)\"", b"'", b"\\", b" ", b"\n", b";",
        ])
        .prop_map(<[u8]>::to_vec),
        1 => nasty_bytes(4),
    ];
    prop::collection::vec(fragment, 0..8).prop_map(|f| f.concat())
}

/// Values holding `*`, `~`, `$(...)`, `{a,b}` or backticks never expand: alone, inside a
/// word with a written pattern (in a directory where it matches nothing), through a quoted
/// substitution, and as an assignment's value.
fn values_never_expand(t: &Ctx) {
    runner_with(32)
        .run(&expanding_bytes(), |bytes| {
            let v = OsString::from_vec(bytes.clone());
            let out = t.on(sh!(printf "%s" $v)).read_bytes().unwrap();
            prop_assert_eq!(&out, &bytes);
            // `x${v}*`: only the written `*` is a wildcard, and nothing here starts with x.
            if !bytes.contains(&b'/') {
                let out = t.on(sh!(printf "%s" x${v}*)).read_bytes().unwrap();
                prop_assert_eq!(out, [b"x", bytes.as_slice(), b"*"].concat());
            }
            let out = t
                .on(sh!(printf "%s" "$(printf %s $v)"))
                .read_bytes()
                .unwrap();
            let trimmed = bytes.len() - bytes.iter().rev().take_while(|&&b| b == b'\n').count();
            prop_assert_eq!(out, bytes[..trimmed].to_vec());
            let out = t
                .on(sh!(V=$v sh -c "printf %s \"$$V\""))
                .read_bytes()
                .unwrap();
            prop_assert_eq!(out, bytes);
            Ok(())
        })
        .unwrap();
}

on_every_machine!(
    arguments,
    environment_values,
    directory_names_and_redirect_targets,
    values_never_expand
);

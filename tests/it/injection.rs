//! Property tests: random byte strings (every byte but NUL) used as arguments, environment
//! values, directory names and redirect targets arrive byte for byte, on every machine.
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
    let cases = std::env::var("PLUMB_PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(64);
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

on_every_machine!(
    arguments,
    environment_values,
    directory_names_and_redirect_targets
);

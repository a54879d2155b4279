//! Commands run under `/bin/sh` whatever the user's login shell is: fish and tcsh read
//! quotes differently from sh, so the same scripts must arrive intact through them.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::time::Duration;

use crate::common::{assert_no_survivors, marker, ssh_builder, sshd::ensure_user};
use plumb::prelude::*;
use plumb::{sh, ErrorKind};

fn machine(user: &str, shell: &str) -> SshMachine {
    assert!(
        std::path::Path::new(shell).exists(),
        "{shell} is missing: scripts/test installs it"
    );
    assert!(
        ensure_user(user, shell),
        "cannot make the user {user} (the tests need root)"
    );
    ssh_builder().user(user).connect().unwrap()
}

fn everything_arrives(m: &SshMachine) {
    let nasty: Vec<OsString> = [
        "a b",
        "it's",
        "!event",
        "back\\slash",
        "new\nline",
        "$HOME",
        "`id`",
        "\"q\"",
    ]
    .iter()
    .map(OsString::from)
    .chain([OsString::from_vec(vec![0xff, b'!', b'\\'])])
    .collect();
    for v in &nasty {
        let out = sh!(printf "%s" $v).on(m).read_bytes().unwrap();
        assert_eq!(out, v.as_bytes(), "{v:?}");
    }
    let text = "here\nstring!";
    assert_eq!(sh!(cat <<< $text).on(m).read().unwrap(), text);
    assert_eq!(
        sh!(echo a | tr a b && echo "c!").on(m).read().unwrap(),
        "b\nc!"
    );
    let err = sh!(echo x | sh -c "exit 3" | cat).on(m).read().unwrap_err();
    assert_eq!(err.code(), Some(3));
    assert!(
        err.to_string().contains("failed: `sh -c 'exit 3'`"),
        "{err}"
    );
    assert_eq!(
        sh!(sh -c "echo $$V").env("V", "v!").on(m).read().unwrap(),
        "v!"
    );
    let tmp = sh! { mktemp -d }.on(m).read().unwrap();
    m.path(&tmp).join("f").write("content").unwrap();
    assert_eq!(m.path(&tmp).join("f").read_to_string().unwrap(), "content");
    m.path(&tmp).remove().unwrap();
    let mark = marker();
    let script = format!("sleep {mark} & sleep {mark}");
    let err = sh!(sh -c $script)
        .on(m)
        .timeout(Duration::from_millis(500))
        .run()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert_no_survivors(
        &(std::sync::Arc::new(m.clone()) as std::sync::Arc<dyn Machine>),
        &mark,
    );
}

#[test]
fn fish_login_shell() {
    everything_arrives(&machine("plumbfish", "/usr/bin/fish"));
}

#[test]
fn tcsh_login_shell() {
    everything_arrives(&machine("plumbtcsh", "/usr/bin/tcsh"));
}

#[test]
fn sh_login_shell() {
    everything_arrives(&machine("plumbtest", "/bin/sh"));
}

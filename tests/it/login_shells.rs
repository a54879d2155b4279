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

/// A login shell whose startup files are slow (a `.bashrc` that takes 300 ms, as one that
/// starts pyenv does) is noticed at connect, once, as a `tracing` warning that names the
/// machine and points to sessions.
#[test]
fn a_slow_login_shell_is_noticed_at_connect() {
    let user = "plumbslowrc";
    assert!(ensure_user(user, "/bin/bash"));
    let home = std::path::PathBuf::from(format!("/home/{user}"));
    std::fs::write(home.join(".bashrc"), "sleep 0.3\n").unwrap();
    let warnings = warnings();
    let slow = ssh_builder().user(user).connect().unwrap();
    let about = |m: &SshMachine| -> Vec<String> {
        let name = format!("machine={}", m.name());
        let all = warnings.lock().unwrap();
        all.iter().filter(|w| w.contains(&name)).cloned().collect()
    };
    let seen = about(&slow);
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0].contains("session"), "{seen:?}");
}

/// Every `tracing` warning of this test binary from now on, its fields as `name=value`.
fn warnings() -> std::sync::Arc<std::sync::Mutex<Vec<String>>> {
    use std::sync::{Arc, Mutex, OnceLock};
    use tracing::field::{Field, Visit};
    static SEEN: OnceLock<Arc<Mutex<Vec<String>>>> = OnceLock::new();
    struct Collect(Arc<Mutex<Vec<String>>>);
    struct Fields<'a>(&'a mut String);
    impl Visit for Fields<'_> {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0.push_str(&format!("{}={value:?} ", field.name()));
        }
        fn record_str(&mut self, field: &Field, value: &str) {
            self.0.push_str(&format!("{}={value} ", field.name()));
        }
    }
    impl tracing::Subscriber for Collect {
        fn enabled(&self, m: &tracing::Metadata<'_>) -> bool {
            *m.level() <= tracing::Level::WARN
        }
        fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            tracing::span::Id::from_u64(1)
        }
        fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
        fn event(&self, e: &tracing::Event<'_>) {
            let mut m = String::new();
            e.record(&mut Fields(&mut m));
            self.0.lock().unwrap().push(m);
        }
        fn enter(&self, _: &tracing::span::Id) {}
        fn exit(&self, _: &tracing::span::Id) {}
    }
    SEEN.get_or_init(|| {
        let seen = Arc::new(Mutex::new(Vec::new()));
        tracing::subscriber::set_global_default(Collect(seen.clone()))
            .expect("no other global subscriber in the tests");
        seen
    })
    .clone()
}

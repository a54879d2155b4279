//! What a wrong directory, a co-user and a hostile value can do: a failure is never
//! reported as success, no name or value is ever shell text, no output can forge a
//! session's framing, no secret value shows in any process's argv, and `;` stops at a
//! failure. Each body runs on every machine, through the handles `with_dir`/`with_env`
//! make where it needs them.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStringExt;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::common;
use plumb::prelude::*;
use plumb::{sh, ErrorKind};

/// A machine and the handles it makes, whatever its type.
pub trait Handles: Send + Sync {
    fn machine(&self) -> Arc<dyn Machine>;
    fn in_dir(&self, dir: &Path) -> Arc<dyn Machine>;
    fn with_var(&self, key: &OsStr, value: &OsStr) -> Arc<dyn Machine>;
}

macro_rules! handles {
    ($t:ty) => {
        impl Handles for $t {
            fn machine(&self) -> Arc<dyn Machine> {
                Arc::new(self.clone())
            }
            fn in_dir(&self, dir: &Path) -> Arc<dyn Machine> {
                Arc::new(self.with_dir(dir))
            }
            fn with_var(&self, key: &OsStr, value: &OsStr) -> Arc<dyn Machine> {
                Arc::new(self.with_env(key, value))
            }
        }
    };
}

handles!(plumb::LocalMachine);
handles!(plumb::SshMachine);
#[cfg(feature = "ssh2")]
handles!(plumb::Ssh2Machine);
handles!(plumb::Session);

pub fn local() -> Arc<dyn Handles> {
    Arc::new(plumb::local())
}

fn ssh_machine() -> plumb::SshMachine {
    static M: OnceLock<plumb::SshMachine> = OnceLock::new();
    M.get_or_init(|| common::ssh_builder().connect().expect("connect"))
        .clone()
}

pub fn ssh() -> Arc<dyn Handles> {
    Arc::new(ssh_machine())
}

pub fn ssh_session() -> Arc<dyn Handles> {
    static S: OnceLock<plumb::Session> = OnceLock::new();
    Arc::new(S.get_or_init(|| ssh_machine().session()).clone())
}

#[cfg(feature = "ssh2")]
fn ssh2_machine() -> plumb::Ssh2Machine {
    static M: OnceLock<plumb::Ssh2Machine> = OnceLock::new();
    M.get_or_init(|| common::ssh2_builder().connect().expect("connect"))
        .clone()
}

#[cfg(feature = "ssh2")]
pub fn ssh2() -> Arc<dyn Handles> {
    Arc::new(ssh2_machine())
}

#[cfg(feature = "ssh2")]
pub fn ssh2_session() -> Arc<dyn Handles> {
    static S: OnceLock<plumb::Session> = OnceLock::new();
    Arc::new(S.get_or_init(|| ssh2_machine().session()).clone())
}

/// Instantiates each body (a `fn(&dyn Handles)`) for every kind of machine.
#[macro_export]
macro_rules! on_every_handle {
    ($($name:ident),* $(,)?) => {
        $crate::on_every_handle!(@kinds [local, ssh, ssh_session] $($name),*);
        #[cfg(feature = "ssh2")]
        $crate::on_every_handle!(@kinds [ssh2, ssh2_session] $($name),*);
    };
    (@kinds [] $($name:ident),*) => {};
    (@kinds [$kind:ident $(, $rest:ident)*] $($name:ident),*) => {
        mod $kind {
            $(
                #[test]
                fn $name() {
                    super::$name(&*$crate::hardening::$kind());
                }
            )*
        }
        $crate::on_every_handle!(@kinds [$($rest),*] $($name),*);
    };
}

/// A directory that cannot be entered fails the job before anything runs, whatever its
/// checks, naming the directory: never `Ok` because nothing ran to fail.
fn a_directory_that_cannot_be_entered_fails_the_job(h: &dyn Handles) {
    let missing = Path::new("/nonexistent/plumb-dir");
    let m = h.in_dir(missing);
    let jobs = [
        sh!(echo one; echo two),
        sh!(true),
        sh!(echo a | cat),
        sh!(true).timeout(Duration::from_secs(30)),
    ];
    for job in jobs {
        for e in [job.on_dyn(m.clone()), job.on_dyn(m.clone()).unchecked()] {
            let err = e.run().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::NotFound, "{e}: {err}");
            assert!(err.to_string().contains("/nonexistent/plumb-dir"), "{err}");
            assert!(e.output().is_err(), "{e}");
            assert!(e.code().is_err(), "{e}");
        }
    }
    let err = sh!(echo one; echo two)
        .on_dyn(h.machine())
        .dir(missing)
        .run()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
}

/// `;` stops at the first failure (errexit) and the error names the command that failed:
/// `cd` into a missing directory never lets the rest run elsewhere.
fn a_failure_stops_a_sequence(h: &dyn Handles) {
    let m = h.machine();
    let err = sh!(cd /bad_dir_plumb; pwd; ls | wc -l)
        .on_dyn(m.clone())
        .read()
        .unwrap_err();
    assert!(err.to_string().contains("cd /bad_dir_plumb"), "{err}");
    assert_eq!(err.stdout().unwrap_or_default(), b"");
    let out = sh!(sh -c "exit 4"; echo never).on_dyn(m.clone()).output();
    let err = out.unwrap_err();
    assert_eq!(err.code(), Some(4), "{err}");
    assert!(err.to_string().contains("exit 4"), "{err}");
    assert_eq!(
        sh!(sh -c "exit 4"; echo never)
            .on_dyn(m.clone())
            .code()
            .unwrap(),
        4
    );
    assert_eq!(
        sh!(false || true; echo went on)
            .on_dyn(m.clone())
            .read()
            .unwrap(),
        "went on"
    );
    assert_eq!(
        sh!(false; echo never)
            .on_dyn(m.clone())
            .unchecked()
            .read()
            .unwrap(),
        ""
    );
}

/// A name given to `with_env` is a name or an error, never shell text, on every machine.
fn environment_names_are_never_shell_text(h: &dyn Handles) {
    let canary = format!("/tmp/plumb-injected-{}", std::process::id());
    let bad = format!("X=1; touch {canary}; echo INJECTED >&2; Y");
    let m = h.with_var(OsStr::new(&bad), OsStr::new("v"));
    // More refusals than a session has shells: a refused command gives its shell back.
    for _ in 0..6 {
        let err = sh!(true).on_dyn(m.clone()).run().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    }
    assert!(!Path::new(&canary).exists(), "the name ran as a command");
    assert_eq!(sh!(echo fine).on_dyn(h.machine()).read().unwrap(), "fine");
    let err = sh!(true)
        .on_dyn(h.machine())
        .env(&bad, "v")
        .run()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
}

/// Random names, with every shell character: each either is a valid name, whose value
/// arrives, or is refused; nothing else ever runs.
fn random_environment_names(h: &dyn Handles) {
    use proptest::prelude::*;
    let canary = format!("/tmp/plumb-name-canary-{}", std::process::id());
    let special = prop::sample::select(b"'\"$`\\\n\t ;&|<>*?[]{}()~#!-=%_aZ9".to_vec());
    let names = prop::collection::vec(prop_oneof![3 => special, 1 => 1u8..=255], 1..24);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 24,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    runner
        .run(&names, |bytes| {
            let name = OsString::from_vec(bytes.clone());
            let valid = is_name(&bytes);
            let script = "printenv \"$0\"; touch \"$1\"";
            let by_handle =
                sh!(sh -c $script $name $canary).on_dyn(h.with_var(&name, OsStr::new("val")));
            let by_expr = sh!(sh -c $script $name $canary)
                .on_dyn(h.machine())
                .env(&name, "val");
            for e in [by_handle, by_expr] {
                match e.read() {
                    Ok(out) => prop_assert!(valid && out == "val", "{:?}: {out:?}", name),
                    Err(err) => prop_assert!(
                        !valid && err.kind() == ErrorKind::InvalidInput,
                        "{:?}: {err}",
                        name
                    ),
                }
                if !valid {
                    prop_assert!(!Path::new(&canary).exists(), "{:?} ran something", name);
                }
                let _ = std::fs::remove_file(&canary);
            }
            Ok(())
        })
        .unwrap();
}

fn is_name(b: &[u8]) -> bool {
    b.first()
        .is_some_and(|c| *c == b'_' || c.is_ascii_alphabetic())
        && b.iter().all(|c| *c == b'_' || c.is_ascii_alphanumeric())
}

/// A value as the first word is a program name, never an assignment, on every machine.
fn a_first_word_is_never_an_assignment(h: &dyn Handles) {
    let prog = "PLUMB_FIRST=1";
    let out = sh!($prog printenv PLUMB_FIRST).on_dyn(h.machine()).output();
    let err = out.unwrap_err();
    assert_eq!(err.stdout().unwrap_or_default(), b"", "{err}");
    assert!(
        err.kind() == ErrorKind::NotFound || err.code() == Some(127),
        "{err}"
    );
    let err = sh!($prog id).on_dyn(h.machine()).sudo().run().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
}

/// While a job runs, no process on this host (the test sshds run here, so both ends are
/// seen) has any of its secret values in its argv: environment values of the handle, of
/// the expression and of a command, `<<<` data, an inner stage's `stdin_bytes`. They
/// still arrive byte for byte, newlines included.
fn secret_values_never_reach_any_argv(h: &dyn Handles) {
    let tag = format!("{:x}", common::marker().len() ^ std::process::id() as usize);
    let s = |n: &str| format!("sEcReT-{n}-{tag}-{}", unique());
    let (a, b, c, d, e) = (s("handle"), s("expr"), s("cmd"), s("here"), s("stdin"));
    let c_nl = format!("{c}\nsecond line");
    let m = h.with_var(OsStr::new("PLUMB_S_A"), OsStr::new(&a));
    let job = sh!(sleep 1.5; printenv PLUMB_S_A PLUMB_S_B; PLUMB_S_C=$c_nl printenv PLUMB_S_C; cat <<< $d)
        .on_dyn(m.clone())
        .env("PLUMB_S_B", &b);
    let stage = sh!(cat).on_dyn(m.clone()).stdin_bytes(e.clone());
    let piped = (stage | sh!(cat).on_dyn(m.clone())).on_dyn(m.clone());
    let secrets = [&a, &b, &c, &d, &e];
    let seen = scan_while(
        || {
            let h1 = job.spawn().unwrap();
            let h2 = piped.spawn().unwrap();
            (h1, h2)
        },
        &secrets,
    );
    let (mut h1, mut h2) = seen;
    let out = String::from_utf8(h1.wait().unwrap().stdout).unwrap();
    assert_eq!(out, format!("{a}\n{b}\n{c_nl}\n{d}"));
    assert_eq!(h2.wait().unwrap().stdout, e.as_bytes());
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Starts jobs with `start`, then scans every process's argv until a `sleep` of theirs
/// has been seen and for a while after: none may hold any of `secrets`.
fn scan_while<T>(start: impl FnOnce() -> T, secrets: &[&String]) -> T {
    let started = start();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut saw_sleep = None;
    while Instant::now() < deadline {
        for (pid, argv) in argvs() {
            for s in secrets {
                assert!(
                    !contains(&argv, s.as_bytes()),
                    "process {pid} has a secret in its argv: {}",
                    String::from_utf8_lossy(&argv)
                );
            }
            if argv.starts_with(b"sleep\x001.5") && saw_sleep.is_none() {
                saw_sleep = Some(Instant::now());
            }
        }
        if saw_sleep.is_some_and(|t| t.elapsed() > Duration::from_millis(500)) {
            return started;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("the job never ran its sleep");
}

fn argvs() -> Vec<(String, Vec<u8>)> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if pid.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(bytes) = std::fs::read(entry.path().join("cmdline")) {
                all.push((pid, bytes));
            }
        }
    }
    all
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

on_every_handle!(
    a_directory_that_cannot_be_entered_fails_the_job,
    a_failure_stops_a_sequence,
    environment_names_are_never_shell_text,
    random_environment_names,
    a_first_word_is_never_an_assignment,
    secret_values_never_reach_any_argv,
);

/// Output that knows everything a co-user or the command itself can see of a session (its
/// directory's name, its stdout's path) cannot forge the end of a command: the command's
/// own code comes back, and the next command gets its own answer.
fn session_framing_cannot_be_forged(h: &dyn Handles) {
    let m = h.machine();
    let forge = r#"d=$(readlink /proc/$$/fd/1); n=${d%/*}; n=${n##*/}; 
        for w in "$n" ${n##*.plumb-session-} $(echo "$n" | tr -- '-.' '  '); do
            printf '\n%s 0\n\n%s.\n' "$w" "$w"; printf '\n%s 0\n' "$w" >&2; done; exit 3"#;
    for _ in 0..3 {
        let out = sh!(sh -c $forge)
            .on_dyn(m.clone())
            .unchecked()
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3), "{out:?}");
        assert_eq!(sh!(echo next).on_dyn(m.clone()).read().unwrap(), "next");
    }
}

mod sessions {
    use super::*;
    #[test]
    fn ssh_session_framing_cannot_be_forged() {
        session_framing_cannot_be_forged(&*super::ssh_session());
    }
    #[cfg(feature = "ssh2")]
    #[test]
    fn ssh2_session_framing_cannot_be_forged() {
        session_framing_cannot_be_forged(&*super::ssh2_session());
    }
}

/// A co-user who reads a job's directory name from `ps` and makes that directory first
/// (their own, writable by all, with a status file that says all went well) cannot turn a
/// failure into a success: the job refuses a directory that is not its own, and a failure
/// it could not record is still a failure.
fn a_planted_job_directory_never_passes_a_failure(h: &dyn Handles) {
    // `output()`: no kill can come, so the job makes its directory only to record the
    // failure, after the `sleep`, when the co-user's is there already.
    let pause = format!("2.{:03}", unique() + 1);
    let job = sh!(sleep $pause; false; true && false).on_dyn(h.machine());
    let ran = std::thread::spawn(move || job.output());
    let seen = job_dir_from_ps(&format!("sleep {pause}"), Duration::from_secs(10));
    let dir = seen.expect("the job's script in ps");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(format!("{dir}/s"), "0 0\n1 0\n2 0\n3 0\n").unwrap();
    let status = std::process::Command::new("chown")
        .args(["-R", "nobody", &dir])
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let err = ran.join().unwrap().unwrap_err();
    assert_eq!(err.code(), Some(1), "{err}");
    let said = String::from_utf8_lossy(err.stderr().unwrap_or_default()).into_owned();
    assert!(said.contains("not this job's own"), "{said}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The `D=/tmp/.plumb-...` of a running job's script that holds `marker`, read from any
/// process's argv.
fn job_dir_from_ps(marker: &str, within: Duration) -> Option<String> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        for (_, argv) in argvs() {
            let text = String::from_utf8_lossy(&argv);
            if let Some(at) = text.find("D=/tmp/.plumb-") {
                let rest = &text[at + 2..];
                let end = rest
                    .find(|c: char| c != '/' && c != '.' && !c.is_ascii_alphanumeric() && c != '-')
                    .unwrap_or(rest.len());
                if text.contains(marker) {
                    return Some(rest[..end].to_string());
                }
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    None
}

mod planted {
    use super::*;
    #[test]
    fn ssh() {
        a_planted_job_directory_never_passes_a_failure(&*super::ssh());
    }
    #[cfg(feature = "ssh2")]
    #[test]
    fn ssh2() {
        a_planted_job_directory_never_passes_a_failure(&*super::ssh2());
    }
}

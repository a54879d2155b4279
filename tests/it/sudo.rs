//! sudo: as root or another user, with `NOPASSWD`, with a password, with a wrong one; the
//! password never in argv, an environment, the command's stdin, an error, `Debug` or a
//! file left behind. Remote machines log in as users made for these tests (sudoers rules
//! of their own); this process is root, so on the local machine sudo never asks.

use std::sync::{Arc, OnceLock};

use crate::common::{self, sshd};
use plumb::prelude::*;
use plumb::{cmd, sh, ErrorKind};

/// The user whose sudo takes a password, and the password.
const ASKS: (&str, &str) = ("plumbsudo", "pw with 'quotes' and $dollars");
/// The user whose sudo never asks (`NOPASSWD`).
const NOPASSWD: &str = "plumbnopw";

/// Makes the two users and their sudoers rules, once (sudo is installed by
/// scripts/test); the user whose sudo never asks.
pub fn setup() -> &'static str {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        assert!(
            std::path::Path::new("/usr/bin/sudo").exists(),
            "sudo is missing: run scripts/test, which installs it"
        );
        assert!(sshd::ensure_user(ASKS.0, "/bin/sh"), "cannot make {}", ASKS.0);
        assert!(sshd::ensure_user(NOPASSWD, "/bin/sh"), "cannot make {NOPASSWD}");
        let mut chpasswd = std::process::Command::new("chpasswd")
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("chpasswd");
        let line = format!("{}:{}\n", ASKS.0, ASKS.1);
        std::io::Write::write_all(chpasswd.stdin.as_mut().unwrap(), line.as_bytes()).unwrap();
        drop(chpasswd.stdin.take());
        assert!(chpasswd.wait().unwrap().success(), "chpasswd failed");
        let rules = format!(
            "Defaults:{asks} !lecture\n{asks} ALL=(ALL:ALL) ALL\n{NOPASSWD} ALL=(ALL:ALL) NOPASSWD: ALL\n",
            asks = ASKS.0
        );
        let file = "/etc/sudoers.d/plumb-tests";
        std::fs::write(file, rules).unwrap();
        let mode = std::os::unix::fs::PermissionsExt::from_mode(0o440);
        std::fs::set_permissions(file, mode).unwrap();
    });
    NOPASSWD
}

#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Local,
    Ssh,
    #[cfg(feature = "ssh2")]
    Ssh2,
    SshSession,
    #[cfg(feature = "ssh2")]
    Ssh2Session,
}

type Ask = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Where a machine's sudo password comes from in a test.
#[derive(Clone)]
enum Pw {
    No,
    Given(String),
    Asked(Ask),
}

fn machine(kind: Kind, user: &str, password: Option<&str>) -> Arc<dyn Machine> {
    machine_with(kind, user, password.map_or(Pw::No, |p| Pw::Given(p.into())))
}

/// A machine of `kind` logged in as `user`, with `password` for sudo (the local one runs as
/// this process's user).
fn machine_with(kind: Kind, user: &str, password: Pw) -> Arc<dyn Machine> {
    setup();
    macro_rules! connect {
        ($builder:expr) => {
            match password.clone() {
                Pw::No => $builder,
                Pw::Given(p) => $builder.sudo_password(p),
                Pw::Asked(ask) => $builder.sudo_password_from(move |name| ask(name)),
            }
            .connect()
            .expect("connect to the tests' sshd")
        };
    }
    let ssh = || connect!(common::ssh_builder().user(user));
    #[cfg(feature = "ssh2")]
    let ssh2 = || connect!(common::ssh2_builder().user(user));
    match kind {
        Kind::Local => match password {
            Pw::No => Arc::new(plumb::local()),
            Pw::Given(p) => Arc::new(plumb::local().with_sudo_password(p)),
            Pw::Asked(ask) => Arc::new(plumb::local().with_sudo_password_from(move |n| ask(n))),
        },
        Kind::Ssh => Arc::new(ssh()),
        Kind::SshSession => Arc::new(ssh().session()),
        #[cfg(feature = "ssh2")]
        Kind::Ssh2 => Arc::new(ssh2()),
        #[cfg(feature = "ssh2")]
        Kind::Ssh2Session => Arc::new(ssh2().session()),
    }
}

/// Instantiates each body (a `fn(Kind)`) for the given kinds of machine.
macro_rules! on_kinds {
    ([] $($name:ident),*) => {};
    ([$kind:ident $(, $rest:ident)*] $($name:ident),*) => {
        #[allow(non_snake_case)]
        mod $kind {
            $(
                #[test]
                fn $name() {
                    super::$name(super::Kind::$kind);
                }
            )*
        }
        on_kinds!([$($rest),*] $($name),*);
    };
}

macro_rules! on_every_machine_sudo {
    ($($name:ident),* $(,)?) => {
        on_kinds!([Local, Ssh, SshSession] $($name),*);
        #[cfg(feature = "ssh2")]
        on_kinds!([Ssh2, Ssh2Session] $($name),*);
    };
}

macro_rules! on_remote_machines_sudo {
    ($($name:ident),* $(,)?) => {
        on_kinds!([Ssh, SshSession] $($name),*);
        #[cfg(feature = "ssh2")]
        on_kinds!([Ssh2, Ssh2Session] $($name),*);
    };
}

mod every_machine {
    use super::*;

    /// `NOPASSWD` with a password given anyway: sudo never asks, so the password must not
    /// turn up anywhere, least of all in the command's stdin.
    fn root_without_a_password_keeps_stdin(kind: Kind) {
        let m = machine(kind, NOPASSWD, Some("never read"));
        let out = sh!(sh -c "id -un; cat")
            .on_dyn(m.clone())
            .sudo()
            .stdin_bytes("the input\n")
            .read()
            .unwrap();
        assert_eq!(out, "root\nthe input");
        // And without any password.
        let m = machine(kind, NOPASSWD, None);
        assert_eq!(sh! { id -un }.on_dyn(m).sudo().read().unwrap(), "root");
    }

    fn as_another_user(kind: Kind) {
        let m = machine(kind, NOPASSWD, None);
        let user = &sshd::sshd().user;
        let me = sh! { id -un }
            .on_dyn(m.clone())
            .sudo_as(user)
            .read()
            .unwrap();
        assert_eq!(&me, user);
        // The directory is kept; variables plumb set reach the command, whatever sudo resets.
        let out = sh!(A="from the command" sh -c "pwd; echo $$A $$B")
            .on_dyn(m)
            .env("B", "from the expr")
            .dir("/")
            .sudo()
            .read()
            .unwrap();
        assert_eq!(out, "/\nfrom the command from the expr");
    }

    /// Only the sudo'd stage runs as root, and the pipeline around it is judged as usual.
    fn in_pipelines(kind: Kind) {
        let m = machine(kind, NOPASSWD, None);
        let pipeline =
            sh! { id -un }.on_dyn(m.clone()) | sh!(sh -c "cat; id -un").on_dyn(m.clone()).sudo();
        let me = sh! { id -un }.on_dyn(m.clone()).read().unwrap();
        assert_eq!(pipeline.read().unwrap(), format!("{me}\nroot"));
        let all = sh!(tr a-z A-Z | sh -c "cat; id -un")
            .on_dyn(m.clone())
            .sudo()
            .stdin_bytes("abc\n");
        assert_eq!(all.read().unwrap(), "ABC\nroot");
        let err = sh!(sh -c "exit 3").on_dyn(m).sudo().run().unwrap_err();
        assert_eq!(
            (err.kind(), err.code()),
            (ErrorKind::Exit, Some(3)),
            "{err}"
        );
    }

    fn a_missing_program_is_not_found(kind: Kind) {
        let m = machine(kind, NOPASSWD, None);
        let err = sh! { plumb-no-such-program }
            .on_dyn(m)
            .sudo()
            .run()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
        assert!(
            err.to_string().contains("sudo plumb-no-such-program"),
            "{err}"
        );
    }

    /// A timeout ends a sudo'd command too, although the login user cannot signal root's
    /// processes (sudo relays the kill's TERM), and nothing is left running.
    fn a_timeout_ends_a_sudo_command(kind: Kind) {
        let m = machine(kind, NOPASSWD, None);
        let marker = common::marker();
        let began = std::time::Instant::now();
        let err = sh!(sleep $marker)
            .on_dyn(m.clone())
            .sudo()
            .timeout(std::time::Duration::from_millis(300))
            .run()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
        // The call returns once the command's output closes: the command is gone.
        assert!(began.elapsed() < std::time::Duration::from_secs(60));
        common::assert_no_survivors(&m, &format!("sleep {marker}"));
    }

    on_every_machine_sudo!(
        a_timeout_ends_a_sudo_command,
        root_without_a_password_keeps_stdin,
        as_another_user,
        in_pipelines,
        a_missing_program_is_not_found,
    );
}

mod remote {
    use super::*;

    fn with_the_password(kind: Kind) {
        let m = machine(kind, ASKS.0, Some(ASKS.1));
        assert_eq!(
            sh! { id -un }.on_dyn(m.clone()).sudo().read().unwrap(),
            "root"
        );
        // Asked every time (`-k`), in every sudo'd stage, stdin intact.
        let out = sh!(tr a-z A-Z | sh -c "cat; id -un")
            .on_dyn(m.clone())
            .sudo()
            .stdin_bytes("abc\n")
            .read()
            .unwrap();
        assert_eq!(out, "ABC\nroot");
        assert_no_password_file(ASKS.1);
    }

    fn a_wrong_password_is_an_auth_error(kind: Kind) {
        // The kind's own, as the kinds run at once and each looks for files holding it.
        let wrong = &format!("[{kind:?}] is not the password");
        let m = machine(kind, ASKS.0, Some(wrong));
        let err = sh!(cat)
            .on_dyn(m.clone())
            .sudo()
            .stdin_bytes("data")
            .read()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
        assert!(err.to_string().contains(m.name()), "{err}");
        for shown in [err.to_string(), format!("{err:?}")] {
            assert!(!shown.contains(wrong), "the password shows: {shown}");
        }
        assert_no_password_file(wrong);
    }

    fn no_password_where_one_is_needed(kind: Kind) {
        let m = machine(kind, ASKS.0, None);
        let began = std::time::Instant::now();
        let err = sh!(id).on_dyn(m.clone()).sudo().run().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
        assert!(err.to_string().contains("a password is required"), "{err}");
        assert!(err.to_string().contains(m.name()), "{err}");
        // Refused at once, never waiting for a terminal.
        assert!(began.elapsed() < std::time::Duration::from_secs(5));
    }

    /// While a sudo'd command runs, no process on this host (every test sshd runs here)
    /// has the password in its argv or environment.
    fn the_password_is_never_in_argv_or_environment(kind: Kind) {
        let password = format!("visible-{kind:?}-pw");
        let _alone = setup_password(&password);
        let m = machine(kind, "plumbsudo2", Some(&password));
        let mut h = sh!(sleep 2).on_dyn(m.clone()).sudo().spawn().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut saw_sleep = false;
        while !saw_sleep && std::time::Instant::now() < deadline {
            for (pid, what) in processes() {
                assert!(
                    !contains(&what, password.as_bytes()),
                    "the password shows in process {pid}"
                );
                saw_sleep |= what.starts_with(b"sleep\x002");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(saw_sleep, "the sudo'd command never ran");
        h.wait().unwrap();
        assert_no_password_file(&password);
    }

    fn asked_once_by_machine_name(kind: Kind) {
        let asked = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = asked.clone();
        let ask: Ask = Arc::new(move |name: &str| {
            seen.lock().unwrap().push(name.to_string());
            Some(ASKS.1.to_string())
        });
        let m = machine_with(kind, ASKS.0, Pw::Asked(ask));
        assert_eq!(sh! { id -un }.on_dyn(m.clone()).read().unwrap(), ASKS.0);
        assert!(asked.lock().unwrap().is_empty(), "asked without sudo");
        for _ in 0..2 {
            assert_eq!(
                sh! { id -un }.on_dyn(m.clone()).sudo().read().unwrap(),
                "root"
            );
        }
        assert_eq!(*asked.lock().unwrap(), vec![m.name().to_string()]);
    }

    /// While a job runs, its password file is a regular file of mode 0600 in a directory
    /// of mode 0700 with a random name, both the login user's: nothing another user made
    /// (a FIFO, a link) can be in its place.
    fn the_password_file_is_private(kind: Kind) {
        let password = format!("private-{kind:?}-pw");
        let _alone = setup_password(&password);
        let m = machine(kind, "plumbsudo2", Some(&password));
        let mut h = sh!(sleep 1.5).on_dyn(m.clone()).sudo().spawn().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let file = loop {
            let held = password_files()
                .into_iter()
                .find(|f| std::fs::read(f).is_ok_and(|b| contains(&b, password.as_bytes())));
            if let Some(f) = held {
                break f;
            }
            assert!(std::time::Instant::now() < deadline, "no password file");
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        use std::os::unix::fs::MetadataExt;
        let uid = |p: &std::path::Path| std::fs::symlink_metadata(p).unwrap().uid();
        let user = sshd_uid("plumbsudo2");
        let f = std::fs::symlink_metadata(&file).unwrap();
        assert!(f.file_type().is_file());
        assert_eq!((f.mode() & 0o777, uid(&file)), (0o600, user));
        let dir = file.parent().unwrap();
        let d = std::fs::symlink_metadata(dir).unwrap();
        assert!(d.file_type().is_dir());
        assert_eq!((d.mode() & 0o777, uid(dir)), (0o700, user));
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.len() >= ".plumb-".len() + 32, "{name}");
        h.wait().unwrap();
        assert_no_password_file(&password);
    }

    /// When the connection goes while a sudo'd job runs (its wait fails), its password
    /// file goes too: the job's watchdog removes it on the host.
    fn the_password_file_goes_with_a_lost_connection(kind: Kind) {
        let password = format!("lost-{kind:?}-pw");
        let _alone = setup_password(&password);
        let m = machine(kind, "plumbsudo2", Some(&password));
        let marker = common::marker();
        let mut h = sh!(sleep $marker).on_dyn(m.clone()).sudo().spawn().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let session = loop {
            if let Some(pid) = session_of(&marker) {
                break pid;
            }
            assert!(std::time::Instant::now() < deadline, "the job never ran");
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        // SAFETY: kill(2) on the sshd process that serves this test's own connection.
        unsafe { libc::kill(session, libc::SIGKILL) };
        assert!(h.wait().is_err(), "the connection was cut");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while password_files()
            .iter()
            .any(|f| std::fs::read(f).is_ok_and(|b| contains(&b, password.as_bytes())))
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the password file stayed behind"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    mod lost {
        use super::*;
        on_kinds!([Ssh] the_password_file_goes_with_a_lost_connection);
        #[cfg(feature = "ssh2")]
        on_kinds!([Ssh2] the_password_file_goes_with_a_lost_connection);
    }

    on_remote_machines_sudo!(
        the_password_file_is_private,
        with_the_password,
        a_wrong_password_is_an_auth_error,
        no_password_where_one_is_needed,
        the_password_is_never_in_argv_or_environment,
        asked_once_by_machine_name,
    );
}

#[test]
fn debug_never_shows_the_password() {
    let secret = "debug-shows-no-pw";
    let b = common::ssh_builder().sudo_password(secret);
    assert!(!format!("{b:?}").contains(secret));
    #[cfg(feature = "ssh2")]
    {
        let b = common::ssh2_builder().sudo_password(secret);
        assert!(!format!("{b:?}").contains(secret));
    }
    let m = plumb::local().with_sudo_password(secret);
    assert!(!format!("{m:?}").contains(secret));
    let e = cmd("id", ["-un"]).sudo_as("plumbtest");
    assert_eq!(e.to_string(), "sudo -u plumbtest id -un");
}

/// A third user with a password of the test's own, so that scanning for it cannot meet
/// another test's; the user is the caller's until it drops the guard.
fn setup_password(password: &str) -> std::sync::MutexGuard<'static, ()> {
    setup();
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let one = LOCK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    assert!(sshd::ensure_user("plumbsudo2", "/bin/sh"));
    let rules = "plumbsudo2 ALL=(ALL:ALL) ALL\n";
    let file = "/etc/sudoers.d/plumb-tests2";
    std::fs::write(file, rules).unwrap();
    let mode = std::os::unix::fs::PermissionsExt::from_mode(0o440);
    std::fs::set_permissions(file, mode).unwrap();
    // Each kind sets the same user's password to its own: one at a time, the password is
    // the scanned one only while that kind's test runs.
    let mut c = std::process::Command::new("chpasswd")
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let line = format!("plumbsudo2:{password}\n");
    std::io::Write::write_all(c.stdin.as_mut().unwrap(), line.as_bytes()).unwrap();
    drop(c.stdin.take());
    assert!(c.wait().unwrap().success());
    one
}

/// Every process's argv and environment, NUL-separated, by pid.
fn processes() -> Vec<(String, Vec<u8>)> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        for what in ["cmdline", "environ"] {
            if let Ok(bytes) = std::fs::read(entry.path().join(what)) {
                all.push((pid.clone(), bytes));
            }
        }
    }
    all
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// No file in `/dev/shm` or `/tmp` (a job's directory, `.plumb-*/pw`) still holds
/// `password`.
fn assert_no_password_file(password: &str) {
    for file in password_files() {
        if let Ok(bytes) = std::fs::read(&file) {
            assert!(
                !contains(&bytes, password.as_bytes()),
                "{} still holds the password",
                file.display()
            );
        }
    }
}

/// The sudo password files of jobs, in their directories.
fn password_files() -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for dir in ["/dev/shm", "/tmp"] {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(".plumb-") && entry.path().join("pw").exists() {
                files.push(entry.path().join("pw"));
            }
        }
    }
    files
}

/// The uid of a user of this host.
fn sshd_uid(user: &str) -> u32 {
    let out = std::process::Command::new("id")
        .args(["-u", user])
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// The sshd process that serves the connection on which `sleep MARKER` runs: the first
/// `sshd` among its ancestors.
fn session_of(marker: &str) -> Option<libc::pid_t> {
    let argv = format!("sleep\0{marker}\0");
    let (pid, _) = processes()
        .into_iter()
        .find(|(_, what)| what == argv.as_bytes())?;
    let mut pid: libc::pid_t = pid.parse().ok()?;
    for _ in 0..16 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let after = &stat[stat.rfind(')')? + 2..];
        pid = after.split_whitespace().nth(1)?.parse().ok()?;
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
        if comm.trim() == "sshd" {
            return Some(pid);
        }
    }
    None
}

//! Shared by the integration tests: the machines every test body runs on, and scratch
//! directories on them.
#![allow(dead_code)]

use std::sync::Arc;
#[cfg(unix)]
use std::sync::OnceLock;

use plumb::prelude::*;
use plumb::sh;

/// Instantiates each listed test body (a `fn(&Ctx)`) once per machine: the local one,
/// the local one with plumb's builtins forced ([`local_builtins`]: the same bodies must
/// pass whichever `echo`, `cat`, `rm`... runs), and the remote ones (not on Windows,
/// whose tests run under Wine, without the tests' sshd).
///
/// A body that cannot run on some OS carries its `#[cfg]` in the list, as in
/// `on_every_machine!(a, #[cfg(unix)] b)`.
#[macro_export]
macro_rules! on_every_machine {
    ($($(#[$attr:meta])* $name:ident),* $(,)?) => {
        mod local {
            $(
                $(#[$attr])*
                #[test]
                fn $name() {
                    super::$name(&$crate::common::Ctx::new($crate::common::local()));
                }
            )*
        }
        mod local_builtins {
            $(
                $(#[$attr])*
                #[test]
                fn $name() {
                    super::$name(&$crate::common::Ctx::new($crate::common::local_builtins()));
                }
            )*
        }
        #[cfg(unix)]
        mod ssh {
            $(
                $(#[$attr])*
                #[test]
                fn $name() {
                    super::$name(&$crate::common::Ctx::new($crate::common::ssh()));
                }
            )*
        }
        #[cfg(all(unix, feature = "ssh2"))]
        mod ssh2 {
            $(
                $(#[$attr])*
                #[test]
                fn $name() {
                    super::$name(&$crate::common::Ctx::new($crate::common::ssh2()));
                }
            )*
        }
        #[cfg(unix)]
        mod ssh_session {
            $(
                $(#[$attr])*
                #[test]
                fn $name() {
                    super::$name(&$crate::common::Ctx::new($crate::common::ssh_session()));
                }
            )*
        }
        #[cfg(all(unix, feature = "ssh2"))]
        mod ssh2_session {
            $(
                $(#[$attr])*
                #[test]
                fn $name() {
                    super::$name(&$crate::common::Ctx::new($crate::common::ssh2_session()));
                }
            )*
        }
        // The same bodies through the async twins (`run_async`, `output_async`, ...).
        #[cfg(feature = "tokio")]
        mod local_async {
            $(
                $(#[$attr])*
                #[test]
                fn $name() {
                    let _async = $crate::common::ThroughAsync::on();
                    super::$name(&$crate::common::Ctx::new($crate::common::local()));
                }
            )*
        }
        #[cfg(all(unix, feature = "tokio"))]
        mod ssh_async {
            $(
                $(#[$attr])*
                #[test]
                fn $name() {
                    let _async = $crate::common::ThroughAsync::on();
                    super::$name(&$crate::common::Ctx::new($crate::common::ssh()));
                }
            )*
        }
        #[cfg(all(unix, feature = "ssh2", feature = "tokio"))]
        mod ssh2_async {
            $(
                $(#[$attr])*
                #[test]
                fn $name() {
                    let _async = $crate::common::ThroughAsync::on();
                    super::$name(&$crate::common::Ctx::new($crate::common::ssh2()));
                }
            )*
        }
    };
}

/// While alive, this thread's blocking calls run through their async twins, each on a
/// current-thread tokio runtime of its own: every test body of [`on_every_machine!`]
/// runs on the async API too.
#[cfg(feature = "tokio")]
pub struct ThroughAsync;

#[cfg(feature = "tokio")]
impl ThroughAsync {
    pub fn on() -> ThroughAsync {
        plumb::route_through_async(true);
        ThroughAsync
    }
}

#[cfg(feature = "tokio")]
impl Drop for ThroughAsync {
    fn drop(&mut self) {
        plumb::route_through_async(false);
    }
}

/// Like [`on_every_machine!`], and also on both remote machines logged in to a host whose
/// only tools are BusyBox's and that has no SFTP (see [`sshd::busybox`]).
#[macro_export]
macro_rules! on_every_machine_and_busybox {
    ($($(#[$attr:meta])* $name:ident),* $(,)?) => {
        $crate::on_every_machine!($($(#[$attr])* $name),*);
        #[cfg(unix)]
        mod busybox_ssh {
            $(
                $(#[$attr])*
                #[test]
                fn $name() {
                    super::$name(&$crate::common::Ctx::new($crate::common::busybox_ssh()));
                }
            )*
        }
        #[cfg(all(unix, feature = "ssh2"))]
        mod busybox_ssh2 {
            $(
                $(#[$attr])*
                #[test]
                fn $name() {
                    super::$name(&$crate::common::Ctx::new($crate::common::busybox_ssh2()));
                }
            )*
        }
        // Through the async twins too: the awaited jobs' scripts (an `Ssh2Machine` job
        // tells its pid with the shell's own `printf`) among BusyBox's tools alone.
        #[cfg(all(unix, feature = "tokio"))]
        mod busybox_ssh_async {
            $(
                $(#[$attr])*
                #[test]
                fn $name() {
                    let _async = $crate::common::ThroughAsync::on();
                    super::$name(&$crate::common::Ctx::new($crate::common::busybox_ssh()));
                }
            )*
        }
        #[cfg(all(unix, feature = "ssh2", feature = "tokio"))]
        mod busybox_ssh2_async {
            $(
                $(#[$attr])*
                #[test]
                fn $name() {
                    let _async = $crate::common::ThroughAsync::on();
                    super::$name(&$crate::common::Ctx::new($crate::common::busybox_ssh2()));
                }
            )*
        }
    };
}

pub mod helper;
#[cfg(unix)]
pub mod relay;
#[cfg(unix)]
pub mod sshd;

pub fn local() -> Arc<dyn Machine> {
    Arc::new(plumb::local())
}

/// The local machine with plumb's builtins forced: `echo`, `cat`, `rm`, `test`... are
/// plumb's own, whatever is installed.
pub fn local_builtins() -> Arc<dyn Machine> {
    Arc::new(plumb::local().with_builtins(plumb::Builtins::Always))
}

#[cfg(unix)]
/// The builder for an `SshMachine` on the tests' sshd.
pub fn ssh_builder() -> plumb::SshBuilder {
    ssh_builder_for(sshd::sshd())
}

#[cfg(unix)]
/// The builder for an `SshMachine` on `d`.
pub fn ssh_builder_for(d: &sshd::Sshd) -> plumb::SshBuilder {
    plumb::SshMachine::builder("127.0.0.1")
        .port(d.port)
        .user(&d.user)
        .identity_file(&d.key)
        .known_hosts_file(&d.known_hosts)
}

#[cfg(unix)]
/// One `SshMachine` shared by the tests of a binary, as users share one.
pub fn ssh() -> Arc<dyn Machine> {
    static SSH: OnceLock<Arc<dyn Machine>> = OnceLock::new();
    SSH.get_or_init(|| Arc::new(ssh_builder().connect().expect("connect to the tests' sshd")))
        .clone()
}

#[cfg(unix)]
/// A session on the shared `SshMachine`, shared by the tests of a binary.
pub fn ssh_session() -> Arc<dyn Machine> {
    static M: OnceLock<Arc<dyn Machine>> = OnceLock::new();
    M.get_or_init(|| {
        let m = ssh_builder().connect().expect("connect to the tests' sshd");
        Arc::new(m.session())
    })
    .clone()
}

/// A session on an `Ssh2Machine`, shared by the tests of a binary.
#[cfg(all(unix, feature = "ssh2"))]
pub fn ssh2_session() -> Arc<dyn Machine> {
    static M: OnceLock<Arc<dyn Machine>> = OnceLock::new();
    M.get_or_init(|| {
        let m = ssh2_builder()
            .connect()
            .expect("connect to the tests' sshd");
        Arc::new(m.session())
    })
    .clone()
}

#[cfg(unix)]
/// An `SshMachine` on the BusyBox host, shared by the tests of a binary.
pub fn busybox_ssh() -> Arc<dyn Machine> {
    static M: OnceLock<Arc<dyn Machine>> = OnceLock::new();
    M.get_or_init(|| {
        let m = ssh_builder_for(sshd::busybox()).connect();
        Arc::new(m.expect("connect to the BusyBox sshd"))
    })
    .clone()
}

/// An `Ssh2Machine` on the BusyBox host, shared by the tests of a binary.
#[cfg(all(unix, feature = "ssh2"))]
pub fn busybox_ssh2() -> Arc<dyn Machine> {
    static M: OnceLock<Arc<dyn Machine>> = OnceLock::new();
    M.get_or_init(|| {
        let m = ssh2_builder_for(sshd::busybox()).connect();
        Arc::new(m.expect("connect to the BusyBox sshd"))
    })
    .clone()
}

/// A machine and a fresh scratch directory on it, removed at the end.
pub struct Ctx {
    pub m: Arc<dyn Machine>,
    pub dir: MPath,
}

impl Ctx {
    pub fn new(m: Arc<dyn Machine>) -> Ctx {
        // Windows has no `mktemp`; its tests are local, so std makes the directory.
        #[cfg(windows)]
        let dir = tempfile::tempdir()
            .expect("a temporary directory")
            .keep()
            .to_str()
            .expect("a UTF-8 temp path")
            .to_string();
        #[cfg(unix)]
        let dir = sh! {mktemp -d}
            .on_dyn(m.clone())
            .read()
            .expect("mktemp -d on the machine");
        let dir = path_on(&m, &dir);
        Ctx { m, dir }
    }

    /// `expr` bound to this machine, run in the scratch directory.
    pub fn on(&self, expr: Expr) -> Expr {
        expr.on_dyn(self.m.clone()).dir(self.dir.as_path())
    }

    /// A path in the scratch directory.
    pub fn path(&self, rel: &str) -> MPath {
        self.dir.join(rel)
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        let _ = self.dir.remove();
    }
}

/// An `MPath` on a `dyn Machine`.
pub fn path_on(m: &Arc<dyn Machine>, p: &str) -> MPath {
    m.path(p)
}

/// The builder for an `Ssh2Machine` on the tests' sshd.
#[cfg(all(unix, feature = "ssh2"))]
pub fn ssh2_builder() -> plumb::Ssh2Builder {
    ssh2_builder_for(sshd::sshd())
}

/// The builder for an `Ssh2Machine` on `d`.
#[cfg(all(unix, feature = "ssh2"))]
pub fn ssh2_builder_for(d: &sshd::Sshd) -> plumb::Ssh2Builder {
    plumb::Ssh2Machine::builder("127.0.0.1")
        .port(d.port)
        .user(&d.user)
        .identity_file(&d.key)
        .known_hosts_file(&d.known_hosts)
}

/// One `Ssh2Machine` shared by the tests of a binary: one session, many channels.
#[cfg(all(unix, feature = "ssh2"))]
pub fn ssh2() -> Arc<dyn Machine> {
    static SSH2: OnceLock<Arc<dyn Machine>> = OnceLock::new();
    SSH2.get_or_init(|| {
        Arc::new(
            ssh2_builder()
                .connect()
                .expect("connect to the tests' sshd"),
        )
    })
    .clone()
}

/// Processes (on the machine) whose command line contains `marker`, other than the search
/// itself.
///
/// Every test sshd runs on this host, so the host's own `pgrep` sees every machine's
/// processes, also where the remote userland has none (BusyBox's lacks it).
pub fn survivors(_m: &Arc<dyn Machine>, marker: &str) -> Vec<String> {
    let out = sh!(pgrep -af $marker).unchecked().read().unwrap();
    out.lines()
        .filter(|l| !l.contains("pgrep"))
        .map(str::to_string)
        .collect()
}

/// Waits up to 5 s for every process with `marker` to be gone.
pub fn assert_no_survivors(m: &Arc<dyn Machine>, marker: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let left = survivors(m, marker);
        if left.is_empty() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "processes left behind: {left:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// A marker unique to this test run, for `pgrep -f`.
pub fn marker() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{}.{}{}",
        900 + N.fetch_add(1, Ordering::SeqCst),
        std::process::id(),
        7
    )
}

/// Runs the test `name` (its path below the crate root, e.g. `kill::some_test`) alone in a
/// child process of this test binary, with `env` set, and tells whether it passed.
///
/// For tests that measure the whole process (open descriptors, memory) or end it
/// (`process::exit`): in this one binary, other tests run beside them on other threads.
pub fn run_alone(name: &str, env: (&str, &str)) -> bool {
    run_alone_with(name, |c| {
        c.env(env.0, env.1);
    })
}

/// [`run_alone`], with the child's command set up by `setup` (its environment, its
/// directory).
pub fn run_alone_with(name: &str, setup: impl FnOnce(&mut std::process::Command)) -> bool {
    let mut c = std::process::Command::new(std::env::current_exe().unwrap());
    c.args(["--exact", name, "--nocapture", "--test-threads=1"]);
    setup(&mut c);
    let out = c.output().unwrap();
    // Shown only on failure: the child's own summary would read like this binary's.
    if !out.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&out.stdout));
        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    }
    out.status.success()
}

/// The path of a test function below the crate root, for [`run_alone`].
#[macro_export]
macro_rules! test_path {
    ($name:ident) => {
        concat!(module_path!(), "::", stringify!($name))
            .split_once("::")
            .unwrap()
            .1
    };
}

//! Host keys in known_hosts, read as `ssh` reads them, by both remote machines: `@revoked`
//! keys, `[host]:port` names and the bare name as a second look (hashed names too),
//! patterns; `AcceptNew` recording a key by appending one line and leaving the rest of the
//! file as it was, once even when many connections record it at once. And a jump host
//! never sees the target's password.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use crate::common::sshd::{self, Sshd};
use plumb::prelude::*;
use plumb::{sh, ErrorKind, HostKeyPolicy};

#[derive(Clone, Copy, Debug)]
enum Kind {
    Ssh,
    #[cfg(feature = "ssh2")]
    Ssh2,
}

/// Instantiates each test body (a `fn(Kind)`) for both remote machines.
macro_rules! for_both_remotes {
    ($($name:ident),* $(,)?) => {
        mod ssh {
            $( #[test] fn $name() { super::$name(super::Kind::Ssh) } )*
        }
        #[cfg(feature = "ssh2")]
        mod ssh2 {
            $( #[test] fn $name() { super::$name(super::Kind::Ssh2) } )*
        }
    };
}

for_both_remotes!(
    a_revoked_key_is_refused_unless_insecure,
    a_key_for_another_port_is_unknown,
    the_bare_name_is_a_second_look,
    the_ports_own_key_wins_over_the_bare_names,
    another_key_under_the_bare_name_is_unknown_not_changed,
    hashed_names_are_over_the_name_with_its_port,
    patterns_and_negations_match_as_in_ssh,
    accept_new_appends_one_line_and_keeps_the_file,
);

/// The tests' sshd, connected to with `known` under `policy`; no config file is read.
fn connect(kind: Kind, known: &Path, policy: HostKeyPolicy) -> plumb::Result<Arc<dyn Machine>> {
    let d = sshd::sshd();
    let timeout = Duration::from_secs(5);
    Ok(match kind {
        Kind::Ssh => Arc::new(
            plumb::SshMachine::builder("127.0.0.1")
                .no_config()
                .port(d.port)
                .user(&d.user)
                .identity_file(&d.key)
                .known_hosts_file(known)
                .host_key_policy(policy)
                .connect_timeout(timeout)
                .connect()?,
        ),
        #[cfg(feature = "ssh2")]
        Kind::Ssh2 => Arc::new(
            plumb::Ssh2Machine::builder("127.0.0.1")
                .no_config()
                .port(d.port)
                .user(&d.user)
                .identity_file(&d.key)
                .known_hosts_file(known)
                .host_key_policy(policy)
                .connect_timeout(timeout)
                .connect()?,
        ),
    })
}

/// `keytype base64` of `d`'s host key.
fn host_key(d: &Sshd) -> String {
    let line = std::fs::read_to_string(&d.known_hosts).unwrap();
    let fields: Vec<&str> = line.split_whitespace().collect();
    format!("{} {}", fields[1], fields[2])
}

/// An ed25519 key that is no server's here.
const OTHER_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJhFwsqmQ1m8k8kVtVJc3NS8BDR+5rSjm0ISmuLN5OhG";

/// The tests' sshd's name in known_hosts: not on port 22, so `[127.0.0.1]:port`.
fn ported() -> String {
    format!("[127.0.0.1]:{}", sshd::sshd().port)
}

/// A known_hosts file holding `content` in a fresh directory (kept with it).
fn file(content: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("known_hosts");
    std::fs::write(&path, content).unwrap();
    (dir, path)
}

/// `path` with its names hashed by `ssh-keygen -H`.
fn hash(path: &Path) {
    let out = Command::new("ssh-keygen")
        .arg("-H")
        .arg("-f")
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.starts_with("|1|"), "{text}");
}

/// Whether OpenSSH's own reader finds a key for `name` in `path` (`ssh-keygen -F`).
fn openssh_finds(path: &Path, name: &str) -> bool {
    let out = Command::new("ssh-keygen")
        .arg("-F")
        .arg(name)
        .arg("-f")
        .arg(path)
        .output()
        .unwrap();
    out.status.success() && !out.stdout.is_empty()
}

fn works(m: Arc<dyn Machine>) {
    assert_eq!(sh!(echo in).on_dyn(m).read().unwrap(), "in");
}

/// A refusal for the host key that says `why` (in `Ssh2Machine`'s words; `ssh`'s own
/// are classified by their kind).
fn assert_refused(kind: Kind, result: plumb::Result<Arc<dyn Machine>>, why: &str) {
    let Err(err) = result else {
        panic!("the connection was accepted")
    };
    assert_eq!(err.kind(), ErrorKind::HostKey, "{err}");
    assert!(err.to_string().contains("127.0.0.1"), "{err}");
    #[cfg(feature = "ssh2")]
    if let Kind::Ssh2 = kind {
        assert!(err.to_string().contains(why), "{err}");
    }
    let _ = (kind, why);
}

/// As `ssh` with `StrictHostKeyChecking` `yes`, `accept-new` or even `no`: a revoked key
/// is refused, also when another line accepts it, and `AcceptNew` records nothing.
fn a_revoked_key_is_refused_unless_insecure(kind: Kind) {
    let key = host_key(sshd::sshd());
    let only_revoked = format!("@revoked {} {key}\n", ported());
    let revoked_and_known = format!("{} {key}\n@revoked * {key}\n", ported());
    for content in [only_revoked, revoked_and_known] {
        let (_dir, path) = file(&content);
        for policy in [HostKeyPolicy::Strict, HostKeyPolicy::AcceptNew] {
            assert_refused(kind, connect(kind, &path, policy), "revoked");
            assert_eq!(std::fs::read_to_string(&path).unwrap(), content);
        }
        works(connect(kind, &path, HostKeyPolicy::Insecure).unwrap());
    }
}

/// `[127.0.0.1]:port` for a port that is not the tests' sshd's.
fn another_port() -> String {
    let port = sshd::sshd().port;
    format!("[127.0.0.1]:{}", port.checked_add(1).unwrap_or(port - 1))
}

fn a_key_for_another_port_is_unknown(kind: Kind) {
    let key = host_key(sshd::sshd());
    let (_dir, path) = file(&format!("{} {key}\n", another_port()));
    assert_refused(kind, connect(kind, &path, HostKeyPolicy::Strict), "unknown");
}

/// As `ssh` does, a host on another port than 22 whose `[host]:port` name holds no key
/// is looked up under its bare name too: the same key there is accepted, and `AcceptNew`
/// does not record it again.
fn the_bare_name_is_a_second_look(kind: Kind) {
    let key = host_key(sshd::sshd());
    let content = format!("127.0.0.1 {key}\n");
    let (_dir, path) = file(&content);
    works(connect(kind, &path, HostKeyPolicy::Strict).unwrap());
    works(connect(kind, &path, HostKeyPolicy::AcceptNew).unwrap());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), content);
}

/// Another key recorded for `[host]:port` is a changed key, whatever the bare name holds.
fn the_ports_own_key_wins_over_the_bare_names(kind: Kind) {
    let key = host_key(sshd::sshd());
    let content = format!("{} {OTHER_KEY}\n127.0.0.1 {key}\n", ported());
    let (_dir, path) = file(&content);
    for policy in [HostKeyPolicy::Strict, HostKeyPolicy::AcceptNew] {
        assert_refused(kind, connect(kind, &path, policy), "changed");
    }
    assert_eq!(std::fs::read_to_string(&path).unwrap(), content);
}

/// Another key under the bare name says nothing of this port: unknown, so `AcceptNew`
/// records the port's own key.
fn another_key_under_the_bare_name_is_unknown_not_changed(kind: Kind) {
    let bare_other = format!("127.0.0.1 {OTHER_KEY}\n");
    let (_dir, path) = file(&bare_other);
    assert_refused(kind, connect(kind, &path, HostKeyPolicy::Strict), "unknown");
    works(connect(kind, &path, HostKeyPolicy::AcceptNew).unwrap());
    let text = std::fs::read_to_string(&path).unwrap();
    let added = text.strip_prefix(&bare_other).expect(&text);
    assert_eq!(added.lines().count(), 1, "{text}");
    assert!(openssh_finds(&path, &ported()), "{text}");
    works(connect(kind, &path, HostKeyPolicy::Strict).unwrap());
}

/// Hashed names (`ssh-keygen -H`) are over `host` for port 22, `[host]:port` otherwise,
/// and are looked up as plain ones are.
fn hashed_names_are_over_the_name_with_its_port(kind: Kind) {
    let key = host_key(sshd::sshd());
    let hashed = |content: String| {
        let (dir, path) = file(&content);
        hash(&path);
        (dir, path)
    };
    let (_dir, path) = hashed(format!("{} {key}\n", ported()));
    works(connect(kind, &path, HostKeyPolicy::Strict).unwrap());
    let (_dir, path) = hashed(format!("127.0.0.1 {key}\n"));
    works(connect(kind, &path, HostKeyPolicy::Strict).unwrap());
    let (_dir, path) = hashed(format!("{} {key}\n", another_port()));
    assert_refused(kind, connect(kind, &path, HostKeyPolicy::Strict), "unknown");
    let (_dir, path) = hashed(format!("{} {OTHER_KEY}\n127.0.0.1 {key}\n", ported()));
    assert_refused(kind, connect(kind, &path, HostKeyPolicy::Strict), "changed");
}

fn patterns_and_negations_match_as_in_ssh(kind: Kind) {
    let key = host_key(sshd::sshd());
    let port = sshd::sshd().port;
    // The last one: the port's name is ruled out, and the bare name's second look
    // matches `*` (as in ssh).
    let second_look = format!("![127.0.0.1]:{port},*");
    for accepted in [
        "[127.0.0.1]:*",
        "[127.0.0.?]:*",
        "*",
        "other,[127.0.0.1]:*",
        &second_look,
    ] {
        let (_dir, path) = file(&format!("{accepted} {key}\n"));
        let m = connect(kind, &path, HostKeyPolicy::Strict);
        works(m.unwrap_or_else(|e| panic!("{accepted}: {e}")));
    }
    for refused in [
        format!("[127.0.0.1]:*,![127.0.0.1]:{port}"),
        format!("![127.0.0.1]:{port},!127.0.0.1,*"),
        format!("[127.0.0.1]:{port}0"),
        "127.0.0.1:*".to_string(),
    ] {
        let (_dir, path) = file(&format!("{refused} {key}\n"));
        assert_refused(kind, connect(kind, &path, HostKeyPolicy::Strict), "unknown");
    }
}

/// What a known_hosts file that has been used for a while holds: comments, blank lines,
/// a line for several hosts, hashed names, markers.
fn lived_in() -> String {
    format!(
        "# Kept as it is, byte for byte.\n\n  # indented\nweb1,web2,10.0.0.1 {OTHER_KEY} a \
         comment\n|1|zj3JXcufQAEFQ0BIRadr2O4tT7g=|qPxFirQtYmRavqvf7xua4qPxTuA= {OTHER_KEY}\n\
         @cert-authority *.example.com {OTHER_KEY}\n@revoked db.example.com {OTHER_KEY}\n\
         \tweb3\t{OTHER_KEY}\n"
    )
}

/// `AcceptNew` adds one line that OpenSSH reads, after the old content, which it leaves
/// byte for byte; connecting again adds nothing.
fn accept_new_appends_one_line_and_keeps_the_file(kind: Kind) {
    let old = lived_in();
    let (_dir, path) = file(&old);
    works(connect(kind, &path, HostKeyPolicy::AcceptNew).unwrap());
    let text = std::fs::read_to_string(&path).unwrap();
    let added = text.strip_prefix(&old).expect(&text);
    assert_eq!(added.lines().count(), 1, "{text}");
    assert!(added.ends_with('\n'), "{text}");
    assert!(openssh_finds(&path, &ported()), "{text}");
    #[cfg(feature = "ssh2")]
    if let Kind::Ssh2 = kind {
        let key = host_key(sshd::sshd());
        assert_eq!(added, format!("{} {key}\n", ported()));
    }
    works(connect(kind, &path, HostKeyPolicy::AcceptNew).unwrap());
    works(connect(kind, &path, HostKeyPolicy::Strict).unwrap());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
}

/// A last line without its newline stays whole: the new line starts on a line of its own.
/// (`ssh` 9.2 glues its line to that last one, so this is `Ssh2Machine`'s alone.)
#[cfg(feature = "ssh2")]
#[test]
fn ssh2_accept_new_after_a_last_line_without_newline() {
    let old = format!("web1 {OTHER_KEY}");
    let (_dir, path) = file(&old);
    works(connect(Kind::Ssh2, &path, HostKeyPolicy::AcceptNew).unwrap());
    let text = std::fs::read_to_string(&path).unwrap();
    let key = host_key(sshd::sshd());
    assert_eq!(text, format!("{old}\n{} {key}\n", ported()));
    assert!(openssh_finds(&path, "web1"), "{text}");
    assert!(openssh_finds(&path, &ported()), "{text}");
}

/// A key revoked under the bare name is refused on the port too, also by `AcceptNew`
/// (stricter than `ssh`, which records it there under `accept-new`).
#[cfg(feature = "ssh2")]
#[test]
fn ssh2_a_key_revoked_under_the_bare_name_is_refused_on_every_port() {
    let key = host_key(sshd::sshd());
    let content = format!("@revoked 127.0.0.1 {key}\n");
    let (_dir, path) = file(&content);
    for policy in [HostKeyPolicy::Strict, HostKeyPolicy::AcceptNew] {
        assert_refused(Kind::Ssh2, connect(Kind::Ssh2, &path, policy), "revoked");
    }
    assert_eq!(std::fs::read_to_string(&path).unwrap(), content);
}

/// Connections at once to a host the file does not know all succeed, and the key is
/// recorded once after the old content. To make them meet for sure, the test holds the
/// file's lock (as another plumb recording a key would) until every connection waits
/// for it, so that they read the file at about the same moment and find the key
/// missing. (`ssh` appends without a lock: two of them at once may each add the line, so
/// this is `Ssh2Machine`'s alone.)
#[cfg(feature = "ssh2")]
#[test]
fn ssh2_accept_new_from_many_connections_at_once() {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::MetadataExt;
    const N: usize = 8;
    let old = lived_in();
    let (_dir, path) = file(&old);
    let held = std::fs::File::open(&path).unwrap();
    // SAFETY: flock on a descriptor `held` owns.
    assert_eq!(unsafe { libc::flock(held.as_raw_fd(), libc::LOCK_EX) }, 0);
    let threads: Vec<_> = (0..N)
        .map(|_| {
            let path = path.clone();
            std::thread::spawn(move || {
                connect(Kind::Ssh2, &path, HostKeyPolicy::AcceptNew).map(works)
            })
        })
        .collect();
    wait_for_lock_waiters(held.metadata().unwrap().ino(), N);
    drop(held);
    for t in threads {
        t.join().unwrap().unwrap();
    }
    let text = std::fs::read_to_string(&path).unwrap();
    let key = host_key(sshd::sshd());
    assert_eq!(text, format!("{old}{} {key}\n", ported()));
}

/// Waits until `n` processes or threads wait for a lock on inode `ino` (`/proc/locks`
/// lists each waiter as a `->` line).
#[cfg(feature = "ssh2")]
fn wait_for_lock_waiters(ino: u64, n: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let locks = std::fs::read_to_string("/proc/locks").unwrap();
        let suffix = format!(":{ino} ");
        let waiting = locks
            .lines()
            .filter(|l| l.contains("->") && l.contains(&suffix))
            .count();
        if waiting >= n {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{waiting} of {n} connections wait for the known_hosts lock:\n{locks}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The target's password is the target's: a jump host that refuses the key is not
/// offered it. The hop's sshd takes passwords and logs every attempt, so a password sent
/// there would show in its log, next to the refused key.
#[cfg(feature = "ssh2")]
#[test]
fn ssh2_a_jump_host_never_sees_the_targets_password() {
    let target = sshd::sshd();
    let hop = sshd::start_with(
        target.user.clone(),
        "Match all\n  PasswordAuthentication yes\n  LogLevel VERBOSE\n",
    );
    let here = tempfile::tempdir().unwrap();
    let known = here.path().join("known_hosts");
    let both = [&target.known_hosts, &hop.known_hosts].map(|p| std::fs::read_to_string(p).unwrap());
    std::fs::write(&known, both.concat()).unwrap();
    let secret = "target-only-secret";
    let err = plumb::Ssh2Machine::builder("127.0.0.1")
        .no_config()
        .port(target.port)
        .user(&target.user)
        // The target's key, which the hop does not take.
        .identity_file(&target.key)
        .password(secret)
        .known_hosts_file(&known)
        .jump(format!("{}@127.0.0.1:{}", target.user, hop.port))
        .connect()
        .expect_err("the hop took the target's key");
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    assert!(err.to_string().contains("jump host"), "{err}");
    let log = std::fs::read_to_string(hop.dir.join("sshd.log")).unwrap();
    assert!(
        log.contains("Failed publickey"),
        "the hop logs no attempt: {log}"
    );
    assert!(!log.contains("password"), "{log}");
}

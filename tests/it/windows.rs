//! What only Windows has: programs found with `PATHEXT` (`.cmd` and `.bat` files run
//! by their names), batch files' arguments escaped or refused (CVE-2024-24576), drive
//! letters and `\` in paths, files without modes or owners, and what Windows cannot do
//! (`sudo`, `SshMachine`) refused with a clear error. Run under Wine by scripts/test.

use std::path::Path;

use plumb::prelude::*;
use plumb::{sh, ErrorKind};

/// A directory holding `greet.cmd` and `shout.bat`, and the local machine with only it
/// on `PATH`.
fn batch_programs() -> (tempfile::TempDir, plumb::LocalMachine) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("greet.cmd"), "@echo hello %~1\r\n").unwrap();
    std::fs::write(dir.path().join("shout.bat"), "@echo %~1!\r\n@exit /b 3\r\n").unwrap();
    let m = plumb::local().with_env("PATH", dir.path());
    (dir, m)
}

#[test]
fn cmd_and_bat_programs_run_by_their_names() {
    let (dir, m) = batch_programs();
    assert_eq!(sh!(greet world).on(&m).read().unwrap(), "hello world");
    let out = sh!(shout hey).on(&m).unchecked().output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim_end(), "hey!");
    let found = m.which("greet").unwrap();
    assert_eq!(found, dir.path().join("greet.cmd"));
    assert_eq!(m.which("greet.cmd").unwrap(), found);
    assert_eq!(
        sh!(which shout).on(&m).read().unwrap(),
        dir.path().join("shout.bat").to_str().unwrap()
    );
    let err = m.which("absent").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

/// std escapes a batch file's arguments so that `cmd` reads none of them as commands,
/// and refuses what it cannot escape: plumb reports that as InvalidInput, naming the
/// program, and nothing runs.
#[test]
fn batch_arguments_are_escaped_or_refused() {
    let dir = tempfile::tempdir().unwrap();
    let h = crate::common::helper::helper();
    let relay = format!("@\"{}\" args %*\r\n", h.display());
    std::fs::write(dir.path().join("relay.cmd"), relay).unwrap();
    let m = plumb::local().with_env("PATH", dir.path());
    let marker = dir.path().join("pwned");
    let attack = format!("x\" & echo pwned > \"{}", marker.display());
    let words = ["two words", attack.as_str(), "a^b", "<in>|out", "!x!"];
    let out = sh!(relay $[words]).on(&m).read().unwrap();
    assert!(!marker.exists(), "an argument ran as a command");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        words,
        "the arguments arrive as they were"
    );
    // std escapes `%` with `%%cd:~,%`, which Windows' `cmd` reads as nothing; Wine's
    // `cmd` does not know the form, and expands the variable: there the check would fail
    // for Wine's sake, not plumb's.
    if !under_wine() {
        let words = ["50%", "%PATH%"];
        let out = sh!(relay $[words]).on(&m).read().unwrap();
        assert_eq!(out.lines().collect::<Vec<_>>(), words);
    }
    let line_break = "a\nb";
    let err = sh!(relay $line_break).on(&m).run().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert!(err.to_string().contains("relay"), "{err}");
    assert!(err.to_string().contains("batch file"), "{err}");
}

/// Whether this runs under Wine (whose `cmd` reads some escapes otherwise).
fn under_wine() -> bool {
    Path::new(r"C:\windows\system32\winecfg.exe").exists()
}

#[test]
fn drive_letters_and_backslashes() {
    let windows = plumb::local().path(r"C:\windows");
    assert!(windows.is_dir().unwrap());
    let system = windows.join("system32");
    assert_eq!(system.to_string(), r"C:\windows\system32");
    assert!(system.is_dir().unwrap());
    assert_eq!(system.parent().unwrap().as_path(), Path::new(r"C:\windows"));
    assert!(plumb::local().path("C:/windows/system32").is_dir().unwrap());
    let here = plumb::local().with_dir(r"C:\windows");
    assert!(here.path("system32").is_dir().unwrap());
    let pwd = sh!(cd system32 && pwd).on(&here).read().unwrap();
    assert_eq!(pwd, r"C:\windows\system32");
    assert!(sh!(test -d r"C:\windows").success().unwrap());
}

/// Windows has no modes, owners or groups: `None`, never made up; what stands for a mode
/// is the read-only attribute.
#[test]
fn files_have_no_modes_or_owners() {
    let dir = tempfile::tempdir().unwrap();
    let f = plumb::local().path(dir.path()).join("f.txt");
    f.write("x").unwrap();
    let m = f.metadata().unwrap();
    assert_eq!(
        (m.unix_mode(), m.uid(), m.gid(), m.mode()),
        (None, None, None, 0)
    );
    assert!(!m.readonly());
    f.set_permissions(0o444).unwrap();
    assert!(f.metadata().unwrap().readonly());
    let copy = f.copy_to(dir.path().join("g.txt")).unwrap();
    assert!(
        copy.metadata().unwrap().readonly(),
        "a copy keeps the attribute"
    );
    sh!(rm -f g.txt)
        .on(&plumb::local().with_dir(dir.path()))
        .run()
        .unwrap();
    assert!(
        !copy.exists().unwrap(),
        "rm removes a read-only file, as on Unix"
    );
}

#[test]
fn sudo_is_unsupported() {
    let err = sh!(whoami).sudo().run().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    assert!(err.to_string().contains("sudo"), "{err}");
}

#[test]
fn ssh_machine_names_ssh2_machine() {
    let err = plumb::SshMachine::connect("me@127.0.0.1:1").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    assert!(err.to_string().contains("Ssh2Machine"), "{err}");
}

/// One program starts detached, with its redirections; what needs `sh` is refused.
#[test]
fn one_program_starts_detached() {
    let dir = tempfile::tempdir().unwrap();
    let h = crate::common::helper::helper();
    let here = plumb::local().with_dir(dir.path());
    let pid = sh!($h args detached > out.txt)
        .on(&here)
        .spawn_detached()
        .unwrap();
    assert!(pid > 0);
    let out = dir.path().join("out.txt");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::fs::read_to_string(&out).unwrap_or_default() != "detached\n" {
        assert!(
            std::time::Instant::now() < deadline,
            "the detached program did not run"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let err = sh!(echo a | $h upper).spawn_detached().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
}

/// `Ssh2Machine` from Windows, against an sshd on this host that scripts/wine/sshd starts
/// (`PLUMB_WINE_SSHD=port:user:key:known_hosts`; scripts/test does): commands, a pipe
/// across machines, files over SFTP and paths joined with `/`, a handle's directory,
/// streams, a timeout, a session, a tunnel; and what a remote host cannot be sent.
#[cfg(feature = "ssh2")]
#[test]
fn ssh2_machine_from_windows() {
    use std::io::{Read, Write};
    use std::os::windows::ffi::OsStringExt;
    use std::time::Duration;
    let spec = std::env::var("PLUMB_WINE_SSHD")
        .expect("PLUMB_WINE_SSHD: start an sshd with scripts/wine/sshd (scripts/test does)");
    let [port, user, key, known_hosts] = spec.splitn(4, ':').collect::<Vec<_>>()[..] else {
        panic!("PLUMB_WINE_SSHD={spec}: expected port:user:key:known_hosts");
    };
    let m = plumb::Ssh2Machine::builder("127.0.0.1")
        .port(port.parse().unwrap())
        .user(user)
        .identity_file(key)
        .known_hosts_file(known_hosts)
        .connect()
        .unwrap();
    assert_eq!(sh!(uname).on(&m).read().unwrap(), "Linux");
    let across = sh!(echo hello).on(&plumb::local()) | sh!(tr a-z A-Z).on(&m);
    assert_eq!(across.read().unwrap(), "HELLO");
    let out = sh!(sh -c "echo out; echo err >&2; exit 3")
        .on(&m)
        .unchecked()
        .output()
        .unwrap();
    assert_eq!(
        (out.status.code(), &out.stdout[..], &out.stderr[..]),
        (Some(3), &b"out\n"[..], &b"err\n"[..])
    );
    let dir = m.temp_dir().unwrap();
    let f = dir.join("sub").join("f.txt");
    assert!(f.to_string().ends_with("/sub/f.txt"), "{f}");
    f.parent().unwrap().create_dir_all().unwrap();
    f.write("over sftp").unwrap();
    assert_eq!(f.read_to_string().unwrap(), "over sftp");
    assert_eq!(
        f.metadata().unwrap().unix_mode().map(|m| m & 0o600),
        Some(0o600)
    );
    let inside = m.with_dir(dir.as_path());
    assert_eq!(sh!(cat sub/f.txt).on(&inside).read().unwrap(), "over sftp");
    let here = tempfile::tempdir().unwrap();
    m.download(f.as_path(), here.path().join("back.txt"))
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(here.path().join("back.txt")).unwrap(),
        "over sftp"
    );
    let mut child = sh!(cat).on(&m).spawn().unwrap();
    child.stdin().unwrap().write_all(b"streamed").unwrap();
    drop(child.take_stdin());
    let mut back = String::new();
    child.stdout().unwrap().read_to_string(&mut back).unwrap();
    assert_eq!(back, "streamed");
    let err = sh!(sleep 30)
        .on(&m)
        .timeout(Duration::from_millis(500))
        .run()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    let session = m.session();
    assert_eq!(
        sh!(echo in a session).on(&session).read().unwrap(),
        "in a session"
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let tport = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let (mut c, _) = listener.accept().unwrap();
        c.write_all(b"through the tunnel").unwrap();
    });
    let mut tunnel = m.connect_sock(tport).unwrap();
    let mut greeting = String::new();
    tunnel.read_to_string(&mut greeting).unwrap();
    assert_eq!(greeting, "through the tunnel");
    // An unpaired surrogate has no UTF-8: refused, never sent mangled.
    let lone = std::ffi::OsString::from_wide(&[0x61, 0xD800]);
    let err = sh!(echo $lone).on(&m).run().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    let err = m.path(&lone).read().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    dir.close().unwrap();
}

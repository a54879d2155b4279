//! A guided run through plumb's features. Run it with `cargo run --example tour`.

use std::time::Duration;

use plumb::prelude::*;
use plumb::{Builtins, ErrorKind};
#[cfg(unix)]
use plumb::{Ssh2Machine, SshMachine};

fn step(title: &str) {
    println!("\n== {title}");
}

fn main() -> Result<(), plumb::Error> {
    let scratch = tempfile::tempdir().expect("a scratch directory in the temp dir");
    let here = plumb::local().with_dir(scratch.path());
    println!(
        "plumb tour: everything runs in a scratch directory, {}",
        scratch.path().display()
    );

    step("1. A command is a lazy value; `read` runs it and returns stdout");
    let greet = sh!(echo hello from plumb);
    println!("expr:   {greet}");
    println!("output: {}", greet.read()?);

    step("2. Words come out exactly as written in the token form");
    let out = sh!(echo -la ./src/main.rs --color=auto 127.0.0.1:8080).read()?;
    println!("{out}");

    step("3. Rust values are interpolated as single arguments: no injection");
    let nasty = "$(echo pwned); rm -rf ~ 'quoted'";
    let files = ["a.txt", "b c.txt"];
    println!("{}", sh!(echo $nasty $[files]).read()?);

    step("4. The string form carries what Rust tokens cannot: //, 'single quotes'");
    println!("{}", sh!("echo 'https://example.com/a//b'").read()?);

    step("5. Pipelines, redirections, sequences and cd, run in the scratch directory");
    sh!(mkdir -p logs && echo b > logs/words.txt && echo c >> logs/words.txt)
        .on(&here)
        .run()?;
    let first = sh!(cd logs; cat < words.txt | head -n 1).on(&here).read()?;
    println!("{first}");

    step("6. Globs, ~, $(...) and groups expand on the machine that runs the command");
    sh!(touch logs/a.log logs/b.log).on(&here).run()?;
    // The string form, since `/*` would start a Rust comment in the token form.
    println!("{}", sh!("echo logs/*.log").on(&here).read()?);
    println!(
        "{}",
        sh!(cd logs && echo *.log ~ "$(head -n 1 words.txt)")
            .on(&here)
            .read()?
    );
    sh!({ echo built; pwd; } > logs/build.txt 2>&1)
        .on(&here)
        .run()?;
    print!("{}", here.path("logs/build.txt").read_to_string()?);

    step("7. Errors name the command, the machine, the exit code and stderr");
    let err = sh!(cat no-such-file).on(&here).read().unwrap_err();
    println!("error:  {err}");
    println!("kind:   {:?}, code: {:?}", err.kind(), err.code());

    step("8. Pipefail: the failing stage is named");
    let err = sh!(echo data | false | cat).read().unwrap_err();
    println!("error:  {err}");

    step("9. Exit codes as values: code() and success()");
    println!(
        "the file is not empty: {}",
        sh!(test -s logs/words.txt).on(&here).success()?
    );
    println!("exit code:            {}", sh!(exit 7).code()?);

    step("10. Streaming lines as the command produces them");
    for line in sh!(echo tick 1; sleep 0.1; echo tick 2; sleep 0.1; echo tick 3).lines()? {
        println!("got: {}", line?);
    }

    step("11. Timeouts kill the whole process tree");
    let err = sh!(sleep 30 | sleep 30)
        .timeout(Duration::from_millis(200))
        .run()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    println!("error:  {err}");

    step("12. Spawn, talk to stdin, wait");
    let mut child = sh!(cat).spawn()?;
    std::io::Write::write_all(child.stdin().expect("stdin is piped"), b"echoed back").ok();
    drop(child.take_stdin());
    println!("{}", String::from_utf8_lossy(&child.wait()?.stdout));

    step("13. Paths on a machine");
    let notes = here.path("notes/today.txt");
    notes.parent().expect("has a parent").create_dir_all()?;
    notes.write("remember the milk\n")?;
    println!("{} holds {:?}", notes, notes.read_to_string()?);
    println!("text files: {:?}", here.path(".").glob("**/*.txt")?);
    let shell = if cfg!(windows) { "cmd" } else { "sh" };
    println!("{shell} is at {}", here.which(shell)?.display());

    step("14. Scripts that travel: plumb's builtins stand in for missing programs");
    sh!(mkdir -p out && echo hi > out/a.txt && cp out/a.txt b.txt && rm -rf out)
        .on(&here)
        .run()?;
    println!("b.txt holds {:?}", here.path("b.txt").read_to_string()?);
    let portable = here.with_builtins(Builtins::Always);
    println!(
        "plumb's own echo, forced: {}",
        sh! { echo --version }.on(&portable).read()?
    );

    remote_tour()?;
    println!("\nDone.");
    Ok(())
}

/// A local scratch directory (plumb's own, made like the remote one).
#[cfg(unix)]
fn tempfile_dir() -> Result<std::path::PathBuf, plumb::Error> {
    Ok(plumb::local().temp_dir()?.keep().as_path().to_path_buf())
}

#[cfg(unix)]
#[path = "../tests/it/common/sshd.rs"]
mod sshd;

/// The remote machines for the tour: `PLUMB_TOUR_SSH=user@host[:port]` when set, else a
/// throwaway sshd on 127.0.0.1 when this computer has one, logged into as ourselves.
#[cfg(unix)]
fn tour_remotes() -> Option<(SshMachine, Ssh2Machine, String)> {
    if let Ok(dest) = std::env::var("PLUMB_TOUR_SSH") {
        return match (SshMachine::connect(&dest), Ssh2Machine::connect(&dest)) {
            (Ok(m), Ok(m2)) => Some((m, m2, format!("{dest} (from PLUMB_TOUR_SSH)"))),
            (Err(e), _) | (_, Err(e)) => {
                println!("cannot connect to PLUMB_TOUR_SSH={dest}: {e}");
                None
            }
        };
    }
    if !std::path::Path::new("/usr/sbin/sshd").exists() {
        println!(
            "(skipping the remote part: no PLUMB_TOUR_SSH and no /usr/sbin/sshd here)\n\
             To see it, either point the tour at a host you can log in to with a key:\n    \
             PLUMB_TOUR_SSH=you@host:22 cargo run --example tour\n\
             or install an OpenSSH server here (the tour starts a throwaway one on 127.0.0.1\n\
             and stops it at the end; nothing listens beyond loopback):\n    \
             sudo apt-get install openssh-server   # Debian, Ubuntu (or run scripts/test once)\n    \
             sudo dnf install openssh-server       # Fedora\n\
             then run the tour again."
        );
        return None;
    }
    let me = sh! { id -un }.read().ok()?;
    let d = sshd::start(me.clone());
    let m = SshMachine::builder("127.0.0.1")
        .port(d.port)
        .user(&me)
        .identity_file(&d.key)
        .known_hosts_file(&d.known_hosts)
        .connect();
    let m2 = Ssh2Machine::builder("127.0.0.1")
        .port(d.port)
        .user(&me)
        .identity_file(&d.key)
        .known_hosts_file(&d.known_hosts)
        .connect();
    match (m, m2) {
        (Ok(m), Ok(m2)) => Some((m, m2, format!("a throwaway sshd on 127.0.0.1:{}", d.port))),
        (Err(e), _) | (_, Err(e)) => {
            println!("cannot reach the throwaway sshd: {e}");
            None
        }
    }
}

/// On Windows the remote part is not shown: it needs both remote machines, and
/// `SshMachine` needs OpenSSH's ControlMaster, which Windows' ssh client lacks.
#[cfg(windows)]
fn remote_tour() -> Result<(), plumb::Error> {
    println!(
        "\n(the remote part of the tour runs on Linux, macOS and FreeBSD: on Windows, \
         SshMachine is unsupported; Ssh2Machine::connect(\"user@host\") reaches a host)"
    );
    Ok(())
}

#[cfg(unix)]
fn remote_tour() -> Result<(), plumb::Error> {
    step("15. Remote machines: the same expressions, on a host reached with ssh");
    let Some((remote, remote2, how)) = tour_remotes() else {
        return Ok(());
    };
    println!("connected to {how}, one ssh connection shared by everything below");
    println!("remote says: {}", sh! { uname -sn }.on(&remote).read()?);

    step("16. Globs, ~ and $(...) there use the remote host's files, home and commands");
    let out = sh!(cd /etc && echo host* ~ "$(uname -n)"; (cd / && pwd))
        .on(&remote)
        .read()?;
    println!("{out}");

    step("17. Pipes cross machines: local | remote");
    let n = (sh!(seq 1 1000).on(&plumb::local()) | sh!(awk "{s+=$$1} END {print s}").on(&remote))
        .read()?;
    println!("sum computed remotely: {n}");

    step("18. Remote errors read the same, with the remote's name");
    let err = sh! { ls /no/such/dir }.on(&remote).read().unwrap_err();
    println!("error:  {err}");

    step("19. A timeout ends the remote process tree too");
    let err = sh!(sh -c "sleep 30 & sleep 30")
        .on(&remote)
        .timeout(Duration::from_millis(300))
        .run()
        .unwrap_err();
    println!("error:  {err}");

    step("20. Files on the remote machine: SFTP, no remote tools needed");
    // A private directory on the remote host, removed with its content when dropped.
    let tmp = remote2.temp_dir()?;
    let file = tmp.join("hello.txt");
    file.write("written over SFTP\n")?;
    file.append("and appended\n")?;
    let meta = file.metadata()?;
    println!(
        "{file:?} holds {:?}: {} bytes, mode {:o}, uid {:?}",
        file.read_to_string()?,
        meta.len(),
        meta.mode(),
        meta.uid()
    );
    file.symlink(tmp.join("link.txt"))?;
    file.copy_to(tmp.join("copy.txt"))?;
    for entry in tmp.walk()? {
        let entry = entry?;
        println!("  {entry} ({:?})", entry.symlink_metadata()?.file_type());
    }
    let started = std::time::Instant::now();
    for _ in 0..100 {
        file.exists()?;
    }
    println!("100 exists() calls took {:.1?}", started.elapsed());

    step("21. Transfers, with a progress bar on a terminal (nothing elsewhere)");
    let here = tempfile_dir()?;
    let big = here.join("big.bin");
    std::fs::write(&big, vec![0u8; 50 << 20]).expect("a local scratch file");
    let started = std::time::Instant::now();
    let mut bar = plumb::progress::Bar::new();
    remote2.upload_with(&big, tmp.join("big.bin"), &mut |p| bar.update(p))?;
    bar.finish();
    println!(
        "uploaded 50 MB in {:.1?}; the remote copy has {} bytes",
        started.elapsed(),
        tmp.join("big.bin").metadata()?.len()
    );
    plumb::local().path(&here).remove()?;
    drop(tmp);

    step("22. Sessions: persistent shells for many small commands");
    let session = remote2.session();
    let started = std::time::Instant::now();
    let mut failed = 0;
    for i in 0..1000 {
        // Each in a subshell of its own: nothing leaks into the next.
        if sh!(test $i -lt 990).on(&session).unchecked().code()? != 0 {
            failed += 1;
        }
    }
    let took = started.elapsed();
    let per_channel = {
        let started = std::time::Instant::now();
        for _ in 0..20 {
            sh!(true).on(&remote2).run()?;
        }
        started.elapsed() / 20
    };
    println!(
        "1000 commands through a session took {took:.1?} ({failed} exited non-zero); one \
         channel per command takes {per_channel:.1?} each"
    );
    let user = sh!(sh -c "cd /tmp && echo $$0 in $$(pwd)" me)
        .on(&session)
        .read()?;
    println!(
        "{user}, and the next command is home again: {}",
        sh!(pwd).on(&session).read()?
    );

    step("23. Tunnels: a byte stream to a port as seen from the remote host");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a local port");
    let port = listener.local_addr().expect("an address").port();
    std::thread::spawn(move || {
        if let Ok((mut c, _)) = listener.accept() {
            let _ = std::io::Write::write_all(&mut c, b"hello through the tunnel\n");
        }
    });
    let mut sock = remote.connect_sock(port)?;
    let mut greeting = String::new();
    std::io::Read::read_to_string(&mut sock, &mut greeting).ok();
    print!("{greeting}");

    step("24. Ssh2Machine: one libssh2 session, each command on its own channel");
    let started = std::time::Instant::now();
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let m = remote2.clone();
            std::thread::spawn(move || sh!(sh -c "sleep 1; echo channel $$0" $i).on(&m).read())
        })
        .collect();
    for t in threads {
        println!("{}", t.join().expect("a thread")?);
    }
    println!(
        "8 one-second commands took {:.1?} together",
        started.elapsed()
    );

    step("25. Ssh2Machine tunnels ride the same connection");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a local port");
    let port = listener.local_addr().expect("an address").port();
    std::thread::spawn(move || {
        for c in listener.incoming().flatten() {
            let mut c = c;
            let _ = std::io::Write::write_all(&mut c, b"hello over a direct-tcpip channel\n");
        }
    });
    let mut sock = remote2.connect_sock(port)?;
    let mut greeting = String::new();
    std::io::Read::read_to_string(&mut sock, &mut greeting).ok();
    print!("{greeting}");
    let fwd = remote2.forward_local("127.0.0.1", port)?;
    let mut c = std::net::TcpStream::connect(fwd.local_addr()).expect("the forward listens");
    let mut greeting = String::new();
    std::io::Read::read_to_string(&mut c, &mut greeting).ok();
    print!("through forward_local on {}: {greeting}", fwd.local_addr());

    fleet_tour(&remote)?;
    async_tour(&remote2)?;
    remote.close()?;
    remote2.close()?;
    Ok(())
}

/// A hundred hosts' worth of commands in flight at once, awaited together on one thread:
/// here on one connection, as a deploy bot would on a fleet.
#[cfg(all(unix, feature = "tokio"))]
fn async_tour(remote: &Ssh2Machine) -> Result<(), plumb::Error> {
    step("27. Async (feature `tokio`): 100 commands awaited together on one thread");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let started = std::time::Instant::now();
    let names = rt.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for i in 0..100 {
            set.spawn(
                sh!(sh -c "echo host-$i: $$(uname -n)")
                    .on(remote)
                    .read_async(),
            );
        }
        set.join_all().await
    });
    let ok = names.iter().filter(|r| r.is_ok()).count();
    println!(
        "{ok}/100 answered in {:?}, e.g. {}",
        started.elapsed(),
        names[0].as_deref().unwrap_or("?")
    );
    // Dropping a future ends its command's whole tree, as a timeout does.
    let slow = sh!(sleep 30)
        .on(remote)
        .timeout(std::time::Duration::from_millis(200));
    let err = rt.block_on(slow.run_async()).unwrap_err();
    println!("a 200 ms timeout, awaited: {err}");
    Ok(())
}

#[cfg(all(unix, not(feature = "tokio")))]
fn async_tour(_: &Ssh2Machine) -> Result<(), plumb::Error> {
    step("27. Async: `run_async`, `output_async`, ... with the cargo feature `tokio`");
    println!(
        "(run `cargo run --example tour --features tokio` to see 100 commands awaited together)"
    );
    Ok(())
}

/// A group of machines, one of them behind a jump host (a second throwaway sshd), running
/// a deploy step with sudo.
#[cfg(unix)]
fn fleet_tour(remote: &SshMachine) -> Result<(), plumb::Error> {
    step("26. A fleet: a group deploys to hosts of any kind, one behind a jump host, with sudo");
    if std::env::var("PLUMB_TOUR_SSH").is_ok() {
        println!("(shown on the throwaway sshd only)");
        return Ok(());
    }
    let me = sh! { id -un }.read()?;
    let target = sshd::start(me.clone());
    let bastion = sshd::start(me.clone());
    // The bastion lets the same key in, and one known_hosts file holds both host keys:
    // every hop's is checked.
    let key = std::fs::read_to_string(target.key.with_extension("pub")).unwrap_or_default();
    let authorized = bastion.dir.join("authorized_keys");
    let mut allowed = std::fs::read_to_string(&authorized).unwrap_or_default();
    allowed.push_str(&key);
    std::fs::write(&authorized, allowed).expect("the bastion's authorized_keys");
    let known = plumb::local().temp_dir()?;
    let known_hosts = known.join("known_hosts");
    let keys = [&target.known_hosts, &bastion.known_hosts]
        .map(|p| std::fs::read_to_string(p).unwrap_or_default())
        .concat();
    known_hosts.write(keys)?;
    let behind = Ssh2Machine::builder("127.0.0.1")
        .port(target.port)
        .user(&me)
        .identity_file(&target.key)
        .known_hosts_file(known_hosts.as_path())
        .jump(format!("{me}@127.0.0.1:{}", bastion.port))
        .connect()?;
    println!(
        "reached {} through the jump host 127.0.0.1:{}",
        behind.name(),
        bastion.port
    );
    let fleet = plumb::Group::new()
        .machine(plumb::local())
        .machine(remote.clone())
        .machine(behind)
        .max_parallel(3);
    let step_one = fleet.run(&sh!(sh -c "echo release v2 unpacked in $$PWD"));
    // sudo without a terminal: it runs when sudo needs no password here (root, NOPASSWD);
    // otherwise set `.sudo_password(..)` on the builders.
    let sudo_ok = sh!(sudo -n true).unchecked().success().unwrap_or(false);
    if sudo_ok {
        let installed = fleet.run(&sh!(sh -c "echo installed as $$(id -un)").sudo());
        println!("sudo step: all hosts ok = {}", installed.all_ok());
    } else {
        println!("(sudo needs a password or is missing here: the sudo step is skipped)");
    }
    println!("all hosts ok = {}", step_one.all_ok());
    Ok(())
}

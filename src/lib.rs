//! Shell scripting as a compile-checked part of Rust.
//!
//! ```
//! use plumb::prelude::*;
//!
//! # fn main() -> Result<(), plumb::Error> {
//! let pattern = "plumb";
//! let count = sh!(printf "plumb\nduct\nplumb\n" | grep -c $pattern).read()?;
//! assert_eq!(count, "2");
//! # Ok(())
//! # }
//! ```
//!
//! [`sh!`] parses shell syntax **at compile time** into an [`Expr`]: a lazy value that runs
//! only when you call [`run`](Expr::run), [`read`](Expr::read) or another terminal call, on
//! the [machine](Machine) you choose. A mistake the parser can see is a compile error at
//! the offending token; a failure at run time is a [`plumb::Error`](Error) that names the
//! command, the machine, the exit code and the tail of stderr.
//!
//! `cargo add plumb-sh` brings it in; the library's name is `plumb`.
//!
//! # The `sh!` macro
//!
//! Write commands as you would in a shell, in one of two forms that share one grammar:
//!
//! - the **token form**, `sh!(ls -la ./src | grep $pat > out.txt)`: words are rebuilt from
//!   the positions of Rust tokens, so `-la`, `./src/main.rs`, `--color=auto`, `a.txt`,
//!   `127.0.0.1:8080` and `2>&1` come out exactly as written. A line break separates
//!   commands, like `;`.
//! - the **string form**, `sh!("curl -s 'https://example.com/a b' | jq .name")`: for what
//!   Rust tokens cannot carry: `//` and `/*` (Rust comments), `'single quotes'`,
//!   backslashes, unbalanced brackets.
//!
//! | syntax | meaning |
//! |---|---|
//! | `a b c` | a command and its arguments |
//! | `"x y"` (both forms), `'x y'` (string form) | one word; `$` interpolates inside double quotes, not single. Inside double quotes a backslash escapes only `$`, `` ` ``, `"`, `\` and a line break, as in sh, in both forms: `"a\tb"` is `a`, a backslash, `tb` (printf and `echo -e` read it as a tab); Rust's escapes are not decoded |
//! | `r"x y"` (token form) | one word, taken literally, like single quotes |
//! | `$name`, `${expr}` | exactly one argument from a Rust value ([`ToArg`]) |
//! | `$[expr]` | zero or more arguments from an iterable |
//! | `$$` | a literal `$` |
//! | `{a,b}`, `pre{a,b}post`, `{1..3}`, `{01..10}`, `{3..1}`, `{1..9..2}`, `{a..e}`, `{a,b{c,d}}` | brace expansion, at compile time, as in bash: in unquoted words written in the macro, also around a value (`${stem}{1,2}` is two words); `"{a,b}"` and values never expand; `{}`, `{a}` and a lone `{` stay as written; at most 10 000 words |
//! | `a \| b`, `a \|& b` | a pipeline; `\|&` also pipes stderr |
//! | `> f`, `>> f`, `< f`, `2> f`, `2>> f`, `&> f`, `&>> f`, `2>&1`, `>&2` | redirections, performed on the machine that runs the command |
//! | `<<< $value` | stdin from a Rust string or bytes (exactly those bytes; no newline is added) |
//! | `a ; b`, `a && b`, `a \|\| b`, `a ;` | sequences with shell meaning; a final `;` ends the last command |
//! | `NAME=value cmd` | environment for that command (not brace-expanded, as in bash) |
//! | `cd dir` | the directory for the rest of that `sh!` sequence |
//! | `*.txt`, `?`, `[ab]`, `[!a]`, `[a-z]` in unquoted words | globs, expanded on the machine that runs the command, in its directory (after `cd`, `.dir()`, `with_dir`): matches sorted bytewise, each one argument whatever its bytes; a leading `.` must be written, `/` is never matched; **an unmatched pattern stays as written** (bash's default: `rm -f *.o` with no `.o` file does nothing, `ls *.x` fails with ls's message); quoted text and values never glob, even in the same word (in `${stem}*` only the `*` does); `**` is `*` twice, one path segment, as in POSIX sh. The token form cannot write a `/*` (`logs/*.txt`, `src/**/*.js`: rustc reads a comment): use the string form, `sh!("ls logs/*.txt")`, which globs by the same rules. Compile errors: a `[` never closed (but `[` alone, the test command, and `[]`), a pattern as a redirection's file |
//! | `~`, `~/x`, `~user/x` at the start of an unquoted word or after `NAME=` | the home directory of that user on the machine that runs the command; `"~"`, `a~`, `~+` and values stay literal; a compile error in a redirection's file or a here-string (write the path with a value) |
//! | `$(cmd)`, `"backup-$(date +%F).tgz"` | command substitution, on the same machine, directory and environment, before the command: its stdout without trailing newlines; quoted one argument, unquoted split on spaces, tabs and newlines, never globbed or re-parsed; its own full grammar inside, nesting; **a failing substitution fails the command** and the error names it (sh would go on); not in a redirection's file or a here-string. Backticks are a compile error: write `$(...)` |
//! | `{ a; b; } > f`, `( cd x && make ) 2>&1 \| tail` | a group and a subshell, anywhere a command stands: redirections and pipes after them apply to the whole; a subshell keeps its `cd` and environment inside, a group does not; exit codes and pipefail as in sh. `{` is a word of its own (`{ a; }`, not `{a; }`); the `;` before `}` may be left out (`{ a; b }`, which sh refuses), so inside a group a bare `}` as a command's last word ends the group: quote it, `"}"`, to pass it as an argument |
//!
//! sh's reserved words as a command's name (`if`, `while`, `for`, `case`, `!`, ...) are
//! compile errors that show the Rust to write instead (a Rust `if` or loop around `sh!`);
//! quoted (`"if"`) they are ordinary words. Backticks, `$((...))`, process substitution
//! `<(...)`, here-documents and `&` are compile errors that say what to write instead.
//!
//! In the token form the compiler removes Rust comments before `sh!` sees the tokens, so
//! `sh!(ls src/**/*.js)` would reach `ls` as `src` and `*.js`: plumb reads the source around
//! the tokens and refuses a comment glued to a word, or any `/* */`, pointing to the string
//! form. A `// note` after a blank is a Rust comment, as anywhere in Rust.
//!
//! ```
//! use plumb::prelude::*;
//!
//! let name = "it's $HOME; rm -rf /"; // arrives as one argument, byte for byte
//! let files = ["a.txt", "b.txt"];
//! let n = 2;
//! let out = sh!(printf "%s|" $name $[files] ${n * 10} "n=$n" $$).read().unwrap();
//! assert_eq!(out, "it's $HOME; rm -rf /|a.txt|b.txt|20|n=2|$|");
//!
//! let url = sh!("printf '%s' https://example.com/a//b").read().unwrap();
//! assert_eq!(url, "https://example.com/a//b");
//!
//! let names = sh!(printf "%s " log{,.1} {1..3}).read().unwrap();
//! assert_eq!(names, "log log.1 1 2 3 ");
//!
//! // Globs, `~`, substitutions and groups, on whichever machine runs the command.
//! let manifests = sh!("ls *.toml").read().unwrap();
//! assert!(manifests.contains("Cargo.toml"));
//! let star = "*";
//! assert_eq!(sh!(printf "%s" $star).read().unwrap(), "*"); // a value never globs
//! assert_eq!(sh!(sh -c "echo $$HOME").read().unwrap(), sh!(echo ~).read().unwrap());
//! let line = sh!(echo "built on $(uname -s)").read().unwrap();
//! assert!(line.starts_with("built on "));
//! let count = sh!({ echo a; echo b; } | wc -l).read().unwrap();
//! assert_eq!(count.trim(), "2");
//! ```
//!
//! **No shell injection, ever.** On this machine arguments go to the program as its argv:
//! no shell sees them. Where a shell must (a remote host), every value is single-quoted in
//! one audited place ([`quote`]). Globs, `~` and `$(...)` expand only where the author
//! wrote them in the macro, never inside a value, and `$VAR` is never read from the
//! environment (`$HOME` is the Rust variable `HOME`): write `$${HOME}` inside
//! `sh -c "..."` when you want a shell to read it.
//!
//! Every mistake is a compile error a shell user understands:
//!
//! ```compile_fail
//! # use plumb::sh;
//! let _ = sh!(ls -la |); // error: `|` at the end: a command must follow the pipe
//! ```
//!
//! # `cargo fmt` and the token form
//!
//! rustfmt reformats the content of a `sh!(...)` or `sh![...]` when it also reads as Rust
//! code, keeping the tokens and respacing them: `sh!(wc -l)` becomes `sh!(wc - l)`,
//! `cd ..` becomes `cd..`, `a |& b` becomes `a | &b`, `echo {a,b}` becomes
//! `echo { a, b }`. Most commands (`ls -la ./src`, `git log --oneline -n 5`, anything with
//! `$x` or a quoted string) do not read as Rust and are never touched. plumb never runs a
//! respaced command as something else:
//!
//! - input that reads as Rust and is spaced exactly as rustfmt spaces it is checked: every
//!   other spacing of the same tokens is read as a possible original. When they all mean
//!   the same command (`a | b`, `cat < in.txt`: a file name's dot is taken as written), it
//!   runs. When only one of them is a valid command (`a |& b` for `a | &b`), the error
//!   suggests it. Otherwise the error says plumb cannot tell, without a guess.
//! - that means some commands a person writes exactly that way are refused too, because
//!   rustfmt makes the same text out of another command: `su - user`, `cat - file` (from
//!   `su -user`, `cat -file`).
//!
//! To keep rustfmt away for good, write the token form in braces, `sh! { wc -l }`: rustfmt
//! never formats a macro called with braces, and plumb takes it as written. For a whole
//! function (or `impl`, or inline `mod { }`), `#[rustfmt::skip::macros(sh)]` tells rustfmt
//! to leave its `sh!(...)` calls alone (plumb cannot see the attribute, so a shape such as
//! `su - user` still needs braces). There is no project-wide setting on stable Rust:
//! rustfmt.toml's `skip_macro_invocations = ["sh"]` and a crate-level
//! `#![rustfmt::skip::macros(sh)]` need a nightly toolchain. A line that starts with `|`,
//! `&&` or `||` continues the line before, so rustfmt's line breaks are harmless.
//!
//! # Running an `Expr`
//!
//! | call | returns | a status the check rejects |
//! |---|---|---|
//! | [`run`](Expr::run) | `()`, stdio inherited | `Err` |
//! | [`read`](Expr::read) | stdout as `String`, trailing newlines trimmed | `Err` |
//! | [`read_bytes`](Expr::read_bytes) | stdout as bytes | `Err` |
//! | [`output`](Expr::output) | [`Output`]: status, stdout, stderr | `Err` |
//! | [`code`](Expr::code) | the exit code | not an error |
//! | [`success`](Expr::success) | whether it exited with 0 | not an error |
//! | [`lines`](Expr::lines) | an iterator of lines as they come | `Err` as the last item |
//! | [`spawn`](Expr::spawn) | a [`Handle`] with stdin/stdout, `wait`, `kill` | at `wait` |
//!
//! Modifiers return a new `Expr`: [`on`](Expr::on), [`dir`](Expr::dir),
//! [`env`](Expr::env), [`env_remove`](Expr::env_remove),
//! [`stdin_bytes`](Expr::stdin_bytes), [`timeout`](Expr::timeout),
//! [`unchecked`](Expr::unchecked), [`ok_codes`](Expr::ok_codes),
//! [`stderr_to_stdout`](Expr::stderr_to_stdout), [`echo`](Expr::echo). `a | b` pipes two
//! expressions, also across machines.
//!
//! ```
//! use plumb::prelude::*;
//! use std::time::Duration;
//!
//! let sorted = sh!(sort).stdin_bytes("b\na\n").read().unwrap();
//! assert_eq!(sorted, "a\nb");
//! assert_eq!(sh!(sh -c "exit 3").code().unwrap(), 3);
//! let err = sh!(sleep 5).timeout(Duration::from_millis(50)).run().unwrap_err();
//! assert_eq!(err.kind(), plumb::ErrorKind::Timeout);
//! ```
//!
//! **Pipelines fail when any stage fails** (pipefail), and the error names that stage. A
//! stage that dies of SIGPIPE because a later one stopped reading (`yes | head -n 1`) is
//! not a failure. Data between stages on one machine flows through kernel pipes, never
//! through this process. A timeout or [`Handle::kill`] ends the whole process tree it
//! started.
//!
//! Three more calls scripts reach for: [`retry`](Expr::retry) runs again while the call
//! fails (with exponential pauses), `json` parses stdout into any
//! `serde::Deserialize` type (cargo feature `serde`), and
//! [`spawn_detached`](Expr::spawn_detached) starts a daemon that outlives the program (as
//! `nohup cmd &` would) and returns its pid, on any machine.
//!
//! ```no_run
//! use plumb::prelude::*;
//! use std::time::Duration;
//!
//! # fn main() -> Result<(), plumb::Error> {
//! let web = SshMachine::connect("deploy@web1.example.com")?;
//! let health = sh!("curl -fsS http://localhost:8080/health");
//! health.on(&web).retry(5, Duration::from_millis(200)).run()?;
//! let pid = sh!(/srv/app/worker --queue jobs > /var/log/worker.log 2>&1).on(&web).spawn_detached()?;
//! println!("worker started as pid {pid}");
//! # Ok(())
//! # }
//! ```
//!
//! **A sequence stops at its first failure** (errexit): in `a; b`, `b` runs only if `a`
//! passed its checks, and the error names `a`, whose code [`code`](Expr::code) reports.
//! This departs from `sh` on purpose, as pipefail does: `cd build; rm -rf *` must never
//! run in the wrong directory. `a && b; c` stops before `c` when `a` failed, since what
//! comes before `;` failed. Write `a || true; b` to go on whatever `a` does, or use
//! [`unchecked`](Expr::unchecked) / [`ok_codes`](Expr::ok_codes) on the whole.
//!
//! ```
//! use plumb::prelude::*;
//!
//! let err = sh!(false; echo never).read().unwrap_err();
//! assert_eq!(err.code(), Some(1));
//! assert_eq!(sh!(false || true; echo went on).read().unwrap(), "went on");
//! ```
//!
//! ```
//! use plumb::prelude::*;
//!
//! let err = sh!(echo hi | sh -c "exit 4" | cat).read().unwrap_err();
//! assert_eq!(err.code(), Some(4));
//! assert_eq!(
//!     err.to_string(),
//!     "command `echo hi | sh -c 'exit 4' | cat` on local failed: `sh -c 'exit 4'` exited with code 4"
//! );
//! ```
//!
//! # Machines
//!
//! An `Expr` not bound with [`on`](Expr::on) runs on this computer, [`local()`]. Every
//! machine implements [`Machine`]: [`which`](Machine::which),
//! [`upload`](Machine::upload)/[`download`](Machine::download) (directories recursive),
//! and [`path`](MachineExt::path), an [`MPath`] whose file operations run there.
//!
//! ```
//! use plumb::prelude::*;
//!
//! let tmp = tempfile::tempdir().unwrap();
//! let here = plumb::local().with_dir(tmp.path());
//! sh!(echo hello > greeting.txt).on(&here).run().unwrap();
//! let file = here.path("greeting.txt");
//! assert_eq!(file.read_to_string().unwrap(), "hello\n");
//! assert_eq!(here.path(".").glob("*.txt").unwrap().len(), 1);
//! ```
//!
//! # Files, on any machine
//!
//! [`MPath`] reads and writes (whole, or streamed with [`open`](MPath::open) and
//! [`create`](MPath::create) in bounded memory), stats ([`Metadata`]: size, type, mode,
//! modification time, owner), lists, [`walk`](MPath::walk)s, [`glob`](MPath::glob)s,
//! appends, touches, renames, copies on the machine itself ([`copy_to`](MPath::copy_to)),
//! makes symlinks and sets permissions. [`MachineExt::temp_dir`] gives a private directory
//! removed on drop. Every error names the path and the machine, with a kind to match on
//! ([`ErrorKind::NotFound`], [`ErrorKind::PermissionDenied`]).
//!
//! On a remote machine files go over **SFTP**: a channel of `Ssh2Machine`'s session, or
//! `ssh -s sftp` through `SshMachine`'s master, one per connection and shared by every
//! thread, so a `metadata()` costs one round trip and needs no program on the remote host.
//! A server without SFTP gets POSIX shell scripts that need nothing beyond BusyBox (BSD and
//! macOS tools work too). Transfers report progress to an observer, and
//! [`progress::Bar`] draws a terminal bar (only on a terminal):
//!
//! ```no_run
//! use plumb::prelude::*;
//!
//! # fn main() -> Result<(), plumb::Error> {
//! let web = SshMachine::connect("deploy@web1.example.com")?;
//! let conf = web.path("/etc/myapp/config.toml");
//! if conf.metadata()?.mode() & 0o077 != 0 {
//!     conf.set_permissions(0o600)?;
//! }
//! // Or `&mut |p| bar.update(p)` with a `plumb::progress::Bar`.
//! web.upload_with("target/release/myapp", "/srv/myapp/myapp.new", &mut |p| {
//!     eprint!("\r{} of {:?} bytes", p.bytes_done(), p.bytes_total());
//! })?;
//! web.path("/srv/myapp/myapp.new").rename("/srv/myapp/myapp")?;
//! # Ok(())
//! # }
//! ```
//!
//! # Remote machines
//!
//! The same expressions run on a remote host:
//!
//! - [`SshMachine`] drives the system `ssh` client, so `~/.ssh/config`, agents and jump
//!   hosts work as they do in a terminal; one OpenSSH ControlMaster connection carries every
//!   command.
//! - `Ssh2Machine` (cargo feature `ssh2`, on by default) keeps one libssh2 session: each
//!   command on its own channel, many at once (a few milliseconds each), and tunnels over
//!   the same connection.
//!
//! Both have the same calls; the example reads the same with either.
//!
//! sshd runs each command through the login user's shell, which reads its startup files
//! first: a `.bashrc` that starts pyenv or nvm costs every command 100 ms or more (plumb
//! says so once, as a `tracing` warning, when it notices at connect). Log in as a user
//! whose shell is `/bin/sh`, keep those files quick for non-interactive shells, or run many
//! small commands through a [`Session`](#sessions-many-small-commands), which starts one
//! shell for all of them.
//!
//! ```no_run
//! use plumb::prelude::*;
//! use std::net::TcpStream;
//!
//! # fn main() -> Result<(), plumb::Error> {
//! let web = SshMachine::connect("deploy@web1.example.com")?;
//! sh!(systemctl restart myapp).on(&web).run()?;
//! let log = sh!(journalctl -u myapp -n 20).on(&web).read()?;
//!
//! // Bytes cross machines through this process: local | remote.
//! let pattern = "ERROR";
//! let errors = (sh!(cat app.log).on(&plumb::local()) | sh!(grep -c $pattern).on(&web)).read()?;
//!
//! // A database listening on the remote host's localhost, reached through the connection.
//! let mut db = web.connect_sock(5432)?;
//! let forward = web.forward_local("127.0.0.1", 5432)?;
//! let _client = TcpStream::connect(forward.local_addr());
//! # Ok(())
//! # }
//! ```
//!
//! Every argument is single-quoted for the remote shell in one place ([`quote`]), the
//! command runs under `/bin/sh` whatever the login shell is (fish and tcsh included), and a
//! timeout or `kill()` ends the remote process group too. Host keys are checked against
//! `known_hosts` by default ([`HostKeyPolicy::Strict`]).
//!
//! A [`Tunnel`] or [`Forward`] keeps the machine's connection open as long as it lives,
//! like a clone of the machine: it may outlive the machine value that made it. Only
//! [`Machine::close`] or a lost connection ends it early, and then with an error (a new
//! client of a forward is closed at once; the machine's next command is a
//! [`ErrorKind::Connect`] error naming it), never a hang.
//!
//! **A terminal, when a program insists on one** ([`pty`](Expr::pty), Paramiko's
//! `get_pty`): `top`, a REPL, `sudo` under `requiretty`, colours. The job runs on a
//! terminal of the remote host, 80×24 unless [`pty_size`](Expr::pty_size) says otherwise.
//! A terminal has one output, so stderr arrives in stdout; lines end with `\r\n`; the
//! terminal does not echo; input ends as a keyboard ends it (Ctrl-D), so `cat` ends too.
//! Secret values still never travel in argv or through the terminal. The local machine
//! refuses `.pty()` with an `Unsupported` error.
//!
//! ```no_run
//! use plumb::prelude::*;
//!
//! # fn main() -> Result<(), plumb::Error> {
//! let web = SshMachine::connect("deploy@web1.example.com")?;
//! let top = sh!(top -b -n 1).on(&web).pty_size(200, 50).read()?;
//! assert_eq!(sh!(tty).on(&web).pty().read()?.get(..9), Some("/dev/pts/"));
//! # Ok(())
//! # }
//! ```
//!
//! # Sessions: many small commands
//!
//! Each command on a remote machine costs a channel and a login shell there (a few
//! milliseconds on a LAN, more with a heavy `.bashrc`). A [`Session`], from `session()` on
//! either remote machine, runs commands in persistent remote shells instead: about a
//! round trip each (0.3–0.4 ms for `true` on loopback). It is a [`Machine`] like any
//! other, and each command behaves as on the machine itself: its own subshell (`cd`,
//! variables, `umask` and traps never leak), stdout and stderr apart and byte-exact, the
//! real exit code and the same errors, `stdin_bytes`, timeouts that end the whole process
//! tree. Threads share a session's shells (four by default) instead of queueing behind
//! one. Streamed calls (`spawn`, `lines`, pipes to other machines) go through a channel
//! of their own, transparently.
//!
//! ```no_run
//! use plumb::prelude::*;
//!
//! # fn main() -> Result<(), plumb::Error> {
//! let web = SshMachine::connect("deploy@web1.example.com")?;
//! let s = web.session();
//! for unit in ["nginx", "redis", "myapp"] {
//!     let state = sh!(systemctl is-active $unit).on(&s).unchecked().read()?;
//!     println!("{unit}: {state}");
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Commands on the machine itself do not use a session unless you ask: a session's
//! output arrives when its command ends (a `run()` of a long build would print nothing
//! until then), it keeps shells and channels open on the host, and a command that leaves
//! a child running returns at once instead of waiting for it: what that child writes to
//! stdout afterwards is lost (a channel would wait until the child closed it). File
//! operations never need one: SFTP is faster still.
//!
//! # Fleets: ssh config, jump hosts, sudo, many hosts at once
//!
//! Both remote machines read the OpenSSH client config (`~/.ssh/config`, or
//! `config_file(path)`, or none with `no_config()`): `SshMachine` through ssh itself,
//! `Ssh2Machine` with a parser of its own for `Host` patterns and aliases, `HostName`,
//! `User`, `Port`, `IdentityFile` (several), `IdentitiesOnly`, `ProxyJump`,
//! `UserKnownHostsFile`, `StrictHostKeyChecking`, `ServerAliveInterval` and
//! `ConnectTimeout`. What the builder sets wins; an `Ssh2Machine`'s `Debug` shows where
//! each value came from (`port = 2222 (config)`).
//!
//! Jump hosts (`.jump("user@bastion:22")`, repeatable, or `ProxyJump`) work on both:
//! `SshMachine` chains one `ssh -W` per hop through `ProxyCommand`; `Ssh2Machine` runs
//! each hop's libssh2 session over a `direct-tcpip` channel of the one before, so
//! commands, files and tunnels work through the chain as they do directly. Every hop gets
//! the builder's identity, known_hosts file, host key policy and timeouts (never the
//! target's password), and an error names the hop that failed.
//!
//! [`Expr::sudo`] and [`Expr::sudo_as`] run commands as root or another user. The
//! password, when sudo asks for one, comes from the builder (`sudo_password(..)`, or
//! `sudo_password_from(callback)`) and reaches sudo through a file only the login user can
//! read, for the length of the command: never argv, the environment, the command's stdin,
//! a log, an error or `Debug`. A wrong one is an [`ErrorKind::Auth`] error.
//!
//! A [`Group`] runs one expression, or a transfer, on machines of any kind concurrently
//! (at most [`max_parallel`](Group::max_parallel) at a time, or [`serial`](Group::serial)),
//! and gives each host its own result: a failing or unreachable host never stops the
//! others. `run` shows every line as `host | line`, whole lines only, coloured per host on
//! a terminal; each host's work runs in a `tracing` span.
//!
//! ```no_run
//! use plumb::prelude::*;
//!
//! // web1 and web2 sit behind a bastion; their sudo takes a password.
//! let password = std::env::var("DEPLOY_SUDO_PASSWORD").unwrap_or_default();
//! let host = |name: &str| {
//!     SshMachine::builder(name)
//!         .user("deploy")
//!         .jump("deploy@bastion.example.com")
//!         .sudo_password(password.clone())
//!         .connect()
//! };
//! let fleet = plumb::Group::new()
//!     .connected(host("web1"))
//!     .connected(host("web2"))
//!     .max_parallel(2);
//! let uploaded = fleet.upload("target/release/myapp", "/tmp/myapp");
//! let installed = fleet.run(&sh!(install -m 755 /tmp/myapp /usr/local/bin/myapp).sudo());
//! let restarted = fleet.run(&sh!(systemctl restart myapp).sudo());
//! // Each error names its machine (and command): print it as it is.
//! for (_host, err) in uploaded.failures().chain(installed.failures()).chain(restarted.failures()) {
//!     eprintln!("{err}");
//! }
//! ```
//!
//! For a fleet, [`Group::connect_all`] connects many builders at once and keeps every
//! host, an unreachable one with its connection error as its result in every later call
//! (a host that accepts and never speaks ends within its builder's `connect_timeout`).
//! Connections are paced: at most [`max_connecting`](Group::max_connecting) at a time
//! (64 by default), and at most [`handshakes_per_server`](Group::handshakes_per_server) to
//! one server (8 by default, below the 10 unauthenticated connections past which
//! OpenSSH's sshd drops new ones; raise it for a bastion or a server configured with a
//! larger `MaxStartups`). An idle `Ssh2Machine` holds one file descriptor, its socket:
//! all of them are served by a few I/O threads (one per core, four at most), each polling
//! many sessions at once, as parallel-ssh's one event loop does; an `SshMachine` holds
//! two, and a process of its own. The first remote connection raises the process's soft
//! limit of open files to its hard limit, and a group that would not fit under the hard
//! limit fails before connecting anything, saying what to raise. 500 `Ssh2Machine`s and
//! 100 commands running at once fit under a desktop's 1024.
//! [`timeout_per_host`](Group::timeout_per_host) bounds each host's command, and
//! [`GroupResults::summary`] sums a call up in one line.
//!
//! For a rollout, [`batches(n)`](Group::batches) runs hosts in rolling batches (Ansible's
//! `serial`: a batch starts when the one before has ended) and
//! [`max_failures(k)`](Group::max_failures) is the failure budget: once more than `k`
//! hosts have failed, no further host starts, and their results say they were skipped.
//! [`progress()`](Group::progress) draws `done/total hosts done, N failed` on a terminal,
//! and [`output_dir`](Group::output_dir) / [`errors_dir`](Group::errors_dir) keep each
//! host's stdout and stderr in a file named after it (pssh's `-o` and `-e`).
//!
//! ```no_run
//! use plumb::prelude::*;
//! use std::time::Duration;
//!
//! # #[cfg(feature = "ssh2")]
//! # fn main() -> Result<(), plumb::Error> {
//! let hosts = (1..=300).map(|i| {
//!     Ssh2Machine::builder(format!("node{i}.example.com"))
//!         .user("deploy")
//!         .connect_timeout(Duration::from_secs(5))
//! });
//! let fleet = plumb::Group::new()
//!     .handshakes_per_server(8)
//!     .timeout_per_host(Duration::from_secs(30))
//!     .quiet()
//!     .connect_all(hosts)?;
//! let results = fleet.output(&sh!(uname -r));
//! println!("{}", results.summary()); // 298 ok, 2 failed (deploy@node7..., ...), slowest ...
//!
//! // A release: ten hosts at a time, stopping after the third failure, logs per host.
//! let rollout = fleet.batches(10).max_failures(2).progress().output_dir("logs/release");
//! let results = rollout.run(&sh!(/srv/app/deploy --version 42));
//! println!("{}", results.summary());
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "ssh2"))]
//! # fn main() {}
//! ```
//!
//! # Async
//!
//! With the cargo feature `tokio`, every expression also has async twins of its terminal
//! calls on [`Expr`]: `run_async`, `read_async`, `read_bytes_async`, `output_async`,
//! `code_async` and `success_async`, with the same results and errors as the blocking
//! calls, on every machine. Their futures own a
//! clone of the expression (`'static + Send`): spawn them, store them, await many at once.
//!
//! They take no thread per command: output pipes are read through tokio's reactor, a
//! command on an `Ssh2Machine` is woken by its connection's I/O thread when its channel
//! ends, and a timeout is tokio's timer. **Dropping a future whose command still runs
//! kills the command's whole process tree**, as a timeout does, on every machine (so an
//! awaited remote command always runs in a process group of its own; on an `Ssh2Machine`
//! its script tells its pid on stderr, in a line plumb takes out). They need a runtime
//! with IO and time enabled (`#[tokio::main]` enables both); a current-thread runtime
//! works.
//!
//! ```no_run
//! use plumb::prelude::*;
//!
//! # #[cfg(all(feature = "ssh2", feature = "tokio"))]
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() -> Result<(), plumb::Error> {
//!     let m = Ssh2Machine::builder("deploy@example.com").connect_async().await?;
//!     // A hundred commands in flight on one connection, awaited together on one thread.
//!     let mut uptimes = tokio::task::JoinSet::new();
//!     for i in 0..100 {
//!         uptimes.spawn(sh!(sh -c "echo $i; uptime").on(&m).read_async());
//!     }
//!     for out in uptimes.join_all().await {
//!         println!("{}", out?);
//!     }
//!     // A timeout, a drop, a failure: the same guarantees as the blocking calls.
//!     let slow = sh!(sleep 60).on(&m).timeout(std::time::Duration::from_secs(1));
//!     assert!(slow.run_async().await.is_err());
//!     // Lines as they come: a `Stream`; a failure is its last item.
//!     let mut log = sh!(journalctl -f -n 10).on(&m).lines_async();
//!     while let Some(line) = log.next().await {
//!         if line?.contains("ready") {
//!             break; // dropping the stream ends the command
//!         }
//!     }
//!     Ok(())
//! }
//! # #[cfg(not(all(feature = "ssh2", feature = "tokio")))]
//! # fn main() {}
//! ```
//!
//! The rest of the API has twins too, with the feature:
//!
//! | blocking | awaited |
//! |---|---|
//! | `lines` | `lines_async`: `AsyncLines`, a `futures_core::Stream` of `Result<String>` (and an inherent `next().await`) |
//! | `spawn` | `spawn_async`: `AsyncHandle`, its stdin `AsyncWrite`, its stdout `AsyncRead`, `wait().await` (cancel-safe), `kill().await` |
//! | `connect` on both builders | `connect_async` |
//! | `connect_sock`, `connect_sock_to` | `connect_sock_async`, `connect_sock_to_async`: an `AsyncTunnel`; or `Tunnel::into_async` |
//! | `Group::run`, `output`, `upload`, `download` | `run_async`, `output_async`, `upload_async`, `download_async`: each host a task, not a thread |
//! | `MPath::read`, `write`, `metadata`, `exists`, ... | `read_async`, `write_async`, `metadata_async`, `exists_async`, ... |
//!
//! Commands, streams and tunnels are the reactor's. What is not a command blocks by
//! nature and runs on tokio's blocking pool, as `tokio::fs` does: the handshake of
//! `connect_async`, a tunnel's channel opening, a path's file call, a group's copies.
//! A timeout of `lines_async` or `spawn_async` fires whether or not anyone polls.

//! # Security
//!
//! What plumb promises, on every machine:
//!
//! - **No value is ever shell text.** Arguments, paths, environment values and the names
//!   of variables (which must be `[A-Za-z_][A-Za-z0-9_]*`, else an
//!   [`ErrorKind::InvalidInput`] error) are single-quoted in one place ([`quote`]); a
//!   command's first word is quoted even when it looks like `NAME=value`, so it is always
//!   the program. A NUL byte is an error.
//! - **A failure is never reported as success.** A directory that cannot be entered is an
//!   [`ErrorKind::NotFound`] error whatever the checks; a remote job whose record of
//!   exit codes does not explain how it ended has failed.
//! - **Nobody else on the host can steer a job.** A remote job keeps its files (the status
//!   record, its process group's pid, a sudo password) in a directory of its own, mode
//!   0700, with a random name, and refuses one it did not make. A session's replies are
//!   framed by a marker new for every command, which no name or path on the host holds.
//! - **Secrets stay out of sight.** Environment values, `<<<` data and `stdin_bytes` reach
//!   a remote shell on its stdin, never in a process's arguments, which any user can read
//!   with `ps`. A sudo password goes through a file only the login user can read (mode
//!   0600, in memory where the host has `/dev/shm`), removed when the job ends or, if the
//!   connection is lost, by a watchdog on the host; never argv, the environment, the
//!   command's stdin, a log, an error or `Debug`. Jump hosts never receive the target's
//!   password.
//! - **Host keys are checked as OpenSSH checks them** ([`HostKeyPolicy`]): `@revoked`
//!   keys are refused, `[host]:port` entries are told apart, and a new key is appended
//!   under a lock, never by rewriting the file.
//! - **A hostile server gets an error, not your memory**: every length in an SFTP reply
//!   is bounded.
//!
//! What it cannot promise: root on the remote host sees everything (processes, files,
//! memory); the arguments of the commands you run are visible to `ps` there while they
//! run, as they would be from any shell; a sudo'd command receives the variables plumb
//! set as arguments of `env` (sudo resets the environment), so pass secrets to sudo'd
//! commands on stdin. [`HostKeyPolicy::Insecure`] checks nothing.
//!
//! # In a build script
//!
//! plumb runs commands from `build.rs` as well as from a program. Take it without default
//! features there: the local machine and `SshMachine` need no C library, so the build does
//! not compile libssh2 or need OpenSSL's headers.
//!
//! ```toml
//! [build-dependencies]
//! plumb-sh = { version = "0.1", default-features = false }
//! ```
//!
//! ```no_run
//! // build.rs
//! use plumb::prelude::*;
//!
//! fn main() -> Result<(), plumb::Error> {
//!     let out = std::env::var("OUT_DIR").unwrap();
//!     let version = sh!(git describe --always --dirty).read()?;
//!     std::fs::write(format!("{out}/version.txt"), version).unwrap();
//!     sh!(protoc --rust_out=$out proto/api.proto).run()?;
//!     Ok(())
//! }
//! ```
//!
//! A failing command makes `main` return the [`Error`], which cargo shows under the build
//! script's stderr: ``Error: command `protoc ...` on local exited with code 1: ...``.
//! `tests/crates/build-script` is such a crate, built by the tests.
//!
//! # Platforms
//!
//! On every Unix below, all three machines work with the same guarantees: a timeout or
//! `kill()` ends the whole process tree (a process group per process), and an
//! `SshMachine`'s master connection ends with the program however it ends, SIGKILL
//! included (a watchdog `sh` waits on a pipe that only the program holds). Remote hosts
//! need a POSIX `sh`, whatever the client.
//!
//! | client | how the test command checks it | what differs |
//! |---|---|---|
//! | Linux | the whole suite runs | nothing: the reference |
//! | macOS, x86_64 and aarch64 | clippy of the library, tests, examples and benches, with every feature and without default ones | `Ssh2Machine` sees a server's close while idle at once, but within a second when data came just before it (macOS has no `POLLRDHUP`); its packets are not gathered into fewer TCP segments (clearing macOS's `TCP_NOPUSH` does not send what waits) |
//! | FreeBSD, x86_64 | the same clippy checks | `Ssh2Machine` has no timeout for unacknowledged data (no `TCP_USER_TIMEOUT`): a link that stops answering ends when the server has been silent for three keepalive intervals, as everywhere |
//! | Windows, x86_64 (`x86_64-pc-windows-gnu`) | clippy of the library, tests and examples with every feature and without default ones; under Wine, the local machine's tests, the builtins', `Ssh2Machine`'s against an sshd of the test host, the tour's local part and a build script | see [Windows](#windows): no `SshMachine`, no `sudo`, no modes or owners; process trees in Job Objects |
//!
//! For macOS and FreeBSD the C parts (libssh2, zlib) are compiled for the target by zig,
//! against that OS's headers; OpenSSL's headers are Debian's, and nothing is linked or
//! run there (`scripts/cross-check`).
//!
//! ## Scripts that travel: builtins
//!
//! On the local machine, a command whose program is not on `PATH` runs plumb's own
//! implementation when it is one of `cat cd cp echo exit false head mkdir mv pwd rm
//! sleep test [ touch true which`. So `sh!(mkdir -p out && echo hi > out/a.txt && cp
//! out/a.txt b.txt && rm -rf out)` runs unchanged on Windows, while on Linux and macOS
//! the real programs still run. Each builtin takes the options scripts use (`rm -rfd`,
//! `mkdir -p -m`, `cp -rRapf`, `mv -fn`, `head -n N`/`-N`/`-c N`, `cat -`, `echo -neE`,
//! `touch -acm`, `pwd -LP`, `which -a`, and `test`'s `-e -f -d -s -r -w -x -L -z -n = !=
//! < > -eq -ne -lt -le -gt -ge -nt -ot -ef ! -a -o ( )`); an option it does not know is
//! an error that names the builtin and the option (exit code 1, `test`'s 2), never a
//! silent difference. A builtin runs on a thread of its own with the streams a process
//! would get: redirections, pipes, exit codes, timeouts and kills behave as with a
//! program (a write into a pipe nobody reads ends it as SIGPIPE would; a kill ends it as
//! SIGKILL, leaving a builtin blocked on a read of a stream nobody closes to end with
//! that stream). `exit N` ends the list of commands it is in, as it ends a script.
//! `which` finds programs only.
//!
//! To force one or the other: a path (`/bin/rm`, `.\rm.exe`) always names the program;
//! [`LocalMachine::with_builtins`] takes [`Builtins::Always`] (the same behaviour on
//! every OS, whatever is installed) or [`Builtins::Never`] (a missing program is a
//! `NotFound` error). `sudo`'d commands never run builtins.
//!
//! ```
//! use plumb::prelude::*;
//! use plumb::Builtins;
//! let portable = plumb::local().with_builtins(Builtins::Always);
//! assert_eq!(sh!(echo -n hi).on(&portable).read()?, "hi");
//! # Ok::<(), plumb::Error>(())
//! ```
//!
//! ## Windows
//!
//! - The local machine is complete: commands, pipelines through kernel pipes, every
//!   redirection, `cd`, environment, globs. Programs are found on `PATH` with `PATHEXT`,
//!   so `.cmd` and `.bat` files run by their names; std escapes their arguments so that
//!   `cmd` reads none of them as a command, and refuses what it cannot escape (a line
//!   break): an [`ErrorKind::InvalidInput`] naming the program, and nothing runs
//!   (CVE-2024-24576, "BatBadBut").
//! - A timeout or `kill()` ends the whole tree: each job's processes are in a Job Object
//!   (each created suspended, assigned, then resumed, so that nothing it starts escapes),
//!   which the kill terminates. The job object also ends what is left if this program
//!   dies, as the watchdog does on Unix. A killed process reports SIGKILL (`signal()`
//!   is `Some(9)`), as on Unix.
//! - Files go through `std::fs`. Windows has no permission bits, owner or group:
//!   [`Metadata::unix_mode`], [`Metadata::uid`] and [`Metadata::gid`] are `None` (and
//!   [`Metadata::mode`] 0); [`Metadata::readonly`] is the read-only attribute, which is
//!   what `set_permissions` sets (from the `0o200` bit) and what a copy keeps. Symbolic
//!   links need Developer Mode or the privilege to create them. `MPath` takes drive
//!   letters and `\` (and `/`) for local paths; a remote path joins with `/`.
//! - `sudo` does not exist: a sudo'd command fails with [`ErrorKind::Unsupported`].
//!   `spawn_detached` takes one program (there is no `sh` to run the rest).
//! - [`SshMachine`] is unsupported: it stands on OpenSSH's ControlMaster (a socket many
//!   `ssh` processes share), which the ssh client of Windows lacks. Running one full
//!   connection per command would change what `SshMachine` promises (one login, shared
//!   sessions and tunnels) and its cost, so `connect` fails at once with
//!   [`ErrorKind::Unsupported`] naming `Ssh2Machine`, which works there.
//! - `Ssh2Machine` works: its I/O thread polls with `WSAPoll`, its wake-up channel and
//!   tunnels are loopback TCP pairs, and each stream of a job is relayed to a socket by a
//!   thread (Windows cannot poll pipes). libssh2 uses OpenSSL there too, built from
//!   source (its Windows crypto, WinCNG, cannot talk to today's OpenSSH): building it
//!   needs Perl (and `make` with the GNU toolchain). A dead link is found when a write
//!   fails (Windows gives no silence measure to check the keepalive replies by).
//! - Remote paths and arguments go as UTF-8: an OS string with an unpaired surrogate (no
//!   UTF-8 for it) is refused with [`ErrorKind::InvalidInput`]; a remote name that is not
//!   UTF-8 is an error rather than a mangled name.
//!
//! The test command builds everything but the benches for `x86_64-pc-windows-gnu`
//! (clippy with every feature and without default ones) and runs under Wine the local
//! machine's test bodies (with the builtins as fallback and forced), the Windows
//! specifics, `Ssh2Machine` against an sshd of the test host, the tour's local part and a
//! build script.
//!
//! # Cargo features
//!
//! - `ssh2` (default): `Ssh2Machine`, over libssh2 and OpenSSL. Without it the dependency
//!   tree has neither.
//! - `progress` (default): [`progress::Bar`], a terminal progress bar for transfers
//!   (indicatif). The observer API ([`Machine::upload_with`]) is there without it.
//! - `serde`: `Expr::json`, stdout parsed as JSON into a `serde::Deserialize` type
//!   (serde_json).
//! - `tokio`: the async twins of the terminal calls (see [Async](#async)).
//!
//! # Renamed or re-exported
//!
//! The package is `plumb-sh` (the name `plumb` on crates.io is another project's); its
//! library is `plumb`, so `plumb-sh = "0.1"` gives `use plumb::prelude::*;`.
//!
//! `sh!` reaches the runtime through `$crate`, so it works under another name
//! (`shellx = { package = "plumb-sh", ... }`, then `shellx::sh!`) and when a crate of yours
//! re-exports it (`pub use plumb::sh;`) for crates that do not depend on plumb themselves.
//!
//! # Observability
//!
//! Every command emits a `tracing` event (target `plumb`) with the machine, the command
//! line, its status and how long it took. [`Expr::echo`] prints `$ command` to stderr
//! before running, like `set -x`.
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use plumb_runtime::*;

/// Parses shell syntax at compile time into a lazy [`Expr`]; see the crate documentation
/// for the grammar.
///
/// ```
/// let greeting = "hello world";
/// assert_eq!(plumb::sh!(echo $greeting | tr a-z A-Z).read()?, "HELLO WORLD");
/// # Ok::<(), plumb::Error>(())
/// ```
///
/// It names the runtime through `$crate`, so it works when the dependency is renamed
/// (`shellx = { package = "plumb-sh", .. }`) and when another crate re-exports it.
#[macro_export]
macro_rules! sh {
    ($($shell:tt)*) => {
        $crate::__sh_in!($crate; $($shell)*)
    };
}

#[doc(hidden)]
pub use plumb_macros::sh_in as __sh_in;

/// Everything a script needs: `use plumb::prelude::*;` brings [`sh!`], [`Expr`], the
/// machines and [`MPath`].
pub mod prelude {
    pub use crate::sh;
    pub use plumb_runtime::prelude::*;
}

/// The README's examples compile.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

//! `Expr`: a lazy, immutable, machine-independent command tree.

use std::ffi::{OsStr, OsString};
use std::ops::BitOr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::arg::ToArg;
use crate::model::word::{Expansion, Word};
// The one upward edge of the model, on purpose: an `Expr` is bound to a machine (`.on`).
// Its terminal calls live with the code that runs it (`run::calls`).
use crate::machine::Machine;

/// A command, pipeline or sequence that has not run yet.
///
/// Made by `plumb::sh!` (or [`cmd`](crate::cmd)), cheap to clone (an `Arc`), and
/// immutable: every modifier returns a new `Expr`. Nothing runs until a terminal call:
/// [`run`](Expr::run), [`read`](Expr::read), [`read_bytes`](Expr::read_bytes),
/// [`output`](Expr::output), [`code`](Expr::code), [`success`](Expr::success),
/// [`lines`](Expr::lines) or [`spawn`](Expr::spawn).
///
/// ```
/// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
/// let words = sh!(printf "b\na\nc\n" | sort);
/// assert_eq!(words.read().unwrap(), "a\nb\nc");
/// assert_eq!(words.read().unwrap(), "a\nb\nc"); // an Expr can run again
/// ```
#[derive(Clone)]
#[must_use = "an `Expr` does nothing until a terminal call such as `.run()`"]
pub struct Expr(pub(crate) Arc<Inner>);

#[derive(Clone)]
pub(crate) struct Inner {
    pub(crate) node: Node,
    pub(crate) opts: Opts,
}

#[derive(Clone)]
pub(crate) enum Node {
    Cmd(Cmd),
    /// Stages, and whether each one's stderr also goes into the pipe after it (`|&`).
    Pipe(Vec<(Expr, bool)>),
    /// Items run in order; each item's operator decides whether it runs (`;`, `&&`, `||`).
    Seq(Vec<(SeqOp, Expr)>),
    /// `cd dir`: changes the directory for the rest of its sequence.
    Cd(Word),
    /// `{ body; }` (a group: a `cd` or variable inside goes on after it) or `( body )` (a
    /// subshell: they end with it), with redirections that apply to the whole.
    Block {
        body: Expr,
        subshell: bool,
        redirects: Vec<Redirect>,
    },
}

#[derive(Clone)]
pub(crate) struct Cmd {
    pub(crate) argv: Vec<OsString>,
    pub(crate) env: Vec<(OsString, OsString)>,
    pub(crate) redirects: Vec<Redirect>,
    /// Words the machine expands (globs, `~`, `$(...)`), when some are: then they, not
    /// `argv` and the values of `env`, are the command line.
    pub(crate) expand: Option<Arc<Expansion>>,
}

impl Cmd {
    /// A command line of plain words.
    pub(crate) fn plain(argv: Vec<OsString>) -> Cmd {
        Cmd {
            argv,
            env: Vec::new(),
            redirects: Vec::new(),
            expand: None,
        }
    }
}

/// How an item of a sequence decides whether it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SeqOp {
    /// `;`: always.
    Then,
    /// `&&`: when the previous status is success.
    And,
    /// `||`: when the previous status is failure.
    Or,
}

/// A redirection written in `sh!`, performed on the machine that runs the command.
#[derive(Clone, Debug)]
pub(crate) enum Redirect {
    /// `>`, `>>`, `2>`, `2>>`
    Out {
        fd: u8,
        append: bool,
        path: OsString,
    },
    /// `&>`, `&>>`
    OutAll { append: bool, path: OsString },
    /// `< path`
    In(OsString),
    /// `<<< value`
    Here(Vec<u8>),
    /// `2>&1`, `>&2`
    Dup { from: u8, to: u8 },
}

/// Which exit codes count as success.
#[derive(Clone)]
pub(crate) enum Check {
    Codes(Arc<[i32]>),
    Unchecked,
}

#[derive(Clone, Default)]
pub(crate) struct Opts {
    pub(crate) machine: Option<Arc<dyn Machine>>,
    pub(crate) dir: Option<PathBuf>,
    /// Applied in order; `None` removes the variable.
    pub(crate) env: Vec<(OsString, Option<OsString>)>,
    pub(crate) stdin: Option<Arc<[u8]>>,
    pub(crate) timeout: Option<Duration>,
    /// `None`: a command succeeds with code 0; a pipeline or sequence when its parts do.
    pub(crate) check: Option<Check>,
    pub(crate) stderr_to_stdout: bool,
    pub(crate) echo: bool,
    /// Run this node's commands under sudo (the innermost setting wins).
    pub(crate) sudo: Option<crate::model::sudo::Sudo>,
    /// Attempts after a failure, and the first pause between two (doubling).
    pub(crate) retry: Option<(u32, Duration)>,
    /// Run the job on a terminal of this size (columns, rows): see [`Expr::pty`].
    pub(crate) pty: Option<(u16, u16)>,
}

impl Opts {
    /// Whether `status` passes this node's check; `parts_ok` is the verdict of its parts
    /// (for a command: whether it exited with 0).
    pub(crate) fn judge(&self, status: &crate::ExitStatus, parts_ok: bool) -> bool {
        match &self.check {
            None => parts_ok,
            Some(Check::Unchecked) => true,
            Some(Check::Codes(codes)) => status.code().is_some_and(|c| codes.contains(&c)),
        }
    }
}

impl Expr {
    pub(crate) fn from_node(node: Node) -> Expr {
        Expr(Arc::new(Inner {
            node,
            opts: Opts::default(),
        }))
    }

    /// The expressions directly inside this one, in the order they run: a pipeline's
    /// stages, a sequence's items, a block's body, the substitutions in a command's (or a
    /// `cd`'s) words.
    pub(crate) fn children(&self) -> Vec<&Expr> {
        match self.node() {
            Node::Pipe(stages) => stages.iter().map(|(e, _)| e).collect(),
            Node::Seq(items) => items.iter().map(|(_, e)| e).collect(),
            Node::Block { body, .. } => vec![body],
            Node::Cd(word) => word.substitutions().collect(),
            Node::Cmd(cmd) => match &cmd.expand {
                Some(x) => x.words().flat_map(Word::substitutions).collect(),
                None => Vec::new(),
            },
        }
    }

    pub(crate) fn node(&self) -> &Node {
        &self.0.node
    }

    pub(crate) fn opts(&self) -> &Opts {
        &self.0.opts
    }

    fn with(&self, f: impl FnOnce(&mut Opts)) -> Expr {
        let mut inner = (*self.0).clone();
        f(&mut inner.opts);
        Expr(Arc::new(inner))
    }

    // ----------------------------------------------------------------------------------
    // Modifiers.

    /// Runs this expression on `machine` (parts already bound elsewhere stay there).
    ///
    /// ```
    /// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
    /// let here = plumb::local();
    /// assert_eq!(sh!(echo hi).on(&here).read().unwrap(), "hi");
    /// ```
    pub fn on<M: Machine + Clone + 'static>(&self, machine: &M) -> Expr {
        let machine: Arc<dyn Machine> = Arc::new(machine.clone());
        self.with(|o| o.machine = Some(machine))
    }

    /// Like [`on`](Expr::on), for a machine already behind an `Arc`.
    pub fn on_dyn(&self, machine: Arc<dyn Machine>) -> Expr {
        self.with(|o| o.machine = Some(machine))
    }

    /// Runs in `dir` (relative to the machine's directory).
    ///
    /// ```
    /// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
    /// assert_eq!(sh!(pwd).dir("/").read().unwrap(), "/");
    /// ```
    pub fn dir(&self, dir: impl AsRef<Path>) -> Expr {
        let dir = dir.as_ref().to_path_buf();
        self.with(|o| {
            o.dir = Some(match o.dir.take() {
                Some(old) => old.join(dir),
                None => dir,
            })
        })
    }

    /// Sets an environment variable.
    ///
    /// ```
    /// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
    /// assert_eq!(sh!(sh -c "echo $$X").env("X", "1").read().unwrap(), "1");
    /// ```
    pub fn env(&self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Expr {
        let (k, v) = (key.as_ref().to_owned(), value.as_ref().to_owned());
        self.with(|o| o.env.push((k, Some(v))))
    }

    /// Removes an environment variable.
    ///
    /// ```
    /// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
    /// let out = sh!(sh -c "echo $${HOME-unset}").env_remove("HOME").read().unwrap();
    /// assert_eq!(out, "unset");
    /// ```
    pub fn env_remove(&self, key: impl AsRef<OsStr>) -> Expr {
        let k = key.as_ref().to_owned();
        self.with(|o| o.env.push((k, None)))
    }

    /// Feeds `bytes` to stdin.
    ///
    /// ```
    /// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
    /// assert_eq!(sh! { wc -c }.stdin_bytes("abc").read().unwrap().trim(), "3");
    /// ```
    pub fn stdin_bytes(&self, bytes: impl Into<Vec<u8>>) -> Expr {
        let bytes: Arc<[u8]> = bytes.into().into();
        self.with(|o| o.stdin = Some(bytes))
    }

    /// Kills the whole process tree when it runs longer than `timeout`; the call then fails
    /// with [`ErrorKind::Timeout`](crate::ErrorKind::Timeout).
    ///
    /// ```
    /// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
    /// use std::time::Duration;
    /// let err = sh!(sleep 10).timeout(Duration::from_millis(100)).run().unwrap_err();
    /// assert_eq!(err.kind(), plumb::ErrorKind::Timeout);
    /// ```
    pub fn timeout(&self, timeout: Duration) -> Expr {
        self.with(|o| o.timeout = Some(timeout))
    }

    /// Accepts every exit status: a non-zero exit is not an error.
    ///
    /// ```
    /// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
    /// assert!(sh!(false).unchecked().run().is_ok());
    /// ```
    pub fn unchecked(&self) -> Expr {
        self.with(|o| o.check = Some(Check::Unchecked))
    }

    /// Accepts exactly these exit codes.
    ///
    /// ```
    /// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
    /// assert!(sh!(sh -c "exit 1").ok_codes(&[0, 1]).run().is_ok());
    /// ```
    pub fn ok_codes(&self, codes: &[i32]) -> Expr {
        let codes: Arc<[i32]> = codes.into();
        self.with(|o| o.check = Some(Check::Codes(codes)))
    }

    /// Sends stderr where stdout goes, like a trailing `2>&1`.
    ///
    /// ```
    /// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
    /// let out = sh!(sh -c "echo err >&2").stderr_to_stdout().read().unwrap();
    /// assert_eq!(out, "err");
    /// ```
    pub fn stderr_to_stdout(&self) -> Expr {
        self.with(|o| o.stderr_to_stdout = true)
    }

    /// Runs every command of this expression as root through `sudo`, as
    /// `sudo cmd args` in a shell would: redirections stay the caller's, so write a root-owned
    /// file with `tee` (`sh!(tee /etc/motd <<< $text)`), not `>`.
    ///
    /// The password, when sudo needs one, is the machine's: `.sudo_password(..)` on the
    /// remote builders, [`LocalMachine::with_sudo_password`](crate::LocalMachine::with_sudo_password)
    /// here. It reaches sudo through a private file that its askpass helper reads, never
    /// through argv, the environment or the command's stdin, and sudo checks it every time
    /// (`-k`). Without a password, sudo must not need one (`NOPASSWD`): it then fails at once
    /// instead of waiting for a terminal. A refused password or user is an
    /// [`ErrorKind::Auth`](crate::ErrorKind::Auth) error.
    ///
    /// Variables set through plumb (`.env`, `with_env`, `K=V` in `sh!`) reach the command
    /// (through `env`, as sudo resets the environment); the directory is kept.
    ///
    /// ```no_run
    /// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
    /// let host = plumb::SshMachine::builder("web1").sudo_password("s3cret").connect()?;
    /// sh!(systemctl restart nginx).on(&host).sudo().run()?;
    /// # Ok::<(), plumb::Error>(())
    /// ```
    pub fn sudo(&self) -> Expr {
        self.with(|o| o.sudo = Some(crate::model::sudo::Sudo { user: None }))
    }

    /// Like [`sudo`](Expr::sudo), as `user` (`sudo -u user`).
    ///
    /// ```no_run
    /// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
    /// let me = sh!(id -un).sudo_as("postgres").read()?;
    /// assert_eq!(me, "postgres");
    /// # Ok::<(), plumb::Error>(())
    /// ```
    pub fn sudo_as(&self, user: impl AsRef<OsStr>) -> Expr {
        let user = Some(user.as_ref().to_owned());
        self.with(|o| o.sudo = Some(crate::model::sudo::Sudo { user }))
    }

    /// Prints `$ command` to stderr before running, like `set -x`.
    pub fn echo(&self) -> Expr {
        self.with(|o| o.echo = true)
    }

    /// Runs again, up to `times` more, while the call fails: after `pause`, then twice
    /// that, and so on (exponential backoff). For the calls that wait for the end (`run`,
    /// `read`, `read_bytes`, `output`, `code`, `success`); a streamed call (`lines`,
    /// `spawn`) runs once. An input that can never run (`InvalidInput`) is not retried.
    /// The error is the last attempt's; each retry is a `tracing` event.
    ///
    /// ```
    /// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
    /// use std::time::Duration;
    /// let flag = std::env::temp_dir().join(format!("plumb-retry-{}", std::process::id()));
    /// // Fails the first time (and creates the flag), works the second.
    /// let flaky = sh!(sh -c "test -e \"$$0\" || { touch \"$$0\"; exit 1; }" $flag);
    /// flaky.retry(3, Duration::from_millis(10)).run().unwrap();
    /// # std::fs::remove_file(flag).unwrap();
    /// ```
    pub fn retry(&self, times: u32, pause: Duration) -> Expr {
        self.with(|o| o.retry = Some((times, pause)))
    }

    /// Runs the job on a terminal (a PTY) of 80 columns and 24 rows on the remote host,
    /// for a program that insists on one or behaves differently on one (`top`, `sudo`
    /// with `requiretty`, a REPL, colours): Paramiko's `get_pty`, fabric's `pty=True`.
    /// It applies to the whole job this expression is part of, which runs on a channel
    /// of its own (also from a session); on a pipeline across machines, to each machine's
    /// part.
    ///
    /// A terminal changes what the job's streams are, as `ssh -t` does:
    /// - **stderr goes into stdout**: a terminal has one output, so `output().stderr` is
    ///   empty, and an error's message has no stderr to show (what the terminal showed
    ///   is in [`Error::stdout`](crate::Error::stdout) when the call captured it);
    /// - output is what a terminal receives: lines end with `\r\n` (`read` trims the
    ///   last one) and a program may add colours or cursor moves;
    /// - the terminal does not echo: the output is what the program wrote;
    /// - input goes through the terminal as typed input does, and its end is sent as the
    ///   terminal's end-of-file (Ctrl-D), so `cat` ends as it would at a keyboard; a job
    ///   with no input gets an end-of-file at once. The terminal edits lines: a line
    ///   longer than 4095 bytes is cut there, and control characters act (Ctrl-C
    ///   interrupts, Ctrl-Z, Ctrl-U and the like edit or signal): send data a program
    ///   must get byte for byte without `.pty()`. When the input is this process's own
    ///   terminal (`SshMachine`), the user types into the job, and the terminal is set
    ///   back after it even when it is killed; this process's stdin when it is not a
    ///   terminal is not read, as on `Ssh2Machine`;
    /// - values that may be secret (environment values, `<<<` data) still never travel
    ///   in argv, nor through the terminal, whose line editing would change them: they go
    ///   through a private file on the host, one extra round trip.
    ///
    /// The window size is fixed when the job starts ([`pty_size`](Expr::pty_size) sets
    /// it); the terminal type is `xterm`. On the local machine a PTY is not supported (an
    /// [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported) error): run the program
    /// with this process's own terminal (`spawn` with inherited streams) instead.
    ///
    /// ```no_run
    /// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
    /// let host = plumb::SshMachine::builder("web1").connect()?;
    /// let tty = sh!(tty).on(&host).pty().read()?;
    /// assert!(tty.starts_with("/dev/pts/"));
    /// let top = sh!(top -b -n 1).on(&host).pty().read()?;
    /// # Ok::<(), plumb::Error>(())
    /// ```
    pub fn pty(&self) -> Expr {
        self.pty_size(80, 24)
    }

    /// Like [`pty`](Expr::pty), on a terminal of `cols` columns and `rows` rows (what
    /// `stty size` and `$COLUMNS`-aware programs see).
    ///
    /// ```no_run
    /// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
    /// let host = plumb::SshMachine::builder("web1").connect()?;
    /// assert_eq!(sh!(stty size).on(&host).pty_size(132, 50).read()?, "50 132");
    /// # Ok::<(), plumb::Error>(())
    /// ```
    pub fn pty_size(&self, cols: u16, rows: u16) -> Expr {
        self.with(|o| o.pty = Some((cols.max(1), rows.max(1))))
    }

    /// The terminal size the job runs on, when some node of it asked for one (the
    /// outermost wins).
    pub(crate) fn pty_wanted(&self) -> Option<(u16, u16)> {
        self.opts()
            .pty
            .or_else(|| self.children().into_iter().find_map(Expr::pty_wanted))
    }
}

/// `a | b` pipes two expressions, also when they run on different machines (the bytes then
/// flow through this process).
///
/// ```
/// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
/// let upper = sh!(echo hi) | sh!(tr a-z A-Z);
/// assert_eq!(upper.read().unwrap(), "HI");
/// ```
impl BitOr for Expr {
    type Output = Expr;

    fn bitor(self, rhs: Expr) -> Expr {
        pipe(vec![(self, false), (rhs, false)])
    }
}

impl BitOr<&Expr> for &Expr {
    type Output = Expr;

    fn bitor(self, rhs: &Expr) -> Expr {
        self.clone() | rhs.clone()
    }
}

/// Builds a pipeline, flattening nested pipelines without their own options.
pub(crate) fn pipe(stages: Vec<(Expr, bool)>) -> Expr {
    let mut flat = Vec::new();
    for (stage, all) in stages {
        match stage.node() {
            Node::Pipe(inner) if stage.opts().is_plain() => {
                let n = inner.len();
                for (i, (e, a)) in inner.iter().enumerate() {
                    flat.push((e.clone(), if i + 1 == n { all } else { *a }));
                }
            }
            _ => flat.push((stage, all)),
        }
    }
    Expr::from_node(Node::Pipe(flat))
}

impl Opts {
    /// No modifier set: the node means exactly its content.
    pub(crate) fn is_plain(&self) -> bool {
        self.machine.is_none()
            && self.dir.is_none()
            && self.env.is_empty()
            && self.stdin.is_none()
            && self.timeout.is_none()
            && self.check.is_none()
            && !self.stderr_to_stdout
            && !self.echo
            && self.retry.is_none()
            && self.pty.is_none()
    }
}

/// Starts a command from its program and arguments, without the macro: for command lines
/// built at run time.
///
/// ```
/// # extern crate plumb_runtime as plumb;
/// let args = vec!["hello", "world"];
/// assert_eq!(plumb::cmd("echo", &args).read().unwrap(), "hello world");
/// ```
pub fn cmd<P, I>(program: P, args: I) -> Expr
where
    P: ToArg,
    I: IntoIterator,
    I::Item: ToArg,
{
    let mut argv = vec![program.to_arg()];
    argv.extend(args.into_iter().map(|a| a.to_arg()));
    Expr::from_node(Node::Cmd(Cmd::plain(argv)))
}

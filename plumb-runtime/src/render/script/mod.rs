//! An `Expr` rendered once into a POSIX `sh` script, for machines that run commands through
//! a remote shell (`SshMachine`, `Ssh2Machine`, sessions).
//!
//! What the script guarantees, without bash:
//! - every argument, directory and file name is single-quoted ([`crate::render::quote`]),
//!   a command's first word even when it holds `=`, so no value is ever interpreted;
//! - values that may be secret (environment values, `<<<` data, `stdin_bytes` of inner
//!   nodes) are not in the script at all when it travels as a process argument (the local
//!   `ssh`'s, the remote `sh -c`'s, which any user can read with `ps`): they come first
//!   on the command's stdin, one line each, read by the shell's `read` builtin
//!   ([`Secrets::Stdin`]); in a session's shell, whose scripts arrive on its stdin, they
//!   stay inline;
//! - pipelines fail when any stage fails (pipefail), the rightmost failing stage deciding,
//!   a stage that died of SIGPIPE before the last one excepted, each stage judged by its
//!   own `ok_codes`/`unchecked`;
//! - `;` goes on only after a success (errexit), as on every machine
//!   ([`Outcome::runs_next`](crate::model::job::Outcome::runs_next));
//! - each command that exits non-zero appends `index code` to a status file, and a `cd`
//!   into the handle's or the expression's directory that fails appends `c0`/`c1 code`,
//!   so that after a failure the caller can judge the tree and name what failed
//!   ([`failed_stage`]);
//! - the status file, the pid file and the sudo password file live in a directory of the
//!   job's own ([`ScriptFiles`]): a random name, made with mode 0700 by whichever step
//!   needs it first, and accepted only if it is a real directory this user owns, so no
//!   other user can plant or read anything there;
//! - with `kill_tree`, the script writes its pid (which leads the process group of the
//!   whole job, since sshd starts every session with `setsid`), so that a kill can reach
//!   every process, and a watchdog ends the group if the connection goes.

use crate::sys::OsBytes;
use std::collections::HashMap;
use std::ffi::OsStr;

use crate::model::expr::{Check, Cmd, Expr, Node, Opts, Redirect, SeqOp};
use crate::model::sudo::{self, uses_sudo, Sudo};
use crate::render::quote::{quote_into, quote_program_into};

mod words;

/// The job's private directory on the host and what it holds.
#[derive(Clone, Debug)]
pub(crate) struct ScriptFiles {
    /// Absolute; a random name nobody can guess before the job starts.
    pub dir: String,
    /// The sudo password file (`pw`) is in it, written before the job starts.
    pub askpass: bool,
    /// With `kill_tree`: the script reports its pid as its first line on stderr, `MARKER
    /// PID`, which the transport takes out (see `Transport::exec_reporting_pid`), instead
    /// of writing a pid file; the job then needs no directory to be killed.
    pub pid_marker: Option<String>,
}

impl ScriptFiles {
    /// A directory in `/tmp` that nothing has made yet.
    pub(crate) fn new() -> ScriptFiles {
        ScriptFiles {
            dir: format!("/tmp/.plumb-{}", nonce()),
            askpass: false,
            pid_marker: None,
        }
    }

    /// Where the script records its pid, with `kill_tree`.
    pub(crate) fn pid(&self) -> String {
        format!("{}/pid", self.dir)
    }

    /// The sudo password file, when the job has one.
    pub(crate) fn askpass_file(&self) -> Option<String> {
        self.askpass.then(|| format!("{}/pw", self.dir))
    }
}

/// 128 random bits in hex: a name nobody can guess.
pub(crate) fn nonce() -> String {
    crate::sys::random_token()
}

/// The machine-level context a script starts in: a directory and environment changes.
#[derive(Clone, Debug, Default)]
pub(crate) struct Context {
    pub dir: Option<std::path::PathBuf>,
    pub env: Vec<(std::ffi::OsString, Option<std::ffi::OsString>)>,
}

impl Context {
    /// The context inside `dir` (relative to the current directory).
    pub(crate) fn with_dir(&self, dir: &std::path::Path) -> Context {
        Context {
            dir: Some(join(self.dir.as_deref(), dir)),
            env: self.env.clone(),
        }
    }

    /// The context with one more environment variable.
    pub(crate) fn with_env(&self, key: &std::ffi::OsStr, value: &std::ffi::OsStr) -> Context {
        let mut env = self.env.clone();
        env.push((key.to_owned(), Some(value.to_owned())));
        Context {
            dir: self.dir.clone(),
            env,
        }
    }
}

/// A script for `sh -c` and what must reach it on stdin before the command's own input.
#[derive(Debug)]
pub(crate) struct Rendered {
    pub script: Vec<u8>,
    /// The values the script reads first (see [`Secrets::Stdin`]); empty when none.
    pub preamble: Vec<u8>,
    /// The status file records every command's code, not just failures: some node below
    /// the root has checks of its own, and the caller judges even a success from it.
    pub records_all: bool,
    /// How many bytes at the start of `script` read the preamble.
    pub reads_len: usize,
    /// The script `exec`s its one command (see [`render`]): a signal that ends the job
    /// ended that command, not a shell.
    pub execs: bool,
}

/// Renders `expr` into a script for `sh -c`, its secret values moved to stdin.
///
/// `signals_seen`: the transport tells a command killed by a signal from one that exited
/// (libssh2's exit-signal; the `ssh` client exits with 255 for both a signal and a lost
/// connection). Then a single command is left for the shell to `exec` (one fork less on
/// the server per command), and the caller turns a signal into the shell's 128 + N.
///
/// `guarded` (with `kill_tree`): a watchdog also ends the tree if the connection is lost
/// (see [`Job::guarded`](crate::model::job::Job::guarded)); without it the job is only
/// killable, by [`kill_command`], and costs the host a process less.
pub(crate) fn render(
    expr: &Expr,
    ctx: &Context,
    files: &ScriptFiles,
    (kill_tree, guarded): (bool, bool),
    signals_seen: bool,
) -> Rendered {
    let mode = match signals_seen {
        true => Mode::ChannelSeeingSignals,
        false => Mode::Channel,
    };
    render_with(expr, ctx, files, (kill_tree, guarded), mode)
}

/// [`render`] for a subshell `( ... )` of a session's shell, which reads it on its stdin
/// (so values stay inline): a single command is left last, so that the subshell execs it
/// instead of forking again (a fork is 0.45 ms on a small VM); its status, 128 + N after
/// a signal, is the subshell's.
pub(crate) fn render_in_subshell(
    expr: &Expr,
    ctx: &Context,
    files: &ScriptFiles,
    kill_tree: bool,
) -> Rendered {
    render_with(expr, ctx, files, (kill_tree, kill_tree), Mode::Subshell)
}

/// The script that starts `expr` detached from everything plumb watches and prints its
/// pid: no status record, no watchdog, HUP ignored, stdio `/dev/null` unless redirected.
/// Its secret values travel as for [`render`]: read from stdin by this script, then handed
/// to the detached shell through its environment, never its argv. The directories are
/// entered here first, and a single command's program looked up, so that what cannot start
/// fails this script rather than the detached one, which nobody hears from.
pub(crate) fn render_detached(expr: &Expr, ctx: &Context) -> Rendered {
    let files = ScriptFiles::new();
    let inner = render_with(expr, ctx, &files, (false, false), Mode::Detached);
    let (reads, body) = inner.script.split_at(inner.reads_len);
    let mut out = reads.to_vec();
    let count = inner.preamble.iter().filter(|&&b| b == b'\n').count();
    if count > 0 {
        let names: Vec<String> = (0..count).map(|i| format!("_s{i}")).collect();
        out.extend_from_slice(format!("export {}; ", names.join(" ")).as_bytes());
    }
    let mut check = Renderer::checking();
    check.context(ctx, expr.opts(), "; exit; }; ");
    out.extend_from_slice(&check.out);
    if let Node::Cmd(cmd) = expr.node() {
        if let Some(program) = cmd.argv.first() {
            out.extend_from_slice(b"command -v ");
            quote_into(program.as_bytes(), &mut out);
            out.extend_from_slice(
                b" >/dev/null || { echo \"plumb: program not found\" >&2; exit 127; }; ",
            );
        }
    }
    out.extend_from_slice(b"(trap '' HUP; exec /bin/sh -c ");
    quote_into(body, &mut out);
    out.extend_from_slice(b") </dev/null >/dev/null 2>&1 & echo $!");
    Rendered {
        script: out,
        preamble: inner.preamble,
        records_all: false,
        reads_len: 0,
        execs: false,
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// A script of its own, an argument of `sh -c`.
    Channel,
    /// [`Mode::Channel`] on a transport that reports signals (see [`render`]).
    ChannelSeeingSignals,
    /// Inside a session shell's subshell.
    Subshell,
    /// Started and left running: nobody reads a status record or kills its group.
    Detached,
}

/// Where the values that may be secret go.
enum Secrets {
    /// Quoted in the script.
    Inline,
    /// Lines on stdin, read into `_s0`, `_s1`, ... before anything else runs.
    Stdin {
        lines: Vec<u8>,
        /// Reads them back into bytes after `read` (values with a newline).
        decode: Vec<u8>,
        count: usize,
    },
}

fn render_with(
    expr: &Expr,
    ctx: &Context,
    files: &ScriptFiles,
    (kill_tree, guarded): (bool, bool),
    mode: Mode,
) -> Rendered {
    let records_all = has_inner_checks(expr, true);
    let secrets = match mode {
        Mode::Channel | Mode::ChannelSeeingSignals | Mode::Detached => Secrets::stdin(),
        Mode::Subshell => Secrets::Inline,
    };
    let mut r = Renderer::new(files.askpass_file(), secrets);
    let channel = matches!(mode, Mode::Channel | Mode::ChannelSeeingSignals);
    let marker = files.pid_marker.as_deref().filter(|_| kill_tree && channel);
    if let Some(marker) = marker {
        // First, before anything the job writes (a hex nonce: no quoting needed).
        r.raw(&format!("printf '%s %s\\n' {marker} \"$$\" >&2; "));
    }
    // The pid in a file in the job's directory, unless it travels on stderr.
    let kill_tree = kill_tree && marker.is_none();
    let simple = is_single_command(expr) && !kill_tree && !files.askpass;
    let dirs = ctx.dir.is_some() || expr.opts().dir.is_some();
    if mode == Mode::Detached {
        r.raw("_p() { return \"$2\"; }; ");
    } else if !simple || dirs {
        r.raw("D=");
        r.quoted(files.dir.as_bytes());
        // The job's directory, made on first use; one that exists already must be a
        // directory of ours (made by another step of this job), never someone else's.
        r.raw(
            "; _d() { mkdir -m 700 \"$D\" 2>/dev/null || \
             { [ -d \"$D\" ] && [ ! -h \"$D\" ] && [ -O \"$D\" ]; } || \
             { echo \"plumb: $D is not this job's own directory\" >&2; return 1; }; }; ",
        );
        r.raw(if records_all {
            "_p() { _d && echo \"$1 $2\" >>\"$D/s\"; return \"$2\"; }; "
        } else {
            "_p() { [ \"$2\" = 0 ] || { _d && echo \"$1 $2\" >>\"$D/s\"; }; return \"$2\"; }; "
        });
    }
    if simple {
        let mut execs = false;
        r.context(ctx, expr.opts(), "; exit; }; ");
        if let Node::Cmd(cmd) = expr.node() {
            // One command, waited for: `exec` would save a process, but a command killed
            // by a signal then makes ssh exit with 255, indistinguishable from a lost
            // connection; through the shell it exits with 128 + the signal, like a local
            // one's `code()`: so where the transport tells signals apart, `exec` (one
            // fork less per command on the server; Debian's dash forks for the last
            // command of `-c` too). Detached, nobody waits: `exec`, so that the pid it
            // reports is the command's own. Not with variables or `<<<`, which need the
            // shell.
            let exec = matches!(mode, Mode::Detached | Mode::ChannelSeeingSignals);
            execs = exec && may_exec(cmd);
            if execs {
                r.raw("exec ");
            }
            r.command(cmd, expr.opts().stderr_to_stdout, true);
        }
        if matches!(mode, Mode::Channel | Mode::Detached) {
            r.raw("; exit $?");
        }
        let mut rendered = r.finish(records_all);
        rendered.execs = execs && mode == Mode::ChannelSeeingSignals;
        return rendered;
    }
    if mode == Mode::Detached {
        r.raw("exec 4>&1; _ret() { return \"$1\"; }; { ");
        r.context(ctx, expr.opts(), "; }; } && { ");
        r.node_body(expr);
        r.raw("; }");
        return r.finish(false);
    }
    r.raw("exec 4>&1; _ret() { return \"$1\"; }; ");
    let watchdog = (kill_tree && guarded) || files.askpass;
    if kill_tree {
        r.raw("_d || exit 125; printf '%s' $$ >\"$D/pid\"; ");
        r.raw(KILLED_MARK);
    }
    if watchdog {
        r.watchdog(expr, files, kill_tree);
    }
    r.raw("{ ");
    r.context(ctx, expr.opts(), "; }; } && { ");
    r.node_body(expr);
    r.raw("; }; _rc=$?; ");
    if watchdog {
        // KILL: the watchdog ignores TERM.
        r.raw("kill -KILL $_wd 2>/dev/null; ");
    }
    if !records_all {
        // After a failure the caller reads the status file, then removes the directory.
        r.raw("[ $_rc = 0 ] && [ -d \"$D\" ] && rm -rf \"$D\"; ");
    }
    r.raw("exit $_rc");
    r.finish(records_all)
}

/// The commands a POSIX shell (dash, bash, BusyBox's ash) runs as its own builtins:
/// `exec NAME` would run the program file of that name instead, if there is one, and that
/// is not the same (`exec command -v ls` fails; `/bin/echo` reads `\t` otherwise than
/// dash's `echo`; `/bin/pwd` prints the physical directory).
const SHELL_BUILTINS: &[&str] = &[
    ".", ":", "[", "alias", "bg", "break", "cd", "chdir", "command", "continue", "echo", "eval",
    "exec", "exit", "export", "false", "fc", "fg", "getopts", "hash", "jobs", "kill", "let",
    "local", "printf", "pwd", "read", "readonly", "return", "set", "shift", "source", "test",
    "times", "trap", "true", "type", "ulimit", "umask", "unalias", "unset", "wait",
];

/// Whether the shell may `exec` `cmd` without changing what it does: a program, not a
/// builtin, with no variables or `<<<` (which need the shell).
fn may_exec(cmd: &crate::model::expr::Cmd) -> bool {
    let here = cmd.redirects.iter().any(|r| matches!(r, Redirect::Here(_)));
    let builtin = cmd
        .argv
        .first()
        .is_some_and(|p| SHELL_BUILTINS.iter().any(|b| p.as_os_str() == *b));
    cmd.env.is_empty() && !here && !builtin
}

/// Whether `expr` is one command of plain words: its script can be that command alone,
/// with no status record.
pub(crate) fn is_single_command(expr: &Expr) -> bool {
    matches!(expr.node(), Node::Cmd(c) if c.expand.is_none())
}

/// Whether a node below the root judges its own status (`ok_codes`, `unchecked`).
fn has_inner_checks(expr: &Expr, root: bool) -> bool {
    (!root && expr.opts().check.is_some())
        || expr
            .children()
            .into_iter()
            .any(|e| has_inner_checks(e, false))
}

/// The codes the status file recorded, by command index (the last one of each).
pub(crate) fn leaf_codes(status_file: &[u8]) -> HashMap<usize, i32> {
    let mut codes = HashMap::new();
    for (index, code) in records(status_file) {
        if let Ok(i) = index.parse::<usize>() {
            codes.insert(i, code);
        }
    }
    codes
}

/// The directory that could not be entered, if one could not: `0` the handle's
/// (`with_dir`), `1` the expression's (`.dir`), with `cd`'s code.
pub(crate) fn dir_failure(status_file: &[u8]) -> Option<(usize, i32)> {
    records(status_file).find_map(|(index, code)| match index {
        "c0" => Some((0, code)),
        "c1" => Some((1, code)),
        _ => None,
    })
}

/// The `index code` lines of a status file.
fn records(status_file: &[u8]) -> impl Iterator<Item = (&str, i32)> {
    std::str::from_utf8(status_file)
        .unwrap_or("")
        .lines()
        .filter_map(|line| {
            let mut it = line.split_whitespace();
            let index = it.next()?;
            let code = it.next()?.parse::<i32>().ok()?;
            Some((index, code))
        })
}

/// The stage that failed, from the status file's content: the last command (in the order
/// of the expression) whose recorded code is the job's final code.
pub(crate) fn failed_stage(expr: &Expr, status_file: &[u8], code: i32) -> Option<String> {
    let best = leaf_codes(status_file)
        .into_iter()
        .filter(|&(_, c)| c == code)
        .map(|(i, _)| i)
        .max();
    let mut leaves = Vec::new();
    collect_leaves(expr, &mut leaves);
    best.and_then(|i| leaves.get(i).map(crate::render::quote::render))
}

/// The commands, `cd`s and blocks of a tree, in the order the renderer numbers them: each
/// before what is inside it (a block's body, a command's substitutions).
fn collect_leaves(expr: &Expr, out: &mut Vec<Expr>) {
    if is_leaf(expr) {
        out.push(expr.clone());
    }
    for child in expr.children() {
        collect_leaves(child, out);
    }
}

/// Whether the script records `expr`'s own status (see [`collect_leaves`]).
pub(crate) fn is_leaf(expr: &Expr) -> bool {
    matches!(expr.node(), Node::Cmd(_) | Node::Cd(_) | Node::Block { .. })
}

/// A variable's value in a command's prefix: bytes (quoted, or from stdin), or shell text
/// that reads a variable the script set (an expanded word).
enum EnvValue<'a> {
    Bytes(&'a OsStr),
    Shell(String),
}

struct Renderer {
    out: Vec<u8>,
    /// The next command's index.
    leaf: usize,
    /// The next pipeline's index, for its variables.
    pipe: usize,
    /// Whom the commands in scope run as under sudo, if they do.
    sudo: Option<Sudo>,
    /// The variables plumb exported in scope, handed on to sudo'd commands.
    exported: Vec<std::ffi::OsString>,
    /// The job's sudo password file (see `model::sudo`).
    askpass: Option<String>,
    secrets: Secrets,
}

impl Secrets {
    fn stdin() -> Secrets {
        Secrets::Stdin {
            lines: Vec::new(),
            decode: Vec::new(),
            count: 0,
        }
    }
}

impl Renderer {
    fn new(askpass: Option<String>, secrets: Secrets) -> Renderer {
        Renderer {
            out: Vec::new(),
            leaf: 0,
            pipe: 0,
            sudo: None,
            exported: Vec::new(),
            askpass,
            secrets,
        }
    }

    fn raw(&mut self, s: &str) {
        self.out.extend_from_slice(s.as_bytes());
    }

    fn quoted(&mut self, bytes: &[u8]) {
        quote_into(bytes, &mut self.out);
    }

    /// A renderer whose `context` only enters directories and fails the script at once
    /// (its `_p` records nothing): the checks before a detached start.
    fn checking() -> Renderer {
        let mut r = Renderer::new(None, Secrets::Inline);
        r.raw("_p() { return \"$2\"; }; ");
        r
    }

    /// The script with the reading of its secret values in front.
    fn finish(self, records_all: bool) -> Rendered {
        let (preamble, script, reads_len) = match self.secrets {
            Secrets::Stdin {
                lines,
                decode,
                count,
            } if count > 0 => {
                let reads: Vec<String> =
                    (0..count).map(|i| format!("IFS= read -r _s{i}")).collect();
                let mut script = format!("{} || exit 125; ", reads.join(" && ")).into_bytes();
                script.extend_from_slice(&decode);
                let reads_len = script.len();
                script.extend_from_slice(&self.out);
                (lines, script, reads_len)
            }
            _ => (Vec::new(), self.out, 0),
        };
        Rendered {
            script,
            preamble,
            records_all,
            reads_len,
            execs: false,
        }
    }

    /// A value that may be secret, as a shell word: quoted inline, or a variable read
    /// from stdin. Values hold no NUL (validated); one with a newline travels as a
    /// `printf` format, decoded once after the reads (a fork only for such values).
    fn value(&mut self, v: &[u8]) {
        let Secrets::Stdin {
            lines,
            decode,
            count,
        } = &mut self.secrets
        else {
            return quote_into(v, &mut self.out);
        };
        let i = *count;
        *count += 1;
        if v.contains(&b'\n') {
            lines.extend_from_slice(&printf_format(v));
            decode.extend_from_slice(
                format!("_s{i}=$(printf \"$_s{i}.\"); _s{i}=${{_s{i}%.}}; ").as_bytes(),
            );
        } else {
            lines.extend_from_slice(v);
        }
        lines.push(b'\n');
        self.raw(&format!("\"$_s{i}\""));
    }

    /// A `printf` that writes `bytes` exactly (NUL included), for a command's stdin.
    fn printf(&mut self, bytes: &[u8]) {
        let Secrets::Stdin { lines, count, .. } = &mut self.secrets else {
            self.raw("printf '");
            for b in bytes {
                self.raw(&format!("\\{b:03o}"));
            }
            return self.raw("'");
        };
        let i = *count;
        *count += 1;
        lines.extend_from_slice(&printf_format(bytes));
        lines.push(b'\n');
        self.raw(&format!("printf \"$_s{i}\""));
    }

    /// `cd DIR`, with a relative DIR written as `./DIR`: the shell's `cd` would otherwise
    /// read `-x` as an option, `-` as the previous directory, and search `CDPATH`.
    fn cd(&mut self, dir: &[u8]) {
        self.raw("cd ");
        if dir.starts_with(b"/") {
            self.quoted(dir);
        } else {
            self.quoted(&[b"./".as_slice(), dir].concat());
        }
    }

    /// The handle's directory and environment, then the root's own (which apply to the
    /// whole script); a `cd` that fails is recorded (`c0`, `c1`) and ends the script:
    /// `stop` closes the `cd ... || { _p ...` that does so.
    fn context(&mut self, ctx: &Context, opts: &Opts, stop: &str) {
        if let Some(dir) = &ctx.dir {
            self.cd(dir.as_os_str().as_bytes());
            self.raw(" || { _p c0 $?");
            self.raw(stop);
        }
        self.env(&ctx.env);
        if let Some(dir) = &opts.dir {
            self.cd(dir.as_os_str().as_bytes());
            self.raw(" || { _p c1 $?");
            self.raw(stop);
        }
        self.env(&opts.env);
        self.sudo = opts.sudo.clone();
    }

    /// A watchdog: when the connection goes (the program ended without cleaning up, the
    /// network died), sshd's session process goes too, and nothing signals ours. The
    /// watchdog then removes the sudo password file, which nobody else will now, ends the
    /// whole process group (with `kill_tree`) and removes the job's directory. It holds
    /// none of the job's streams (fd 4 is stdout's copy): its last `sleep` outlives it by
    /// up to a second, and sshd ends the session only when every holder of its stdout is
    /// gone. It ignores the TERM that may end a group of sudo'd commands (see
    /// `end_group`): its own `sudo kill` then works without a password only (NOPASSWD),
    /// else sudo relays the TERM to its command.
    fn watchdog(&mut self, expr: &Expr, files: &ScriptFiles, kill_tree: bool) {
        let mut end = String::new();
        if files.askpass {
            end.push_str("rm -f \"$D/pw\"; ");
        }
        if kill_tree {
            let sudo = uses_sudo(expr).then_some(SudoKill { askpass: None });
            end.push_str(&end_group("$$", sudo.as_ref()));
            end.push_str("; ");
        }
        self.raw(&format!(
            "_w() {{ trap '' TERM; while kill -0 \"$1\" 2>/dev/null; do sleep 1; done; \
             {end}rm -rf \"$D\"; }}; _w $PPID </dev/null >/dev/null 2>&1 4>&- & _wd=$!; "
        ));
    }

    fn env(&mut self, env: &[(std::ffi::OsString, Option<std::ffi::OsString>)]) {
        for (k, v) in env {
            self.exported.retain(|e| e != k);
            if v.is_some() {
                self.exported.push(k.clone());
            }
            match v {
                Some(v) => {
                    self.raw("export ");
                    self.out.extend_from_slice(k.as_bytes());
                    self.raw("=");
                    self.value(v.as_bytes());
                    self.raw("; ");
                }
                None => {
                    self.raw("unset ");
                    self.out.extend_from_slice(k.as_bytes());
                    self.raw("; ");
                }
            }
        }
    }

    /// A node with options of its own (below the root): its context in a subshell.
    fn node(&mut self, expr: &Expr) {
        let opts = expr.opts();
        let scoped = opts.dir.is_some() || !opts.env.is_empty() || opts.stdin.is_some();
        if let Some(bytes) = &opts.stdin {
            self.printf(bytes);
            self.raw(" | ");
        }
        let outer = (self.sudo.clone(), self.exported.clone());
        if let Some(sudo) = &opts.sudo {
            self.sudo = Some(sudo.clone());
        }
        if scoped {
            self.raw("( ");
            if let Some(dir) = &opts.dir {
                self.cd(dir.as_os_str().as_bytes());
                self.raw(" || exit 1; ");
            }
            self.env(&opts.env);
        }
        self.node_body(expr);
        if scoped {
            self.raw(" )");
        }
        (self.sudo, self.exported) = outer;
    }

    /// The node itself; its options other than context are rendered here.
    fn node_body(&mut self, expr: &Expr) {
        let dup = expr.opts().stderr_to_stdout;
        match expr.node() {
            Node::Cmd(cmd) if cmd.expand.is_some() => self.expanding_command(cmd, dup),
            Node::Cmd(cmd) => self.command(cmd, dup, false),
            Node::Cd(dir) => self.cd_word(dir),
            Node::Seq(items) => self.sequence(items, dup),
            Node::Pipe(stages) => self.pipeline(stages, dup),
            Node::Block {
                body,
                subshell,
                redirects,
            } => self.block(body, *subshell, redirects, dup),
        }
    }

    /// A sequence, each `;` ending an and-or list: the lists are joined by `&&`, so that
    /// one that fails stops the rest (errexit) and its status is the sequence's.
    fn sequence(&mut self, items: &[(SeqOp, Expr)], dup: bool) {
        self.raw("{ { ");
        for (k, (op, item)) in items.iter().enumerate() {
            if k > 0 {
                self.raw(match op {
                    SeqOp::Then => "; } && { ",
                    SeqOp::And => " && ",
                    SeqOp::Or => " || ",
                });
            }
            self.node(item);
        }
        self.raw(if dup { "; }; } 2>&1" } else { "; }; }" });
    }

    fn next_leaf(&mut self) -> usize {
        self.leaf += 1;
        self.leaf - 1
    }

    /// One command; `bare` for the whole script's only command (without the status
    /// bookkeeping).
    fn command(&mut self, cmd: &Cmd, late_dup: bool, bare: bool) {
        let i = self.next_leaf();
        let here = cmd.redirects.iter().rev().find_map(|r| match r {
            Redirect::Here(bytes) => Some(bytes.clone()),
            _ => None,
        });
        if !bare {
            self.raw("{ ");
        }
        if let Some(bytes) = here {
            self.printf(&bytes);
            self.raw(" | ");
        }
        let env: Vec<(&OsStr, EnvValue)> = cmd
            .env
            .iter()
            .map(|(k, v)| (k.as_os_str(), EnvValue::Bytes(v)))
            .collect();
        self.env_prefix(&env);
        for (n, arg) in cmd.argv.iter().enumerate() {
            if n > 0 {
                self.raw(" ");
                self.quoted(arg.as_bytes());
            } else {
                quote_program_into(arg.as_bytes(), &mut self.out);
            }
        }
        for r in &cmd.redirects {
            self.redirect(r);
        }
        if late_dup {
            self.raw(" 2>&1");
        }
        if !bare {
            self.raw(&format!("; _p {i} $?; }}"));
        }
    }

    /// What goes before a command's argv: its `NAME=value`s, or sudo and its options,
    /// then `env` with the variables plumb set (sudo resets the environment).
    fn env_prefix(&mut self, env: &[(&OsStr, EnvValue)]) {
        let Some(as_user) = self.sudo.clone() else {
            for (k, v) in env {
                self.out.extend_from_slice(k.as_bytes());
                self.raw("=");
                self.env_value(v);
                self.raw(" ");
            }
            return;
        };
        sudo_words(&as_user, self.askpass.as_deref(), &mut self.out);
        let exported: Vec<_> = self
            .exported
            .iter()
            .filter(|k| !env.iter().any(|(c, _)| c == k))
            .cloned()
            .collect();
        if exported.is_empty() && env.is_empty() {
            return;
        }
        self.raw(sudo::ENV);
        for k in exported {
            self.raw(" ");
            self.out.extend_from_slice(k.as_bytes());
            self.raw("=\"$");
            self.out.extend_from_slice(k.as_bytes());
            self.raw("\"");
        }
        for (k, v) in env {
            self.raw(" ");
            self.out.extend_from_slice(k.as_bytes());
            self.raw("=");
            self.env_value(v);
        }
        self.raw(" ");
    }

    fn env_value(&mut self, v: &EnvValue) {
        match v {
            EnvValue::Bytes(bytes) => self.value(bytes.as_bytes()),
            EnvValue::Shell(text) => self.raw(text),
        }
    }

    fn redirect(&mut self, r: &Redirect) {
        let file = |me: &mut Self, op: &str, path: &OsStr| {
            me.raw(op);
            me.quoted(path.as_bytes());
        };
        match r {
            Redirect::Out { fd, append, path } => {
                let op = match (fd, append) {
                    (2, false) => " 2>",
                    (2, true) => " 2>>",
                    (_, false) => " >",
                    (_, true) => " >>",
                };
                file(self, op, path);
            }
            Redirect::OutAll { append, path } => {
                file(self, if *append { " >>" } else { " >" }, path);
                self.raw(" 2>&1");
            }
            Redirect::In(path) => file(self, " <", path),
            // Rendered as a `printf |` before the command.
            Redirect::Here(_) => {}
            Redirect::Dup { from, to } => self.raw(&format!(" {from}>&{to}")),
        }
    }

    /// A pipeline with pipefail: each stage reports its status on fd 3, collected by a
    /// command substitution while the real stdout stays on fd 4.
    fn pipeline(&mut self, stages: &[(Expr, bool)], dup: bool) {
        let k = self.pipe;
        self.pipe += 1;
        let n = stages.len();
        self.raw("{ _t=$( { ");
        for (i, (stage, all)) in stages.iter().enumerate() {
            if i > 0 {
                self.raw(" | ");
            }
            self.raw("{ { ");
            self.node(stage);
            self.raw(if *all {
                "; } 2>&1 3>&- 4>&-"
            } else {
                "; } 3>&- 4>&-"
            });
            self.raw(&format!("; echo _a{k}_{i}=$? >&3; }}"));
        }
        self.raw(if dup {
            "; } 2>&1 3>&1 >&4 ); "
        } else {
            "; } 3>&1 >&4 ); "
        });
        self.raw(&format!("eval \"$_t\"; _r=$_a{k}_{}; ", n - 1));
        for (i, (stage, _)) in stages.iter().enumerate() {
            let ok = ok_pattern(stage.opts(), i + 1 < n);
            if ok == "*" {
                continue;
            }
            self.raw(&format!(
                "case $_a{k}_{i} in {ok}) ;; *) _r=$_a{k}_{i};; esac; "
            ));
        }
        self.raw("_ret $_r; }");
    }
}

/// `bytes` as a `printf` format on one line: `\`, `%`, newline, NUL and a leading `-`
/// (which a `printf` could take for an option) as octal escapes, the rest as it is.
fn printf_format(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    for (i, &b) in bytes.iter().enumerate() {
        if matches!(b, b'\\' | b'%' | b'\n' | 0) || (i == 0 && b == b'-') {
            out.extend_from_slice(format!("\\{b:03o}").as_bytes());
        } else {
            out.push(b);
        }
    }
    out
}

/// The `case` pattern of the codes a stage may exit with without failing its pipeline.
fn ok_pattern(opts: &Opts, before_last: bool) -> String {
    let mut codes: Vec<String> = match &opts.check {
        None => vec!["0".into()],
        Some(Check::Unchecked) => return "*".into(),
        Some(Check::Codes(c)) => c.iter().map(|c| c.to_string()).collect(),
    };
    if before_last {
        // Killed by SIGPIPE because a later stage stopped reading.
        codes.push("141".into());
    }
    if codes.is_empty() {
        return "''".into();
    }
    codes.join("|")
}

/// The shell command that ends a job whose script writes its pid in `files`: its whole
/// process group, then the job's directory. Only a plain number greater than 1 is ever
/// signalled. `sudo`: the job runs sudo'd commands (see [`end_group`]).
///
/// A kill may come before the script has written its pid, or before it has started at
/// all (a timeout of a millisecond; `ssh` killed before its channel opened): it leaves
/// the mark `k` in the job's directory first and reads the pid after, while the script
/// writes its pid first and looks for the mark after ([`KILLED_MARK`]), so one of the two
/// always sees the other, without waiting. The directory is made first and checked after,
/// as the script's `_d` does: checked first, it could appear in between (the script made
/// it), and the kill would leave no mark.
pub(crate) fn kill_command(files: &ScriptFiles, sudo: Option<&SudoKill>) -> Vec<u8> {
    let d = dir_word(&files.dir);
    format!(
        "D={d}; p=; if mkdir -m 700 \"$D\" 2>/dev/null || {{ {DIR_IS_OURS}; }}; then : >\"$D/k\"; read -r p <\"$D/pid\"; fi 2>/dev/null; \
         case $p in ''|*[!0-9]*|0|1) ;; *) {{ {}; kill -KILL -$p; }} 2>/dev/null; rm -rf \"$D\";; esac; \
         true",
        end_group("$p", sudo)
    )
    .into_bytes()
}

/// After the script has written its pid: a kill that came first left its mark (see
/// [`kill_command`]), and the job ends before it runs anything.
const KILLED_MARK: &str = "[ ! -e \"$D/k\" ] || { rm -rf \"$D\"; exit 137; }; ";

/// How a job with sudo'd commands is ended: through sudo, with the job's password file.
#[derive(Clone, Debug)]
pub(crate) struct SudoKill {
    pub(crate) askpass: Option<String>,
}

/// `sudo` and its options as shell words, each followed by a space; with a password file,
/// the askpass helper before them (sudo runs `cat FILE`, FILE being its prompt: see
/// `model::sudo`).
fn sudo_words(as_user: &Sudo, askpass: Option<&str>, out: &mut Vec<u8>) {
    if askpass.is_some() {
        out.extend_from_slice(b"SUDO_ASKPASS=\"$(command -v cat)\" ");
    }
    for arg in sudo::argv(as_user, askpass.map(OsStr::new)) {
        quote_into(arg.as_bytes(), out);
        out.push(b' ');
    }
}

/// Shell that ends the process group `pgid` (a shell word, `$p`). The login user cannot
/// signal root's processes: for a job with sudo'd commands, root kills the group
/// (`sudo kill`, with the job's password file); where sudo may not run `kill`, a TERM to
/// the group, which sudo relays to its command (sudo's real uid is the user's), then the
/// KILL, which alone would end sudo and leave its command running.
fn end_group(pgid: &str, sudo: Option<&SudoKill>) -> String {
    let Some(sudo) = sudo else {
        return format!("kill -KILL -{pgid}");
    };
    let mut line = Vec::new();
    sudo_words(&Sudo { user: None }, sudo.askpass.as_deref(), &mut line);
    let line = String::from_utf8_lossy(&line);
    format!(
        "{{ {line}kill -KILL -- -{pgid} </dev/null || {{ kill -TERM -{pgid}; sleep 0.2; }}; }}; \
         kill -KILL -{pgid}"
    )
}

/// `path` against `dir` when relative, on the host the script runs on (a Unix).
pub(crate) fn join(dir: Option<&std::path::Path>, path: &std::path::Path) -> std::path::PathBuf {
    match dir {
        Some(d) => crate::sys::posix_join(d, path),
        None => path.to_path_buf(),
    }
}

/// The shell test that the directory `$D` is this user's own, not a link to one.
const DIR_IS_OURS: &str = "[ -d \"$D\" ] && [ ! -h \"$D\" ] && [ -O \"$D\" ]";

/// A directory's path as one shell word.
fn dir_word(dir: &str) -> String {
    let mut d = Vec::new();
    quote_into(dir.as_bytes(), &mut d);
    String::from_utf8_lossy(&d).into_owned()
}

/// Removes `dir`, a private directory of this job's, if it is still there and ours.
pub(crate) fn remove_dir(dir: &str) -> Vec<u8> {
    let d = dir_word(dir);
    format!("D={d}; {DIR_IS_OURS} && rm -rf -- \"$D\"; true").into_bytes()
}

/// The script that prints a job's status file and removes the job's directory.
pub(crate) fn take_status_file(files: &ScriptFiles) -> Vec<u8> {
    let d = dir_word(&files.dir);
    format!(
        "D={d}; {DIR_IS_OURS} && \
         {{ cat -- \"$D/s\" 2>/dev/null; rm -rf -- \"$D\"; }}; true"
    )
    .into_bytes()
}

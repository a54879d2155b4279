//! An `Expr` rendered once into a POSIX `sh` script, for machines that run commands through
//! a remote shell (`SshMachine`, `Ssh2Machine`).
//!
//! What the script guarantees, without bash:
//! - every argument, environment value, directory and file name is single-quoted
//!   ([`crate::render::quote`]), so no value is ever interpreted;
//! - pipelines fail when any stage fails (pipefail), the rightmost failing stage deciding,
//!   a stage that died of SIGPIPE before the last one excepted, each stage judged by its
//!   own `ok_codes`/`unchecked`;
//! - each command that exits non-zero appends `index code` to a status file, so that after
//!   a failure the caller can name the stage ([`failed_stage`]);
//! - with `kill_tree`, the script writes its pid (which leads the process group of the
//!   whole job, since sshd starts every session with `setsid`) to a file, so that a kill
//!   can reach every process.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use crate::model::expr::{Check, Cmd, Expr, Node, Opts, Redirect, SeqOp};
use crate::model::sudo::{self, uses_sudo, Sudo};
use crate::render::quote::quote_into;

/// The files a script shares with the machine that runs it, named by a nonce.
#[derive(Clone, Debug)]
pub(crate) struct ScriptFiles {
    /// Where commands that exit non-zero record `index code`.
    pub status: String,
    /// Where the script records its pid, with `kill_tree`.
    pub pid: String,
    /// The sudo password file, when the job sudos and the machine has a password.
    pub askpass: Option<String>,
}

impl ScriptFiles {
    pub(crate) fn new() -> ScriptFiles {
        let nonce = nonce();
        ScriptFiles {
            status: format!("/tmp/.plumb-{nonce}"),
            pid: format!("/tmp/.plumb-{nonce}.pid"),
            askpass: None,
        }
    }
}

/// A name no other run shares.
pub(crate) fn nonce() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{SystemTime, UNIX_EPOCH};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format!(
        "{}-{}-{}",
        std::process::id(),
        t.as_nanos(),
        N.fetch_add(1, Ordering::Relaxed)
    )
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

/// Renders `expr` into a script for `sh -c`.
pub(crate) fn render(expr: &Expr, ctx: &Context, files: &ScriptFiles, kill_tree: bool) -> Vec<u8> {
    render_with(expr, ctx, files, kill_tree, true)
}

/// [`render`] for a subshell `( ... )` of a session's shell: a single command is left
/// last, so that the subshell execs it instead of forking again (a fork is 0.45 ms on a
/// small VM); its status, 128 + N after a signal, is the subshell's.
pub(crate) fn render_in_subshell(
    expr: &Expr,
    ctx: &Context,
    files: &ScriptFiles,
    kill_tree: bool,
) -> Vec<u8> {
    render_with(expr, ctx, files, kill_tree, false)
}

fn render_with(
    expr: &Expr,
    ctx: &Context,
    files: &ScriptFiles,
    kill_tree: bool,
    exit_after_one: bool,
) -> Vec<u8> {
    let mut r = Renderer {
        out: Vec::new(),
        leaf: 0,
        pipe: 0,
        sudo: None,
        exported: Vec::new(),
        askpass: files.askpass.clone(),
    };
    let simple = matches!(expr.node(), Node::Cmd(_)) && !kill_tree;
    if !simple {
        r.raw("exec 4>&1; F=");
        r.quoted(files.status.as_bytes());
        r.raw("; _p() { [ \"$2\" = 0 ] || echo \"$1 $2\" >>\"$F\"; return \"$2\"; }; ");
        r.raw("_ret() { return \"$1\"; }; ");
    }
    if kill_tree {
        r.raw("printf '%s' $$ >");
        r.quoted(files.pid.as_bytes());
        // A watchdog: when the connection goes (the program ended without cleaning up, the
        // network died), sshd's session process goes too, and nothing signals ours; the
        // watchdog then ends the whole process group. It holds none of the job's streams
        // (fd 4 is stdout's copy): its last `sleep` outlives it by up to a second, and sshd
        // ends the session only when every holder of its stdout is gone.
        // It ignores the TERM that may end a group of sudo'd commands (see `end_group`),
        // and first removes the sudo password file, which nobody else will now: its own
        // `sudo kill` then works without a password only (NOPASSWD), else sudo relays the
        // TERM to its command.
        let sudo = uses_sudo(expr).then_some(SudoKill { askpass: None });
        let mut forget = Vec::new();
        if let Some(file) = &files.askpass {
            forget.extend_from_slice(b"rm -f ");
            quote_into(file.as_bytes(), &mut forget);
            forget.extend_from_slice(b"; ");
        }
        r.raw(&format!(
            "; _w() {{ trap '' TERM; while kill -0 \"$1\" 2>/dev/null; do sleep 1; done; {}{}; }}; ",
            String::from_utf8_lossy(&forget),
            end_group("$$", sudo.as_ref())
        ));
        r.raw("_w $PPID </dev/null >/dev/null 2>&1 4>&- & _wd=$!; ");
    }
    if let Some(dir) = &ctx.dir {
        r.cd(dir.as_os_str().as_bytes());
        r.raw(" || exit 1; ");
    }
    r.env(&ctx.env);
    // The root's own options apply to the whole script.
    let opts = expr.opts();
    if let Some(dir) = &opts.dir {
        r.cd(dir.as_os_str().as_bytes());
        r.raw(" || exit 1; ");
    }
    r.env(&opts.env);
    r.sudo = opts.sudo.clone();
    if let (true, Node::Cmd(cmd)) = (simple, expr.node()) {
        // One command, waited for: `exec` would save a process, but a command killed by a
        // signal then makes ssh exit with 255, indistinguishable from a lost connection;
        // through the shell it exits with 128 + the signal, like a local one's `code()`.
        r.command(cmd, opts.stderr_to_stdout, true);
        if exit_after_one {
            r.raw("; exit $?");
        }
        return r.out;
    }
    r.node_body(expr);
    r.raw("; _rc=$?; ");
    if kill_tree {
        // KILL: the watchdog ignores TERM.
        r.raw("kill -KILL $_wd 2>/dev/null; rm -f ");
        r.quoted(files.pid.as_bytes());
        r.raw("; ");
    }
    r.raw("[ $_rc = 0 ] && [ -e \"$F\" ] && rm -f \"$F\"; exit $_rc");
    r.out
}

/// The codes the status file recorded, by command index (the last one of each).
pub(crate) fn leaf_codes(status_file: &[u8]) -> HashMap<usize, i32> {
    let mut codes = HashMap::new();
    for line in String::from_utf8_lossy(status_file).lines() {
        let mut it = line.split_whitespace();
        if let (Some(Ok(i)), Some(Ok(c))) = (
            it.next().map(str::parse::<usize>),
            it.next().map(str::parse::<i32>),
        ) {
            codes.insert(i, c);
        }
    }
    codes
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

/// The commands and `cd`s of a tree, in the order the renderer numbers them.
fn collect_leaves(expr: &Expr, out: &mut Vec<Expr>) {
    match expr.node() {
        Node::Cmd(_) | Node::Cd(_) => out.push(expr.clone()),
        Node::Pipe(stages) => stages.iter().for_each(|(e, _)| collect_leaves(e, out)),
        Node::Seq(items) => items.iter().for_each(|(_, e)| collect_leaves(e, out)),
    }
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
}

impl Renderer {
    fn raw(&mut self, s: &str) {
        self.out.extend_from_slice(s.as_bytes());
    }

    fn quoted(&mut self, bytes: &[u8]) {
        quote_into(bytes, &mut self.out);
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
                    self.quoted(v.as_bytes());
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
            Node::Cmd(cmd) => self.command(cmd, dup, false),
            Node::Cd(dir) => {
                let i = self.next_leaf();
                self.raw("{ ");
                self.cd(dir.as_bytes());
                self.raw(&format!("; _p {i} $?; }}"));
            }
            Node::Seq(items) => {
                self.raw("{ ");
                for (k, (op, item)) in items.iter().enumerate() {
                    if k > 0 {
                        self.raw(match op {
                            SeqOp::Then => "; ",
                            SeqOp::And => " && ",
                            SeqOp::Or => " || ",
                        });
                    }
                    self.node(item);
                }
                self.raw(if dup { "; } 2>&1" } else { "; }" });
            }
            Node::Pipe(stages) => self.pipeline(stages, dup),
        }
    }

    fn next_leaf(&mut self) -> usize {
        self.leaf += 1;
        self.leaf - 1
    }

    /// `printf` with every byte as an octal escape: any bytes, NUL included.
    fn printf(&mut self, bytes: &[u8]) {
        self.raw("printf '");
        for b in bytes {
            self.raw(&format!("\\{b:03o}"));
        }
        self.raw("'");
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
        match self.sudo.clone() {
            Some(as_user) => self.sudo_prefix(&as_user, cmd),
            None => {
                for (k, v) in &cmd.env {
                    self.out.extend_from_slice(k.as_bytes());
                    self.raw("=");
                    self.quoted(v.as_bytes());
                    self.raw(" ");
                }
            }
        }
        for (n, arg) in cmd.argv.iter().enumerate() {
            if n > 0 {
                self.raw(" ");
            }
            self.quoted(arg.as_bytes());
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

    /// sudo and its options, then `env` with the variables plumb set (sudo resets the
    /// environment): what goes before a sudo'd command's argv.
    fn sudo_prefix(&mut self, as_user: &Sudo, cmd: &Cmd) {
        sudo_words(as_user, self.askpass.as_deref(), &mut self.out);
        let exported: Vec<_> = self
            .exported
            .iter()
            .filter(|k| !cmd.env.iter().any(|(c, _)| c == *k))
            .cloned()
            .collect();
        if exported.is_empty() && cmd.env.is_empty() {
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
        for (k, v) in &cmd.env {
            self.raw(" ");
            self.out.extend_from_slice(k.as_bytes());
            self.raw("=");
            self.quoted(v.as_bytes());
        }
        self.raw(" ");
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

/// The shell command that ends a job whose script wrote its pid to `pid_file`: its whole
/// process group, waiting briefly for the file in case the kill comes first. `sudo`: the
/// job runs sudo'd commands (see [`end_group`]).
pub(crate) fn kill_command(pid_file: &str, sudo: Option<&SudoKill>) -> Vec<u8> {
    let mut f = Vec::new();
    quote_into(pid_file.as_bytes(), &mut f);
    let f = String::from_utf8_lossy(&f);
    format!(
        "i=0; while [ ! -s {f} ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done; \
         p=$(cat {f} 2>/dev/null) && {{ {}; kill -KILL $p; }} 2>/dev/null; rm -f {f}; true",
        end_group("$p", sudo)
    )
    .into_bytes()
}

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

/// `path` against `dir` when relative.
pub(crate) fn join(dir: Option<&std::path::Path>, path: &std::path::Path) -> std::path::PathBuf {
    match dir {
        Some(d) => d.join(path),
        None => path.to_path_buf(),
    }
}

/// The script that prints a job's status file and removes it.
pub(crate) fn take_status_file(files: &ScriptFiles) -> Vec<u8> {
    let mut s = b"cat -- ".to_vec();
    quote_into(files.status.as_bytes(), &mut s);
    s.extend_from_slice(b" 2>/dev/null; rm -f -- ");
    quote_into(files.status.as_bytes(), &mut s);
    s
}

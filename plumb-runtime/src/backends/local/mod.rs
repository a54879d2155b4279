//! `LocalMachine`: processes on this computer.
//!
//! A command is one `std::process::Command` (so std's `posix_spawn` fast path applies),
//! held as a `shared_child::SharedChild` so that one thread can wait while another kills.
//! A pipeline is one process per stage, joined by kernel pipes that this module creates, so
//! every stage's status is known and the failing one can be named; a sequence runs its
//! items in order on a thread of its own.
//!
//! [`tree`] starts and waits for trees, [`spawn`] one command with its redirections (a
//! program, or a [builtin](crate::builtins) on a thread: [`builtin`]), [`kill`] makes
//! kills reach whole trees, [`files`] holds the file operations; [`os`] is the one seam
//! to the operating system (process groups on Unix, Job Objects on Windows).
//!
//! This was built on duct first; duct rebuilds the whole environment of every child
//! (`env_clear` + every variable), which alone made spawning `true` ~20% slower than std.

mod builtin;
mod detached;
mod files;

pub(crate) use files::{create_copy, fs_error, transfer_mode};
mod kill;
mod os;
mod spawn;
mod sudo;
mod tree;
mod words;

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use self::kill::Shared;
use self::sudo::AskpassFile;
use self::tree::{start_node, Io, LocalProcess, State};
use crate::builtins::Builtins;
use crate::error::{Error, ErrorKind};
use crate::machine::fs::Fs;
use crate::machine::seam::Backend;
use crate::machine::Machine;
use crate::model::expr::Expr;
use crate::model::job::{Job, Process, Stdio};
use crate::model::sudo::{uses_sudo, Sudo, SudoPassword};
use crate::progress::Observer;
use crate::Result;

pub(crate) const NAME: &str = "local";

/// This computer. Cheap to clone; [`with_dir`](LocalMachine::with_dir) and
/// [`with_env`](LocalMachine::with_env) make handles with their own defaults.
///
/// ```
/// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
/// let root = plumb::local().with_dir("/");
/// assert_eq!(sh!(pwd).on(&root).read().unwrap(), "/");
/// ```
#[derive(Clone, Debug, Default)]
pub struct LocalMachine {
    ctx: Arc<Ctx>,
    sudo_password: Option<SudoPassword>,
}

/// The machine this process runs on.
///
/// ```
/// # extern crate plumb_runtime as plumb;
/// assert_eq!(plumb::Machine::name(&plumb::local()), "local");
/// ```
pub fn local() -> LocalMachine {
    LocalMachine::default()
}

/// The directory and environment that commands start with.
#[derive(Clone, Debug, Default)]
pub(crate) struct Ctx {
    pub(crate) dir: Option<PathBuf>,
    /// Applied in order over this process's environment; `None` removes.
    pub(crate) env: Vec<(OsString, Option<OsString>)>,
    /// Whom the commands run as under sudo, if they do.
    pub(crate) sudo: Option<Sudo>,
    /// The job's sudo password file, when the machine has a password and the job sudos.
    pub(crate) askpass: Option<Arc<AskpassFile>>,
    /// When a builtin runs instead of a program.
    pub(crate) builtins: Builtins,
}

impl Ctx {
    /// The context inside a node with these options.
    pub(crate) fn enter(&self, expr: &Expr) -> Ctx {
        let opts = expr.opts();
        let mut ctx = self.clone();
        if let Some(dir) = &opts.dir {
            ctx.dir = Some(ctx.resolve(dir));
        }
        ctx.env.extend(opts.env.iter().cloned());
        if let Some(sudo) = &opts.sudo {
            ctx.sudo = Some(sudo.clone());
        }
        ctx
    }

    pub(crate) fn resolve(&self, path: &Path) -> PathBuf {
        match &self.dir {
            Some(dir) => dir.join(path),
            None => path.to_path_buf(),
        }
    }

    pub(crate) fn var(&self, key: &str) -> Option<OsString> {
        match self.env.iter().rev().find(|(k, _)| k == key) {
            Some((_, v)) => v.clone(),
            None => std::env::var_os(key),
        }
    }

    /// The files that run `program`, a name without a directory, in the order of `PATH`
    /// (`path`, else the context's): the first, or all of them with `all`.
    pub(crate) fn lookup(&self, program: &str, path: Option<OsString>, all: bool) -> Vec<PathBuf> {
        let path = path.or_else(|| self.var("PATH")).unwrap_or_default();
        let names = os::program_files(program, self.var("PATHEXT").as_deref());
        let mut found = Vec::new();
        for dir in std::env::split_paths(&path) {
            let dir = self.resolve(&dir);
            for name in &names {
                let p = dir.join(name);
                if fs::metadata(&p).is_ok_and(|m| os::is_executable(&m)) {
                    found.push(p);
                    if !all {
                        return found;
                    }
                }
            }
        }
        found
    }

    /// What the `which` builtin prints: a path names itself when it is a program.
    pub(crate) fn which_all(&self, program: &str, all: bool) -> Vec<PathBuf> {
        if os::names_path(program) {
            let p = self.resolve(Path::new(program));
            return match fs::metadata(&p) {
                Ok(m) if os::is_executable(&m) => vec![p],
                _ => Vec::new(),
            };
        }
        self.lookup(program, None, all)
    }
}

impl LocalMachine {
    /// The same as [`local()`].
    pub fn new() -> LocalMachine {
        LocalMachine::default()
    }

    /// A handle whose commands and relative paths start in `dir` (relative to this handle's
    /// directory).
    pub fn with_dir(&self, dir: impl AsRef<Path>) -> LocalMachine {
        let mut ctx = (*self.ctx).clone();
        ctx.dir = Some(ctx.resolve(dir.as_ref()));
        self.with_ctx(ctx)
    }

    fn with_ctx(&self, ctx: Ctx) -> LocalMachine {
        LocalMachine {
            ctx: Arc::new(ctx),
            sudo_password: self.sudo_password.clone(),
        }
    }

    /// A handle whose [`sudo`](crate::Expr::sudo)'d commands give sudo this password when
    /// it asks (see there for how it is kept out of sight).
    ///
    /// ```no_run
    /// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
    /// let here = plumb::local().with_sudo_password(std::env::var("SUDO_PASSWORD").unwrap());
    /// sh!(apt-get update).on(&here).sudo().run()?;
    /// # Ok::<(), plumb::Error>(())
    /// ```
    pub fn with_sudo_password(&self, password: impl Into<String>) -> LocalMachine {
        LocalMachine {
            ctx: self.ctx.clone(),
            sudo_password: Some(SudoPassword::given(password)),
        }
    }

    /// Like [`with_sudo_password`](LocalMachine::with_sudo_password), asking `ask` (given
    /// the machine's name) the first time a sudo'd command runs; `None`: no password.
    pub fn with_sudo_password_from(
        &self,
        ask: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
    ) -> LocalMachine {
        LocalMachine {
            ctx: self.ctx.clone(),
            sudo_password: Some(SudoPassword::asked(ask)),
        }
    }

    /// A handle that runs plumb's portable builtins (`cat cp echo mkdir rm test` ...;
    /// see [`Builtins`] and the guide's "Platforms") as `mode` says: by default only
    /// where no program of that name is on `PATH`.
    ///
    /// ```
    /// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
    /// use plumb::Builtins;
    /// let real_only = plumb::local().with_builtins(Builtins::Never);
    /// assert_eq!(sh!(echo hi).on(&real_only).read().unwrap(), "hi");
    /// ```
    pub fn with_builtins(&self, mode: Builtins) -> LocalMachine {
        let mut ctx = (*self.ctx).clone();
        ctx.builtins = mode;
        self.with_ctx(ctx)
    }

    /// A handle whose commands get this environment variable.
    ///
    /// ```
    /// # extern crate plumb_runtime as plumb; use plumb_macros::sh;
    /// let m = plumb::local().with_env("GREETING", "hi");
    /// assert_eq!(sh!(sh -c "echo $$GREETING").on(&m).read().unwrap(), "hi");
    /// ```
    pub fn with_env(&self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> LocalMachine {
        let mut ctx = (*self.ctx).clone();
        ctx.env
            .push((key.as_ref().to_owned(), Some(value.as_ref().to_owned())));
        self.with_ctx(ctx)
    }
}

impl Machine for LocalMachine {
    fn name(&self) -> &str {
        NAME
    }

    /// On Windows, a name without an extension is looked up with each of `PATHEXT`'s.
    fn which(&self, program: &str) -> Result<PathBuf> {
        if let Some(p) = self.ctx.which_all(program, false).pop() {
            return Ok(p);
        }
        let message = if os::names_path(program) {
            format!("`{program}` is not an executable file")
        } else {
            format!("program `{program}` not found on PATH")
        };
        Err(Error::new(ErrorKind::NotFound, NAME, message))
    }
}

impl LocalMachine {
    /// The job's directory (the handle's, then the expression's) exists: else nothing
    /// runs, whatever the checks, on every machine.
    fn check_dir(&self, expr: &Expr) -> Result<()> {
        let dir = match &expr.opts().dir {
            Some(d) => Some(self.ctx.resolve(d)),
            None => self.ctx.dir.clone(),
        };
        match dir {
            Some(d) if !d.is_dir() => Err(Error::new(
                ErrorKind::NotFound,
                NAME,
                format!("directory `{}` not found", d.display()),
            )),
            _ => Ok(()),
        }
    }

    /// The sudo password file for a job, when it sudos and there is a password.
    fn askpass(&self, expr: &Expr) -> Result<Option<Arc<AskpassFile>>> {
        let Some(password) = self.sudo_password.as_ref().filter(|_| uses_sudo(expr)) else {
            return Ok(None);
        };
        let Some(line) = password.line(NAME)? else {
            return Ok(None);
        };
        let file = AskpassFile::write(&line)
            .map_err(|e| Error::io(NAME, "cannot write the sudo password file", e))?;
        Ok(Some(Arc::new(file)))
    }
}

impl Backend for LocalMachine {
    fn upload_path(&self, local: &Path, remote: &Path, observer: Observer) -> Result<()> {
        files::copy_tree(local, &self.ctx.resolve(remote), observer)
    }

    fn download_path(&self, remote: &Path, local: &Path, observer: Observer) -> Result<()> {
        files::copy_tree(&self.ctx.resolve(remote), local, observer)
    }

    fn start(&self, job: Job) -> Result<Box<dyn Process>> {
        crate::model::validate::check_env_list(&self.ctx.env)
            .map_err(|msg| Error::new(ErrorKind::InvalidInput, NAME, msg))?;
        self.check_dir(&job.expr)?;
        if job.expr.pty_wanted().is_some() {
            let e = crate::backends::remote::no_terminal(NAME, "a command on the local machine");
            return Err(e.with_command(crate::render::quote::render(&job.expr)));
        }
        if let (Some(why), true) = (os::NO_SUDO, uses_sudo(&job.expr)) {
            return Err(Error::new(ErrorKind::Unsupported, NAME, why)
                .with_command(crate::render::quote::render(&job.expr)));
        }
        // An awaited job (killable, unguarded) that reads this terminal stays in this
        // program's process group: in one of its own it would stop at its first read
        // (SIGTTIN) and never end. Dropping its future then ends its own processes, not
        // what they started.
        let reads_terminal = matches!(job.stdin, Stdio::Inherit) && std::io::stdin().is_terminal();
        let own_group = job.kill_tree && (job.guarded || !reads_terminal);
        let shared = Shared::new(own_group, job.guarded)
            .map_err(|e| Error::io(NAME, "cannot make the job's process tree", e))?;
        let shared = Arc::new(shared);
        let io = Io {
            stdin: job.stdin,
            stdout: job.stdout,
            stderr: job.stderr,
        };
        let askpass = self.askpass(&job.expr)?;
        let ctx = match &askpass {
            Some(file) => Arc::new(Ctx {
                askpass: Some(file.clone()),
                ..(*self.ctx).clone()
            }),
            None => self.ctx.clone(),
        };
        let running = start_node(&job.expr, &ctx, io, false, &shared)?;
        Ok(Box::new(LocalProcess {
            shared,
            state: Mutex::new(State::Running(running)),
            _askpass: askpass,
        }))
    }

    fn start_detached(&self, expr: &Expr) -> Result<u32> {
        crate::model::validate::check_env_list(&self.ctx.env)
            .map_err(|msg| Error::new(ErrorKind::InvalidInput, NAME, msg))?;
        self.check_dir(expr)?;
        if uses_sudo(expr) && self.sudo_password.is_some() {
            return Err(crate::backends::remote::detached_sudo(NAME));
        }
        if expr.pty_wanted().is_some() {
            return Err(crate::backends::remote::no_terminal(
                NAME,
                "a detached command",
            ));
        }
        detached::start(expr, &self.ctx)
    }

    fn fs(&self) -> &dyn Fs {
        self
    }

    fn identity(&self) -> usize {
        Arc::as_ptr(&self.ctx) as usize
    }
}

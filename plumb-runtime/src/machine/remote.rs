//! What the machines that run commands through a remote shell share: file operations as
//! shell scripts, `which`, and transfers piped through the connection.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, ErrorKind};
use crate::machine::{FileType, Fs, Machine, Metadata};
use crate::{cmd, Result};

/// What a raw script left: its exit code and output.
pub(crate) struct RawOutput {
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// The pid files of a connection's running jobs that can be killed, so that closing the
/// connection ends their processes on the remote host too: sshd does not signal the
/// processes of a session it closes.
#[derive(Default, Debug)]
pub(crate) struct LiveJobs(std::sync::Mutex<Vec<String>>);

impl LiveJobs {
    pub(crate) fn add(&self, pid_file: &str) {
        self.lock().push(pid_file.to_string());
    }

    pub(crate) fn remove(&self, pid_file: &str) {
        self.lock().retain(|p| p != pid_file);
    }

    /// One script that ends every live job, or `None` when there is none; forgets them.
    pub(crate) fn kill_all_script(&self) -> Option<Vec<u8>> {
        let files = std::mem::take(&mut *self.lock());
        if files.is_empty() {
            return None;
        }
        let parts: Vec<Vec<u8>> = files
            .iter()
            .map(|f| crate::script::kill_command(f))
            .collect();
        Some(parts.join(&b"; "[..]))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A machine that runs a script through `/bin/sh`.
pub(crate) trait RemoteShell: Machine + Clone + 'static {
    /// Runs `script` with `stdin`, outside the `Expr` machinery.
    fn run_script(&self, script: &[u8], stdin: &[u8]) -> Result<RawOutput>;

    /// `path` against the handle's directory.
    fn resolve(&self, path: &Path) -> PathBuf;

    /// Runs `script`; its stdout, or an error from its stderr.
    fn shell(&self, script: &[u8]) -> Result<Vec<u8>> {
        let out = self.run_script(script, &[])?;
        if out.code == Some(0) {
            Ok(out.stdout)
        } else {
            Err(remote_error(self.name(), &out.stderr, out.code))
        }
    }
}

/// The outcome of a job whose script exited with `status`: judged by the job's checks,
/// and, when a compound job failed, the failing stage read from the status file its script
/// left behind (the file exists only then; reading removes it).
pub(crate) fn outcome<M: RemoteShell>(
    m: &M,
    expr: &crate::expr::Expr,
    files: &crate::script::ScriptFiles,
    status: crate::output::ExitStatus,
) -> crate::machine::Outcome {
    let accepted = expr.opts().judge(&status, status.success());
    let compound = !matches!(expr.node(), crate::expr::Node::Cmd(_));
    let stage = match (compound, status.code()) {
        (true, Some(code)) if code != 0 => {
            let record = m
                .run_script(&crate::script::take_status_file(files), &[])
                .map(|o| o.stdout)
                .unwrap_or_default();
            crate::script::failed_stage(expr, &record, code).filter(|_| !accepted)
        }
        _ => None,
    };
    crate::machine::Outcome {
        status,
        stage,
        accepted,
        machine: None,
    }
}

/// The full path of `program` on the remote `PATH`.
pub(crate) fn which<M: RemoteShell>(m: &M, program: &str) -> Result<PathBuf> {
    let script = [b"command -v -- ".as_slice(), &crate::quote(program)].concat();
    let out = m.run_script(&script, &[])?;
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if out.code == Some(0) && path.starts_with('/') {
        Ok(PathBuf::from(path))
    } else {
        Err(Error::new(
            ErrorKind::NotFound,
            m.name(),
            format!("program `{program}` not found on PATH"),
        ))
    }
}

/// Copies a local file or tree to `remote`: `tar` (a directory) or `cat` (a file) piped
/// through the connection.
pub(crate) fn upload<M: RemoteShell>(m: &M, local: &Path, remote: &Path) -> Result<()> {
    let remote = m.resolve(remote);
    let meta = std::fs::metadata(local)
        .map_err(|e| Error::io("local", format!("cannot read `{}`", local.display()), e))?;
    let (source, sink) = if meta.is_dir() {
        (
            cmd(
                "tar",
                [os("-C"), local.as_os_str(), os("-cf"), os("-"), os(".")],
            ),
            cmd(
                "sh",
                [
                    os("-c"),
                    os("mkdir -p \"$1\" && exec tar -C \"$1\" -xf -"),
                    os("sh"),
                    remote.as_os_str(),
                ],
            ),
        )
    } else {
        (
            cmd("cat", [local.as_os_str()]),
            cmd(
                "sh",
                [
                    os("-c"),
                    os("exec cat > \"$1\""),
                    os("sh"),
                    remote.as_os_str(),
                ],
            ),
        )
    };
    (source.on(&crate::local()) | sink.on(m)).output().map(drop)
}

/// Copies a remote file or tree to `local`, streamed.
pub(crate) fn download<M: RemoteShell>(m: &M, remote: &Path, local: &Path) -> Result<()> {
    let remote = m.resolve(remote);
    let (source, sink) = if m.metadata(&remote, true)?.is_dir() {
        std::fs::create_dir_all(local)
            .map_err(|e| Error::io("local", format!("cannot create `{}`", local.display()), e))?;
        (
            cmd(
                "tar",
                [os("-C"), remote.as_os_str(), os("-cf"), os("-"), os(".")],
            ),
            cmd("tar", [os("-C"), local.as_os_str(), os("-xf"), os("-")]),
        )
    } else {
        let into_file = crate::__private::command(
            vec!["cat".into()],
            Vec::new(),
            vec![crate::__private::Redirect::Out {
                fd: 1,
                append: false,
                path: local.as_os_str().to_owned(),
            }],
        );
        (cmd("cat", [os("--"), remote.as_os_str()]), into_file)
    };
    (source.on(m) | sink.on(&crate::local())).output().map(drop)
}

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

/// An error for a failed file operation, `NotFound` when the remote says so.
fn remote_error(machine: &str, stderr: &[u8], code: Option<i32>) -> Error {
    let text = String::from_utf8_lossy(stderr).trim().to_string();
    let kind = if text.contains("No such file or directory") || text.contains("not found") {
        ErrorKind::NotFound
    } else {
        ErrorKind::Io
    };
    let text = if text.is_empty() {
        format!("exited with code {}", code.unwrap_or(-1))
    } else {
        text
    };
    Error::new(kind, machine, text)
}

/// Every file operation as a small shell script: the same on any machine that runs one.
impl<M: RemoteShell> Fs for M {
    fn read(&self, path: &Path) -> Result<Vec<u8>> {
        let path = self.resolve(path);
        self.shell(&[b"exec cat -- ".as_slice(), &crate::quote(&path)].concat())
            .map_err(|e| path_error(e, "read", &path))
    }

    fn write(&self, path: &Path, data: &[u8]) -> Result<()> {
        let path = self.resolve(path);
        let out = self.run_script(
            &[b"exec cat > ".as_slice(), &crate::quote(&path)].concat(),
            data,
        )?;
        if out.code == Some(0) {
            Ok(())
        } else {
            Err(path_error(
                remote_error(self.name(), &out.stderr, out.code),
                "write",
                &path,
            ))
        }
    }

    fn metadata(&self, path: &Path, follow: bool) -> Result<Metadata> {
        let path = self.resolve(path);
        let flag: &[u8] = if follow { b"-L " } else { b"" };
        let script = [
            b"exec stat ".as_slice(),
            flag,
            b"-c '%s %f %Y' -- ",
            &crate::quote(&path),
        ]
        .concat();
        let out = self
            .shell(&script)
            .map_err(|e| path_error(e, "stat", &path))?;
        let text = String::from_utf8_lossy(&out);
        let mut it = text.split_whitespace();
        let parse = || {
            Error::new(
                ErrorKind::Protocol,
                self.name(),
                format!("unexpected `stat` output: {text}"),
            )
        };
        let len: u64 = it.next().and_then(|s| s.parse().ok()).ok_or_else(parse)?;
        let raw = it
            .next()
            .and_then(|s| u32::from_str_radix(s, 16).ok())
            .ok_or_else(parse)?;
        let mtime: u64 = it.next().and_then(|s| s.parse().ok()).ok_or_else(parse)?;
        let file_type = match raw & 0o170000 {
            0o040000 => FileType::Dir,
            0o100000 => FileType::File,
            0o120000 => FileType::Symlink,
            _ => FileType::Other,
        };
        Ok(Metadata {
            len,
            mode: raw,
            modified: Some(std::time::UNIX_EPOCH + Duration::from_secs(mtime)),
            file_type,
        })
    }

    fn read_dir(&self, path: &Path) -> Result<Vec<OsString>> {
        let path = self.resolve(path);
        let script = [
            b"cd -- ".as_slice(),
            &crate::quote(&path),
            b" && exec find . -mindepth 1 -maxdepth 1 -printf '%f\\0'",
        ]
        .concat();
        let out = self
            .shell(&script)
            .map_err(|e| path_error(e, "list", &path))?;
        let mut names: Vec<OsString> = out
            .split(|&b| b == 0)
            .filter(|n| !n.is_empty())
            .map(|n| OsString::from_vec(n.to_vec()))
            .collect();
        names.sort();
        Ok(names)
    }

    fn create_dir_all(&self, path: &Path) -> Result<()> {
        let path = self.resolve(path);
        self.shell(&[b"exec mkdir -p -- ".as_slice(), &crate::quote(&path)].concat())
            .map(drop)
            .map_err(|e| path_error(e, "create", &path))
    }

    fn remove(&self, path: &Path) -> Result<()> {
        let path = self.resolve(path);
        let q = crate::quote(&path);
        let script = [
            b"[ -e ".as_slice(),
            &q,
            b" ] || [ -L ",
            &q,
            b" ] || { echo 'No such file or directory' >&2; exit 1; }; exec rm -rf -- ",
            &q,
        ]
        .concat();
        self.shell(&script)
            .map(drop)
            .map_err(|e| path_error(e, "remove", &path))
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        let (from, to) = (self.resolve(from), self.resolve(to));
        let script = [
            b"exec mv -T -- ".as_slice(),
            &crate::quote(&from),
            b" ",
            &crate::quote(&to),
        ]
        .concat();
        self.shell(&script)
            .map(drop)
            .map_err(|e| path_error(e, "rename", &from))
    }
}

/// Names the path in a remote file error.
fn path_error(e: Error, what: &str, path: &Path) -> Error {
    let detail = e.to_string();
    let detail = detail
        .split_once(": ")
        .map_or(detail.as_str(), |(_, d)| d)
        .to_string();
    Error::new(
        e.kind(),
        e.machine(),
        format!("cannot {what} `{}`: {detail}", path.display()),
    )
}

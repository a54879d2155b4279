//! Files on a remote host: over SFTP when the server has it, else as small POSIX shell
//! scripts that need nothing beyond BusyBox (no GNU `find -printf`, no `mv -T`).

use std::ffi::{OsStr, OsString};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use super::sftp::fs::SftpFs;
use super::Remote;
use crate::error::{Error, ErrorKind};
use crate::machine::fs::{sorted, Fs, Metadata, WriteFile};
use crate::machine::Machine;
use crate::model::expr::cmd;
use crate::render::quote::quote;
use crate::Result;
use crate::{ChildStdin, ChildStdout, Handle};

/// An error for a failed file operation, its kind read from what the remote said.
pub(super) fn remote_error(machine: &str, stderr: &[u8], code: i32) -> Error {
    let text = String::from_utf8_lossy(stderr).trim().to_string();
    let kind = classify(&text);
    let text = if text.is_empty() {
        format!("exited with code {code}")
    } else {
        text
    };
    Error::new(kind, machine, text)
}

/// The kind of failure a remote tool's message tells, in the words of GNU, BusyBox, BSD
/// and dash.
fn classify(stderr: &str) -> ErrorKind {
    let says = |words: &[&str]| words.iter().any(|w| stderr.contains(w));
    if says(&["Not a directory"]) {
        ErrorKind::NotADirectory
    } else if says(&[
        "No such file or directory",
        "not found",
        "Directory nonexistent",
    ]) {
        ErrorKind::NotFound
    } else if says(&["Permission denied"]) {
        ErrorKind::PermissionDenied
    } else {
        ErrorKind::Io
    }
}

impl Remote {
    /// A file that receives an upload: created with the permission bits of `mode` under
    /// the host's umask (never a set-ID or sticky bit), or truncated keeping its mode.
    pub(super) fn create_copy(&self, path: &Path, mode: u32) -> Result<Box<dyn WriteFile>> {
        self.check_text(&[path])?;
        let path = self.resolve(path);
        let shell = ShellFs(self);
        match self.conn.sftp() {
            Some(sftp) => SftpFs {
                sftp: &sftp,
                machine: Machine::name(self),
                shell: &shell,
            }
            .create_copy(&path, mode),
            None => shell.create_copy(&path, mode),
        }
    }

    /// Runs `f` with the files of this host: SFTP when the server has it; `paths` must
    /// be text the host can be sent (see [`crate::sys::is_text`]).
    fn with_fs<T>(&self, paths: &[&Path], f: impl FnOnce(&dyn Fs) -> Result<T>) -> Result<T> {
        self.check_text(paths)?;
        let shell = ShellFs(self);
        match self.conn.sftp() {
            Some(sftp) => f(&SftpFs {
                sftp: &sftp,
                machine: Machine::name(self),
                shell: &shell,
            }),
            None => f(&shell),
        }
    }
}

/// Every operation against the handle's directory, on SFTP or the shell.
impl Fs for Remote {
    fn read(&self, path: &Path) -> Result<Vec<u8>> {
        self.with_fs(&[path], |fs| fs.read(&self.resolve(path)))
    }

    fn write(&self, path: &Path, data: &[u8]) -> Result<()> {
        self.with_fs(&[path], |fs| fs.write(&self.resolve(path), data))
    }

    fn append(&self, path: &Path, data: &[u8]) -> Result<()> {
        self.with_fs(&[path], |fs| fs.append(&self.resolve(path), data))
    }

    fn open(&self, path: &Path) -> Result<Box<dyn Read + Send>> {
        self.with_fs(&[path], |fs| fs.open(&self.resolve(path)))
    }

    fn create(&self, path: &Path, append: bool) -> Result<Box<dyn WriteFile>> {
        self.with_fs(&[path], |fs| fs.create(&self.resolve(path), append))
    }

    fn metadata(&self, path: &Path, follow: bool) -> Result<Metadata> {
        self.with_fs(&[path], |fs| fs.metadata(&self.resolve(path), follow))
    }

    fn read_dir(&self, path: &Path) -> Result<Vec<OsString>> {
        self.with_fs(&[path], |fs| fs.read_dir(&self.resolve(path)))
    }

    fn create_dir_all(&self, path: &Path) -> Result<()> {
        self.with_fs(&[path], |fs| fs.create_dir_all(&self.resolve(path)))
    }

    fn remove(&self, path: &Path) -> Result<()> {
        self.with_fs(&[path], |fs| fs.remove(&self.resolve(path)))
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        self.with_fs(&[from, to], |fs| {
            fs.rename(&self.resolve(from), &self.resolve(to))
        })
    }

    fn set_permissions(&self, path: &Path, mode: u32) -> Result<()> {
        self.with_fs(&[path], |fs| fs.set_permissions(&self.resolve(path), mode))
    }

    /// `target` is stored as given: a relative target is relative to the link.
    fn symlink(&self, target: &Path, link: &Path) -> Result<()> {
        self.with_fs(&[target, link], |fs| {
            fs.symlink(target, &self.resolve(link))
        })
    }

    fn read_link(&self, path: &Path) -> Result<PathBuf> {
        self.with_fs(&[path], |fs| fs.read_link(&self.resolve(path)))
    }

    fn touch(&self, path: &Path) -> Result<()> {
        self.with_fs(&[path], |fs| fs.touch(&self.resolve(path)))
    }

    fn copy(&self, from: &Path, to: &Path) -> Result<()> {
        self.check_text(&[from, to])?;
        ShellFs(self).copy(&self.resolve(from), &self.resolve(to))
    }

    fn temp_dir(&self) -> Result<PathBuf> {
        self.with_fs(&[], |fs| fs.temp_dir())
    }

    fn join_path(&self, base: &Path, rest: &Path) -> PathBuf {
        crate::sys::posix_join(base, rest)
    }
}

/// Says "No such file or directory" (which the error's kind is read from) unless
/// something, a dangling symlink included, is at `$p`.
const NEED_P: &[u8] =
    b"[ -e \"$p\" ] || [ -L \"$p\" ] || { printf '%s: No such file or directory\\n' \"$p\" >&2; exit 2; }; ";

/// The file operations as POSIX shell scripts, with paths already resolved. Each sets
/// `p` (and `t`) to the quoted paths first, so a script reads like ordinary shell.
pub(super) struct ShellFs<'a>(pub(super) &'a Remote);

impl ShellFs<'_> {
    /// Runs `body` with `p` set to `path`; its stdout, or an error naming the path.
    fn run(&self, what: &str, path: &Path, body: &[u8], stdin: &[u8]) -> Result<Vec<u8>> {
        let script = [b"p=".as_slice(), &quote(path), b"; ", body].concat();
        self.0
            .shell(&script, stdin)
            .map_err(|e| path_error(e, what, path))
    }

    /// Runs `body` with `p` set to `from` and `t` to `to`.
    fn run2(&self, what: &str, from: &Path, to: &Path, body: &[u8]) -> Result<Vec<u8>> {
        let script = [b"t=".as_slice(), &quote(to), b"; ", body].concat();
        self.run(what, from, &script, &[])
    }

    /// Removes the directory tree at `path` with the host's `rm -rf`: `false` when that
    /// could not run (no `rm` on the `PATH`, a login shell that refuses commands, an
    /// account that only serves SFTP), an error when it ran and failed.
    ///
    /// Why `rm` over SFTP's own walk: SFTP names every file by its path, so a directory
    /// of the tree that another user swaps for a symlink between our listing it and our
    /// removing its entries makes a walk remove files outside the tree (the race of
    /// CVE-2022-21658). GNU's and the BSDs' `rm` walk with descriptors (`openat`, `fts`)
    /// and check each directory they enter; BusyBox's walks by path, no worse than SFTP.
    pub(super) fn remove_tree(&self, path: &Path) -> Result<bool> {
        const RAN: &[u8] = b"plumb-rm\n";
        let script = [
            b"p=".as_slice(),
            &quote(path),
            b"; command -v rm >/dev/null 2>&1 || exit 127; echo plumb-rm; exec rm -rf -- \"$p\"",
        ]
        .concat();
        let out = self.0.run_script(&script, &[])?;
        if !out.stdout.windows(RAN.len()).any(|w| w == RAN) {
            return Ok(false);
        }
        if out.code != 0 {
            let e = remote_error(Machine::name(self.0), &out.stderr, out.code);
            return Err(path_error(e, "remove", path));
        }
        Ok(true)
    }

    /// A command streaming the file to or from us.
    fn spawn(&self, script: &str, path: &Path) -> Result<Handle> {
        self.spawn_with(script, path, OsStr::new(""))
    }

    /// The same with `$2` set to `arg`.
    fn spawn_with(&self, script: &str, path: &Path, arg: &OsStr) -> Result<Handle> {
        // A transfer's streams end with its time, if it has a limit.
        crate::progress::bounded(cmd(
            "sh",
            [
                OsStr::new("-c"),
                OsStr::new(script),
                OsStr::new("sh"),
                path.as_os_str(),
                arg,
            ],
        ))
        .on(self.0)
        .spawn()
    }

    /// [`Remote::create_copy`] as a script: a new file is written, then given the bits
    /// of `mode` that the umask lets through (the shell's arithmetic reads both octal).
    fn create_copy(&self, path: &Path, mode: u32) -> Result<Box<dyn WriteFile>> {
        let script = "if [ -e \"$1\" ] || [ -L \"$1\" ]; then exec cat > \"$1\"; fi; \
                      cat > \"$1\" || exit; \
                      exec chmod -- \"$(printf %o $(( 0$2 & ~0$(umask) )))\" \"$1\"";
        let mode = format!("{:o}", mode & 0o777);
        let mut handle = self.spawn_with(script, path, OsStr::new(&mode))?;
        let input = handle.take_stdin();
        Ok(Box::new(ShellWriter {
            handle,
            input,
            path: path.to_path_buf(),
        }))
    }
}

impl Fs for ShellFs<'_> {
    fn read(&self, path: &Path) -> Result<Vec<u8>> {
        self.run("read", path, b"exec cat -- \"$p\"", &[])
    }

    fn write(&self, path: &Path, data: &[u8]) -> Result<()> {
        self.run("write", path, b"exec cat > \"$p\"", data)
            .map(drop)
    }

    fn append(&self, path: &Path, data: &[u8]) -> Result<()> {
        self.run("write", path, b"exec cat >> \"$p\"", data)
            .map(drop)
    }

    fn open(&self, path: &Path) -> Result<Box<dyn Read + Send>> {
        let mut handle = self.spawn("exec cat -- \"$1\"", path)?;
        let out = handle.take_stdout().expect("a spawned command's stdout");
        Ok(Box::new(ShellReader {
            handle,
            out,
            path: path.to_path_buf(),
        }))
    }

    fn create(&self, path: &Path, append: bool) -> Result<Box<dyn WriteFile>> {
        let script = if append {
            "exec cat >> \"$1\""
        } else {
            "exec cat > \"$1\""
        };
        let mut handle = self.spawn(script, path)?;
        let input = handle.take_stdin();
        Ok(Box::new(ShellWriter {
            handle,
            input,
            path: path.to_path_buf(),
        }))
    }

    /// `stat -c` is GNU's and BusyBox's, `stat -f` BSD's and macOS's: whichever works.
    fn metadata(&self, path: &Path, follow: bool) -> Result<Metadata> {
        let l: &[u8] = if follow { b"-L " } else { b"" };
        let script = [
            NEED_P,
            b"if stat -c %s / >/dev/null 2>&1; then exec stat ",
            l,
            b"-c '%s %f %Y %u %g' -- \"$p\"; else exec stat ",
            l,
            b"-f '%z %Xp %m %u %g' -- \"$p\"; fi",
        ]
        .concat();
        let out = self.run("stat", path, &script, &[])?;
        parse_stat(&out).ok_or_else(|| {
            Error::new(
                ErrorKind::Protocol,
                Machine::name(self.0),
                format!(
                    "unexpected `stat` output for `{}`: {}",
                    path.display(),
                    String::from_utf8_lossy(&out)
                ),
            )
        })
    }

    /// A glob loop, not `find -printf`: the three patterns cover every name, hidden ones
    /// too, and each name ends with a NUL, so any byte but `/` and NUL survives.
    fn read_dir(&self, path: &Path) -> Result<Vec<OsString>> {
        let script = [
            NEED_P,
            b"[ -d \"$p\" ] || { printf '%s: Not a directory\\n' \"$p\" >&2; exit 2; }; \
              cd -- \"$p\" || exit; for f in * .[!.]* ..?*; do \
              if [ -e \"$f\" ] || [ -L \"$f\" ]; then printf '%s\\000' \"$f\"; fi; done"
                .as_slice(),
        ]
        .concat();
        let out = self.run("list", path, &script, &[])?;
        let names = out
            .split(|&b| b == 0)
            .filter(|n| !n.is_empty())
            .map(|n| os_name(Machine::name(self.0), "list", path, n.to_vec()))
            .collect::<Result<_>>()?;
        Ok(sorted(names))
    }

    fn create_dir_all(&self, path: &Path) -> Result<()> {
        self.run("create", path, b"exec mkdir -p -- \"$p\"", &[])
            .map(drop)
    }

    fn remove(&self, path: &Path) -> Result<()> {
        let script = [NEED_P, b"exec rm -rf -- \"$p\"".as_slice()].concat();
        self.run("remove", path, &script, &[]).map(drop)
    }

    /// `rename(2)`'s rules without GNU `mv -T`: a directory replaces an empty directory,
    /// never moves into it.
    fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        let script = [
            NEED_P,
            b"if [ -d \"$t\" ] && [ ! -L \"$t\" ]; then \
              if [ -d \"$p\" ]; then rmdir -- \"$t\" || exit; \
              else printf '%s: Is a directory\\n' \"$t\" >&2; exit 1; fi; fi; \
              exec mv -f -- \"$p\" \"$t\""
                .as_slice(),
        ]
        .concat();
        self.run2("rename", from, to, &script).map(drop)
    }

    fn set_permissions(&self, path: &Path, mode: u32) -> Result<()> {
        let script = format!("exec chmod -- {:o} \"$p\"", mode & 0o7777);
        self.run("set permissions of", path, script.as_bytes(), &[])
            .map(drop)
    }

    fn symlink(&self, target: &Path, link: &Path) -> Result<()> {
        self.run2("create link", link, target, b"exec ln -s -- \"$t\" \"$p\"")
            .map(drop)
    }

    fn read_link(&self, path: &Path) -> Result<PathBuf> {
        let mut out = self.run("read link", path, b"exec readlink -- \"$p\"", &[])?;
        if out.last() == Some(&b'\n') {
            out.pop();
        }
        os_name(Machine::name(self.0), "read link", path, out).map(PathBuf::from)
    }

    fn touch(&self, path: &Path) -> Result<()> {
        self.run("touch", path, b"exec touch -- \"$p\"", &[])
            .map(drop)
    }

    /// `cp -R -P -p` is POSIX: links stay links, modes and times are kept. `to` is the
    /// copy itself, so an existing directory there is an error, not a place to copy into.
    fn copy(&self, from: &Path, to: &Path) -> Result<()> {
        let script = [
            NEED_P,
            b"if [ -d \"$t\" ] && [ ! -L \"$t\" ]; then printf '%s: File exists\\n' \"$t\" >&2; exit 1; fi; \
              exec cp -R -P -p -- \"$p\" \"$t\""
                .as_slice(),
        ]
        .concat();
        self.run2("copy", from, to, &script).map(drop)
    }

    fn temp_dir(&self) -> Result<PathBuf> {
        let script = b"exec mktemp -d \"${TMPDIR:-/tmp}/plumb-XXXXXXXX\"";
        let mut out = self.run("create", Path::new("a temporary directory"), script, &[])?;
        if out.last() == Some(&b'\n') {
            out.pop();
        }
        let name = Path::new("a temporary directory");
        os_name(Machine::name(self.0), "create", name, out).map(PathBuf::from)
    }
}

/// A name the host sent (an entry, a link's target) as an OS string; on Windows it must
/// be UTF-8 (see [`crate::sys::os_string`]).
pub(super) fn os_name(machine: &str, what: &str, path: &Path, name: Vec<u8>) -> Result<OsString> {
    crate::sys::os_string(name)
        .map_err(|e| Error::io(machine, format!("cannot {what} `{}`", path.display()), e))
}

/// `len mode(hex) mtime uid gid`, as both `stat` formats above print it.
fn parse_stat(out: &[u8]) -> Option<Metadata> {
    let text = std::str::from_utf8(out).ok()?;
    let mut it = text.split_whitespace();
    let len = it.next()?.parse().ok()?;
    let mode = u32::from_str_radix(it.next()?, 16).ok()?;
    let mtime: u64 = it.next()?.parse().ok()?;
    let uid = it.next()?.parse().ok()?;
    let gid = it.next()?.parse().ok()?;
    Some(Metadata::from_mode(
        mode,
        len,
        Some(UNIX_EPOCH + Duration::from_secs(mtime)),
        Some((uid, gid)),
    ))
}

/// A remote `cat` streaming a file to us; its failure shows at the end of the stream.
struct ShellReader {
    /// Dropped before `handle` (fields drop in order): a reader left midway closes the
    /// stream first, or the handle's drop would wait for an end that comes after output
    /// nobody reads (over libssh2, the channel's stderr end waits behind its stdout).
    out: ChildStdout,
    handle: Handle,
    path: PathBuf,
}

impl Read for ShellReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.out.read(buf)?;
        if n == 0 && !buf.is_empty() {
            if let Err(e) = self.handle.wait() {
                let e = path_error(e, "read", &self.path);
                return Err(io::Error::other(e));
            }
        }
        Ok(n)
    }
}

/// A remote `cat` writing the file: `finish` closes its stdin and waits for it.
struct ShellWriter {
    handle: Handle,
    input: Option<ChildStdin>,
    path: PathBuf,
}

impl Write for ShellWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.input {
            Some(input) => input.write(buf),
            None => Err(io::Error::other("the file is already closed")),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.input.as_mut().map_or(Ok(()), |i| i.flush())
    }
}

impl WriteFile for ShellWriter {
    fn finish(&mut self) -> Result<()> {
        if self.input.take().is_none() {
            return Ok(());
        }
        self.handle
            .wait()
            .map(drop)
            .map_err(|e| path_error(e, "write", &self.path))
    }
}

impl Drop for ShellWriter {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

/// Names the path in a remote file error; a tool's failure gets the kind its message
/// tells.
fn path_error(e: Error, what: &str, path: &Path) -> Error {
    let kind = match (e.kind(), e.stderr()) {
        (ErrorKind::Exit, Some(stderr)) => classify(&String::from_utf8_lossy(stderr)),
        (kind, _) => kind,
    };
    let detail = e.to_string();
    let detail = detail
        .split_once(": ")
        .map_or(detail.as_str(), |(_, d)| d)
        .to_string();
    Error::new(
        kind,
        e.machine(),
        format!("cannot {what} `{}`: {detail}", path.display()),
    )
}

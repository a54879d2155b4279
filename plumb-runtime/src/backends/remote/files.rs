//! Every file operation as a small POSIX shell script, the same on any remote host.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::Path;
use std::time::Duration;

use super::Remote;
use crate::error::{Error, ErrorKind};
use crate::machine::fs::{FileType, Fs, Metadata};
use crate::machine::Machine;
use crate::render::quote::quote;
use crate::Result;

/// An error for a failed file operation, `NotFound` when the remote says so.
pub(super) fn remote_error(machine: &str, stderr: &[u8], code: i32) -> Error {
    let text = String::from_utf8_lossy(stderr).trim().to_string();
    let kind = if text.contains("No such file or directory") || text.contains("not found") {
        ErrorKind::NotFound
    } else {
        ErrorKind::Io
    };
    let text = if text.is_empty() {
        format!("exited with code {code}")
    } else {
        text
    };
    Error::new(kind, machine, text)
}

/// Every file operation as a small shell script: the same on any machine that runs one.
impl Fs for Remote {
    fn read(&self, path: &Path) -> Result<Vec<u8>> {
        let path = self.resolve(path);
        self.shell(&[b"exec cat -- ".as_slice(), &quote(&path)].concat(), &[])
            .map_err(|e| path_error(e, "read", &path))
    }

    fn write(&self, path: &Path, data: &[u8]) -> Result<()> {
        let path = self.resolve(path);
        self.shell(&[b"exec cat > ".as_slice(), &quote(&path)].concat(), data)
            .map(drop)
            .map_err(|e| path_error(e, "write", &path))
    }

    fn metadata(&self, path: &Path, follow: bool) -> Result<Metadata> {
        let path = self.resolve(path);
        let flag: &[u8] = if follow { b"-L " } else { b"" };
        let script = [
            b"exec stat ".as_slice(),
            flag,
            b"-c '%s %f %Y' -- ",
            &quote(&path),
        ]
        .concat();
        let out = self
            .shell(&script, &[])
            .map_err(|e| path_error(e, "stat", &path))?;
        let text = String::from_utf8_lossy(&out);
        let mut it = text.split_whitespace();
        let parse = || {
            Error::new(
                ErrorKind::Protocol,
                Machine::name(self),
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
            &quote(&path),
            b" && exec find . -mindepth 1 -maxdepth 1 -printf '%f\\0'",
        ]
        .concat();
        let out = self
            .shell(&script, &[])
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
        self.shell(
            &[b"exec mkdir -p -- ".as_slice(), &quote(&path)].concat(),
            &[],
        )
        .map(drop)
        .map_err(|e| path_error(e, "create", &path))
    }

    fn remove(&self, path: &Path) -> Result<()> {
        let path = self.resolve(path);
        let q = quote(&path);
        let script = [
            b"[ -e ".as_slice(),
            &q,
            b" ] || [ -L ",
            &q,
            b" ] || { echo 'No such file or directory' >&2; exit 1; }; exec rm -rf -- ",
            &q,
        ]
        .concat();
        self.shell(&script, &[])
            .map(drop)
            .map_err(|e| path_error(e, "remove", &path))
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        let (from, to) = (self.resolve(from), self.resolve(to));
        let script = [
            b"exec mv -T -- ".as_slice(),
            &quote(&from),
            b" ",
            &quote(&to),
        ]
        .concat();
        self.shell(&script, &[])
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

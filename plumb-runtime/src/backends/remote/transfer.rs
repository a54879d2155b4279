//! `which` and transfers: `tar` (a directory) or `cat` (a file) streamed through the
//! connection, which measured faster than scp.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use super::Remote;
use crate::error::{Error, ErrorKind};
use crate::machine::seam::Backend;
use crate::machine::Machine;
use crate::model::expr::{cmd, Cmd, Expr, Node, Redirect};
use crate::render::quote::quote;
use crate::Result;

/// The full path of `program` on the remote `PATH`.
pub(super) fn which(m: &Remote, program: &str) -> Result<PathBuf> {
    let script = [b"command -v -- ".as_slice(), &quote(program)].concat();
    let out = m.run_script(&script, &[])?;
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if out.code == 0 && path.starts_with('/') {
        Ok(PathBuf::from(path))
    } else {
        Err(Error::new(
            ErrorKind::NotFound,
            Machine::name(m),
            format!("program `{program}` not found on PATH"),
        ))
    }
}

/// Copies a local file or tree to `remote`: `tar` (a directory) or `cat` (a file) piped
/// through the connection.
pub(super) fn upload(m: &Remote, local: &Path, remote: &Path) -> Result<()> {
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
pub(super) fn download(m: &Remote, remote: &Path, local: &Path) -> Result<()> {
    let remote = m.resolve(remote);
    let (source, sink) = if m.fs().metadata(&remote, true)?.is_dir() {
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
        let into_file = Expr::from_node(Node::Cmd(Cmd {
            argv: vec!["cat".into()],
            env: Vec::new(),
            redirects: vec![Redirect::Out {
                fd: 1,
                append: false,
                path: local.as_os_str().to_owned(),
            }],
        }));
        (cmd("cat", [os("--"), remote.as_os_str()]), into_file)
    };
    (source.on(m) | sink.on(&crate::local())).output().map(drop)
}

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

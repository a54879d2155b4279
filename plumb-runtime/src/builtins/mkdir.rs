//! `mkdir [-p] [-m mode] dir...`: makes directories; `-p` makes missing parents too and
//! accepts a directory that is there. `-m` takes an octal mode (on Windows, which has
//! none, only the read-only attribute follows its `0o200` bit).

use std::fs;
use std::io::{self, Write};

use super::opts::{parse, Spec};
use super::{reason, shown, Call};
use crate::output::ExitStatus;

const SPEC: Spec = Spec {
    flags: "pv",
    with_value: "m",
    long: &[("parents", 'p'), ("mode", 'm'), ("verbose", 'v')],
};

pub(super) fn main(call: &mut Call) -> ExitStatus {
    let p = match parse(call.args, &SPEC) {
        Ok(p) => p,
        Err(e) => return call.usage(e),
    };
    let mode = match p.value('m') {
        None => None,
        Some(m) => match m.to_str().and_then(|m| u32::from_str_radix(m, 8).ok()) {
            Some(m) if m <= 0o7777 => Some(m),
            _ => {
                let m = m.to_string_lossy().into_owned();
                return call.usage(format!("invalid mode `{m}` (an octal number is needed)"));
            }
        },
    };
    if p.operands.is_empty() {
        return call.usage("missing operand");
    }
    let mut failed = false;
    for dir in &p.operands {
        let path = call.resolve(dir);
        let made = if p.has('p') {
            fs::create_dir_all(&path).and_then(|()| match path.is_dir() {
                true => Ok(()),
                false => Err(io::Error::from(io::ErrorKind::AlreadyExists)),
            })
        } else {
            fs::create_dir(&path)
        };
        let made = made.and_then(|()| match mode {
            Some(m) => crate::sys::set_mode(&path, m),
            None => Ok(()),
        });
        match made {
            Ok(()) if p.has('v') => {
                let _ = writeln!(call.stdout, "mkdir: created directory '{}'", shown(dir));
            }
            Ok(()) => {}
            Err(e) => {
                call.warn(format!(
                    "cannot create directory '{}': {}",
                    shown(dir),
                    reason(&e)
                ));
                failed = true;
            }
        }
    }
    ExitStatus::from_code(i32::from(failed))
}

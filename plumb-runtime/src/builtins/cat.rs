//! `cat [-u] [file...]`: the files (`-` or none: stdin) to stdout, in order.

use std::ffi::OsString;
use std::fs::File;
use std::io::Read;

use super::opts::{parse, Spec};
use super::{copy_stream, reason, shown, Call, CopyError};
use crate::output::ExitStatus;

const SPEC: Spec = Spec {
    flags: "u",
    with_value: "",
    long: &[],
};

pub(super) fn main(call: &mut Call) -> ExitStatus {
    let p = match parse(call.args, &SPEC) {
        Ok(p) => p,
        Err(e) => return call.usage(e),
    };
    let files = if p.operands.is_empty() {
        vec![OsString::from("-")]
    } else {
        p.operands
    };
    let mut failed = false;
    for f in &files {
        let mut opened;
        let from: &mut dyn Read = if f == "-" {
            &mut call.stdin
        } else {
            match File::open(call.resolve(f)) {
                Ok(file) => {
                    opened = file;
                    &mut opened
                }
                Err(e) => {
                    call.warn(format!("{}: {}", shown(f), reason(&e)));
                    failed = true;
                    continue;
                }
            }
        };
        match copy_stream(from, &mut call.stdout, call.cancel) {
            Ok(()) => {}
            Err(CopyError::Killed) => return call.killed(),
            Err(CopyError::Write(e)) => return call.write_failed(e),
            Err(CopyError::Read(e)) => {
                call.warn(format!("{}: {}", shown(f), reason(&e)));
                failed = true;
            }
        }
    }
    ExitStatus::from_code(i32::from(failed))
}

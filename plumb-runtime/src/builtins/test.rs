//! `test expression` and `[ expression ]`: exit code 0 when the expression is true, 1
//! when false, 2 when it cannot be read (a message names what).
//!
//! POSIX's rules by the number of arguments decide up to four (so `test -n` and
//! `[ "$x" = -f ]` mean what they mean in `sh`); longer expressions are read with `!`,
//! `-a` (binding tighter), `-o` and parentheses. Unary: `-b -c -d -e -f -g -h -k -L -n
//! -p -r -s -S -u -w -x -z`; binary: `= == != < >` on strings, `-eq -ne -lt -le -gt -ge`
//! on integers, `-nt -ot -ef` on files. `-t` (is a terminal) is refused: a builtin's
//! streams are not this process's.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::path::Path;

use super::Call;
use crate::output::ExitStatus;
use crate::sys::OsBytes;

pub(super) fn main(call: &mut Call) -> ExitStatus {
    let args = call.args.to_vec();
    finish(call, evaluate(call, &args))
}

/// `[`: the same, with `]` as its last argument.
pub(super) fn bracket(call: &mut Call) -> ExitStatus {
    let args = call.args.to_vec();
    match args.split_last() {
        Some((last, rest)) if last == "]" => finish(call, evaluate(call, rest)),
        _ => call.usage_with("missing `]`", 2),
    }
}

fn finish(call: &mut Call, result: Result<bool, String>) -> ExitStatus {
    match result {
        Ok(true) => ExitStatus::from_code(0),
        Ok(false) => ExitStatus::from_code(1),
        Err(e) => call.usage_with(e, 2),
    }
}

fn evaluate(call: &Call, args: &[OsString]) -> Result<bool, String> {
    let a: Vec<&OsStr> = args.iter().map(|s| s.as_os_str()).collect();
    let is = |i: usize, s: &str| a.get(i).is_some_and(|x| *x == s);
    match a.len() {
        0 => Ok(false),
        1 => Ok(!a[0].is_empty()),
        2 if is(0, "!") => Ok(a[1].is_empty()),
        2 => unary(call, a[0], a[1]),
        3 if is_binary(a[1]) => binary(call, a[0], a[1], a[2]),
        3 if is(0, "!") => evaluate(call, &args[1..]).map(|r| !r),
        3 if is(0, "(") && is(2, ")") => Ok(!a[1].is_empty()),
        4 if is(0, "!") => evaluate(call, &args[1..]).map(|r| !r),
        4 if is(0, "(") && is(3, ")") => evaluate(call, &args[1..3]),
        _ => {
            let mut p = Parser {
                call,
                a: &a,
                pos: 0,
            };
            let value = p.or()?;
            match p.a.get(p.pos) {
                None => Ok(value),
                Some(extra) => Err(format!("unexpected argument `{}`", extra.to_string_lossy())),
            }
        }
    }
}

/// The general grammar, for more than four arguments.
struct Parser<'a, 'c> {
    call: &'a Call<'c>,
    a: &'a [&'a OsStr],
    pos: usize,
}

impl<'a> Parser<'a, '_> {
    fn peek(&self, s: &str) -> bool {
        self.a.get(self.pos).is_some_and(|x| *x == s)
    }

    fn next(&mut self) -> Result<&'a OsStr, String> {
        let x = *self.a.get(self.pos).ok_or("argument expected")?;
        self.pos += 1;
        Ok(x)
    }

    fn or(&mut self) -> Result<bool, String> {
        let mut value = self.and()?;
        while self.peek("-o") {
            self.pos += 1;
            value |= self.and()?;
        }
        Ok(value)
    }

    fn and(&mut self) -> Result<bool, String> {
        let mut value = self.not()?;
        while self.peek("-a") {
            self.pos += 1;
            value &= self.not()?;
        }
        Ok(value)
    }

    fn not(&mut self) -> Result<bool, String> {
        if self.peek("!") {
            self.pos += 1;
            return self.not().map(|v| !v);
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<bool, String> {
        if self.peek("(") {
            self.pos += 1;
            let value = self.or()?;
            if !self.peek(")") {
                return Err("missing `)`".into());
            }
            self.pos += 1;
            return Ok(value);
        }
        let first = self.next()?;
        if let Some(op) = self.a.get(self.pos).copied().filter(|op| is_binary(op)) {
            self.pos += 1;
            let right = self.next()?;
            return binary(self.call, first, op, right);
        }
        if is_unary(first) && self.pos < self.a.len() {
            let operand = self.next()?;
            return unary(self.call, first, operand);
        }
        Ok(!first.is_empty())
    }
}

fn is_unary(op: &OsStr) -> bool {
    op.to_str().is_some_and(|op| {
        op.len() == 2 && op.starts_with('-') && "bcdefghkLnprsStuwxz".contains(&op[1..])
    })
}

fn is_binary(op: &OsStr) -> bool {
    const OPS: &[&str] = &[
        "=", "==", "!=", "<", ">", "-eq", "-ne", "-lt", "-le", "-gt", "-ge", "-nt", "-ot", "-ef",
        "-a", "-o",
    ];
    op.to_str().is_some_and(|op| OPS.contains(&op))
}

fn unary(call: &Call, op: &OsStr, operand: &OsStr) -> Result<bool, String> {
    let op = op.to_str().unwrap_or("");
    match op {
        "-n" => return Ok(!operand.is_empty()),
        "-z" => return Ok(operand.is_empty()),
        "-t" => {
            return Err("`-t` is not supported (a builtin's streams are not a terminal's)".into())
        }
        _ => {}
    }
    let path = call.resolve(operand);
    let link = fs::symlink_metadata(&path);
    if matches!(op, "-h" | "-L") {
        return Ok(link.is_ok_and(|m| m.file_type().is_symlink()));
    }
    let Ok(m) = fs::metadata(&path) else {
        return if is_unary(OsStr::new(op)) {
            Ok(false)
        } else {
            Err(format!("`{op}`: unary operator expected"))
        };
    };
    let mode = crate::sys::mode(&m).unwrap_or(0);
    Ok(match op {
        "-e" => true,
        "-f" => m.is_file(),
        "-d" => m.is_dir(),
        "-s" => m.len() > 0,
        "-r" => crate::sys::can_access(&path, &m, 4),
        "-w" => crate::sys::can_access(&path, &m, 2),
        "-x" => crate::sys::can_access(&path, &m, 1),
        "-g" => mode & 0o2000 != 0,
        "-u" => mode & 0o4000 != 0,
        "-k" => mode & 0o1000 != 0,
        "-b" | "-c" | "-p" | "-S" => crate::sys::special_type(&m) == op.chars().nth(1),
        _ => return Err(format!("`{op}`: unary operator expected")),
    })
}

fn binary(call: &Call, left: &OsStr, op: &OsStr, right: &OsStr) -> Result<bool, String> {
    let op = op.to_str().unwrap_or("");
    Ok(match op {
        "=" | "==" => left == right,
        "!=" => left != right,
        "<" => left.as_bytes() < right.as_bytes(),
        ">" => left.as_bytes() > right.as_bytes(),
        "-a" => !left.is_empty() && !right.is_empty(),
        "-o" => !left.is_empty() || !right.is_empty(),
        "-nt" | "-ot" => {
            let time = |p: &OsStr| {
                fs::metadata(call.resolve(p))
                    .and_then(|m| m.modified())
                    .ok()
            };
            match (time(left), time(right)) {
                (Some(l), Some(r)) if op == "-nt" => l > r,
                (Some(l), Some(r)) => l < r,
                (Some(_), None) => op == "-nt",
                (None, Some(_)) => op == "-ot",
                (None, None) => false,
            }
        }
        "-ef" => same_file(&call.resolve(left), &call.resolve(right)),
        _ => {
            let (l, r) = (integer(left)?, integer(right)?);
            match op {
                "-eq" => l == r,
                "-ne" => l != r,
                "-lt" => l < r,
                "-le" => l <= r,
                "-gt" => l > r,
                "-ge" => l >= r,
                _ => return Err(format!("`{op}`: binary operator expected")),
            }
        }
    })
}

fn integer(s: &OsStr) -> Result<i64, String> {
    s.to_str()
        .map(str::trim)
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| format!("`{}`: integer expression expected", s.to_string_lossy()))
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtins::Cancel;

    fn check(words: &[&str]) -> Result<bool, String> {
        let cancel = Cancel::default();
        let which = |_: &str, _: bool| Vec::new();
        let args: Vec<OsString> = words.iter().map(OsString::from).collect();
        let call = Call {
            name: "test",
            args: &args,
            stdin: Box::new(std::io::empty()),
            stdout: Box::new(std::io::sink()),
            stderr: Box::new(std::io::sink()),
            dir: None,
            which: &which,
            cancel: &cancel,
        };
        evaluate(&call, &args)
    }

    #[test]
    fn posix_rules_by_count() {
        assert_eq!(check(&[]), Ok(false));
        assert_eq!(check(&["-n"]), Ok(true));
        assert_eq!(check(&[""]), Ok(false));
        assert_eq!(check(&["!", ""]), Ok(true));
        assert_eq!(check(&["-z", ""]), Ok(true));
        assert_eq!(check(&["-f", "="]), Ok(false));
        assert_eq!(check(&["=", "=", "="]), Ok(true));
        assert_eq!(check(&["!", "a", "=", "b"]), Ok(true));
        assert_eq!(check(&["(", "-n", "x", ")"]), Ok(true));
        assert!(check(&["-q", "x"]).is_err());
    }

    #[test]
    fn integers_strings_and_connectives() {
        assert_eq!(check(&["3", "-lt", "10"]), Ok(true));
        assert_eq!(check(&["b", ">", "a"]), Ok(true));
        assert!(check(&["x", "-eq", "1"]).unwrap_err().contains("integer"));
        assert_eq!(check(&["a", "=", "a", "-a", "!", "-z", "x"]), Ok(true));
        assert_eq!(
            check(&["a", "=", "b", "-o", "1", "-eq", "1", "-a", "x", "=", "y"]),
            Ok(false)
        );
        assert_eq!(
            check(&["(", "a", "=", "b", "-o", "1", "-eq", "1", ")", "-a", "x", "=", "x"]),
            Ok(true)
        );
        assert!(check(&["(", "a", "=", "a", "-a", "b"]).is_err());
    }
}

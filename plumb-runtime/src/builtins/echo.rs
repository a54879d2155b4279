//! `echo [-neE] [word...]`: the words, separated by spaces, and a newline unless `-n`.
//!
//! As GNU's `echo`: leading words made only of `-n`, `-e`, `-E` letters are options,
//! any other word (`-x`, `--`) is printed as it is; `-e` reads backslash escapes
//! (`\n \t \\ \a \b \c \e \f \r \v \0NNN \xHH`), `\c` ending the output.

use std::io::Write;

use super::Call;
use crate::output::ExitStatus;
use crate::sys::OsBytes;

pub(super) fn main(call: &mut Call) -> ExitStatus {
    let (mut newline, mut escapes) = (true, false);
    let mut words = call.args;
    while let Some(first) = words.first().and_then(|w| w.to_str()) {
        let Some(letters) = first.strip_prefix('-') else {
            break;
        };
        if letters.is_empty() || !letters.chars().all(|c| "neE".contains(c)) {
            break;
        }
        for c in letters.chars() {
            match c {
                'n' => newline = false,
                'e' => escapes = true,
                _ => escapes = false,
            }
        }
        words = &words[1..];
    }
    let mut out = Vec::new();
    for (i, w) in words.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        if escapes {
            if unescape(w.as_bytes(), &mut out) {
                newline = false;
                break;
            }
        } else {
            out.extend_from_slice(w.as_bytes());
        }
    }
    if newline {
        out.push(b'\n');
    }
    match call.stdout.write_all(&out) {
        Ok(()) => ExitStatus::from_code(0),
        Err(e) => call.write_failed(e),
    }
}

/// Appends `word` with its escapes read; true at `\c` (stop all output there).
fn unescape(word: &[u8], out: &mut Vec<u8>) -> bool {
    let mut i = 0;
    while i < word.len() {
        let b = word[i];
        i += 1;
        if b != b'\\' || i == word.len() {
            out.push(b);
            continue;
        }
        let c = word[i];
        i += 1;
        let simple = match c {
            b'\\' => Some(b'\\'),
            b'a' => Some(7),
            b'b' => Some(8),
            b'e' => Some(27),
            b'f' => Some(12),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            b'v' => Some(11),
            _ => None,
        };
        if let Some(s) = simple {
            out.push(s);
            continue;
        }
        match c {
            b'c' => return true,
            b'0' => out.push(number(word, &mut i, 8, 3)),
            b'x' if word.get(i).is_some_and(u8::is_ascii_hexdigit) => {
                out.push(number(word, &mut i, 16, 2))
            }
            _ => out.extend([b'\\', c]),
        }
    }
    false
}

/// Up to `max` digits of `radix` at `word[*i..]`, as one byte.
fn number(word: &[u8], i: &mut usize, radix: u32, max: usize) -> u8 {
    let mut n: u32 = 0;
    for _ in 0..max {
        match word.get(*i).and_then(|&d| char::from(d).to_digit(radix)) {
            Some(d) => {
                n = n * radix + d;
                *i += 1;
            }
            None => break,
        }
    }
    n as u8
}

//! What a word written in `sh!` expands to, decided once, as `sh` decides: the fields of a
//! word whose pieces are known (a home directory found, a substitution's output read),
//! its patterns matched against file names. The machine only lists directories
//! (`list`): this computer with `std::fs`. A remote host's own `sh` expands the same words
//! by the same rules (see `render::script::words`).
//!
//! - A pattern's `*` matches any bytes but `/`, `?` one byte, `[...]` one of a set
//!   (ranges, `!` or `^` to negate, a `]` first is a member); a name's leading `.` is
//!   matched only by a `.` written as such. Matches are sorted bytewise; a pattern that
//!   matches nothing stays as written. `**` is `*` twice: one path segment, as in POSIX
//!   `sh` (bash without `globstar`).
//! - An unquoted substitution's output splits on spaces, tabs and newlines into fields,
//!   never globbed; the text around it joins the first and last field.

mod pattern;

use std::ffi::OsString;
use std::path::Path;

/// A piece of a word, ready to expand.
#[derive(Debug)]
pub(crate) enum Piece {
    /// Bytes that stay as they are (quoted text, values, a home directory, a quoted
    /// substitution's output).
    Text(Vec<u8>),
    /// Written unquoted: its `*`, `?`, `[...]` match file names.
    Pattern(Vec<u8>),
    /// An unquoted substitution's output: split into fields, never globbed.
    Split(Vec<u8>),
}

/// Hands each entry of a directory (its name's bytes) to a visitor; a directory that
/// cannot be read has no entries. A visitor, not a list: names that do not match are never
/// copied (10 000 allocations of 20 000 entries were a third of a glob's time).
pub(crate) type Lister<'a> = &'a dyn Fn(&Path, &mut dyn FnMut(&[u8]));

/// The arguments a word of `pieces` gives, relative to `base` for patterns; `list` names a
/// directory's entries.
pub(crate) fn fields(pieces: &[Piece], base: &Path, list: Lister) -> Vec<OsString> {
    if pieces.iter().any(|p| matches!(p, Piece::Split(_))) {
        return split(pieces);
    }
    // Each byte, and whether the author wrote it as a wildcard.
    let mut chars: Vec<(u8, bool)> = Vec::new();
    for piece in pieces {
        let (bytes, active) = match piece {
            Piece::Text(t) => (t, false),
            Piece::Pattern(p) => (p, true),
            Piece::Split(_) => unreachable!("handled above"),
        };
        chars.extend(bytes.iter().map(|&b| (b, active)));
    }
    let literal = || os(chars.iter().map(|&(b, _)| b).collect());
    if !pattern::is_pattern(&chars) {
        return vec![literal()];
    }
    let mut found = glob(&chars, base, list);
    if found.is_empty() {
        return vec![literal()];
    }
    // Equal names are the same name: an unstable sort is as good, and quicker.
    found.sort_unstable_by(|a, b| a.as_encoded_bytes().cmp(b.as_encoded_bytes()));
    found
}

/// The fields of a word with unquoted substitutions: their output split on whitespace.
fn split(pieces: &[Piece]) -> Vec<OsString> {
    let mut fields: Vec<Vec<u8>> = Vec::new();
    // Whether the next byte continues the last field.
    let mut open = false;
    for piece in pieces {
        match piece {
            Piece::Text(t) | Piece::Pattern(t) => {
                if !open {
                    fields.push(Vec::new());
                    open = true;
                }
                if let Some(f) = fields.last_mut() {
                    f.extend_from_slice(t);
                }
            }
            Piece::Split(s) => {
                for (i, part) in s.split(|b| b" \t\n".contains(b)).enumerate() {
                    if i > 0 {
                        open = false;
                    }
                    if part.is_empty() {
                        continue;
                    }
                    if !open {
                        fields.push(Vec::new());
                        open = true;
                    }
                    if let Some(f) = fields.last_mut() {
                        f.extend_from_slice(part);
                    }
                }
                if s.last().is_some_and(|b| b" \t\n".contains(b)) {
                    open = false;
                }
            }
        }
    }
    fields.into_iter().map(os).collect()
}

/// The paths `chars` matches, segment by segment from `base` (or `/`).
fn glob(chars: &[(u8, bool)], base: &Path, list: Lister) -> Vec<OsString> {
    let absolute = chars.first().is_some_and(|&(b, _)| b == b'/');
    let segments: Vec<&[(u8, bool)]> = chars.split(|&(b, _)| b == b'/').collect();
    // Each candidate: the text so far (as the user will see it) and the directory it is.
    let mut found: Vec<Vec<u8>> = vec![if absolute { b"/".to_vec() } else { Vec::new() }];
    let last = segments.len() - 1;
    for (i, seg) in segments.iter().enumerate() {
        if seg.is_empty() {
            // `a//b`, or the root's empty first segment: kept as written.
            if i > 0 && i < last {
                found.iter_mut().for_each(|f| f.push(b'/'));
            }
            continue;
        }
        let mut next = Vec::new();
        for prefix in &found {
            let dir = base.join(os(if prefix.is_empty() {
                b".".to_vec()
            } else {
                prefix.clone()
            }));
            if pattern::is_pattern(seg) {
                let matcher = pattern::Matcher::new(seg);
                list(&dir, &mut |name: &[u8]| {
                    if matcher.matches(name) {
                        next.push(joined(prefix, name, i < last));
                    }
                });
            } else {
                let name: Vec<u8> = seg.iter().map(|&(b, _)| b).collect();
                let candidate = joined(prefix, &name, false);
                let path = base.join(os(candidate.clone()));
                if std::fs::symlink_metadata(&path).is_ok() {
                    next.push(joined(prefix, &name, i < last));
                }
            }
        }
        found = next;
        if found.is_empty() {
            break;
        }
    }
    if chars.last().is_some_and(|&(b, _)| b == b'/') {
        // `*/`: directories only.
        found.retain(|f| base.join(os(f.clone())).is_dir());
    }
    found.into_iter().map(os).collect()
}

/// `prefix` + `name`, then a `/` when more segments follow.
fn joined(prefix: &[u8], name: &[u8], more: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(prefix.len() + name.len() + 1);
    out.extend_from_slice(prefix);
    out.extend_from_slice(name);
    if more {
        out.push(b'/');
    }
    out
}

fn os(bytes: Vec<u8>) -> OsString {
    crate::sys::os_from_bytes(bytes)
}

#[cfg(test)]
mod tests;

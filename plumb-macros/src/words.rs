//! Stage 2, after brace expansion: what each character of a word means when the command
//! runs, decided from how it was written ([`Atom`]). Only the author's unquoted characters
//! expand, so a value or a quote never does:
//!
//! - `*`, `?` and a closed `[...]` (`[!...]`, `[^...]`) make the word a pattern: its
//!   unquoted text becomes [`Part::Pattern`]s, matched against file names on the machine
//!   that runs the command; quoted text and values stay [`Part::Lit`] and [`Part::Value`],
//!   literal even in the same word (`${stem}*.txt`). A `[` that never closes is refused (sh
//!   would take it literally, which hides a typo), except the word `[` itself (`test`) and
//!   an empty `[]` (`jq .items[]`).
//! - `~` and `~user` before the first `/` of an unquoted word, or of an assignment's value,
//!   are a home directory ([`Part::Home`]).
//!
//! Patterns mean nothing in an assignment or a here-string (sh expands neither there). A
//! redirection's file and a here-string are plain text to the runtime, so a pattern, `~`
//! or `$(...)` there is a compile error rather than a silent literal.

use proc_macro2::Span;

use crate::lex::{error, Atom, Part, Result, Word};

/// Where a word stands, which decides what may expand in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// A command's argument (its name included) or `cd`'s directory: everything expands.
    Argument,
    /// The value of `NAME=value`: `~`, `$(...)`; no patterns.
    Assignment,
    /// A redirection's file: nothing that only the machine can expand.
    Target,
    /// The text of `<<<`: nothing that only the machine can expand; no patterns.
    HereString,
}

/// `word` with its parts saying what expands, or the error of what cannot.
pub(crate) fn finish(word: &Word, place: Place) -> Result<Word> {
    let atoms = word.atoms.as_slice();
    let (home, mut rest) = match tilde(atoms) {
        Some((home, len)) => (Some(home), &atoms[len..]),
        None => (None, atoms),
    };
    let chars = flags(rest);
    let pattern = match place {
        Place::Argument => is_pattern(&chars, word.span)?,
        Place::Assignment => false,
        Place::Target | Place::HereString => {
            refuse_in_text(place, home.is_some(), closes_pattern(&chars), word.span)?;
            false
        }
    };
    check_substitutions(atoms, place, pattern)?;
    let mut parts = Vec::new();
    let mut lit = String::new();
    let mut pat = String::new();
    if let Some(home) = &home {
        parts.push(Part::Home(home.clone()));
        // `~/*.txt`: the `/` stays a literal part of its own, which a remote shell sees bare
        // right after the `~` (a pattern's literal text it quotes, and `~'/'` is no home).
        if pattern && matches!(rest.first(), Some(Atom::Bare('/'))) {
            lit.push('/');
            rest = &rest[1..];
        }
    }
    for atom in rest {
        match atom {
            Atom::Bare(c) if pattern => {
                flush(&mut parts, &mut lit, Part::Lit);
                pat.push(*c);
            }
            Atom::Bare(c) => lit.push(*c),
            Atom::Quoted(s) => {
                flush(&mut parts, &mut pat, Part::Pattern);
                lit.push_str(s);
            }
            Atom::Value(p) => {
                flush(&mut parts, &mut lit, Part::Lit);
                flush(&mut parts, &mut pat, Part::Pattern);
                parts.push(p.clone());
            }
        }
    }
    flush(&mut parts, &mut lit, Part::Lit);
    flush(&mut parts, &mut pat, Part::Pattern);
    // `""` is still a word: one empty argument.
    if parts.is_empty() {
        parts.push(Part::Lit(String::new()));
    }
    Ok(Word {
        parts,
        ..word.clone()
    })
}

fn flush(parts: &mut Vec<Part>, text: &mut String, part: fn(String) -> Part) {
    if !text.is_empty() {
        parts.push(part(std::mem::take(text)));
    }
}

/// The home of `~` (`None`) or `~user` at the start of `atoms`, and how many atoms it
/// takes: an unquoted `~` and unquoted characters up to the first `/`, as sh reads a tilde
/// prefix. A name must be a portable user name (`[A-Za-z0-9._-]`, no leading `-`); any
/// other text (`~+`, `~"x"`, `~$u`) stays literal, as in POSIX sh.
fn tilde(atoms: &[Atom]) -> Option<(Option<String>, usize)> {
    let Some(Atom::Bare('~')) = atoms.first() else {
        return None;
    };
    let mut name = String::new();
    for atom in &atoms[1..] {
        match atom {
            Atom::Bare('/') => break,
            Atom::Bare(c) => name.push(*c),
            _ => return None,
        }
    }
    let len = 1 + name.chars().count();
    if name.is_empty() {
        return Some((None, len));
    }
    let portable = !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    portable.then_some((Some(name), len))
}

/// Each character of `atoms` and whether it was written unquoted; a value or a
/// substitution is one character that is neither a wildcard nor `]`.
fn flags(atoms: &[Atom]) -> Vec<(char, bool)> {
    let mut out = Vec::with_capacity(atoms.len());
    for atom in atoms {
        match atom {
            Atom::Bare(c) => out.push((*c, true)),
            Atom::Quoted(s) => out.extend(s.chars().map(|c| (c, false))),
            Atom::Value(_) => out.push(('\0', false)),
        }
    }
    out
}

/// Whether the characters make a pattern, refusing a `[` that never closes (but for the
/// word `[`, the test command, and `[]`).
fn is_pattern(chars: &[(char, bool)], span: Span) -> Result<bool> {
    let mut pattern = false;
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            ('*' | '?', true) => pattern = true,
            ('[', true) => match bracket_end(chars, i) {
                Some(end) => {
                    pattern = true;
                    i = end;
                }
                // `[` (test) and `.items[]` (jq): literal, as in sh, and surely meant so.
                None if chars.len() == 1 || matches!(chars.get(i + 1), Some((']', _))) => {}
                None => {
                    return error(
                        span,
                        "this `[` is never closed with `]`: a bracket expression is `[abc]`, \
                         `[a-z]` or `[!a]` within one path segment; quote the `[` (`\"[\"`) \
                         if you mean the character",
                    )
                }
            },
            _ => {}
        }
        i += 1;
    }
    Ok(pattern)
}

/// Whether the characters hold a wildcard, with no check.
fn closes_pattern(chars: &[(char, bool)]) -> bool {
    (0..chars.len()).any(|i| match chars[i] {
        ('*' | '?', true) => true,
        ('[', true) => bracket_end(chars, i).is_some(),
        _ => false,
    })
}

/// Where the bracket expression opened at `start` closes, as the runtime reads it: an
/// unquoted `]` that is not its first member; never across a `/`.
fn bracket_end(chars: &[(char, bool)], start: usize) -> Option<usize> {
    let mut i = start + 1;
    if matches!(chars.get(i), Some(('!' | '^', true))) {
        i += 1;
    }
    let first = i;
    while i < chars.len() {
        let (c, active) = chars[i];
        if c == '/' {
            return None;
        }
        if c == ']' && active && i > first {
            return Some(i);
        }
        let range = matches!(chars.get(i + 1), Some(('-', true)))
            && chars.get(i + 2).is_some_and(|&(c, _)| c != ']' && c != '/');
        i += if range { 3 } else { 1 };
    }
    None
}

/// A redirection's file or a here-string holding what only the machine can expand.
fn refuse_in_text(place: Place, home: bool, pattern: bool, span: Span) -> Result<()> {
    match (place, home, pattern) {
        (Place::Target, true, _) => error(
            span,
            "`~` in a redirection's file is not expanded: write the path with a value, e.g. \
             `> ${home.join(\"x\")}`, or a path relative to the command's directory",
        ),
        (Place::Target, _, true) => error(
            span,
            "a pattern cannot name a redirection's file (sh uses it only when exactly one file \
             matches): write the file's name, or quote the `*`, `?` or `[` that is part of it",
        ),
        (_, true, _) => error(
            span,
            "`~` in a here-string is not expanded: pass the text as a value, `<<< $text`, or \
             quote the `~`",
        ),
        _ => Ok(()),
    }
}

/// `$(...)` where the runtime cannot run it, or unquoted beside a pattern (its output would
/// be split, and a split word is never globbed: the pattern would silently stay literal).
fn check_substitutions(atoms: &[Atom], place: Place, pattern: bool) -> Result<()> {
    for atom in atoms {
        let Atom::Value(Part::Subst(_, quoted, span)) = atom else {
            continue;
        };
        match place {
            Place::Target => {
                return error(
                    *span,
                    "`$(...)` in a redirection's file name is not supported: run it first, \
                     `let name = sh!(...).read()?;`, and write `> $name`",
                )
            }
            Place::HereString => {
                return error(
                    *span,
                    "`$(...)` in a here-string is not supported: pipe the command instead, \
                     `cmd | ...`, or pass its output as a value, `<<< $text`",
                )
            }
            Place::Argument if pattern && !quoted => {
                return error(
                    *span,
                    "an unquoted `$(...)` and a pattern in the same word: quote the \
                     substitution (`\"$(...)\"*.txt`) or split the word",
                )
            }
            _ => {}
        }
    }
    Ok(())
}

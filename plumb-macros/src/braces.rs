//! Brace expansion, at compile time, as bash does it: `pre{a,b}post` is `prea preb`,
//! `{1..3}` is `1 2 3`, `{01..10}` pads with zeros, `{3..1}` counts down, `{1..10..3}`
//! steps, `{a..e}` runs through letters, and braces nest (`{a,b{c,d}}`).
//!
//! Only braces and commas written unquoted in the macro count ([`Atom::Bare`]): quoted text
//! and interpolated values are carried along unchanged, so `"{a,b}"` and a value holding
//! `{a,b}` stay one word, while `${stem}{a,b}` is two. A brace with nothing to expand (`{}`,
//! `{a}`, a lone `{`) stays literal, and a word that expands to nothing is dropped (`{,}`),
//! both as in bash.

use proc_macro2::Span;

use crate::lex::{error, Atom, Result, Word};

/// More words than this from one word is a mistake, not a command line.
pub(crate) const MAX_WORDS: usize = 10_000;

/// The words a word expands to: itself when it has no brace expression.
pub(crate) fn expand(word: &Word) -> Result<Vec<Word>> {
    if !word.atoms.iter().any(|a| matches!(a, Atom::Bare('{'))) {
        return Ok(vec![word.clone()]);
    }
    Ok(expand_atoms(&word.atoms, word.span)?
        .into_iter()
        .filter(|atoms| !atoms.is_empty())
        .map(|atoms| Word::from_atoms(atoms, word.span))
        .collect())
}

/// What is between a `{` and its `}`.
enum Body {
    /// `{a,b}`: the alternatives, each still to be expanded.
    Alternatives(Vec<Vec<Atom>>),
    /// `{1..3}`: the words of the sequence, final.
    Sequence(Vec<String>),
}

fn expand_atoms(atoms: &[Atom], span: Span) -> Result<Vec<Vec<Atom>>> {
    let mut from = 0;
    while let Some(open) = find_bare(atoms, from, '{') {
        if let Some((close, body)) = brace_body(atoms, open, span)? {
            let alternatives = match body {
                Body::Alternatives(list) => {
                    let mut out = Vec::new();
                    for alt in list {
                        out.extend(expand_atoms(&alt, span)?);
                        check_count(out.len(), span)?;
                    }
                    out
                }
                Body::Sequence(words) => words
                    .into_iter()
                    .map(|w| w.chars().map(Atom::Bare).collect())
                    .collect(),
            };
            let after = expand_atoms(&atoms[close + 1..], span)?;
            check_count(alternatives.len().saturating_mul(after.len()), span)?;
            let before = &atoms[..open];
            let mut out = Vec::with_capacity(alternatives.len() * after.len());
            for alt in &alternatives {
                for post in &after {
                    out.push([before, alt, post].concat());
                }
            }
            return Ok(out);
        }
        // Not a brace expression (`{a}`): bash goes on with the next `{`.
        from = open + 1;
    }
    Ok(vec![atoms.to_vec()])
}

fn check_count(n: usize, span: Span) -> Result<()> {
    if n > MAX_WORDS {
        return error(
            span,
            format!(
                "this brace expansion makes too many words ({n} or more; at most {MAX_WORDS}): \
                 build long lists in Rust and pass them as `$[list]`"
            ),
        );
    }
    Ok(())
}

fn find_bare(atoms: &[Atom], from: usize, c: char) -> Option<usize> {
    (from..atoms.len()).find(|&i| matches!(atoms[i], Atom::Bare(x) if x == c))
}

/// The `}` that closes the `{` at `open` and what is between them, when it is a brace
/// expression: alternatives (a comma at the top level) or a valid sequence.
fn brace_body(atoms: &[Atom], open: usize, span: Span) -> Result<Option<(usize, Body)>> {
    let mut depth = 0usize;
    let mut commas = Vec::new();
    for (i, atom) in atoms.iter().enumerate().skip(open + 1) {
        match atom {
            Atom::Bare('{') => depth += 1,
            Atom::Bare('}') if depth > 0 => depth -= 1,
            Atom::Bare('}') => {
                let inner = &atoms[open + 1..i];
                if !commas.is_empty() {
                    let mut list = Vec::new();
                    let mut from = open + 1;
                    for &comma in commas.iter().chain(std::iter::once(&i)) {
                        list.push(atoms[from..comma].to_vec());
                        from = comma + 1;
                    }
                    return Ok(Some((i, Body::Alternatives(list))));
                }
                return Ok(sequence(inner, span)?.map(|words| (i, Body::Sequence(words))));
            }
            Atom::Bare(',') if depth == 0 => commas.push(i),
            _ => {}
        }
    }
    Ok(None)
}

/// `x..y` or `x..y..step`, with integers or single letters, all unquoted.
fn sequence(inner: &[Atom], span: Span) -> Result<Option<Vec<String>>> {
    let Some(text) = inner
        .iter()
        .map(|a| match a {
            Atom::Bare(c) => Some(*c),
            _ => None,
        })
        .collect::<Option<String>>()
    else {
        return Ok(None);
    };
    let fields: Vec<&str> = text.split("..").collect();
    let (x, y, step) = match fields.as_slice() {
        [x, y] => (*x, *y, None),
        [x, y, s] => (*x, *y, Some(*s)),
        _ => return Ok(None),
    };
    let step = match step.map(integer) {
        None => 1,
        Some(Some(s)) => s.unsigned_abs().max(1),
        Some(None) => return Ok(None),
    };
    if let (Some(a), Some(b)) = (integer(x), integer(y)) {
        let count = a.abs_diff(b) / step + 1;
        check_count(usize::try_from(count).unwrap_or(usize::MAX), span)?;
        let width = if padded(x) || padded(y) {
            x.len().max(y.len())
        } else {
            0
        };
        let numbers = steps(a, b, step).map(|n| format!("{n:0width$}"));
        return Ok(Some(numbers.collect()));
    }
    let letter = |s: &str| {
        let mut chars = s.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) if c.is_ascii_alphabetic() => Some(c as i128),
            _ => None,
        }
    };
    match (letter(x), letter(y)) {
        // Between `Z` and `a` bash runs through `[`, `\`, `]`, `^`, `_` and `` ` `` too.
        (Some(a), Some(b)) => Ok(Some(
            steps(a, b, step)
                .filter_map(|n| u8::try_from(n).ok())
                .map(|n| char::from(n).to_string())
                .collect(),
        )),
        _ => Ok(None),
    }
}

/// An optionally signed decimal integer of reasonable size.
fn integer(s: &str) -> Option<i128> {
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    let ok = !digits.is_empty() && digits.len() <= 30 && digits.bytes().all(|b| b.is_ascii_digit());
    ok.then(|| s.parse().ok()).flatten()
}

/// `01`, `-01`: bash then pads every number to the same width.
fn padded(s: &str) -> bool {
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    digits.len() > 1 && digits.starts_with('0')
}

fn steps(a: i128, b: i128, step: u128) -> impl Iterator<Item = i128> {
    let step = i128::try_from(step).unwrap_or(i128::MAX);
    let count = a.abs_diff(b) / step.unsigned_abs() + 1;
    let down = b < a;
    (0..count).map(move |k| {
        let k = i128::try_from(k).unwrap_or(i128::MAX);
        if down {
            a - k * step
        } else {
            a + k * step
        }
    })
}

//! Matching one file name against one segment of a pattern, as `sh` does (POSIX
//! "Pattern Matching Notation" for file names). A pattern is bytes, each with whether the
//! author wrote it as a wildcard: a `*` that came from a value or a quote is a star.

/// Whether `pat` has a wildcard the author wrote: `*`, `?`, or a `[` that opens a
/// bracket expression.
pub(crate) fn is_pattern(pat: &[(u8, bool)]) -> bool {
    pat.iter().enumerate().any(|(i, &(b, active))| {
        active && (b == b'*' || b == b'?' || (b == b'[' && bracket(pat, i).is_some()))
    })
}

/// Whether `name` (one directory entry) matches `pat` (one path segment). A leading `.`
/// is matched only by a `.` written in the pattern's first place.
#[cfg(test)]
pub(crate) fn matches(pat: &[(u8, bool)], name: &[u8]) -> bool {
    Matcher::new(pat).matches(name)
}

/// A segment of a pattern, ready to match many names: the shapes most globs have (`*.txt`,
/// `build-*`) as a suffix or prefix test, the rest by the general matcher.
pub(crate) struct Matcher<'a> {
    pat: &'a [(u8, bool)],
    shape: Shape,
}

enum Shape {
    /// `*` then literal bytes.
    Suffix(Vec<u8>),
    /// Literal bytes then `*`.
    Prefix(Vec<u8>),
    General,
}

impl<'a> Matcher<'a> {
    pub(crate) fn new(pat: &'a [(u8, bool)]) -> Matcher<'a> {
        let wild = |&(b, active): &(u8, bool)| active && matches!(b, b'*' | b'?' | b'[');
        let literal = |p: &[(u8, bool)]| -> Option<Vec<u8>> {
            (!p.iter().any(wild)).then(|| p.iter().map(|&(b, _)| b).collect())
        };
        let shape = match pat {
            [(b'*', true), rest @ ..] if literal(rest).is_some() => {
                Shape::Suffix(literal(rest).unwrap_or_default())
            }
            [rest @ .., (b'*', true)] if literal(rest).is_some() => {
                Shape::Prefix(literal(rest).unwrap_or_default())
            }
            _ => Shape::General,
        };
        Matcher { pat, shape }
    }

    pub(crate) fn matches(&self, name: &[u8]) -> bool {
        if name.first() == Some(&b'.') && !matches!(self.pat.first(), Some((b'.', _))) {
            return false;
        }
        match &self.shape {
            Shape::Suffix(s) => name.ends_with(s),
            Shape::Prefix(p) => name.starts_with(p),
            Shape::General => match_from(self.pat, name),
        }
    }
}

/// Backtracking over the last `*` only: linear in practice, never exponential.
fn match_from(pat: &[(u8, bool)], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    // Where to resume after the last `*`: the pattern after it, the name position.
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pat.get(p) {
            Some(&(b'*', true)) => {
                star = Some((p + 1, n));
                p += 1;
                continue;
            }
            Some(&(b'?', true)) => {
                p += 1;
                n += 1;
                continue;
            }
            Some(&(b'[', true)) => {
                if let Some((set, end)) = bracket(pat, p) {
                    if set.contains(name[n]) {
                        p = end + 1;
                        n += 1;
                        continue;
                    }
                } else if name[n] == b'[' {
                    p += 1;
                    n += 1;
                    continue;
                }
            }
            Some(&(b, _)) if b == name[n] => {
                p += 1;
                n += 1;
                continue;
            }
            _ => {}
        }
        match star {
            Some((sp, sn)) => {
                p = sp;
                n = sn + 1;
                star = Some((sp, sn + 1));
            }
            None => return false,
        }
    }
    pat[p..].iter().all(|&(b, active)| b == b'*' && active)
}

/// A bracket expression's members.
pub(crate) struct Set {
    negated: bool,
    items: Vec<(u8, u8)>,
}

impl Set {
    fn contains(&self, b: u8) -> bool {
        // `/` is never matched by a wildcard; segments hold none anyway.
        let inside = self.items.iter().any(|&(lo, hi)| lo <= b && b <= hi);
        b != b'/' && inside != self.negated
    }
}

/// The bracket expression that opens at `pat[start]`, and where it closes: `None` when it
/// never closes (then the `[` is an ordinary byte, as in `sh`).
fn bracket(pat: &[(u8, bool)], start: usize) -> Option<(Set, usize)> {
    let mut i = start + 1;
    let negated = matches!(pat.get(i), Some((b'!' | b'^', true)));
    if negated {
        i += 1;
    }
    let mut items = Vec::new();
    let first = i;
    while i < pat.len() {
        let (b, active) = pat[i];
        if b == b']' && active && i > first {
            return Some((Set { negated, items }, i));
        }
        let range = matches!(pat.get(i + 1), Some((b'-', true)))
            && pat.get(i + 2).is_some_and(|&(c, _)| c != b']');
        if range {
            let hi = pat[i + 2].0;
            items.push((b, hi));
            i += 3;
        } else {
            items.push((b, b));
            i += 1;
        }
    }
    None
}

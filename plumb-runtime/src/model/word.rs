//! Words that the machine running a command expands: globs, `~`, `$(...)`. The macro
//! decides at compile time which characters the script's author wrote unquoted (a
//! pattern) and which came from a quote or a Rust value (never a pattern); the machine
//! only does what the word says, after `cd`, `.dir()` and `with_dir`:
//!
//! - a [`Part::Pattern`] matches file names as `sh` does: `*`, `?`, `[...]` (`[!...]`,
//!   `[^...]`), a leading `.` matched only explicitly, `/` never matched by a wildcard;
//!   matches sorted bytewise, each one argument; no match leaves the word as written;
//! - a [`Part::Home`] is a home directory (`~`, `~user`) at the start of a word;
//! - a [`Part::Subst`] is a command's stdout, trailing newlines removed: one argument when
//!   quoted; unquoted, split on spaces, tabs and newlines, never globbed or re-parsed.
//!   A substitution that fails fails the command around it.

use std::ffi::{OsStr, OsString};

use crate::model::expr::Expr;

/// One word of a command line that needs expanding: its parts, concatenated.
#[derive(Clone, Debug)]
pub(crate) struct Word(pub(crate) Vec<Part>);

/// A piece of a [`Word`].
#[derive(Clone, Debug)]
pub(crate) enum Part {
    /// Bytes as they are: quoted text, a Rust value.
    Text(OsString),
    /// Text written unquoted with pattern characters in it: `*`, `?`, `[`.
    Pattern(OsString),
    /// `~` (`None`) or `~user` at the start of the word.
    Home(Option<OsString>),
    /// `$(...)`, inside double quotes (`quoted`) or not.
    Subst { expr: Expr, quoted: bool },
}

/// The command line of a command with words to expand: its arguments and the values of
/// its `NAME=value` prefixes.
#[derive(Clone, Debug, Default)]
pub(crate) struct Expansion {
    pub(crate) argv: Vec<Word>,
    pub(crate) env: Vec<(OsString, Word)>,
}

impl Word {
    /// A word of plain bytes.
    pub(crate) fn plain(text: impl Into<OsString>) -> Word {
        Word(vec![Part::Text(text.into())])
    }

    /// Its bytes when nothing in it expands.
    pub(crate) fn as_plain(&self) -> Option<&OsStr> {
        match self.0.as_slice() {
            [Part::Text(t)] => Some(t),
            [] => Some(OsStr::new("")),
            _ => None,
        }
    }

    /// The substitutions in it, in order.
    pub(crate) fn substitutions(&self) -> impl Iterator<Item = &Expr> {
        self.0.iter().filter_map(|p| match p {
            Part::Subst { expr, .. } => Some(expr),
            _ => None,
        })
    }
}

impl Expansion {
    /// Every word, the arguments' first, then the variables' values.
    pub(crate) fn words(&self) -> impl Iterator<Item = &Word> {
        self.argv.iter().chain(self.env.iter().map(|(_, w)| w))
    }
}

//! Words the remote shell expands, and blocks: what the script writes for globs, `~`,
//! `$(...)`, `{ ...; }` and `( ... )`.
//!
//! A command with such words builds its argv in the positional parameters, one word at a
//! time (`set -- "$@" WORD`), so that each word expands by its own rule: a pattern globs
//! (its literal runs quoted, its `*`, `?`, `[...]` bare), `~` expands, an unquoted
//! substitution splits on whitespace with globbing off (`set -f`), a quoted one stays one
//! word. A substitution runs first into a variable, `_cN=$(...)`, so that its status can
//! stop the command: a failing substitution fails the command around it, and its leaves,
//! numbered after the command's, name what failed. Inside `$(...)` fd 4 is the
//! substitution's own stdout, where its pipelines write.

use crate::sys::OsBytes;

use super::{EnvValue, Renderer};
use crate::model::expr::{Cmd, Expr, Redirect};
use crate::model::word::{Part, Word};
use crate::render::quote::quote_into;

impl Renderer {
    /// A command whose words expand: its argv built in `"$@"`, then run.
    pub(super) fn expanding_command(&mut self, cmd: &Cmd, late_dup: bool) {
        let Some(x) = cmd.expand.clone() else {
            return self.command(cmd, late_dup, false);
        };
        let i = self.next_leaf();
        self.raw("{ set -- && ");
        for word in &x.argv {
            self.push_word(word);
            self.raw(" && ");
        }
        let mut env = Vec::new();
        for (k, word) in &x.env {
            let var = self.assign_word(word);
            self.raw(" && ");
            env.push((k.as_os_str(), EnvValue::Shell(format!("\"${var}\""))));
        }
        self.raw("{ ");
        let here = cmd.redirects.iter().rev().find_map(|r| match r {
            Redirect::Here(bytes) => Some(bytes.clone()),
            _ => None,
        });
        if let Some(bytes) = here {
            self.printf(&bytes);
            self.raw(" | ");
        }
        self.env_prefix(&env);
        self.raw("\"$@\"");
        for r in &cmd.redirects {
            self.redirect(r);
        }
        if late_dup {
            self.raw(" 2>&1");
        }
        self.raw(&format!("; }}; _p {i} $?; }}"));
    }

    /// `cd` into a word that may expand: exactly one directory, never an option or a
    /// `CDPATH` entry.
    pub(super) fn cd_word(&mut self, dir: &Word) {
        let i = self.next_leaf();
        self.raw("{ ");
        match dir.as_plain() {
            Some(plain) => self.cd(plain.as_bytes()),
            None => {
                self.raw("set -- && ");
                self.push_word(dir);
                self.raw(
                    " && { [ $# = 1 ] || { echo \"cd: $# directories match\" >&2; false; }; } && \
                     case $1 in /*) cd \"$1\";; *) cd \"./$1\";; esac",
                );
            }
        }
        self.raw(&format!("; _p {i} $?; }}"));
    }

    /// `{ body; }` or `( body )` with redirections for the whole, its status recorded.
    pub(super) fn block(&mut self, body: &Expr, subshell: bool, redirects: &[Redirect], dup: bool) {
        let i = self.next_leaf();
        self.raw(if subshell { "{ ( " } else { "{ { " });
        self.node(body);
        self.raw(if subshell { " )" } else { "; }" });
        for r in redirects {
            self.redirect(r);
        }
        if dup {
            self.raw(" 2>&1");
        }
        self.raw(&format!("; _p {i} $?; }}"));
    }

    /// Appends `word`'s expansion to `"$@"`; its substitutions run first.
    fn push_word(&mut self, word: &Word) {
        let vars = self.substitutions(word);
        let splits = word
            .0
            .iter()
            .any(|p| matches!(p, Part::Subst { quoted: false, .. }));
        if splits {
            self.raw("set -f && set -- \"$@\" ");
            self.word_text(word, &vars, false);
            self.raw(" && set +f");
        } else {
            self.raw("set -- \"$@\" ");
            self.word_text(word, &vars, false);
        }
    }

    /// Sets a variable to `word`'s expansion, as an assignment does (no splitting, no
    /// globbing); its name.
    fn assign_word(&mut self, word: &Word) -> String {
        let vars = self.substitutions(word);
        let var = format!("_v{}", self.pipe);
        self.pipe += 1;
        self.raw(&format!("{var}="));
        self.word_text(word, &vars, true);
        self.raw(" && true");
        var
    }

    /// Runs `word`'s substitutions into variables (`_cN=$(...) && `); their names.
    fn substitutions(&mut self, word: &Word) -> Vec<String> {
        let mut vars = Vec::new();
        for expr in word.substitutions() {
            let var = format!("_c{}", self.pipe);
            self.pipe += 1;
            self.raw(&format!("{var}=$( exec 4>&1; "));
            self.node(expr);
            self.raw(" ) && ");
            vars.push(var);
        }
        vars
    }

    /// The word as shell text: texts quoted, patterns with their wildcards bare, `~`
    /// bare, substitutions as their variables (in double quotes when quoted, or in an
    /// assignment, where nothing splits).
    fn word_text(&mut self, word: &Word, vars: &[String], assignment: bool) {
        let mut vars = vars.iter();
        let mut after_home = false;
        for part in &word.0 {
            match part {
                Part::Text(t) => {
                    let mut t = t.as_bytes();
                    // `~/x`: the slash after a tilde must be bare for the tilde to expand.
                    if after_home && t.starts_with(b"/") {
                        self.raw("/");
                        t = &t[1..];
                    }
                    if !t.is_empty() {
                        self.quoted(t);
                    }
                }
                Part::Pattern(p) => pattern(p.as_bytes(), &mut self.out),
                Part::Home(user) => {
                    self.raw("~");
                    if let Some(user) = user {
                        self.out.extend_from_slice(user.as_bytes());
                    }
                }
                Part::Subst { quoted, .. } => {
                    let var = vars.next().map(String::as_str).unwrap_or("_none");
                    if *quoted || assignment {
                        self.raw(&format!("\"${var}\""));
                    } else {
                        self.raw(&format!("${var}"));
                    }
                }
            }
            after_home = matches!(part, Part::Home(_));
        }
        if word.0.is_empty() {
            self.raw("''");
        }
    }
}

/// A pattern as shell text: `*`, `?` and bracket expressions bare, everything else quoted,
/// so that only what the author wrote as a wildcard matches anything.
fn pattern(p: &[u8], out: &mut Vec<u8>) {
    let mut literal = Vec::new();
    let mut i = 0;
    let flush = |literal: &mut Vec<u8>, out: &mut Vec<u8>| {
        if !literal.is_empty() {
            quote_into(literal, out);
            literal.clear();
        }
    };
    while i < p.len() {
        match p[i] {
            b'*' | b'?' => {
                flush(&mut literal, out);
                out.push(p[i]);
                i += 1;
            }
            b'[' => match bracket_end(p, i) {
                Some(end) => {
                    flush(&mut literal, out);
                    bracket(&p[i..=end], out);
                    i = end + 1;
                }
                None => {
                    literal.push(b'[');
                    i += 1;
                }
            },
            b => {
                literal.push(b);
                i += 1;
            }
        }
    }
    flush(&mut literal, out);
}

/// Where the bracket expression that starts at `p[start]` ends, as sh reads it: a `]`
/// right after `[`, `[!` or `[^` is a member, not the end.
pub(crate) fn bracket_end(p: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    if matches!(p.get(i), Some(b'!' | b'^')) {
        i += 1;
    }
    if p.get(i) == Some(&b']') {
        i += 1;
    }
    while i < p.len() {
        match p[i] {
            b']' => return Some(i),
            b'/' => return None,
            _ => i += 1,
        }
    }
    None
}

/// A bracket expression as shell text: `[`, a leading `!` (for `^` too, which POSIX sh
/// may not know), the members each quoted but for the `-` of a range, `]`.
fn bracket(b: &[u8], out: &mut Vec<u8>) {
    let inner = &b[1..b.len() - 1];
    out.push(b'[');
    let members = match inner.first() {
        Some(b'!' | b'^') => {
            out.push(b'!');
            &inner[1..]
        }
        _ => inner,
    };
    for (k, &m) in members.iter().enumerate() {
        let range = m == b'-' && k > 0 && k + 1 < members.len();
        if range {
            out.push(b'-');
        } else {
            quote_into(&[m], out);
        }
    }
    out.push(b']');
}

//! Stage 2: shell tokens -> AST, with every check that produces a spanned error.
//!
//! Grammar (POSIX shell, minus what plumb does not do):
//!
//! ```text
//! script   := list
//! list     := and_or ((';' | NEWLINE) and_or)*        a final `;` and newlines allowed
//! and_or   := pipeline (('&&' | '||') NEWLINE* pipeline)*
//! pipeline := command (('|' | '|&') NEWLINE* command)*
//! command  := 'cd' word | (NAME=word)* word (word | redirect)*
//! redirect := ('>' | '>>' | '2>' | '2>>' | '&>' | '&>>' | '<' | '<<<') word | '2>&1' | '>&2'
//! ```
//!
//! Words other than assignments and here-strings are brace-expanded here (as bash does), so
//! one word of the input may become several. A command word that is one of sh's reserved
//! words (`if`, `while`, `{`, `!`, ...) is refused with the Rust to write instead.

use proc_macro2::Span;

use crate::braces;
use crate::lex::{error, reserved_word, Op, Part, Result, Tok, Word};

/// A whole `sh!` input: and-or lists joined by `;` / newlines, flattened in order. The first
/// item's operator is `;`.
#[derive(Debug)]
pub(crate) struct Script {
    pub items: Vec<(SeqOp, Pipeline)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SeqOp {
    Then,
    And,
    Or,
}

#[derive(Debug)]
pub(crate) struct Pipeline {
    /// Each stage, and whether its stderr also goes into the pipe after it (`|&`).
    pub stages: Vec<(Command, bool)>,
}

#[derive(Debug)]
pub(crate) enum Command {
    Simple(Simple),
    Cd(Word),
}

#[derive(Debug)]
pub(crate) struct Simple {
    pub env: Vec<(String, Word)>,
    pub words: Vec<Word>,
    pub redirects: Vec<Redirect>,
}

#[derive(Debug)]
pub(crate) enum Redirect {
    /// `>`, `>>`, `2>`, `2>>` to a file.
    Out { fd: u8, append: bool, target: Word },
    /// `&>`, `&>>` to a file.
    OutAll { append: bool, target: Word },
    /// `< file`
    In(Word),
    /// `<<< word`
    Here(Word),
    /// `2>&1`, `>&2`
    Dup { from: u8, to: u8 },
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

pub(crate) fn parse(toks: Vec<Tok>) -> Result<Script> {
    let mut p = Parser { toks, pos: 0 };
    p.skip_newlines();
    if p.peek().is_none() {
        return error(
            Span::call_site(),
            "empty command: write a command, e.g. `sh!(ls -la)`",
        );
    }
    let mut items = Vec::new();
    let mut op = SeqOp::Then;
    loop {
        items.push((op, p.pipeline()?));
        match p.peek() {
            None => break,
            Some(Tok::Op(Op::And, _)) => op = SeqOp::And,
            Some(Tok::Op(Op::Or, _)) => op = SeqOp::Or,
            Some(Tok::Op(Op::Semi, _)) | Some(Tok::Newline(_)) => op = SeqOp::Then,
            Some(other) => {
                let span = other.span();
                return error(span, unexpected(other));
            }
        }
        let Some(sep) = p.next() else { break };
        if matches!(sep, Tok::Newline(_)) || op == SeqOp::Then {
            // A final `;` ends the last command, as in any POSIX shell.
            p.skip_newlines();
            if p.peek().is_none() {
                break;
            }
        } else {
            p.skip_newlines();
            if p.peek().is_none() {
                let text = if op == SeqOp::And { "&&" } else { "||" };
                return error(
                    sep.span(),
                    format!("`{text}` at the end: a command must follow it"),
                );
            }
        }
    }
    Ok(Script { items })
}

fn unexpected(tok: &Tok) -> String {
    match tok {
        Tok::Op(op, _) => format!("unexpected `{}` here", op.text()),
        Tok::Word(_) => "unexpected word here".into(),
        Tok::Newline(_) => "unexpected line break here".into(),
    }
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn skip_newlines(&mut self) {
        while matches!(self.peek(), Some(Tok::Newline(_))) {
            self.pos += 1;
        }
    }

    fn pipeline(&mut self) -> Result<Pipeline> {
        let mut stages = Vec::new();
        loop {
            let command = self.command()?;
            match self.peek() {
                Some(Tok::Op(op @ (Op::Pipe | Op::PipeAll), span)) => {
                    let (all, span) = (*op == Op::PipeAll, *span);
                    self.pos += 1;
                    self.skip_newlines();
                    if let Command::Cd(w) = &command {
                        return error(w.span, "`cd` cannot be part of a pipeline");
                    }
                    let text = if all { "|&" } else { "|" };
                    match self.peek() {
                        None => {
                            return error(
                                span,
                                format!("`{text}` at the end: a command must follow the pipe"),
                            )
                        }
                        Some(Tok::Op(op, s)) if !is_redirect(*op) => {
                            return error(
                                *s,
                                format!(
                                    "`{}` right after `{text}`: a command must follow the pipe",
                                    op.text()
                                ),
                            )
                        }
                        _ => {}
                    }
                    stages.push((command, all));
                }
                _ => {
                    if let (Command::Cd(w), false) = (&command, stages.is_empty()) {
                        return error(w.span, "`cd` cannot be part of a pipeline");
                    }
                    stages.push((command, false));
                    return Ok(Pipeline { stages });
                }
            }
        }
    }

    fn command(&mut self) -> Result<Command> {
        let mut simple = Simple {
            env: Vec::new(),
            words: Vec::new(),
            redirects: Vec::new(),
        };
        let first_span = self.peek().map(Tok::span).unwrap_or_else(Span::call_site);
        loop {
            match self.peek() {
                Some(Tok::Word(w)) => {
                    let w = w.clone();
                    self.pos += 1;
                    if simple.words.is_empty() {
                        if let Some((name, value)) = assignment(&w) {
                            simple.env.push((name, value));
                            continue;
                        }
                        reserved_word(&w)?;
                    }
                    simple.words.extend(braces::expand(&w)?);
                }
                Some(Tok::Op(op, span)) if is_redirect(*op) => {
                    let (op, span) = (*op, *span);
                    self.pos += 1;
                    simple.redirects.push(self.redirect(op, span)?);
                }
                _ => break,
            }
        }
        if simple.words.is_empty() {
            return match (simple.env.first(), simple.redirects.is_empty(), self.peek()) {
                (Some((name, w)), _, _) => error(
                    w.span,
                    format!(
                        "`{name}=...` without a command: an assignment sets the environment of \
                         the command after it; use `.env(\"{name}\", value)` for a whole \
                         expression"
                    ),
                ),
                (None, false, _) => error(first_span, "a redirection needs a command"),
                (None, true, Some(tok)) => {
                    let span = tok.span();
                    let msg = match tok {
                        Tok::Op(op, _) => format!(
                            "`{}` with no command before it: a command must come first",
                            op.text()
                        ),
                        _ => unexpected(tok),
                    };
                    error(span, msg)
                }
                (None, true, None) => error(first_span, "a command is missing here"),
            };
        }
        check_splats(&simple)?;
        if simple.words[0].as_bare() == Some("cd") {
            return cd(simple);
        }
        Ok(Command::Simple(simple))
    }

    fn redirect(&mut self, op: Op, span: Span) -> Result<Redirect> {
        if let Op::Dup(from, to) = op {
            return Ok(Redirect::Dup { from, to });
        }
        let target = match self.peek() {
            Some(Tok::Word(w)) if op == Op::HereString => w.clone(),
            Some(Tok::Word(w)) => one_word(w)?,
            _ => {
                let msg = if op == Op::HereString {
                    "`<<<` needs a value: `<<< $text` feeds a Rust value to stdin".to_string()
                } else {
                    format!("`{}` needs a file name after it", op.text())
                };
                return error(span, msg);
            }
        };
        self.pos += 1;
        if let Some(Part::Splat(_, s)) = target.parts.iter().find(|p| matches!(p, Part::Splat(..)))
        {
            return error(
                *s,
                "a redirection target is one word: use `$name` or `${expr}`, not `$[...]`",
            );
        }
        Ok(match op {
            Op::Out(fd, append) => Redirect::Out { fd, append, target },
            Op::OutAll(append) => Redirect::OutAll { append, target },
            Op::In => Redirect::In(target),
            _ => Redirect::Here(target),
        })
    }
}

fn is_redirect(op: Op) -> bool {
    matches!(
        op,
        Op::Out(..) | Op::OutAll(_) | Op::In | Op::HereString | Op::Dup(..)
    )
}

/// A redirection target after brace expansion: still one word (bash: "ambiguous redirect").
fn one_word(w: &Word) -> Result<Word> {
    let mut words = braces::expand(w)?;
    match words.len() {
        1 => Ok(words.remove(0)),
        n => error(
            w.span,
            format!("a redirection target is one file, but this brace expansion makes {n} words"),
        ),
    }
}

/// `NAME=value` at the start of a command: the `=` must be unquoted, the name a valid
/// environment variable name.
fn assignment(w: &Word) -> Option<(String, Word)> {
    let prefix = &w.bare_prefix;
    let eq = prefix.find('=')?;
    let name = &prefix[..eq];
    let mut chars = name.chars();
    let first = chars.next()?;
    if !(first == '_' || first.is_ascii_alphabetic())
        || !chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
    {
        return None;
    }
    let mut value = w.clone();
    match value.parts.first_mut() {
        Some(Part::Lit(s)) => {
            s.drain(..=eq);
            if s.is_empty() && value.parts.len() > 1 {
                value.parts.remove(0);
            }
        }
        _ => return None,
    }
    Some((name.to_string(), value))
}

/// `$[...]` expands to whole words: it cannot be glued to other text.
fn check_splats(simple: &Simple) -> Result<()> {
    let words = simple.words.iter().chain(simple.env.iter().map(|(_, w)| w));
    for w in words {
        if w.parts.len() > 1 {
            if let Some(Part::Splat(_, s)) = w.parts.iter().find(|p| matches!(p, Part::Splat(..))) {
                return error(
                    *s,
                    "`$[...]` expands to separate words and must stand alone; use `${...}` to \
                     join a value into a word",
                );
            }
        }
    }
    for (name, w) in &simple.env {
        if let Some(Part::Splat(_, s)) = w.parts.first() {
            return error(
                *s,
                format!("`{name}=$[...]`: an environment value is one word; use `${{...}}`"),
            );
        }
    }
    Ok(())
}

fn cd(simple: Simple) -> Result<Command> {
    let span = simple.words[0].span;
    if !simple.env.is_empty() || !simple.redirects.is_empty() {
        return error(span, "`cd` takes no assignments or redirections");
    }
    let mut words = simple.words.into_iter();
    words.next();
    match (words.next(), words.next()) {
        (Some(dir), None) => {
            if matches!(dir.parts.as_slice(), [Part::Splat(..)]) {
                return error(
                    dir.span,
                    "`cd` takes one directory: use `$dir`, not `$[...]`",
                );
            }
            Ok(Command::Cd(dir))
        }
        (None, _) => error(span, "`cd` needs a directory: `cd some/dir`"),
        (Some(_), Some(extra)) => error(extra.span, "`cd` takes exactly one directory"),
    }
}

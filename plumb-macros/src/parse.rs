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
//!           | '{' list '}' redirect*                 a group; `;` before `}` optional
//!           | '(' list ')' redirect*                 a subshell
//! redirect := ('>' | '>>' | '2>' | '2>>' | '&>' | '&>>' | '<' | '<<<') word | '2>&1' | '>&2'
//! ```
//!
//! Words other than assignments and here-strings are brace-expanded here (as bash does), so
//! one word of the input may become several; then `words::finish` says what each character
//! means when the command runs (globs, `~`). A command word that is one of sh's reserved
//! words (`if`, `while`, `!`, ...) is refused with the Rust to write instead. `{` and `}`
//! are words, recognised as a group's braces where a command starts, as in sh; inside a
//! group, a bare `}` ends it also as a command's last word (`{ a; b }`), where sh wants a
//! `;` before it. `(` and `)` are operators everywhere, as in sh.

use proc_macro2::Span;

use crate::braces;
use crate::lex::{error, reserved_word, Op, Part, Result, Tok, Word};
use crate::words::{self, Place};

/// A whole `sh!` input, or the body of a group or a substitution: and-or lists joined by
/// `;` / newlines, flattened in order. The first item's operator is `;`.
#[derive(Debug, Clone)]
pub(crate) struct Script {
    pub items: Vec<(SeqOp, Pipeline)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SeqOp {
    Then,
    And,
    Or,
}

#[derive(Debug, Clone)]
pub(crate) struct Pipeline {
    /// Each stage, and whether its stderr also goes into the pipe after it (`|&`).
    pub stages: Vec<(Command, bool)>,
}

#[derive(Debug, Clone)]
pub(crate) enum Command {
    Simple(Simple),
    Cd(Word),
    Block(Block),
}

#[derive(Debug, Clone)]
pub(crate) struct Simple {
    pub env: Vec<(String, Word)>,
    pub words: Vec<Word>,
    pub redirects: Vec<Redirect>,
}

/// `{ ...; }` or `( ... )`, with redirections for the whole.
#[derive(Debug, Clone)]
pub(crate) struct Block {
    pub subshell: bool,
    pub body: Script,
    pub redirects: Vec<Redirect>,
}

#[derive(Debug, Clone)]
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

/// What ends a list: the end of the input, or the closing token of a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Input,
    Paren,
    Brace,
}

/// Deeper nesting of groups, subshells and substitutions than this is a mistake, and
/// refused before the recursion of the parser could exhaust the compiler's stack.
const MAX_DEPTH: usize = 64;

std::thread_local! {
    static DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Runs `f`, the parsing of a group's, subshell's or substitution's content at `span`, one
/// level deeper.
pub(crate) fn nested<T>(span: Span, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let depth = DEPTH.with(|d| {
        d.set(d.get() + 1);
        d.get()
    });
    let out = if depth > MAX_DEPTH {
        error(
            span,
            format!(
                "groups, subshells and `$(...)` nest more than {MAX_DEPTH} deep here: split \
                 the command into several `sh!`"
            ),
        )
    } else {
        f()
    };
    DEPTH.with(|d| d.set(d.get() - 1));
    out
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    /// The blocks open around the current command, innermost last.
    open: Vec<End>,
}

pub(crate) fn parse(toks: Vec<Tok>) -> Result<Script> {
    let mut p = Parser {
        toks,
        pos: 0,
        open: Vec::new(),
    };
    p.skip_newlines();
    if p.peek().is_none() {
        return error(
            Span::call_site(),
            "empty command: write a command, e.g. `sh!(ls -la)`",
        );
    }
    p.list(End::Input)
}

fn unexpected(tok: &Tok) -> String {
    match tok {
        Tok::Op(Op::Open, _) => "`(` in the middle of a command: a subshell `( ... )` stands \
                                 where a command starts; quote `\"(\"` if you mean the character"
            .into(),
        Tok::Op(Op::Close, _) => "`)` without a `(` before it: quote `\")\"` if you mean the \
                                  character"
            .into(),
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

    /// Whether the next token closes the list that `end` ends (it is not consumed).
    fn at_end(&self, end: End) -> bool {
        match (end, self.peek()) {
            (End::Paren, Some(Tok::Op(Op::Close, _))) => true,
            (End::Brace, Some(Tok::Word(w))) => w.as_bare() == Some("}"),
            _ => false,
        }
    }

    /// And-or lists up to the end of the input or the token that closes the block
    /// (`end`, not consumed).
    fn list(&mut self, end: End) -> Result<Script> {
        let mut items = Vec::new();
        let mut op = SeqOp::Then;
        loop {
            items.push((op, self.pipeline()?));
            match self.peek() {
                None => break,
                _ if self.at_end(end) => break,
                Some(Tok::Op(Op::And, _)) => op = SeqOp::And,
                Some(Tok::Op(Op::Or, _)) => op = SeqOp::Or,
                Some(Tok::Op(Op::Semi, _)) | Some(Tok::Newline(_)) => op = SeqOp::Then,
                Some(other) => {
                    let span = other.span();
                    return error(span, unexpected(other));
                }
            }
            let Some(sep) = self.next() else { break };
            self.skip_newlines();
            let ended = self.peek().is_none() || self.at_end(end);
            if matches!(sep, Tok::Newline(_)) || op == SeqOp::Then {
                // A final `;` ends the last command, as in any POSIX shell.
                if ended {
                    break;
                }
            } else if ended {
                let text = if op == SeqOp::And { "&&" } else { "||" };
                return error(
                    sep.span(),
                    format!("`{text}` at the end: a command must follow it"),
                );
            }
        }
        Ok(Script { items })
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
                        Some(Tok::Op(op, s)) if !is_redirect(*op) && *op != Op::Open => {
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
        match self.peek() {
            Some(Tok::Op(Op::Open, span)) => {
                let span = *span;
                return self.block(End::Paren, span);
            }
            Some(Tok::Word(w)) if w.as_bare() == Some("{") => {
                let span = w.span;
                return self.block(End::Brace, span);
            }
            Some(Tok::Word(w)) if w.as_bare() == Some("}") => {
                return error(
                    w.span,
                    "`}` where a command starts, but no group `{ ...; }` is open: quote `\"}\"` \
                     if you mean the character",
                )
            }
            _ => {}
        }
        let mut simple = Simple {
            env: Vec::new(),
            words: Vec::new(),
            redirects: Vec::new(),
        };
        let first_span = self.peek().map(Tok::span).unwrap_or_else(Span::call_site);
        loop {
            match self.peek() {
                // `{ a; b }`: the last word of a group's last command may be its `}`.
                Some(Tok::Word(w))
                    if self.open.last() == Some(&End::Brace)
                        && !simple.words.is_empty()
                        && w.as_bare() == Some("}") =>
                {
                    break
                }
                Some(Tok::Word(w)) => {
                    let w = w.clone();
                    self.pos += 1;
                    if simple.words.is_empty() {
                        if let Some((name, value)) = assignment(&w) {
                            let value = words::finish(&value, Place::Assignment)?;
                            simple.env.push((name, value));
                            continue;
                        }
                        command_word(&w, !simple.env.is_empty())?;
                    }
                    for word in braces::expand(&w)? {
                        simple.words.push(words::finish(&word, Place::Argument)?);
                    }
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
                        Tok::Op(Op::Close, _) => unexpected(tok),
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

    /// A group (`end` is `Brace`) or a subshell (`Paren`) whose opening token is next, and
    /// the redirections after it.
    fn block(&mut self, end: End, span: Span) -> Result<Command> {
        let (open, close, what) = match end {
            End::Paren => ("(", ")", "subshell `( ... )`"),
            _ => ("{", "}", "group `{ ...; }`"),
        };
        self.pos += 1;
        self.skip_newlines();
        if self.peek().is_none() || self.at_end(end) {
            let msg = if self.peek().is_none() {
                format!("this `{open}` is never closed: a {what} ends with `{close}`")
            } else {
                format!("an empty {what}: put a command inside")
            };
            return error(span, msg);
        }
        self.open.push(end);
        let body = nested(span, || self.list(end));
        self.open.pop();
        let body = body?;
        if !self.at_end(end) {
            return error(
                span,
                format!(
                    "this `{open}` is never closed: a {what} ends with `{close}` as a word of \
                     its own"
                ),
            );
        }
        self.pos += 1;
        let mut redirects = Vec::new();
        loop {
            match self.peek() {
                Some(Tok::Op(op, span)) if is_redirect(*op) => {
                    let (op, span) = (*op, *span);
                    self.pos += 1;
                    redirects.push(self.redirect(op, span)?);
                }
                Some(Tok::Word(w)) => {
                    return error(
                        w.span,
                        format!(
                            "a word after a {what}'s `{close}`: only redirections may follow \
                             it; end it with `;`, `&&`, `||` or `|` first"
                        ),
                    )
                }
                _ => break,
            }
        }
        Ok(Command::Block(Block {
            subshell: end == End::Paren,
            body,
            redirects,
        }))
    }

    fn redirect(&mut self, op: Op, span: Span) -> Result<Redirect> {
        if let Op::Dup(from, to) = op {
            return Ok(Redirect::Dup { from, to });
        }
        let target = match self.peek() {
            Some(Tok::Word(w)) if op == Op::HereString => words::finish(w, Place::HereString)?,
            Some(Tok::Word(w)) => words::finish(&one_word(w)?, Place::Target)?,
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

/// Checks a command's first word: sh's reserved words, and a `{` glued to a word (which sh
/// would run as a program named `{echo`). `after_env`: assignments come before it.
fn command_word(w: &Word, after_env: bool) -> Result<()> {
    reserved_word(w)?;
    let Some(text) = w.as_bare() else {
        return Ok(());
    };
    if text == "{" && after_env {
        return error(
            w.span,
            "a group `{ ...; }` takes no `NAME=value` before it: put the assignment on the \
             commands inside, or use `.env(name, value)` on the whole",
        );
    }
    let glued = text.starts_with('{') && text.len() > 1;
    if glued && braces::expand(w)?.first().map(|x| x.atoms.len()) == Some(w.atoms.len()) {
        return error(
            w.span,
            format!(
                "`{text}`: a group's `{{` is a word of its own, as in sh: write `{{ {} ...; }}` \
                 with a blank after `{{`",
                text.trim_start_matches('{')
            ),
        );
    }
    Ok(())
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
    // The name and `=` are unquoted ASCII characters, one atom each.
    let value = Word::from_atoms(w.atoms[eq + 1..].to_vec(), w.span);
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

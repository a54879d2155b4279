//! Stage 1: input -> shell tokens.
//!
//! The token form (`sh!(ls -la)`) and the string form (`sh!("ls -la")`) meet here. Each is
//! first turned into [`Unit`]s (one unquoted character, a blank, a newline, a quoted piece or
//! an interpolation), and one word lexer turns units into [`Tok`]s for the parser.
//!
//! The token form rebuilds words from token positions: two Rust tokens belong to the same
//! shell word exactly when one ends where the next starts, so `-la`, `./src/main.rs` and
//! `2>&1` come out as written. Its tokens are first kept as [`Piece`]s, one per Rust token
//! with the gap before it, so that the rustfmt check can lex the same tokens spaced another
//! way.
//!
//! A word remembers how each character was written ([`Atom`]): brace expansion (in the
//! parser) applies only to what was written unquoted.

use proc_macro2::{
    Delimiter, Group, Ident, LineColumn, Literal, Spacing, Span, TokenStream, TokenTree,
};

use crate::parse::Script;
use crate::source::{self, Source};

/// A compile error at a span.
#[derive(Debug)]
pub(crate) struct Error {
    pub span: Span,
    pub message: String,
}

pub(crate) type Result<T> = std::result::Result<T, Error>;

pub(crate) fn error<T>(span: Span, message: impl Into<String>) -> Result<T> {
    Err(Error {
        span,
        message: message.into(),
    })
}

/// A piece of a shell word.
#[derive(Debug, Clone)]
pub(crate) enum Part {
    /// Literal text, quoted or not.
    Lit(String),
    /// `$name` or `${expr}`: exactly one argument.
    Value(TokenStream, Span),
    /// `$[expr]`: zero or more arguments.
    Splat(TokenStream, Span),
    /// `$(...)`: its script, whether it stands inside double quotes, the span of its `$`.
    Subst(Box<Script>, bool, Span),
    /// Unquoted text with wildcards the author wrote (`words::finish` makes these).
    Pattern(String),
    /// `~` (`None`) or `~user` at the start of a word (`words::finish` makes these).
    Home(Option<String>),
}

/// How one piece of a word was written.
#[derive(Debug, Clone)]
pub(crate) enum Atom {
    /// An unquoted character written in the macro: `{`, `,` and `}` of brace expansion
    /// count only as these.
    Bare(char),
    /// Quoted or escaped text, possibly empty: always literal.
    Quoted(String),
    /// An interpolation or a substitution (`Part::Value`, `Part::Splat`, `Part::Subst`).
    Value(Part),
}

/// A shell word: concatenated parts.
#[derive(Debug, Clone)]
pub(crate) struct Word {
    pub parts: Vec<Part>,
    pub span: Span,
    /// The unquoted, uninterpolated prefix as written (used to recognise `cd`, `NAME=`,
    /// and file descriptor numbers).
    pub bare_prefix: String,
    /// True when every part is unquoted literal text.
    pub bare: bool,
    /// The word as written, piece by piece.
    pub atoms: Vec<Atom>,
}

impl Word {
    /// The word made of these atoms. Adjacent literal text becomes one part; a word of
    /// empty quotes (`""`) is one empty part.
    pub(crate) fn from_atoms(atoms: Vec<Atom>, span: Span) -> Word {
        let mut parts = Vec::new();
        let mut bare_prefix = String::new();
        let mut bare = true;
        let push_lit = |parts: &mut Vec<Part>, s: &str| match parts.last_mut() {
            Some(Part::Lit(l)) => l.push_str(s),
            _ if s.is_empty() => {}
            _ => parts.push(Part::Lit(s.to_string())),
        };
        for atom in &atoms {
            match atom {
                Atom::Bare(c) => {
                    if bare {
                        bare_prefix.push(*c);
                    }
                    push_lit(&mut parts, c.encode_utf8(&mut [0; 4]));
                }
                Atom::Quoted(s) => {
                    bare = false;
                    push_lit(&mut parts, s);
                }
                Atom::Value(p) => {
                    bare = false;
                    parts.push(p.clone());
                }
            }
        }
        if parts.is_empty() {
            parts.push(Part::Lit(String::new()));
        }
        Word {
            parts,
            span,
            bare_prefix,
            bare,
            atoms,
        }
    }

    /// The literal text when the word is a plain unquoted literal.
    pub(crate) fn as_bare(&self) -> Option<&str> {
        self.bare.then_some(self.bare_prefix.as_str())
    }
}

/// Shell operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Pipe,
    PipeAll,
    And,
    Or,
    Semi,
    /// `>`, `2>`, `>>`, `2>>`: (fd, append)
    Out(u8, bool),
    /// `&>`, `&>>`
    OutAll(bool),
    /// `<`
    In,
    /// `<<<`
    HereString,
    /// `2>&1` (2, 1), `>&2` (1, 2)
    Dup(u8, u8),
    /// `(` and `)`: a subshell.
    Open,
    Close,
}

impl Op {
    pub(crate) fn text(self) -> String {
        match self {
            Op::Pipe => "|".into(),
            Op::PipeAll => "|&".into(),
            Op::And => "&&".into(),
            Op::Or => "||".into(),
            Op::Semi => ";".into(),
            Op::Out(1, false) => ">".into(),
            Op::Out(1, true) => ">>".into(),
            Op::Out(fd, false) => format!("{fd}>"),
            Op::Out(fd, true) => format!("{fd}>>"),
            Op::OutAll(false) => "&>".into(),
            Op::OutAll(true) => "&>>".into(),
            Op::In => "<".into(),
            Op::HereString => "<<<".into(),
            Op::Dup(from, to) => format!("{from}>&{to}"),
            Op::Open => "(".into(),
            Op::Close => ")".into(),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Tok {
    Word(Word),
    Op(Op, Span),
    Newline(Span),
}

impl Tok {
    pub(crate) fn span(&self) -> Span {
        match self {
            Tok::Word(w) => w.span,
            Tok::Op(_, s) | Tok::Newline(s) => *s,
        }
    }
}

/// The lexer's input alphabet, shared by both forms.
#[derive(Debug, Clone)]
pub(crate) enum Unit {
    /// An unquoted source character.
    Ch(char, Span),
    /// Whitespace between words.
    Blank,
    /// A line break: separates commands like `;`.
    Newline(Span),
    /// A quoted piece (`Part::Lit`) or an interpolation: part of a word, never an operator.
    Part(Part, Span),
}

/// Lexes the macro input: one string literal is the string form, anything else the token
/// form. `source` gives the text between tokens, where the compiler dropped comments.
pub(crate) fn lex(input: TokenStream, source: Source<'_>) -> Result<Vec<Tok>> {
    let trees: Vec<TokenTree> = input.into_iter().collect();
    if trees.is_empty() {
        return error(
            Span::call_site(),
            "empty command: write a command, e.g. `sh!(ls -la)`",
        );
    }
    if let Some(text) = string_form(&trees) {
        let text = Text {
            full: &text,
            span: trees[0].span(),
            point: true,
        };
        return words(string_units(text, 0, text.full.len())?).map(continue_lines);
    }
    source::check_comments(&trees, source)?;
    token_words(&pieces(&trees)?, None)
}

/// The text of the string form, when the input is one plain string literal.
pub(crate) fn string_form(trees: &[TokenTree]) -> Option<String> {
    match trees {
        [TokenTree::Literal(lit)] => {
            string_literal(lit).and_then(|s| (s.kind == StrKind::Plain).then_some(s.value))
        }
        _ => None,
    }
}

/// A line that starts with `|`, `|&`, `&&` or `||` continues the one before: the way
/// rustfmt breaks a long expression, and a readable way to write a long pipeline.
fn continue_lines(toks: Vec<Tok>) -> Vec<Tok> {
    let mut out: Vec<Tok> = Vec::with_capacity(toks.len());
    for tok in toks {
        if let Tok::Op(Op::Pipe | Op::PipeAll | Op::And | Op::Or, _) = tok {
            while matches!(out.last(), Some(Tok::Newline(_))) {
                out.pop();
            }
        }
        out.push(tok);
    }
    out
}

// ---------------------------------------------------------------------------------------
// The string form.

/// Where a string-form error happened, shown under the message since a string literal has
/// one span.
fn at(text: &str, byte: usize) -> String {
    let line_start = text[..byte].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[byte..].find('\n').map_or(text.len(), |i| byte + i);
    let col = text[line_start..byte].chars().count();
    format!(
        "\n  | {}\n  | {}^",
        &text[line_start..line_end],
        " ".repeat(col)
    )
}

/// Text read by sh's rules: the string form, or the inside of a token-form string literal.
/// Offsets are into `full`, so that an error inside a `$(...)` points into the whole text.
#[derive(Clone, Copy)]
struct Text<'a> {
    full: &'a str,
    span: Span,
    /// Whether an error shows where it happened (the string form: one span for the text).
    point: bool,
}

impl Text<'_> {
    fn error<T>(&self, byte: usize, message: impl Into<String>) -> Result<T> {
        Err(self.located(
            byte,
            Error {
                span: self.span,
                message: message.into(),
            },
        ))
    }

    fn located(&self, byte: usize, e: Error) -> Error {
        let message = if self.point {
            format!("{}{}", e.message, at(self.full, byte))
        } else {
            e.message
        };
        Error { message, ..e }
    }

    /// The character at `i`, when `i` is before `to`.
    fn char_at(&self, i: usize, to: usize) -> Option<char> {
        if i < to {
            self.full.get(i..)?.chars().next()
        } else {
            None
        }
    }
}

/// The units of `t.full[from..to]`.
fn string_units(t: Text<'_>, from: usize, to: usize) -> Result<Vec<Unit>> {
    let span = t.span;
    let mut units = Vec::new();
    let mut i = from;
    while let Some(c) = t.char_at(i, to) {
        let mut next = i + c.len_utf8();
        match c {
            '\n' => units.push(Unit::Newline(span)),
            c if c.is_whitespace() => units.push(Unit::Blank),
            '\\' => match t.char_at(next, to) {
                Some('\n') => next += 1, // line continuation
                Some(c) => {
                    units.push(Unit::Part(Part::Lit(c.to_string()), span));
                    next += c.len_utf8();
                }
                None => return t.error(i, "`\\` at the end: nothing to escape"),
            },
            '\'' => {
                let Some(end) = t.full[next..to].find('\'') else {
                    return t.error(i, "unterminated quote: this `'` is never closed");
                };
                let text = t.full[next..next + end].to_string();
                units.push(Unit::Part(Part::Lit(text), span));
                next += end + 1;
            }
            '"' => {
                let Some(len) = double_quoted_len(&t.full[next..to]) else {
                    return t.error(i, "unterminated quote: this `\"` is never closed");
                };
                for part in double_quoted(t, next, next + len)? {
                    units.push(Unit::Part(part, span));
                }
                next += len + 1;
            }
            '$' => {
                let (part, used) = dollar(t, i, to, false)?;
                let part = part.unwrap_or_else(|| Part::Lit("$".into()));
                units.push(Unit::Part(part, span));
                next += used;
            }
            '`' => return t.error(i, BACKTICKS),
            c => units.push(Unit::Ch(c, span)),
        }
        i = next;
    }
    Ok(units)
}

/// The length of a double-quoted string's text up to its closing `"`: a `\` skips the
/// character after it, and a `$(...)` inside is skipped whole (its quotes are its own);
/// `None` when it is never closed.
fn double_quoted_len(text: &str) -> Option<usize> {
    closing(text, Scope::Double)
}

/// The length of a `$(...)`'s text up to its closing `)`: parentheses nest, quotes and
/// escapes are skipped; `None` when it is never closed.
fn substitution_len(text: &str) -> Option<usize> {
    closing(text, Scope::Substitution(0))
}

/// What [`closing`] is inside of.
enum Scope {
    Double,
    /// `$(...)`, with how many `(` are open in it.
    Substitution(usize),
}

/// Where the scope opened just before `text` closes. Nested scopes are a stack, not
/// recursion, so deep nesting cannot exhaust the compiler's stack; only ASCII bytes are
/// compared, so a skip never cuts a character where the text is sliced.
fn closing(text: &str, first: Scope) -> Option<usize> {
    let b = text.as_bytes();
    let mut scopes = vec![first];
    let mut i = 0;
    while i < b.len() {
        match (scopes.last_mut()?, b[i]) {
            (_, b'\\') => i += 1,
            (Scope::Double, b'"') | (Scope::Substitution(0), b')') => {
                scopes.pop();
                if scopes.is_empty() {
                    return Some(i);
                }
            }
            (Scope::Double, b'$') if b.get(i + 1) == Some(&b'(') => {
                scopes.push(Scope::Substitution(0));
                i += 1;
            }
            (Scope::Double, _) => {}
            (Scope::Substitution(open), b')') => *open -= 1,
            (Scope::Substitution(open), b'(') => *open += 1,
            (Scope::Substitution(_), b'\'') => i += 1 + text[i + 1..].find('\'')?,
            (Scope::Substitution(_), b'"') => scopes.push(Scope::Double),
            (Scope::Substitution(_), _) => {}
        }
        i += 1;
    }
    None
}

const BACKTICKS: &str = "backticks (command substitution) are not supported: write `$(...)` \
                         instead, e.g. `$(date +%F)`, which nests and quotes plainly";

const ARITHMETIC: &str = "arithmetic expansion `$((...))` is not supported: compute the number \
                          in Rust and pass it as `${expr}`, e.g. `${n + 1}`";

const EMPTY_SUBSTITUTION: &str = "`$()` is empty: put a command inside, e.g. `$(date +%F)`";

/// The parts of a double-quoted word from its text as written between the quotes
/// (`t.full[from..to]`), by sh's rules in both forms: a backslash escapes only `$`, `` ` ``,
/// `"`, `\` and a line break (`"\n"` stays a backslash and an `n`); `$` interpolates,
/// `$(...)` substitutes as one word; a backtick is refused.
fn double_quoted(t: Text<'_>, from: usize, to: usize) -> Result<Vec<Part>> {
    let mut parts = Vec::new();
    let mut lit = String::new();
    let mut i = from;
    while let Some(c) = t.char_at(i, to) {
        match c {
            '\\' => match t.char_at(i + 1, to) {
                Some('\n') => i += 2,
                Some(n @ ('$' | '`' | '"' | '\\')) => {
                    lit.push(n);
                    i += 2;
                }
                _ => {
                    lit.push('\\');
                    i += 1;
                }
            },
            '`' => return t.error(i, BACKTICKS),
            '$' => {
                let (part, used) = dollar(t, i, to, true)?;
                match part {
                    None => lit.push('$'),
                    Some(Part::Splat(..)) => {
                        return t.error(
                            i,
                            "`$[...]` cannot be used inside quotes: it expands to separate words",
                        )
                    }
                    Some(part) => {
                        if !lit.is_empty() {
                            parts.push(Part::Lit(std::mem::take(&mut lit)));
                        }
                        parts.push(part);
                    }
                }
                i += 1 + used;
            }
            c => {
                lit.push(c);
                i += c.len_utf8();
            }
        }
    }
    // An empty quoted string is still a word: `""` is one empty argument.
    if !lit.is_empty() || parts.is_empty() {
        parts.push(Part::Lit(lit));
    }
    Ok(parts)
}

/// Parses what follows the `$` at `t.full[at]`, up to `to` (string form, or inside any
/// double-quoted text; `quoted` inside double quotes). Returns the part (`None` for `$$`, a
/// literal dollar) and how many bytes after the `$` it used.
fn dollar(t: Text<'_>, at: usize, to: usize, quoted: bool) -> Result<(Option<Part>, usize)> {
    let rest = &t.full[at + 1..to];
    let span = t.span;
    let first = rest.chars().next();
    match first {
        Some('$') => Ok((None, 1)),
        Some('(') if rest.starts_with("((") => t.error(at, ARITHMETIC),
        Some('(') => {
            let Some(len) = substitution_len(&rest[1..]) else {
                return t.error(at, "unbalanced `$(`: the `(` is never closed with `)`");
            };
            let (from, end) = (at + 2, at + 2 + len);
            if t.full[from..end].trim().is_empty() {
                return t.error(at, EMPTY_SUBSTITUTION);
            }
            let script = crate::parse::nested(span, || {
                let toks = words(string_units(t, from, end)?).map(continue_lines)?;
                crate::parse::parse(toks)
            })?;
            Ok((Some(Part::Subst(Box::new(script), quoted, span)), len + 2))
        }
        Some('{') | Some('[') => {
            let (open, close) = if first == Some('{') {
                ('{', '}')
            } else {
                ('[', ']')
            };
            let mut depth = 0usize;
            for (j, c) in rest.char_indices() {
                if c == '{' || c == '[' || c == '(' {
                    depth += 1;
                } else if c == '}' || c == ']' || c == ')' {
                    depth -= 1;
                    if depth == 0 {
                        if c != close {
                            break;
                        }
                        let src = &rest[1..j];
                        let expr = rust_expr(src, span, open).map_err(|e| t.located(at, e))?;
                        let part = if open == '{' {
                            Part::Value(expr, span)
                        } else {
                            Part::Splat(expr, span)
                        };
                        return Ok((Some(part), j + 1));
                    }
                }
            }
            t.error(
                at,
                format!("unbalanced `${open}`: the `{open}` is never closed with `{close}`"),
            )
        }
        Some(c) if c == '_' || c.is_alphabetic() => {
            let len = rest
                .char_indices()
                .find(|&(_, c)| !(c == '_' || c.is_alphanumeric()))
                .map_or(rest.len(), |(j, _)| j);
            let name = &rest[..len];
            let Ok(ident) = syn::parse_str::<Ident>(name) else {
                return t.error(
                    at,
                    format!("`${name}`: `{name}` is not a Rust variable name"),
                );
            };
            let ident = Ident::new(&ident.to_string(), span);
            Ok((Some(Part::Value(TokenTree::Ident(ident).into(), span)), len))
        }
        _ => t.error(at, DOLLAR),
    }
}

const DOLLAR: &str = "`$` must be followed by a variable name, `{expr}` or `[iterable]`; write \
                      `$$` for a literal `$`";

fn rust_expr(src: &str, span: Span, open: char) -> Result<TokenStream> {
    let close = if open == '{' { '}' } else { ']' };
    if src.trim().is_empty() {
        return error(
            span,
            format!("`${open}{close}` is empty: put a Rust expression inside"),
        );
    }
    let expr: syn::Expr = syn::parse_str(src).map_err(|e| Error {
        span,
        message: format!("`${open}{src}{close}`: not a Rust expression: {e}"),
    })?;
    Ok(respan(quote::ToTokens::into_token_stream(expr), span))
}

/// Gives every token of an expression parsed from a string the literal's span, so names
/// resolve at the user's call site and errors point at the user's line.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tt| {
            if let TokenTree::Group(g) = &tt {
                let mut group = Group::new(g.delimiter(), respan(g.stream(), span));
                group.set_span(span);
                tt = TokenTree::Group(group);
            } else {
                tt.set_span(span);
            }
            tt
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// The token form.

#[derive(PartialEq)]
enum StrKind {
    Plain,
    Raw,
}

struct StrLit {
    kind: StrKind,
    value: String,
}

/// Decodes a Rust string literal (`"..."` or `r#"..."#`); `None` for any other literal.
fn string_literal(lit: &Literal) -> Option<StrLit> {
    let text = lit.to_string();
    let parsed: syn::LitStr = syn::parse_str(&text).ok()?;
    let kind = if text.starts_with('r') {
        StrKind::Raw
    } else {
        StrKind::Plain
    };
    Some(StrLit {
        kind,
        value: parsed.value(),
    })
}

pub(crate) fn start(span: Span) -> LineColumn {
    span.start()
}

pub(crate) fn end(span: Span) -> LineColumn {
    span.end()
}

/// What separates a token from the one before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gap {
    /// Nothing: the two are one word (or one operator).
    Joined,
    Blank,
    Newline,
}

/// What a [`Piece`] was as a Rust token.
#[derive(Debug, Clone)]
pub(crate) enum PieceKind {
    Ident(String),
    Literal(String),
    Punct(char, Spacing),
    Open(Delimiter),
    Close(Delimiter),
    /// `$` and what it interpolates.
    Dollar,
}

/// One Rust token of the token form (a group's delimiters are pieces of their own), the gap
/// before it and its units.
#[derive(Debug, Clone)]
pub(crate) struct Piece {
    pub gap: Gap,
    pub kind: PieceKind,
    pub span: Span,
    units: Vec<Unit>,
}

impl Piece {
    /// The first and last unit, when both are unquoted characters.
    pub(crate) fn edge_chars(&self) -> (Option<char>, Option<char>) {
        let ch = |u: Option<&Unit>| match u {
            Some(Unit::Ch(c, _)) => Some(*c),
            _ => None,
        };
        (ch(self.units.first()), ch(self.units.last()))
    }
}

/// Flattens Rust tokens into pieces. A gap between two tokens is a blank; a change of line is
/// a newline.
pub(crate) fn pieces(trees: &[TokenTree]) -> Result<Vec<Piece>> {
    let mut out = Vec::new();
    let mut last_end: Option<LineColumn> = None;
    flatten(trees, &mut out, &mut last_end)?;
    Ok(out)
}

/// The shell tokens of pieces, with their own gaps or, for the rustfmt check, `gaps`.
pub(crate) fn token_words(pieces: &[Piece], gaps: Option<&[Gap]>) -> Result<Vec<Tok>> {
    let mut units = Vec::new();
    for (i, piece) in pieces.iter().enumerate() {
        let gap = gaps.map_or(piece.gap, |g| g[i]);
        if i > 0 {
            match gap {
                Gap::Joined => {}
                Gap::Blank => units.push(Unit::Blank),
                Gap::Newline => units.push(Unit::Newline(piece.span)),
            }
        }
        units.extend(piece.units.iter().cloned());
    }
    words(units).map(continue_lines)
}

fn gap_before(last_end: &mut Option<LineColumn>, span: Span) -> Gap {
    let gap = match *last_end {
        None => Gap::Joined,
        Some(prev) => {
            let here = start(span);
            if here.line > prev.line {
                Gap::Newline
            } else if here != prev {
                Gap::Blank
            } else {
                Gap::Joined
            }
        }
    };
    *last_end = Some(end(span));
    gap
}

fn flatten(
    trees: &[TokenTree],
    out: &mut Vec<Piece>,
    last_end: &mut Option<LineColumn>,
) -> Result<()> {
    let mut i = 0;
    while i < trees.len() {
        let tt = &trees[i];
        if let TokenTree::Group(g) = tt {
            if g.delimiter() == Delimiter::None {
                // An invisible group (from macro_rules): its tokens are the text.
                let inner: Vec<TokenTree> = g.stream().into_iter().collect();
                flatten(&inner, out, last_end)?;
                i += 1;
                continue;
            }
        }
        let gap = gap_before(last_end, tt.span());
        let piece = |kind, units| Piece {
            gap,
            kind,
            span: tt.span(),
            units,
        };
        match tt {
            TokenTree::Punct(p) if p.as_char() == '$' => {
                let next = trees
                    .get(i + 1)
                    .filter(|n| start(n.span()) == end(p.span()));
                let (part, used) = token_dollar(p.span(), next)?;
                let part = part.unwrap_or_else(|| Part::Lit("$".into()));
                out.push(piece(PieceKind::Dollar, vec![Unit::Part(part, p.span())]));
                if used {
                    *last_end = Some(end(trees[i + 1].span()));
                    i += 1;
                }
            }
            TokenTree::Punct(p) if p.as_char() == '\'' => {
                return error(
                    p.span(),
                    "single quotes cannot be written in the token form: use the string form, \
                     e.g. sh!(\"echo 'a b'\")",
                )
            }
            TokenTree::Punct(p) => out.push(piece(
                PieceKind::Punct(p.as_char(), p.spacing()),
                vec![Unit::Ch(p.as_char(), p.span())],
            )),
            TokenTree::Ident(id) => {
                let text = id.to_string();
                let units = text.chars().map(|c| Unit::Ch(c, id.span())).collect();
                out.push(piece(PieceKind::Ident(text), units));
            }
            TokenTree::Literal(lit) => {
                let units = literal_units(lit)?;
                out.push(piece(PieceKind::Literal(lit.to_string()), units));
            }
            TokenTree::Group(g) => {
                let (open, close) = match g.delimiter() {
                    Delimiter::Parenthesis => ('(', ')'),
                    Delimiter::Brace => ('{', '}'),
                    _ => ('[', ']'),
                };
                out.push(Piece {
                    gap,
                    kind: PieceKind::Open(g.delimiter()),
                    span: g.span_open(),
                    units: vec![Unit::Ch(open, g.span_open())],
                });
                *last_end = Some(end(g.span_open()));
                let inner: Vec<TokenTree> = g.stream().into_iter().collect();
                flatten(&inner, out, last_end)?;
                out.push(Piece {
                    gap: gap_before(last_end, g.span_close()),
                    kind: PieceKind::Close(g.delimiter()),
                    span: g.span_close(),
                    units: vec![Unit::Ch(close, g.span_close())],
                });
            }
        }
        i += 1;
    }
    Ok(())
}

/// `$` in the token form: `$name`, `${expr}`, `$[expr]`, `$(cmd)`, `$$`. Returns the part
/// (`None` for a literal `$`) and whether the next token was consumed.
fn token_dollar(span: Span, next: Option<&TokenTree>) -> Result<(Option<Part>, bool)> {
    match next {
        Some(TokenTree::Punct(p)) if p.as_char() == '$' => Ok((None, true)),
        Some(TokenTree::Ident(id)) => Ok((
            Some(Part::Value(TokenTree::Ident(id.clone()).into(), id.span())),
            true,
        )),
        Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Parenthesis => {
            let inner: Vec<TokenTree> = g.stream().into_iter().collect();
            match inner.as_slice() {
                // `$((`, not `$( (`: a subshell inside a substitution has a blank before it.
                [TokenTree::Group(i)]
                    if i.delimiter() == Delimiter::Parenthesis
                        && start(i.span()) == end(g.span_open()) =>
                {
                    error(span, ARITHMETIC)
                }
                [] => error(span, EMPTY_SUBSTITUTION),
                _ => {
                    let script = crate::parse::nested(span, || {
                        crate::parse::parse(token_words(&pieces(&inner)?, None)?)
                    })?;
                    Ok((Some(Part::Subst(Box::new(script), false, span)), true))
                }
            }
        }
        Some(TokenTree::Group(g)) if g.delimiter() != Delimiter::None => {
            let (open, close) = if g.delimiter() == Delimiter::Brace {
                ('{', '}')
            } else {
                ('[', ']')
            };
            if g.stream().is_empty() {
                return error(
                    g.span(),
                    format!("`${open}{close}` is empty: put a Rust expression inside"),
                );
            }
            let stream = g.stream();
            if let Err(e) = syn::parse2::<syn::Expr>(stream.clone()) {
                return error(
                    e.span(),
                    format!("`${open}...{close}`: not a Rust expression: {e}"),
                );
            }
            let part = if g.delimiter() == Delimiter::Brace {
                Part::Value(stream, g.span())
            } else {
                Part::Splat(stream, g.span())
            };
            Ok((Some(part), true))
        }
        _ => error(span, DOLLAR),
    }
}

fn literal_units(lit: &Literal) -> Result<Vec<Unit>> {
    let span = lit.span();
    let text = lit.to_string();
    if let Some(s) = string_literal(lit) {
        // A string literal is a double-quoted shell word, read by sh's rules from its text
        // as written (Rust's escapes are not decoded: `"\n"` is a backslash and an `n`, as in
        // sh). A raw string is like shell single quotes: nothing interpolates.
        let parts = match s.kind {
            StrKind::Raw => vec![Part::Lit(s.value)],
            StrKind::Plain => match text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
                Some(raw) => {
                    let text = Text {
                        full: raw,
                        span,
                        point: false,
                    };
                    double_quoted(text, 0, raw.len())?
                }
                None => {
                    return error(
                        span,
                        "a string literal with a suffix is not a shell word: remove the suffix",
                    )
                }
            },
        };
        return Ok(parts.into_iter().map(|p| Unit::Part(p, span)).collect());
    }
    if text.starts_with('\'') {
        return error(
            span,
            "single quotes cannot be written in the token form: use the string form, \
             e.g. sh!(\"echo 'a b'\")",
        );
    }
    if text.starts_with('b') || text.starts_with('c') {
        return error(
            span,
            "byte and C string literals are not shell words: use a plain string, or \
             interpolate bytes with `${value}`",
        );
    }
    Ok(text.chars().map(|c| Unit::Ch(c, span)).collect())
}

// ---------------------------------------------------------------------------------------
// Units -> tokens.

const OPERATOR_CHARS: &str = "|&;<>";

/// Whether a character is one of the shell's operator characters.
pub(crate) fn is_operator_char(c: char) -> bool {
    OPERATOR_CHARS.contains(c)
}

/// The word being read: its atoms and the span of its first unit.
struct WordBuf {
    atoms: Vec<Atom>,
    span: Span,
}

impl WordBuf {
    /// The text so far when it is all unquoted characters.
    fn bare_text(&self) -> Option<String> {
        self.atoms
            .iter()
            .map(|a| match a {
                Atom::Bare(c) => Some(*c),
                _ => None,
            })
            .collect()
    }
}

fn words(units: Vec<Unit>) -> Result<Vec<Tok>> {
    let mut toks = Vec::new();
    let mut word: Option<WordBuf> = None;
    words_into(&units, &mut toks, &mut word)
        .map_err(|e| reserved_first(&toks, word.as_ref(), e))?;
    Ok(toks)
}

fn words_into(units: &[Unit], toks: &mut Vec<Tok>, word: &mut Option<WordBuf>) -> Result<()> {
    let mut i = 0;
    let flush = |word: &mut Option<WordBuf>, toks: &mut Vec<Tok>| {
        if let Some(w) = word.take() {
            toks.push(Tok::Word(Word::from_atoms(w.atoms, w.span)));
        }
    };
    let start_word = |span: Span| WordBuf {
        atoms: Vec::new(),
        span,
    };
    while i < units.len() {
        match &units[i] {
            Unit::Blank => flush(word, toks),
            Unit::Newline(span) => {
                flush(word, toks);
                toks.push(Tok::Newline(*span));
            }
            Unit::Part(part, span) => {
                let atom = match part {
                    Part::Lit(s) => Atom::Quoted(s.clone()),
                    other => Atom::Value(other.clone()),
                };
                word.get_or_insert_with(|| start_word(*span))
                    .atoms
                    .push(atom);
            }
            Unit::Ch(c, span) if is_operator_char(*c) => {
                let chars: String = units[i..]
                    .iter()
                    .map_while(|u| match u {
                        Unit::Ch(c, _) => Some(*c),
                        _ => None,
                    })
                    .take(4)
                    .collect();
                // A word of digits right before `>`/`<` is a file descriptor (`2>`).
                let fd = word
                    .as_ref()
                    .and_then(WordBuf::bare_text)
                    .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()));
                if word.is_none() && matches!(toks.last(), Some(Tok::Op(Op::Pipe, _))) {
                    background_after_pipe(&chars, *span)?;
                }
                let (op, used) = operator(&chars, fd.as_deref(), *span, &units[i..])?;
                if fd.is_some() && matches!(op, Op::Out(..) | Op::Dup(..) | Op::In) {
                    *word = None;
                } else {
                    flush(word, toks);
                }
                toks.push(Tok::Op(op, *span));
                i += used;
                continue;
            }
            // Always an operator in sh, also inside a word: `a(b` is a syntax error.
            Unit::Ch(c @ ('(' | ')'), span) => {
                flush(word, toks);
                toks.push(Tok::Op(if *c == '(' { Op::Open } else { Op::Close }, *span));
            }
            Unit::Ch(c, span) => word
                .get_or_insert_with(|| start_word(*span))
                .atoms
                .push(Atom::Bare(*c)),
        }
        i += 1;
    }
    flush(word, toks);
    Ok(())
}

/// sh's reserved words as a command word would run a program of that name: refused, with
/// what to write in Rust instead. Quoted (`"if"`), they are ordinary words, as in sh.
pub(crate) fn reserved_word(w: &Word) -> Result<()> {
    let Some(word) = w.as_bare() else {
        return Ok(());
    };
    let advice = match word {
        "if" | "then" | "elif" | "else" | "fi" => {
            "shell conditionals are not part of `sh!`: write the `if` in Rust around `sh!`, \
             e.g. `if sh!(test -d build).success()? { sh!(make).run()?; }`"
        }
        "while" | "until" | "do" | "done" => {
            "shell loops are not part of `sh!`: write the loop in Rust around `sh!`, e.g. \
             `while !sh!(test -e ready).success()? { ... }`"
        }
        "for" | "in" | "select" => {
            "shell loops are not part of `sh!`: write the loop in Rust, e.g. \
             `for f in files { sh!(gzip $f).run()?; }`, or pass a list as `$[files]`"
        }
        "case" | "esac" => {
            "`case` is not part of `sh!`: `match` on the value in Rust and run a `sh!` in each \
             arm"
        }
        "function" => {
            "shell functions are not part of `sh!`: write a Rust function that returns the \
             `Expr`, e.g. `fn build(dir: &str) -> Expr { sh!(make -C $dir) }`"
        }
        "!" => {
            "`!` (negating a command's status) is not part of `sh!`: test it in Rust, \
             `!sh!(grep -q x f).success()?`, or accept the code with `.ok_codes(&[1])`"
        }
        "[[" | "]]" => {
            "`[[ ... ]]` is bash's own test syntax: use `test` or `[ ... ]`, or test in Rust"
        }
        "coproc" => "`coproc` is not part of `sh!`: use `.spawn()` and the `Handle`'s streams",
        _ => return Ok(()),
    };
    error(
        w.span,
        format!("`{word}` is a reserved word in sh, not a program here: {advice}"),
    )
}

/// A lexing error inside a shell construct that starts with a reserved word (`case x in
/// a) ...`): the reserved word is the better message.
fn reserved_first(toks: &[Tok], word: Option<&WordBuf>, e: Error) -> Error {
    let mut command_start = true;
    let pending = word.map(|w| Tok::Word(Word::from_atoms(w.atoms.clone(), w.span)));
    for tok in toks.iter().chain(pending.as_ref()) {
        match tok {
            Tok::Word(w) if command_start => {
                if let Err(reserved) = reserved_word(w) {
                    return reserved;
                }
                command_start = false;
            }
            Tok::Word(_) => {}
            Tok::Op(Op::Pipe | Op::PipeAll | Op::And | Op::Or | Op::Semi | Op::Open, _)
            | Tok::Newline(_) => command_start = true,
            Tok::Op(..) => {}
        }
    }
    e
}

/// `| &`: what rustfmt makes of `|&`; say so rather than speak of background jobs.
fn background_after_pipe(chars: &str, span: Span) -> Result<()> {
    if chars.starts_with('&') && !chars.starts_with("&&") && !chars.starts_with("&>") {
        return error(
            span,
            "`| &`: to pipe stderr too, write `|&` with no space between; `&` alone (run in \
             background) is not supported",
        );
    }
    Ok(())
}

/// Recognises the operator at the start of `chars` (unquoted operator characters, at most
/// four). Returns it and how many units it used.
fn operator(chars: &str, fd: Option<&str>, span: Span, units: &[Unit]) -> Result<(Op, usize)> {
    // Digits before `|`, `&` or `;` are an ordinary word (`echo 10|cat`).
    let fd = match fd.filter(|_| chars.starts_with(['>', '<'])) {
        None => None,
        Some(t) => Some(
            t.parse::<u8>()
                .ok()
                .filter(|n| *n <= 2)
                .ok_or_else(|| Error {
                    span,
                    message: bad_fd(t),
                })?,
        ),
    };
    let b = chars.as_bytes();
    let at = |k: usize| b.get(k).copied();
    match (at(0), at(1), at(2)) {
        (Some(b'|'), Some(b'|'), _) => Ok((Op::Or, 2)),
        (Some(b'|'), Some(b'&'), _) => Ok((Op::PipeAll, 2)),
        (Some(b'|'), _, _) => Ok((Op::Pipe, 1)),
        (Some(b'&'), Some(b'&'), _) => Ok((Op::And, 2)),
        (Some(b'&'), Some(b'>'), Some(b'>')) => Ok((Op::OutAll(true), 3)),
        (Some(b'&'), Some(b'>'), _) => Ok((Op::OutAll(false), 2)),
        (Some(b'&'), _, _) => error(
            span,
            "`&` (run in background) is not supported: use `.spawn()` on the expression to \
             run it beside your program, or `.spawn_detached()` for a daemon that outlives it",
        ),
        (Some(b';'), Some(b';'), _) => error(span, "`;;` is not a command separator"),
        (Some(b';'), _, _) => Ok((Op::Semi, 1)),
        (Some(b'>'), next, after) => output(next, after, fd, span, units),
        (Some(b'<'), next, after) => input(next, after, fd, span),
        _ => error(span, "unexpected operator"),
    }
}

const PROCESS_SUBSTITUTION: &str = "process substitution `<(...)` / `>(...)` is not \
                                    supported: run the command first and pass its output as a \
                                    value or a file, or pipe it";

fn bad_fd(fd: impl std::fmt::Display) -> String {
    format!("file descriptor {fd}: only 1 (stdout) and 2 (stderr) can be redirected")
}

/// `>`, `>>`, `>&N` after an optional descriptor (`2>`); `next` and `after` are the bytes
/// after `>`.
fn output(
    next: Option<u8>,
    after: Option<u8>,
    fd: Option<u8>,
    span: Span,
    units: &[Unit],
) -> Result<(Op, usize)> {
    let from = match fd {
        None | Some(1) => 1,
        Some(2) => 2,
        Some(n) => return error(span, bad_fd(n)),
    };
    match (next, after) {
        (Some(b'&'), _) => {
            let (to, len) = dup_target(span, units)?;
            Ok((Op::Dup(from, to), 2 + len))
        }
        (Some(b'>'), Some(b'&')) => error(
            span,
            "`>>&` is not a redirection: `&>> file` appends stdout and stderr to a file, \
             `>> file 2>&1` too; `2>&1` alone sends stderr to stdout",
        ),
        (Some(b'>'), _) => Ok((Op::Out(from, true), 2)),
        (Some(b'|'), _) => error(span, "`>|` is not supported: `>` always overwrites"),
        (Some(b'('), _) => error(span, PROCESS_SUBSTITUTION),
        _ => Ok((Op::Out(from, false), 1)),
    }
}

/// The target descriptor of `>&`: the digits right after it, in the same word, and their
/// length.
fn dup_target(span: Span, units: &[Unit]) -> Result<(u8, usize)> {
    let target: String = units[2..]
        .iter()
        .map_while(|u| match u {
            Unit::Ch(c, _) if c.is_ascii_alphanumeric() => Some(*c),
            _ => None,
        })
        .collect();
    match target.as_str() {
        "1" => Ok((1, 1)),
        "2" => Ok((2, 1)),
        "" => error(
            span,
            "`>&` needs a file descriptor: `2>&1` sends stderr to stdout, `>&2` stdout to \
             stderr",
        ),
        t if t.bytes().all(|b| b.is_ascii_digit()) => error(span, bad_fd(t)),
        t => error(
            span,
            format!(
                "`>&{t}`: write `&> {t}` to send stdout and stderr to a file, or `>&1`/`>&2` \
                 for a descriptor"
            ),
        ),
    }
}

/// `<` and `<<<`; `next` and `after` are the bytes after the first `<`.
fn input(next: Option<u8>, after: Option<u8>, fd: Option<u8>, span: Span) -> Result<(Op, usize)> {
    match (next, after) {
        (Some(b'<'), Some(b'<')) => Ok((Op::HereString, 3)),
        (Some(b'<'), _) => error(
            span,
            "here-documents (`<<`) are not supported: use `<<< $value` to feed a Rust value to \
             stdin",
        ),
        (Some(b'('), _) => error(span, PROCESS_SUBSTITUTION),
        (Some(b'&' | b'>'), _) => error(
            span,
            "only `<` (stdin from a file) and `<<<` are supported for input",
        ),
        _ if fd.is_some_and(|n| n != 0) => error(span, "only stdin (0) can be redirected with `<`"),
        _ => Ok((Op::In, 1)),
    }
}

//! Stage 1: input -> shell tokens.
//!
//! The token form (`sh!(ls -la)`) and the string form (`sh!("ls -la")`) meet here. Each is
//! first turned into [`Unit`]s (one unquoted character, a blank, a newline, a quoted piece or
//! an interpolation), and one word lexer turns units into [`Tok`]s for the parser.
//!
//! The token form rebuilds words from token positions: two Rust tokens belong to the same
//! shell word exactly when one ends where the next starts, so `-la`, `./src/main.rs` and
//! `2>&1` come out as written.

use proc_macro2::{Delimiter, Group, Ident, LineColumn, Literal, Span, TokenStream, TokenTree};

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
}

impl Word {
    fn new(span: Span) -> Self {
        Word {
            parts: Vec::new(),
            span,
            bare_prefix: String::new(),
            bare: true,
        }
    }

    fn push_bare(&mut self, c: char) {
        if self.bare {
            self.bare_prefix.push(c);
        }
        self.push_text(c);
    }

    fn push_text(&mut self, c: char) {
        match self.parts.last_mut() {
            Some(Part::Lit(s)) => s.push(c),
            _ => self.parts.push(Part::Lit(c.to_string())),
        }
    }

    fn push_part(&mut self, part: Part) {
        self.bare = false;
        match part {
            Part::Lit(s) => s.chars().for_each(|c| self.push_text(c)),
            other => self.parts.push(other),
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
enum Unit {
    /// An unquoted source character.
    Ch(char, Span),
    /// Whitespace between words.
    Blank,
    /// A line break: separates commands like `;`.
    Newline(Span),
    /// A quoted piece or an interpolation: part of a word, never an operator.
    Part(Part, Span),
}

/// Whether the macro was invoked with braces. The invocation's own text tells, when it is
/// the user's `sh!{...}`; through the facade's `macro_rules!` wrapper it is the wrapper's
/// text, so the user's source file is read back from the first token to its delimiter (only
/// on this rare path: input that looks formatted).
fn in_braces(trees: &[TokenTree], invocation: Option<&str>) -> bool {
    let delimiter = |text: &str| {
        text.find(['(', '[', '{'])
            .map(|i| text[i..].starts_with('{'))
    };
    if let Some(braces) = invocation
        .filter(|t| !t.starts_with('$'))
        .and_then(delimiter)
    {
        return braces;
    }
    let Some(first) = trees.first() else {
        return false;
    };
    let span = first.span();
    let Some(text) = span
        .local_file()
        .and_then(|f| std::fs::read_to_string(f).ok())
    else {
        return false;
    };
    let at = start(span);
    let line_start: usize = text
        .split_inclusive('\n')
        .take(at.line - 1)
        .map(str::len)
        .sum();
    let offset = text[line_start..]
        .char_indices()
        .nth(at.column)
        .map_or(text.len(), |(i, _)| line_start + i);
    // The last delimiter before the first token, skipping blanks (and a `sh` or `!`).
    text[..offset].trim_end().ends_with('{')
}

/// Lexes the macro input: one string literal is the string form, anything else the token
/// form.
pub(crate) fn lex(input: TokenStream) -> Result<Vec<Tok>> {
    let trees: Vec<TokenTree> = input.into_iter().collect();
    if trees.is_empty() {
        return error(
            Span::call_site(),
            "empty command: write a command, e.g. `sh!(ls -la)`",
        );
    }
    let units = match trees.as_slice() {
        [TokenTree::Literal(lit)]
            if string_literal(lit).is_some_and(|s| s.kind == StrKind::Plain) =>
        {
            let s = string_literal(lit).unwrap();
            string_units(&s.value, lit.span())?
        }
        _ => {
            let invocation = Span::call_site().source_text();
            check_rustfmt(&trees, invocation.as_deref())?;
            let toks = words(token_units(&trees)?)?;
            check_lost_comment(&toks)?;
            return Ok(continue_lines(toks));
        }
    };
    words(units).map(continue_lines)
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

/// `cargo fmt` reformats the content of a `sh!(...)` or `sh![...]` that also reads as Rust
/// expressions: `sh!(wc -l)` becomes `sh!(wc - l)`, `rustc --version` becomes
/// `rustc - -version`, `cd /tmp` becomes `cd / tmp`. Input of that formatted shape (Rust
/// expressions with an operator followed by a space) is refused with the likely original,
/// so a formatter can never silently change a command. Braces, which rustfmt leaves alone,
/// and the string form are never refused.
///
/// `invocation` is the source text of the whole `sh!(...)`, when the compiler has it.
pub(crate) fn check_rustfmt(trees: &[TokenTree], invocation: Option<&str>) -> Result<()> {
    let risky =
        |tt: &TokenTree| matches!(tt, TokenTree::Punct(p) if "-+*/%^=!".contains(p.as_char()));
    let spaced = |i: usize| {
        risky(&trees[i])
            && trees
                .get(i + 1)
                .is_some_and(|next| start(next.span()) != end(trees[i].span()))
    };
    if !(0..trees.len()).any(spaced) || in_braces(trees, invocation) {
        return Ok(());
    }
    let stream: TokenStream = trees.iter().cloned().collect();
    let parser = syn::punctuated::Punctuated::<syn::Expr, syn::Token![,]>::parse_terminated;
    if syn::parse::Parser::parse2(parser, stream).is_err() {
        return Ok(());
    }
    // The likely original: rustfmt spaced every binary operator. A `-` starts a flag
    // (`wc - l` was `wc -l`); other operators join the word they are inside
    // (`cat / etc / hosts` was `cat /etc/hosts`).
    let mut original = String::new();
    let mut glued = false;
    for (i, tt) in trees.iter().enumerate() {
        let text = tt.to_string();
        let join_left =
            i > 0 && (risky(&trees[i - 1]) || (risky(tt) && !text.starts_with('-') && glued));
        if i > 0 && !join_left {
            original.push(' ');
        }
        glued = join_left;
        original.push_str(&text);
    }
    error(
        trees[0].span(),
        format!(
            "this looks like `cargo fmt` split a word: rustfmt reformats a `sh!(...)` whose \
             content also reads as Rust code. If you meant `{original}`, write \
             `sh! {{ {original} }}` (rustfmt leaves braces alone) or `sh!(\"{original}\")`"
        ),
    )
}

/// In the token form `//` starts a Rust comment, so `curl https://x.org/a` reaches the macro
/// as `curl https:` with the rest of the line gone. A bare word like `https:` at the end of a
/// line is that loss.
fn check_lost_comment(toks: &[Tok]) -> Result<()> {
    for (i, tok) in toks.iter().enumerate() {
        let Tok::Word(w) = tok else { continue };
        let Some(text) = w.as_bare() else { continue };
        let Some(scheme) = text.strip_suffix(':') else {
            continue;
        };
        let scheme_like = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c));
        if scheme_like && matches!(toks.get(i + 1), None | Some(Tok::Newline(_))) {
            return error(
                w.span,
                format!(
                    "`{text}//...`: in the token form `//` starts a Rust comment and the rest \
                     of the line is lost; URLs need the string form, e.g. \
                     sh!(\"curl {text}//example.com\")"
                ),
            );
        }
    }
    Ok(())
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

fn string_units(text: &str, span: Span) -> Result<Vec<Unit>> {
    let mut units = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '\n' => units.push(Unit::Newline(span)),
            c if c.is_whitespace() => units.push(Unit::Blank),
            '\\' => match chars.next() {
                Some((_, '\n')) => {} // line continuation
                Some((_, c)) => units.push(Unit::Part(Part::Lit(c.to_string()), span)),
                None => {
                    return error(
                        span,
                        format!("`\\` at the end: nothing to escape{}", at(text, i)),
                    )
                }
            },
            '\'' => {
                let rest = &text[i + 1..];
                let Some(end) = rest.find('\'') else {
                    return error(
                        span,
                        format!(
                            "unterminated quote: this `'` is never closed{}",
                            at(text, i)
                        ),
                    );
                };
                units.push(Unit::Part(Part::Lit(rest[..end].to_string()), span));
                while chars.peek().is_some_and(|&(j, _)| j <= i + end + 1) {
                    chars.next();
                }
            }
            '"' => {
                let Some(inner) = double_quoted_text(&mut chars) else {
                    return error(
                        span,
                        format!(
                            "unterminated quote: this `\"` is never closed{}",
                            at(text, i)
                        ),
                    );
                };
                for part in double_quoted(&inner, span)? {
                    units.push(Unit::Part(part, span));
                }
            }
            '$' => {
                let rest = &text[i + 1..];
                let (part, used) = dollar(rest, span).map_err(|e| Error {
                    message: format!("{}{}", e.message, at(text, i)),
                    ..e
                })?;
                units.push(match part {
                    Some(part) => Unit::Part(part, span),
                    None => Unit::Part(Part::Lit("$".into()), span),
                });
                while chars.peek().is_some_and(|&(j, _)| j <= i + used) {
                    chars.next();
                }
            }
            '`' => {
                return error(
                    span,
                    format!(
                        "command substitution with backticks is not supported: run the inner \
                         command with `.read()` and interpolate the result as `${{value}}`{}",
                        at(text, i)
                    ),
                )
            }
            c => units.push(Unit::Ch(c, span)),
        }
    }
    Ok(units)
}

/// The text of a double-quoted string up to its closing `"` (consumed), with POSIX's
/// backslash escapes applied (`\$` kept as `$$`, a literal dollar); `None` when it is never
/// closed.
fn double_quoted_text(
    chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>,
) -> Option<String> {
    let mut inner = String::new();
    while let Some((_, c)) = chars.next() {
        match c {
            '"' => return Some(inner),
            // POSIX: inside double quotes a backslash escapes only these.
            '\\' => match chars.peek().map(|&(_, n)| n) {
                Some(n @ ('"' | '\\' | '`')) => {
                    chars.next();
                    inner.push(n);
                }
                Some('$') => {
                    chars.next();
                    inner.push_str("$$");
                }
                _ => inner.push('\\'),
            },
            c => inner.push(c),
        }
    }
    None
}

/// Parses what follows a `$` in text (string form, or inside any double-quoted text).
/// Returns the part (`None` for `$$`, a literal dollar) and how many bytes of `rest` it used.
fn dollar(rest: &str, span: Span) -> Result<(Option<Part>, usize)> {
    let first = rest.chars().next();
    match first {
        Some('$') => Ok((None, 1)),
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
                        let expr = rust_expr(src, span, open)?;
                        let part = if open == '{' {
                            Part::Value(expr, span)
                        } else {
                            Part::Splat(expr, span)
                        };
                        return Ok((Some(part), j + 1));
                    }
                }
            }
            error(
                span,
                format!("unbalanced `${open}`: the `{open}` is never closed with `{close}`"),
            )
        }
        Some(c) if c == '_' || c.is_alphabetic() => {
            let len = rest
                .char_indices()
                .find(|&(_, c)| !(c == '_' || c.is_alphanumeric()))
                .map_or(rest.len(), |(j, _)| j);
            let name = &rest[..len];
            let expr = syn::parse_str::<Ident>(name)
                .map_err(|_| Error {
                    span,
                    message: format!("`${name}`: `{name}` is not a Rust variable name"),
                })?
                .to_string();
            let ident = Ident::new(&expr, span);
            Ok((Some(Part::Value(TokenTree::Ident(ident).into(), span)), len))
        }
        _ => error(
            span,
            "`$` must be followed by a variable name, `{expr}` or `[iterable]`; write `$$` for \
             a literal `$`",
        ),
    }
}

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

/// The parts of double-quoted text: literal runs and `$` interpolations.
fn double_quoted(text: &str, span: Span) -> Result<Vec<Part>> {
    let mut parts = Vec::new();
    let mut lit = String::new();
    let mut i = 0;
    while let Some(c) = text[i..].chars().next() {
        if c == '$' {
            let (part, used) = dollar(&text[i + 1..], span)?;
            match part {
                None => lit.push('$'),
                Some(Part::Splat(..)) => {
                    return error(
                        span,
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
        } else {
            lit.push(c);
            i += c.len_utf8();
        }
    }
    // An empty quoted string is still a word: `""` is one empty argument.
    if !lit.is_empty() || parts.is_empty() {
        parts.push(Part::Lit(lit));
    }
    Ok(parts)
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

fn start(span: Span) -> LineColumn {
    span.start()
}

fn end(span: Span) -> LineColumn {
    span.end()
}

/// Flattens Rust tokens into units. A gap between two tokens is a blank; a change of line is
/// a newline.
fn token_units(trees: &[TokenTree]) -> Result<Vec<Unit>> {
    let mut units = Vec::new();
    let mut last_end: Option<LineColumn> = None;
    flatten(trees, &mut units, &mut last_end)?;
    Ok(units)
}

fn separate(units: &mut Vec<Unit>, last_end: &mut Option<LineColumn>, span: Span) {
    if let Some(prev) = *last_end {
        let here = start(span);
        if here.line > prev.line {
            units.push(Unit::Newline(span));
        } else if here != prev {
            units.push(Unit::Blank);
        }
    }
    *last_end = Some(end(span));
}

fn flatten(
    trees: &[TokenTree],
    units: &mut Vec<Unit>,
    last_end: &mut Option<LineColumn>,
) -> Result<()> {
    let mut i = 0;
    while i < trees.len() {
        let tt = &trees[i];
        separate(units, last_end, tt.span());
        match tt {
            TokenTree::Punct(p) if p.as_char() == '$' => {
                let next = trees
                    .get(i + 1)
                    .filter(|n| start(n.span()) == end(p.span()));
                let (part, used) = token_dollar(p.span(), next)?;
                match part {
                    Some(part) => units.push(Unit::Part(part, p.span())),
                    None => units.push(Unit::Part(Part::Lit("$".into()), p.span())),
                }
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
            TokenTree::Punct(p) => units.push(Unit::Ch(p.as_char(), p.span())),
            TokenTree::Ident(id) => {
                for c in id.to_string().chars() {
                    units.push(Unit::Ch(c, id.span()));
                }
            }
            TokenTree::Literal(lit) => literal_units(lit, units)?,
            TokenTree::Group(g) => {
                let (open, close) = match g.delimiter() {
                    Delimiter::Parenthesis => {
                        return error(
                            g.span_open(),
                            "subshells and `( )` grouping are not supported; run the parts as \
                             separate commands, or quote the text if you mean the characters",
                        )
                    }
                    Delimiter::Brace => ('{', '}'),
                    Delimiter::Bracket => ('[', ']'),
                    Delimiter::None => {
                        // An invisible group (from macro_rules): its tokens are the text.
                        let inner: Vec<TokenTree> = g.stream().into_iter().collect();
                        flatten(&inner, units, last_end)?;
                        i += 1;
                        continue;
                    }
                };
                units.push(Unit::Ch(open, g.span_open()));
                *last_end = Some(end(g.span_open()));
                let inner: Vec<TokenTree> = g.stream().into_iter().collect();
                flatten(&inner, units, last_end)?;
                separate(units, last_end, g.span_close());
                units.push(Unit::Ch(close, g.span_close()));
            }
        }
        i += 1;
    }
    Ok(())
}

/// `$` in the token form: `$name`, `${expr}`, `$[expr]`, `$$`. Returns the part (`None` for a
/// literal `$`) and whether the next token was consumed.
fn token_dollar(span: Span, next: Option<&TokenTree>) -> Result<(Option<Part>, bool)> {
    match next {
        Some(TokenTree::Punct(p)) if p.as_char() == '$' => Ok((None, true)),
        Some(TokenTree::Ident(id)) => Ok((
            Some(Part::Value(TokenTree::Ident(id.clone()).into(), id.span())),
            true,
        )),
        Some(TokenTree::Group(g)) if g.delimiter() != Delimiter::Parenthesis => {
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
        _ => error(
            span,
            "`$` must be followed by a variable name, `{expr}` or `[iterable]`; write `$$` for \
             a literal `$`",
        ),
    }
}

fn literal_units(lit: &Literal, units: &mut Vec<Unit>) -> Result<()> {
    let span = lit.span();
    if let Some(s) = string_literal(lit) {
        // A Rust string literal is a double-quoted shell word: Rust escapes are decoded
        // first (`"a\tb"` holds a tab), then `$` interpolates. A raw string is like shell
        // single quotes: nothing interpolates.
        let parts = match s.kind {
            StrKind::Plain => double_quoted(&s.value, span)?,
            StrKind::Raw => vec![Part::Lit(s.value)],
        };
        for part in parts {
            units.push(Unit::Part(part, span));
        }
        return Ok(());
    }
    let text = lit.to_string();
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
    for c in text.chars() {
        units.push(Unit::Ch(c, span));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Units -> tokens.

const OPERATOR_CHARS: &str = "|&;<>";

fn words(units: Vec<Unit>) -> Result<Vec<Tok>> {
    let mut toks = Vec::new();
    let mut word: Option<Word> = None;
    let mut i = 0;
    let flush = |word: &mut Option<Word>, toks: &mut Vec<Tok>| {
        if let Some(w) = word.take() {
            toks.push(Tok::Word(w));
        }
    };
    while i < units.len() {
        match &units[i] {
            Unit::Blank => flush(&mut word, &mut toks),
            Unit::Newline(span) => {
                flush(&mut word, &mut toks);
                toks.push(Tok::Newline(*span));
            }
            Unit::Part(part, span) => word
                .get_or_insert_with(|| Word::new(*span))
                .push_part(part.clone()),
            Unit::Ch(c, span) if OPERATOR_CHARS.contains(*c) => {
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
                    .and_then(|w| w.as_bare())
                    .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
                    .map(str::to_owned);
                let (op, used) = operator(&chars, fd.as_deref(), *span, &units[i..])?;
                if fd.is_some() && matches!(op, Op::Out(..) | Op::Dup(..) | Op::In) {
                    word = None;
                } else {
                    flush(&mut word, &mut toks);
                }
                toks.push(Tok::Op(op, *span));
                i += used;
                continue;
            }
            Unit::Ch(c, span) if *c == '(' || *c == ')' => {
                return error(
                    *span,
                    "subshells and `( )` grouping are not supported; quote the text if you \
                     mean the characters",
                )
            }
            Unit::Ch(c, span) => word.get_or_insert_with(|| Word::new(*span)).push_bare(*c),
        }
        i += 1;
    }
    flush(&mut word, &mut toks);
    Ok(toks)
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
            "`&` (run in background) is not supported: use `.spawn()` on the expression",
        ),
        (Some(b';'), Some(b';'), _) => error(span, "`;;` is not a command separator"),
        (Some(b';'), _, _) => Ok((Op::Semi, 1)),
        (Some(b'>'), next, _) => output(next, fd, span, units),
        (Some(b'<'), next, after) => input(next, after, fd, span),
        _ => error(span, "unexpected operator"),
    }
}

fn bad_fd(fd: impl std::fmt::Display) -> String {
    format!("file descriptor {fd}: only 1 (stdout) and 2 (stderr) can be redirected")
}

/// `>`, `>>`, `>&N` after an optional descriptor (`2>`); `next` is the byte after `>`.
fn output(next: Option<u8>, fd: Option<u8>, span: Span, units: &[Unit]) -> Result<(Op, usize)> {
    let from = match fd {
        None | Some(1) => 1,
        Some(2) => 2,
        Some(n) => return error(span, bad_fd(n)),
    };
    match next {
        Some(b'&') => {
            let (to, len) = dup_target(span, units)?;
            Ok((Op::Dup(from, to), 2 + len))
        }
        Some(b'>') => Ok((Op::Out(from, true), 2)),
        Some(b'|') => error(span, "`>|` is not supported: `>` always overwrites"),
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
        (Some(b'&' | b'>'), _) => error(
            span,
            "only `<` (stdin from a file) and `<<<` are supported for input",
        ),
        _ if fd.is_some_and(|n| n != 0) => error(span, "only stdin (0) can be redirected with `<`"),
        _ => Ok((Op::In, 1)),
    }
}

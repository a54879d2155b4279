//! What `cargo fmt` may have done to a token-form `sh!(...)` or `sh![...]`.
//!
//! rustfmt reformats a macro call's content when it parses as Rust (comma-separated
//! expressions, or types): it keeps the tokens and respaces them its own way, so `wc -l`
//! becomes `wc - l`, `cd ..` becomes `cd..`, `a |& b` becomes `a | &b`, and
//! `cppcheck . 2> log` becomes `cppcheck.2 > log`. The macro receives only tokens and their
//! positions, and many spellings of the same tokens give the same formatted text.
//!
//! So: input that does not parse as Rust, or that is not spaced the way rustfmt spaces it,
//! was never touched, and is taken as written. Input spaced exactly as rustfmt would space
//! it may be rustfmt's work: every spacing of the same tokens is lexed and parsed as the
//! author's possible original. When they all mean the same command, it runs. When exactly
//! one of them is a valid command and the input itself is not, that one is suggested.
//! Otherwise it is refused without a guess, pointing to the braces and the string forms.
//!
//! One doubt is settled by hand: a `.` between two names in a file name (`sort < a.csv`)
//! is taken as written, since the other spellings cut the name at its dot.
//!
//! The model of rustfmt's spacing below covers expressions, types and patterns as rustfmt
//! prints them; where it is unsure it treats both spacings as rustfmt's, which can only
//! refuse more. `tests/corpus/rustfmt.txt` holds it against real rustfmt, and an ignored
//! test against random token strings.

use proc_macro2::{Delimiter, Spacing, TokenStream, TokenTree};

use crate::lex::{self, error, Gap, Piece, PieceKind, Result};
use crate::source::{Lines, Source};
use crate::{expand, parse};

/// More spellings than this (2 to the power) are not tried: the input is refused without a
/// guess instead.
const MAX_FREE_GAPS: usize = 12;

/// Refuses token-form input that rustfmt may have respaced into another command.
/// `written` is what the input means as written (`None` when it is an error);
/// `in_braces` tells, when asked, whether the macro was called with braces, which rustfmt
/// leaves alone.
pub(crate) fn check(
    input: &TokenStream,
    written: impl FnOnce() -> Option<String>,
    in_braces: impl FnOnce() -> bool,
) -> Result<()> {
    let trees: Vec<TokenTree> = input.clone().into_iter().collect();
    if lex::string_form(&trees).is_some() || !reads_as_rust(&trees) {
        return Ok(());
    }
    let Ok(pieces) = lex::pieces(&trees) else {
        return Ok(());
    };
    let Some(model) = Model::new(&pieces) else {
        return Ok(());
    };
    if !model.matches_input() || in_braces() {
        return Ok(());
    }
    let readings = model.readings();
    match judge(written().as_deref(), &readings) {
        Verdict::Same => Ok(()),
        Verdict::Only(text) => error(
            trees[0].span(),
            format!(
                "`cargo fmt` respaced this command: rustfmt makes `{}` out of `{text}`, the \
                 only spacing of these tokens that is a valid command. Write \
                 `sh! {{ {text} }}` (rustfmt leaves braces alone) or `sh!(\"{}\")`",
                model.render(None),
                text.replace('\\', "\\\\").replace('"', "\\\""),
            ),
        ),
        Verdict::Unknown => error(
            trees[0].span(),
            format!(
                "`{}` reads as Rust code, and `cargo fmt` respaces Rust code inside `sh!(...)` \
                 (it turns `wc -l` into `wc - l` and `cd ..` into `cd..`): plumb cannot tell \
                 how this command was written. Write it in braces, `sh! {{ ... }}`, which \
                 rustfmt leaves alone, or as a string, `sh!(\"...\")`",
                model.render(None),
            ),
        ),
    }
}

/// What the other spellings of the input mean.
enum Verdict {
    /// Every valid spelling means what the input means as written.
    Same,
    /// The input as written is not valid, and one meaning is: its text.
    Only(String),
    /// Several meanings, or too many spellings to try.
    Unknown,
}

fn judge(written: Option<&str>, readings: &Option<Vec<(String, String)>>) -> Verdict {
    let Some(readings) = readings else {
        return Verdict::Unknown;
    };
    let mut meanings: Vec<&(String, String)> = Vec::new();
    for r in readings {
        if !meanings.iter().any(|m| m.0 == r.0) {
            meanings.push(r);
        }
    }
    match (written, meanings.as_slice()) {
        (Some(w), list) if list.iter().all(|m| m.0 == w) => Verdict::Same,
        (None, [only]) => Verdict::Only(only.1.clone()),
        // Nothing valid whichever the spacing: the ordinary error says what is wrong.
        (None, []) => Verdict::Same,
        _ => Verdict::Unknown,
    }
}

/// Whether rustfmt would parse the input as macro arguments: comma-separated expressions,
/// types or patterns.
fn reads_as_rust(trees: &[TokenTree]) -> bool {
    // `$x` is not Rust; rustfmt leaves a binding `a @ b` as written; `<-` is a token of its
    // own to rustc (not to syn) that no expression takes.
    let odd = |i: usize| match &trees[i] {
        TokenTree::Punct(p) if "$#'@".contains(p.as_char()) => true,
        TokenTree::Punct(p) if p.as_char() == '<' && p.spacing() == Spacing::Joint => {
            matches!(trees.get(i + 1), Some(TokenTree::Punct(n)) if n.as_char() == '-')
        }
        _ => false,
    };
    !(0..trees.len()).any(odd) && args(trees).iter().all(|arg| parses(arg))
}

/// The top-level comma-separated arguments (a trailing comma makes no empty argument).
fn args(trees: &[TokenTree]) -> Vec<&[TokenTree]> {
    let mut out = Vec::new();
    let mut from = 0;
    for (i, t) in trees.iter().enumerate() {
        if matches!(t, TokenTree::Punct(p) if p.as_char() == ',') {
            out.push(&trees[from..i]);
            from = i + 1;
        }
    }
    if from < trees.len() || out.is_empty() {
        out.push(&trees[from..]);
    }
    out
}

/// Whether one argument parses as rustfmt's parser would take it: an expression, else a
/// type (bounds such as `?Sized` or `a +` included), else a pattern.
fn parses(arg: &[TokenTree]) -> bool {
    match arg {
        [] => return false,
        // A name, or a lone keyword, which rustfmt takes as an argument of its own
        // (`sh!(ref, x)`).
        [TokenTree::Ident(_)] => return true,
        _ => {}
    }
    let stream: TokenStream = arg.iter().cloned().collect();
    if let Ok(expr) = syn::parse2::<syn::Expr>(stream.clone()) {
        // rustc refuses `a < b > c` ("comparison operators cannot be chained").
        return !chained_comparison(&expr);
    }
    use syn::parse::Parser;
    let bounds =
        syn::punctuated::Punctuated::<syn::TypeParamBound, syn::Token![+]>::parse_terminated;
    syn::parse2::<syn::Type>(stream.clone()).is_ok()
        || bounds.parse2(stream.clone()).is_ok_and(|b| !b.is_empty())
        || syn::Pat::parse_single.parse2(stream).is_ok()
}

fn chained_comparison(expr: &syn::Expr) -> bool {
    use syn::BinOp::*;
    let compare = |op: &syn::BinOp| matches!(op, Eq(_) | Lt(_) | Le(_) | Ne(_) | Ge(_) | Gt(_));
    match expr {
        syn::Expr::Binary(b) => {
            let inner = |e: &syn::Expr| matches!(e, syn::Expr::Binary(x) if compare(&x.op));
            (compare(&b.op) && (inner(&b.left) || inner(&b.right)))
                || chained_comparison(&b.left)
                || chained_comparison(&b.right)
        }
        _ => false,
    }
}

/// rustfmt's spacing of one gap, as far as the model knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Space,
    None,
    /// Either: the model does not know, or rustfmt may break the line there.
    Either,
}

/// A Rust operator: puncts glued the way rustc's lexer glues them.
#[derive(Debug, Clone)]
struct Token {
    /// The pieces it spans.
    first: usize,
    last: usize,
    kind: TokenKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum TokenKind {
    Ident(String),
    Literal(String),
    Op(String),
    Open(Delimiter),
    Close(Delimiter),
}

/// The input's pieces seen as Rust tokens, with rustfmt's spacing of every gap between them.
struct Model<'p> {
    pieces: &'p [Piece],
    /// Per piece: whether the gap before it is free (any spacing gives the same Rust tokens)
    /// and what rustfmt writes there.
    free: Vec<bool>,
    want: Vec<Want>,
    /// A float right after a `.` (`a.1.5`): rustfmt never writes that (it writes `a.1 .5`).
    never_rustfmt: bool,
}

impl<'p> Model<'p> {
    fn new(pieces: &'p [Piece]) -> Option<Self> {
        let tokens = glue(pieces)?;
        let mut free = vec![false; pieces.len()];
        let mut want = vec![Want::Either; pieces.len()];
        let roles = roles(&tokens);
        let mut macro_depth: Vec<usize> = Vec::new();
        for k in 1..tokens.len() {
            let (l, r) = (&tokens[k - 1], &tokens[k]);
            free[r.first] = !forced(&tokens[..k], &r.kind);
            want[r.first] = if macro_depth.is_empty() {
                spacing(&roles, &tokens, k)
            } else {
                // A macro call's content: rustfmt formats it, or not, by its own rules.
                Want::Either
            };
            match (&l.kind, &r.kind) {
                (_, TokenKind::Open(_)) if roles[k - 1] == Role::Bang => macro_depth.push(0),
                (_, TokenKind::Open(_)) => {
                    if let Some(d) = macro_depth.last_mut() {
                        *d += 1;
                    }
                }
                (_, TokenKind::Close(_)) => match macro_depth.last_mut() {
                    Some(0) => {
                        macro_depth.pop();
                    }
                    Some(d) => *d -= 1,
                    None => {}
                },
                _ => {}
            }
        }
        let never_rustfmt = tokens.windows(2).any(|w| {
            w[0].kind == TokenKind::Op(".".into())
                && matches!(&w[1].kind, TokenKind::Literal(l) if l.contains('.'))
        });
        Some(Model {
            pieces,
            free,
            want,
            never_rustfmt,
        })
    }

    /// Whether the input is spaced as rustfmt spaces it (a line break anywhere passes). Gaps
    /// that no spelling can change count too: rustfmt writes `2.2` for `2 .2`.
    fn matches_input(&self) -> bool {
        !self.never_rustfmt
            && self
                .pieces
                .iter()
                .enumerate()
                .skip(1)
                .all(|(i, p)| match (self.want[i], p.gap) {
                    (Want::Either, _) | (_, Gap::Newline) => true,
                    (Want::Space, g) => g == Gap::Blank,
                    (Want::None, g) => g == Gap::Joined,
                })
    }

    /// Every spelling of the input that rustfmt turns into it, as (meaning, text) for those
    /// that are valid commands; `None` when there are too many to try.
    fn readings(&self) -> Option<Vec<(String, String)>> {
        let base: Vec<Gap> = self
            .pieces
            .iter()
            .map(|p| match p.gap {
                Gap::Newline => Gap::Blank,
                g => g,
            })
            .collect();
        let open: Vec<usize> = (1..self.pieces.len())
            .filter(|&i| self.free[i] && !self.inert(i) && !self.file_name_dot(i))
            .collect();
        if open.len() > MAX_FREE_GAPS {
            return None;
        }
        let mut out = Vec::new();
        for bits in 0u32..(1 << open.len()) {
            let mut gaps = base.clone();
            for (k, &i) in open.iter().enumerate() {
                gaps[i] = if bits & (1 << k) != 0 {
                    Gap::Joined
                } else {
                    Gap::Blank
                };
            }
            if let Some(meaning) = meaning(self.pieces, &gaps) {
                out.push((meaning, self.render(Some(&gaps))));
            }
        }
        Some(out)
    }

    /// A gap whose spacing cannot change the command: a word next to `|`, `;`, `&`, `<` or
    /// `>` (not a descriptor number next to `<`/`>`, nor `>&` next to its number).
    fn inert(&self, i: usize) -> bool {
        let (_, l) = self.pieces[i - 1].edge_chars();
        let (r, _) = self.pieces[i].edge_chars();
        let op = |c: Option<char>| c.is_some_and(lex::is_operator_char);
        let digit = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
        match (op(l), op(r)) {
            (true, true) | (false, false) => false,
            (false, true) => !(digit(l) && matches!(r, Some('<' | '>'))),
            (true, false) => !(l == Some('&') && digit(r)),
        }
    }

    /// A gap around a `.` between two names in a word that is not a command's name, as in
    /// `sort < data.csv` or `make > build.log`: taken as written. rustfmt never spaces a
    /// `.`, and the spellings that differ (`< data .csv`, `< data. csv`) cut a file name at
    /// its dot, which no one means. A command's name keeps the doubt (`jq .name` becomes
    /// `jq.name`, `cat .env` becomes `cat.env`), and so does a number (`cppcheck.2`).
    fn file_name_dot(&self, i: usize) -> bool {
        let is_dot = |k: usize| {
            matches!(
                self.pieces.get(k).map(|p| &p.kind),
                Some(PieceKind::Punct('.', _))
            )
        };
        let name = |k: usize| {
            matches!(
                self.pieces.get(k).map(|p| &p.kind),
                Some(PieceKind::Ident(_))
            )
        };
        let dot = if is_dot(i) {
            i
        } else if is_dot(i - 1) {
            i - 1
        } else {
            return false;
        };
        if dot == 0 || !name(dot - 1) || !name(dot + 1) {
            return false;
        }
        // The start of the word as written, and what comes before it.
        let mut start = dot - 1;
        while start > 0 && self.pieces[start].gap == Gap::Joined {
            start -= 1;
        }
        let before = start.checked_sub(1).map(|k| self.pieces[k].edge_chars().1);
        let command_position = match before {
            None => true,
            Some(last) => {
                matches!(last, Some('|' | '&' | ';')) || self.pieces[start].gap == Gap::Newline
            }
        };
        !command_position
    }

    /// The input's text with these gaps (its own when `None`), on one line.
    fn render(&self, gaps: Option<&[Gap]>) -> String {
        let mut text = String::new();
        for (i, p) in self.pieces.iter().enumerate() {
            let gap = gaps.map_or(p.gap, |g| g[i]);
            if i > 0 && gap != Gap::Joined {
                text.push(' ');
            }
            text.push_str(&piece_text(p));
        }
        text
    }
}

fn piece_text(p: &Piece) -> String {
    match &p.kind {
        PieceKind::Ident(s) | PieceKind::Literal(s) => s.clone(),
        PieceKind::Punct(c, _) => c.to_string(),
        PieceKind::Open(d) | PieceKind::Close(d) => {
            let (open, close) = match d {
                Delimiter::Brace => ("{", "}"),
                Delimiter::Bracket => ("[", "]"),
                _ => ("(", ")"),
            };
            if matches!(p.kind, PieceKind::Open(_)) {
                open.into()
            } else {
                close.into()
            }
        }
        PieceKind::Dollar => "$".into(),
    }
}

/// What a spelling means: the code it expands to, or `None` when it is not a valid command.
fn meaning(pieces: &[Piece], gaps: &[Gap]) -> Option<String> {
    let toks = lex::token_words(pieces, Some(gaps)).ok()?;
    let script = parse::parse(toks).ok()?;
    Some(expand::script(&script, &TokenStream::new()).to_string())
}

/// Multi-character operators, as rustc's lexer glues joint puncts.
fn glues(left: &str, next: char) -> bool {
    matches!(
        (left, next),
        ("=", '=' | '>')
            | ("<", '=' | '<' | '-')
            | (">", '=' | '>')
            | ("<<" | ">>", '=')
            | ("!" | "+" | "*" | "/" | "%" | "^", '=')
            | ("&", '&' | '=')
            | ("|", '|' | '=')
            | ("-", '=' | '>')
            | (".", '.')
            | ("..", '.' | '=')
            | (":", ':')
    )
}

/// The Rust tokens of the pieces; `None` for what the model does not cover.
fn glue(pieces: &[Piece]) -> Option<Vec<Token>> {
    let mut out: Vec<Token> = Vec::new();
    for (i, p) in pieces.iter().enumerate() {
        let kind = match &p.kind {
            PieceKind::Ident(s) => TokenKind::Ident(s.clone()),
            PieceKind::Literal(s) => TokenKind::Literal(s.clone()),
            PieceKind::Open(d) => TokenKind::Open(*d),
            PieceKind::Close(d) => TokenKind::Close(*d),
            PieceKind::Dollar => return None,
            PieceKind::Punct(c, _) => {
                if let Some(last) = out.last_mut() {
                    let joint = matches!(pieces[i - 1].kind, PieceKind::Punct(_, Spacing::Joint));
                    if let TokenKind::Op(op) = &mut last.kind {
                        if joint && p.gap == Gap::Joined && glues(op, *c) {
                            op.push(*c);
                            last.last = i;
                            continue;
                        }
                    }
                }
                TokenKind::Op(c.to_string())
            }
        };
        out.push(Token {
            first: i,
            last: i,
            kind,
        });
    }
    Some(out)
}

/// Whether the gap before token `r` is the same in every spelling that gives these tokens
/// (`before` are the tokens before it): two words or literals need a space, two puncts that
/// would glue must not touch, `1 .` is not `1.` nor `1. x` `1.x`, and `/ /` is not a
/// comment.
fn forced(before: &[Token], r: &TokenKind) -> bool {
    use TokenKind::*;
    // An integer and a dot read as a float when they touch.
    let int = |n: &str| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit() || b == b'_');
    let int_token = |t: Option<&Token>| matches!(t.map(|t| &t.kind), Some(Literal(n)) if int(n));
    let l = &before[before.len() - 1].kind;
    match (l, r) {
        (Ident(_) | Literal(_), Ident(_) | Literal(_)) => true,
        (Literal(n), Op(op)) => op == "." && int(n),
        (Op(dot), Ident(_) | Literal(_)) if dot == "." => {
            int_token(before.len().checked_sub(2).and_then(|i| before.get(i)))
        }
        (Op(a), Op(b)) => {
            let first = b.chars().next().unwrap_or(' ');
            glues(a, first) || (a.ends_with('/') && (first == '/' || first == '*'))
        }
        (Ident(id), Op(o)) => matches!(id.as_str(), "r" | "b" | "br" | "c" | "cr") && o == "#",
        _ => false,
    }
}

/// What each token is in the expression grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Ends an operand: a name, a literal, a closing delimiter, a postfix `?`.
    Operand,
    /// A keyword that takes an operand after it (`as`, `mut`, `dyn`...).
    Keyword,
    Unary,
    Binary,
    /// `.`, `::`, and a range without a binary operator before it.
    Tight,
    /// `,` or `;`.
    Separator,
    /// The `!` of a macro call.
    Bang,
    /// The `||` that starts a closure.
    Closure,
    /// A closure's `|`, turbofish `<`, `#`...: the model does not know.
    Unknown,
    Open,
}

fn roles(tokens: &[Token]) -> Vec<Role> {
    let mut roles: Vec<Role> = Vec::with_capacity(tokens.len());
    // Inside a closure's `|params|`, until its closing `|`.
    let mut closure_open = false;
    for (k, t) in tokens.iter().enumerate() {
        // A bare `..` (a full range) is an operand too when an operator that only joins
        // two operands comes next: `.. + a`.
        let after_range = k > 0
            && matches!(&tokens[k - 1].kind, TokenKind::Op(o) if o == "..")
            && matches!(&t.kind, TokenKind::Op(o) if !["-", "!", "*", "&", "&&", "..", "..=", "|", "||", "<", "::", "?"].contains(&o.as_str()));
        let after_operand = after_range || matches!(roles.last(), Some(Role::Operand));
        if closure_open && matches!(&t.kind, TokenKind::Op(o) if o == "|") {
            closure_open = false;
            roles.push(Role::Unknown);
            continue;
        }
        let role = match &t.kind {
            TokenKind::Ident(s) => match s.as_str() {
                "true" | "false" | "self" | "Self" | "super" | "crate" => Role::Operand,
                s if is_keyword(s) => Role::Keyword,
                _ => Role::Operand,
            },
            TokenKind::Literal(_) | TokenKind::Close(_) => Role::Operand,
            TokenKind::Open(_) => Role::Open,
            TokenKind::Op(op) => match op.as_str() {
                "," | ";" => Role::Separator,
                "." | "::" => Role::Tight,
                "?" if after_operand => Role::Operand,
                ".." | "..=" | "..." => Role::Tight,
                "!" if after_operand
                    && matches!(tokens.get(k + 1).map(|t| &t.kind), Some(TokenKind::Open(_))) =>
                {
                    Role::Bang
                }
                "-" | "!" | "*" | "&" | "&&" if !after_operand => Role::Unary,
                // `?Sized`: a maybe-bound in a type.
                "?" => Role::Unary,
                "||" if !after_operand => Role::Closure,
                "|" if !after_operand => {
                    closure_open = true;
                    Role::Unknown
                }
                "<" | ">" if !after_operand => Role::Unknown,
                ":" | "=>" | "@" | "#" | "~" => Role::Unknown,
                _ if after_operand => Role::Binary,
                _ => Role::Unknown,
            },
        };
        roles.push(role);
    }
    roles
}

fn is_keyword(s: &str) -> bool {
    matches!(
        s,
        "as" | "break"
            | "const"
            | "continue"
            | "else"
            | "enum"
            | "extern"
            | "fn"
            | "for"
            | "if"
            | "impl"
            | "in"
            | "let"
            | "loop"
            | "match"
            | "mod"
            | "move"
            | "mut"
            | "pub"
            | "ref"
            | "return"
            | "static"
            | "struct"
            | "trait"
            | "type"
            | "unsafe"
            | "use"
            | "where"
            | "while"
            | "async"
            | "await"
            | "dyn"
            | "box"
            | "yield"
    )
}

/// rustfmt's spacing of the gap before token `k`.
fn spacing(roles: &[Role], tokens: &[Token], k: usize) -> Want {
    use Role::*;
    let (l, r) = (roles[k - 1], roles[k]);
    let (lt, rt) = (&tokens[k - 1].kind, &tokens[k].kind);
    let paren_or_bracket = |d: &Delimiter| matches!(d, Delimiter::Parenthesis | Delimiter::Bracket);
    match (lt, rt) {
        (TokenKind::Open(d), _) | (_, TokenKind::Close(d)) if paren_or_bracket(d) => {
            return Want::None
        }
        (TokenKind::Open(_), TokenKind::Close(_)) => return Want::None,
        (TokenKind::Open(_), _) | (_, TokenKind::Close(_)) => return Want::Space,
        _ => {}
    }
    // A tuple index before a `.` stays apart from it, lest they read as a float: `a.1 .5`.
    let int =
        |t: &TokenKind| matches!(t, TokenKind::Literal(l) if l.bytes().all(|b| b.is_ascii_digit()));
    let dot = |t: Option<&Token>| t.is_some_and(|t| t.kind == TokenKind::Op(".".into()));
    if int(lt) && dot(Some(&tokens[k])) && k >= 2 && dot(tokens.get(k - 2)) {
        return Want::Space;
    }
    // A type's last `+` hugs its bound: `xhost +` becomes `xhost+` (after two bounds or
    // more rustfmt drops it: `a + b +` becomes `a + b`).
    if rt == &TokenKind::Op("+".into()) && ends_arg(tokens, k) {
        return Want::None;
    }
    let dots = |t: &TokenKind| matches!(t, TokenKind::Op(o) if o.starts_with('.'));
    match (l, r) {
        (Unknown, _) | (_, Unknown) => Want::Either,
        // `2..= ..`: rustfmt keeps `..=` apart from dots after it.
        _ if lt == &TokenKind::Op("..=".into()) && dots(rt) => Want::Space,
        _ if dots(lt) && dots(rt) => Want::Either,
        // A closure with no parameters: `|| a`.
        (Closure, _) => Want::Space,
        (_, Separator) => Want::None,
        (Separator, _) => Want::Space,
        (Unary, _) => Want::None,
        (Keyword, _) => Want::Space,
        (Binary, _) | (_, Binary) => Want::Space,
        (Bang, Open) => match rt {
            TokenKind::Open(Delimiter::Brace) => Want::Space,
            _ => Want::None,
        },
        (_, Bang) | (Tight, _) | (_, Tight) => Want::None,
        (Operand, Operand) if matches!(rt, TokenKind::Op(_)) => Want::None,
        (_, Open) => match rt {
            TokenKind::Open(Delimiter::Brace) => Want::Space,
            _ if l == Keyword => Want::Space,
            _ if l == Operand => Want::None,
            _ => Want::Either,
        },
        _ => Want::Space,
    }
}

/// Whether token `k` is the last of its argument.
fn ends_arg(tokens: &[Token], k: usize) -> bool {
    match tokens.get(k + 1).map(|t| &t.kind) {
        None => true,
        Some(TokenKind::Op(op)) => op == ",",
        Some(TokenKind::Close(_)) => true,
        _ => false,
    }
}

/// Whether the macro was invoked with braces. The invocation's own text tells, when it is
/// the user's `sh!{...}`; through the facade's `macro_rules!` wrapper it is the wrapper's
/// text, so the user's source is read back from the first token to its delimiter (only on
/// this rare path: input that looks formatted).
pub(crate) fn in_braces(input: &TokenStream, invocation: Option<&str>, source: Source<'_>) -> bool {
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
    let Some(first) = input.clone().into_iter().next() else {
        return false;
    };
    let Some(text) = source.load(first.span()) else {
        return false;
    };
    let at = lex::start(first.span());
    let Some(offset) = Lines::new(&text, at.line).offset(at) else {
        return false;
    };
    // The last delimiter before the first token, skipping blanks.
    text[..offset].trim_end().ends_with('{')
}

/// The other spellings of the input's tokens that rustfmt turns into the same text, as
/// (meaning, text), for the corpus test to show real rustfmt doing it.
#[cfg(test)]
pub(crate) fn spellings(input: &TokenStream) -> Vec<(String, String)> {
    let trees: Vec<TokenTree> = input.clone().into_iter().collect();
    let Ok(pieces) = lex::pieces(&trees) else {
        return Vec::new();
    };
    Model::new(&pieces)
        .and_then(|m| m.readings())
        .unwrap_or_default()
}

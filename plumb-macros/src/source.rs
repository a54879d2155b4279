//! The source text around the token form's tokens: what the compiler removed before `sh!`
//! saw them.
//!
//! rustc drops comments from a macro's input, so in `sh!(ls src/**/*.js)` the macro receives
//! `src` and `*.js`, with a gap between them that looks like a space. Token positions
//! (`Span::start()/end()`, stable since Rust 1.88) tell where each token is; the file they
//! point into (`Span::local_file()`) tells what was between them. A comment glued to a word
//! (`https://...`, `src/**/...`) or any block comment is refused: the words would change. A
//! `// note` after a blank is a Rust comment by intent and stays allowed.

use std::borrow::Cow;

use proc_macro2::{Delimiter, LineColumn, Span, TokenTree};

use crate::lex::{end, error, start, Result};

/// Where the text between tokens comes from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Source<'a> {
    /// The file the spans point into, read when needed (inside the compiler).
    File,
    /// The text the tokens were parsed from (tests and the fuzz target).
    #[cfg_attr(not(test), allow(dead_code))]
    Text(&'a str),
}

impl<'a> Source<'a> {
    /// The whole text the span points into.
    pub(crate) fn load(self, span: Span) -> Option<Cow<'a, str>> {
        match self {
            Source::Text(text) => Some(Cow::Borrowed(text)),
            Source::File => span
                .local_file()
                .and_then(|f| std::fs::read_to_string(f).ok())
                .map(Cow::Owned),
        }
    }
}

/// A text with the byte offset of each line up to some line, to find token positions.
pub(crate) struct Lines<'t> {
    pub text: &'t str,
    starts: Vec<usize>,
}

impl<'t> Lines<'t> {
    /// The lines of `text` up to line `last` (1-based; all of them for `usize::MAX`).
    pub(crate) fn new(text: &'t str, last: usize) -> Self {
        let mut starts = vec![0];
        while starts.len() < last {
            let from = starts[starts.len() - 1];
            match text[from..].find('\n') {
                Some(i) => starts.push(from + i + 1),
                None => break,
            }
        }
        Lines { text, starts }
    }

    /// The byte offset of a position (1-based line, 0-based column in characters).
    pub(crate) fn offset(&self, at: LineColumn) -> Option<usize> {
        let line_start = *self.starts.get(at.line.checked_sub(1)?)?;
        let line = &self.text[line_start..];
        let line = &line[..line.find('\n').unwrap_or(line.len())];
        if line.is_ascii() {
            return (at.column <= line.len()).then_some(line_start + at.column);
        }
        if at.column == line.chars().count() {
            return Some(line_start + line.len());
        }
        line.char_indices()
            .nth(at.column)
            .map(|(i, _)| line_start + i)
    }
}

/// A token of the input as the source shows it.
struct Item {
    span: Span,
    /// What the source must hold at the span, to trust its positions.
    text: ItemText,
}

enum ItemText {
    Char(char),
    Token(TokenTree),
    /// `${...}`: not compared.
    Any,
}

impl ItemText {
    fn is(&self, source: &str) -> bool {
        match self {
            ItemText::Char(c) => source.len() == c.len_utf8() && source.starts_with(*c),
            ItemText::Token(t) => t.to_string() == source,
            ItemText::Any => true,
        }
    }
}

fn items(trees: &[TokenTree], out: &mut Vec<Item>) {
    let mut i = 0;
    while i < trees.len() {
        let tt = &trees[i];
        let item = |span: Span, text: ItemText| Item { span, text };
        match tt {
            // Inside `${...}` and `$[...]` is Rust code, where comments are comments; inside
            // `$(...)` is shell, checked like the rest.
            TokenTree::Punct(p) if p.as_char() == '$' => {
                out.push(item(p.span(), ItemText::Char('$')));
                if let Some(TokenTree::Group(g)) = trees.get(i + 1) {
                    let rust = matches!(g.delimiter(), Delimiter::Brace | Delimiter::Bracket);
                    if rust && start(g.span()) == end(p.span()) {
                        out.push(item(g.span(), ItemText::Any));
                        i += 1;
                    }
                }
            }
            TokenTree::Punct(p) => out.push(item(p.span(), ItemText::Char(p.as_char()))),
            TokenTree::Group(g) => {
                let inner: Vec<TokenTree> = g.stream().into_iter().collect();
                let (open, close) = match g.delimiter() {
                    Delimiter::Parenthesis => ('(', ')'),
                    Delimiter::Brace => ('{', '}'),
                    Delimiter::Bracket => ('[', ']'),
                    Delimiter::None => {
                        items(&inner, out);
                        i += 1;
                        continue;
                    }
                };
                out.push(item(g.span_open(), ItemText::Char(open)));
                items(&inner, out);
                out.push(item(g.span_close(), ItemText::Char(close)));
            }
            other => out.push(item(other.span(), ItemText::Token(other.clone()))),
        }
        i += 1;
    }
}

/// Refuses input where the compiler removed a comment that changes the words: one glued to
/// a word, or a block comment (also a doc comment, which reaches a macro as `#[doc]`).
pub(crate) fn check_comments(trees: &[TokenTree], source: Source<'_>) -> Result<()> {
    doc_comments(trees)?;
    let mut list = Vec::new();
    items(trees, &mut list);
    let Some(first) = list.first() else {
        return Ok(());
    };
    let Some(text) = source.load(first.span) else {
        return Ok(());
    };
    let last_line = list.iter().map(|i| end(i.span).line).max().unwrap_or(0);
    let lines = Lines::new(&text, last_line);
    // The byte range of an item, when the source holds its text there.
    let range = |item: &Item| {
        let (a, b) = (
            lines.offset(start(item.span))?,
            lines.offset(end(item.span))?,
        );
        (a <= b && text.get(a..b).is_some_and(|t| item.text.is(t))).then_some((a, b))
    };
    // The span of the word that ends with item `k`: its first token.
    let word_span = |k: usize| {
        let mut j = k;
        while j > 0 && start(list[j].span) == end(list[j - 1].span) {
            j -= 1;
        }
        list[j].span
    };
    for k in 1..list.len() {
        // A comment takes at least 4 columns (`/**/`) or the rest of a line.
        let (prev, next) = (end(list[k - 1].span), start(list[k].span));
        let room = next.line > prev.line || next.column >= prev.column + 4;
        if !room {
            continue;
        }
        let (Some((_, gap_start)), Some((gap_end, _))) = (range(&list[k - 1]), range(&list[k]))
        else {
            continue;
        };
        if gap_start < gap_end {
            check_gap(&text, gap_start, gap_end, word_span(k - 1))?;
        }
    }
    // After the last token, a `//` glued to it (`curl https://x.org` on its own line).
    let last = list.len() - 1;
    if let Some((_, tail)) = range(&list[last]) {
        let line_end = text[tail..].find('\n').map_or(text.len(), |i| tail + i);
        if text[tail..line_end].starts_with("//") {
            check_gap(&text, tail, line_end, word_span(last))?;
        }
    }
    Ok(())
}

/// A doc comment (`///`, `/** */`) inside the input reaches the macro as `#[doc = "..."]`.
fn doc_comments(trees: &[TokenTree]) -> Result<()> {
    for tt in trees {
        match tt {
            TokenTree::Punct(p) if p.as_char() == '#' => {
                if let Some(text) = p.span().source_text().filter(|t| t.starts_with('/')) {
                    let text: String = text.chars().take(40).collect();
                    return error(
                        p.span(),
                        format!(
                            "a doc comment, `{text}`, reaches `sh!` as an attribute, not as \
                             text: write `//` for a comment, or use the string form, \
                             `sh!(\"...\")`, for these characters"
                        ),
                    );
                }
            }
            TokenTree::Group(g) => {
                doc_comments(&g.stream().into_iter().collect::<Vec<_>>())?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// Looks at the text between two tokens: whitespace and comments only, else the positions
/// are not to be trusted and nothing is said.
fn check_gap(text: &str, gap_start: usize, gap_end: usize, span: Span) -> Result<()> {
    let gap = &text[gap_start..gap_end];
    let mut i = 0;
    while i < gap.len() {
        let rest = &gap[i..];
        let c = rest.chars().next().unwrap_or(' ');
        if c.is_whitespace() {
            i += c.len_utf8();
            continue;
        }
        let len = if rest.starts_with("//") {
            rest.find('\n').unwrap_or(rest.len())
        } else if rest.starts_with("/*") {
            match block_comment_len(rest) {
                Some(len) => len,
                None => return Ok(()),
            }
        } else {
            return Ok(());
        };
        let comment = &rest[..len];
        let glued = i == 0;
        if comment.starts_with("/*") || glued {
            let written = written_around(text, gap_start + i, gap_start + i + len);
            let message = match url_scheme(text, gap_start).filter(|_| glued) {
                Some(word) if comment.starts_with("//") => lost_url(word),
                _ => removed_comment(comment, written),
            };
            return error(span, message);
        }
        i += len;
    }
    Ok(())
}

/// The length of a block comment at the start of `text` (they nest), if it is closed.
fn block_comment_len(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = 0;
    let b = text.as_bytes();
    while i + 1 < b.len() {
        match (b[i], b[i + 1]) {
            (b'/', b'*') => {
                depth += 1;
                i += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => i += 1,
        }
    }
    None
}

/// The text of the line around a comment, from the blank before it to the blank after it:
/// the word as the author wrote it (`src/**/*.js`).
fn written_around(text: &str, from: usize, to: usize) -> &str {
    let blank = |c: char| c.is_whitespace() || "()".contains(c);
    let a = text[..from].rfind(blank).map_or(0, |i| i + 1);
    let b = text[to..].find(blank).map_or(text.len(), |i| to + i);
    &text[a..b]
}

/// The word before `at` when it looks like a URL scheme (`https:`).
fn url_scheme(text: &str, at: usize) -> Option<&str> {
    let word_start = text[..at]
        .rfind(|c: char| c.is_whitespace() || "()".contains(c))
        .map_or(0, |i| i + 1);
    let word = &text[word_start..at];
    let scheme = word.strip_suffix(':')?;
    let scheme_like = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c));
    scheme_like.then_some(word)
}

fn lost_url(word: &str) -> String {
    format!(
        "`{word}//...`: in the token form `//` starts a Rust comment and the rest of the line is \
         lost; URLs need the string form, e.g. sh!(\"curl {word}//example.com\")"
    )
}

fn removed_comment(comment: &str, written: &str) -> String {
    let comment: String = comment.chars().take(40).collect();
    // `src/**/*.js`: a glob, which the string form expands by the same rules.
    let advice = if comment.starts_with("/*") && !comment.contains(char::is_whitespace) {
        format!(
            "a glob with `/*` in it needs the string form, e.g. `sh!(\"... {}\")`, which \
             expands it by the same rules",
            written.replace('\\', "\\\\").replace('"', "\\\"")
        )
    } else {
        "write this command in the string form, `sh!(\"...\")`, where `//` and `/*` are \
         ordinary characters"
            .to_string()
    };
    format!(
        "the compiler removed a Rust comment here, `{comment}`, before `sh!` saw the command, \
         so `{written}` would not reach the program as written; {advice}"
    )
}

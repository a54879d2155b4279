//! The lexer and parser as plain functions, on token streams parsed from strings (proc-macro2's
//! fallback keeps real positions with `span-locations`).

use crate::lex::{self, Op, Part, Tok};
use crate::parse::{self, Command, Redirect, SeqOp};

fn toks(src: &str) -> Vec<Tok> {
    lex::lex(src.parse().expect("rust tokens")).expect("lexes")
}

/// Renders tokens compactly: words in brackets, operators bare, interpolations as `{..}`.
fn show(src: &str) -> String {
    toks(src)
        .iter()
        .map(|t| match t {
            Tok::Word(w) => {
                let inner: String = w
                    .parts
                    .iter()
                    .map(|p| match p {
                        Part::Lit(s) => s.clone(),
                        Part::Value(e, _) => format!("{{{e}}}"),
                        Part::Splat(e, _) => format!("[{e}]"),
                    })
                    .collect();
                format!("<{inner}>")
            }
            Tok::Op(op, _) => op.text(),
            Tok::Newline(_) => "NL".into(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn err(src: &str) -> String {
    match lex::lex(src.parse().expect("rust tokens")).and_then(parse::parse) {
        Ok(_) => panic!("expected an error for {src:?}"),
        Err(e) => e.message,
    }
}

#[test]
fn token_form_rebuilds_words_from_positions() {
    assert_eq!(show("ls -la ./src/main.rs"), "<ls> <-la> <./src/main.rs>");
    assert_eq!(show("ls --color=auto a.txt"), "<ls> <--color=auto> <a.txt>");
    assert_eq!(show("curl 127.0.0.1:8080"), "<curl> <127.0.0.1:8080>");
    assert_eq!(show("cat ~/x"), "<cat> <~/x>");
    assert_eq!(show("a 2>&1 | b"), "<a> 2>&1 | <b>");
    assert_eq!(show("a >&2"), "<a> 1>&2");
    assert_eq!(show("echo x{a,b}[c]"), "<echo> <x{a,b}[c]>");
}

#[test]
fn operators() {
    assert_eq!(show("a|b|&c"), "<a> | <b> |& <c>");
    assert_eq!(show("a && b || c ; d"), "<a> && <b> || <c> ; <d>");
    assert_eq!(
        show("a > f >> g 2> h 2>> i &> j &>> k < l"),
        "<a> > <f> >> <g> 2> <h> 2>> <i> &> <j> &>> <k> < <l>"
    );
    assert_eq!(show("a <<< $v"), "<a> <<< <{v}>");
    assert_eq!(show("echo 10|cat"), "<echo> <10> | <cat>");
    assert_eq!(show("echo a>b"), "<echo> <a> > <b>");
}

#[test]
fn interpolation() {
    assert_eq!(
        show("echo $x ${a.b()} $[v] $$"),
        "<echo> <{x}> <{a . b ()}> <[v]> <$>"
    );
    assert_eq!(show("echo pre$x.txt"), "<echo> <pre{x}.txt>");
    assert_eq!(show(r#"echo "a $x b" "$$""#), "<echo> <a {x} b> <$>");
    assert_eq!(show(r#"echo r"$x""#), "<echo> <$x>");
    assert_eq!(show(r#"echo "a\tb""#), "<echo> <a\tb>");
    assert_eq!(show(r#"echo """#), "<echo> <>");
}

#[test]
fn string_form() {
    assert_eq!(show(r#""ls -la | grep x""#), "<ls> <-la> | <grep> <x>");
    assert_eq!(
        show(r#""echo 'a $b' \"c $d\" e\\ f""#),
        "<echo> <a $b> <c {d}> <e f>"
    );
    assert_eq!(
        show(r#""curl https://x.org/a//b /* x */""#),
        "<curl> <https://x.org/a//b> </*> <x> <*/>"
    );
    assert_eq!(show(r#""a\nb""#), "<a> NL <b>");
    assert_eq!(show(r#""echo ${x + 1} $[v]""#), "<echo> <{x + 1}> <[v]>");
    assert_eq!(show(r#""echo '' x""#), "<echo> <> <x>");
}

#[test]
fn newlines_in_token_form_separate_commands() {
    assert_eq!(show("a x\nb y"), "<a> <x> NL <b> <y>");
}

#[test]
fn a_line_starting_with_an_operator_continues() {
    assert_eq!(show("a\n | b\n && c\n || d"), "<a> | <b> && <c> || <d>");
    assert_eq!(show(r#""a\n  | b""#), "<a> | <b>");
}

#[test]
fn parse_structure() {
    let script = parse::parse(toks("FOO=1 A=x$y ls -l > f 2>&1; cd d && b | c || e")).unwrap();
    let ops: Vec<_> = script.items.iter().map(|(op, _)| *op).collect();
    assert_eq!(ops, [SeqOp::Then, SeqOp::Then, SeqOp::And, SeqOp::Or]);
    let Command::Simple(s) = &script.items[0].1.stages[0].0 else {
        panic!()
    };
    assert_eq!(
        s.env.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["FOO", "A"]
    );
    assert_eq!(s.words.len(), 2);
    assert!(matches!(
        s.redirects[0],
        Redirect::Out {
            fd: 1,
            append: false,
            ..
        }
    ));
    assert!(matches!(s.redirects[1], Redirect::Dup { from: 2, to: 1 }));
    assert!(matches!(script.items[1].1.stages[0].0, Command::Cd(_)));
    assert_eq!(script.items[2].1.stages.len(), 2);
}

#[test]
fn a_quoted_cd_or_assignment_is_an_ordinary_word() {
    let script = parse::parse(toks(r#""'cd' x; 'A=1' b""#)).unwrap();
    assert!(matches!(script.items[0].1.stages[0].0, Command::Simple(_)));
    let Command::Simple(s) = &script.items[1].1.stages[0].0 else {
        panic!()
    };
    assert!(s.env.is_empty());
}

#[test]
fn errors_a_shell_user_understands() {
    assert!(err("ls |").contains("`|` at the end"));
    assert!(err("ls >").contains("`>` needs a file name"));
    assert!(err("ls 2>&7").contains("file descriptor 7"));
    assert!(err("ls 7> f").contains("file descriptor 7"));
    assert!(err("cat <<<").contains("`<<<` needs a value"));
    assert!(err("a &&").contains("`&&` at the end"));
    assert!(err("a ||").contains("`||` at the end"));
    assert!(err("a ;").contains("`;` at the end"));
    assert!(err("a & b").contains("background"));
    assert!(err("| a").contains("no command before it"));
    assert!(err("a | | b").contains("right after `|`"));
    assert!(err("cd").contains("needs a directory"));
    assert!(err("cd a b").contains("exactly one"));
    assert!(err("cd a | b").contains("pipeline"));
    assert!(err("A=$x").contains("without a command"));
    assert!(err("A=1").contains("without a command"));
    assert!(err("echo a$[v]").contains("must stand alone"));
    assert!(err("echo $").contains("`$$` for a literal"));
    assert!(err("echo ${}").contains("empty"));
    assert!(err("cat << EOF").contains("here-documents"));
    assert!(err(r#""echo 'abc""#).contains("unterminated quote"));
    assert!(err(r#""echo \"abc""#).contains("unterminated quote"));
    assert!(err(r#""echo ${x""#).contains("unbalanced"));
    assert!(err(r#""echo `id`""#).contains("backticks"));
    assert!(err(r#""echo (a)""#).contains("subshells"));
    assert!(err("echo (a)").contains("subshells"));
    assert!(err(r#""echo \"$[v]\"""#).contains("inside quotes"));
    assert!(err("curl https://example.com/a\n").contains("URLs need the string form"));
    assert!(err("echo 'a").contains("string form"));
}

#[test]
fn empty_input_is_an_error() {
    assert!(lex::lex(proc_macro2::TokenStream::new()).is_err());
    assert!(err(r#""""#).contains("empty command"));
    assert!(err(r#""  \n ""#).contains("empty command"));
}

#[test]
fn expansion_compiles_to_tokens() {
    let krate = quote::quote!(::plumb);
    let out = crate::compile("ls -l $dir | grep x > out.txt".parse().unwrap(), &krate).unwrap();
    let text = out.to_string();
    // The shape is one plan string; the value is code.
    assert!(text.contains("__p :: build"), "{text}");
    assert!(text.contains("o10"), "{text}");
    assert!(text.contains("L7:out.txt"), "{text}");
    assert!(text.contains("__p :: value (& (dir))"), "{text}");
}

#[test]
fn op_round_trip_text() {
    assert_eq!(Op::Dup(2, 1).text(), "2>&1");
    assert_eq!(Op::Out(2, true).text(), "2>>");
}

#[test]
fn commands_that_cargo_fmt_split_are_refused() {
    let trees = |s: &str| {
        s.parse::<proc_macro2::TokenStream>()
            .unwrap()
            .into_iter()
            .collect::<Vec<_>>()
    };
    let hazard = |s: &str, d| lex::check_rustfmt(&trees(s), d).is_err();
    // What rustfmt makes of `wc -l`, `rustc --version`, `cd /tmp`.
    assert!(hazard("wc - l", Some("sh!(wc - l)")));
    assert!(hazard("rustc - -version", Some("sh![rustc - -version]")));
    assert!(hazard("cd / tmp | ls", None));
    // As written by a person: fine.
    assert!(!hazard("wc -l", Some("sh!(wc -l)")));
    assert!(!hazard("rustc --version", None));
    // In braces rustfmt changes nothing, so nothing is refused.
    assert!(!hazard("wc - l", Some("sh! { wc - l }")));
    // Not a Rust expression: rustfmt leaves it alone.
    assert!(!hazard("cat - ./file", None));
    assert!(!hazard("expr 1 + 2", None));
    let e = lex::check_rustfmt(&trees("rustc - -version"), None).unwrap_err();
    assert!(
        e.message.contains("`sh! { rustc --version }`"),
        "{}",
        e.message
    );
}

mod never_panics {
    //! The lexer, parser and expander on arbitrary input: an error or tokens, never a panic.
    //! (A cheap, always-on cousin of fuzzing; shell-flavoured characters are overweighted.)

    use proptest::prelude::*;

    fn shellish() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            4 => prop::sample::select(vec![
                "ls", "-la", " ", "  ", "\n", "|", "|&", "&&", "||", ";", "&", ">", ">>", "<", "<<<",
                "2>", "2>&1", ">&2", "&>", "2>&7", "$", "$x", "${", "}", "${x}", "$[", "]", "$[v]",
                "$$", "\"", "'", "\\", "(", ")", "{", "[", "cd", "A=1", "=", "#", "`", "//", "/*",
                "r\"x\"", "'a'", "1.5", "::", "-", "--", "+", "*", "/", "!", "?", ".",
            ]).prop_map(str::to_string),
            1 => any::<char>().prop_map(|c| c.to_string()),
        ];
        prop::collection::vec(piece, 0..24).prop_map(|v| v.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn token_form(src in shellish()) {
            if let Ok(tokens) = src.parse::<proc_macro2::TokenStream>() {
                let _ = crate::compile(tokens, &quote::quote!(::plumb));
            }
        }

        #[test]
        fn string_form(src in shellish()) {
            let lit = proc_macro2::Literal::string(&src);
            let _ = crate::compile(proc_macro2::TokenTree::Literal(lit).into(), &quote::quote!(::plumb));
        }
    }
}

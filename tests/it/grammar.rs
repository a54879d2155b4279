//! Every form of the `sh!` grammar, on every machine.

use crate::common::Ctx;
use plumb::sh;

/// Splits `printf '%s\n'` output back into the arguments it received.
fn args(out: String) -> Vec<String> {
    out.lines().map(str::to_string).collect()
}

fn words_come_out_as_written(t: &Ctx) {
    let out = t
        .on(sh!(printf "%s\n" -la ./src/main.rs --color=auto a.txt 127.0.0.1:8080 HEAD~1 2>&1))
        .read()
        .unwrap();
    assert_eq!(
        args(out),
        [
            "-la",
            "./src/main.rs",
            "--color=auto",
            "a.txt",
            "127.0.0.1:8080",
            "HEAD~1"
        ]
    );
    // `x{a,b}[c]` makes two patterns; with no `xac` or `xbc` here they stay as written.
    let out = t
        .on(sh!(printf "%s\n" x{a,b}[c] a=b @host:/p))
        .read()
        .unwrap();
    assert_eq!(args(out), ["xa[c]", "xb[c]", "a=b", "@host:/p"]);
}

fn string_form(t: &Ctx) {
    let x = "v a l";
    let out = t
        .on(sh!(
            "printf '%s\n' 'a b' \"c $x\" d\\ e 'it''s' https://example.com/a//b"
        ))
        .read()
        .unwrap();
    assert_eq!(
        args(out),
        ["a b", "c v a l", "d e", "its", "https://example.com/a//b"]
    );
    // Single quotes take everything literally.
    let out = t.on(sh!("printf '%s' '$x ${y} \"q\"'")).read().unwrap();
    assert_eq!(out, "$x ${y} \"q\"");
}

/// In the token form a Rust string literal is a double-quoted word read by sh's rules (a
/// backslash escapes only `$`, `` ` ``, `"`, `\\` and a line break); a raw string
/// interpolates nothing.
fn rust_string_literals(t: &Ctx) {
    let x = 1;
    assert_eq!(t.on(sh!(printf "%s" "a\tb")).read().unwrap(), "a\\tb");
    assert_eq!(t.on(sh!(printf "%s" "n=$x")).read().unwrap(), "n=1");
    assert_eq!(t.on(sh!(printf "%s" r"n=$x\t")).read().unwrap(), "n=$x\\t");
    assert_eq!(t.on(sh!(printf "[%s]" "")).read().unwrap(), "[]");
}

fn interpolation(t: &Ctx) {
    let name = "two words";
    let n = 42;
    let list = vec!["a", "b c"];
    let empty: Vec<String> = Vec::new();
    let out = t
        .on(sh!(printf "%s\n" $name ${n + 1} $[&list] $[empty] $$ pre$n.txt ${name.len()}))
        .read()
        .unwrap();
    assert_eq!(
        args(out),
        ["two words", "43", "a", "b c", "$", "pre42.txt", "9"]
    );
    let out = t
        .on(sh!("printf '%s\n' $name ${n * 2} $[list] \"<$n>\" $$HOME"))
        .read()
        .unwrap();
    assert_eq!(args(out), ["two words", "84", "a", "b c", "<42>", "$HOME"]);
}

/// Double quotes keep a backslash before anything but `$`, `` ` ``, `"`, `\\` and a line
/// break, as sh does, in both forms: `"\n"` reaches the program as a backslash and an `n`.
fn double_quotes_follow_sh(t: &Ctx) {
    let want = ["a\\nb", "tab\\t", "back\\slash", "q\"uote", "$"];
    let out = t
        .on(sh!(printf "%s\n" "a\nb" "tab\t" "back\\slash" "q\"uote" "$$"))
        .read()
        .unwrap();
    assert_eq!(args(out), want);
    let out = t
        .on(sh!(
            "printf '%s\\n' \"a\\nb\" \"tab\\t\" \"back\\\\slash\" \"q\\\"uote\" \"\\$\""
        ))
        .read()
        .unwrap();
    assert_eq!(args(out), want);
}

/// Brace expansion happens in the macro, as bash does it; quoted braces and values stay.
fn brace_expansion(t: &Ctx) {
    let v = "{x,y}";
    let out = t
        .on(sh!(printf "%s\n" pre{a,b}post {1..3} {08..10} {c..a} {1..7..3} f{,.bak} "{q,r}" $v ${v}{1,2} {} {a}))
        .read()
        .unwrap();
    assert_eq!(
        args(out),
        [
            "preapost", "prebpost", "1", "2", "3", "08", "09", "10", "c", "b", "a", "1", "4", "7",
            "f", "f.bak", "{q,r}", "{x,y}", "{x,y}1", "{x,y}2", "{}", "{a}"
        ]
    );
    t.on(sh!(mkdir -p tree/{src,docs}/{a,b})).run().unwrap();
    for dir in ["tree/src/a", "tree/src/b", "tree/docs/a", "tree/docs/b"] {
        assert!(t.path(dir).is_dir().unwrap(), "{dir}");
    }
    let out = t
        .on(sh!("printf '%s\\n' {a,'b c'}{1,2} '{a,b}'"))
        .read()
        .unwrap();
    assert_eq!(args(out), ["a1", "a2", "b c1", "b c2", "{a,b}"]);
}

/// A final `;` ends the last command, as in any POSIX shell.
fn a_final_semicolon(t: &Ctx) {
    assert_eq!(t.on(sh!(echo a; echo b;)).read().unwrap(), "a\nb");
    assert_eq!(t.on(sh!("echo a;")).read().unwrap(), "a");
}

fn splat_can_be_the_program(t: &Ctx) {
    let argv = ["printf", "%s-", "x", "y"];
    assert_eq!(t.on(sh!($[argv])).read().unwrap(), "x-y-");
}

fn pipes(t: &Ctx) {
    assert_eq!(
        t.on(sh!(printf "b\na\n" | sort | head -n 1))
            .read()
            .unwrap(),
        "a"
    );
    // `|&` sends stderr into the pipe too.
    let out = t
        .on(sh!(sh -c "echo out; echo err >&2" |& sort))
        .read()
        .unwrap();
    assert_eq!(out, "err\nout");
    let out = t.on(sh!(sh -c "echo err >&2" | wc -c)).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0");
    assert_eq!(out.stderr, b"err\n");
}

fn redirections(t: &Ctx) {
    let f = "out.txt";
    t.on(sh!(echo one > $f)).run().unwrap();
    t.on(sh!(echo two >> out.txt)).run().unwrap();
    assert_eq!(t.path(f).read_to_string().unwrap(), "one\ntwo\n");
    assert_eq!(t.on(sh!(tr a-z A-Z < out.txt)).read().unwrap(), "ONE\nTWO");

    t.on(sh!(sh -c "echo o; echo e >&2" 2> err.txt))
        .read()
        .unwrap();
    t.on(sh!(sh -c "echo e2 >&2" 2>> err.txt)).run().unwrap();
    assert_eq!(t.path("err.txt").read_to_string().unwrap(), "e\ne2\n");

    t.on(sh!(sh -c "echo o; echo e >&2" &> all.txt))
        .run()
        .unwrap();
    t.on(sh!(sh -c "echo o2" &>> all.txt)).run().unwrap();
    let all = t.path("all.txt").read_to_string().unwrap();
    assert!(all == "o\ne\no2\n" || all == "e\no\no2\n", "{all:?}");

    let out = t.on(sh!(sh -c "echo e >&2" 2>&1)).output().unwrap();
    assert_eq!((out.stdout, out.stderr), (b"e\n".to_vec(), vec![]));
    let out = t.on(sh!(echo o >&2)).output().unwrap();
    assert_eq!((out.stdout, out.stderr), (vec![], b"o\n".to_vec()));
    // Order matters as in a shell: `> f 2>&1` sends both to f; `2>&1 > f` only stdout.
    let out = t
        .on(sh!(sh -c "echo o; echo e >&2" > both.txt 2>&1))
        .output()
        .unwrap();
    assert!(out.stdout.is_empty() && out.stderr.is_empty());
    let out = t
        .on(sh!(sh -c "echo o; echo e >&2" 2>&1 > only.txt))
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"e\n");
    assert_eq!(t.path("only.txt").read_to_string().unwrap(), "o\n");
}

fn here_strings(t: &Ctx) {
    let text = "line 1\nline 2";
    let bytes: Vec<u8> = vec![0, 1, 2, 255];
    assert_eq!(t.on(sh!(cat <<< $text)).read().unwrap(), text);
    assert_eq!(t.on(sh!(cat <<< $bytes)).read_bytes().unwrap(), bytes);
    assert_eq!(
        t.on(sh!(cat <<< "lit $text")).read().unwrap(),
        "lit line 1\nline 2"
    );
    assert_eq!(
        t.on(sh!(wc -l <<< ${String::from("a\nb\n")}))
            .read()
            .unwrap()
            .trim(),
        "2"
    );
}

fn sequences(t: &Ctx) {
    assert_eq!(t.on(sh!(echo a; echo b)).read().unwrap(), "a\nb");
    assert_eq!(
        t.on(sh!(true && echo yes || echo no)).read().unwrap(),
        "yes"
    );
    assert_eq!(
        t.on(sh!(false && echo yes || echo no)).read().unwrap(),
        "no"
    );
    assert_eq!(
        t.on(sh!(false || false || echo third)).read().unwrap(),
        "third"
    );
    // `;` stops at a failure (errexit, on purpose unlike sh): the error names the command
    // that failed, and `code()` is its code. `|| true` goes on.
    let err = t.on(sh!(false; echo after)).read().unwrap_err();
    assert_eq!(err.code(), Some(1), "{err}");
    assert!(err.to_string().contains("`false`"), "{err}");
    assert!(!String::from_utf8_lossy(err.stdout().unwrap_or_default()).contains("after"));
    assert_eq!(t.on(sh!(sh -c "exit 3"; echo after)).code().unwrap(), 3);
    assert_eq!(
        t.on(sh!(false || true; echo after)).read().unwrap(),
        "after"
    );
    assert!(t.on(sh!(true && false; echo after)).read().is_err());
    assert!(t.on(sh!(echo x; false)).read().is_err());
    assert!(t.on(sh!(true && false)).read().is_err());
    assert_eq!(t.on(sh!("echo 1\necho 2\n\n")).read().unwrap(), "1\n2");
}

fn newlines_separate_commands_in_the_token_form(t: &Ctx) {
    let out = t
        .on(sh!(
            echo one
            echo two |
                tr a-z A-Z
        ))
        .read()
        .unwrap();
    assert_eq!(out, "one\nTWO");
    // A line that starts with an operator continues the one before, as rustfmt breaks lines.
    let out = t
        .on(sh!(
            printf "b\na\n"
                | sort
                | head -n 1
                && echo done
        ))
        .read()
        .unwrap();
    assert_eq!(out, "a\ndone");
}

fn environment_assignments(t: &Ctx) {
    let v = "it's $x";
    let out = t.on(sh!(A=1 B=$v sh -c "echo \"$$A $$B\"")).read().unwrap();
    assert_eq!(out, "1 it's $x");
    // Only for that command.
    let out = t
        .on(sh!(A=1 true; sh -c "echo \"[$${A-}]\""))
        .read()
        .unwrap();
    assert_eq!(out, "[]");
}

fn cd_changes_the_directory_for_the_rest(t: &Ctx) {
    t.path("sub/inner").create_dir_all().unwrap();
    let out = t.on(sh!(cd sub; cd inner && pwd)).read().unwrap();
    assert!(out.ends_with("/sub/inner"), "{out}");
    t.on(sh!(cd sub && echo hi > f.txt)).run().unwrap();
    assert_eq!(t.path("sub/f.txt").read_to_string().unwrap(), "hi\n");
    // A failed cd is a failed command, as in a shell.
    assert_eq!(
        t.on(sh!(cd nope || echo fallback)).read().unwrap(),
        "fallback"
    );
    let err = t.on(sh!(cd nope)).read().unwrap_err();
    assert!(err.to_string().contains("cd nope"), "{err}");
    let dir = "sub";
    assert!(t.on(sh!(cd $dir && pwd)).read().unwrap().ends_with("/sub"));
}

on_every_machine!(
    words_come_out_as_written,
    string_form,
    rust_string_literals,
    interpolation,
    splat_can_be_the_program,
    pipes,
    redirections,
    here_strings,
    sequences,
    newlines_separate_commands_in_the_token_form,
    environment_assignments,
    cd_changes_the_directory_for_the_rest,
    double_quotes_follow_sh,
    brace_expansion,
    a_final_semicolon,
);

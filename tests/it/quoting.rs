//! Interpolated values arrive byte for byte: never re-split, globbed or interpreted.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use crate::common::Ctx;
use plumb::{sh, ErrorKind};

fn nasty() -> Vec<OsString> {
    let mut v: Vec<OsString> = [
        "",
        " ",
        "a b",
        "'",
        "\"",
        "'\"'",
        "$HOME",
        "${HOME}",
        "$(id)",
        "`id`",
        ";",
        "a;b",
        "&&",
        "|",
        "*",
        "?",
        "[a]",
        "~",
        "~root",
        "-n",
        "--help",
        "\n",
        "a\nb",
        "\t",
        "\\",
        "#x",
        "!",
        "%s",
        "=",
        "a=b",
        "é ü 😀",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    v.push(OsString::from_vec(vec![0xff, 0xfe, b'\'', 0x80]));
    v.push(OsString::from_vec((1u8..=255).collect()));
    v
}

fn arguments(t: &Ctx) {
    for value in nasty() {
        let out = t.on(sh!(printf "%s" $value)).read_bytes().unwrap();
        assert_eq!(out, value.as_bytes(), "{value:?}");
        let out = t.on(sh!("printf '%s' $value")).read_bytes().unwrap();
        assert_eq!(out, value.as_bytes(), "{value:?}");
        let out = t.on(sh!(printf "%s" "<$value>")).read_bytes().unwrap();
        assert_eq!(out, [b"<", value.as_bytes(), b">"].concat(), "{value:?}");
    }
    let all = nasty();
    let out = t.on(sh!(printf "%s\\0" $[&all])).read_bytes().unwrap();
    let expected: Vec<u8> = all
        .iter()
        .flat_map(|v| [v.as_bytes(), b"\0"].concat())
        .collect();
    assert_eq!(out, expected);
}

fn environment_values(t: &Ctx) {
    for value in nasty() {
        let out = t.on(sh!(V=$value printenv V)).read_bytes().unwrap();
        assert_eq!(out, [value.as_bytes(), b"\n"].concat(), "{value:?}");
        let out = t.on(sh!(printenv V)).env("V", &value).read_bytes().unwrap();
        assert_eq!(out, [value.as_bytes(), b"\n"].concat(), "{value:?}");
    }
}

fn directory_names_and_redirect_targets(t: &Ctx) {
    for (i, value) in nasty().into_iter().enumerate() {
        if value.is_empty() || value.as_bytes().contains(&b'/') || value == "." {
            continue;
        }
        let name = [format!("{i}-").as_bytes(), value.as_bytes()].concat();
        let name = OsString::from_vec(name);
        t.on(sh!(mkdir $name)).run().unwrap();
        t.on(sh!(cd $name && echo in > $name)).run().unwrap();
        let out = t
            .on(sh!(cat $name))
            .dir(t.dir.as_path().join(&name))
            .read()
            .unwrap();
        assert_eq!(out, "in", "{value:?}");
        let pwd = t.on(sh!(pwd)).dir(&name).read_bytes().unwrap();
        assert!(
            pwd.ends_with(&[b"/", name.as_bytes(), b"\n"].concat()),
            "{value:?}"
        );
    }
}

fn a_nul_byte_is_an_error(t: &Ctx) {
    let v = "a\0b";
    let err = t.on(sh!(echo $v)).run().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("NUL"), "{err}");
    let err = t.on(sh!(true)).env("X", "a\0b").run().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

on_every_machine!(
    arguments,
    environment_values,
    directory_names_and_redirect_targets,
    a_nul_byte_is_an_error
);

use plumb::sh;

fn main() {
    let _ = sh!({ });
    let _ = sh!({ date; make; } build.log);
    let _ = sh!("{echo a; echo b; }");
    let _ = sh!("{ echo a; echo b");
    let _ = sh!("}");
    let _ = sh!(A=1 { make; });
    // A group and a subshell, and a `}` without the `;` sh wants: all fine.
    let _ = sh!({ date; make; } > build.log 2>&1);
    let _ = sh!((cd sub && make) 2>&1 | tail);
    let _ = sh!({ date; make } > build.log);
}

use plumb::sh;

fn main() {
    let _ = sh!(while true; do sleep 1; done);
    let _ = sh!(if test -d x; then make; fi);
    let _ = sh!(! grep -q x f);
    // Before groups existed this ran a program named `{`; now it is a group.
    let _ = sh!({ echo 1; cat; } | tail);
    // Quoted, or as an argument, it is an ordinary word.
    let _ = sh!(echo if "while");
}

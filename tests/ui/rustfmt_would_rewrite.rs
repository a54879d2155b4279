use plumb::sh;

fn main() {
    // rustfmt would turn this into `ls - l`: refused in parentheses...
    let _ = sh!(ls -l);
    // ...and fine in braces.
    let _ = sh! { ls -l };
}

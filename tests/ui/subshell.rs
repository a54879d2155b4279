use plumb::sh;

fn main() {
    let _ = sh!(echo (a b));
    let _ = sh!(( ));
    let _ = sh!((cd sub && make) tail);
    let _ = sh!("(cd sub && make");
    let _ = sh!("make )");
}

use plumb::sh;

fn main() {
    let _ = sh!(ls >>&1);
    let _ = sh!(a | & b);
}

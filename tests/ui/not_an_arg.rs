use plumb::sh;

fn main() {
    struct Opaque;
    let o = Opaque;
    let _ = sh!(echo $o);
}

use plumb::sh;

fn main() {
    let _ = sh!(sleep 1 &);
}

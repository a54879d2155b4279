use plumb::sh;

fn main() {
    let _ = sh!(cd ./tmp | ls);
}

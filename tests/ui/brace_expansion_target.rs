use plumb::sh;

fn main() {
    // Brace expansion makes two words where a redirection needs one file.
    let _ = sh!(echo x > out.{txt,log});
    let _ = sh!(echo {1..100000});
    // One word is fine.
    let _ = sh!(echo x > out{1..1}.txt);
}

//! Uses `sh!` through another crate's re-export, with no dependency on plumb itself.
fn main() -> Result<(), reexport::Error> {
    let word = "reexported";
    println!("{}", reexport::sh!(echo $word).read()?);
    Ok(())
}

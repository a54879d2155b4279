//! plumb under another name: `sh!` still finds its runtime.
use shellx::prelude::*;

fn main() -> Result<(), shellx::Error> {
    let word = "renamed";
    println!("{}", sh!(echo $word | tr a-z A-Z).read()?);
    Ok(())
}

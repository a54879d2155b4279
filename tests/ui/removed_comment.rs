use plumb::sh;

fn main() {
    // rustc removes `/**/` before the macro sees the tokens: `src` and `*.js` would remain.
    let _ = sh!(ls src/**/*.js);
    let _ = sh!(ls a/* b */c);
    // A `//` glued to a word.
    let _ = sh!(
        cat a//b
    );
    // A doc comment reaches the macro as `#[doc = "..."]`.
    let _ = sh!(
        /// the listing
        ls
    );
    // A word ending in `:` at the end of a line is only a word; a spaced `//` is a comment.
    let _ = sh!(
        scp f host:
        ls // list what is left
    );
}

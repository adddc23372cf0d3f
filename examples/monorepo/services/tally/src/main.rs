fn main() {
    let text = "hello from the monorepo";
    println!("tally: {} letters in {:?}", tally_words::letters(text), text);
}

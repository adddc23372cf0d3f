fn main() {
    let text = "hello from the monorepo";
    println!("count: {} words in {:?}", words::count(text), text);
}

// Rust's std links libgcc_s.so.1 for unwinding: this runs on cc and not on base.
fn main() {
    println!("hello from rust");
}

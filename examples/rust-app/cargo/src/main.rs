//! The rust-app program again, as a Cargo project with a crates.io dependency. dbuild builds it
//! with `cargo build --offline --locked` in the sandbox; `itoa` comes from Debian's
//! librust-itoa-dev, the vendor directory BUILD.star gives. The uid is read by the same module
//! as the rust_binary build's (BUILD.star lists ../uid.rs among the project's sources).

#[path = "../../uid.rs"]
mod uid;

fn main() {
    match uid::uid() {
        Some(uid) => {
            let mut buf = itoa::Buffer::new();
            println!("hello from cargo on cc-nonroot, uid {}", buf.format(uid));
        }
        None => {
            eprintln!("cannot read the uid from /proc/self/status");
            std::process::exit(1);
        }
    }
}

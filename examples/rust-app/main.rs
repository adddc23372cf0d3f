//! A Rust program for the cc-nonroot distroless image. rustc links the C runtime dynamically
//! (glibc, libgcc_s for unwinding), which is exactly what `cc` adds to `base`.

mod uid;

fn main() {
    match uid::uid() {
        Some(uid) => println!("hello from rust on cc-nonroot, uid {uid}"),
        None => {
            eprintln!("cannot read the uid from /proc/self/status");
            std::process::exit(1);
        }
    }
}

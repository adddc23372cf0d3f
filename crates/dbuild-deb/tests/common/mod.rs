//! Shared fixtures, now living in the crate (feature `fixtures`) so other crates' tests can
//! build the same archives.
#![allow(unused_imports)]

pub use dbuild_deb::fixtures::*;

//! Where a missing library usually comes from: the Debian package that ships it and the
//! smallest image of the family that already has it, so an error can say what to add.

/// The package and family image for a well-known soname.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hint {
    pub package: &'static str,
    pub image: &'static str,
}

const HINTS: &[(&str, Hint)] = &[
    ("libc.so.6", LIBC6),
    ("ld-linux-x86-64.so.2", LIBC6),
    ("ld-linux-aarch64.so.1", LIBC6),
    ("libm.so.6", LIBC6),
    ("libpthread.so.0", LIBC6),
    ("libdl.so.2", LIBC6),
    ("librt.so.1", LIBC6),
    ("libssl.so.3", LIBSSL3),
    ("libcrypto.so.3", LIBSSL3),
    ("libz.so.1", Hint { package: "zlib1g", image: "base" }),
    ("libzstd.so.1", Hint { package: "libzstd1", image: "base" }),
    ("libgcc_s.so.1", Hint { package: "libgcc-s1", image: "cc" }),
    ("libstdc++.so.6", Hint { package: "libstdc++6", image: "cc" }),
    ("libgomp.so.1", Hint { package: "libgomp1", image: "cc" }),
];

const LIBC6: Hint = Hint { package: "libc6", image: "base-nossl" };
// trixie renamed the package for the 64-bit time_t transition.
const LIBSSL3: Hint = Hint { package: "libssl3 or libssl3t64", image: "base" };

/// The hint for `soname`, if it is one of the well-known libraries.
pub fn hint_for(soname: &str) -> Option<Hint> {
    HINTS.iter().find(|(name, _)| *name == soname).map(|(_, hint)| *hint)
}

//! What IMAGES.md says the family is, written down independently of rules/distroless.star so
//! that the tests compare the build against the specification, not against itself.

pub const IMAGES: &[&str] = &["static", "base-nossl", "base", "cc", "python3", "java", "nodejs"];
pub const VARIANTS: &[&str] = &["", "nonroot", "debug", "debug-nonroot"];
/// The architectures every image of the family is built for here. The others of a release
/// (`Release::arches`) are built for `static` and `python3` only (`arches`): the whole family
/// on every architecture is tools/bench-family's job, too long for the test suite.
pub const ARCHES: &[&str] = &["amd64", "arm64"];
/// The images built here on every architecture of their release, with their indexes.
pub const EVERY_ARCH: &[&str] = &["static", "python3"];

pub struct Release {
    /// The distro part of target names; empty for the default (debian13).
    pub suffix: &'static str,
    pub version_id: &'static str,
    pub codename: &'static str,
    pub python: &'static str,
    pub java: &'static str,
    pub node_major: &'static str,
    pub usr_merge: bool,
    /// Every architecture IMAGES.md lists for the release, as the OCI platform names them (and
    /// target names end): Debian's armhf is `arm`, ppc64el `ppc64le`.
    pub arches: &'static [&'static str],
}

pub const DEBIAN13: Release = Release {
    suffix: "",
    version_id: "13",
    codename: "trixie",
    python: "3.13",
    java: "21",
    node_major: "v20.",
    usr_merge: true,
    // s390x and ppc64le are left out of images/BUILD.star: the mirror lacks their pool files.
    arches: &["amd64", "arm64", "arm", "riscv64"],
};
pub const DEBIAN12: Release = Release {
    suffix: "debian12",
    version_id: "12",
    codename: "bookworm",
    python: "3.11",
    java: "17",
    node_major: "v18.",
    usr_merge: false,
    // bookworm has no riscv64, and bookworm-security (LTS) no s390x.
    arches: &["amd64", "arm64", "arm", "ppc64le"],
};
pub const RELEASES: &[&Release] = &[&DEBIAN13, &DEBIAN12];

pub fn join(parts: &[&str]) -> String {
    parts.iter().filter(|p| !p.is_empty()).copied().collect::<Vec<_>>().join("-")
}

/// The target name of one image (arch empty for the index).
pub fn name(image: &str, variant: &str, release: &Release, arch: &str) -> String {
    join(&[image, variant, release.suffix, arch])
}

/// The architectures `image` is built for here, in a release.
pub fn arches(image: &str, r: &Release) -> &'static [&'static str] {
    if EVERY_ARCH.contains(&image) {
        r.arches
    } else {
        ARCHES
    }
}

/// Every label the test builds, as IMAGES.md names them, including the explicit `-debian13`
/// spellings: each image on `arches`, and the indexes of the `EVERY_ARCH` images.
pub fn all_labels() -> Vec<String> {
    let mut out = Vec::new();
    for r in RELEASES {
        let distros: &[&str] = if r.suffix.is_empty() { &["", "debian13"] } else { &[r.suffix] };
        for image in IMAGES {
            let mut arches: Vec<&str> = arches(image, r).to_vec();
            if EVERY_ARCH.contains(image) {
                arches.push("");
            }
            for variant in VARIANTS {
                for distro in distros {
                    for arch in &arches {
                        out.push(format!("//images:{}", join(&[image, variant, distro, arch])));
                    }
                }
            }
        }
    }
    out
}

/// The image a variant-less image is stacked on.
pub fn parent(image: &str) -> Option<&'static str> {
    match image {
        "static" => None,
        "base-nossl" => Some("static"),
        "base" => Some("base-nossl"),
        "cc" => Some("base"),
        _ => Some("cc"),
    }
}

/// Every Debian package whose status.d entry the image must hold.
pub fn packages(image: &str, variant: &str, r: &Release) -> Vec<String> {
    let d13 = r.usr_merge;
    let mut own: Vec<&str> = match image {
        "static" if d13 => vec!["base-files", "netbase", "tzdata", "tzdata-legacy", "media-types", "ca-certificates"],
        "static" => vec!["base-files", "netbase", "tzdata", "media-types", "ca-certificates"],
        "base-nossl" => vec!["libc6"],
        "base" if d13 => vec!["libc6", "libssl3t64", "libzstd1", "zlib1g"],
        "base" => vec!["libc6", "libssl3"],
        "cc" if d13 => vec!["libgomp1", "libstdc++6", "libgcc-s1", "gcc-14-base"],
        "cc" => vec!["libgomp1", "libstdc++6", "libgcc-s1", "gcc-12-base"],
        "python3" => {
            let mut v = vec![
                "libbz2-1.0",
                "libexpat1",
                "liblzma5",
                "libsqlite3-0",
                "libuuid1",
                "libncursesw6",
                "libtinfo6",
                "zlib1g",
                "libcom-err2",
                "libcrypt1",
                "libc-bin",
                "libgssapi-krb5-2",
                "libk5crypto3",
                "libkeyutils1",
                "libkrb5-3",
                "libkrb5support0",
                "libnsl2",
                "libffi8",
            ];
            if d13 {
                v.extend(["libdb5.3t64", "libreadline8t64", "libtirpc3t64", "libpython3.13-minimal"]);
                v.extend(["libpython3.13-stdlib", "python3.13-minimal", "python3.13-venv"]);
            } else {
                v.extend(["libdb5.3", "libreadline8", "libtirpc3", "libpython3.11-minimal"]);
                v.extend(["libpython3.11-stdlib", "python3.11-minimal", "python3.11-venv"]);
            }
            v
        }
        "java" => {
            let mut v = if d13 { vec!["openjdk-21-jre-headless"] } else { vec!["zlib1g", "openjdk-17-jre-headless"] };
            // The fonts and image libraries of headless AWT, and libc-bin for its C.utf8 locale.
            v.extend([
                "libfreetype6",
                "libbrotli1",
                "libbz2-1.0",
                "libharfbuzz0b",
                "libgraphite2-3",
                "libpcre2-8-0",
                "liblcms2-2",
                "libjpeg62-turbo",
                "libfontconfig1",
                "libexpat1",
                "fontconfig-config",
                "fonts-dejavu-core",
            ]);
            if d13 {
                v.extend(["libglib2.0-0t64", "libpng16-16t64", "fonts-dejavu-mono", "libatomic1"]);
            } else {
                v.extend(["libglib2.0-0", "libpng16-16"]);
            }
            v.push("libc-bin");
            if variant.starts_with("debug") {
                v.push(if d13 { "openjdk-21-jdk-headless" } else { "openjdk-17-jdk-headless" });
            }
            v
        }
        "nodejs" if d13 => vec![
            "libbrotli1",
            "libcares2",
            "libicu76",
            "libnghttp2-14",
            "libuv1t64",
            "libnode115",
            "nodejs",
            "node-cjs-module-lexer",
            "node-acorn",
            "node-undici",
            "node-minimatch",
        ],
        "nodejs" => vec![
            "zlib1g",
            "libbrotli1",
            "libc-ares2",
            "libicu72",
            "libnghttp2-14",
            "libuv1",
            "libnode108",
            "nodejs",
            "node-cjs-module-lexer",
            "node-acorn",
            "node-undici",
        ],
        other => panic!("unknown image {other}"),
    };
    if variant.starts_with("debug") && image == "static" {
        own.push("busybox-static");
    }
    let mut all: Vec<String> = match parent(image) {
        Some(p) => packages(p, variant, r),
        None => Vec::new(),
    };
    for p in own {
        if !all.iter().any(|q| q == p) {
            all.push(p.to_string());
        }
    }
    all
}

pub const PASSWD: &str = "root:x:0:0:root:/root:/sbin/nologin\n\
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n\
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n";

pub const GROUP: &str = "root:x:0:\nnobody:x:65534:\ntty:x:5:\nstaff:x:50:\nnonroot:x:65532:\n";

pub const NSSWITCH: &str = "passwd:         compat\n\
group:          compat\n\
shadow:         compat\n\
gshadow:        files\n\
\n\
hosts:          files dns\n\
networks:       files\n\
\n\
protocols:      db files\n\
services:       db files\n\
ethers:         db files\n\
rpc:            db files\n\
\n\
netgroup:       nis\n";

pub fn os_release(r: &Release) -> String {
    format!(
        "PRETTY_NAME=\"Distroless\"\nNAME=\"Debian GNU/Linux\"\nID=\"debian\"\nVERSION_ID=\"{v}\"\n\
         VERSION=\"Debian GNU/Linux {v} ({c})\"\n",
        v = r.version_id,
        c = r.codename
    )
}

/// The config fields of IMAGES.md's table.
pub struct Config {
    pub user: &'static str,
    pub workdir: &'static str,
    pub env: Vec<String>,
    pub entrypoint: Option<Vec<String>>,
}

pub fn config(image: &str, variant: &str, r: &Release) -> Config {
    let nonroot = variant.ends_with("nonroot");
    let debug = variant.starts_with("debug");
    let path = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    let mut env = vec![
        if debug { format!("{path}:/busybox") } else { path.to_string() },
        "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt".to_string(),
    ];
    let entrypoint: Option<Vec<&str>> = match image {
        "python3" => {
            env.push("LANG=C.UTF-8".into());
            None
        }
        "java" => {
            env.push("LANG=C.UTF-8".into());
            Some(vec!["/usr/bin/java", "-jar"])
        }
        "nodejs" => Some(vec!["/usr/bin/node"]),
        _ if debug => Some(vec!["/busybox/sh"]),
        _ => None,
    };
    let python = format!("/usr/bin/python{}", r.python);
    let entrypoint = if image == "python3" { Some(vec![python.as_str()]) } else { entrypoint };
    Config {
        user: if nonroot { "65532" } else { "0" },
        workdir: if nonroot { "/home/nonroot" } else { "/" },
        env,
        entrypoint: entrypoint.map(|e| e.into_iter().map(String::from).collect()),
    }
}

/// The Debian multiarch triplet and the ELF machine number (`e_machine`) of an architecture.
pub fn machine(arch: &str) -> (&'static str, u16) {
    match arch {
        "amd64" => ("x86_64-linux-gnu", 62),
        "arm64" => ("aarch64-linux-gnu", 183),
        "arm" => ("arm-linux-gnueabihf", 40),
        "s390x" => ("s390x-linux-gnu", 22),
        "ppc64le" => ("powerpc64le-linux-gnu", 21),
        "riscv64" => ("riscv64-linux-gnu", 243),
        other => panic!("unknown arch {other}"),
    }
}

/// The platform variant the config and the index give an architecture.
pub fn variant(arch: &str) -> Option<&'static str> {
    match arch {
        "arm64" => Some("v8"),
        "arm" => Some("v7"),
        _ => None,
    }
}

/// Debian's name of an architecture (the JVM's directory and the packages use it).
pub fn debian_arch(arch: &str) -> &str {
    match arch {
        "arm" => "armhf",
        "ppc64le" => "ppc64el",
        other => other,
    }
}

/// The qemu-user emulator that runs `arch`'s programs here, or `None` for the host's own.
pub fn qemu(arch: &str) -> Option<String> {
    match arch {
        "amd64" => None,
        "arm64" => Some("qemu-aarch64-static".into()),
        other => Some(format!("qemu-{other}-static")),
    }
}

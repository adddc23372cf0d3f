//! Dependency closures of real toolchains (gcc/g++, rustc/cargo, golang-go) against the real
//! trixie and bookworm archives, through the mirror the host's apt sources name (or the
//! DBUILD_DEBIAN_* environment variables). These tests fail, never skip, when the mirror is
//! unreachable. Each release's indices are fetched once per test binary and shared.

use std::sync::OnceLock;
use std::time::Instant;

use dbuild_deb::time::now_unix;
use dbuild_deb::{
    fetch_suite, parse_relations, resolve_closure, Closure, ClosureRequest, DepField, ExplicitMirrors, Http, Keyring,
    MirrorConfig, MultiArch, Reason, RetryPolicy, SuiteIndex, SuiteSpec,
};

const KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

static TRIXIE: OnceLock<Vec<SuiteIndex>> = OnceLock::new();
static BOOKWORM: OnceLock<Vec<SuiteIndex>> = OnceLock::new();
static TRIXIE_ARM64: OnceLock<Vec<SuiteIndex>> = OnceLock::new();

/// The release's base, -updates and -security suites (main), base first so ties go to it.
fn fetch(name: &str, arch: &str) -> Vec<SuiteIndex> {
    let t = Instant::now();
    let mirrors = MirrorConfig::from_host(&ExplicitMirrors::default()).unwrap();
    let ring = Keyring::from_file(std::path::Path::new(KEYRING)).unwrap();
    let http = Http::new(RetryPolicy::default());
    let now = now_unix();
    let indices: Vec<SuiteIndex> = [name.to_string(), format!("{name}-updates"), format!("{name}-security")]
        .into_iter()
        .map(|suite| {
            let spec = SuiteSpec { suite: suite.clone(), keyring: &ring, components: vec!["main".into()] };
            fetch_suite(&http, &mirrors, &spec, &[arch.to_string()], now)
                .unwrap_or_else(|e| panic!("fetching {suite}: {e}"))
        })
        .collect();
    let n: usize = indices.iter().map(|s| s.packages[arch].len()).sum();
    eprintln!("{name} {arch}: fetched and parsed {n} entries in {:?}", t.elapsed());
    indices
}

/// amd64 indices of a release, fetched once per test binary.
fn release(name: &str) -> &'static [SuiteIndex] {
    match name {
        "trixie" => TRIXIE.get_or_init(|| fetch("trixie", "amd64")),
        "bookworm" => BOOKWORM.get_or_init(|| fetch("bookworm", "amd64")),
        // trixie's amd64 indices with its arm64 ones beside them, for a cross root.
        "trixie+arm64" => TRIXIE_ARM64.get_or_init(|| {
            let mut both = release("trixie").to_vec();
            for (s, arm) in both.iter_mut().zip(fetch("trixie", "arm64")) {
                assert_eq!(s.suite, arm.suite);
                s.packages.extend(arm.packages);
            }
            both
        }),
        other => panic!("no cache for {other}"),
    }
}

fn closure(rel: &str, requests: &[&str]) -> Closure {
    let c = closure_with(rel, request(requests));
    assert!(c.dropped.is_empty(), "{rel}: {:?}", c.dropped);
    c
}

fn request(requests: &[&str]) -> ClosureRequest {
    ClosureRequest {
        requests: requests.iter().map(|s| s.to_string()).collect(),
        host_arch: "amd64".into(),
        ..Default::default()
    }
}

/// Resolves, prints the sizes and members (run with --nocapture to see them), and checks
/// minimality.
fn closure_with(rel: &str, req: ClosureRequest) -> Closure {
    let requests = &req.requests;
    let suites = release(rel);
    let t = Instant::now();
    let c = resolve_closure(&req, suites).unwrap_or_else(|e| panic!("{rel} {requests:?}: {e}"));
    eprintln!(
        "{rel} {}: {} packages, {:.1} MiB installed, {:.1} MiB of .debs (resolved in {:?})",
        requests.join(" "),
        c.packages.len(),
        c.installed_size_kib() as f64 / 1024.0,
        c.download_size() as f64 / (1 << 20) as f64,
        t.elapsed()
    );
    eprintln!(
        "  {}",
        c.packages
            .iter()
            .map(|p| match p.id.arch.as_str() {
                "amd64" | "all" => format!("{} {}", p.id.name, p.id.version),
                arch => format!("{}:{arch} {}", p.id.name, p.id.version),
            })
            .collect::<Vec<_>>()
            .join(", ")
    );
    check_minimal_and_no_essential(rel, &c);
    c
}

/// Minimal: for every alternative group of every member, at most one alternative is present
/// under its own name, and at most one member is there because of that group (gcc-14 is in
/// through gcc, not through cargo's `gcc | clang | c-compiler`, though it provides c-compiler).
/// Nothing Essential came in unasked.
fn check_minimal_and_no_essential(rel: &str, c: &Closure) {
    for p in &c.packages {
        for (field, text) in [(DepField::PreDepends, &p.entry.pre_depends), (DepField::Depends, &p.entry.depends)] {
            for g in parse_relations(text).unwrap() {
                if g.0.len() < 2 {
                    continue;
                }
                let present: Vec<&str> = g.0.iter().map(|a| a.name.as_str()).filter(|n| c.get(n).is_some()).collect();
                assert!(present.len() <= 1, "{rel}: {} {}: {g}: {present:?} are all present", p.id.name, p.id.version);
                let this = Reason::Dependency { by: p.id.clone(), field, relation: g.to_string() };
                let pulled: Vec<&str> =
                    c.packages.iter().filter(|q| q.reason == this).map(|q| q.id.name.as_str()).collect();
                assert!(pulled.len() <= 1, "{rel}: {} {}: {g} pulled {pulled:?}", p.id.name, p.id.version);
            }
        }
        assert!(!p.entry.essential, "{rel}: Essential {} pulled in by {}", p.id.name, p.reason);
    }
}

fn has(c: &Closure, name: &str) -> bool {
    c.get(name).is_some()
}

/// The versioned package a metapackage names (`gcc` → `gcc-14`).
fn versioned<'c>(c: &'c Closure, prefix: &str, suffix: &str) -> &'c str {
    let mut found: Vec<&str> = c
        .packages
        .iter()
        .map(|p| p.id.name.as_str())
        .filter(|n| {
            n.strip_prefix(prefix)
                .and_then(|r| r.strip_suffix(suffix))
                .is_some_and(|mid| !mid.is_empty() && mid.chars().all(|ch| ch.is_ascii_digit() || ch == '.'))
        })
        .collect();
    // Packages are sorted by name: one name in two architectures is adjacent.
    found.dedup();
    assert_eq!(found.len(), 1, "{prefix}N{suffix}: {found:?}");
    found[0]
}

fn gcc_gpp(rel: &str, major: &str) {
    let c = closure(rel, &["gcc", "g++"]);
    for name in ["gcc", "g++", "binutils", "libc6-dev", "cpp", "libc6", "linux-libc-dev"] {
        assert!(has(&c, name), "{rel}: gcc closure lacks {name}");
    }
    assert_eq!(versioned(&c, "gcc-", ""), format!("gcc-{major}"));
    assert_eq!(versioned(&c, "g++-", ""), format!("g++-{major}"));
    assert!(has(&c, &format!("cpp-{major}")) && has(&c, &format!("libstdc++-{major}-dev")));
    assert_eq!(c.why(&format!("cpp-{major}")).unwrap().rsplit(" <- ").next(), Some("requested gcc"));
    // Only the C/C++ compilers: no other language's toolchain sneaks in.
    assert!(!c.packages.iter().any(|p| p.id.name.starts_with("clang") || p.id.name.starts_with("gfortran")));
}

fn rustc_cargo(rel: &str) {
    let c = closure(rel, &["rustc", "cargo"]);
    for name in ["rustc", "cargo", "libstd-rust-dev", "gcc", "binutils", "libc6-dev"] {
        assert!(has(&c, name), "{rel}: rust closure lacks {name}");
    }
    // cargo: Depends: gcc | clang | c-compiler — gcc, never a clang.
    let cargo = c.get("cargo").unwrap();
    assert!(cargo.entry.depends.contains("gcc | clang"), "{rel}: cargo's Depends changed: {}", cargo.entry.depends);
    assert!(
        !c.packages.iter().any(|p| p.id.name.starts_with("clang") || p.id.name.starts_with("llvm-")),
        "{rel}: {:?}",
        c.packages.iter().map(|p| &p.id.name).collect::<Vec<_>>()
    );
}

fn golang(rel: &str) -> Closure {
    let c = closure(rel, &["golang-go"]);
    let go = versioned(&c, "golang-", "-go");
    let src = go.replace("-go", "-src");
    assert!(has(&c, &src), "{rel}: {go} without {src}");
    assert!(has(&c, "golang-src"));
    assert_eq!(c.get(go).unwrap().reason.to_string().split(' ').next(), Some("golang-go:amd64"));
    // gcc and libc6-dev are only Recommends of golang-1.xx-go (for cgo): not followed.
    assert!(
        !has(&c, "gcc") && !has(&c, "libc6-dev"),
        "{rel}: {:?}",
        c.packages.iter().map(|p| &p.id.name).collect::<Vec<_>>()
    );
    c
}

#[test]
fn trixie_gcc_gpp() {
    gcc_gpp("trixie", "14");
}

#[test]
fn bookworm_gcc_gpp() {
    gcc_gpp("bookworm", "12");
}

#[test]
fn trixie_rustc_cargo() {
    rustc_cargo("trixie");
}

#[test]
fn bookworm_rustc_cargo() {
    rustc_cargo("bookworm");
}

#[test]
fn trixie_golang() {
    // trixie's go binary is static: the toolchain and its sources, nothing else.
    let c = golang("trixie");
    assert_eq!(c.packages.len(), 4, "{:?}", c.packages.iter().map(|p| &p.id.name).collect::<Vec<_>>());
}

#[test]
fn bookworm_golang() {
    // bookworm's golang-1.19-go links libc6 (with libgcc-s1 and gcc-12-base behind it).
    let c = golang("bookworm");
    assert!(
        has(&c, "libc6") && c.packages.len() < 10,
        "{:?}",
        c.packages.iter().map(|p| &p.id.name).collect::<Vec<_>>()
    );
}

#[test]
fn trixie_rust_cross_arm64() {
    // A root that builds for arm64 on amd64: the host's rustc and the target's standard library.
    let c = closure("trixie+arm64", &["rustc", "libstd-rust-dev:arm64"]);
    let arch_of = |name: &str| -> Vec<&str> {
        c.packages.iter().filter(|p| p.id.name == name).map(|p| p.id.arch.as_str()).collect()
    };
    assert_eq!(arch_of("rustc"), ["amd64"]);
    // rustc itself depends on the host's libstd-rust-dev.
    assert_eq!(arch_of("libstd-rust-dev"), ["amd64", "arm64"]);
    // Multi-Arch: same libraries come in both architectures…
    assert_eq!(arch_of("libc6"), ["amd64", "arm64"]);
    let std_rt = versioned(&c, "libstd-rust-", "");
    assert_eq!(arch_of(std_rt), ["amd64", "arm64"]);
    // …while no arm64 package is one the host's instance could have served (Multi-Arch: foreign).
    for p in c.packages.iter().filter(|p| p.id.arch == "arm64") {
        assert_ne!(p.entry.multi_arch, MultiArch::Foreign, "{} {}", p.id.name, p.reason);
    }
    let host_only = closure("trixie", &["rustc"]);
    assert!(c.packages.len() > host_only.packages.len());
}

#[test]
fn trixie_cargo_without_gcc_takes_one_clang() {
    // Excluding gcc makes cargo's `gcc | clang | c-compiler` a real decision: the next
    // alternative, clang, and one clang-N behind it — not every c-compiler provider.
    let mut req = request(&["cargo"]);
    req.exclude = ["gcc".to_string()].into();
    let c = closure_with("trixie", req);
    assert!(!has(&c, "gcc"));
    let clang = c.get("clang").expect("clang");
    assert_eq!(clang.reason.to_string().split(' ').next(), Some("cargo:amd64"));
    versioned(&c, "clang-", "");
    // What was cut is listed: rustc's plain dependency on gcc.
    let dropped: Vec<String> = c.dropped.iter().map(|r| r.to_string()).collect();
    assert!(dropped.iter().any(|d| d.starts_with("rustc:amd64") && d.ends_with("Depends: gcc")), "{dropped:?}");
}

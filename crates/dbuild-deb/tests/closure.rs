//! The dependency-closure resolver on small hand-written indices (tests/data/closure/, real
//! deb822 Packages text): two suites, `base` and `updates`, for amd64 and arm64.

use std::collections::BTreeMap;

use dbuild_deb::packages::parse_packages;
use dbuild_deb::{
    resolve_closure, Closure, ClosureError, ClosureRequest, DepField, LockedSuite, PackageId, Reason, SuiteIndex,
};

fn index(suite: &str) -> SuiteIndex {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/closure");
    let mut packages = BTreeMap::new();
    for arch in ["amd64", "arm64"] {
        let path = format!("{dir}/{suite}-{arch}.Packages");
        let text = std::fs::read_to_string(&path).unwrap();
        packages.insert(arch.to_string(), parse_packages(suite, &path, &text).unwrap());
    }
    SuiteIndex {
        suite: suite.into(),
        locked: LockedSuite { date: String::new(), date_unix: 0, signers: vec![] },
        packages,
    }
}

fn suites() -> Vec<SuiteIndex> {
    vec![index("base"), index("updates")]
}

fn request(names: &[&str]) -> ClosureRequest {
    ClosureRequest {
        requests: names.iter().map(|s| s.to_string()).collect(),
        host_arch: "amd64".into(),
        ..Default::default()
    }
}

fn closure(req: &ClosureRequest) -> Closure {
    resolve_closure(req, &suites()).unwrap_or_else(|e| panic!("{e}"))
}

fn error(req: &ClosureRequest) -> String {
    match resolve_closure(req, &suites()) {
        Ok(c) => panic!("expected an error, got {:?}", names(&c)),
        Err(e) => e.to_string(),
    }
}

/// `name:arch=version` of every package, in result order.
fn names(c: &Closure) -> Vec<String> {
    c.packages.iter().map(|p| format!("{}:{}={}", p.id.name, p.id.arch, p.id.version)).collect()
}

fn id(name: &str, arch: &str, version: &str) -> PackageId {
    PackageId { name: name.into(), arch: arch.into(), version: version.into() }
}

fn dep(by: PackageId, field: DepField, relation: &str) -> Reason {
    Reason::Dependency { by, field, relation: relation.into() }
}

#[test]
fn first_satisfiable_alternative_with_its_reason() {
    let c = closure(&request(&["app"]));
    // missing-pkg has no candidate, so liba (the next one) is taken and libb is not.
    assert_eq!(names(&c), ["app:amd64=1.0", "liba:amd64=1.0", "libc-x:amd64=2.36-9"]);
    assert_eq!(c.get("app").unwrap().reason, Reason::Requested { request: "app".into() });
    assert_eq!(
        c.get("liba").unwrap().reason,
        dep(id("app", "amd64", "1.0"), DepField::Depends, "missing-pkg | liba | libb")
    );
    assert_eq!(c.get("libc-x").unwrap().reason, dep(id("liba", "amd64", "1.0"), DepField::Depends, "libc-x"));
    assert_eq!(c.why("libc-x").unwrap(), "libc-x <- liba <- app <- requested app");
    assert_eq!(c.get("libc-x").unwrap().suite, "base");
    assert_eq!(c.get("libc-x").unwrap().entry.source, "glibc-x");
}

#[test]
fn prefer_picks_an_alternative_or_a_provider() {
    let mut req = request(&["app"]);
    req.prefer = vec!["libb".into()];
    assert_eq!(names(&closure(&req)), ["app:amd64=1.0", "libb:amd64=1.0"]);

    // A virtual name with two providers is a decision the resolver does not make alone.
    let err = error(&request(&["viewer"]));
    assert_eq!(
        err,
        "virt for amd64 can be satisfied by several packages (virt-p1, virt-p2); name one in prefer: \
         wanted by viewer 1.0 <- requested viewer"
    );
    let mut req = request(&["viewer"]);
    req.prefer = vec!["unrelated".into(), "virt-p2".into()];
    assert_eq!(names(&closure(&req)), ["viewer:amd64=1.0", "virt-p2:amd64=1.0"]);
}

#[test]
fn an_alternative_already_satisfied_adds_nothing() {
    // tool: Depends: cc-a | cc-b, helper — and helper depends on cc-b. The group is decided
    // after helper's plain dependency, so cc-b satisfies it and cc-a never comes in.
    let c = closure(&request(&["tool"]));
    assert_eq!(names(&c), ["cc-b:amd64=1.0", "helper:amd64=1.0", "tool:amd64=1.0"]);
    // A requested member satisfies the group too, whichever alternative it is.
    let c = closure(&request(&["cc-a", "tool"]));
    assert!(c.get("cc-a").is_some() && c.get("cc-b").is_some(), "{:?}", names(&c));
    assert_eq!(c.get("cc-b").unwrap().reason, dep(id("helper", "amd64", "1.0"), DepField::Depends, "cc-b"));
    // With prefer naming the other member, the already-chosen one still wins: never both
    // because of one group.
    let mut req = request(&["app", "libb"]);
    req.prefer = vec!["liba".into()];
    let c = closure(&req);
    assert!(c.get("liba").is_none(), "{:?}", names(&c));
}

#[test]
fn provides_and_versioned_provides() {
    let c = closure(&request(&["mailer"]));
    assert_eq!(names(&c), ["mailer:amd64=1.0", "tiny-mta:amd64=1.0"]);
    assert_eq!(
        c.get("tiny-mta").unwrap().reason,
        dep(id("mailer", "amd64", "1.0"), DepField::Depends, "mail-transport-agent")
    );
    // libapi (>= 2): impl1 provides version 1 (too old), the unversioned provider cannot
    // satisfy a versioned relation; only impl2's (= 2.5) does.
    let c = closure(&request(&["prog"]));
    assert_eq!(names(&c), ["libapi-impl2:amd64=1.0", "prog:amd64=1.0"]);
}

#[test]
fn a_versioned_constraint_skips_a_too_old_version() {
    // libold is 1.0; libold (>= 2) is answered by libold-compat's Provides: libold (= 3.0).
    let c = closure(&request(&["needer"]));
    assert_eq!(names(&c), ["libold-compat:amd64=3.0", "needer:amd64=1.0"]);
    // Requests are relations too: a constraint there skips versions the same way.
    assert_eq!(names(&closure(&request(&["libdup (<< 1.2)"]))), ["libdup:amd64=1.1"]);
    assert_eq!(names(&closure(&request(&["libdup (<< 1.1)"]))), ["libdup:amd64=1.0"]);
}

#[test]
fn highest_version_wins_within_and_across_suites_ties_to_the_first_suite() {
    // libdup: 1.0 and 1.2 in base (listed twice), 1.1 in updates.
    let c = closure(&request(&["dupuser"]));
    assert_eq!(names(&c), ["dupuser:amd64=1.0", "libdup:amd64=1.2"]);
    assert_eq!(c.get("libdup").unwrap().suite, "base");
    // libtie 1.0 is in both suites; libup 1.0 in base, 1.1 in updates.
    let c = closure(&request(&["tieuser"]));
    assert_eq!(c.get("libtie").unwrap().suite, "base");
    assert_eq!(
        (c.get("libup").unwrap().id.version.as_str(), c.get("libup").unwrap().suite.as_str()),
        ("1.1", "updates")
    );
    let reversed = vec![index("updates"), index("base")];
    let c = resolve_closure(&request(&["tieuser"]), &reversed).unwrap();
    assert_eq!(c.get("libtie").unwrap().suite, "updates");
}

#[test]
fn a_version_conflict_names_both_sides() {
    let err = error(&request(&["c1", "c2"]));
    assert_eq!(
        err,
        "version conflict on libdup:amd64: c2 1.0 <- requested c2 needs libdup (>= 1.2), but libdup:amd64 1.0 \
         was already chosen for c1 1.0 <- requested c1 (libdup (<< 1.1))"
    );
}

#[test]
fn any_and_multi_arch_follow_dpkg() {
    // pyonly is not Multi-Arch: allowed, so pyonly:any is unsatisfiable even on its own arch.
    let err = error(&request(&["anyuser"]));
    assert_eq!(
        err,
        "cannot satisfy pyonly:any for amd64 (found pyonly:amd64 1.0): wanted by anyuser 1.0 <- requested anyuser"
    );
    // An Architecture: all package without Multi-Arch: foreign counts as native: it cannot
    // satisfy an arm64 package's dependency.
    let err = error(&request(&["armonly-user:arm64"]));
    assert_eq!(
        err,
        "cannot satisfy plain-data for arm64 (found plain-data:all 1.0): wanted by armonly-user:arm64 1.0 <- \
         requested armonly-user:arm64"
    );
}

#[test]
fn an_architecture_qualified_request_brings_that_architectures_libraries() {
    let c = closure(&request(&["libstuff:arm64"]));
    // libc-x is Multi-Arch: same, so arm64's; data-tool is foreign and python3 (:any) allowed,
    // so the host's instances serve; stuff-data is all and foreign.
    assert_eq!(
        names(&c),
        [
            "data-tool:amd64=1.0",
            "libc-x:arm64=2.36-9",
            "libstuff:arm64=1.0",
            "python3:amd64=3.13.5-1",
            "stuff-data:all=1.0"
        ]
    );
    assert_eq!(
        c.get("libc-x").unwrap().reason,
        dep(id("libstuff", "arm64", "1.0"), DepField::Depends, "libc-x (>= 2.36)")
    );
    // Beside the host's own: both instances of the Multi-Arch: same libraries, one of the rest.
    let c = closure(&request(&["libstuff", "libstuff:arm64"]));
    assert_eq!(
        names(&c),
        [
            "data-tool:amd64=1.0",
            "libc-x:amd64=2.36-9",
            "libc-x:arm64=2.36-9",
            "libstuff:amd64=1.0",
            "libstuff:arm64=1.0",
            "python3:amd64=3.13.5-1",
            "stuff-data:all=1.0"
        ]
    );
    let err = error(&request(&["libstuff:riscv64"]));
    assert_eq!(err, "suite \"base\" has no index for architecture riscv64");
}

#[test]
fn an_unsatisfiable_relation_names_the_whole_chain() {
    let err = error(&request(&["top"]));
    assert_eq!(
        err,
        "cannot satisfy leaf (>= 3) for amd64 (found leaf:amd64 2.0): wanted by mid 1.0 <- top 1.0 <- requested top"
    );
    let err = error(&request(&["no-such-thing"]));
    assert_eq!(
        err,
        "cannot satisfy no-such-thing for amd64 (no package or Provides of that name): wanted by requested no-such-thing"
    );
    assert!(matches!(resolve_closure(&request(&["a b"]), &suites()), Err(ClosureError::BadRequest { .. })));
}

#[test]
fn excluded_names_are_skipped_and_what_they_cut_is_listed() {
    let mut req = request(&["app2"]);
    req.exclude = ["docs-pkg".to_string()].into();
    let c = closure(&req);
    assert_eq!(names(&c), ["app2:amd64=1.0", "liba:amd64=1.0", "libc-x:amd64=2.36-9"]);
    assert_eq!(c.dropped, [dep(id("app2", "amd64", "1.0"), DepField::Depends, "docs-pkg")]);
    // In a group, an excluded alternative gives way to the next one.
    let mut req = request(&["app"]);
    req.exclude = ["liba".to_string()].into();
    assert_eq!(names(&closure(&req)), ["app:amd64=1.0", "libb:amd64=1.0"]);
    assert!(closure(&req).dropped.is_empty());
    let mut req = request(&["app"]);
    req.exclude = ["app".to_string()].into();
    assert_eq!(error(&req), "request \"app\" names app, which is also excluded");
}

#[test]
fn architecture_restrictions_and_pre_depends() {
    let c = closure(&request(&["rp"]));
    assert_eq!(names(&c), ["only-amd64:amd64=1.0", "rp:amd64=1.0"]);
    assert_eq!(
        c.get("only-amd64").unwrap().reason,
        dep(id("rp", "amd64", "1.0"), DepField::Depends, "only-amd64 [amd64]")
    );
    let c = closure(&request(&["pre"]));
    assert_eq!(c.get("libb").unwrap().reason, dep(id("pre", "amd64", "1.0"), DepField::PreDepends, "libb"));
}

#[test]
fn the_result_is_sorted_deterministic_and_sized() {
    let req = request(&["tool", "app", "mailer", "libstuff:arm64", "tieuser", "prog"]);
    let a = closure(&req);
    let b = closure(&req);
    assert_eq!(a, b);
    let keys: Vec<(String, String)> = a.packages.iter().map(|p| (p.id.name.clone(), p.id.arch.clone())).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(keys, sorted);
    // Sizes add up the entries' fields (Size 1000 + name length, Installed-Size 10 + name length).
    let len: u64 = a.packages.iter().map(|p| p.id.name.len() as u64).sum();
    assert_eq!(a.download_size(), 1000 * a.packages.len() as u64 + len);
    assert_eq!(a.installed_size_kib(), 10 * a.packages.len() as u64 + len);
    // Essential packages come only when asked for.
    assert!(a.packages.iter().all(|p| !p.entry.essential));
    assert!(closure(&request(&["bash-like"])).get("bash-like").unwrap().entry.essential);
}

//! The dependency closure of a few requested packages: the binary packages a toolchain root
//! (a sandbox whose whole filesystem is gcc, go or rustc and what they need) must hold, each
//! with the reason it is there, so the root can be reviewed like a lock.
//!
//! The resolver is greedy, like the one that reproduced what real builds need (see
//! ENVIRONMENT.md): it never backtracks, and it keeps the result minimal rather than
//! complete in apt's sense.
//!
//! - Requests are processed first, in order. A request is relation text (`gcc`,
//!   `golang-go (>= 2:1.22)`, `libstd-rust-dev:arm64`); its architecture qualifier names the
//!   exact architecture instance wanted (an `Architecture: all` package also answers), so one
//!   root can hold a cross toolchain's target libraries beside the host's tools.
//! - Then `Pre-Depends` and `Depends` of every chosen package, breadth first. A relation with
//!   one alternative naming a real package is decided as soon as it is reached; alternative
//!   groups and virtual names wait until no such relation is pending, so that a member already
//!   pulled in by something else satisfies them instead of a second member being added
//!   (cargo's `gcc | clang | c-compiler` stays satisfied by the gcc a C toolchain already has).
//! - A relation already satisfied by a chosen package, or by what a chosen package Provides,
//!   adds nothing. Otherwise: the first alternative `prefer` names that can satisfy it; else
//!   the first alternative with a candidate, its real package before providers.
//! - Among candidates of one name: the host-architecture instance (Architecture: all counts as
//!   host) before another architecture's, then the highest Debian version, then the suite
//!   listed first — the highest version wins across suites, as [`crate::resolve::resolve`] does,
//!   unless the relation's version constraint excludes it.
//! - Architectures follow dpkg: `Multi-Arch: foreign` satisfies every architecture; `:any`
//!   needs `Multi-Arch: allowed`; otherwise the package's architecture must equal the
//!   depending package's (`all` counts as native) or the one the qualifier names.
//!
//! Limits, by design:
//! - No backtracking: the first choice for a (name, architecture) stands. A later relation it
//!   does not satisfy is a version-conflict error naming both sides, even when another choice
//!   would have satisfied both. An alternative counts as satisfiable when it has a candidate,
//!   not when its whole closure resolves.
//! - Minimal per decision, not globally: a group decided early can still see another of its
//!   members added later by a plain dependency of some other package.
//! - A virtual name with several providers and no real package is an error unless `prefer`
//!   picks one (apt would pick by its priorities; a root should not depend on that).
//! - Only `Pre-Depends` and `Depends` are followed. `Recommends`, `Suggests`, `Conflicts`,
//!   `Breaks` and `Replaces` are ignored, and Essential packages are not added implicitly: a
//!   root that needs a shell asks for one.
//! - The indices searched are the host's and those of architectures the requests name.
//!   `Multi-Arch: same` instances of different architectures are not forced to one version.
//! - `exclude`d names are never chosen: an alternative naming one is skipped, and a relation
//!   whose only candidates are excluded is left unsatisfied and listed in
//!   [`Closure::dropped`], so what was cut is visible.
//! - Relation fields are parsed when their package is reached, but every `Provides` of the
//!   searched indices is parsed up front (the providers map needs them): a malformed one
//!   anywhere is an error rather than a silently missing provider.

use std::cell::OnceCell;
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt;

use debversion::Version;

use crate::packages::{MultiArch, PackageEntry};
use crate::relation::{parse_provides, parse_relations, ArchQualifier, Group, Relation, RelationError};
use crate::resolve::SuiteIndex;

#[derive(Debug, thiserror::Error)]
pub enum ClosureError {
    #[error("cannot satisfy {relation} for {arch} ({found}): wanted by {chain}")]
    Unsatisfiable { relation: String, arch: String, found: String, chain: String },
    #[error(
        "version conflict on {package}: {wanted_by} needs {relation}, but {package} {chosen} was already \
         chosen for {chosen_for}"
    )]
    Conflict { package: String, relation: String, wanted_by: String, chosen: String, chosen_for: String },
    #[error(
        "{relation} for {arch} can be satisfied by several packages ({}); name one in prefer: wanted by {chain}",
        .providers.join(", ")
    )]
    Ambiguous { relation: String, arch: String, providers: Vec<String>, chain: String },
    #[error("request {request:?} is not a relation: {source}")]
    BadRequest { request: String, source: RelationError },
    #[error("request {request:?} names {name}, which is also excluded")]
    RequestExcluded { request: String, name: String },
    #[error("suite {suite:?}: package {package} {version}: {field}: {source}")]
    BadRelation { suite: String, package: String, version: String, field: &'static str, source: RelationError },
    #[error("suite {suite:?}: package {package:?} has an unparsable version {version:?}")]
    BadVersion { suite: String, package: String, version: String },
    #[error("suite {suite:?} has no index for architecture {arch}")]
    NoIndex { suite: String, arch: String },
}

/// What to resolve.
#[derive(Clone, Debug, Default)]
pub struct ClosureRequest {
    /// Relation text per request: `gcc`, `golang-go (>= 2:1.22)`, `libstd-rust-dev:arm64`.
    pub requests: Vec<String>,
    /// The architecture the root runs on; unqualified requests and `all` packages use it.
    pub host_arch: String,
    /// Names never to pull in.
    pub exclude: BTreeSet<String>,
    /// Package names to choose when an alternative group or a virtual name offers them,
    /// earlier names first.
    pub prefer: Vec<String>,
}

/// One package of a closure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackageId {
    pub name: String,
    /// The index's `Architecture` (`all` stays `all`).
    pub arch: String,
    pub version: String,
}

impl fmt::Display for PackageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{} {}", self.name, self.arch, self.version)
    }
}

/// Which relation field pulled a package in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DepField {
    PreDepends,
    Depends,
}

impl DepField {
    pub fn as_str(self) -> &'static str {
        match self {
            DepField::PreDepends => "Pre-Depends",
            DepField::Depends => "Depends",
        }
    }
}

/// Why a package is in the closure (or, in [`Closure::dropped`], why a relation was wanted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// Named by the request whose text this is.
    Requested { request: String },
    /// The relation group (as text) in `field` of `by`.
    Dependency { by: PackageId, field: DepField, relation: String },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Requested { request } => write!(f, "requested {request}"),
            Reason::Dependency { by, field, relation } => write!(f, "{by} {}: {relation}", field.as_str()),
        }
    }
}

/// One chosen binary package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClosurePackage {
    pub id: PackageId,
    /// The suite the entry came from.
    pub suite: String,
    pub entry: PackageEntry,
    pub reason: Reason,
}

/// The result, sorted by (name, architecture).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Closure {
    pub packages: Vec<ClosurePackage>,
    /// Relations left unsatisfied because every candidate was excluded, with who wanted them.
    pub dropped: Vec<Reason>,
}

impl Closure {
    /// The first package of that name (any architecture).
    pub fn get(&self, name: &str) -> Option<&ClosurePackage> {
        self.packages.iter().find(|p| p.id.name == name)
    }

    /// Sum of the .deb sizes, in bytes.
    pub fn download_size(&self) -> u64 {
        self.packages.iter().map(|p| p.entry.size).sum()
    }

    /// Sum of `Installed-Size`, in KiB (entries without one count 0).
    pub fn installed_size_kib(&self) -> u64 {
        self.packages.iter().map(|p| p.entry.installed_size.unwrap_or(0)).sum()
    }

    /// The chain that brought `name` in, nearest first: `cpp-14 <- gcc-14 <- gcc <- requested gcc`.
    pub fn why(&self, name: &str) -> Option<String> {
        let mut p = self.get(name)?;
        let mut parts = vec![p.id.name.clone()];
        // A chain is at most as long as the closure; the bound only guards against a cycle
        // that a well-formed closure cannot contain.
        for _ in 0..=self.packages.len() {
            match &p.reason {
                Reason::Requested { request } => {
                    parts.push(format!("requested {request}"));
                    break;
                }
                Reason::Dependency { by, .. } => {
                    parts.push(by.name.clone());
                    p = self.packages.iter().find(|q| q.id == *by)?;
                }
            }
        }
        Some(parts.join(" <- "))
    }
}

/// Computes the closure of `req.requests` over `suites` (each with the Packages entries of
/// the host architecture and of every architecture a request names).
pub fn resolve_closure(req: &ClosureRequest, suites: &[SuiteIndex]) -> Result<Closure, ClosureError> {
    let mut archs = BTreeSet::from([req.host_arch.clone()]);
    let mut requests = Vec::new();
    for text in &req.requests {
        let groups =
            parse_relations(text).map_err(|source| ClosureError::BadRequest { request: text.clone(), source })?;
        for group in groups {
            let mut alts = Vec::new();
            for rel in group.0 {
                if req.exclude.contains(&rel.name) {
                    return Err(ClosureError::RequestExcluded { request: text.clone(), name: rel.name });
                }
                let arch = match &rel.qualifier {
                    ArchQualifier::Arch(a) => a.clone(),
                    _ => req.host_arch.clone(),
                };
                archs.insert(arch.clone());
                alts.push(Alt { rel: Relation { qualifier: ArchQualifier::Same, ..rel }, arch, exact: true });
            }
            requests.push(Pending { alts, origin: Origin::Request(text.clone()) });
        }
    }
    let universe = Universe::load(suites, &archs, &req.host_arch)?;
    let mut r = Resolver {
        u: &universe,
        req,
        nodes: Vec::new(),
        by_name: HashMap::new(),
        provided: HashMap::new(),
        instance: HashMap::new(),
        hard: VecDeque::from(requests),
        deferred: VecDeque::new(),
        dropped: Vec::new(),
    };
    r.run()?;
    Ok(r.finish())
}

/// One package entry that can be chosen.
struct Cand<'a> {
    entry: &'a PackageEntry,
    suite: usize,
    version: OnceCell<Option<Version>>,
    provides: Vec<Relation>,
}

/// Every entry of the searched indices, by name and by what it Provides.
struct Universe<'a> {
    suites: &'a [SuiteIndex],
    host: &'a str,
    cands: Vec<Cand<'a>>,
    by_name: HashMap<&'a str, Vec<usize>>,
    /// Virtual name → (candidate, index into its `provides`).
    providers: HashMap<String, Vec<(usize, usize)>>,
}

impl<'a> Universe<'a> {
    fn load(suites: &'a [SuiteIndex], archs: &BTreeSet<String>, host: &'a str) -> Result<Self, ClosureError> {
        let mut u = Universe { suites, host, cands: Vec::new(), by_name: HashMap::new(), providers: HashMap::new() };
        // `all` packages are listed in every architecture's index; keep one of each.
        let mut seen_all: HashSet<(usize, &str, &str)> = HashSet::new();
        for (si, s) in suites.iter().enumerate() {
            for arch in archs {
                let entries = s
                    .packages
                    .get(arch)
                    .ok_or_else(|| ClosureError::NoIndex { suite: s.suite.clone(), arch: arch.clone() })?;
                for e in entries {
                    if e.architecture == "all" && !seen_all.insert((si, &e.package, &e.version)) {
                        continue;
                    }
                    let provides = if e.provides.is_empty() {
                        Vec::new()
                    } else {
                        parse_provides(&e.provides).map_err(|source| ClosureError::BadRelation {
                            suite: s.suite.clone(),
                            package: e.package.clone(),
                            version: e.version.clone(),
                            field: "Provides",
                            source,
                        })?
                    };
                    let i = u.cands.len();
                    for (pi, p) in provides.iter().enumerate() {
                        u.providers.entry(p.name.clone()).or_default().push((i, pi));
                    }
                    u.by_name.entry(&e.package).or_default().push(i);
                    u.cands.push(Cand { entry: e, suite: si, version: OnceCell::new(), provides });
                }
            }
        }
        Ok(u)
    }

    fn version(&self, c: usize) -> Result<&Version, ClosureError> {
        let cand = &self.cands[c];
        cand.version.get_or_init(|| cand.entry.version.parse().ok()).as_ref().ok_or_else(|| ClosureError::BadVersion {
            suite: self.suites[cand.suite].suite.clone(),
            package: cand.entry.package.clone(),
            version: cand.entry.version.clone(),
        })
    }

    /// The architecture dpkg treats the entry as (`all` is native).
    fn effective_arch(&self, e: &'a PackageEntry) -> &'a str {
        if e.architecture == "all" {
            self.host
        } else {
            &e.architecture
        }
    }

    /// Whether `e` can answer `alt` as far as architectures go (dpkg's archsatisfied).
    fn arch_ok(&self, e: &PackageEntry, alt: &Alt) -> bool {
        if alt.exact {
            return e.architecture == alt.arch || e.architecture == "all";
        }
        if e.multi_arch == MultiArch::Foreign {
            return true;
        }
        let want = match &alt.rel.qualifier {
            ArchQualifier::Any => return e.multi_arch == MultiArch::Allowed,
            ArchQualifier::Same => alt.arch.as_str(),
            ArchQualifier::Native => self.host,
            ArchQualifier::Arch(a) => a.as_str(),
        };
        let have = if e.architecture == "all" { self.host } else { e.architecture.as_str() };
        have == want
    }

    /// Preference among acceptable candidates; smaller is better.
    fn rank(&self, c: usize, alt: &Alt) -> (u8, usize) {
        let e = self.cands[c].entry;
        let arch = self.effective_arch(e);
        let a = if arch == self.host || (alt.exact && (e.architecture == alt.arch || e.architecture == "all")) {
            0
        } else if arch == alt.arch {
            1
        } else {
            2
        };
        (a, self.cands[c].suite)
    }
}

/// One alternative to satisfy, with the architecture of whoever wants it.
#[derive(Clone, Debug)]
struct Alt {
    rel: Relation,
    /// The depending package's architecture (`all` → host), or a request's architecture.
    arch: String,
    /// A request: exactly this architecture's instance (or an `all` package).
    exact: bool,
}

#[derive(Clone, Debug)]
enum Origin {
    Request(String),
    Node { node: usize, field: DepField, relation: String },
}

#[derive(Clone, Debug)]
struct Pending {
    alts: Vec<Alt>,
    origin: Origin,
}

impl Pending {
    fn text(&self) -> String {
        match &self.origin {
            Origin::Request(t) => t.clone(),
            Origin::Node { relation, .. } => relation.clone(),
        }
    }
}

struct Node {
    cand: usize,
    origin: Origin,
}

/// A way to satisfy one alternative.
#[derive(Clone, Copy)]
struct Choice {
    cand: usize,
    real: bool,
}

struct Resolver<'u, 'a> {
    u: &'u Universe<'a>,
    req: &'u ClosureRequest,
    nodes: Vec<Node>,
    /// Chosen nodes by package name.
    by_name: HashMap<&'a str, Vec<usize>>,
    /// Chosen (node, index into its candidate's provides) by provided name.
    provided: HashMap<&'u str, Vec<(usize, usize)>>,
    /// (name, Architecture) → node: one instance each.
    instance: HashMap<(&'a str, &'a str), usize>,
    hard: VecDeque<Pending>,
    deferred: VecDeque<Pending>,
    dropped: Vec<Reason>,
}

impl<'u, 'a> Resolver<'u, 'a> {
    fn run(&mut self) -> Result<(), ClosureError> {
        while let Some(p) = self.hard.pop_front().or_else(|| self.deferred.pop_front()) {
            self.process(p)?;
        }
        Ok(())
    }

    fn cand_of(&self, node: usize) -> &'u Cand<'a> {
        &self.u.cands[self.nodes[node].cand]
    }

    fn id(&self, node: usize) -> PackageId {
        let e = self.cand_of(node).entry;
        PackageId { name: e.package.clone(), arch: e.architecture.clone(), version: e.version.clone() }
    }

    /// `bar 1.0 <- baz 2.0 <- requested gcc`, the architecture shown only when foreign.
    fn chain(&self, origin: &Origin) -> String {
        let mut parts = Vec::new();
        let mut o = origin;
        loop {
            match o {
                Origin::Request(t) => {
                    parts.push(format!("requested {t}"));
                    break;
                }
                Origin::Node { node, .. } => {
                    let e = self.cand_of(*node).entry;
                    let arch = self.u.effective_arch(e);
                    if arch == self.u.host {
                        parts.push(format!("{} {}", e.package, e.version));
                    } else {
                        parts.push(format!("{}:{arch} {}", e.package, e.version));
                    }
                    o = &self.nodes[*node].origin;
                }
            }
        }
        parts.join(" <- ")
    }

    fn satisfied(&self, alt: &Alt) -> Result<bool, ClosureError> {
        for &n in self.by_name.get(alt.rel.name.as_str()).into_iter().flatten() {
            let c = self.nodes[n].cand;
            if self.u.arch_ok(self.u.cands[c].entry, alt) && alt.rel.version_allows(Some(self.u.version(c)?)) {
                return Ok(true);
            }
        }
        for &(n, pi) in self.provided.get(alt.rel.name.as_str()).into_iter().flatten() {
            let cand = self.cand_of(n);
            let pv = cand.provides[pi].version.as_ref().map(|(_, v)| v);
            if self.u.arch_ok(cand.entry, alt) && alt.rel.version_allows(pv) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Candidates that can satisfy `alt`: real packages first, then providers, each best first.
    /// Excluded names and other versions of already-chosen instances are left out; the
    /// second are reported through `conflict`.
    fn options(
        &self,
        alt: &Alt,
        excluded: &mut bool,
        conflict: &mut Option<usize>,
    ) -> Result<Vec<Choice>, ClosureError> {
        let u = self.u;
        let mut real = Vec::new();
        for &c in u.by_name.get(alt.rel.name.as_str()).into_iter().flatten() {
            if u.arch_ok(u.cands[c].entry, alt) && alt.rel.version_allows(Some(u.version(c)?)) {
                real.push(c);
            }
        }
        let mut prov = Vec::new();
        for &(c, pi) in u.providers.get(alt.rel.name.as_str()).into_iter().flatten() {
            let pv = u.cands[c].provides[pi].version.as_ref().map(|(_, v)| v);
            if u.arch_ok(u.cands[c].entry, alt) && alt.rel.version_allows(pv) {
                prov.push(c);
            }
        }
        let mut out = Vec::new();
        for (list, is_real) in [(real, true), (prov, false)] {
            let mut keep = Vec::new();
            for c in list {
                let e = u.cands[c].entry;
                if self.req.exclude.contains(&e.package) {
                    *excluded = true;
                    continue;
                }
                if let Some(&n) = self.instance.get(&(e.package.as_str(), e.architecture.as_str())) {
                    if self.cand_of(n).entry.version != e.version {
                        conflict.get_or_insert(n);
                        continue;
                    }
                }
                keep.push(c);
            }
            // Best first: architecture preference, highest version, earliest suite.
            let mut ranked = Vec::with_capacity(keep.len());
            for c in keep {
                ranked.push((u.rank(c, alt), u.version(c)?, c));
            }
            ranked.sort_by_key(|&((arch_rank, suite), version, c)| (arch_rank, std::cmp::Reverse(version), suite, c));
            out.extend(ranked.into_iter().map(|(_, _, cand)| Choice { cand, real: is_real }));
        }
        Ok(out)
    }

    fn process(&mut self, p: Pending) -> Result<(), ClosureError> {
        for alt in &p.alts {
            if self.satisfied(alt)? {
                return Ok(());
            }
        }
        let mut excluded = false;
        let mut conflict = None;
        let mut per_alt = Vec::with_capacity(p.alts.len());
        for alt in &p.alts {
            per_alt.push(self.options(alt, &mut excluded, &mut conflict)?);
        }
        let u = self.u;
        let pick = self
            .req
            .prefer
            .iter()
            .find_map(|name| per_alt.iter().flatten().find(|o| u.cands[o.cand].entry.package == *name))
            .map(|o| o.cand);
        let pick = match pick {
            Some(c) => Some(c),
            None => match per_alt.iter().position(|opts| !opts.is_empty()) {
                None => None,
                Some(i) => {
                    let opts = &per_alt[i];
                    if opts[0].real {
                        Some(opts[0].cand)
                    } else {
                        let names: BTreeSet<&str> =
                            opts.iter().map(|o| u.cands[o.cand].entry.package.as_str()).collect();
                        if names.len() > 1 {
                            return Err(ClosureError::Ambiguous {
                                relation: p.alts[i].rel.to_string(),
                                arch: p.alts[i].arch.clone(),
                                providers: names.into_iter().map(str::to_string).collect(),
                                chain: self.chain(&p.origin),
                            });
                        }
                        Some(opts[0].cand)
                    }
                }
            },
        };
        if let Some(c) = pick {
            return self.choose(c, p.origin);
        }
        if let Some(n) = conflict {
            let e = self.cand_of(n).entry;
            let chosen_for = match &self.nodes[n].origin {
                Origin::Request(t) => format!("request {t}"),
                Origin::Node { relation, .. } => format!("{} ({relation})", self.chain(&self.nodes[n].origin)),
            };
            return Err(ClosureError::Conflict {
                package: format!("{}:{}", e.package, e.architecture),
                relation: p.text(),
                wanted_by: self.chain(&p.origin),
                chosen: e.version.clone(),
                chosen_for,
            });
        }
        if excluded {
            self.dropped.push(self.reason(&p.origin));
            return Ok(());
        }
        Err(ClosureError::Unsatisfiable {
            relation: p.text(),
            arch: p.alts.first().map(|a| a.arch.clone()).unwrap_or_default(),
            found: self.found(&p.alts),
            chain: self.chain(&p.origin),
        })
    }

    /// What the indices hold under the wanted names, for an error message.
    fn found(&self, alts: &[Alt]) -> String {
        let mut seen = Vec::new();
        for alt in alts {
            let name = alt.rel.name.as_str();
            for &c in self.u.by_name.get(name).into_iter().flatten() {
                let e = self.u.cands[c].entry;
                let s = format!("{}:{} {}", e.package, e.architecture, e.version);
                if !seen.contains(&s) {
                    seen.push(s);
                }
            }
            for &(c, pi) in self.u.providers.get(name).into_iter().flatten() {
                let cand = &self.u.cands[c];
                let s = format!("{}:{} provides {}", cand.entry.package, cand.entry.architecture, cand.provides[pi]);
                if !seen.contains(&s) {
                    seen.push(s);
                }
            }
        }
        if seen.is_empty() {
            return "no package or Provides of that name".to_string();
        }
        let more = seen.len().saturating_sub(6);
        seen.truncate(6);
        let mut s = format!("found {}", seen.join(", "));
        if more > 0 {
            s.push_str(&format!(" and {more} more"));
        }
        s
    }

    fn reason(&self, origin: &Origin) -> Reason {
        match origin {
            Origin::Request(t) => Reason::Requested { request: t.clone() },
            Origin::Node { node, field, relation } => {
                Reason::Dependency { by: self.id(*node), field: *field, relation: relation.clone() }
            }
        }
    }

    fn choose(&mut self, c: usize, origin: Origin) -> Result<(), ClosureError> {
        let u = self.u;
        let cand = &u.cands[c];
        let e = cand.entry;
        if self.instance.contains_key(&(e.package.as_str(), e.architecture.as_str())) {
            // The same instance answers through another name; nothing to add.
            return Ok(());
        }
        let n = self.nodes.len();
        self.nodes.push(Node { cand: c, origin });
        self.instance.insert((&e.package, &e.architecture), n);
        self.by_name.entry(&e.package).or_default().push(n);
        for (pi, p) in cand.provides.iter().enumerate() {
            self.provided.entry(p.name.as_str()).or_default().push((n, pi));
        }
        let arch = u.effective_arch(e).to_string();
        for (field, text) in [(DepField::PreDepends, &e.pre_depends), (DepField::Depends, &e.depends)] {
            let groups = parse_relations(text).map_err(|source| ClosureError::BadRelation {
                suite: u.suites[cand.suite].suite.clone(),
                package: e.package.clone(),
                version: e.version.clone(),
                field: field.as_str(),
                source,
            })?;
            for g in groups {
                self.push(g, &arch, n, field);
            }
        }
        Ok(())
    }

    fn push(&mut self, g: Group, arch: &str, node: usize, field: DepField) {
        let relation = g.to_string();
        let alts: Vec<Alt> =
            g.0.into_iter()
                .filter(|r| r.restriction.as_ref().is_none_or(|x| x.applies_to(arch)))
                .map(|rel| Alt { rel, arch: arch.to_string(), exact: false })
                .collect();
        if alts.is_empty() {
            return;
        }
        // Decide now only what has no choice in it: one alternative naming a real package.
        let plain = alts.len() == 1
            && !self.req.exclude.contains(&alts[0].rel.name)
            && self.u.by_name.contains_key(alts[0].rel.name.as_str());
        let p = Pending { alts, origin: Origin::Node { node, field, relation } };
        if plain {
            self.hard.push_back(p);
        } else {
            self.deferred.push_back(p);
        }
    }

    fn finish(self) -> Closure {
        let mut packages: Vec<ClosurePackage> = (0..self.nodes.len())
            .map(|n| {
                let cand = self.cand_of(n);
                ClosurePackage {
                    id: self.id(n),
                    suite: self.u.suites[cand.suite].suite.clone(),
                    entry: cand.entry.clone(),
                    reason: self.reason(&self.nodes[n].origin),
                }
            })
            .collect();
        packages.sort_by(|a, b| (&a.id.name, &a.id.arch).cmp(&(&b.id.name, &b.id.arch)));
        Closure { packages, dropped: self.dropped }
    }
}

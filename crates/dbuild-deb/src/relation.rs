//! Debian relation fields (`Depends`, `Pre-Depends`, `Provides`) as the binary Packages
//! indices write them: `a (>= 1) | b:any [amd64], c`. Parsing is separate from resolving
//! ([`crate::closure`]) so the syntax can be tested, and reused for requests, on its own.
//!
//! Build profiles (`<!nocheck>`) belong to source relations; dpkg-gencontrol has already
//! evaluated them by the time a binary index is written, so they are accepted and ignored.

use std::fmt;

use debversion::Version;

#[derive(Debug, thiserror::Error)]
#[error("bad relation {text:?}: {reason}")]
pub struct RelationError {
    pub text: String,
    pub reason: String,
}

/// A version comparison of a relation, with dpkg's meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VersionOp {
    /// `<<`
    Lt,
    /// `<=` (and the obsolete `<`, which dpkg still reads as `<=`)
    Le,
    /// `=`
    Eq,
    /// `>=` (and the obsolete `>`, which dpkg still reads as `>=`)
    Ge,
    /// `>>`
    Gt,
}

impl VersionOp {
    /// Whether `have` satisfies `op want`, in Debian version ordering.
    pub fn holds(self, have: &Version, want: &Version) -> bool {
        let o = have.cmp(want);
        match self {
            VersionOp::Lt => o.is_lt(),
            VersionOp::Le => o.is_le(),
            VersionOp::Eq => o.is_eq(),
            VersionOp::Ge => o.is_ge(),
            VersionOp::Gt => o.is_gt(),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            VersionOp::Lt => "<<",
            VersionOp::Le => "<=",
            VersionOp::Eq => "=",
            VersionOp::Ge => ">=",
            VersionOp::Gt => ">>",
        }
    }
}

/// The `:qualifier` after a package name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ArchQualifier {
    /// No qualifier: the depending package's own architecture (the native one for `all`).
    #[default]
    Same,
    /// `:any`: any architecture, if the target is `Multi-Arch: allowed`.
    Any,
    /// `:native`: the native (host) architecture.
    Native,
    /// `:amd64` and the like.
    Arch(String),
}

/// One alternative of a relation group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Relation {
    pub name: String,
    pub qualifier: ArchQualifier,
    pub version: Option<(VersionOp, Version)>,
    /// `[amd64 arm64]` / `[!i386]`: the architectures the relation applies to. Rare in binary
    /// indices; `None` means every architecture.
    pub restriction: Option<ArchRestriction>,
}

/// An architecture list in brackets; either all positive or all negated (`!`), as dpkg requires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchRestriction {
    pub negated: bool,
    pub archs: Vec<String>,
}

impl ArchRestriction {
    /// Whether the relation applies to a package built for `arch`.
    pub fn applies_to(&self, arch: &str) -> bool {
        self.archs.iter().any(|w| arch_matches(w, arch)) != self.negated
    }
}

/// Debian architecture wildcards as far as Linux ports need them: `any`, `linux-any`,
/// `any-<cpu>`, and plain names.
fn arch_matches(wildcard: &str, arch: &str) -> bool {
    let cpu = match arch {
        "armhf" | "armel" => "arm",
        other => other,
    };
    wildcard == arch || wildcard == "any" || wildcard == "linux-any" || wildcard.strip_prefix("any-") == Some(cpu)
}

impl Relation {
    /// Whether a package (or a Provides) at version `have` satisfies the version part.
    /// An unversioned Provides (`have` = `None`) satisfies only unversioned relations, as in
    /// dpkg and apt.
    pub fn version_allows(&self, have: Option<&Version>) -> bool {
        match (&self.version, have) {
            (None, _) => true,
            (Some((op, want)), Some(have)) => op.holds(have, want),
            (Some(_), None) => false,
        }
    }
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        match &self.qualifier {
            ArchQualifier::Same => {}
            ArchQualifier::Any => f.write_str(":any")?,
            ArchQualifier::Native => f.write_str(":native")?,
            ArchQualifier::Arch(a) => write!(f, ":{a}")?,
        }
        if let Some((op, v)) = &self.version {
            write!(f, " ({} {v})", op.as_str())?;
        }
        if let Some(r) = &self.restriction {
            let bang = if r.negated { "!" } else { "" };
            let list: Vec<String> = r.archs.iter().map(|a| format!("{bang}{a}")).collect();
            write!(f, " [{}]", list.join(" "))?;
        }
        Ok(())
    }
}

/// A `|`-separated group: satisfied by any one of its alternatives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group(pub Vec<Relation>);

impl fmt::Display for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

/// Parses a `Depends`-style field into its comma-separated groups. Empty text is no groups.
pub fn parse_relations(text: &str) -> Result<Vec<Group>, RelationError> {
    let mut groups = Vec::new();
    if text.trim().is_empty() {
        return Ok(groups);
    }
    let parts: Vec<&str> = text.split(',').collect();
    for (i, part) in parts.iter().enumerate() {
        if part.trim().is_empty() {
            // dpkg tolerates a trailing comma; an empty relation anywhere else is a mistake.
            if i + 1 == parts.len() {
                continue;
            }
            return Err(err(text, "an empty relation between commas"));
        }
        let alts = part.split('|').map(|a| parse_one(a, text)).collect::<Result<Vec<_>, _>>()?;
        groups.push(Group(alts));
    }
    Ok(groups)
}

/// Parses a `Provides` field: no alternatives, and only `=` versions (Debian policy 7.5).
pub fn parse_provides(text: &str) -> Result<Vec<Relation>, RelationError> {
    let mut out = Vec::new();
    for g in parse_relations(text)? {
        let [r] = <[Relation; 1]>::try_from(g.0).map_err(|_| err(text, "Provides cannot have alternatives"))?;
        if r.version.as_ref().is_some_and(|(op, _)| *op != VersionOp::Eq) {
            return Err(err(text, "a versioned Provides must use ="));
        }
        out.push(r);
    }
    Ok(out)
}

fn err(text: &str, reason: &str) -> RelationError {
    RelationError { text: text.trim().to_string(), reason: reason.to_string() }
}

fn parse_one(alt: &str, whole: &str) -> Result<Relation, RelationError> {
    let s = alt.trim();
    let name_end = s.find(|c: char| c.is_whitespace() || "(:[<".contains(c)).unwrap_or(s.len());
    let name = &s[..name_end];
    if name.is_empty()
        || !name.starts_with(|c: char| c.is_ascii_alphanumeric())
        || !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c))
    {
        return Err(err(whole, &format!("{:?} is not a package name", name)));
    }
    let mut rest = &s[name_end..];
    let mut qualifier = ArchQualifier::Same;
    if let Some(q) = rest.strip_prefix(':') {
        let end = q.find(|c: char| c.is_whitespace() || "([<".contains(c)).unwrap_or(q.len());
        qualifier = match &q[..end] {
            "" => return Err(err(whole, &format!("{name}: empty architecture qualifier"))),
            "any" => ArchQualifier::Any,
            "native" => ArchQualifier::Native,
            a => ArchQualifier::Arch(a.to_string()),
        };
        rest = &q[end..];
    }
    rest = rest.trim_start();
    let mut version = None;
    if let Some(v) = rest.strip_prefix('(') {
        let close = v.find(')').ok_or_else(|| err(whole, &format!("{name}: unclosed (")))?;
        let inner = v[..close].trim();
        let (op, ver) = [
            ("<<", VersionOp::Lt),
            ("<=", VersionOp::Le),
            (">=", VersionOp::Ge),
            (">>", VersionOp::Gt),
            ("=", VersionOp::Eq),
            ("<", VersionOp::Le),
            (">", VersionOp::Ge),
        ]
        .iter()
        .find_map(|(p, op)| inner.strip_prefix(p).map(|v| (*op, v.trim())))
        .ok_or_else(|| err(whole, &format!("{name}: no comparison operator in ({inner})")))?;
        let parsed: Version = ver.parse().map_err(|_| err(whole, &format!("{name}: bad version {ver:?}")))?;
        version = Some((op, parsed));
        rest = v[close + 1..].trim_start();
    }
    let mut restriction = None;
    if let Some(r) = rest.strip_prefix('[') {
        let close = r.find(']').ok_or_else(|| err(whole, &format!("{name}: unclosed [")))?;
        let words: Vec<&str> = r[..close].split_whitespace().collect();
        let negated = words.first().is_some_and(|w| w.starts_with('!'));
        if words.is_empty() || words.iter().any(|w| w.starts_with('!') != negated) {
            return Err(err(whole, &format!("{name}: an architecture list must be all positive or all negated")));
        }
        let archs = words.iter().map(|w| w.trim_start_matches('!').to_string()).collect();
        restriction = Some(ArchRestriction { negated, archs });
        rest = r[close + 1..].trim_start();
    }
    while let Some(p) = rest.strip_prefix('<') {
        let close = p.find('>').ok_or_else(|| err(whole, &format!("{name}: unclosed <")))?;
        rest = p[close + 1..].trim_start();
    }
    if !rest.is_empty() {
        return Err(err(whole, &format!("{name}: unexpected {rest:?}")));
    }
    Ok(Relation { name: name.to_string(), qualifier, version, restriction })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        s.parse().unwrap()
    }

    #[test]
    fn groups_alternatives_versions_qualifiers_restrictions() {
        let g = parse_relations(
            "libc6 (>= 2.36), gcc | clang|c-compiler, python3:any (<< 3.14~), libx:amd64 [amd64 arm64], foo(>>1:2.0-1)  <!nocheck>, z [!i386]",
        )
        .unwrap();
        assert_eq!(g.len(), 6);
        assert_eq!(g[0].0[0].name, "libc6");
        assert_eq!(g[0].0[0].version, Some((VersionOp::Ge, v("2.36"))));
        let names: Vec<&str> = g[1].0.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["gcc", "clang", "c-compiler"]);
        assert_eq!(g[2].0[0].qualifier, ArchQualifier::Any);
        assert_eq!(g[2].0[0].version, Some((VersionOp::Lt, v("3.14~"))));
        assert_eq!(g[3].0[0].qualifier, ArchQualifier::Arch("amd64".into()));
        let r = g[3].0[0].restriction.as_ref().unwrap();
        assert!(r.applies_to("arm64") && !r.applies_to("i386"));
        assert_eq!(g[4].0[0].version, Some((VersionOp::Gt, v("1:2.0-1"))));
        let neg = g[5].0[0].restriction.as_ref().unwrap();
        assert!(neg.applies_to("amd64") && !neg.applies_to("i386"));
        // Display gives back canonical text, which errors and reasons quote.
        assert_eq!(g[1].to_string(), "gcc | clang | c-compiler");
        assert_eq!(g[2].to_string(), "python3:any (<< 3.14~)");
        assert_eq!(g[3].to_string(), "libx:amd64 [amd64 arm64]");
        assert!(parse_relations("").unwrap().is_empty());
        assert_eq!(parse_relations("a, b,").unwrap().len(), 2);
    }

    #[test]
    fn operators_use_debian_ordering() {
        let one = |t: &str| parse_relations(t).unwrap().remove(0).0.remove(0);
        // 1.10 > 1.9, 1:0.1 > 9, 2.0~rc1 < 2.0: none of these hold in string ordering.
        assert!(one("x (>= 1.10)").version_allows(Some(&v("1.10"))));
        assert!(!one("x (>= 1.10)").version_allows(Some(&v("1.9"))));
        assert!(one("x (>> 9)").version_allows(Some(&v("1:0.1"))));
        assert!(one("x (<< 2.0)").version_allows(Some(&v("2.0~rc1"))));
        assert!(!one("x (<< 2.0)").version_allows(Some(&v("2.0"))));
        assert!(one("x (<= 2.0)").version_allows(Some(&v("2.0"))));
        assert!(one("x (= 2.0-1)").version_allows(Some(&v("2.0-1"))));
        assert!(!one("x (= 2.0-1)").version_allows(Some(&v("2.0-1+b1"))));
        // The obsolete `<` and `>` mean <= and >=.
        assert!(one("x (< 2.0)").version_allows(Some(&v("2.0"))));
        assert!(one("x (> 2.0)").version_allows(Some(&v("2.0"))));
        // An unversioned Provides never satisfies a versioned relation.
        assert!(!one("x (>= 1)").version_allows(None));
        assert!(one("x").version_allows(None));
    }

    #[test]
    fn provides_and_malformed_text() {
        let p = parse_provides("c-compiler, libfoo-abi (= 3), rust-gdb").unwrap();
        assert_eq!(p[1].version, Some((VersionOp::Eq, v("3"))));
        for (bad, says) in [("a | b", "alternatives"), ("a (>= 1)", "must use =")] {
            let e = parse_provides(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
        for (bad, says) in [
            ("a (>= 1", "unclosed ("),
            ("a (~ 1)", "no comparison operator"),
            ("a (>= )", "bad version"),
            ("Foo", "not a package name"),
            ("a, , b", "empty relation"),
            ("a [amd64 !i386]", "all positive or all negated"),
            ("a b", "unexpected"),
            ("a:", "empty architecture qualifier"),
        ] {
            let e = parse_relations(bad).unwrap_err().to_string();
            assert!(e.contains(says) && e.contains(bad.trim()), "{bad}: {e}");
        }
    }
}

//! Target patterns on the command line: `//pkg:name`, `//pkg:all`, `//pkg/...`, `//...`.

use std::fmt;

use crate::label::{validate_package, Label, LabelError, Repo};

#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum TargetPattern {
    /// One target.
    Single(Label),
    /// Every target in one package (`//pkg:all` or `//pkg:*`).
    AllInPackage(String),
    /// Every target in the package and every package below it (`//pkg/...`, `//...`),
    /// stopping at nested workspaces.
    Recursive(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error(transparent)]
    Label(#[from] LabelError),
    #[error("invalid target pattern {0:?}: in another repository a pattern names one target (@repo//package:name)")]
    WildcardInRepository(String),
}

impl TargetPattern {
    /// Parses a command-line pattern. `current_package` is the package of the directory the
    /// user stands in, so that `:name` and `...`-less relative names work as in Bazel.
    pub fn parse(text: &str, current_package: &str) -> Result<TargetPattern, PatternError> {
        if text.starts_with('@') {
            // Another repository's targets are named one at a time: it has no directory
            // tree here to expand `...` over.
            let label = Label::parse_absolute(text)?;
            if label.name.ends_with("...") || ["all", "*", "all-targets"].contains(&label.name.as_str()) {
                return Err(PatternError::WildcardInRepository(text.to_string()));
            }
            return Ok(TargetPattern::Single(label));
        }
        let absolute = if let Some(rest) = text.strip_prefix("//") {
            rest.to_string()
        } else if text.starts_with(':') {
            format!("{current_package}{text}")
        } else if current_package.is_empty() {
            text.to_string()
        } else {
            format!("{current_package}/{text}")
        };
        if absolute == "..." {
            return Ok(TargetPattern::Recursive(String::new()));
        }
        if let Some(pkg) = absolute.strip_suffix("/...") {
            validate_package(text, pkg)?;
            return Ok(TargetPattern::Recursive(pkg.to_string()));
        }
        if let Some((pkg, name)) = absolute.split_once(':') {
            if name == "all" || name == "*" || name == "all-targets" {
                validate_package(text, pkg)?;
                return Ok(TargetPattern::AllInPackage(pkg.to_string()));
            }
        }
        let label = Label::parse_relative(&format!("//{absolute}"), &Repo::Main, current_package)
            .map_err(|e| LabelError { text: text.to_string(), reason: e.reason })?;
        Ok(TargetPattern::Single(label))
    }

    /// Whether a package (workspace-relative path) is covered by this pattern.
    pub fn covers_package(&self, package: &str) -> bool {
        match self {
            TargetPattern::Single(l) => l.package == package,
            TargetPattern::AllInPackage(p) => p == package,
            TargetPattern::Recursive(p) => p.is_empty() || package == p || package.starts_with(&format!("{p}/")),
        }
    }
}

impl fmt::Display for TargetPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetPattern::Single(l) => write!(f, "{l}"),
            TargetPattern::AllInPackage(p) => write!(f, "//{p}:all"),
            TargetPattern::Recursive(p) if p.is_empty() => write!(f, "//..."),
            TargetPattern::Recursive(p) => write!(f, "//{p}/..."),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        use TargetPattern::*;
        assert_eq!(TargetPattern::parse("//...", "").unwrap(), Recursive("".into()));
        assert_eq!(TargetPattern::parse("//a/b/...", "").unwrap(), Recursive("a/b".into()));
        assert_eq!(TargetPattern::parse("//a:all", "").unwrap(), AllInPackage("a".into()));
        assert_eq!(TargetPattern::parse("//a:*", "").unwrap(), AllInPackage("a".into()));
        assert_eq!(TargetPattern::parse("//a:x", "").unwrap(), Single(Label::parse_absolute("//a:x").unwrap()));
        assert_eq!(TargetPattern::parse("//a", "").unwrap(), Single(Label::parse_absolute("//a:a").unwrap()));
        assert_eq!(TargetPattern::parse(":x", "p/q").unwrap(), Single(Label::parse_absolute("//p/q:x").unwrap()));
        assert_eq!(TargetPattern::parse("sub:x", "p").unwrap(), Single(Label::parse_absolute("//p/sub:x").unwrap()));
        assert_eq!(TargetPattern::parse("...", "p").unwrap(), Recursive("p".into()));
        assert_eq!(
            TargetPattern::parse("@dbuild//toolchains:sh", "p").unwrap(),
            Single(Label::parse_absolute("@dbuild//toolchains:sh").unwrap())
        );
    }

    #[test]
    fn rejects_bad_patterns() {
        assert!(TargetPattern::parse("@dbuild//rules:all", "").is_err());
        assert!(TargetPattern::parse("@dbuild//...", "").is_err());
        assert!(TargetPattern::parse("@dbuild", "").is_ok_and(|p| p.to_string() == "@dbuild//:dbuild"));
        assert!(TargetPattern::parse("@", "").is_err());
        assert!(TargetPattern::parse("//a/../b/...", "").is_err());
        assert!(TargetPattern::parse("//a::b", "").is_err());
    }

    #[test]
    fn covers_packages() {
        let p = TargetPattern::parse("//a/...", "").unwrap();
        assert!(p.covers_package("a") && p.covers_package("a/b"));
        assert!(!p.covers_package("ab") && !p.covers_package(""));
        assert!(TargetPattern::parse("//...", "").unwrap().covers_package(""));
    }
}

//! Labels name targets and files: `@repo//package/path:name`, as in Bazel.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Which repository a label points into.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum Repo {
    /// The workspace being built (`//…`).
    Main,
    /// An external repository such as `@dbuild` (the embedded rule library).
    Named(String),
}

/// A fully-qualified label. `package` is `""` for the root package; `name` may contain `/`
/// (a file in a subdirectory of the package) but never `..` or `.` components.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label {
    pub repo: Repo,
    pub package: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid label {text:?}: {reason}")]
pub struct LabelError {
    pub text: String,
    pub reason: String,
}

fn err(text: &str, reason: impl Into<String>) -> LabelError {
    LabelError { text: text.to_string(), reason: reason.into() }
}

/// Checks a package path: `/`-separated, no empty, `.` or `..` components, no leading or
/// trailing slash, and only characters Bazel allows in package names.
pub fn validate_package(text: &str, pkg: &str) -> Result<(), LabelError> {
    if pkg.is_empty() {
        return Ok(());
    }
    for comp in pkg.split('/') {
        if comp.is_empty() {
            return Err(err(text, "package path has an empty component (leading, trailing or doubled '/')"));
        }
        if comp == "." || comp == ".." {
            return Err(err(text, format!("package path may not contain '{comp}'")));
        }
        if let Some(c) = comp.chars().find(|c| !(c.is_ascii_alphanumeric() || "-._+@ ~=,".contains(*c))) {
            return Err(err(text, format!("package path may not contain {c:?}")));
        }
    }
    Ok(())
}

/// Checks a target name: non-empty, no `.`/`..`/empty components, no leading or trailing `/`.
pub fn validate_name(text: &str, name: &str) -> Result<(), LabelError> {
    if name.is_empty() {
        return Err(err(text, "target name is empty"));
    }
    for comp in name.split('/') {
        if comp.is_empty() {
            return Err(err(text, "target name has an empty component (leading, trailing or doubled '/')"));
        }
        if comp == ".." || comp == "." {
            return Err(err(text, format!("target name may not contain '{comp}' as a path component")));
        }
    }
    if let Some(c) = name.chars().find(|c| c.is_control() || *c == ':' || *c == '\\') {
        return Err(err(text, format!("target name may not contain {c:?}")));
    }
    Ok(())
}

fn validate_repo_name(text: &str, repo: &str) -> Result<(), LabelError> {
    if repo.is_empty() || !repo.chars().all(|c| c.is_ascii_alphanumeric() || "-._".contains(c)) {
        return Err(err(text, "repository name must be non-empty letters, digits, '-', '_' or '.'"));
    }
    Ok(())
}

impl Label {
    pub fn new(repo: Repo, package: impl Into<String>, name: impl Into<String>) -> Result<Label, LabelError> {
        let (package, name) = (package.into(), name.into());
        let text = format!("//{package}:{name}");
        validate_package(&text, &package)?;
        validate_name(&text, &name)?;
        Ok(Label { repo, package, name })
    }

    /// Parses an absolute label (`//pkg:name`, `//pkg`, `@repo//pkg:name`).
    pub fn parse_absolute(text: &str) -> Result<Label, LabelError> {
        if !(text.starts_with("//") || text.starts_with('@')) {
            return Err(err(text, "expected an absolute label starting with '//' or '@'"));
        }
        Self::parse_relative(text, &Repo::Main, "")
    }

    /// Parses a label as written inside `repo`'s package `package`: `:name` and bare `name`
    /// are relative to that package; `//…` stays in `repo`; `@other//…` leaves it.
    pub fn parse_relative(text: &str, repo: &Repo, package: &str) -> Result<Label, LabelError> {
        let (repo, rest) = if let Some(after_at) = text.strip_prefix('@') {
            let Some(idx) = after_at.find("//") else {
                // `@repo` alone means `@repo//:repo`.
                validate_repo_name(text, after_at)?;
                return Label::new(Repo::Named(after_at.to_string()), "", after_at).map_err(|e| err(text, e.reason));
            };
            let name = &after_at[..idx];
            validate_repo_name(text, name)?;
            (Repo::Named(name.to_string()), &after_at[idx..])
        } else {
            (repo.clone(), text)
        };
        if let Some(abs) = rest.strip_prefix("//") {
            let (pkg, name) = match abs.split_once(':') {
                Some((pkg, name)) => (pkg, name.to_string()),
                None => {
                    // `//a/b` is `//a/b:b`; `//` alone names nothing.
                    let last = abs.rsplit('/').next().unwrap_or("");
                    if last.is_empty() {
                        return Err(err(text, "label names no target (write //:name for the root package)"));
                    }
                    (abs, last.to_string())
                }
            };
            validate_package(text, pkg)?;
            validate_name(text, &name)?;
            return Ok(Label { repo, package: pkg.to_string(), name });
        }
        if text.starts_with('@') {
            return Err(err(text, "expected '//' after the repository name"));
        }
        let name = rest.strip_prefix(':').unwrap_or(rest);
        if name.contains(':') {
            return Err(err(text, "relative labels take the form ':name'; use '//package:name' for other packages"));
        }
        validate_name(text, name)?;
        Ok(Label { repo, package: package.to_string(), name: name.to_string() })
    }

    /// The package as a label-like string, e.g. `//images` or `@dbuild//rules`.
    pub fn package_label(&self) -> String {
        match &self.repo {
            Repo::Main => format!("//{}", self.package),
            Repo::Named(r) => format!("@{r}//{}", self.package),
        }
    }

    /// Where this label's outputs go under `dbuild-out/`: the package for the main workspace,
    /// `external/<repo>/<package>` for another repository (Bazel's layout), so a target of
    /// `@dbuild` never writes where a main-workspace package of the same name does.
    pub fn output_dir(&self) -> String {
        match &self.repo {
            Repo::Main => self.package.clone(),
            Repo::Named(r) if self.package.is_empty() => format!("external/{r}"),
            Repo::Named(r) => format!("external/{r}/{}", self.package),
        }
    }

    /// The workspace-relative path this label names when it is a source file.
    pub fn source_path(&self) -> String {
        if self.package.is_empty() {
            self.name.clone()
        } else {
            format!("{}/{}", self.package, self.name)
        }
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.package_label(), self.name)
    }
}

impl fmt::Debug for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Label {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Label {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Label::parse_absolute(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn abs(s: &str) -> Label {
        Label::parse_absolute(s).unwrap()
    }

    #[test]
    fn outputs_of_another_repository_stay_apart() {
        assert_eq!(abs("//a/b:c").output_dir(), "a/b");
        assert_eq!(abs("//:c").output_dir(), "");
        assert_eq!(abs("@dbuild//toolchains:sh").output_dir(), "external/dbuild/toolchains");
        assert_eq!(abs("@dbuild//:x").output_dir(), "external/dbuild");
    }

    #[test]
    fn absolute_forms() {
        assert_eq!(abs("//pkg/sub:name"), Label::new(Repo::Main, "pkg/sub", "name").unwrap());
        assert_eq!(abs("//pkg/sub"), Label::new(Repo::Main, "pkg/sub", "sub").unwrap());
        assert_eq!(abs("//:root"), Label::new(Repo::Main, "", "root").unwrap());
        let l = abs("@dbuild//rules:pkg.star");
        assert_eq!(l.repo, Repo::Named("dbuild".into()));
        assert_eq!((l.package.as_str(), l.name.as_str()), ("rules", "pkg.star"));
        assert_eq!(l.to_string(), "@dbuild//rules:pkg.star");
        assert_eq!(abs("//a:b/c.txt").source_path(), "a/b/c.txt");
        assert_eq!(abs("@foo").to_string(), "@foo//:foo");
    }

    #[test]
    fn relative_forms() {
        let r = Label::parse_relative(":x", &Repo::Main, "a/b").unwrap();
        assert_eq!(r.to_string(), "//a/b:x");
        let r = Label::parse_relative("file.txt", &Repo::Main, "a").unwrap();
        assert_eq!(r.to_string(), "//a:file.txt");
        let dbuild = Repo::Named("dbuild".into());
        let r = Label::parse_relative("//rules:oci.star", &dbuild, "rules").unwrap();
        assert_eq!(r.to_string(), "@dbuild//rules:oci.star");
        let r = Label::parse_relative(":layer.star", &dbuild, "rules").unwrap();
        assert_eq!(r.repo, dbuild);
    }

    #[test]
    fn rejects_bad_labels_with_reasons() {
        for bad in [
            "//",
            "//a/../b:c",
            "//a//b:c",
            "//a/:c",
            "//a:",
            "//a:../x",
            "//a:b:c",
            "@//a:b",
            "@r/x",
            "a:b",
            "//a b\n:c",
            "",
        ] {
            let e = Label::parse_relative(bad, &Repo::Main, "p").unwrap_err();
            assert!(!e.reason.is_empty(), "{bad}");
            assert_eq!(e.text, bad);
        }
        assert!(Label::parse_absolute(":x").is_err());
    }

    #[test]
    fn serde_round_trip() {
        let l = abs("//a:b");
        let s = serde_json::to_string(&l).unwrap();
        assert_eq!(s, "\"//a:b\"");
        assert_eq!(serde_json::from_str::<Label>(&s).unwrap(), l);
    }
}

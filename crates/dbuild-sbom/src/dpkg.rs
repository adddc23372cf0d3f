//! What an image says about its Debian packages: `var/lib/dpkg/status.d/<name>` paragraphs,
//! their `.md5sums`, and `os-release`. Only the few fields an SBOM needs are read.

use std::collections::BTreeSet;

/// Where the layers put each package's status paragraph.
pub const STATUS_DIR: &str = "var/lib/dpkg/status.d/";

/// One installed package, as its status.d paragraph describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusEntry {
    pub package: String,
    pub version: String,
    pub architecture: String,
    /// The source package; the binary's own name when the paragraph has no `Source`.
    pub source: String,
    /// The source version; the binary's version unless `Source: name (version)` says otherwise.
    pub source_version: String,
    pub maintainer: Option<String>,
}

/// The value of each field of a deb822 paragraph (continuation lines joined with `\n`).
pub fn fields(paragraph: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in paragraph.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = out.last_mut() {
                v.push('\n');
                v.push_str(line.trim());
            }
        } else if let Some((k, v)) = line.split_once(':') {
            out.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    out
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// Parses one status.d paragraph; the error names the missing field.
pub fn parse_status(text: &str) -> Result<StatusEntry, String> {
    let f = fields(text);
    let need = |name: &str| field(&f, name).map(str::to_string).ok_or_else(|| format!("it has no {name} field"));
    let package = need("Package")?;
    let version = need("Version")?;
    let architecture = need("Architecture")?;
    let (source, source_version) = match field(&f, "Source") {
        None => (package.clone(), version.clone()),
        Some(s) => match s.split_once('(') {
            Some((name, rest)) => (name.trim().to_string(), rest.trim_end_matches(')').trim().to_string()),
            None => (s.trim().to_string(), version.clone()),
        },
    };
    Ok(StatusEntry {
        package,
        version,
        architecture,
        source,
        source_version,
        maintainer: field(&f, "Maintainer").map(str::to_string),
    })
}

/// The paths an `.md5sums` file lists, relative, as they appear in the package.
pub fn md5sums_paths(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.split_once(char::is_whitespace).map(|(_, p)| p.trim().trim_start_matches("./").to_string()))
        .filter(|p| !p.is_empty())
        .map(|p| p.trim_start_matches('/').to_string())
        .collect()
}

/// `ID` and `VERSION_ID` of an os-release file (quotes removed).
pub fn os_release(text: &str) -> (Option<String>, Option<String>) {
    let mut id = None;
    let mut version = None;
    for line in text.lines() {
        if let Some((k, v)) = line.split_once('=') {
            let v = v.trim().trim_matches('"').trim_matches('\'').to_string();
            match k.trim() {
                "ID" => id = Some(v),
                "VERSION_ID" => version = Some(v),
                _ => {}
            }
        }
    }
    (id, version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_with_and_without_a_source_version() {
        let e = parse_status(
            "Package: libc6\nVersion: 2.41-12\nArchitecture: amd64\nMaintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>\nSource: glibc\nDescription: x\n more\n",
        )
        .unwrap();
        assert_eq!((e.source.as_str(), e.source_version.as_str()), ("glibc", "2.41-12"));
        assert_eq!(e.maintainer.as_deref(), Some("GNU Libc Maintainers <debian-glibc@lists.debian.org>"));
        let e =
            parse_status("Package: libgcc-s1\nVersion: 14.2.0-19\nArchitecture: arm64\nSource: gcc-14 (14.2.0-19a)\n")
                .unwrap();
        assert_eq!((e.source.as_str(), e.source_version.as_str()), ("gcc-14", "14.2.0-19a"));
        let e = parse_status("Package: tzdata\nVersion: 2025b-4\nArchitecture: all\n").unwrap();
        assert_eq!((e.source.as_str(), e.source_version.as_str()), ("tzdata", "2025b-4"));
        assert!(parse_status("Package: x\nArchitecture: all\n").unwrap_err().contains("Version"));
    }

    #[test]
    fn md5sums_and_os_release() {
        let p = md5sums_paths("d41d8cd98f00b204e9800998ecf8427e  usr/share/doc/x/copyright\nabc  lib/a b.so\n");
        assert!(p.contains("usr/share/doc/x/copyright") && p.contains("lib/a b.so"));
        let (id, v) = os_release("PRETTY_NAME=\"Distroless\"\nID=\"debian\"\nVERSION_ID=\"13\"\n");
        assert_eq!((id.as_deref(), v.as_deref()), (Some("debian"), Some("13")));
    }
}

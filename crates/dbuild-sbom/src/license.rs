//! Licenses from Debian's machine-readable copyright files (DEP-5) as SPDX license
//! expressions: the short names Debian uses are mapped to SPDX identifiers (`GPL-2` →
//! `GPL-2.0-only`, `GPL-2+` → `GPL-2.0-or-later`, …); a name with no SPDX identifier becomes
//! a `LicenseRef-<package>-<name>` whose text is the copyright file's own. A file that is not
//! machine-readable gives `NOASSERTION`: guessing a license from prose would be a claim we
//! cannot back.

use crate::dpkg::fields;

/// A license that has no SPDX identifier, with the text the copyright file gives for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extracted {
    /// `LicenseRef-…`, unique per package.
    pub id: String,
    /// The name the copyright file uses.
    pub name: String,
    pub text: String,
}

/// A package's declared license.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Declared {
    /// An SPDX license expression, or `NOASSERTION`.
    pub expression: String,
    pub extracted: Vec<Extracted>,
}

pub const NOASSERTION: &str = "NOASSERTION";

impl Declared {
    fn none() -> Declared {
        Declared { expression: NOASSERTION.into(), extracted: Vec::new() }
    }
}

/// Debian short names (lowercase) and their SPDX identifiers.
const MAP: &[(&str, &str)] = &[
    ("gpl-1", "GPL-1.0-only"),
    ("gpl-1+", "GPL-1.0-or-later"),
    ("gpl-2", "GPL-2.0-only"),
    ("gpl-2+", "GPL-2.0-or-later"),
    ("gpl-3", "GPL-3.0-only"),
    ("gpl-3+", "GPL-3.0-or-later"),
    ("lgpl-2", "LGPL-2.0-only"),
    ("lgpl-2+", "LGPL-2.0-or-later"),
    ("lgpl-2.1", "LGPL-2.1-only"),
    ("lgpl-2.1+", "LGPL-2.1-or-later"),
    ("lgpl-3", "LGPL-3.0-only"),
    ("lgpl-3+", "LGPL-3.0-or-later"),
    ("agpl-3", "AGPL-3.0-only"),
    ("agpl-3+", "AGPL-3.0-or-later"),
    ("gfdl-1.2", "GFDL-1.2-only"),
    ("gfdl-1.2+", "GFDL-1.2-or-later"),
    ("gfdl-1.3", "GFDL-1.3-only"),
    ("gfdl-1.3+", "GFDL-1.3-or-later"),
    ("apache-2", "Apache-2.0"),
    ("apache-2.0", "Apache-2.0"),
    ("artistic", "Artistic-1.0-Perl"),
    ("artistic-1", "Artistic-1.0"),
    ("artistic-2", "Artistic-2.0"),
    ("artistic-2.0", "Artistic-2.0"),
    ("bsd-2-clause", "BSD-2-Clause"),
    ("bsd-3-clause", "BSD-3-Clause"),
    ("bsd-4-clause", "BSD-4-Clause"),
    ("expat", "MIT"),
    ("mit", "MIT"),
    ("isc", "ISC"),
    ("zlib", "Zlib"),
    ("mpl-1.1", "MPL-1.1"),
    ("mpl-2.0", "MPL-2.0"),
    ("cc0-1.0", "CC0-1.0"),
    ("cc-by-3.0", "CC-BY-3.0"),
    ("cc-by-4.0", "CC-BY-4.0"),
    ("cc-by-sa-3.0", "CC-BY-SA-3.0"),
    ("cc-by-sa-4.0", "CC-BY-SA-4.0"),
    ("psf-2", "PSF-2.0"),
    ("python", "Python-2.0"),
    ("openssl", "OpenSSL"),
    ("bsl-1.0", "BSL-1.0"),
    ("boost-1.0", "BSL-1.0"),
    ("curl", "curl"),
    ("x11", "X11"),
    ("ftl", "FTL"),
    ("icu", "ICU"),
    ("unicode-dfs-2016", "Unicode-DFS-2016"),
    ("unicode-3.0", "Unicode-3.0"),
    ("wtfpl", "WTFPL"),
    ("0bsd", "0BSD"),
    ("unlicense", "Unlicense"),
    ("epl-1.0", "EPL-1.0"),
    ("epl-2.0", "EPL-2.0"),
    ("bzip2-1.0.6", "bzip2-1.0.6"),
    ("ofl-1.1", "OFL-1.1"),
    ("sleepycat", "Sleepycat"),
];

/// The SPDX identifier of a Debian short name, if there is one.
pub fn spdx_id(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    MAP.iter().find(|(k, _)| *k == lower).map(|(_, v)| *v)
}

/// Only letters, digits, `.` and `-` may follow `LicenseRef-` (and `SPDXRef-`).
pub fn id_chars(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '-' }).collect()
}

/// The declared license of `package` from the text of its `usr/share/doc/<package>/copyright`.
pub fn from_copyright(package: &str, text: &str) -> Declared {
    let paragraphs: Vec<Vec<(String, String)>> =
        split_paragraphs(text).iter().map(|p| fields(p)).filter(|f| !f.is_empty()).collect();
    let Some(header) = paragraphs.first() else { return Declared::none() };
    let machine_readable = header.iter().any(|(k, v)| {
        (k.eq_ignore_ascii_case("Format") || k.eq_ignore_ascii_case("Format-Specification"))
            && (v.contains("copyright-format") || v.contains("dep5") || v.contains("DEP-5"))
    });
    if !machine_readable {
        return Declared::none();
    }
    let get = |p: &[(String, String)], name: &str| {
        p.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone())
    };
    // Standalone License paragraphs give the texts of names used in Files paragraphs.
    let mut texts: Vec<(String, String)> = Vec::new();
    let mut used: Vec<(String, Option<String>)> = Vec::new();
    for p in &paragraphs[1..] {
        let Some(license) = get(p, "License") else { continue };
        let (first, body) = match license.split_once('\n') {
            Some((f, b)) => (f.trim().to_string(), Some(body_text(b))),
            None => (license.trim().to_string(), None),
        };
        if get(p, "Files").is_some() {
            used.push((first, body));
        } else if let Some(b) = body {
            texts.push((first.to_ascii_lowercase(), b));
        }
    }
    let mut expressions: Vec<String> = Vec::new();
    let mut extracted: Vec<Extracted> = Vec::new();
    for (line, body) in &used {
        let Some(expr) = expression(package, line, &mut |name, id| {
            if extracted.iter().any(|e| e.id == id) {
                return;
            }
            let text = texts
                .iter()
                .find(|(n, _)| *n == name.to_ascii_lowercase())
                .map(|(_, t)| t.clone())
                .or_else(|| body.clone().filter(|b| !b.trim().is_empty()))
                .unwrap_or_else(|| {
                    format!("The license {name:?} of usr/share/doc/{package}/copyright, which gives no text for it.")
                });
            extracted.push(Extracted { id: id.to_string(), name: name.to_string(), text });
        }) else {
            continue;
        };
        if !expressions.contains(&expr) {
            expressions.push(expr);
        }
    }
    match expressions.len() {
        0 => Declared::none(),
        1 => Declared { expression: expressions.remove(0), extracted },
        _ => {
            let parts: Vec<String> =
                expressions.iter().map(|e| if e.contains(' ') { format!("({e})") } else { e.clone() }).collect();
            Declared { expression: parts.join(" AND "), extracted }
        }
    }
}

/// Paragraphs separated by blank (or whitespace-only) lines.
fn split_paragraphs(text: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    for line in text.lines() {
        if line.trim().is_empty() {
            if !out.last().is_some_and(String::is_empty) {
                out.push(String::new());
            }
        } else if let Some(last) = out.last_mut() {
            last.push_str(line);
            last.push('\n');
        }
    }
    out.retain(|p| !p.is_empty());
    out
}

/// A field body as text: a line holding only `.` is an empty line.
fn body_text(body: &str) -> String {
    body.lines().map(|l| if l.trim() == "." { "" } else { l }).collect::<Vec<_>>().join("\n")
}

/// One DEP-5 `License:` first line as an SPDX expression; `extract(name, id)` is told of every
/// name that became a `LicenseRef`. `None` for an empty line.
fn expression(package: &str, line: &str, extract: &mut dyn FnMut(&str, &str)) -> Option<String> {
    // DEP-5 commas separate alternatives of lower precedence; reading them as "and" is the
    // cautious reading for an SBOM (all terms apply).
    let spaced = line.replace(',', " and ").replace(['(', ')'], " ");
    let mut out: Vec<String> = Vec::new();
    let mut atom: Vec<&str> = Vec::new();
    let mut flush = |atom: &mut Vec<&str>, out: &mut Vec<String>| {
        if atom.is_empty() {
            return;
        }
        let name = atom.join(" ");
        atom.clear();
        let id = match spdx_id(&name) {
            Some(id) => id.to_string(),
            None => {
                let id = format!("LicenseRef-{}-{}", id_chars(package), id_chars(&name));
                extract(&name, &id);
                id
            }
        };
        out.push(id);
    };
    for token in spaced.split_whitespace() {
        match token.to_ascii_lowercase().as_str() {
            "or" | "and" if !atom.is_empty() => {
                flush(&mut atom, &mut out);
                out.push(token.to_ascii_uppercase());
            }
            _ => atom.push(token),
        }
    }
    flush(&mut atom, &mut out);
    // A dangling operator (a line ending in "and") would make the expression invalid.
    while out.last().is_some_and(|t| t == "AND" || t == "OR") {
        out.pop();
    }
    (!out.is_empty()).then(|| out.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEP5: &str = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: x

Files: *
Copyright: 1999 Someone
License: GPL-2+

Files: lib/*
Copyright: 2001 Other
License: LGPL-2.1 or BSD-3-clause

Files: extra/*
Copyright: 2003 Third
License: public-domain

Files: weird/*
Copyright: 2003 Third
License: GPL-2+ with OpenSSL exception

License: public-domain
 This is in the public domain.
 .
 Really.
";

    #[test]
    fn machine_readable_files_map_to_spdx() {
        let d = from_copyright("libfoo1", DEP5);
        assert_eq!(
            d.expression,
            "GPL-2.0-or-later AND (LGPL-2.1-only OR BSD-3-Clause) AND LicenseRef-libfoo1-public-domain AND \
             LicenseRef-libfoo1-GPL-2--with-OpenSSL-exception"
        );
        assert_eq!(d.extracted.len(), 2);
        assert_eq!(d.extracted[0].text, "This is in the public domain.\n\nReally.");
        assert!(d.extracted[1].text.contains("gives no text"), "{:?}", d.extracted[1]);
    }

    #[test]
    fn prose_copyright_is_no_assertion() {
        let d = from_copyright("zlib1g", "This is the Debian prepackaged version of zlib.\n\nCopyright ...\n");
        assert_eq!(d.expression, NOASSERTION);
        assert!(d.extracted.is_empty());
    }

    #[test]
    fn dangling_operators_are_dropped() {
        let d = from_copyright("p", "Format: copyright-format/1.0\n\nFiles: *\nLicense: GPL-2, \n");
        assert_eq!(d.expression, "GPL-2.0-only");
    }
}

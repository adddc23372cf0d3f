//! The CA bundle that `update-ca-certificates` would have built, made without running it:
//! every `*.crt` under `usr/share/ca-certificates/` of the ca-certificates package, in sorted
//! path order, each ending in a newline.

use std::collections::BTreeMap;
use std::io::Read;

use crate::deb::{visit_deb, DebError};
use crate::paths::normalize;

const PREFIX: &str = "usr/share/ca-certificates/";
/// A certificate is a few KiB; the whole set well under a MiB. Refuse absurd members.
const CERT_LIMIT: u64 = 1 << 20;

/// Builds the bundle bytes from a ca-certificates .deb.
pub fn ca_bundle_from_deb(package: &str, deb: impl Read) -> Result<Vec<u8>, DebError> {
    let io = |source| DebError::Io { package: package.to_string(), source };
    let mut certs: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    visit_deb(package, deb, |_, data| {
        let mut archive = tar::Archive::new(data);
        for entry in archive.entries().map_err(io)? {
            let entry = entry.map_err(io)?;
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let Ok(Some(path)) = normalize(&raw) else { continue };
            if !path.starts_with(PREFIX)
                || !path.ends_with(".crt")
                || entry.header().entry_type() != tar::EntryType::Regular
            {
                continue;
            }
            let mut bytes = Vec::new();
            entry.take(CERT_LIMIT + 1).read_to_end(&mut bytes).map_err(io)?;
            if bytes.len() as u64 > CERT_LIMIT {
                return Err(DebError::BadEntry {
                    package: package.to_string(),
                    path,
                    reason: "certificate larger than 1 MiB".into(),
                });
            }
            certs.insert(path, bytes);
        }
        Ok(())
    })?;
    if certs.is_empty() {
        return Err(DebError::BadEntry {
            package: package.to_string(),
            path: PREFIX.to_string(),
            reason: "no *.crt files: is this the ca-certificates package?".into(),
        });
    }
    let mut out = Vec::new();
    for (_, mut c) in certs {
        if !c.ends_with(b"\n") {
            c.push(b'\n');
        }
        out.extend_from_slice(&c);
    }
    Ok(out)
}

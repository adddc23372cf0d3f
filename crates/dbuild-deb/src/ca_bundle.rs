//! The CA bundle that `update-ca-certificates` would have built, made without running it:
//! every `*.crt` under `usr/share/ca-certificates/` of the ca-certificates package, in sorted
//! path order, each ending in a newline. [`ca_bundle_layer`] wraps it as the image's CA layer.

use std::io::{Read, Write};

use dbuild_core::Compression;

use crate::deb::DebError;
use crate::layer::{tree_to_layer, LayerOutput};
use crate::tree::{PackageTree, TreeKind, TreeOptions};

const PREFIX: &str = "usr/share/ca-certificates/";

/// Where the bundle goes in the image.
pub const BUNDLE_PATH: &str = "etc/ssl/certs/ca-certificates.crt";

/// The CA bundle layer from the ca-certificates .deb, read once: [`BUNDLE_PATH`], the
/// package's `usr/share/doc/<name>/copyright` and its `var/lib/dpkg/status.d` entries (with
/// `.md5sums`), nothing else of the package. `scratch_dir` holds the spool file.
pub fn ca_bundle_layer(
    package: &str,
    deb: impl Read,
    scratch_dir: Option<std::path::PathBuf>,
    mtime: u64,
    compression: Compression,
    out: &mut dyn Write,
) -> Result<LayerOutput, DebError> {
    let io = |source| DebError::Io { package: package.to_string(), source };
    let opts = TreeOptions { usr_merge: false, status_d: true, scratch_dir };
    let mut tree = PackageTree::read(package, deb, &opts)?;
    // Entries are sorted by path, which is the bundle's order.
    let mut bundle = Vec::new();
    for e in &tree.entries {
        if matches!(e.kind, TreeKind::File { .. }) && e.path.starts_with(PREFIX) && e.path.ends_with(".crt") {
            let start = bundle.len();
            tree.open(e).read_to_end(&mut bundle).map_err(io)?;
            if bundle.len() > start && !bundle.ends_with(b"\n") {
                bundle.push(b'\n');
            }
        }
    }
    if bundle.is_empty() {
        return Err(DebError::BadEntry {
            package: package.to_string(),
            path: PREFIX.to_string(),
            reason: "no *.crt files: is this the ca-certificates package?".into(),
        });
    }
    let name = tree.control.package.clone();
    let keep = [
        format!("usr/share/doc/{name}/copyright"),
        format!("var/lib/dpkg/status.d/{name}"),
        format!("var/lib/dpkg/status.d/{name}.md5sums"),
    ];
    tree.retain_and_add(&keep, &[(BUNDLE_PATH.to_string(), bundle)])?;
    tree_to_layer(package, &tree, mtime, compression, out)
}

//! A package as a deterministic, compressed tar layer, written straight from the .deb through
//! dbuild-tar's [`LayerWriter`]: the same encoder, compressor settings and 128 KiB write
//! chunks as every OCI layer, so a package layer is byte for byte the layer `ctx.actions.layer`
//! writes for the same tree.

use std::io::{Read, Write};

use dbuild_core::{BlobId, Compression, Sha256};
use dbuild_tar::{Entry, Kind, LayerWriter, TarError, TarWriter};

use crate::deb::DebError;
use crate::tree::{PackageTree, TreeEntry, TreeKind};

/// What was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerOutput {
    /// Digests and size of the compressed blob (the OCI layer descriptor).
    pub blob: BlobId,
    /// sha256 of the uncompressed tar (the OCI `diff_id`).
    pub diff_id: Sha256,
    pub package: String,
    pub version: String,
    pub architecture: String,
    pub entries: usize,
}

/// The tar member for one tree entry.
fn entry(e: &TreeEntry, mtime: u64) -> Entry<'_> {
    let kind = match &e.kind {
        TreeKind::File { size, .. } => Kind::File { size: *size },
        TreeKind::Dir => Kind::Dir,
        TreeKind::Symlink(t) => Kind::Symlink { target: t.as_bytes() },
        TreeKind::Hardlink(t) => Kind::Hardlink { target: t.as_bytes() },
    };
    Entry { path: e.path.as_bytes(), kind, mode: e.mode, uid: e.uid as u64, gid: e.gid as u64, mtime }
}

/// Appends every entry of `tree` (already in archive order) through `append`.
fn append_tree(
    tree: &PackageTree,
    mtime: u64,
    mut append: impl FnMut(&Entry, Option<&mut dyn Read>) -> Result<(), TarError>,
) -> Result<(), TarError> {
    for e in &tree.entries {
        if let TreeKind::File { .. } = e.kind {
            let mut r = tree.open(e);
            append(&entry(e, mtime), Some(&mut r as &mut dyn Read))?;
        } else {
            append(&entry(e, mtime), None)?;
        }
    }
    Ok(())
}

/// Writes `tree` as an uncompressed tar with every entry at `mtime`.
pub fn write_tree_tar(tree: &PackageTree, mtime: u64, out: &mut dyn Write) -> Result<(), TarError> {
    let mut tar = TarWriter::new(out);
    append_tree(tree, mtime, |e, r| tar.append(e, r).map(|_| ()))?;
    tar.finish()?;
    Ok(())
}

/// Reads the .deb and writes its layer to `out`, compressed as asked (dbuild-tar's settings).
pub fn deb_to_layer(
    package: &str,
    deb: impl Read,
    opts: &crate::tree::TreeOptions,
    mtime: u64,
    compression: Compression,
    out: &mut dyn Write,
) -> Result<LayerOutput, DebError> {
    let tree = PackageTree::read(package, deb, opts)?;
    tree_to_layer(package, &tree, mtime, compression, out)
}

/// The paths a subset layer keeps: shell-style patterns over a package's paths (`*` and `?`
/// stay within one path component), each keeping the entries it matches and everything under
/// them, so `usr/lib/locale/C.utf8` keeps a directory and `usr/lib/*/libglib-2.0.so.0*` one
/// library, whatever the architecture's triplet and the library's version.
#[derive(Clone, Debug)]
pub struct IncludeSet {
    set: globset::GlobSet,
}

impl IncludeSet {
    /// `package` only names the package in the error.
    pub fn new(package: &str, patterns: &[String]) -> Result<IncludeSet, DebError> {
        let mut builder = globset::GlobSetBuilder::new();
        for p in patterns {
            let glob = globset::GlobBuilder::new(p.trim_matches('/'))
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|e| DebError::BadEntry {
                    package: package.to_string(),
                    path: p.clone(),
                    reason: format!("not a usable include pattern: {}", e.kind()),
                })?;
            builder.add(glob);
        }
        let set = builder.build().map_err(|e| DebError::BadEntry {
            package: package.to_string(),
            path: patterns.join(", "),
            reason: format!("not usable include patterns: {e}"),
        })?;
        Ok(IncludeSet { set })
    }

    /// Whether `path` (relative, no leading `/`) or one of its ancestors matches.
    pub fn keeps(&self, path: &str) -> bool {
        let mut at = path;
        loop {
            if self.set.is_match(at) {
                return true;
            }
            match at.rfind('/') {
                Some(i) => at = &at[..i],
                None => return false,
            }
        }
    }
}

/// Like [`deb_to_layer`], but only the package's entries that `include` keeps (see
/// [`IncludeSet`]) stay, with its copyright and its status.d entry, whose md5sums keep the
/// lines of the kept files only: a few files of a package, still accounted for.
pub fn deb_subset_layer(
    package: &str,
    deb: impl Read,
    opts: &crate::tree::TreeOptions,
    include: &[String],
    mtime: u64,
    compression: Compression,
    out: &mut dyn Write,
) -> Result<LayerOutput, DebError> {
    let set = IncludeSet::new(package, include)?;
    let mut tree = PackageTree::read(package, deb, opts)?;
    let under = |path: &str| set.keeps(path);
    let name = tree.control.package.clone();
    let md5sums_path = format!("var/lib/dpkg/status.d/{name}.md5sums");
    let mut keep: Vec<String> = tree.entries.iter().filter(|e| under(&e.path)).map(|e| e.path.clone()).collect();
    if keep.is_empty() {
        return Err(DebError::BadEntry {
            package: package.to_string(),
            path: include.join(", "),
            reason: "no entry of the package matches these include patterns".into(),
        });
    }
    keep.push(format!("usr/share/doc/{name}/copyright"));
    keep.push(format!("var/lib/dpkg/status.d/{name}"));
    let mut md5sums = String::new();
    if let Some(e) = tree.entries.iter().find(|e| e.path == md5sums_path) {
        tree.open(e)
            .read_to_string(&mut md5sums)
            .map_err(|source| DebError::Io { package: package.to_string(), source })?;
    }
    let kept: String = md5sums
        .lines()
        .filter(|l| l.split_once("  ").is_some_and(|(_, path)| under(path)))
        .map(|l| format!("{l}\n"))
        .collect();
    tree.retain_and_add(&keep, &[(md5sums_path, kept.into_bytes())])?;
    tree_to_layer(package, &tree, mtime, compression, out)
}

/// Writes an already read (and possibly trimmed) tree as a compressed layer; `package` names
/// it in errors.
pub fn tree_to_layer(
    package: &str,
    tree: &PackageTree,
    mtime: u64,
    compression: Compression,
    out: &mut dyn Write,
) -> Result<LayerOutput, DebError> {
    let err = |e: TarError| match e {
        TarError::Write(source) => DebError::Write { package: package.to_string(), source },
        TarError::Read { source, .. } => DebError::Io { package: package.to_string(), source },
        source => DebError::Layer { package: package.to_string(), source },
    };
    let mut w = LayerWriter::new(compression, out).map_err(err)?;
    append_tree(tree, mtime, |e, r| w.append(e, r)).map_err(err)?;
    let (_, d) = w.finish().map_err(err)?;
    Ok(LayerOutput {
        blob: d.blob,
        diff_id: d.diff_id,
        package: tree.control.package.clone(),
        version: tree.control.version.clone(),
        architecture: tree.control.architecture.clone(),
        entries: tree.entries.len(),
    })
}

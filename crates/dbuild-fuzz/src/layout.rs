//! The OCI layout target. Every document of a layout is named by its digest, so bytes mutated
//! at random would only ever test the digest check. The input is therefore the layout's
//! documents, and the target writes them under their real digests: it is split at lines
//! `--8<--` into index.json, a manifest, a config, a layer blob and an optional inner image
//! index, and `@MANIFEST@`, `@CONFIG@`, `@LAYER@`, `@INNER@` (and `@…_SIZE@`) in the
//! documents become the digest (size) of that part.

use std::path::Path;

use dbuild_core::Sha256;

/// Splits `data` at every `\n--8<--\n`.
fn parts(data: &[u8]) -> Vec<&[u8]> {
    const CUT: &[u8] = b"\n--8<--\n";
    let mut out = Vec::new();
    let mut rest = data;
    while let Some(i) = rest.windows(CUT.len()).position(|w| w == CUT) {
        out.push(&rest[..i]);
        rest = &rest[i + CUT.len()..];
    }
    out.push(rest);
    out
}

/// `doc` with each `@NAME@` and `@NAME_SIZE@` of `known` replaced.
fn substitute(doc: &[u8], known: &[(&str, &[u8])]) -> Vec<u8> {
    let mut text = String::from_utf8_lossy(doc).into_owned();
    for (name, bytes) in known {
        text = text.replace(&format!("@{name}_SIZE@"), &bytes.len().to_string());
        text = text.replace(&format!("@{name}@"), &format!("sha256:{}", Sha256::of_bytes(bytes)));
    }
    text.into_bytes()
}

/// Writes the layout the input describes under `dir`.
fn write_layout(dir: &Path, data: &[u8]) -> std::io::Result<()> {
    let p = parts(data);
    let part = |i: usize| p.get(i).copied().unwrap_or_default();
    let (layer, config) = (part(3).to_vec(), part(2).to_vec());
    let manifest = substitute(part(1), &[("LAYER", layer.as_slice()), ("CONFIG", config.as_slice())]);
    let inner = substitute(part(4), &[("MANIFEST", manifest.as_slice())]);
    let index = substitute(part(0), &[("MANIFEST", manifest.as_slice()), ("INNER", inner.as_slice())]);
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs)?;
    for blob in [&layer, &config, &manifest, &inner] {
        std::fs::write(blobs.join(Sha256::of_bytes(blob).to_hex()), blob)?;
    }
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    std::fs::write(dir.join("index.json"), index)
}

/// An OCI layout read as `dbuild check` reads it: its images (one, or each platform of an
/// index), their layers applied into one file tree, and the checks run on it.
pub fn oci_layout(data: &[u8]) {
    let Ok(dir) = tempfile::tempdir() else { return };
    if write_layout(dir.path(), data).is_err() {
        return;
    }
    let Ok(platforms) = dbuild_oci::image_platforms(dir.path()) else { return };
    for platform in &platforms {
        let Ok(image) = dbuild_oci::read_image(dir.path(), dbuild_oci::LAYOUT_TAG, platform.as_ref()) else {
            continue;
        };
        let Ok(fs) = dbuild_oci::image_fs(&image.layers, &dbuild_check::keep_for_check) else { continue };
        let Ok(config) = serde_json::from_slice(&image.config) else { continue };
        let _ = dbuild_check::check_image(&fs, &config);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn parts_split_at_every_cut_line() {
        let p = super::parts(b"a\n--8<--\nb\n--8<--\n\n--8<--\nc");
        assert_eq!(p, [&b"a"[..], b"b", b"", b"c"]);
    }

    #[test]
    fn placeholders_become_digests_and_sizes() {
        let out = super::substitute(b"@X@ @X_SIZE@", &[("X", b"abc")]);
        let want = format!("sha256:{} 3", dbuild_core::Sha256::of_bytes(b"abc"));
        assert_eq!(String::from_utf8(out).unwrap(), want);
    }
}

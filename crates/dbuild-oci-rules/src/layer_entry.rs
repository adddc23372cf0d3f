//! One entry of `ctx.actions.layer(entries = [...])`: a dict such as
//! `{"path": "etc/passwd", "file": f, "mode": 0o644}` becomes a [`LayerEntry`].

use dbuild_core::Artifact;
use dbuild_lang::FileValue;
use dbuild_oci::{EntryKind, LayerEntry};
use dbuild_tar::{Absolute, ImagePath, PathError};
use starlark::values::dict::DictRef;
use starlark::values::{Value, ValueLike};

const KEYS: &[&str] = &["path", "file", "type", "mode", "uid", "gid", "target"];

/// Normalizes a path inside an image with dbuild-tar's rules (no leading `/` or `./`, no `.`
/// or empty parts); `..` is refused because a layer must never write outside its root, and an
/// entry must name something below the root.
pub(crate) fn normalize_path(p: &str) -> Result<String, String> {
    match ImagePath::normalize_str(p, Absolute::Allow) {
        Ok(n) if n.is_empty() => Err(format!("path {p:?} is empty")),
        Ok(n) => Ok(n),
        Err(PathError::DotDot) => Err(format!("path {p:?} may not contain '..'")),
        Err(e) => Err(format!("path {p:?} {e}")),
    }
}

fn int_field(d: &DictRef, key: &str, default: u32, max: u32) -> Result<u32, String> {
    match d.get_str(key) {
        None => Ok(default),
        Some(v) => match v.unpack_i32() {
            Some(i) if i >= 0 && (i as u32) <= max && v.unpack_bool().is_none() => Ok(i as u32),
            _ => Err(format!("'{key}' must be an int between 0 and {max:#o}, got {}", v.to_repr())),
        },
    }
}

fn str_field<'v>(d: &DictRef<'v>, key: &str) -> Result<Option<&'v str>, String> {
    match d.get_str(key) {
        None => Ok(None),
        Some(v) => v.unpack_str().map(Some).ok_or_else(|| format!("'{key}' must be a string, got {}", v.get_type())),
    }
}

/// Parses one entry; returns the entry and the input file it reads, if any.
pub(crate) fn parse_entry(v: Value) -> Result<(LayerEntry, Option<Artifact>), String> {
    let d = DictRef::from_value(v).ok_or_else(|| format!("expected a dict, got {}", v.get_type()))?;
    for (k, _) in d.iter() {
        let k = k.unpack_str().ok_or_else(|| "keys must be strings".to_owned())?;
        if !KEYS.contains(&k) {
            return Err(format!("unknown key '{k}' (known: {})", KEYS.join(", ")));
        }
    }
    let raw_path = str_field(&d, "path")?.ok_or_else(|| "missing 'path'".to_owned())?;
    let path = normalize_path(raw_path)?;
    let file = match d.get_str("file") {
        None => None,
        Some(f) if f.is_none() => None,
        Some(f) => {
            Some(f.downcast_ref::<FileValue>().ok_or_else(|| format!("'file' must be a File, got {}", f.get_type()))?)
        }
    };
    let ty = match str_field(&d, "type")? {
        Some(t) => t,
        None if file.is_some() => "file",
        None => return Err(format!("entry {path:?} needs a 'file' or a 'type'")),
    };
    let target = str_field(&d, "target")?;
    let (kind, default_mode, input) = match ty {
        "file" => {
            let f = file.ok_or_else(|| format!("file entry {path:?} needs 'file'"))?;
            (EntryKind::File { src: f.artifact.clone() }, 0o644, Some(f.artifact.clone()))
        }
        "dir" => (EntryKind::Dir, 0o755, None),
        "symlink" => {
            let t = target
                .filter(|t| !t.is_empty())
                .ok_or_else(|| format!("symlink entry {path:?} needs a non-empty 'target'"))?;
            (EntryKind::Symlink { target: t.to_owned() }, 0o777, None)
        }
        "hardlink" => {
            let t = target.ok_or_else(|| format!("hardlink entry {path:?} needs 'target'"))?;
            (EntryKind::Hardlink { target: normalize_path(t)? }, 0o644, None)
        }
        other => return Err(format!("entry {path:?}: unknown type {other:?} (file, dir, symlink or hardlink)")),
    };
    if ty != "file" && file.is_some() {
        return Err(format!("{ty} entry {path:?} may not have 'file'"));
    }
    if matches!(ty, "file" | "dir") && target.is_some() {
        return Err(format!("{ty} entry {path:?} may not have 'target'"));
    }
    let mode = int_field(&d, "mode", default_mode, 0o7777)?;
    let uid = int_field(&d, "uid", 0, i32::MAX as u32)?;
    let gid = int_field(&d, "gid", 0, i32::MAX as u32)?;
    Ok((LayerEntry { path, kind, mode, uid, gid }, input))
}

#[cfg(test)]
mod tests {
    use super::normalize_path;

    #[test]
    fn normalizes_and_rejects() {
        assert_eq!(normalize_path("/etc/passwd").unwrap(), "etc/passwd");
        assert_eq!(normalize_path("./a//b/./c").unwrap(), "a/b/c");
        assert!(normalize_path("a/../b").unwrap_err().contains(".."));
        assert!(normalize_path("/").unwrap_err().contains("empty"));
        assert!(normalize_path("").is_err());
        assert!(normalize_path("a\0b").unwrap_err().contains("NUL"));
    }
}

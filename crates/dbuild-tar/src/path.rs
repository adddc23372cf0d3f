//! Paths inside an image: bytes (a Debian package may ship names that are not UTF-8), relative
//! to the image root, normalized so that one file has exactly one spelling.

use std::fmt;

/// Why a raw path was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("contains a NUL byte")]
    Nul,
    #[error("contains a '..' component")]
    DotDot,
    #[error("is absolute")]
    Absolute,
}

/// Whether a leading `/` is accepted (and dropped) or refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Absolute {
    /// `/etc/passwd` means `etc/passwd`: rule arguments name in-image paths this way.
    Allow,
    /// A member of an archive being unpacked must be relative: an absolute name is the
    /// classic way out of an extraction root, so it is refused rather than silently rebased.
    Refuse,
}

/// A normalized in-image path: no leading `/` or `./`, no empty or `.` components, no
/// trailing `/`, no `..` (refused rather than resolved, because resolving it would let an
/// entry escape the root or silently alias another one), no NUL. The root is the empty path.
///
/// Ordering is byte order, which is the order of members in every layer dbuild writes.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ImagePath(Vec<u8>);

impl ImagePath {
    /// Normalizes `raw` under the rules above.
    pub fn parse(raw: &[u8], absolute: Absolute) -> Result<ImagePath, PathError> {
        if raw.contains(&0) {
            return Err(PathError::Nul);
        }
        if absolute == Absolute::Refuse && raw.first() == Some(&b'/') {
            return Err(PathError::Absolute);
        }
        let mut out = Vec::with_capacity(raw.len());
        for comp in raw.split(|&c| c == b'/') {
            match comp {
                b"" | b"." => {}
                b".." => return Err(PathError::DotDot),
                c => {
                    if !out.is_empty() {
                        out.push(b'/');
                    }
                    out.extend_from_slice(c);
                }
            }
        }
        Ok(ImagePath(out))
    }

    /// [`ImagePath::parse`] for a path known to be UTF-8; the result is UTF-8 too.
    pub fn normalize_str(raw: &str, absolute: Absolute) -> Result<String, PathError> {
        let p = ImagePath::parse(raw.as_bytes(), absolute)?;
        // Splitting UTF-8 at '/' (ASCII) and joining the pieces with '/' keeps it UTF-8.
        Ok(String::from_utf8_lossy(&p.0).into_owned())
    }

    /// The root of the image.
    pub fn root() -> ImagePath {
        ImagePath(Vec::new())
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    /// The path as text, when it is UTF-8.
    pub fn to_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }

    /// The directory holding this path (`None` for the root; the root for a top-level name).
    pub fn parent(&self) -> Option<ImagePath> {
        if self.0.is_empty() {
            return None;
        }
        let end = self.0.iter().rposition(|&c| c == b'/').unwrap_or(0);
        Some(ImagePath(self.0[..end].to_vec()))
    }
}

impl fmt::Debug for ImagePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ImagePath({:?})", self.0.escape_ascii().to_string())
    }
}

/// Shown for people: bytes that are not printable ASCII are escaped (`\xff`), never replaced.
impl fmt::Display for ImagePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/{}", self.0.escape_ascii())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(raw: &[u8]) -> Result<ImagePath, PathError> {
        ImagePath::parse(raw, Absolute::Allow)
    }

    #[test]
    fn normalizes() {
        assert_eq!(p(b"/a//b/./c/").unwrap().as_bytes(), b"a/b/c");
        assert_eq!(p(b"./usr/bin").unwrap().as_bytes(), b"usr/bin");
        assert!(p(b"./").unwrap().is_root());
        assert!(p(b"").unwrap().is_root());
        assert_eq!(p(b"a/\xff/b").unwrap().as_bytes(), b"a/\xff/b");
        assert_eq!(ImagePath::normalize_str("./caf\u{e9}/x/", Absolute::Allow).unwrap(), "caf\u{e9}/x");
    }

    #[test]
    fn refuses_escapes() {
        assert_eq!(p(b"a/../../etc"), Err(PathError::DotDot));
        assert_eq!(p(b".."), Err(PathError::DotDot));
        assert_eq!(p(b"a\0b"), Err(PathError::Nul));
        assert_eq!(ImagePath::parse(b"/etc/passwd", Absolute::Refuse), Err(PathError::Absolute));
        assert_eq!(ImagePath::parse(b"etc/passwd", Absolute::Refuse).unwrap().as_bytes(), b"etc/passwd");
        // A name that merely contains dots is an ordinary name.
        assert_eq!(p(b"a/..b/...").unwrap().as_bytes(), b"a/..b/...");
    }

    #[test]
    fn parents_and_display() {
        let x = p(b"usr/share/\xffx").unwrap();
        assert_eq!(x.parent().unwrap().as_bytes(), b"usr/share");
        assert_eq!(p(b"usr").unwrap().parent().unwrap(), ImagePath::root());
        assert_eq!(ImagePath::root().parent(), None);
        assert_eq!(x.to_string(), "/usr/share/\\xffx");
        assert_eq!(x.to_str(), None);
    }
}

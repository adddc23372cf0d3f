//! Reading a .deb: an `ar` archive holding `debian-binary`, `control.tar[.gz|.xz|.zst]` and
//! `data.tar[.gz|.xz|.zst]`. Everything streams: members are decompressed on the fly and
//! handed to the caller, so memory does not grow with the package.

use std::io::{BufReader, Read};

use crate::ar::{ArError, ArReader};

#[derive(Debug, thiserror::Error)]
pub enum DebError {
    #[error("package {package}: reading .deb: {source}")]
    Io { package: String, source: std::io::Error },
    #[error("package {package}: not a valid .deb: {reason}")]
    NotDeb { package: String, reason: String },
    #[error("package {package}: member {member} uses an unsupported compression")]
    UnsupportedCompression { package: String, member: String },
    #[error("package {package}: entry {path:?} would land outside the root; refusing it")]
    UnsafePath { package: String, path: String },
    #[error("package {package}: entry {path:?}: {reason}")]
    BadEntry { package: String, path: String, reason: String },
    #[error("package {package}: writing the layer: {source}")]
    Write { package: String, source: std::io::Error },
    #[error("package {package}: encoding the layer: {source}")]
    Layer { package: String, source: dbuild_tar::TarError },
}

/// The control member's interesting files.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ControlInfo {
    /// The `Package:` field.
    pub package: String,
    pub version: String,
    pub architecture: String,
    /// The `control` file, verbatim.
    pub control: Vec<u8>,
    /// The `md5sums` file, if the package has one.
    pub md5sums: Option<Vec<u8>>,
}

/// Control files are small; anything bigger is not a real package.
const CONTROL_FILE_LIMIT: u64 = 64 << 20;

/// Wraps an ar member in the decompressor its name asks for.
fn decompressor<'a>(package: &str, member: &str, r: impl Read + 'a) -> Result<Box<dyn Read + 'a>, DebError> {
    let ext = member.rsplit_once(".tar").map(|(_, e)| e).unwrap_or("-");
    Ok(match ext {
        "" => Box::new(r),
        ".gz" => Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(r))),
        ".xz" => Box::new(liblzma::read::XzDecoder::new_multi_decoder(r)),
        ".zst" => Box::new(
            zstd::stream::read::Decoder::new(r)
                .map_err(|source| DebError::Io { package: package.to_string(), source })?,
        ),
        _ => return Err(DebError::UnsupportedCompression { package: package.to_string(), member: member.to_string() }),
    })
}

/// Reads `control` and `md5sums` out of a control tarball.
fn read_control(package: &str, tar_stream: impl Read) -> Result<ControlInfo, DebError> {
    let io = |source| DebError::Io { package: package.to_string(), source };
    let mut info = ControlInfo::default();
    let mut have_control = false;
    let mut archive = tar::Archive::new(tar_stream);
    for entry in archive.entries().map_err(io)? {
        let entry = entry.map_err(io)?;
        let path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let name = path.trim_start_matches("./");
        if name != "control" && name != "md5sums" {
            continue;
        }
        if entry.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let mut bytes = Vec::new();
        entry.take(CONTROL_FILE_LIMIT + 1).read_to_end(&mut bytes).map_err(io)?;
        if bytes.len() as u64 > CONTROL_FILE_LIMIT {
            return Err(DebError::NotDeb {
                package: package.to_string(),
                reason: format!("control file {name} is too large"),
            });
        }
        if name == "control" {
            info.control = bytes;
            have_control = true;
        } else {
            info.md5sums = Some(bytes);
        }
    }
    if !have_control {
        return Err(DebError::NotDeb {
            package: package.to_string(),
            reason: "control.tar has no control file".into(),
        });
    }
    let text = String::from_utf8_lossy(&info.control).into_owned();
    let para = deb822_fast::borrowed::iter_paragraphs_borrowed(&text).next().and_then(|p| p.ok()).ok_or_else(|| {
        DebError::NotDeb { package: package.to_string(), reason: "control file is not deb822".into() }
    })?;
    let field = |n: &str| para.get_single(n).map(|s| s.trim().to_string()).unwrap_or_default();
    info.package = field("Package");
    info.version = field("Version");
    info.architecture = field("Architecture");
    if info.package.is_empty() {
        return Err(DebError::NotDeb {
            package: package.to_string(),
            reason: "control file has no Package field".into(),
        });
    }
    Ok(info)
}

/// Walks a .deb: returns its control information and hands the decompressed `data.tar`
/// stream to `on_data`. `package` names the package in errors.
pub fn visit_deb<R: Read>(
    package: &str,
    deb: R,
    mut on_data: impl FnMut(&ControlInfo, &mut dyn Read) -> Result<(), DebError>,
) -> Result<ControlInfo, DebError> {
    let io = |source| DebError::Io { package: package.to_string(), source };
    let not_deb = |reason: &str| DebError::NotDeb { package: package.to_string(), reason: reason.to_string() };
    let ar_error = |e: ArError| match e {
        ArError::Io(source) => io(source),
        ArError::Malformed(reason) => not_deb(&reason),
    };
    let mut ar = ArReader::new(deb);
    let mut control: Option<ControlInfo> = None;
    let mut saw_binary = false;
    let mut saw_data = false;
    while let Some(member) = ar.next_member().map_err(ar_error)? {
        let name = member.name.clone();
        if name == "debian-binary" {
            let mut v = String::new();
            member.take(64).read_to_string(&mut v).map_err(|_| not_deb("unreadable debian-binary"))?;
            if !v.starts_with("2.") {
                return Err(not_deb(&format!("unsupported format version {:?}", v.trim())));
            }
            saw_binary = true;
        } else if name.starts_with("control.tar") {
            control = Some(read_control(package, decompressor(package, &name, member)?)?);
        } else if name.starts_with("data.tar") {
            // dpkg requires control before data; so do we, as layers need the control paragraph.
            let info = control.as_ref().ok_or_else(|| not_deb("data.tar comes before control.tar"))?;
            let mut stream = decompressor(package, &name, member)?;
            on_data(info, &mut stream)?;
            // Drain the rest so a decoder error at the end (bad checksum) is still seen.
            std::io::copy(&mut stream, &mut std::io::sink()).map_err(io)?;
            saw_data = true;
        }
    }
    if !saw_binary {
        return Err(not_deb("no debian-binary member (is this an ar archive?)"));
    }
    let control = control.ok_or_else(|| not_deb("no control.tar member"))?;
    if !saw_data {
        return Err(not_deb("no data.tar member"));
    }
    Ok(control)
}

//! Reading the layers a spec merges: detect their compression by magic bytes, make them
//! seekable, and index their members so that the writer can copy each file's bytes later in
//! sorted order without holding any of them in memory.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use dbuild_core::Artifact;

use crate::layer::LayerError;
use crate::tree::{normalize_path, Content, Node, NodeKind, Tree};

/// Compression of a merged layer, detected from its first bytes (never from its name).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Detected {
    Gzip,
    Zstd,
    Plain,
}

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
const XZ_MAGIC: &[u8] = &[0xfd, b'7', b'z', b'X', b'Z', 0];
const BZIP2_MAGIC: &[u8] = b"BZh";

/// The seekable, uncompressed bytes of every merged layer, in `spec.merge` order.
#[derive(Default)]
pub(crate) struct MergedTars {
    pub files: Vec<File>,
}

impl MergedTars {
    /// Adds the entries of one merged layer to `tree`, after everything added so far.
    pub fn add(&mut self, artifact: &Artifact, path: &Path, tree: &mut Tree) -> Result<(), LayerError> {
        let name = artifact.workspace_path();
        let invalid = |source: io::Error| LayerError::InvalidMergedTar {
            artifact: name.clone(),
            path: path.to_path_buf(),
            source,
        };
        let mut file = File::open(path).map_err(invalid)?;
        let kind = detect(&mut file).map_err(invalid)?;
        let kind = match kind {
            Ok(k) => k,
            Err(format) => return Err(LayerError::UnsupportedCompression { artifact: name, format }),
        };
        // Plain tars are read in place; compressed ones are inflated into an anonymous
        // temporary file first, since sorting needs random access and memory must not grow
        // with the layer's size.
        let plain = match kind {
            Detected::Plain => file,
            Detected::Gzip => inflate(flate2::read::MultiGzDecoder::new(io::BufReader::new(file))).map_err(invalid)?,
            Detected::Zstd => {
                let dec = zstd::stream::read::Decoder::new(file).map_err(invalid)?;
                inflate(dec).map_err(invalid)?
            }
        };
        let index = self.files.len();
        let origin = format!("merged layer {name}");
        index_members(&plain, index, &origin, tree).map_err(|e| match e {
            IndexError::Io(source) => invalid(source),
            IndexError::Layer(e) => e,
        })?;
        self.files.push(plain);
        Ok(())
    }
}

/// `Ok(Err(name))` for a compression dbuild recognizes but does not read.
pub(crate) fn detect(file: &mut File) -> io::Result<Result<Detected, &'static str>> {
    let mut head = [0u8; 6];
    let mut n = 0;
    while n < head.len() {
        let got = file.read(&mut head[n..])?;
        if got == 0 {
            break;
        }
        n += got;
    }
    file.seek(SeekFrom::Start(0))?;
    let head = &head[..n];
    Ok(if head.starts_with(GZIP_MAGIC) {
        Ok(Detected::Gzip)
    } else if head.starts_with(ZSTD_MAGIC) {
        Ok(Detected::Zstd)
    } else if head.starts_with(XZ_MAGIC) {
        Err("xz")
    } else if head.starts_with(BZIP2_MAGIC) {
        Err("bzip2")
    } else {
        Ok(Detected::Plain)
    })
}

fn inflate(mut r: impl Read) -> io::Result<File> {
    let mut tmp = tempfile::tempfile()?;
    io::copy(&mut r, &mut tmp)?;
    tmp.seek(SeekFrom::Start(0))?;
    Ok(tmp)
}

enum IndexError {
    Io(io::Error),
    Layer(LayerError),
}

impl From<io::Error> for IndexError {
    fn from(e: io::Error) -> Self {
        IndexError::Io(e)
    }
}

impl From<LayerError> for IndexError {
    fn from(e: LayerError) -> Self {
        IndexError::Layer(e)
    }
}

fn index_members(file: &File, tar_index: usize, origin: &str, tree: &mut Tree) -> Result<(), IndexError> {
    let mut archive = tar::Archive::new(file);
    for entry in archive.entries_with_seek()? {
        let mut entry = entry?;
        // PAX records may carry ids too large for the header; the tar crate applies `path`,
        // `linkpath` and `size` itself but leaves ids to us.
        let (mut pax_uid, mut pax_gid) = (None, None);
        if let Some(exts) = entry.pax_extensions()? {
            for ext in exts {
                let ext = ext?;
                let parse = || std::str::from_utf8(ext.value_bytes()).ok().and_then(|v| v.parse::<u64>().ok());
                match ext.key_bytes() {
                    b"uid" => pax_uid = parse(),
                    b"gid" => pax_gid = parse(),
                    _ => {}
                }
            }
        }
        let header = entry.header();
        let raw_path = String::from_utf8(entry.path_bytes().into_owned()).map_err(|e| LayerError::BadPath {
            path: String::from_utf8_lossy(e.as_bytes()).into_owned(),
            origin: origin.to_string(),
            reason: "is not UTF-8",
        })?;
        let path = normalize_path(&raw_path, origin)?;
        let link = || -> Result<String, LayerError> {
            let bytes = entry.link_name_bytes().unwrap_or_default();
            String::from_utf8(bytes.into_owned()).map_err(|e| LayerError::BadPath {
                path: format!("link target of {raw_path}: {}", String::from_utf8_lossy(e.as_bytes())),
                origin: origin.to_string(),
                reason: "is not UTF-8",
            })
        };
        let kind = match header.entry_type() {
            // Old (v7) archives mark directories only by a trailing slash.
            tar::EntryType::Regular if raw_path.ends_with('/') => NodeKind::Dir,
            tar::EntryType::Regular | tar::EntryType::Continuous => NodeKind::File(Content::Merged {
                tar: tar_index,
                offset: entry.raw_file_position(),
                size: entry.size(),
            }),
            tar::EntryType::Directory => NodeKind::Dir,
            tar::EntryType::Symlink => NodeKind::Symlink(link()?),
            tar::EntryType::Link => NodeKind::Hardlink(normalize_path(&link()?, origin)?),
            tar::EntryType::XGlobalHeader => continue,
            other => {
                return Err(LayerError::UnsupportedEntryType {
                    path: raw_path,
                    origin: origin.to_string(),
                    kind: format!("{other:?}"),
                }
                .into())
            }
        };
        let node = Node {
            kind,
            // Some writers store the file-type bits too; only permission bits belong here.
            mode: header.mode()? & 0o7777,
            uid: pax_uid.map_or_else(|| header.uid(), Ok)?,
            gid: pax_gid.map_or_else(|| header.gid(), Ok)?,
            origin: origin.to_string(),
        };
        tree.insert(path, node);
    }
    Ok(())
}

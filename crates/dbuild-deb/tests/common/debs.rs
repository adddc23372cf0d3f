//! Genuine .deb files built in the test: an ar archive with debian-binary, control.tar.gz
//! and a data.tar compressed as asked. Tar members are written by the crate's own raw tar
//! writer, so tests can also produce hostile names (`..`, absolute) that the `tar` crate's
//! builder would refuse to write.

use std::io::Write;

use dbuild_deb::tarwrite::{TarHeader, TarKind, TarWriter};

#[derive(Clone, Debug)]
pub struct DebFile {
    /// Raw member name as written into data.tar (e.g. `./usr/bin/x`).
    pub name: String,
    pub kind: TarKind,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub data: Vec<u8>,
}

pub fn dir(name: &str) -> DebFile {
    DebFile { name: name.into(), kind: TarKind::Dir, mode: 0o755, uid: 0, gid: 0, data: vec![] }
}
pub fn file(name: &str, data: &[u8], mode: u32) -> DebFile {
    DebFile {
        name: name.into(),
        kind: TarKind::File { size: data.len() as u64 },
        mode,
        uid: 0,
        gid: 0,
        data: data.to_vec(),
    }
}
pub fn symlink(name: &str, target: &str) -> DebFile {
    DebFile { name: name.into(), kind: TarKind::Symlink(target.into()), mode: 0o777, uid: 0, gid: 0, data: vec![] }
}
pub fn hardlink(name: &str, target: &str) -> DebFile {
    DebFile { name: name.into(), kind: TarKind::Hardlink(target.into()), mode: 0o755, uid: 0, gid: 0, data: vec![] }
}

#[derive(Clone, Copy, Debug)]
pub enum Comp {
    Gz,
    Xz,
    Zst,
    None,
}

impl Comp {
    fn ext(self) -> &'static str {
        match self {
            Comp::Gz => ".gz",
            Comp::Xz => ".xz",
            Comp::Zst => ".zst",
            Comp::None => "",
        }
    }
    pub fn compress(self, data: &[u8]) -> Vec<u8> {
        match self {
            Comp::Gz => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(data).unwrap();
                e.finish().unwrap()
            }
            Comp::Xz => {
                let mut e = liblzma::write::XzEncoder::new(Vec::new(), 6);
                e.write_all(data).unwrap();
                e.finish().unwrap()
            }
            Comp::Zst => zstd::encode_all(data, 3).unwrap(),
            Comp::None => data.to_vec(),
        }
    }
}

pub fn tar_of(files: &[DebFile]) -> Vec<u8> {
    let mut w = TarWriter::new(Vec::new());
    for f in files {
        // TarWriter appends `/` to directories itself; hand it the bare name.
        let h = TarHeader {
            path: f.name.trim_end_matches('/').to_string(),
            kind: f.kind.clone(),
            mode: f.mode,
            uid: f.uid,
            gid: f.gid,
            mtime: 1_700_000_000,
        };
        if f.data.is_empty() {
            w.append(&h, None).unwrap();
        } else {
            w.append(&h, Some(&mut &f.data[..])).unwrap();
        }
    }
    w.finish().unwrap()
}

pub struct DebSpec<'a> {
    pub package: &'a str,
    pub version: &'a str,
    pub arch: &'a str,
    pub files: Vec<DebFile>,
    pub md5sums: Option<&'a str>,
    pub control_comp: Comp,
    pub data_comp: Comp,
}

pub fn control_text(package: &str, version: &str, arch: &str) -> String {
    format!("Package: {package}\nVersion: {version}\nArchitecture: {arch}\nMaintainer: Test <t@example.invalid>\nDescription: test package\n")
}

pub fn build_deb(spec: &DebSpec) -> Vec<u8> {
    let control = control_text(spec.package, spec.version, spec.arch);
    let mut cfiles = vec![dir("./"), file("./control", control.as_bytes(), 0o644)];
    if let Some(m) = spec.md5sums {
        cfiles.push(file("./md5sums", m.as_bytes(), 0o644));
    }
    let control_tar = spec.control_comp.compress(&tar_of(&cfiles));
    let data_tar = spec.data_comp.compress(&tar_of(&spec.files));
    let mut out = Vec::new();
    {
        let mut ar = ar::Builder::new(&mut out);
        for (name, data) in [
            ("debian-binary".to_string(), b"2.0\n".to_vec()),
            (format!("control.tar{}", spec.control_comp.ext()), control_tar),
            (format!("data.tar{}", spec.data_comp.ext()), data_tar),
        ] {
            let mut h = ar::Header::new(name.into_bytes(), data.len() as u64);
            h.set_mode(0o644);
            ar.append(&h, &data[..]).unwrap();
        }
    }
    out
}

/// A simple package with the given files (gz control, xz data).
pub fn simple_deb(package: &str, version: &str, arch: &str, files: Vec<DebFile>) -> Vec<u8> {
    build_deb(&DebSpec {
        package,
        version,
        arch,
        files,
        md5sums: Some("d41d8cd98f00b204e9800998ecf8427e  usr/share/doc/x\n"),
        control_comp: Comp::Gz,
        data_comp: Comp::Xz,
    })
}

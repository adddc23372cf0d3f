//! Reads what the dynamic loader needs from an ELF file: its machine and type, program
//! interpreter, DT_NEEDED/RPATH/RUNPATH/SONAME and GNU symbol-version needs and definitions.
//! Parsing never panics: a malformed file is an [`ElfError`] the caller turns into a warning.

use object::elf;
use object::read::elf::{Dyn, FileHeader, ProgramHeader};
use object::{Endianness, StringTable};

/// `\x7fELF`, the first four bytes of every ELF file.
pub const ELF_MAGIC: &[u8; 4] = b"\x7fELF";

#[derive(Debug, thiserror::Error)]
pub enum ElfError {
    #[error("{0}")]
    Parse(#[from] object::read::Error),
    #[error("unknown ELF class {0}")]
    Class(u8),
}

/// One version an object requires from one of its needed libraries (`SHT_GNU_verneed`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionNeed {
    /// The needed library, as named in DT_NEEDED (`libc.so.6`).
    pub file: String,
    /// The version name (`GLIBC_2.34`).
    pub name: String,
    /// A weak need: the loader only warns when it is missing, so neither do we report it.
    pub weak: bool,
}

/// What the dynamic loader would look at in one ELF file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ElfInfo {
    pub machine: u16,
    pub e_type: u16,
    /// `e_ident[EI_CLASS]`: `ELFCLASS32` or `ELFCLASS64`.
    pub class: u8,
    /// `e_flags`: the float ABI of ARM and RISC-V objects lives here.
    pub flags: u32,
    pub interpreter: Option<String>,
    pub soname: Option<String>,
    pub needed: Vec<String>,
    /// DT_RPATH entries; the loader ignores them when DT_RUNPATH is present.
    pub rpath: Vec<String>,
    /// DT_RUNPATH entries, `None` when the file has no DT_RUNPATH at all.
    pub runpath: Option<Vec<String>>,
    pub version_needs: Vec<VersionNeed>,
    /// Names of the versions this file defines, `None` when it has no `SHT_GNU_verdef`
    /// (the loader then accepts any version need against it, with a warning).
    pub version_defs: Option<Vec<String>>,
}

impl ElfInfo {
    /// A program the kernel starts: a fixed-address executable, or a position-independent
    /// one with an interpreter (shared libraries have none, except libc itself).
    pub fn is_program(&self) -> bool {
        self.e_type == elf::ET_EXEC || (self.e_type == elf::ET_DYN && self.interpreter.is_some())
    }

    /// An object file for the linker, never loaded at run time.
    pub fn is_relocatable(&self) -> bool {
        self.e_type == elf::ET_REL
    }
}

/// Whether `data` starts like an ELF file.
pub fn is_elf(data: &[u8]) -> bool {
    data.starts_with(ELF_MAGIC)
}

/// Parses the loader-relevant parts of the ELF file `data`.
pub fn parse(data: &[u8]) -> Result<ElfInfo, ElfError> {
    // e_ident[EI_CLASS]: the header layout depends on it.
    match data.get(4).copied() {
        Some(elf::ELFCLASS64) => parse_as::<elf::FileHeader64<Endianness>>(data),
        Some(elf::ELFCLASS32) => parse_as::<elf::FileHeader32<Endianness>>(data),
        other => Err(ElfError::Class(other.unwrap_or(0))),
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Splits a DT_RPATH/DT_RUNPATH value; empty entries mean the current directory to the
/// loader, which is never what an image wants and is skipped.
fn path_list(bytes: &[u8]) -> Vec<String> {
    text(bytes).split(':').filter(|s| !s.is_empty()).map(str::to_string).collect()
}

fn parse_as<H: FileHeader<Endian = Endianness>>(data: &[u8]) -> Result<ElfInfo, ElfError> {
    let header = H::parse(data)?;
    let endian = header.endian()?;
    let mut info = ElfInfo {
        machine: header.e_machine(endian),
        e_type: header.e_type(endian),
        class: if header.is_class_64() { elf::ELFCLASS64 } else { elf::ELFCLASS32 },
        flags: header.e_flags(endian),
        ..ElfInfo::default()
    };
    if info.is_relocatable() {
        return Ok(info);
    }
    for ph in header.program_headers(endian, data)? {
        if let Some(interp) = ph.interpreter(endian, data)? {
            info.interpreter = Some(text(interp));
        }
    }
    let sections = header.sections(endian, data)?;
    // Files stripped of their section headers lose DT_NEEDED's string table as far as this
    // reader goes; they are checked for their interpreter only.
    if let Some((dyns, link)) = sections.dynamic(endian, data)? {
        let strings = sections.strings(endian, data, link)?;
        for d in dyns {
            let Some(tag) = d.tag32(endian) else { continue };
            if tag == elf::DT_NULL {
                break;
            }
            if !d.is_string(endian) {
                continue;
            }
            let value = d.string(endian, strings)?;
            match tag {
                elf::DT_NEEDED => info.needed.push(text(value)),
                elf::DT_SONAME => info.soname = Some(text(value)),
                elf::DT_RPATH => info.rpath.extend(path_list(value)),
                elf::DT_RUNPATH => info.runpath.get_or_insert_with(Vec::new).extend(path_list(value)),
                _ => {}
            }
        }
    }
    if let Some((mut needs, link)) = sections.gnu_verneed(endian, data)? {
        let strings: StringTable<'_> = sections.strings(endian, data, link)?;
        while let Some((need, mut auxes)) = needs.next()? {
            let file = text(need.file(endian, strings)?);
            while let Some(aux) = auxes.next()? {
                info.version_needs.push(VersionNeed {
                    file: file.clone(),
                    name: text(aux.name(endian, strings)?),
                    weak: aux.vna_flags.get(endian) & elf::VER_FLG_WEAK != 0,
                });
            }
        }
    }
    if let Some((mut defs, link)) = sections.gnu_verdef(endian, data)? {
        let strings: StringTable<'_> = sections.strings(endian, data, link)?;
        let names = info.version_defs.get_or_insert_with(Vec::new);
        while let Some((_, mut auxes)) = defs.next()? {
            // The first auxiliary entry names the version; later ones name its parents.
            if let Some(aux) = auxes.next()? {
                names.push(text(aux.name(endian, strings)?));
            }
        }
    }
    Ok(info)
}

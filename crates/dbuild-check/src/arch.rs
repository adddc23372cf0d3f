//! What the image config's `architecture` means for ELF files: the machine number every
//! loadable file must carry and the Debian multiarch triplet of the library directories.

use object::elf;

/// The target of an image, as far as the dynamic loader is concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arch {
    /// The config's `architecture` (`amd64`), for messages.
    pub name: String,
    /// `e_machine` of this architecture; `None` for one this crate does not know, in which
    /// case files of every machine are checked.
    pub machine: Option<u16>,
    /// Debian multiarch triplet (`x86_64-linux-gnu`).
    pub triplet: Option<&'static str>,
    /// glibc's own default directories on x86-64 are `/lib64` and `/usr/lib64`.
    pub lib64: bool,
    /// s390x is the one big-endian architecture among these: its ld.so.cache is written so.
    pub big_endian: bool,
}

impl Arch {
    pub fn from_config(architecture: &str) -> Arch {
        let (machine, triplet) = match architecture {
            "amd64" => (Some(elf::EM_X86_64), Some("x86_64-linux-gnu")),
            "arm64" => (Some(elf::EM_AARCH64), Some("aarch64-linux-gnu")),
            "386" => (Some(elf::EM_386), Some("i386-linux-gnu")),
            "arm" => (Some(elf::EM_ARM), Some("arm-linux-gnueabihf")),
            "ppc64le" => (Some(elf::EM_PPC64), Some("powerpc64le-linux-gnu")),
            "s390x" => (Some(elf::EM_S390), Some("s390x-linux-gnu")),
            "riscv64" => (Some(elf::EM_RISCV), Some("riscv64-linux-gnu")),
            _ => (None, None),
        };
        Arch {
            name: architecture.to_string(),
            machine,
            triplet,
            lib64: architecture == "amd64",
            big_endian: architecture == "s390x",
        }
    }

    /// Whether a file of machine `machine` can be loaded on this architecture.
    pub fn accepts(&self, machine: u16) -> bool {
        self.machine.is_none_or(|m| m == machine)
    }
}

//! Dynamic linking as the loader would do it when each program of the image starts: the
//! program interpreter must exist, every DT_NEEDED library must be found on the search path,
//! and every symbol version a file requires from a library must be defined by it.
//!
//! Only programs and the libraries they load (transitively) are checked: a library nothing
//! loads at startup is a plugin for `dlopen`, whose optional dependencies are often absent
//! on purpose.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::rc::Rc;

use dbuild_core::fs_tree::{FsKind, ImageFs};

use crate::arch::Arch;
use crate::elf::{self, ElfInfo};
use crate::hints::hint_for;
use crate::report::Finding;
use crate::search_path::SearchPath;

/// Debug symbols (`usr/lib/debug/.build-id/...`) are ELF files nothing ever loads.
const DEBUG_DIR: &str = "usr/lib/debug/";

/// The ELF files of an image, parsed once, and the library lookups done so far.
struct Linker<'a> {
    fs: &'a ImageFs,
    arch: &'a Arch,
    search: &'a SearchPath,
    /// Parsed ELF files by image path; files of another machine are left out, so the
    /// search skips them as the loader does.
    objects: HashMap<String, Rc<ElfInfo>>,
    /// Files of another machine, which the search must pass over.
    foreign: HashSet<String>,
    /// `dir/name` -> the regular file it resolves to, if any: images with thousands of
    /// programs ask for the same few libraries in the same few directories.
    lookups: HashMap<String, Option<String>>,
    findings: Vec<Finding>,
    reported: BTreeSet<(Option<String>, String)>,
}

fn shown(path: &str) -> String {
    format!("/{}", path.trim_start_matches('/'))
}

fn parent(path: &str) -> &str {
    path.rsplit_once('/').map(|(p, _)| p).unwrap_or("")
}

fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Orders `GLIBC_2.9` before `GLIBC_2.34` by comparing the numbers, not the text.
fn glibc_version(name: &str) -> Option<Vec<u64>> {
    name.strip_prefix("GLIBC_")?.split('.').map(|n| n.parse().ok()).collect()
}

/// Appends the findings about the dynamic linking of every program of `fs` to `findings`.
pub fn check_linking(fs: &ImageFs, arch: &Arch, search: &SearchPath, findings: &mut Vec<Finding>) {
    let mut linker = Linker {
        fs,
        arch,
        search,
        objects: HashMap::new(),
        foreign: HashSet::new(),
        lookups: HashMap::new(),
        findings: Vec::new(),
        reported: BTreeSet::new(),
    };
    let programs = linker.collect();
    for path in programs {
        linker.check_program(&path);
    }
    findings.append(&mut linker.findings);
}

impl Linker<'_> {
    fn report(&mut self, finding: Finding) {
        if self.reported.insert((finding.path.clone(), finding.message.clone())) {
            self.findings.push(finding);
        }
    }

    /// Parses every kept ELF file and returns the programs, sorted by path.
    fn collect(&mut self) -> Vec<String> {
        let mut programs = Vec::new();
        for (path, entry) in self.fs.entries() {
            let FsKind::File { data: Some(data), .. } = &entry.kind else { continue };
            if !elf::is_elf(data) || path.starts_with(DEBUG_DIR) {
                continue;
            }
            let info = match elf::parse(data) {
                Ok(info) => info,
                Err(e) => {
                    self.report(Finding::warning(
                        Some(shown(path)),
                        format!("{} is not a valid ELF file ({e}); it was not checked", shown(path)),
                    ));
                    continue;
                }
            };
            if info.is_relocatable() {
                continue;
            }
            if !self.arch.accepts(info.machine) {
                self.foreign.insert(path.to_string());
                self.report(Finding::warning(
                    Some(shown(path)),
                    format!(
                        "{} is an ELF file for machine {}, not for this image's architecture {}; it was not checked",
                        shown(path),
                        info.machine,
                        self.arch.name
                    ),
                ));
                continue;
            }
            if info.is_program() {
                programs.push(path.to_string());
            }
            self.objects.insert(path.to_string(), Rc::new(info));
        }
        programs
    }

    /// The regular file `dir/name` resolves to, unless it is for another machine.
    fn lookup(&mut self, dir: &str, name: &str) -> Option<String> {
        let key = if dir.is_empty() { name.to_string() } else { format!("{dir}/{name}") };
        if let Some(found) = self.lookups.get(&key) {
            return found.clone();
        }
        let found = match self.fs.resolve(&key) {
            Some((real, entry)) if matches!(entry.kind, FsKind::File { .. }) && !self.foreign.contains(&real) => {
                Some(real)
            }
            _ => None,
        };
        self.lookups.insert(key, found.clone());
        found
    }

    /// Loads `program` as the loader would, breadth first, reporting what is missing.
    fn check_program(&mut self, program: &str) {
        let Some(info) = self.objects.get(program) else { return };
        // Libraries already loaded, by DT_NEEDED name and by soname: the loader reuses them
        // without searching again, wherever they came from.
        let mut loaded: HashMap<String, String> = HashMap::new();
        if let Some(interp) = info.interpreter.clone() {
            let found = match self.fs.resolve(&interp) {
                Some((real, entry)) if matches!(entry.kind, FsKind::File { .. }) => Some(real),
                _ => None,
            };
            let Some(real) = found else {
                let libc = hint_for(base_name(&interp)).is_some_and(|h| h.package == "libc6");
                let why = if libc {
                    " (a dynamically linked program on an image without libc: use base or later)"
                } else {
                    ""
                };
                self.report(Finding::error(
                    Some(shown(program)),
                    format!("{} needs the program interpreter {interp}, which this image lacks{why}", shown(program)),
                ));
                // Without its interpreter the program cannot start: the libraries it would
                // load next add nothing but noise.
                return;
            };
            loaded.insert(base_name(&interp).to_string(), real.clone());
            if let Some(soname) = self.objects.get(&real).and_then(|i| i.soname.clone()) {
                loaded.insert(soname, real);
            }
        }
        let mut queue: Vec<(String, Vec<String>)> = vec![(program.to_string(), Vec::new())];
        let mut visited: HashSet<String> = HashSet::from([program.to_string()]);
        let mut next = 0;
        while let Some((object, inherited)) = queue.get(next).cloned() {
            next += 1;
            let Some(info) = self.objects.get(&object).cloned() else { continue };
            let origin = parent(&object).to_string();
            let mut passed_on = inherited.clone();
            if info.runpath.is_none() {
                passed_on.extend(self.search.rpath_of(&info, &origin));
            }
            let mut dirs: Option<Vec<String>> = None;
            for name in &info.needed {
                let found = match loaded.get(name) {
                    Some(path) => Some(path.clone()),
                    None => {
                        let dirs = dirs.get_or_insert_with(|| self.search.dirs_for(&info, &origin, &inherited)).clone();
                        dirs.iter().find_map(|dir| self.lookup(dir, name))
                    }
                };
                let Some(lib) = found else {
                    self.report_missing(&object, name);
                    continue;
                };
                loaded.insert(name.clone(), lib.clone());
                if let Some(soname) = self.objects.get(&lib).and_then(|i| i.soname.clone()) {
                    loaded.entry(soname).or_insert_with(|| lib.clone());
                }
                self.check_versions(&object, &info, name, &lib);
                if visited.insert(lib.clone()) {
                    queue.push((lib, passed_on.clone()));
                }
            }
        }
    }

    fn report_missing(&mut self, object: &str, name: &str) {
        let hint = match hint_for(name) {
            Some(h) => format!("; it is in package {}, part of the {} image", h.package, h.image),
            None => String::new(),
        };
        self.report(Finding::error(
            Some(shown(object)),
            format!("{} needs {name}, which this image lacks{hint}", shown(object)),
        ));
    }

    /// Every version `info` (at `object`) requires from its needed library `name`, found
    /// at `lib`, must be one `lib` defines. Versions are compared by name: the loader also
    /// compares the ELF hash, but a name match with a hash mismatch does not occur in
    /// practice, and names are what the message can show.
    fn check_versions(&mut self, object: &str, info: &ElfInfo, name: &str, lib: &str) {
        let Some(lib_info) = self.objects.get(lib).cloned() else { return };
        let Some(defs) = &lib_info.version_defs else { return };
        for need in info.version_needs.iter().filter(|n| n.file == name && !n.weak) {
            if defs.contains(&need.name) {
                continue;
            }
            let newest = glibc_version(&need.name)
                .and(defs.iter().filter_map(|d| glibc_version(d).map(|v| (v, d))).max().map(|(_, d)| d.clone()));
            let message = match newest {
                Some(newest) => format!(
                    "{} requires {} from {name}, but this image's {name} provides at most {newest}",
                    shown(object),
                    need.name
                ),
                None => format!(
                    "{} requires {} from {name}, which this image's {name} does not provide",
                    shown(object),
                    need.name
                ),
            };
            self.report(Finding::error(Some(shown(object)), message));
        }
    }
}

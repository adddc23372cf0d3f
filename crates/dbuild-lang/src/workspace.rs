//! Finding the workspace, its packages and its source files.
//!
//! The root is the nearest directory upward holding `WORKSPACE.star`; a package is a directory
//! holding `BUILD.star`. A subdirectory with its own `WORKSPACE.star` is another workspace:
//! package walks and globs stop there, as they do at `dbuild-out` and dot-directories.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use dbuild_core::Repo;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use starlark::environment::{FrozenModule, Module};
use starlark::eval::Evaluator;

use crate::context::{apply_limits, EvalContext, Printer};
use crate::errors::LangError;
use crate::loader::STDLIB_REPO;
use crate::package::PackageId;
use crate::reads::{self, ReadLog};
use crate::repository::{self, EmbeddedRepository};
use crate::{dialect, globals};

pub(crate) const WORKSPACE_FILE: &str = "WORKSPACE.star";
pub(crate) const BUILD_FILE: &str = "BUILD.star";
pub(crate) const OUTPUT_DIR: &str = "dbuild-out";

/// What WORKSPACE.star declared.
#[derive(Clone, Debug, Default)]
pub struct WorkspaceInfo {
    /// `workspace(name = "...")`; `"dbuild"` makes `@dbuild//…` this repository.
    pub name: Option<String>,
    /// What the domains' WORKSPACE.star functions declared (`debian_archive(...)`), by type:
    /// see [`declare_in_workspace`](crate::declare_in_workspace).
    pub declarations: crate::extension::TypeMap,
}

/// A discovered workspace with its evaluated WORKSPACE.star and its cache of loaded modules.
pub struct Workspace {
    root: PathBuf,
    info: WorkspaceInfo,
    /// Kept so later declarations (archives, ...) can be read back from the module.
    #[allow(dead_code)]
    module: FrozenModule,
    messages: Vec<String>,
    /// Frozen `.star` modules by canonical label, shared by every evaluation in this workspace.
    pub(crate) modules: Mutex<HashMap<String, FrozenModule>>,
    /// Each evaluated module's key (see `loader::module_key`), by canonical label.
    pub(crate) module_keys: Mutex<HashMap<String, [u8; 32]>>,
    /// `print()` output of `.star` modules at load time, drained by the next analysis.
    pub(crate) load_messages: Mutex<Vec<String>>,
    /// The providers this workspace's modules export, by module and name (see `memo.rs`).
    pub(crate) provider_keys: Arc<crate::provider::ProviderKeys>,
    /// The embedded `@dbuild` repository, or why its WORKSPACE.star did not evaluate.
    embedded: OnceLock<Result<EmbeddedRepository, String>>,
    /// Everything loading learned from the file system, for the analysis cache.
    pub(crate) reads: Arc<ReadLog>,
}

impl std::fmt::Debug for Workspace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workspace").field("root", &self.root).field("info", &self.info).finish()
    }
}

/// `external/` of the main workspace is where other repositories' outputs go
/// (`dbuild-out/external/dbuild/...`), so no package of the main workspace may live there, as
/// in Bazel: its outputs could collide with theirs.
pub(crate) fn check_not_reserved(id: &PackageId) -> Result<(), LangError> {
    if id.repo == Repo::Main && (id.name == "external" || id.name.starts_with("external/")) {
        return Err(LangError::NotFound(format!(
            "{id}: a package may not live under external/, which dbuild-out/ keeps for other repositories' outputs \
             (as Bazel does); rename the directory"
        )));
    }
    Ok(())
}

/// Evaluates a WORKSPACE.star (`display` names it in errors, `print_prefix` in its `print()`
/// lines) into its declarations, the frozen module that keeps them alive, and its output.
pub(crate) fn eval_workspace_file(
    source: String,
    display: &str,
    print_prefix: &str,
) -> Result<(WorkspaceInfo, FrozenModule, Vec<String>), LangError> {
    let what = format!("in {display}");
    let printer = Printer::new(print_prefix);
    let context = EvalContext::Workspace(RefCell::new(WorkspaceInfo::default()));
    let module = crate::context::no_panic(&what, || {
        Module::with_temp_heap(|module| -> Result<FrozenModule, LangError> {
            let ast = LangError::parse(display, source, &dialect::workspace_file(), &what)?;
            {
                let mut eval = Evaluator::new(&module);
                apply_limits(&mut eval);
                eval.set_print_handler(&printer);
                eval.extra = Some(&context);
                eval.eval_module(ast, globals::globals()).map_err(|e| LangError::starlark(&what, &e))?;
            }
            module.freeze().map_err(|e| LangError::Analysis(format!("cannot freeze {display}: {e:?}")))
        })
    })?;
    let info = match context {
        EvalContext::Workspace(info) => info.into_inner(),
        _ => WorkspaceInfo::default(),
    };
    Ok((info, module, printer.take()))
}

fn is_skipped_dir_name(name: &str) -> bool {
    name.starts_with('.') || name == OUTPUT_DIR
}

impl Workspace {
    /// Finds the workspace containing `cwd` and evaluates its WORKSPACE.star.
    pub fn discover(cwd: &Path) -> Result<Workspace, LangError> {
        let cwd = cwd.canonicalize().map_err(|e| LangError::io(cwd, &e))?;
        match Workspace::find_root(&cwd) {
            Some(root) => Workspace::open(&root),
            None => Err(LangError::NoWorkspace(cwd)),
        }
    }

    /// The root of the workspace containing `cwd`, canonical, without reading WORKSPACE.star.
    pub fn locate(cwd: &Path) -> Result<PathBuf, LangError> {
        let cwd = cwd.canonicalize().map_err(|e| LangError::io(cwd, &e))?;
        let root = Workspace::find_root(&cwd).ok_or(LangError::NoWorkspace(cwd))?;
        root.canonicalize().map_err(|e| LangError::io(&root, &e))
    }

    /// The nearest directory at or above `dir` that holds WORKSPACE.star, without reading it.
    pub fn find_root(dir: &Path) -> Option<PathBuf> {
        dir.ancestors().find(|d| d.join(WORKSPACE_FILE).is_file()).map(Path::to_path_buf)
    }

    /// Opens the workspace rooted at `root` (which must hold WORKSPACE.star).
    pub fn open(root: &Path) -> Result<Workspace, LangError> {
        let _span = tracing::info_span!("workspace", root = %root.display()).entered();
        let root = root.canonicalize().map_err(|e| LangError::io(root, &e))?;
        let path = root.join(WORKSPACE_FILE);
        let reads = Arc::new(ReadLog::default());
        let source = read_recorded(&reads, &path).map_err(|e| LangError::io(&path, &e))?;
        let (info, module, messages) = eval_workspace_file(source, WORKSPACE_FILE, &format!("//:{WORKSPACE_FILE}"))?;
        Ok(Workspace {
            reads,
            root,
            info,
            module,
            messages,
            modules: Mutex::new(HashMap::new()),
            module_keys: Mutex::new(HashMap::new()),
            load_messages: Mutex::new(Vec::new()),
            provider_keys: Arc::default(),
            embedded: OnceLock::new(),
        })
    }

    /// The embedded `@dbuild` repository (its archives and default toolchains), evaluated on
    /// first use; `None` when this workspace is named `dbuild` and so is that repository.
    pub fn embedded(&self) -> Result<Option<&EmbeddedRepository>, LangError> {
        if self.info.name.as_deref() == Some(STDLIB_REPO) {
            return Ok(None);
        }
        match self.embedded.get_or_init(|| EmbeddedRepository::evaluate().map_err(|e| e.to_string())) {
            Ok(r) => Ok(Some(r)),
            Err(e) => Err(LangError::Analysis(format!("the embedded @{STDLIB_REPO} repository: {e}"))),
        }
    }

    /// Whether `id` is a package: of this workspace, or of the embedded repository.
    pub(crate) fn has_package(&self, id: &PackageId) -> Result<bool, LangError> {
        match &id.repo {
            Repo::Main => {
                check_not_reserved(id)?;
                Ok(self.is_package(&id.name))
            }
            Repo::Named(r) if r == STDLIB_REPO => Ok(self.embedded()?.is_some_and(|e| e.is_package(&id.name))),
            Repo::Named(r) => {
                Err(LangError::NotFound(format!("unknown repository '@{r}' in {id} (only @{STDLIB_REPO} is known)")))
            }
        }
    }

    /// The text of the BUILD file of `id`, which [`Self::has_package`] said exists.
    pub(crate) fn build_file(&self, id: &PackageId) -> Result<String, LangError> {
        if id.repo == Repo::Main {
            let path = self.dir_of(&id.name).join(BUILD_FILE);
            return self.read_recorded(&path).map_err(|e| LangError::io(&path, &e));
        }
        let path = if id.name.is_empty() { BUILD_FILE.to_owned() } else { format!("{}/{BUILD_FILE}", id.name) };
        repository::file(&path).map(str::to_owned).ok_or_else(|| LangError::NotFound(format!("no such package '{id}'")))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Reads a file loading depends on, recording it for the analysis cache: whoever hands
    /// analysis what a file says (a domain reading its lock, say) reads it through here, so an
    /// edit makes the next run analyze again.
    pub fn read_recorded(&self, path: &Path) -> std::io::Result<String> {
        read_recorded(&self.reads, path)
    }

    pub fn info(&self) -> &WorkspaceInfo {
        &self.info
    }

    /// `print()` output of WORKSPACE.star.
    pub fn messages(&self) -> &[String] {
        &self.messages
    }

    /// The package path of `cwd` relative to the root (`""` at the root), used to resolve
    /// relative command-line patterns such as `:name` or `...`.
    pub fn current_package(&self, cwd: &Path) -> String {
        package_of(&self.root, cwd)
    }

    pub(crate) fn dir_of(&self, package: &str) -> PathBuf {
        if package.is_empty() {
            self.root.clone()
        } else {
            self.root.join(package)
        }
    }

    /// Whether `package` is a package of this workspace (not hidden behind a nested workspace,
    /// a dot-directory or the output tree).
    pub(crate) fn is_package(&self, package: &str) -> bool {
        if !package.is_empty() {
            let mut dir = self.root.clone();
            for comp in package.split('/') {
                if is_skipped_dir_name(comp) {
                    return false;
                }
                dir.push(comp);
                self.reads.dir(&dir);
                if dir.join(WORKSPACE_FILE).exists() {
                    return false;
                }
            }
        }
        let dir = self.dir_of(package);
        self.reads.dir(&dir);
        dir.join(BUILD_FILE).is_file()
    }

    /// Every package at or below `prefix`, sorted, stopping at nested workspaces.
    pub(crate) fn packages_under(&self, prefix: &str) -> Vec<String> {
        let start = self.dir_of(prefix);
        if let Some(parent) = start.parent().filter(|_| !prefix.is_empty()) {
            self.reads.dir(parent);
        }
        if !prefix.is_empty() && !start.is_dir() {
            return Vec::new();
        }
        if !prefix.is_empty() && !self.is_package(prefix) && !self.is_reachable_dir(prefix) {
            return Vec::new();
        }
        let mut out = Vec::new();
        self.reads.dir(&start);
        let walker = walkdir::WalkDir::new(&start).sort_by_file_name().into_iter().filter_entry(|e| {
            if e.depth() == 0 {
                return true;
            }
            if !e.file_type().is_dir() {
                return false;
            }
            let name = e.file_name().to_string_lossy();
            if is_skipped_dir_name(&name) {
                return false;
            }
            self.reads.dir(e.path());
            !e.path().join(WORKSPACE_FILE).exists()
        });
        for entry in walker.flatten() {
            if !entry.path().join(BUILD_FILE).is_file() {
                continue;
            }
            let Ok(rel) = entry.path().strip_prefix(&self.root) else { continue };
            let pkg =
                rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect::<Vec<_>>().join("/");
            if dbuild_core::label::validate_package(&pkg, &pkg).is_ok() {
                out.push(pkg);
            }
        }
        out
    }

    fn is_reachable_dir(&self, dir: &str) -> bool {
        let mut path = self.root.clone();
        for comp in dir.split('/') {
            if is_skipped_dir_name(comp) {
                return false;
            }
            path.push(comp);
            self.reads.dir(&path);
            if path.join(WORKSPACE_FILE).exists() {
                return false;
            }
        }
        true
    }

    /// Whether `name` is a source file of `package`: it exists, does not cross into a
    /// sub-package, nested workspace, dot-directory or `dbuild-out` on the way, and (through
    /// any symlinks) stays inside the workspace, so an action never reads a host file.
    pub(crate) fn is_source_file(&self, package: &str, name: &str) -> bool {
        self.source_file(package, name).is_ok()
    }

    /// Like [`Self::is_source_file`], but says why not: `Err(None)` when nothing is there,
    /// `Err(Some(reason))` when something is that cannot be a source ("is a FIFO").
    pub(crate) fn source_file(&self, package: &str, name: &str) -> Result<(), Option<String>> {
        let verdict = source_verdict(&self.root, package, name);
        self.reads.source(package, name, &verdict);
        verdict
    }

    /// Whether some `.star` module this workspace loaded is a BUILD file.
    pub(crate) fn loads_a_build_file(&self) -> bool {
        // Labels: `//pkg:BUILD.star` or `//pkg:sub/BUILD.star`.
        let (in_package, below) = (format!(":{BUILD_FILE}"), format!("/{BUILD_FILE}"));
        dbuild_core::sync::lock(&self.modules).keys().any(|k| k.ends_with(&in_package) || k.ends_with(&below))
    }

    /// Every file loading has read so far, with its blake3 (see `reads.rs`).
    pub(crate) fn read_files(&self) -> Vec<(Vec<u8>, [u8; 32])> {
        self.reads.files()
    }

    /// The file-system observations loading made so far (see `reads.rs`).
    pub(crate) fn observations(&self) -> Vec<reads::Observation> {
        self.reads.observations()
    }
}

fn read_recorded(reads: &ReadLog, path: &Path) -> std::io::Result<String> {
    reads.read(path)
}

/// [`Workspace::current_package`], from the workspace's (canonical) root alone.
pub fn package_of(root: &Path, cwd: &Path) -> String {
    let cwd = cwd.canonicalize().unwrap_or_else(|_| cwd.to_path_buf());
    match cwd.strip_prefix(root) {
        Ok(rel) => rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect::<Vec<_>>().join("/"),
        Err(_) => String::new(),
    }
}

/// [`Workspace::source_file`]'s verdict, from the file system alone (so the analysis cache can
/// recompute it).
pub(crate) fn source_verdict(root: &Path, package: &str, name: &str) -> Result<(), Option<String>> {
    let mut dir = if package.is_empty() { root.to_path_buf() } else { root.join(package) };
    let comps: Vec<&str> = name.split('/').collect();
    for comp in &comps[..comps.len() - 1] {
        dir.push(comp);
        if is_skipped_dir_name(comp) || dir.join(BUILD_FILE).exists() || dir.join(WORKSPACE_FILE).exists() {
            return Err(None);
        }
    }
    dir.push(comps[comps.len() - 1]);
    let meta = match std::fs::metadata(&dir) {
        Ok(m) => m,
        // ELOOP: the name resolves through symlinks that point at each other.
        Err(e) if e.raw_os_error() == Some(40) => return Err(Some("is a symlink loop".into())),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            return Err(Some("cannot be read (permission denied)".into()))
        }
        Err(_) if std::fs::symlink_metadata(&dir).is_ok() => {
            return Err(Some("is a symlink to something that does not exist".into()))
        }
        Err(_) => return Err(None),
    };
    // Leaving the workspace is the first thing to say about a link to /dev/null or /srv.
    if !resolves_inside(root, &dir) {
        return Err(Some("points outside the workspace".into()));
    }
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    let kind = if t.is_file() {
        None
    } else if t.is_dir() {
        Some("is a directory (name files, or use glob())")
    } else if t.is_fifo() {
        Some("is a FIFO")
    } else if t.is_socket() {
        Some("is a socket")
    } else if t.is_block_device() || t.is_char_device() {
        Some("is a device")
    } else {
        Some("is not a regular file")
    };
    match kind {
        Some(kind) => Err(Some(kind.to_owned())),
        None => Ok(()),
    }
}

/// Whether `path`, with every symlink resolved, still lies under the workspace `root`.
pub(crate) fn resolves_inside(root: &Path, path: &Path) -> bool {
    match (root.canonicalize(), path.canonicalize()) {
        (Ok(root), Ok(real)) => real.starts_with(root),
        _ => false,
    }
}

/// Bazel's `glob()`: files below `package` matching `include` and not `exclude`, relative to
/// the package, sorted, never descending into sub-packages, nested workspaces, dot-directories
/// or the output tree. Takes the root so BUILD evaluation needs no `Workspace` borrow.
pub(crate) fn glob_in(
    root: &Path,
    reads: &ReadLog,
    package: &str,
    include: &[String],
    exclude: &[String],
) -> Result<Vec<String>, String> {
    let inc = glob_set(include)?;
    let exc = glob_set(exclude)?;
    let start = if package.is_empty() { root.to_path_buf() } else { root.join(package) };
    let (mut out, mut unlabelable) = (Vec::new(), Vec::new());
    reads.dir(&start);
    let walker = walkdir::WalkDir::new(&start).follow_links(false).into_iter().filter_entry(|e| {
        if e.depth() == 0 || !e.file_type().is_dir() {
            return true;
        }
        let name = e.file_name().to_string_lossy();
        if is_skipped_dir_name(&name) {
            return false;
        }
        reads.dir(e.path());
        !e.path().join(BUILD_FILE).exists() && !e.path().join(WORKSPACE_FILE).exists()
    });
    for entry in walker.flatten() {
        if entry.file_type().is_dir() {
            continue;
        }
        // Symlinks are not followed by the walk; one that matches must lead to a file inside
        // the workspace, like any other source.
        let Ok(rel) = entry.path().strip_prefix(&start) else { continue };
        let rel = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect::<Vec<_>>().join("/");
        if entry.path_is_symlink() {
            // What a link leads to is in no listing: its verdict is recorded.
            let verdict = source_verdict(root, package, &rel);
            reads.source(package, &rel, &verdict);
            if !(entry.path().is_file() && resolves_inside(root, entry.path())) {
                continue;
            }
        }
        if inc.is_match(&rel) && !exc.is_match(&rel) {
            // A name no label can spell (a newline, say, or bytes that are not UTF-8) would
            // fail the whole BUILD file later; it is left out, and said so once.
            if rel.contains(char::REPLACEMENT_CHARACTER)
                || dbuild_core::Label::new(dbuild_core::Repo::Main, package, &rel).is_err()
            {
                unlabelable.push(rel);
                continue;
            }
            out.push(rel);
        }
    }
    warn_unlabelable(package, unlabelable);
    out.sort();
    Ok(out)
}

/// Warns about files `glob` left out because their names cannot be labels, each file once
/// per process however many globs match it.
fn warn_unlabelable(package: &str, names: Vec<String>) {
    static WARNED: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());
    let mut warned = dbuild_core::sync::lock(&WARNED);
    let new: Vec<String> = names.into_iter().filter(|n| !warned.iter().any(|(p, w)| p == package && w == n)).collect();
    if new.is_empty() {
        return;
    }
    warned.extend(new.iter().map(|n| (package.to_owned(), n.clone())));
    let list = new.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ");
    tracing::warn!("glob() in //{package} leaves out files whose names cannot be labels: {list}");
}

fn glob_set(patterns: &[String]) -> Result<GlobSet, String> {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        if p.starts_with('/') || p.split('/').any(|c| c == "..") {
            return Err(format!("glob pattern {p:?} must be relative to the package and may not contain '..'"));
        }
        let g = GlobBuilder::new(p)
            .literal_separator(true)
            .build()
            .map_err(|e| format!("invalid glob pattern {p:?}: {e}"))?;
        b.add(g);
    }
    b.build().map_err(|e| e.to_string())
}

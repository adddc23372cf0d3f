//! Where the domains meet: the language extensions every workspace is evaluated with, and the
//! executors every build runs. Adding a kind of action adds one line here (see
//! docs/actions.md).

use std::sync::Arc;

use dbuild_action::ExecutorRegistry;
use dbuild_core::fs_tree::ImageFs;
use dbuild_deb::executor::DebianOptions;
use dbuild_lang::LangExtension;
use dbuild_oci::executor::ImageCheck;
use dbuild_sandbox::run::RunOptions;

static EXTENSIONS: [LangExtension; 3] =
    [dbuild_oci_rules::EXTENSION, dbuild_deb_rules::EXTENSION, dbuild_sandbox_rules::EXTENSION];

/// Installs the language extensions; call once, before the first workspace is opened.
pub fn install_language() {
    // Only a second, different set is refused, and this is the one place that installs.
    let _ = dbuild_lang::install_extensions(&EXTENSIONS);
}

/// The executors of a build; `debian` says where and whether packages are downloaded, `run`
/// how sandboxed commands are shown.
pub fn executors(debian: DebianOptions, run: RunOptions) -> ExecutorRegistry {
    let mut registry = ExecutorRegistry::with_builtins();
    dbuild_oci::executor::register(&mut registry, Some(Arc::new(RunnableImage)));
    dbuild_deb::executor::register(&mut registry, debian);
    dbuild_sbom::executor::register(&mut registry);
    dbuild_check::action::register(&mut registry);
    dbuild_sandbox::run::register(&mut registry, run);
    registry
}

/// `oci_image(check = True)`: dbuild-check's checks, the same as `dbuild check` runs.
struct RunnableImage;

impl ImageCheck for RunnableImage {
    fn keep(&self, path: &str, bytes: &[u8]) -> bool {
        dbuild_check::keep_for_check(path, bytes)
    }

    fn check(&self, fs: &ImageFs, config: &serde_json::Value) -> Vec<String> {
        dbuild_check::check_image(fs, config).errors().map(|f| f.to_string()).collect()
    }
}

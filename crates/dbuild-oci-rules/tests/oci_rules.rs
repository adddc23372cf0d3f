//! `@dbuild//rules:oci.star` analyzed into OciImage / OciIndex actions with plain specs.

use dbuild_core::Artifact;
use dbuild_lang::testing::*;
use dbuild_oci::{OciImageSpec, OciIndexSpec, OciLayoutSpec};

static EXTENSIONS: [dbuild_lang::LangExtension; 1] = [dbuild_oci_rules::EXTENSION];

fn fixture(files: &[(&str, &str)]) -> Fixture {
    dbuild_lang::install_extensions(&EXTENSIONS).unwrap();
    dbuild_lang::testing::fixture(files)
}

const BUILD: &str = r#"
load("@dbuild//rules:oci.star", "oci_image", "oci_image_index")
load("@dbuild//rules:pkg.star", "pkg_tar")

pkg_tar(name = "one", srcs = ["a.txt"])
pkg_tar(name = "two", srcs = ["b.txt"])

oci_image(
    name = "base",
    tars = [":one"],
    architecture = "amd64",
    env = {"Z": "1", "A": "2"},
    user = "65532",
    entrypoint = ["/bin/sh"],
)

oci_image(name = "app", base = ":base", tars = [":two"], cmd = ["x"])
oci_image(name = "arm", tars = [":one"], architecture = "arm64")
oci_image_index(name = "multi", images = [":app", ":arm"])
oci_image(name = "no_arch", tars = [":one"])
"#;

fn oci_fixture() -> Fixture {
    fixture(&[("img/BUILD.star", BUILD), ("img/a.txt", "a"), ("img/b.txt", "b")])
}

#[test]
fn image_actions_carry_base_layers_and_config() {
    let f = oci_fixture();
    let a = ok(&f, &["//img:app"]);
    let app = &a.graph.targets[0];
    assert_eq!(app.kind, "oci_image");
    assert_eq!(app.outputs, [Artifact::derived("img/app.manifest.json"), Artifact::derived_dir("img/app")]);
    let specs: Vec<_> = a
        .graph
        .actions
        .iter()
        .filter_map(|x| x.spec::<OciImageSpec>().ok().map(|s| (x.owner.to_string(), s, x.inputs.clone())))
        .collect();
    let (_, base, _) = specs.iter().find(|(o, ..)| o == "//img:base").unwrap();
    assert!(base.base.is_none());
    assert_eq!(
        base.config.env,
        [("Z".to_string(), "1".to_string()), ("A".to_string(), "2".to_string())],
        "dict order kept"
    );
    assert_eq!(base.config.user.as_deref(), Some("65532"));
    assert_eq!(base.config.created, 1_700_000_000);
    assert_eq!(base.layers[0].blob, Artifact::derived("img/one.tar.gz"));
    assert_eq!(base.layers[0].created_by, "dbuild //img:one");

    let (_, app_spec, inputs) = specs.iter().find(|(o, ..)| o == "//img:app").unwrap();
    let b = app_spec.base.as_ref().expect("app has a base");
    assert_eq!(b.config, Artifact::derived("img/base.config.json"));
    assert_eq!(b.layers, [Artifact::derived("img/one.tar.gz")]);
    assert_eq!(app_spec.layers[0].blob, Artifact::derived("img/two.tar.gz"));
    assert_eq!(app_spec.config.architecture, "amd64", "inherited from the base's provider");
    assert_eq!(app_spec.config.cmd, Some(vec!["x".to_string()]));
    assert_eq!(app_spec.config.entrypoint, None, "unset fields are left to the base");
    assert!(inputs.contains(&Artifact::derived("img/base.manifest.json")));
    assert_eq!(app_spec.layout_out, None, "the layout is oci_layout's, with the SBOM in it");
    let layout = a
        .graph
        .actions
        .iter()
        .filter_map(|x| x.spec::<OciLayoutSpec>().ok())
        .find(|s| s.layout_out == Artifact::derived_dir("img/app"))
        .expect("an OciLayout action writes the app's layout");
    assert_eq!(layout.top, Artifact::derived("img/app.manifest.json"));
    assert_eq!(layout.layers, [Artifact::derived("img/one.tar.gz"), Artifact::derived("img/two.tar.gz")]);
    assert_eq!(layout.referrers, [Artifact::derived("img/app.sbom.manifest.json")]);
    assert_eq!(layout.referrer_blobs, [Artifact::derived("img/app.spdx.json")]);
    // base and app both list one.tar.gz: its listing is one action, shared.
    let listings: Vec<&str> =
        a.graph.actions.iter().filter(|x| x.mnemonic == "LayerFiles").map(|x| x.outputs[0].path.as_str()).collect();
    assert_eq!(listings, ["_sbom/out/img/one.tar.gz.files.json", "_sbom/out/img/two.tar.gz.files.json"]);
    let sbom =
        a.graph.actions.iter().find(|x| x.mnemonic == "ImageSbom" && x.owner.to_string() == "//img:app").unwrap();
    assert!(
        !sbom.inputs.iter().any(|i| i.path.ends_with(".tar.gz")),
        "the SBOM reads listings, not layers: {:?}",
        sbom.inputs
    );
}

#[test]
fn index_lists_every_image_with_its_layers() {
    let f = oci_fixture();
    let a = ok(&f, &["//img:multi"]);
    let spec = a.graph.actions.iter().find_map(|x| x.spec::<OciIndexSpec>().ok()).unwrap();
    assert_eq!(spec.images.len(), 2);
    assert_eq!(spec.images[0].manifest, Artifact::derived("img/app.manifest.json"));
    assert_eq!(spec.images[0].layers.len(), 2, "the app's layers include its base's");
    assert_eq!(spec.images[1].manifest, Artifact::derived("img/arm.manifest.json"));
    assert_eq!(a.graph.targets[0].outputs[0], Artifact::derived("img/multi.index.json"));
}

#[test]
fn an_image_without_base_or_architecture_is_an_error() {
    let f = oci_fixture();
    let e = err(&f, &["//img:no_arch"]);
    assert!(e.contains("//img:no_arch") && e.contains("architecture"), "{e}");
}

#[test]
fn an_image_cannot_change_its_base_platform() {
    let f = fixture(&[
        (
            "img/BUILD.star",
            &format!("{BUILD}\noci_image(name = \"flip\", base = \":base\", architecture = \"arm64\")\n"),
        ),
        ("img/a.txt", "a"),
        ("img/b.txt", "b"),
    ]);
    let e = err(&f, &["//img:flip"]);
    assert!(e.contains("//img:flip") && e.contains("linux/arm64") && e.contains("linux/amd64"), "{e}");
}

#[test]
fn pkg_tar_refuses_colliding_entries_and_stray_modes() {
    let f = fixture(&[
        (
            "p/BUILD.star",
            r#"
load("@dbuild//rules:pkg.star", "pkg_tar")
pkg_tar(name = "twice", srcs = ["a/conf", "b/conf"])
pkg_tar(name = "stray", srcs = ["a/conf"], modes = {"etc/conf": "0600"})
"#,
        ),
        ("p/a/conf", "1"),
        ("p/b/conf", "2"),
    ]);
    let e = err(&f, &["//p:twice"]);
    assert!(
        e.contains("//p:twice") && e.contains("\"conf\"") && e.contains("p/a/conf") && e.contains("p/b/conf"),
        "{e}"
    );
    let e = err(&f, &["//p:stray"]);
    assert!(e.contains("modes") && e.contains("etc/conf") && e.contains("entries: conf"), "{e}");
}

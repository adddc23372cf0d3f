//! The build receipt: a build in which nothing it read or wrote changed is reported up to date
//! without running the engine; any change to a source, an output in dbuild-out, a BUILD file,
//! the patterns or the settings, or a collection that removed blobs, takes the ordinary way,
//! which puts the outputs back.

use std::fs;
use std::time::Duration;

use serde_json::Value;

use super::analysis_cached;
use crate::common::*;

fn up_to_date(summary: &Value) -> bool {
    summary["up_to_date"].as_bool().expect("up_to_date in --json")
}

/// A generated workspace built, then built again once its files are old enough to be trusted
/// by their stat, which leaves a receipt; returns the second build's summary.
fn primed(print: bool) -> (TestWorkspace, Value) {
    let ws = generated::workspace(2);
    if print {
        let build = fs::read_to_string(ws.root().join("p0/BUILD.star")).unwrap();
        ws.write("p0/BUILD.star", &format!("{build}\nprint(\"hello from p0\")\n"));
    }
    assert!(!up_to_date(&ws.build_ok(&["//..."])));
    // The racy window (dbuild_core::fingerprint) is 2 s.
    std::thread::sleep(Duration::from_millis(2200));
    let slow = ws.build_ok(&["//..."]);
    assert!(!up_to_date(&slow), "the cold build's files were too fresh to vouch for: no receipt yet");
    assert_eq!(executed(&slow), 0);
    (ws, slow)
}

fn receipt_files(ws: &TestWorkspace) -> Vec<std::path::PathBuf> {
    let dir = ws.cache.join("analysis");
    let mut found: Vec<_> = fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    found.retain(|p| p.extension().is_some_and(|e| e == "receipt"));
    found
}

#[test]
fn an_unchanged_build_is_up_to_date_and_says_what_the_last_one_did() {
    let (ws, slow) = primed(true);
    let (fast, out) = ws.build_json(&["//..."]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(up_to_date(&fast) && analysis_cached(&fast), "{fast}");
    assert_eq!(fast["targets"], slow["targets"]);
    assert_eq!(fast["actions"]["total"], slow["actions"]["total"]);
    assert_eq!(fast["actions"]["cached"], slow["actions"]["total"]);
    assert!(stderr(&out).contains("hello from p0"), "print() output is replayed: {}", stderr(&out));

    // Another pattern set, the cache off, another SOURCE_DATE_EPOCH, --explain: not this receipt.
    assert!(!up_to_date(&ws.build_ok(&["//p0:image"])));
    assert!(!up_to_date(&ws.build_ok(&["--analysis_cache=false", "//..."])));
    assert!(!up_to_date(&ws.build_ok(&["--explain", "//..."])));
    assert!(up_to_date(&ws.build_ok(&["//..."])), "those builds left the receipt of //... good");
    let out = ws.dbuild().env("SOURCE_DATE_EPOCH", "1").args(["build", "--json", "//..."]).output().unwrap();
    assert!(out.status.success() && !up_to_date(&parse_summary(&out)), "{}", stderr(&out));
    // ...but that one rewrote the images in dbuild-out with other timestamps.
    let s = ws.build_ok(&["//..."]);
    assert!(!up_to_date(&s), "outputs another build replaced");
    assert_eq!(digests(&s), digests(&slow));
    std::thread::sleep(Duration::from_millis(2200));
    ws.build_ok(&["//..."]);
    assert!(up_to_date(&ws.build_ok(&["//..."])), "the next no-op leaves a receipt again");

    // A damaged receipt is no receipt: the ordinary build, with the same result.
    let receipts = receipt_files(&ws);
    assert!(!receipts.is_empty());
    for receipt in receipts {
        let mut bytes = fs::read(&receipt).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x01;
        fs::write(&receipt, &bytes).unwrap();
    }
    let s = ws.build_ok(&["//..."]);
    assert!(!up_to_date(&s));
    assert_eq!(digests(&s), digests(&slow));
}

#[test]
fn a_source_edit_or_a_build_file_edit_is_not_up_to_date() {
    let (ws, slow) = primed(false);
    ws.write("p0/conf.txt", "setting = edited\n");
    let s = ws.build_ok(&["//..."]);
    assert!(!up_to_date(&s));
    assert!(executed(&s) > 0);
    assert_ne!(digests(&s), digests(&slow));

    let (ws, _) = primed(false);
    let build = fs::read_to_string(ws.root().join("p1/BUILD.star")).unwrap();
    ws.write("p1/BUILD.star", &build.replace("copies = 20000", "copies = 20001"));
    let s = ws.build_ok(&["//..."]);
    assert!(!up_to_date(&s) && !analysis_cached(&s));
    assert!(executed(&s) > 0);
}

/// Changes `ws`'s dbuild-out with `tamper`, then checks that the next build is not up to date
/// and leaves dbuild-out as it was.
fn tampered(what: &str, tamper: impl Fn(&std::path::Path)) {
    let (ws, slow) = primed(false);
    let out_dir = ws.root().join("dbuild-out");
    let reference = generated::tree(&out_dir);
    tamper(&out_dir);
    let s = ws.build_ok(&["//..."]);
    assert!(!up_to_date(&s), "{what}: not up to date");
    assert_eq!(digests(&s), digests(&slow), "{what}");
    assert_eq!(generated::tree(&out_dir), reference, "{what}: dbuild-out is put back");
}

#[test]
fn an_output_edited_in_place_is_not_up_to_date() {
    tampered("an output edited in place", |out| {
        let note = out.join("p0/note.txt");
        let mut bytes = fs::read(&note).unwrap();
        bytes[0] ^= 0x01;
        fs::write(&note, bytes).unwrap();
    });
}

#[test]
fn a_removed_output_or_a_stray_file_in_an_image_layout_is_not_up_to_date() {
    tampered("a removed output", |out| fs::remove_file(out.join("p1/image/index.json")).unwrap());
    tampered("a stray file in an image layout", |out| fs::write(out.join("p0/image/blobs/stray"), "x").unwrap());
}

#[test]
fn a_collection_that_removes_blobs_voids_the_receipt() {
    let (ws, slow) = primed(false);
    // Nothing fits in one byte: every blob goes, with the records and indexes naming them.
    let out = ws.dbuild().args(["clean", "--cache", "--max-size", "1"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let s = ws.build_ok(&["//..."]);
    assert!(!up_to_date(&s), "the receipt names a store generation that is gone");
    assert!(executed(&s) > 0, "the actions whose records went run again: {s}");
    assert_eq!(digests(&s), digests(&slow));
}

//! InRelease verification against keys generated with rPGP in the test.

mod common;

use common::pgpkeys::{inrelease, make_key, KeyOpts};
use common::NOW;
use dbuild_deb::{verify_inrelease, Keyring, VerifyError};
use pgp::crypto::hash::HashAlgorithm;

const TEXT: &str = "Origin: Test\nSuite: trixie\nCodename: trixie\nDate: Tue, 14 Nov 2023 22:13:20 UTC\nSHA256:\n 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef 1 main/x\n";

fn reasons(e: VerifyError) -> String {
    let s = e.to_string();
    assert!(s.contains("trixie"), "error names the suite: {s}");
    s
}

#[test]
fn good_signature_verifies_and_names_the_signing_subkey() {
    let key = make_key(&KeyOpts::default());
    let ring = Keyring::from_bytes("test", &key.keyring_bytes()).unwrap();
    let signed = inrelease(TEXT, |t| vec![key.sign_text(t, HashAlgorithm::Sha256, NOW as u32)]);
    let v = verify_inrelease("trixie", &signed, &ring, NOW).unwrap();
    assert_eq!(v.text, TEXT);
    assert_eq!(v.signers, vec![key.subkey_fingerprint()]);
    // The armored form of the same keyring works too.
    let ring = Keyring::from_bytes("test.asc", key.keyring_armored().as_bytes()).unwrap();
    assert!(verify_inrelease("trixie", &signed, &ring, NOW).is_ok());
}

#[test]
fn altered_text_fails() {
    let key = make_key(&KeyOpts::default());
    let ring = Keyring::from_bytes("test", &key.keyring_bytes()).unwrap();
    let signed = inrelease(TEXT, |t| vec![key.sign_text(t, HashAlgorithm::Sha256, NOW as u32)]);
    let tampered = signed.replace("main/x", "main/y");
    assert_ne!(tampered, signed);
    let e = reasons(verify_inrelease("trixie", &tampered, &ring, NOW).unwrap_err());
    assert!(e.contains("does not verify"), "{e}");
}

#[test]
fn signature_by_a_key_outside_the_keyring_fails() {
    let key = make_key(&KeyOpts::default());
    let other = make_key(&KeyOpts { seed: 7, ..Default::default() });
    let ring = Keyring::from_bytes("ring", &other.keyring_bytes()).unwrap();
    let signed = inrelease(TEXT, |t| vec![key.sign_text(t, HashAlgorithm::Sha256, NOW as u32)]);
    let e = reasons(verify_inrelease("trixie", &signed, &ring, NOW).unwrap_err());
    assert!(e.contains("no usable key"), "{e}");
}

#[test]
fn one_good_signature_among_several_is_enough() {
    let key = make_key(&KeyOpts::default());
    let other = make_key(&KeyOpts { seed: 7, ..Default::default() });
    let ring = Keyring::from_bytes("ring", &key.keyring_bytes()).unwrap();
    let signed = inrelease(TEXT, |t| {
        vec![other.sign_text(t, HashAlgorithm::Sha512, NOW as u32), key.sign_text(t, HashAlgorithm::Sha512, NOW as u32)]
    });
    let v = verify_inrelease("trixie", &signed, &ring, NOW).unwrap();
    assert_eq!(v.signers, vec![key.subkey_fingerprint()]);
}

#[test]
fn expired_primary_key_fails() {
    let o = KeyOpts { primary_expires: Some(1000), ..Default::default() };
    let key = make_key(&o);
    let ring = Keyring::from_bytes("ring", &key.keyring_bytes()).unwrap();
    let signed = inrelease(TEXT, |t| vec![key.sign_text(t, HashAlgorithm::Sha256, NOW as u32)]);
    let e = reasons(verify_inrelease("trixie", &signed, &ring, NOW).unwrap_err());
    assert!(e.contains("expired"), "{e}");
    // Before expiry the same key is fine: the clock is a parameter.
    assert!(verify_inrelease("trixie", &signed, &ring, o.created as i64 + 10).is_ok());
}

#[test]
fn expired_subkey_fails() {
    let key = make_key(&KeyOpts { subkey_expires: Some(1000), ..Default::default() });
    let ring = Keyring::from_bytes("ring", &key.keyring_bytes()).unwrap();
    let signed = inrelease(TEXT, |t| vec![key.sign_text(t, HashAlgorithm::Sha256, NOW as u32)]);
    let e = reasons(verify_inrelease("trixie", &signed, &ring, NOW).unwrap_err());
    assert!(e.contains("expired"), "{e}");
}

#[test]
fn revoked_subkey_fails() {
    let key = make_key(&KeyOpts { revoke_subkey: true, ..Default::default() });
    let ring = Keyring::from_bytes("ring", &key.keyring_bytes()).unwrap();
    let signed = inrelease(TEXT, |t| vec![key.sign_text(t, HashAlgorithm::Sha256, NOW as u32)]);
    let e = reasons(verify_inrelease("trixie", &signed, &ring, NOW).unwrap_err());
    assert!(e.contains("revoked"), "{e}");
}

#[test]
fn subkey_without_signing_flag_fails() {
    let key = make_key(&KeyOpts { subkey_signs: false, ..Default::default() });
    let ring = Keyring::from_bytes("ring", &key.keyring_bytes()).unwrap();
    let signed = inrelease(TEXT, |t| vec![key.sign_text(t, HashAlgorithm::Sha256, NOW as u32)]);
    let e = reasons(verify_inrelease("trixie", &signed, &ring, NOW).unwrap_err());
    assert!(e.contains("not a signing subkey"), "{e}");
}

#[test]
fn certify_only_primary_may_not_sign_data() {
    let key = make_key(&KeyOpts::default());
    let ring = Keyring::from_bytes("ring", &key.keyring_bytes()).unwrap();
    let signed = inrelease(TEXT, |t| vec![key.sign_text_with_primary(t, NOW as u32)]);
    assert!(verify_inrelease("trixie", &signed, &ring, NOW).is_err());
}

/// rPGP refuses to *make* SHA-1 or SHA-224 signatures with Ed25519 keys (and we have no RSA
/// key generation without an RNG), so the weak-hash case rewrites the hash-algorithm octet of
/// a genuine signature packet: our policy must refuse it on the algorithm alone.
#[test]
fn sha1_signature_is_refused_for_its_hash() {
    use pgp::composed::{ArmorOptions, CleartextSignedMessage};
    use pgp::packet::{Packet, PacketParser, PacketTrait};
    let key = make_key(&KeyOpts::default());
    let ring = Keyring::from_bytes("ring", &key.keyring_bytes()).unwrap();
    let sig = key.sign_text(TEXT, HashAlgorithm::Sha256, NOW as u32);
    let mut bytes = Vec::new();
    sig.to_writer_with_header(&mut bytes).unwrap();
    // A v4 signature body starts: version 4, type, public-key algorithm, hash algorithm.
    let body = bytes.iter().position(|&b| b == 4).unwrap();
    assert_eq!(bytes[body + 3], 8, "hash alg octet is SHA-256 before the rewrite");
    bytes[body + 3] = 2; // SHA-1
    let weak = match PacketParser::new(&bytes[..]).next().unwrap().unwrap() {
        Packet::Signature(s) => s,
        other => panic!("unexpected packet {other:?}"),
    };
    assert_eq!(weak.hash_alg(), Some(HashAlgorithm::Sha1));
    let signed = CleartextSignedMessage::new_many(TEXT, |_| Ok(vec![weak]))
        .unwrap()
        .to_armored_string(ArmorOptions::default())
        .unwrap();
    let e = reasons(verify_inrelease("trixie", &signed, &ring, NOW).unwrap_err());
    assert!(e.contains("weaker than SHA-256"), "{e}");
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    let key = make_key(&KeyOpts::default());
    let ring = Keyring::from_bytes("ring", &key.keyring_bytes()).unwrap();
    assert!(verify_inrelease("trixie", "not signed at all", &ring, NOW).is_err());
    assert!(Keyring::from_bytes("junk", b"junk").is_err());
    let unsigned = format!("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n{TEXT}");
    assert!(verify_inrelease("trixie", &unsigned, &ring, NOW).is_err());
}

/// Corrupted InRelease files give errors, never panics, and never verify.
#[test]
fn corrupted_inrelease_never_panics_or_verifies() {
    let key = make_key(&KeyOpts::default());
    let ring = Keyring::from_bytes("ring", &key.keyring_bytes()).unwrap();
    let signed = inrelease(TEXT, |t| vec![key.sign_text(t, HashAlgorithm::Sha256, NOW as u32)]);
    let bytes = signed.as_bytes();
    let mut state: u64 = 42;
    for _ in 0..300 {
        let mut bad = bytes.to_vec();
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let i = (state >> 33) as usize % bad.len();
        // Replace with another printable character so the text stays UTF-8.
        let c = b'!' + ((state >> 20) as u8 % 90);
        if bad[i] == c || bad[i] == b'\n' {
            continue;
        }
        bad[i] = c;
        let text = String::from_utf8(bad).unwrap();
        let r = std::panic::catch_unwind(|| verify_inrelease("trixie", &text, &ring, NOW));
        match r {
            Err(_) => panic!("panicked on a corrupted InRelease"),
            // A change in the armor headers or the checksum line may leave the signature intact;
            // then the signed text must still be exactly the original.
            Ok(Ok(v)) => assert_eq!(v.text, TEXT),
            Ok(Err(_)) => {}
        }
    }
}

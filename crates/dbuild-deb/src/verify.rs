//! InRelease verification: which keys of a keyring may sign, and whether a signature is good.
//!
//! rPGP checks the cryptography; the policy is ours, and it fails closed:
//! - a key (primary or subkey) counts only with a valid self-signature or subkey binding
//!   (with the embedded back-signature for signing subkeys), the signing capability, no
//!   expiry before "now", and no valid revocation;
//! - a data signature counts only if it uses SHA-256 or stronger, is of binary/text type,
//!   has not expired, and verifies.
//!
//! `SignedPublicKey::verify_bindings()` is not used: it also tries third-party certifications
//! with the key's own material and so rejects most of Debian's keys. Only self-issued
//! signatures are checked here.

use std::path::Path;

use pgp::composed::{CleartextSignedMessage, Deserializable, SignedPublicKey};
use pgp::crypto::hash::HashAlgorithm;
use pgp::packet::{PublicKey, PublicSubkey, Signature, SignatureType};
use pgp::types::{KeyDetails, Tag};

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("reading keyring {path}: {source}")]
    ReadKeyring { path: String, source: std::io::Error },
    #[error("keyring {path}: {reason}")]
    BadKeyring { path: String, reason: String },
    #[error("InRelease of suite {suite:?} is not a cleartext-signed message: {reason}")]
    NotSigned { suite: String, reason: String },
    #[error("InRelease of suite {suite:?}: no acceptable signature ({})", .reasons.join("; "))]
    NoValidSignature { suite: String, reasons: Vec<String> },
}

/// A usable signing key: primary or subkey, with its fingerprint (uppercase hex).
enum SigningKey<'a> {
    Primary(&'a PublicKey),
    Subkey(&'a PublicSubkey),
}

impl SigningKey<'_> {
    fn fingerprint(&self) -> String {
        match self {
            SigningKey::Primary(k) => hex::encode_upper(k.fingerprint().as_bytes()),
            SigningKey::Subkey(k) => hex::encode_upper(k.fingerprint().as_bytes()),
        }
    }
    fn key_id(&self) -> Vec<u8> {
        match self {
            SigningKey::Primary(k) => k.legacy_key_id().as_ref().to_vec(),
            SigningKey::Subkey(k) => k.legacy_key_id().as_ref().to_vec(),
        }
    }
    fn verify(&self, sig: &Signature, data: &[u8]) -> pgp::errors::Result<()> {
        match self {
            SigningKey::Primary(k) => sig.verify(*k, data),
            SigningKey::Subkey(k) => sig.verify(*k, data),
        }
    }
}

/// The keys trusted for one repository.
#[derive(Clone, Debug)]
pub struct Keyring {
    pub keys: Vec<SignedPublicKey>,
    /// Where it came from, for error messages.
    pub origin: String,
}

impl Keyring {
    /// Loads a keyring, binary (like `debian-archive-keyring.gpg`) or ASCII-armored.
    pub fn from_bytes(origin: &str, bytes: &[u8]) -> Result<Keyring, VerifyError> {
        let bad = |reason: String| VerifyError::BadKeyring { path: origin.to_string(), reason };
        let armored = bytes.starts_with(b"-----BEGIN PGP");
        let iter: Box<dyn Iterator<Item = pgp::errors::Result<SignedPublicKey>>> = if armored {
            SignedPublicKey::from_armor_many(bytes).map_err(|e| bad(e.to_string()))?.0
        } else {
            SignedPublicKey::from_bytes_many(bytes).map_err(|e| bad(e.to_string()))?
        };
        let mut keys = Vec::new();
        // One unreadable key (say, an algorithm rPGP lacks) must not hide the others; an
        // empty result is still an error below.
        keys.extend(iter.flatten());
        if keys.is_empty() {
            return Err(bad("no public keys".into()));
        }
        Ok(Keyring { keys, origin: origin.to_string() })
    }

    pub fn from_file(path: &Path) -> Result<Keyring, VerifyError> {
        let origin = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| VerifyError::ReadKeyring { path: origin.clone(), source })?;
        Self::from_bytes(&origin, &bytes)
    }

    /// Fingerprints (uppercase hex) of every primary key, for reports.
    pub fn fingerprints(&self) -> Vec<String> {
        self.keys.iter().map(|k| hex::encode_upper(k.primary_key.fingerprint().as_bytes())).collect()
    }

    /// One line per key and subkey: usable for signing at `now`, or why not. For diagnostics
    /// (`dbuild lock` can show why a keyring does not verify a suite).
    pub fn describe(&self, now: i64) -> Vec<String> {
        let (ok, rejected) = self.signing_keys(now);
        let mut out: Vec<String> = ok.iter().map(|k| format!("{}: may sign", k.fingerprint())).collect();
        out.extend(rejected);
        out
    }

    /// Keys and subkeys allowed to sign at `now`, or why each one is not.
    fn signing_keys(&self, now: i64) -> (Vec<SigningKey<'_>>, Vec<String>) {
        let mut ok = Vec::new();
        let mut rejected = Vec::new();
        for key in &self.keys {
            let fp = hex::encode_upper(key.primary_key.fingerprint().as_bytes());
            match primary_status(key, now) {
                Err(why) => {
                    rejected.push(format!("key {fp}: {why}"));
                    // Name the subkeys too: signatures cite the subkey, not the primary.
                    for sub in &key.public_subkeys {
                        let sfp = hex::encode_upper(sub.key.fingerprint().as_bytes());
                        rejected.push(format!("subkey {sfp}: its primary key {fp} is unusable ({why})"));
                    }
                }
                Ok(can_sign) => {
                    if can_sign {
                        ok.push(SigningKey::Primary(&key.primary_key));
                    }
                    for sub in &key.public_subkeys {
                        let sfp = hex::encode_upper(sub.key.fingerprint().as_bytes());
                        match subkey_status(&key.primary_key, &sub.key, &sub.signatures, now) {
                            Ok(()) => ok.push(SigningKey::Subkey(&sub.key)),
                            Err(why) => rejected.push(format!("subkey {sfp}: {why}")),
                        }
                    }
                }
            }
        }
        (ok, rejected)
    }
}

fn created(sig: &Signature) -> i64 {
    sig.created().map(|t| t.as_secs() as i64).unwrap_or(0)
}

fn expired(base: i64, validity: Option<u32>, now: i64) -> bool {
    matches!(validity, Some(v) if v > 0 && base + v as i64 <= now)
}

fn has_key_flags(sig: &Signature) -> bool {
    sig.config()
        .is_some_and(|c| c.hashed_subpackets().any(|p| matches!(p.data, pgp::packet::SubpacketData::KeyFlags(_))))
}

fn issued_by(sig: &Signature, key: &impl KeyDetails) -> bool {
    let id = key.legacy_key_id();
    let fp = key.fingerprint();
    sig.issuer_key_id().iter().any(|k| **k == id) || sig.issuer_fingerprint().iter().any(|f| **f == fp)
}

/// Whether the primary key is usable (valid self-signature, unexpired, unrevoked) and
/// whether it may sign data itself.
fn primary_status(key: &SignedPublicKey, now: i64) -> Result<bool, String> {
    let pk = &key.primary_key;
    for rev in &key.details.revocation_signatures {
        if issued_by(rev, pk) && rev.verify_key(pk).is_ok() {
            return Err("revoked".into());
        }
    }
    // The newest valid self-signature carries the current flags and expiry.
    let mut newest: Option<&Signature> = None;
    for user in &key.details.users {
        for sig in &user.signatures {
            if sig.is_certification()
                && issued_by(sig, pk)
                && sig.verify_certification(pk, Tag::UserId, &user.id).is_ok()
                && newest.is_none_or(|n| created(sig) > created(n))
            {
                newest = Some(sig);
            }
        }
    }
    for sig in &key.details.direct_signatures {
        if sig.typ() == Some(SignatureType::Key)
            && issued_by(sig, pk)
            && sig.verify_key(pk).is_ok()
            && newest.is_none_or(|n| created(sig) > created(n))
        {
            newest = Some(sig);
        }
    }
    let sig = newest.ok_or("no valid self-signature")?;
    let key_created = pk.created_at().as_secs() as i64;
    if expired(key_created, sig.key_expiration_time().map(|d| d.as_secs()), now) {
        return Err("expired".into());
    }
    if expired(created(sig), sig.signature_expiration_time().map(|d| d.as_secs()), now) {
        return Err("self-signature expired".into());
    }
    // Without a key-flags subpacket, a v4 primary key may sign if its algorithm can.
    Ok(!has_key_flags(sig) || sig.key_flags().sign())
}

/// Whether a subkey may sign data: a valid binding with the sign flag and a valid
/// back-signature, unexpired and unrevoked.
fn subkey_status(primary: &PublicKey, sub: &PublicSubkey, sigs: &[Signature], now: i64) -> Result<(), String> {
    let mut newest: Option<&Signature> = None;
    for sig in sigs {
        if !issued_by(sig, primary) || sig.verify_subkey_binding(primary, sub).is_err() {
            continue;
        }
        match sig.typ() {
            Some(SignatureType::SubkeyRevocation) => return Err("revoked".into()),
            Some(SignatureType::SubkeyBinding) if newest.is_none_or(|n| created(sig) > created(n)) => {
                newest = Some(sig)
            }
            _ => {}
        }
    }
    let sig = newest.ok_or("no valid binding signature")?;
    if !sig.key_flags().sign() {
        return Err("not a signing subkey".into());
    }
    let backsig = sig.embedded_signature().ok_or("signing subkey without back-signature")?;
    if backsig.verify_primary_key_binding(sub, primary).is_err() {
        return Err("invalid back-signature".into());
    }
    if expired(sub.created_at().as_secs() as i64, sig.key_expiration_time().map(|d| d.as_secs()), now) {
        return Err("expired".into());
    }
    if expired(created(sig), sig.signature_expiration_time().map(|d| d.as_secs()), now) {
        return Err("binding signature expired".into());
    }
    Ok(())
}

/// SHA-256 and stronger. SHA-1, MD5, RIPEMD and SHA-224 are refused.
pub fn hash_is_acceptable(h: HashAlgorithm) -> bool {
    matches!(
        h,
        HashAlgorithm::Sha256
            | HashAlgorithm::Sha384
            | HashAlgorithm::Sha512
            | HashAlgorithm::Sha3_256
            | HashAlgorithm::Sha3_512
    )
}

/// A verified InRelease: the signed text (LF line ends) and who signed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedText {
    pub text: String,
    /// Fingerprints (uppercase hex) of the keys or subkeys whose signatures verified, sorted.
    pub signers: Vec<String>,
}

/// Verifies a cleartext-signed InRelease against `keyring` at time `now` (seconds since the
/// epoch). Accepts when at least one signature passes the policy; otherwise the error lists
/// every signature and why it was refused.
pub fn verify_inrelease(
    suite: &str,
    inrelease: &str,
    keyring: &Keyring,
    now: i64,
) -> Result<VerifiedText, VerifyError> {
    let (msg, _) = CleartextSignedMessage::from_string(inrelease)
        .map_err(|e| VerifyError::NotSigned { suite: suite.to_string(), reason: e.to_string() })?;
    let signed = msg.signed_text();
    let (keys, rejected_keys) = keyring.signing_keys(now);
    let mut reasons = Vec::new();
    let mut signers = Vec::new();
    for sig in msg.signatures() {
        let issuer = sig
            .issuer_fingerprint()
            .first()
            .map(|f| hex::encode_upper(f.as_bytes()))
            .or_else(|| sig.issuer_key_id().first().map(|k| hex::encode_upper(k.as_ref())))
            .unwrap_or_else(|| "unknown issuer".into());
        let hash = sig.hash_alg();
        if !hash.is_some_and(hash_is_acceptable) {
            reasons.push(format!("signature by {issuer}: hash {hash:?} is weaker than SHA-256"));
            continue;
        }
        if !matches!(sig.typ(), Some(SignatureType::Binary | SignatureType::Text)) {
            reasons.push(format!("signature by {issuer}: not a document signature"));
            continue;
        }
        if expired(created(sig), sig.signature_expiration_time().map(|d| d.as_secs()), now) {
            reasons.push(format!("signature by {issuer}: signature expired"));
            continue;
        }
        let candidates: Vec<&SigningKey> = keys
            .iter()
            .filter(|k| {
                let fp = k.fingerprint();
                let id = k.key_id();
                sig.issuer_fingerprint().iter().any(|f| hex::encode_upper(f.as_bytes()) == fp)
                    || sig.issuer_key_id().iter().any(|i| i.as_ref() == id.as_slice())
            })
            .collect();
        if candidates.is_empty() {
            let why = rejected_keys
                .iter()
                .find(|r| issuer.len() >= 16 && r.contains(&issuer[issuer.len() - 16..]))
                .cloned()
                .unwrap_or_else(|| format!("no usable key in {}", keyring.origin));
            reasons.push(format!("signature by {issuer}: {why}"));
            continue;
        }
        let mut good = false;
        for k in candidates {
            if k.verify(sig, signed.as_bytes()).is_ok() {
                signers.push(k.fingerprint());
                good = true;
                break;
            }
        }
        if !good {
            reasons.push(format!("signature by {issuer}: does not verify (content or signature altered)"));
        }
    }
    if signers.is_empty() {
        if reasons.is_empty() {
            reasons.push("no signatures".into());
        }
        return Err(VerifyError::NoValidSignature { suite: suite.to_string(), reasons });
    }
    signers.sort();
    signers.dedup();
    Ok(VerifiedText { text: signed.replace("\r\n", "\n"), signers })
}

//! OpenPGP test keys made with rPGP from fixed seeds (deterministic, no RNG needed): an
//! Ed25519 primary key that certifies, with an Ed25519 signing subkey bound to it (with the
//! back-signature), and cleartext signing of a Release as the archive does it.

use pgp::composed::{ArmorOptions, CleartextSignedMessage, SignedKeyDetails, SignedPublicKey, SignedPublicSubKey};
use pgp::crypto::ed25519;
use pgp::crypto::hash::HashAlgorithm;
use pgp::crypto::public_key::PublicKeyAlgorithm;
use pgp::packet::{
    KeyFlags, PubKeyInner, PublicKey, PublicSubkey, SecretKey, SecretSubkey, Signature, SignatureConfig, SignatureType,
    Subpacket, SubpacketData, UserId,
};
use pgp::ser::Serialize;
use pgp::types::{
    Duration, KeyDetails, KeyVersion, Password, PlainSecretParams, PublicParams, SecretParams, SignedUser, Tag,
    Timestamp,
};

/// Knobs for one test key.
#[derive(Clone, Debug)]
pub struct KeyOpts {
    pub seed: u8,
    pub created: u32,
    /// Seconds after creation when the primary key expires (None: never).
    pub primary_expires: Option<u32>,
    /// Seconds after creation when the subkey expires.
    pub subkey_expires: Option<u32>,
    /// Whether the subkey is flagged for signing.
    pub subkey_signs: bool,
    /// Revoke the subkey.
    pub revoke_subkey: bool,
}

impl Default for KeyOpts {
    fn default() -> Self {
        KeyOpts {
            seed: 1,
            created: 1_600_000_000,
            primary_expires: None,
            subkey_expires: None,
            subkey_signs: true,
            revoke_subkey: false,
        }
    }
}

pub struct TestKey {
    pub primary: SecretKey,
    pub subkey: SecretSubkey,
    pub public: SignedPublicKey,
}

fn ed(seed: [u8; 32]) -> (PublicParams, SecretParams) {
    let secret = ed25519::SecretKey::try_from_bytes(seed, ed25519::Mode::EdDSALegacy).unwrap();
    let public = PublicParams::EdDSALegacy((&secret).into());
    let plain = PlainSecretParams::EdDSALegacy(pgp::crypto::eddsa_legacy::SecretKey::Ed25519(secret));
    (public, SecretParams::Plain(plain))
}

fn sub(data: SubpacketData) -> Subpacket {
    Subpacket::regular(data).unwrap()
}

fn config(
    typ: SignatureType,
    hash: HashAlgorithm,
    created: u32,
    issuer: &impl KeyDetails,
    extra: Vec<SubpacketData>,
) -> SignatureConfig {
    let mut c = SignatureConfig::v4(typ, PublicKeyAlgorithm::EdDSALegacy, hash);
    c.hashed_subpackets = vec![
        sub(SubpacketData::SignatureCreationTime(Timestamp::from_secs(created))),
        sub(SubpacketData::IssuerFingerprint(issuer.fingerprint())),
    ];
    c.hashed_subpackets.extend(extra.into_iter().map(sub));
    c.unhashed_subpackets = vec![sub(SubpacketData::IssuerKeyId(issuer.legacy_key_id()))];
    c
}

pub fn make_key(o: &KeyOpts) -> TestKey {
    let pw = Password::empty();
    let ts = Timestamp::from_secs(o.created);
    let (pp, sp) = ed([o.seed; 32]);
    let primary_pub =
        PublicKey::from_inner(PubKeyInner::new(KeyVersion::V4, PublicKeyAlgorithm::EdDSALegacy, ts, None, pp).unwrap())
            .unwrap();
    let primary = SecretKey::new(primary_pub.clone(), sp).unwrap();
    let (spp, ssp) = ed([o.seed.wrapping_add(100); 32]);
    let sub_pub = PublicSubkey::from_inner(
        PubKeyInner::new(KeyVersion::V4, PublicKeyAlgorithm::EdDSALegacy, ts, None, spp).unwrap(),
    )
    .unwrap();
    let subkey = SecretSubkey::new(sub_pub.clone(), ssp).unwrap();

    // Self-certification of the user id: certify only, so data signatures must come from the subkey.
    let uid = UserId::from_str(Default::default(), format!("Test Archive Key {}", o.seed)).unwrap();
    let mut flags = KeyFlags::default();
    flags.set_certify(true);
    let mut extra = vec![SubpacketData::KeyFlags(flags)];
    if let Some(e) = o.primary_expires {
        extra.push(SubpacketData::KeyExpirationTime(Duration::from_secs(e)));
    }
    let cert = config(SignatureType::CertPositive, HashAlgorithm::Sha512, o.created, &primary_pub, extra)
        .sign_certification(&primary, &primary_pub, &pw, Tag::UserId, &uid)
        .unwrap();

    // Subkey binding, with the subkey's back-signature embedded.
    let back = config(SignatureType::KeyBinding, HashAlgorithm::Sha512, o.created, &sub_pub, vec![])
        .sign_primary_key_binding(&subkey, &sub_pub, &pw, &primary_pub)
        .unwrap();
    let mut sflags = KeyFlags::default();
    sflags.set_sign(o.subkey_signs);
    let mut extra = vec![SubpacketData::KeyFlags(sflags), SubpacketData::EmbeddedSignature(Box::new(back))];
    if let Some(e) = o.subkey_expires {
        extra.push(SubpacketData::KeyExpirationTime(Duration::from_secs(e)));
    }
    let binding = config(SignatureType::SubkeyBinding, HashAlgorithm::Sha512, o.created, &primary_pub, extra)
        .sign_subkey_binding(&primary, &primary_pub, &pw, &sub_pub)
        .unwrap();
    let mut sub_sigs = vec![binding];
    if o.revoke_subkey {
        let rev = config(SignatureType::SubkeyRevocation, HashAlgorithm::Sha512, o.created + 10, &primary_pub, vec![])
            .sign_subkey_binding(&primary, &primary_pub, &pw, &sub_pub)
            .unwrap();
        sub_sigs.push(rev);
    }
    let public = SignedPublicKey::new(
        primary_pub,
        SignedKeyDetails::new(vec![], vec![], vec![SignedUser::new(uid, vec![cert])], vec![]),
        vec![SignedPublicSubKey::new(sub_pub, sub_sigs)],
    );
    TestKey { primary, subkey, public }
}

impl TestKey {
    /// The public key, binary (like debian-archive-keyring.gpg).
    pub fn keyring_bytes(&self) -> Vec<u8> {
        self.public.to_bytes().unwrap()
    }

    pub fn keyring_armored(&self) -> String {
        self.public.to_armored_string(ArmorOptions::default()).unwrap()
    }

    pub fn subkey_fingerprint(&self) -> String {
        hex::encode_upper(self.subkey.public_key().fingerprint().as_bytes())
    }

    /// A data signature by the subkey over `text` with `hash`.
    pub fn sign_text(&self, text: &str, hash: HashAlgorithm, created: u32) -> Signature {
        let pk = self.subkey.public_key();
        config(SignatureType::Text, hash, created, pk, vec![])
            .sign(&self.subkey, &Password::empty(), text.as_bytes())
            .unwrap()
    }

    /// A data signature by the certify-only primary key.
    pub fn sign_text_with_primary(&self, text: &str, created: u32) -> Signature {
        let pk = self.primary.public_key();
        config(SignatureType::Text, HashAlgorithm::Sha256, created, pk, vec![])
            .sign(&self.primary, &Password::empty(), text.as_bytes())
            .unwrap()
    }
}

/// Cleartext-signs `text` (an InRelease) with the given signatures' makers.
pub fn inrelease(text: &str, sign: impl FnOnce(&str) -> Vec<Signature>) -> String {
    CleartextSignedMessage::new_many(text, |normalized| Ok(sign(normalized)))
        .unwrap()
        .to_armored_string(ArmorOptions::default())
        .unwrap()
}

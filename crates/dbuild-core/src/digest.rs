//! Content digests. Internal keys are blake3 ([`Digest`]); OCI and Debian speak sha256
//! ([`Sha256`]). Where a blob crosses that boundary both are recorded, never recomputed.

use std::fmt;
use std::io::{self, Read};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::Digest as _;

/// A blake3 digest: the identity of blobs in the store and of action keys.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(pub [u8; 32]);

/// A sha256 digest, as OCI descriptors and Debian indices use.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256(pub [u8; 32]);

#[derive(Debug, thiserror::Error)]
#[error("not a 64-digit lowercase hex digest: {0:?}")]
pub struct DigestParseError(pub String);

fn parse_hex32(s: &str) -> Result<[u8; 32], DigestParseError> {
    let mut out = [0u8; 32];
    if s.len() != 64 || s.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(DigestParseError(s.to_string()));
    }
    hex::decode_to_slice(s, &mut out).map_err(|_| DigestParseError(s.to_string()))?;
    Ok(out)
}

/// The 64 lowercase hex digits of a 32-byte digest, written into `out`. `hex::encode` goes
/// through a char iterator; digests are formatted tens of thousands of times per build.
fn hex_digits<'a>(bytes: &[u8; 32], out: &'a mut [u8; 64]) -> &'a str {
    hex::encode_to_slice(bytes, out).expect("64 digits for 32 bytes");
    std::str::from_utf8(out).expect("hex digits are ASCII")
}

macro_rules! digest_impls {
    ($t:ident, $name:literal) => {
        impl $t {
            pub fn to_hex(&self) -> String {
                hex_digits(&self.0, &mut [0u8; 64]).to_string()
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}:{}", $name, self.to_hex())
            }
        }
        impl FromStr for $t {
            type Err = DigestParseError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                parse_hex32(s).map($t)
            }
        }
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_hex())
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

digest_impls!(Digest, "blake3");
digest_impls!(Sha256, "sha256");

impl Digest {
    pub fn of_bytes(bytes: &[u8]) -> Digest {
        Digest(*blake3::hash(bytes).as_bytes())
    }
}

impl Sha256 {
    pub fn of_bytes(bytes: &[u8]) -> Sha256 {
        Sha256(sha2::Sha256::digest(bytes).into())
    }

    /// The `sha256:<hex>` form used in OCI descriptors.
    pub fn oci(&self) -> String {
        let mut digits = [0u8; 64];
        let mut s = String::with_capacity(71);
        s.push_str("sha256:");
        s.push_str(hex_digits(&self.0, &mut digits));
        s
    }
}

/// Both digests and the size of one stream, computed in a single pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobId {
    pub blake3: Digest,
    pub sha256: Sha256,
    pub size: u64,
}

/// Hashes everything written to it with blake3 and sha256 at once.
#[derive(Default, Clone)]
pub struct DualHasher {
    blake3: blake3::Hasher,
    sha256: sha2::Sha256,
    size: u64,
}

impl DualHasher {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.blake3.update(bytes);
        self.sha256.update(bytes);
        self.size += bytes.len() as u64;
    }

    pub fn finish(self) -> BlobId {
        BlobId {
            blake3: Digest(*blake3::Hasher::finalize(&self.blake3).as_bytes()),
            sha256: Sha256(sha2::Digest::finalize(self.sha256).into()),
            size: self.size,
        }
    }

    pub fn of_reader(mut r: impl Read) -> io::Result<BlobId> {
        let mut h = DualHasher::new();
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = r.read(&mut buf)?;
            if n == 0 {
                return Ok(h.finish());
            }
            h.update(&buf[..n]);
        }
    }
}

impl io::Write for DualHasher {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_rejects_bad_input() {
        let d = Digest::of_bytes(b"abc");
        assert_eq!(d.to_hex().parse::<Digest>().unwrap(), d);
        assert!("abc".parse::<Digest>().is_err());
        assert!(d.to_hex().to_uppercase().parse::<Digest>().is_err());
    }

    #[test]
    fn dual_hasher_matches_one_shot_hashes() {
        let data = b"hello world".repeat(1000);
        let id = DualHasher::of_reader(&data[..]).unwrap();
        assert_eq!(id.blake3, Digest::of_bytes(&data));
        assert_eq!(id.sha256, Sha256::of_bytes(&data));
        assert_eq!(id.size, data.len() as u64);
        // A well-known vector keeps us honest about the sha256 wiring.
        assert_eq!(
            Sha256::of_bytes(b"abc").to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}

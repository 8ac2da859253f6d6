//! Request signing for the Binance APIs: HMAC-SHA256 (hex) and Ed25519
//! (base64).
//!
//! Owns [`HmacSigner`], [`Ed25519Signer`] and [`SignError`]. Both signers
//! are built once on the cold path (key parsing may allocate) and then sign
//! on the hot path into caller-provided fixed arrays: no allocation, no
//! locks, no panics on any payload.
//!
//! * [`HmacSigner`] precomputes the keyed HMAC state (the inner and outer
//!   pads already absorbed) at construction; each signature clones that
//!   state on the stack, absorbs the payload and writes the 32-byte tag as
//!   64 lowercase hex digits (the venue's `signature` for HMAC keys).
//! * [`Ed25519Signer`] loads a PKCS#8 private key (PEM or DER, as
//!   `openssl genpkey -algorithm ed25519` writes it) and writes the 64-byte
//!   signature as 88 bytes of standard, padded base64 (the venue's
//!   `signature` for Ed25519 keys, e.g. `session.logon`).
//!
//! What is signed is the caller's business (the WS API's sorted `k=v&…`
//! join is built by `request.rs`); this module signs exactly the bytes it is
//! given. It never prints, logs or exposes key material: `Debug` shows no
//! secret, and there is no accessor for one.

use base64::Engine as _;
use ed25519_dalek::pkcs8::DecodePrivateKey as _;
use ed25519_dalek::{Signer as _, SigningKey};
use hmac::digest::{Digest as _, KeyInit};
use hmac::{Hmac, Mac as _};
use sha2::Sha256;

/// Why an Ed25519 key could not be loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// The input is not a PKCS#8 Ed25519 private key (bad PEM armour, bad
    /// DER, another algorithm, a malformed key).
    #[error("not a PKCS#8 Ed25519 private key: {0}")]
    InvalidKey(ed25519_dalek::pkcs8::Error),
}

/// SHA-256 block size: HMAC's key block.
const BLOCK: usize = 64;

/// Lowercase hex digits.
const HEX: &[u8; 16] = b"0123456789abcdef";

/// HMAC-SHA256 signer for HMAC API keys.
#[derive(Clone)]
pub struct HmacSigner {
    /// The keyed state: both pads absorbed. Cloned per signature.
    keyed: Hmac<Sha256>,
}

impl HmacSigner {
    /// A signer for `secret` (the API secret's bytes, any length).
    ///
    /// The key is brought to HMAC's block form here (hashed if longer than
    /// 64 bytes, zero-padded otherwise, exactly as RFC 2104 does), so the
    /// construction cannot fail.
    pub fn new(secret: &[u8]) -> HmacSigner {
        let mut block = [0u8; BLOCK];
        if secret.len() > BLOCK {
            block[..32].copy_from_slice(&Sha256::digest(secret));
        } else {
            block[..secret.len()].copy_from_slice(secret);
        }
        let keyed = <Hmac<Sha256> as KeyInit>::new(&block.into());
        // Best effort: do not leave the raw key block on the stack.
        block.fill(0);
        std::hint::black_box(&block);
        HmacSigner { keyed }
    }

    /// The raw 32-byte HMAC-SHA256 tag of `payload`.
    #[inline]
    pub fn sign_raw(&self, payload: &[u8]) -> [u8; 32] {
        let mut mac = self.keyed.clone();
        mac.update(payload);
        mac.finalize().into_bytes().into()
    }

    /// Lowercase hex HMAC-SHA256 of `payload` into `out`.
    #[inline]
    pub fn sign_hex(&self, payload: &[u8], out: &mut [u8; 64]) {
        let tag = self.sign_raw(payload);
        for (pair, byte) in out.chunks_exact_mut(2).zip(tag) {
            pair[0] = HEX[usize::from(byte >> 4)];
            pair[1] = HEX[usize::from(byte & 0x0f)];
        }
    }
}

impl std::fmt::Debug for HmacSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HmacSigner { .. }")
    }
}

/// Ed25519 signer for Ed25519 API keys.
#[derive(Clone)]
pub struct Ed25519Signer {
    key: SigningKey,
}

impl Ed25519Signer {
    /// Loads a PKCS#8 private key in PEM form (`-----BEGIN PRIVATE KEY-----`).
    pub fn from_pkcs8_pem(pem: &str) -> Result<Ed25519Signer, SignError> {
        SigningKey::from_pkcs8_pem(pem)
            .map(|key| Ed25519Signer { key })
            .map_err(SignError::InvalidKey)
    }

    /// Loads a PKCS#8 private key in DER form.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Ed25519Signer, SignError> {
        SigningKey::from_pkcs8_der(der)
            .map(|key| Ed25519Signer { key })
            .map_err(SignError::InvalidKey)
    }

    /// The raw 64-byte Ed25519 signature of `payload`.
    #[inline]
    pub fn sign_raw(&self, payload: &[u8]) -> [u8; 64] {
        self.key.sign(payload).to_bytes()
    }

    /// Standard base64 (with padding) of the 64-byte signature: 88 bytes.
    #[inline]
    pub fn sign_base64(&self, payload: &[u8], out: &mut [u8; 88]) {
        let sig = self.sign_raw(payload);
        // 64 bytes encode to exactly 4 * ceil(64 / 3) = 88 bytes, so the
        // slice always fits and this never returns an error.
        let _ = base64::engine::general_purpose::STANDARD.encode_slice(sig, out);
    }

    /// The 32-byte public key (what the venue registers for the API key).
    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }
}

impl std::fmt::Debug for Ed25519Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ed25519Signer")
            .field("public_key", &self.key.verifying_key())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

    fn hex(s: &HmacSigner, p: &[u8]) -> String {
        let mut out = [0u8; 64];
        s.sign_hex(p, &mut out);
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn rfc4231_vectors_including_a_key_longer_than_the_block() {
        // RFC 4231 test case 2 (short key) and case 6 (131-byte key, hashed).
        let s = HmacSigner::new(b"Jefe");
        assert_eq!(
            hex(&s, b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let s = HmacSigner::new(&[0xaa; 131]);
        assert_eq!(
            hex(
                &s,
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            ),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
        // Exactly one block and the empty key.
        let s = HmacSigner::new(&[0x0b; 64]);
        let r = <Hmac<Sha256> as KeyInit>::new_from_slice(&[0x0b; 64]).unwrap();
        assert_eq!(
            s.sign_raw(b"x"),
            <[u8; 32]>::from(r.chain_update(b"x").finalize().into_bytes())
        );
        let s = HmacSigner::new(b"");
        assert_eq!(
            hex(&s, b""),
            "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad"
        );
    }

    #[test]
    fn signing_twice_gives_the_same_answer_state_is_not_consumed() {
        let s = HmacSigner::new(SECRET.as_bytes());
        let a = hex(&s, b"symbol=LTCBTC");
        let b = hex(&s, b"symbol=LTCBTC");
        assert_eq!(a, b);
        assert_ne!(a, hex(&s, b"symbol=LTCBTD"));
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
        );
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let s = HmacSigner::new(SECRET.as_bytes());
        let d = format!("{s:?}");
        assert!(!d.contains("Nhq"), "{d}");
        let pem = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIIJEYWtGBrhACmb9Dvy+qa8WEf0lQOl1s4CLIAB9m89u\n-----END PRIVATE KEY-----\n";
        let e = Ed25519Signer::from_pkcs8_pem(pem).unwrap();
        let d = format!("{e:?}");
        assert!(!d.contains("MC4C") && !d.contains("8244"), "{d}");
    }

    #[test]
    fn bad_keys_are_typed_errors() {
        assert!(matches!(
            Ed25519Signer::from_pkcs8_pem("not a key"),
            Err(SignError::InvalidKey(_))
        ));
        assert!(Ed25519Signer::from_pkcs8_der(&[]).is_err());
        assert!(Ed25519Signer::from_pkcs8_der(&[0x30, 0x03, 0x02, 0x01]).is_err());
        // An RSA-style header with Ed25519 body is still rejected as PEM label.
        assert!(
            Ed25519Signer::from_pkcs8_pem(
                "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGUIKv9dSpWXBViXp2m6vAIb8QMFJYBgyFEQsFJlqgA0=\n-----END PUBLIC KEY-----\n"
            )
            .is_err()
        );
    }
}

//! Secrets the bridge holds for others (the ZenQMS API token, the Okta client secret and
//! tokens) are encrypted at rest with XChaCha20-Poly1305 under a key from `SECRET_KEY` or from
//! `DATA_DIR/secret.key` (0600).
//!
//! Each value is **bound to what it is for** through the AEAD's associated data (RFC 8439
//! §2.8): [`Key::seal`] takes a purpose (`zenqms.api_token`) and the thing the secret is bound
//! to (the ZenQMS base URL; the Okta org URL and client id), and [`Key::open`] opens the
//! value only with the same two. So someone who can write the database but not read the key
//! cannot point a stored ZenQMS token at a server of their choosing by editing the base URL
//! next to it, nor swap an Okta refresh token into the client-secret column: the value stops
//! opening, and the bridge asks for it to be entered again instead of sending it.
//!
//! Formats: `v2:` + base64(nonce ‖ ciphertext) sealed with associated data; `v1:` the same
//! without associated data (before binding). A `v1:` value still opens — [`Opened::legacy`]
//! tells the caller to seal it again bound (migration-free upgrade).

use std::path::Path;

use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

/// Sealed without associated data (before secrets were bound to their purpose).
const PREFIX: &str = "v1:";
/// Sealed with associated data: the purpose and what the secret is bound to.
const PREFIX_BOUND: &str = "v2:";

/// A value opened by [`Key::open`].
#[derive(PartialEq, Eq)]
pub struct Opened {
    pub plaintext: String,
    /// Sealed the old way (`v1:`, unbound): seal it again with [`Key::seal`] and store that.
    pub legacy: bool,
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened")
            .field("plaintext", &"***")
            .field("legacy", &self.legacy)
            .finish()
    }
}

#[derive(Clone)]
pub struct Key([u8; 32]);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(***)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("secret key file {path}: {message}")]
    KeyFile { path: String, message: String },
    #[error("a stored secret cannot be decrypted (was SECRET_KEY or secret.key changed?)")]
    Decrypt,
    /// A bound value that does not open with this purpose and target: the key changed, or
    /// what it is bound to (a base URL, an org URL, a client id) was changed beside it.
    #[error("a stored secret no longer matches what it was saved for (its URL or client id was changed, or the key was): it must be entered again")]
    Unbound,
}

impl Key {
    pub fn from_hex(text: &str) -> Result<Key, String> {
        let bytes = hex::decode(text.trim())
            .map_err(|_| "must be 64 hexadecimal characters (32 bytes)".to_string())?;
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| "must be 64 hexadecimal characters (32 bytes)".to_string())?;
        Ok(Key(arr))
    }

    /// The configured key, else the key file in the data directory, created on first use.
    pub fn load_or_create(configured: Option<&str>, data_dir: &Path) -> Result<Key, CryptoError> {
        if let Some(hex) = configured {
            return Key::from_hex(hex).map_err(|message| CryptoError::KeyFile {
                path: "SECRET_KEY".into(),
                message,
            });
        }
        let path = data_dir.join("secret.key");
        let err = |message: String| CryptoError::KeyFile {
            path: path.display().to_string(),
            message,
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => Key::from_hex(&text).map_err(err),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(data_dir).map_err(|e| err(e.to_string()))?;
                let mut bytes = [0u8; 32];
                rand::rng().fill_bytes(&mut bytes);
                match publish_private(&path, &hex::encode(bytes)) {
                    Ok(()) => Ok(Key(bytes)),
                    // Another process sharing the data directory created it first (instances
                    // started together): its key is the key.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        let text =
                            std::fs::read_to_string(&path).map_err(|e| err(e.to_string()))?;
                        Key::from_hex(&text).map_err(err)
                    }
                    Err(e) => Err(err(e.to_string())),
                }
            }
            Err(e) => Err(err(e.to_string())),
        }
    }

    pub fn encrypt(&self, plaintext: &str) -> String {
        let cipher = XChaCha20Poly1305::new((&self.0).into());
        let mut nonce = [0u8; 24];
        rand::rng().fill_bytes(&mut nonce);
        // Encryption with a fresh nonce and an in-memory buffer cannot fail.
        let sealed = cipher
            .encrypt(XNonce::from_slice(&nonce), plaintext.as_bytes())
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!(
            "{PREFIX}{}",
            base64::engine::general_purpose::STANDARD.encode(out)
        )
    }

    pub fn decrypt(&self, stored: &str) -> Result<String, CryptoError> {
        let b64 = stored.strip_prefix(PREFIX).ok_or(CryptoError::Decrypt)?;
        self.open_raw(b64, b"").ok_or(CryptoError::Decrypt)
    }

    /// Encrypts `plaintext` bound to `purpose` and `bound_to` (see the module docs).
    pub fn seal(&self, purpose: &str, bound_to: &str, plaintext: &str) -> String {
        let cipher = XChaCha20Poly1305::new((&self.0).into());
        let mut nonce = [0u8; 24];
        rand::rng().fill_bytes(&mut nonce);
        let aad = associated_data(purpose, bound_to);
        // Encryption with a fresh nonce and an in-memory buffer cannot fail.
        let sealed = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: &aad,
                },
            )
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!(
            "{PREFIX_BOUND}{}",
            base64::engine::general_purpose::STANDARD.encode(out)
        )
    }

    /// Opens a value sealed by [`Key::seal`] with the same `purpose` and `bound_to`, or an
    /// older unbound one (`legacy`: re-seal it).
    pub fn open(&self, purpose: &str, bound_to: &str, stored: &str) -> Result<Opened, CryptoError> {
        if let Some(b64) = stored.strip_prefix(PREFIX_BOUND) {
            let aad = associated_data(purpose, bound_to);
            return self
                .open_raw(b64, &aad)
                .map(|plaintext| Opened {
                    plaintext,
                    legacy: false,
                })
                .ok_or(CryptoError::Unbound);
        }
        self.decrypt(stored).map(|plaintext| Opened {
            plaintext,
            legacy: true,
        })
    }

    fn open_raw(&self, b64: &str, aad: &[u8]) -> Option<String> {
        let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
        if raw.len() < 24 {
            return None;
        }
        let (nonce, sealed) = raw.split_at(24);
        let cipher = XChaCha20Poly1305::new((&self.0).into());
        let plain = cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg: sealed, aad })
            .ok()?;
        String::from_utf8(plain).ok()
    }
}

/// The associated data of a bound value: length-prefixed so that no two (purpose, target)
/// pairs give the same bytes (`a` + `b:c` is not `a:b` + `c`).
fn associated_data(purpose: &str, bound_to: &str) -> Vec<u8> {
    let mut aad = b"zenqms-bridge/v2".to_vec();
    for part in [purpose, bound_to] {
        aad.extend_from_slice(&(part.len() as u64).to_be_bytes());
        aad.extend_from_slice(part.as_bytes());
    }
    aad
}

/// Creates `path` with `content`, atomically: the content goes to a private file of its own
/// first, which is then hard-linked into place — so a process that finds `path` existing
/// (`AlreadyExists`) always reads a whole key, never an empty or half-written file.
fn publish_private(path: &Path, content: &str) -> std::io::Result<()> {
    let mut tag = [0u8; 8];
    rand::rng().fill_bytes(&mut tag);
    let tmp = path.with_extension(format!(
        "key.{}-{}.tmp",
        std::process::id(),
        hex::encode(tag)
    ));
    write_private(&tmp, content)?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    linked
}

#[cfg(unix)]
fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(content.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    std::fs::write(path, content)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processes_starting_together_agree_on_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let keys: Vec<Key> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..8)
                .map(|_| s.spawn(|| Key::load_or_create(None, dir.path()).unwrap()))
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        assert!(keys.iter().all(|k| k.0 == keys[0].0));
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file is left behind");
    }

    #[test]
    fn bound_values_open_only_for_their_purpose_and_target() {
        let key = Key::from_hex(&"22".repeat(32)).unwrap();
        let sealed = key.seal("zenqms.api_token", "https://a.example", "zq_token");
        assert!(sealed.starts_with("v2:") && !sealed.contains("zq_token"));
        let opened = key
            .open("zenqms.api_token", "https://a.example", &sealed)
            .unwrap();
        assert_eq!(
            (opened.plaintext.as_str(), opened.legacy),
            ("zq_token", false)
        );
        for (purpose, target) in [
            ("zenqms.api_token", "https://evil.example"),
            ("okta.client_secret", "https://a.example"),
            ("zenqms.api_tokenhttps://a", ".example"),
        ] {
            assert!(matches!(
                key.open(purpose, target, &sealed),
                Err(CryptoError::Unbound)
            ));
        }
        // A value sealed before binding opens anywhere, marked for re-sealing.
        let old = key.encrypt("zq_token");
        let opened = key
            .open("zenqms.api_token", "https://b.example", &old)
            .unwrap();
        assert_eq!(
            (opened.plaintext.as_str(), opened.legacy),
            ("zq_token", true)
        );
        assert!(format!("{opened:?}").contains("***"));
    }

    #[test]
    fn round_trip_and_tamper() {
        let dir = tempfile::tempdir().unwrap();
        let key = Key::load_or_create(None, dir.path()).unwrap();
        let sealed = key.encrypt("zq_token");
        assert!(!sealed.contains("zq_token"));
        assert_eq!(key.decrypt(&sealed).unwrap(), "zq_token");
        let again = Key::load_or_create(None, dir.path()).unwrap();
        assert_eq!(again.decrypt(&sealed).unwrap(), "zq_token");
        let other = Key::from_hex(&"11".repeat(32)).unwrap();
        assert!(other.decrypt(&sealed).is_err());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("secret.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}

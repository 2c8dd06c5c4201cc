//! Secrets at rest (CONTRACT.md §12.3).
//!
//! Without a key, secret columns hold plaintext (as the original did). With the host's 32-byte
//! key they hold `enc:v1:<base64(nonce ‖ ciphertext ‖ tag)>`, AES-256-GCM with the row's
//! `account_id` as associated data, so a value copied to another row does not decrypt.
//! Secrets are never logged and never returned by an API; this module is the only place that
//! sees them in clear.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rusqlite::{params, Connection};

use crate::error::{Error, Result};
use crate::ids::random_bytes;

const PREFIX: &str = "enc:v1:";

/// The error every sync reports when a stored secret cannot be read back.
pub const UNDECRYPTABLE: &str =
    "stored credentials cannot be decrypted (missing or wrong secretKey)";

/// Encrypts `plaintext` for the row `account_id` when a key is set; returns it unchanged
/// otherwise.
pub fn seal(key: Option<&[u8; 32]>, account_id: &str, plaintext: &str) -> Result<String> {
    let Some(key) = key else {
        return Ok(plaintext.to_string());
    };
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key));
    let nonce = random_bytes::<12>();
    let sealed = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext.as_bytes(),
                aad: account_id.as_bytes(),
            },
        )
        .map_err(|_| Error::internal("encryption failed"))?;
    let mut blob = Vec::with_capacity(12 + sealed.len());
    blob.extend_from_slice(&nonce);
    blob.extend_from_slice(&sealed);
    Ok(format!("{PREFIX}{}", STANDARD.encode(blob)))
}

/// Decrypts a stored value. Plaintext passes through; an encrypted value without the right
/// key is an error with the contract's text (never garbage).
pub fn open(key: Option<&[u8; 32]>, account_id: &str, stored: &str) -> Result<String> {
    let Some(encoded) = stored.strip_prefix(PREFIX) else {
        return Ok(stored.to_string());
    };
    let fail = || Error::BadRequest(UNDECRYPTABLE.into());
    let key = key.ok_or_else(fail)?;
    let blob = STANDARD.decode(encoded).map_err(|_| fail())?;
    if blob.len() < 12 + 16 {
        return Err(fail());
    }
    let (nonce, sealed) = blob.split_at(12);
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key));
    let plain = cipher
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: sealed,
                aad: account_id.as_bytes(),
            },
        )
        .map_err(|_| fail())?;
    String::from_utf8(plain).map_err(|_| fail())
}

/// Encrypts every plaintext secret in place, in one transaction (run at open with a key).
pub fn seal_existing(conn: &mut Connection, key: &[u8; 32]) -> Result<usize> {
    let tx = conn.transaction()?;
    let mut count = 0;
    for (table, column) in [
        ("atlassian_accounts", "api_token"),
        ("calendar_accounts", "credentials_json"),
    ] {
        let rows: Vec<(String, String)> = {
            let mut stmt = tx.prepare(&format!(
                "SELECT account_id, {column} FROM {table}
                 WHERE {column} IS NOT NULL AND {column} != '' AND {column} NOT LIKE 'enc:v1:%'"
            ))?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<rusqlite::Result<Vec<_>>>()?
        };
        let mut update = tx.prepare(&format!(
            "UPDATE {table} SET {column} = ?2 WHERE account_id = ?1"
        ))?;
        for (account_id, plain) in rows {
            update.execute(params![account_id, seal(Some(key), &account_id, &plain)?])?;
            count += 1;
        }
    }
    tx.commit()?;
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_wrong_key() {
        let key = [7u8; 32];
        let sealed = seal(Some(&key), "atl_1", "token-123").unwrap();
        assert!(sealed.starts_with("enc:v1:"));
        assert!(!sealed.contains("token-123"));
        assert_eq!(open(Some(&key), "atl_1", &sealed).unwrap(), "token-123");
        assert_eq!(
            open(Some(&[8u8; 32]), "atl_1", &sealed)
                .unwrap_err()
                .to_string(),
            UNDECRYPTABLE
        );
        assert!(open(None, "atl_1", &sealed).is_err());
        // Bound to its row.
        assert!(open(Some(&key), "atl_2", &sealed).is_err());
        assert_eq!(open(None, "x", "plain").unwrap(), "plain");
        assert_eq!(seal(None, "x", "plain").unwrap(), "plain");
    }
}

//! Identifiers: a prefix and the 32 lower-hex characters of a v4 UUID (CONTRACT.md §3.5), as the
//! original's `f"{prefix}_{uuid4().hex}"`.

use uuid::{Builder, Uuid};

/// A new v4 UUID from the operating system's generator.
fn new_v4() -> Uuid {
    Builder::from_random_bytes(random_bytes::<16>()).into_uuid()
}

/// 32 lower-hex characters of a v4 UUID (no dashes).
pub fn random_hex32() -> String {
    new_v4().simple().to_string()
}

/// A new id such as `job_36be…`.
pub fn new_id(prefix: &str) -> String {
    let mut buf = [0u8; uuid::fmt::Simple::LENGTH];
    let hex = new_v4().simple().encode_lower(&mut buf);
    let mut id = String::with_capacity(prefix.len() + 1 + hex.len());
    id.push_str(prefix);
    id.push('_');
    id.push_str(hex);
    id
}

/// A random UUIDv4 in its dashed form (Claude Code session ids).
pub fn new_uuid() -> String {
    new_v4().hyphenated().to_string()
}

/// `N` bytes from the operating system's generator.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    if getrandom::fill(&mut bytes).is_err() {
        // The OS generator failing is practically impossible; fall back to a time-seeded mix
        // rather than crashing the host (ids stay unique enough; secrets use `try_random`).
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (seed >> ((i % 16) * 8)) as u8 ^ (i as u8).wrapping_mul(151);
        }
    }
    bytes
}

/// Lower-case hex of a byte slice.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use uuid::{Uuid, Variant};

    #[test]
    fn ids_have_the_contract_shape() {
        for prefix in ["job", "cal", "atl", "session", "obs"] {
            let id = super::new_id(prefix);
            let hex = id.strip_prefix(prefix).and_then(|s| s.strip_prefix('_'));
            let hex = hex.unwrap_or_else(|| panic!("{id}"));
            assert_eq!(hex.len(), 32, "{id}");
            assert!(hex
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
            // A v4 UUID (version nibble 4, RFC 4122 variant), like `uuid4().hex`.
            let uuid = Uuid::try_parse(hex).unwrap();
            assert_eq!(uuid.get_version_num(), 4, "{id}");
            assert_eq!(uuid.get_variant(), Variant::RFC4122, "{id}");
            assert_ne!(super::new_id(prefix), id);
        }
        let dashed = super::new_uuid();
        assert_eq!(dashed.len(), 36);
        assert_eq!(Uuid::try_parse(&dashed).unwrap().get_version_num(), 4);
        assert_eq!(dashed, dashed.to_ascii_lowercase());
        assert_eq!(super::random_hex32().len(), 32);
    }
}

//! Identifiers: a prefix and 32 lower-hex characters of randomness (CONTRACT.md §3.5).

/// 16 random bytes as 32 lower-hex characters (a UUIDv4 without dashes).
pub fn random_hex32() -> String {
    let mut bytes = random_bytes::<16>();
    // Version 4, variant 10: the ids look like the original's `uuid4().hex`.
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    hex(&bytes)
}

/// A new id such as `job_36be…`.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", random_hex32())
}

/// A random UUIDv4 in its dashed form (Claude Code session ids).
pub fn new_uuid() -> String {
    let h = random_hex32();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
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
    #[test]
    fn ids_have_the_contract_shape() {
        let id = super::new_id("job");
        assert!(id.starts_with("job_"));
        assert_eq!(id.len(), 36);
        assert!(id[4..]
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_ne!(super::new_id("job"), id);
        assert_eq!(super::new_uuid().len(), 36);
    }
}

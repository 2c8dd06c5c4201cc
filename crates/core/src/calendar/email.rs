//! `EmailStr` of Pydantic (email-validator without the deliverability check), as CONTRACT.md
//! §3.6 lists its rules: an `@`, no quoted local part, a domain with a dot that is not a
//! special-use name; whitespace trimmed and the domain lower-cased.

/// Top-level names email-validator refuses (special-use domains).
const SPECIAL_USE: [&str; 6] = ["arpa", "invalid", "local", "localhost", "onion", "test"];

/// Characters allowed unquoted in a local part (RFC 5322 `atext`, plus `.`).
fn atext(c: char) -> bool {
    c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c) || !c.is_ascii()
}

/// The normalised address, or the reason email-validator would give.
pub fn normalize_email(raw: &str) -> Result<String, String> {
    let text = raw.trim();
    let Some((local, domain)) = text.rsplit_once('@') else {
        return Err("An email address must have an @-sign.".into());
    };
    if local.is_empty() {
        return Err("There must be something before the @-sign.".into());
    }
    if domain.is_empty() {
        return Err("There must be something after the @-sign.".into());
    }
    if local.starts_with('"') {
        return Err("Quoting the part before the @-sign is not allowed here.".into());
    }
    if !local.chars().all(atext) {
        return Err("The email address contains invalid characters before the @-sign.".into());
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err("The email address contains a period in an invalid position.".into());
    }
    let domain = domain.to_lowercase();
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.iter().any(|l| l.is_empty()) {
        return Err("An email address cannot have a period in an invalid position.".into());
    }
    if labels.len() < 2 {
        return Err("The part after the @-sign is not valid. It should have a period.".into());
    }
    let label_ok = |l: &&str| {
        !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars()
                .all(|c| c.is_alphanumeric() || c == '-' || !c.is_ascii())
    };
    if !labels.iter().all(label_ok) {
        return Err("The part after the @-sign contains invalid characters.".into());
    }
    if labels.last().is_some_and(|tld| SPECIAL_USE.contains(tld)) {
        return Err(
            "The part after the @-sign is a special-use or reserved name that cannot be used with email."
                .into(),
        );
    }
    Ok(format!("{local}@{domain}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_cases() {
        assert_eq!(
            normalize_email(" A.B+c@Example.COM ").unwrap(),
            "A.B+c@example.com"
        );
        assert!(normalize_email("nope").is_err());
        assert!(normalize_email("a@localhost").is_err());
        assert!(normalize_email("a@b.test").is_err());
        assert!(normalize_email("a@b.local").is_err());
        assert!(normalize_email("\"a\"@b.com").is_err());
        assert!(normalize_email("a b@c.com").is_err());
    }
}

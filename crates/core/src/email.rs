//! Pydantic's `EmailStr` rules, as CONTRACT.md §3.6 states them: no deliverability check;
//! reject a missing `@`, a domain without a dot, special-use domains and quoted local parts;
//! trim whitespace, lower-case the domain, and turn IDNA (`xn--`) labels into Unicode.
//! Shared by every input with an e-mail field (calendar and Atlassian accounts).

/// Domains that `email-validator` refuses as special-use or reserved.
const SPECIAL_USE: [&str; 6] = ["arpa", "invalid", "local", "localhost", "onion", "test"];

/// The normalised address, or the reason it is invalid (the `ctx.reason` of the 422 item).
pub fn normalize_email(input: &str) -> Result<String, &'static str> {
    let text = input.trim();
    let Some(at) = text.rfind('@') else {
        return Err("An email address must have an @-sign.");
    };
    let (local, domain) = (&text[..at], &text[at + 1..]);
    if local.is_empty() {
        return Err("There must be something before the @-sign.");
    }
    if domain.is_empty() {
        return Err("There must be something after the @-sign.");
    }
    if local.starts_with('"') {
        return Err("Quoting the part before the @-sign is not allowed here.");
    }
    check_local(local)?;
    let domain = normalize_domain(domain)?;
    Ok(format!("{local}@{domain}"))
}

fn check_local(local: &str) -> Result<(), &'static str> {
    if local.chars().count() > 64 {
        return Err("The email address is too long before the @-sign.");
    }
    if local.starts_with('.') {
        return Err("An email address cannot start with a period.");
    }
    if local.ends_with('.') {
        return Err("An email address cannot have a period immediately before the @-sign.");
    }
    if local.contains("..") {
        return Err("An email address cannot have two periods in a row.");
    }
    let ok = |c: char| {
        c.is_alphanumeric()
            || "!#$%&'*+-/=?^_`{|}~.".contains(c)
            || (!c.is_ascii() && !c.is_control() && !c.is_whitespace())
    };
    if !local.chars().all(ok) {
        return Err("The email address contains invalid characters before the @-sign.");
    }
    Ok(())
}

fn normalize_domain(domain: &str) -> Result<String, &'static str> {
    let lower = domain.to_lowercase();
    if lower.starts_with('[') {
        return Err("The part after the @-sign cannot be an address literal here.");
    }
    let mut labels = Vec::new();
    for label in lower.split('.') {
        if label.is_empty() {
            return Err("An email address cannot have a period immediately after the @-sign, two periods in a row, or end with a period.");
        }
        let label = match label.strip_prefix("xn--") {
            Some(code) => punycode_decode(code)
                .ok_or("The part after the @-sign contains an invalid IDNA label.")?
                .to_lowercase(),
            None => label.to_string(),
        };
        if label.starts_with('-') || label.ends_with('-') {
            return Err("An email address cannot have a hyphen immediately after the @-sign or before a period.");
        }
        let valid = |c: char| {
            c.is_alphanumeric()
                || c == '-'
                || (!c.is_ascii() && !c.is_whitespace() && !c.is_control())
        };
        if !label.chars().all(valid) || label.len() > 63 {
            return Err("The part after the @-sign contains invalid characters.");
        }
        labels.push(label);
    }
    if labels.len() < 2 {
        return Err("The part after the @-sign is not valid. It should have a period.");
    }
    let last = labels.last().map(String::as_str).unwrap_or_default();
    if last.chars().all(|c| c.is_ascii_digit()) {
        return Err(
            "The part after the @-sign is not valid. It is not within a valid top-level domain.",
        );
    }
    if SPECIAL_USE.contains(&last) {
        return Err("The part after the @-sign is a special-use or reserved name that cannot be used with email.");
    }
    let joined = labels.join(".");
    if joined.len() > 253 {
        return Err("The email address is too long after the @-sign.");
    }
    Ok(joined)
}

/// RFC 3492 decoding of one label's code (the part after `xn--`).
fn punycode_decode(input: &str) -> Option<String> {
    const BASE: u32 = 36;
    const TMIN: u32 = 1;
    const TMAX: u32 = 26;
    let (basic, extended) = match input.rfind('-') {
        Some(i) => (&input[..i], &input[i + 1..]),
        None => ("", input),
    };
    if !basic.is_ascii() {
        return None;
    }
    let mut output: Vec<char> = basic.chars().collect();
    let (mut n, mut i, mut bias) = (128u32, 0u32, 72u32);
    let mut digits = extended.bytes().peekable();
    while digits.peek().is_some() {
        let old_i = i;
        let mut w = 1u32;
        let mut k = BASE;
        loop {
            let byte = digits.next()?;
            let digit = match byte {
                b'a'..=b'z' => u32::from(byte - b'a'),
                b'A'..=b'Z' => u32::from(byte - b'A'),
                b'0'..=b'9' => u32::from(byte - b'0') + 26,
                _ => return None,
            };
            i = i.checked_add(digit.checked_mul(w)?)?;
            let t = if k <= bias {
                TMIN
            } else if k >= bias + TMAX {
                TMAX
            } else {
                k - bias
            };
            if digit < t {
                break;
            }
            w = w.checked_mul(BASE - t)?;
            k += BASE;
        }
        let len = output.len() as u32 + 1;
        // Bias adaptation (RFC 3492 §6.1).
        let mut delta = if old_i == 0 {
            (i - old_i) / 700
        } else {
            (i - old_i) / 2
        };
        delta += delta / len;
        let mut k = 0;
        while delta > ((BASE - TMIN) * TMAX) / 2 {
            delta /= BASE - TMIN;
            k += BASE;
        }
        bias = k + (BASE - TMIN + 1) * delta / (delta + 38);
        n = n.checked_add(i / len)?;
        i %= len;
        output.insert(i as usize, char::from_u32(n)?);
        i += 1;
    }
    Some(output.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_like_email_str() {
        assert_eq!(
            normalize_email(" A.B+c@Example.COM ").unwrap(),
            "A.B+c@example.com"
        );
        assert_eq!(
            normalize_email("me@xn--bcher-kva.ch").unwrap(),
            "me@bücher.ch"
        );
        assert!(normalize_email("nope").is_err());
        assert!(normalize_email("a@localhost").is_err());
        assert!(normalize_email("a@foo.test").is_err());
        assert!(normalize_email("a@foo.local").is_err());
        assert!(normalize_email("\"a b\"@x.com").is_err());
        assert!(normalize_email("@x.com").is_err());
        assert!(normalize_email("a@").is_err());
        assert!(normalize_email("a..b@x.com").is_err());
        assert!(normalize_email("a b@x.com").is_err());
        assert!(normalize_email("a@x..com").is_err());
        assert_eq!(normalize_email("user@test.com").unwrap(), "user@test.com");
        assert_eq!(normalize_email("a@example.com").unwrap(), "a@example.com");
    }
}

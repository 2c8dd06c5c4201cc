//! The app's JavaScript string semantics, in Rust (reference A.3–A.5): JS whitespace, JS
//! `toLowerCase`, UTF-16 positions, `encodeURIComponent`/`decodeURIComponent`, and the
//! note-name rules (`.md` suffixes, titles, walk order).

use std::cmp::Ordering;

/// JavaScript's `\s` / `trim` set: TAB, LF, VT, FF, CR, SPACE, U+00A0, U+1680, U+2000–U+200A,
/// U+2028, U+2029, U+202F, U+205F, U+3000, U+FEFF. It includes U+FEFF and excludes U+0085,
/// unlike Rust's `char::is_whitespace`.
pub fn is_js_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{0B}' | '\u{0C}' | '\r' | ' ' | '\u{A0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200A}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202F}'
                | '\u{205F}'
                | '\u{3000}'
                | '\u{FEFF}'
    )
}

/// `s.trim()` with the JS whitespace set.
pub fn js_trim(s: &str) -> &str {
    s.trim_matches(is_js_space)
}

/// `s.toLowerCase()`: the full Unicode mapping (`İ` → `i̇`, final sigma), as JS does.
pub fn js_lower(s: &str) -> String {
    if s.is_ascii() {
        s.to_ascii_lowercase()
    } else {
        s.to_lowercase()
    }
}

/// `query.trim().toLowerCase().split(/\s+/).filter(Boolean)`: duplicates kept.
pub fn tokens(query: &str) -> Vec<String> {
    js_lower(js_trim(query))
        .split(is_js_space)
        .filter(|t| !t.is_empty())
        .map(String::from)
        .collect()
}

/// Non-overlapping occurrences of `needle` in `haystack`, leftmost first (the app's
/// `indexOf` loop that moves past each match). Byte search in UTF-8 finds the same matches
/// as JS's search in UTF-16: both strings are valid, so matches align with characters.
pub fn count_matches(haystack: &str, finder: &memchr::memmem::Finder<'_>) -> u64 {
    let needle_len = finder.needle().len();
    if needle_len == 0 {
        return 0;
    }
    let bytes = haystack.as_bytes();
    let mut count = 0;
    let mut at = 0;
    while let Some(i) = finder.find(&bytes[at..]) {
        count += 1;
        at += i + needle_len;
    }
    count
}

/// The number of UTF-16 code units of `s` (JS `length`).
pub fn utf16_len(s: &str) -> usize {
    // One unit per character (per byte that is not a continuation byte), two for a
    // character of four bytes (lead byte 0xF0 and up).
    s.bytes()
        .map(|b| usize::from(b & 0xC0 != 0x80) + usize::from(b >= 0xF0))
        .sum()
}

/// Collapses every run of JS whitespace into one space (`replace(/\s+/g, " ")`).
fn collapse_spaces(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_space = false;
    for c in s.chars() {
        if is_js_space(c) {
            if !in_space {
                out.push(' ');
            }
            in_space = true;
        } else {
            out.push(c);
            in_space = false;
        }
    }
    out
}

/// The app's `buildSnippet`: `start = max(0, idx-60)`, `end = min(len, idx+token+80)` in UTF-16
/// units of the *original* content, where `idx` is the UTF-16 position of the earliest token in
/// the *lower-cased* content (the app mixes the two strings; so do we). Whitespace runs become
/// one space, the excerpt is trimmed, and `...` marks a cut at either end. A window edge that
/// falls inside a surrogate pair drops that half character (CONTRACT.md §17.1).
pub fn snippet(content: &str, lower: &str, tokens: &[String]) -> Option<String> {
    let mut best: Option<(usize, &str)> = None;
    for token in tokens {
        if let Some(byte_idx) = lower.find(token.as_str()) {
            if best.is_none_or(|(b, _)| byte_idx < b) {
                best = Some((byte_idx, token));
            }
        }
    }
    let (byte_idx, token) = best?;
    let idx = utf16_len(&lower[..byte_idx]);
    let total = utf16_len(content);
    let start = idx.saturating_sub(60);
    let end = (idx + utf16_len(token) + 80).min(total);
    // The characters wholly inside [start, end) in UTF-16 units: one run of bytes.
    let bytes = content.as_bytes();
    let (mut from, mut to) = (None, 0);
    let (mut pos, mut i) = (0usize, 0usize);
    while i < bytes.len() && pos < end {
        let (len, w) = match bytes[i] {
            0..=0x7F => (1, 1),
            0x80..=0xDF => (2, 1),
            0xE0..=0xEF => (3, 1),
            _ => (4, 2),
        };
        if pos >= start && pos + w <= end {
            from.get_or_insert(i);
            to = i + len;
        }
        pos += w;
        i += len;
    }
    let slice = from.map_or("", |from| &content[from..to]);
    let collapsed = collapse_spaces(slice);
    let mut out = String::with_capacity(collapsed.len() + 6);
    if start > 0 {
        out.push_str("...");
    }
    out.push_str(js_trim(&collapsed));
    if end < total {
        out.push_str("...");
    }
    Some(out)
}

/// True when `name` ends with `.md` in any case (the search walk's rule).
pub fn has_md_suffix_ci(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() >= 3 && b[b.len() - 3] == b'.' && b[b.len() - 2..].eq_ignore_ascii_case(b"md")
}

/// `relativePath` without a final `.md` (any case): the app's `relativeId`.
pub fn strip_md_ci(rel: &str) -> &str {
    if has_md_suffix_ci(rel) {
        &rel[..rel.len() - 3]
    } else {
        rel
    }
}

/// The basename of a `/`-separated relative id.
pub fn basename(rel_id: &str) -> &str {
    rel_id.rsplit('/').next().unwrap_or(rel_id)
}

/// The app's walk order of two relative paths: folder by folder, names in byte order, a
/// folder's notes where the folder's name sorts (`tie/` before `tie-b.md` before `tie.md`).
pub fn walk_cmp(a: &str, b: &str) -> Ordering {
    let key = |s: &str| {
        s.bytes()
            .map(|c| if c == b'/' { 0 } else { c })
            .collect::<Vec<u8>>()
    };
    // Cheap path: no separator in either.
    if !a.contains('/') && !b.contains('/') {
        return a.as_bytes().cmp(b.as_bytes());
    }
    key(a).cmp(&key(b))
}

/// `encodeURIComponent`: leaves `A-Z a-z 0-9 - _ . ! ~ * ' ( )`, upper-case hex otherwise.
pub fn encode_uri_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(b as char);
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
    out
}

/// `decodeURIComponent`, `None` where JS throws (a malformed escape or invalid UTF-8).
pub fn decode_uri_component(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let text = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(text, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `Date.toISOString()` of epoch milliseconds: `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn iso_ms(ms: i64) -> String {
    use chrono::TimeZone;
    use chrono::{Datelike, Timelike};
    match chrono::Utc.timestamp_millis_opt(ms).single() {
        Some(at) if (0..=9999).contains(&at.year()) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            at.year(),
            at.month(),
            at.day(),
            at.hour(),
            at.minute(),
            at.second(),
            at.timestamp_subsec_millis()
        ),
        Some(at) => at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        None => "1970-01-01T00:00:00.000Z".into(),
    }
}

/// Node's `stats.mtime` in milliseconds: `round(sec * 1e3 + nsec / 1e6)` in doubles.
pub fn mtime_ms(meta: &std::fs::Metadata) -> i64 {
    let (sec, nsec) = match meta.modified() {
        Ok(t) => match t.duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => (d.as_secs() as f64, f64::from(d.subsec_nanos())),
            Err(e) => {
                let d = e.duration();
                (-(d.as_secs() as f64), -f64::from(d.subsec_nanos()))
            }
        },
        Err(_) => (0.0, 0.0),
    };
    let ms = sec * 1e3 + nsec / 1e6;
    // JS Math.round: halves go up.
    (ms + 0.5).floor() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_follow_js_whitespace_and_keep_duplicates() {
        assert_eq!(tokens(" Foo\u{3000}foo\u{FEFF}BAR "), ["foo", "foo", "bar"]);
        // U+0085 is not JS whitespace.
        assert_eq!(tokens("a\u{85}b"), ["a\u{85}b"]);
        assert!(tokens(" \t\u{A0} ").is_empty());
    }

    #[test]
    fn counts_are_non_overlapping() {
        let f = memchr::memmem::Finder::new("aa");
        assert_eq!(count_matches("aaaa", &f), 2);
        assert_eq!(count_matches("aaa", &f), 1);
        let f = memchr::memmem::Finder::new("검색");
        assert_eq!(count_matches("검색 기능 검색", &f), 2);
    }

    #[test]
    fn snippets_match_the_apps_examples() {
        let content = "# Alpha\n\nfoo bar foo\n";
        assert_eq!(
            snippet(content, &js_lower(content), &["foo".into()]).as_deref(),
            Some("# Alpha foo bar foo")
        );
        let content = "a\u{A0}needle\u{3000}b";
        assert_eq!(
            snippet(content, &js_lower(content), &["needle".into()]).as_deref(),
            Some("a needle b")
        );
        assert_eq!(snippet("abc", "abc", &["zz".into()]), None);
        let long = format!("{}needle{}", "x".repeat(100), "y".repeat(100));
        let s = snippet(&long, &long, &["needle".into()]).unwrap_or_default();
        assert!(s.starts_with("...") && s.ends_with("..."));
        assert_eq!(s.len(), 3 + 60 + 6 + 80 + 3);
    }

    #[test]
    fn a_window_edge_inside_a_surrogate_pair_drops_the_half() {
        // 59 'x' then an emoji (2 units) then the needle: start = 61 - 60 = 1 (inside nothing);
        // with 60 'x' + emoji: idx = 62, start = 2... build one where start splits the emoji.
        let content = format!("x😀{}needle", "y".repeat(59));
        // idx = 1 + 2 + 59 = 62, start = 2 = inside the emoji (units 1..3).
        let s = snippet(&content, &content, &["needle".into()]).unwrap_or_default();
        assert_eq!(s, format!("...{}needle", "y".repeat(59)));
    }

    #[test]
    fn uri_component_round_trips_like_js() {
        let s = "a b/c(d)!*'~é#?&";
        assert_eq!(encode_uri_component(s), "a%20b%2Fc(d)!*'~%C3%A9%23%3F%26");
        assert_eq!(
            decode_uri_component(&encode_uri_component(s)).as_deref(),
            Some(s)
        );
        assert_eq!(decode_uri_component("%E0%A4%A"), None);
        assert_eq!(decode_uri_component("%FF"), None);
    }

    #[test]
    fn walk_order_puts_a_folder_where_its_name_sorts() {
        let mut v = vec![
            "tie.md", "tie-b.md", "tie/x.md", "B.md", "a.md", "10.md", "9.md",
        ];
        v.sort_by(|a, b| walk_cmp(a, b));
        assert_eq!(
            v,
            ["10.md", "9.md", "B.md", "a.md", "tie/x.md", "tie-b.md", "tie.md"]
        );
    }

    #[test]
    fn md_suffix_and_titles() {
        assert!(has_md_suffix_ci("x.MD") && has_md_suffix_ci(".md") && !has_md_suffix_ci("xmd"));
        assert_eq!(strip_md_ci("sub/Foo.MD"), "sub/Foo");
        assert_eq!(basename("sub/Foo"), "Foo");
        assert_eq!(iso_ms(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }
}

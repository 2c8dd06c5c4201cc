//! Encoders of outbound requests and readable texts of their answers: form bodies and query
//! strings as Python's `urlencode` writes them, path segments, HTML escaping (the OAuth
//! callback pages) and bounded snippets of error bodies.

/// Longest response body kept in an error text.
const MAX_ERROR_BODY: usize = 500;

/// The body cut to a readable length, whitespace collapsed (HTML error pages stay short).
pub fn snippet(body: &str) -> String {
    let collapsed = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().count() > MAX_ERROR_BODY {
        let cut: String = collapsed.chars().take(MAX_ERROR_BODY).collect();
        format!("{cut}…")
    } else {
        collapsed
    }
}

/// `application/x-www-form-urlencoded` of `pairs`, in order (Python's `urlencode`).
pub fn form(pairs: &[(&str, &str)]) -> String {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        ser.append_pair(k, v);
    }
    ser.finish()
}

/// One path segment, percent-encoded (calendar ids contain `#`, `@` and `/`).
pub fn path_segment(segment: &str) -> String {
    url::form_urlencoded::byte_serialize(segment.as_bytes())
        .collect::<String>()
        // `byte_serialize` writes a space as `+`, which a path does not decode.
        .replace('+', "%20")
}

/// Escapes text for HTML (element content and attribute values).
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_python() {
        assert_eq!(
            form(&[("redirect_uri", "http://127.0.0.1:5/cb"), ("s", "a b")]),
            "redirect_uri=http%3A%2F%2F127.0.0.1%3A5%2Fcb&s=a+b"
        );
        assert_eq!(
            path_segment("en.usa#holiday@group.v.calendar.google.com"),
            "en.usa%23holiday%40group.v.calendar.google.com"
        );
        assert_eq!(path_segment("a b/c"), "a%20b%2Fc");
        assert_eq!(
            html_escape("<script>alert('x')&\"</script>"),
            "&lt;script&gt;alert(&#x27;x&#x27;)&amp;&quot;&lt;/script&gt;"
        );
        assert_eq!(
            snippet("<html>\n  <b>x</b>\n</html>"),
            "<html> <b>x</b> </html>"
        );
    }
}

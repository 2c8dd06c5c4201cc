//! The index of short search terms (1 and 2 characters, CONTRACT.md §15.3): trigrams cannot
//! find `회의` or `PR`, so each observation also gets a row in `observations_grams`, a
//! contentless FTS5 table whose tokens are every 2-character window of its lower-cased words
//! (and each word's last character alone), each written as `g` + the hex of its UTF-8 bytes
//! so that no tokenizer rule (punctuation, emoji) can split or drop it. A 2-character term is
//! then one token, a 1-character term a prefix query (`g<hex>*`: UTF-8 is prefix-free, so it
//! matches exactly the windows that start with that character, plus the last characters).
//! This answers the same as a substring scan of the same columns, from an index.

use rusqlite::{params, Connection};

use crate::error::Result;

/// The table (contentless; rows deleted by rowid).
/// `detail=none`: only which rows hold a token is stored (no positions: a short term is one
/// token, so no phrase is ever asked), which keeps the table small and its writes cheap.
pub(crate) const DDL: &str = "CREATE VIRTUAL TABLE IF NOT EXISTS observations_grams USING fts5(
  grams, content='', contentless_delete=1, detail=none, tokenize='unicode61')";

fn hex_token(out: &mut String, chars: &[char]) {
    out.push('g');
    let mut buf = [0u8; 4];
    for c in chars {
        for b in c.encode_utf8(&mut buf).as_bytes() {
            out.push_str(&format!("{b:02x}"));
        }
    }
}

/// The tokens of the searchable text of an observation.
pub fn grams<S: AsRef<str>>(parts: &[S]) -> String {
    let mut out = String::new();
    let mut seen = std::collections::HashSet::new();
    for part in parts {
        let lower = part.as_ref().to_lowercase();
        for word in lower.split_whitespace() {
            let chars: Vec<char> = word.chars().collect();
            let mut push = |cs: &[char]| {
                let mut tok = String::with_capacity(1 + cs.len() * 8);
                hex_token(&mut tok, cs);
                if seen.insert(tok.clone()) {
                    out.push_str(&tok);
                    out.push(' ');
                }
            };
            for w in chars.windows(2) {
                push(w);
            }
            if let Some(last) = chars.last() {
                push(std::slice::from_ref(last));
            }
        }
    }
    out
}

/// The FTS5 expression of short terms: `"g…"` for 2 characters, `"g…"*` for 1.
pub fn expression(terms: &[String]) -> String {
    terms
        .iter()
        .map(|t| {
            let chars: Vec<char> = t.chars().collect();
            let mut tok = String::new();
            hex_token(&mut tok, &chars);
            if chars.len() == 1 {
                format!("\"{tok}\"*")
            } else {
                format!("\"{tok}\"")
            }
        })
        .collect::<Vec<_>>()
        .join(" OR ")
}

/// Writes the row of a new observation `rowid`.
pub(crate) fn insert<S: AsRef<str>>(conn: &Connection, rowid: i64, parts: &[S]) -> Result<()> {
    conn.prepare_cached("INSERT INTO observations_grams (rowid, grams) VALUES (?1, ?2)")?
        .execute(params![rowid, grams(parts)])?;
    Ok(())
}

/// Writes the row of observation `rowid` (replacing an existing one).
pub(crate) fn put<S: AsRef<str>>(conn: &Connection, rowid: i64, parts: &[S]) -> Result<()> {
    conn.prepare_cached("DELETE FROM observations_grams WHERE rowid = ?1")?
        .execute(params![rowid])?;
    conn.prepare_cached("INSERT INTO observations_grams (rowid, grams) VALUES (?1, ?2)")?
        .execute(params![rowid, grams(parts)])?;
    Ok(())
}

/// Deletes the row of observation `rowid`.
pub(crate) fn delete(conn: &Connection, rowid: i64) -> Result<()> {
    conn.prepare_cached("DELETE FROM observations_grams WHERE rowid = ?1")?
        .execute(params![rowid])?;
    Ok(())
}

/// `rowid, title, narrative, facts, concepts` of one observation.
type TextRow = (i64, String, String, Option<String>, Option<String>);

/// Fills the table from every observation (migration).
pub(crate) fn rebuild(conn: &Connection) -> Result<()> {
    let rows: Vec<TextRow> = {
        let mut stmt =
            conn.prepare("SELECT rowid, title, narrative, facts, concepts FROM observations")?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for (rowid, title, narrative, facts, concepts) in rows {
        insert(
            conn,
            rowid,
            &[
                &title,
                &narrative,
                facts.as_deref().unwrap_or(""),
                concepts.as_deref().unwrap_or(""),
            ],
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_windows_and_last_characters() {
        assert_eq!(grams(&["Ab"]), "g6162 g62 ");
        assert_eq!(
            expression(&["b".into(), "ab".into()]),
            "\"g62\"* OR \"g6162\""
        );
        // Korean: 회의 is a window of 회의록을.
        let g = grams(&["회의록을"]);
        assert!(g.contains(&expression(&["회의".into()]).trim_matches('"').to_string()));
    }
}

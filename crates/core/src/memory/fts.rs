//! The rows of `observations_fts` (CONTRACT.md §15.2), written by the code that writes
//! `observations`, in the same transaction.
//!
//! Why not triggers (the first version had three): a statement that fires a trigger writing
//! to a virtual table runs in a statement transaction, and SQLite opens a savepoint on every
//! virtual table for it. FTS5 writes its pending index out at every savepoint, so each
//! inserted observation became an index segment of its own that FTS5 then merged, again and
//! again: 60 % of a capture's time (10,000 activity rows into a 100,000-observation memory:
//! 4 s). A single-row insert into the FTS table itself needs no statement transaction, so
//! the pending index grows over the whole chunk and is written out once, at commit.
//!
//! Every writer of `observations` goes through [`super::store`]: [`insert`] after a new row,
//! [`remove`] before a row's text changes or the row goes (the external-content table needs
//! the old text to delete its tokens), [`insert`] again after the change. FTS5's
//! `integrity-check` holds after each of them (tested).

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::Result;

/// The searchable text of one observation, in the FTS table's column order: `title`,
/// `narrative`, `facts`, `concepts` (the lists as their stored JSON).
pub(crate) type Text<'a> = [Option<&'a str>; 4];

/// Indexes observation `rowid` (`id`) with `text` as stored (after inserting or updating it).
///
/// The values are bound, not selected from `observations`: an `INSERT … SELECT` is a
/// multi-row statement, which would bring back the statement transaction (and its flush).
pub(crate) fn insert(conn: &Connection, rowid: i64, id: &str, text: &Text) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO observations_fts (rowid, observation_id, title, narrative, facts, concepts)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![rowid, id, text[0], text[1], text[2], text[3]])?;
    Ok(())
}

/// Removes observation `rowid`'s tokens as it is stored now (before changing or deleting it);
/// nothing when there is no such row.
pub(crate) fn remove(conn: &Connection, rowid: i64) -> Result<()> {
    let old = conn
        .prepare_cached(
            "SELECT observation_id, title, narrative, facts, concepts
               FROM observations WHERE rowid = ?1",
        )?
        .query_row(params![rowid], |r| {
            Ok((
                r.get::<_, Option<String>>(0)?,
                [r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?],
            ))
        })
        .optional()?;
    let Some((id, text)) = old else {
        return Ok(());
    };
    let text: [Option<String>; 4] = text;
    conn.prepare_cached(
        "INSERT INTO observations_fts
           (observations_fts, rowid, observation_id, title, narrative, facts, concepts)
         VALUES ('delete', ?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![rowid, id, text[0], text[1], text[2], text[3]])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use rusqlite::params;

    use crate::memory::observation::Draft;
    use crate::memory::store::{delete, upsert, Stored};
    use crate::store::Store;

    fn draft(title: &str, narrative: &str) -> Draft {
        Draft {
            title: title.into(),
            narrative: narrative.into(),
            facts: Some(vec!["사실 하나".into()]),
            concepts: None,
            kind: "note".into(),
            source: "manual".into(),
            source_event_id: None,
            project_path: None,
            event_time: "2026-01-01T00:00:00Z".into(),
            event_ts: 1,
            ledger: Some(("t".into(), "k".into())),
        }
    }

    fn check(store: &Store) {
        store
            .write_blocking(|c| {
                Ok(c.execute(
                    "INSERT INTO observations_fts (observations_fts, rank) VALUES ('integrity-check', 1)",
                    [],
                )?)
            })
            .unwrap();
    }

    fn matches(store: &Store, term: &str) -> i64 {
        store
            .read_blocking(|c| {
                Ok(c.query_row(
                    "SELECT COUNT(*) FROM observations_fts WHERE observations_fts MATCH ?1",
                    params![format!("\"{term}\"")],
                    |r| r.get(0),
                )?)
            })
            .unwrap()
    }

    /// Insert, unchanged re-sync, changed text and delete each leave the index equal to its
    /// content table, and a database of an earlier build loses its triggers and the
    /// short-term table at migration 7 (a trigger would index every row twice).
    #[test]
    fn every_write_keeps_the_index_exact() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.db");
        {
            // An earlier build's database: triggers on `observations`, `observations_grams`.
            let store = Store::open(&path).unwrap();
            store
                .write_blocking(|c| {
                    c.execute_batch(
                        "CREATE TRIGGER observations_fts_insert AFTER INSERT ON observations BEGIN
                           INSERT INTO observations_fts (rowid, observation_id, title, narrative, facts, concepts)
                           VALUES (new.rowid, new.observation_id, new.title, new.narrative, new.facts, new.concepts);
                         END;
                         CREATE VIRTUAL TABLE observations_grams USING fts5(grams);
                         PRAGMA user_version = 6;",
                    )?;
                    Ok(())
                })
                .unwrap();
            store.close();
        }
        let store = Store::open(&path).unwrap();
        let left: i64 = store
            .read_blocking(|c| {
                Ok(c.query_row(
                    "SELECT COUNT(*) FROM sqlite_master
                      WHERE type = 'trigger' AND tbl_name = 'observations'
                         OR name = 'observations_grams'",
                    [],
                    |r| r.get(0),
                )?)
            })
            .unwrap();
        assert_eq!(left, 0);

        let write = |d: Draft| {
            store
                .write_blocking(move |c| {
                    let tx = c.transaction()?;
                    let stored = upsert(&tx, &d)?;
                    tx.commit()?;
                    Ok(stored)
                })
                .unwrap()
        };
        let Stored::Created(id) = write(draft("회의록을 정리했다", "first text")) else {
            panic!("not created");
        };
        check(&store);
        assert_eq!(matches(&store, "회의록"), 1);
        assert!(matches!(
            write(draft("회의록을 정리했다", "first text")),
            Stored::Unchanged(_)
        ));
        check(&store);
        assert!(matches!(
            write(draft("배포 일정", "second text")),
            Stored::Updated(_)
        ));
        check(&store);
        assert_eq!(matches(&store, "회의록"), 0);
        assert_eq!(matches(&store, "second"), 1);
        assert!(store.write_blocking(move |c| delete(c, &id)).unwrap());
        check(&store);
        assert_eq!(matches(&store, "second"), 0);
    }
}

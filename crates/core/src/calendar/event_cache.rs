//! `listCalendarEvents` from an in-memory copy of the event rows.
//!
//! The copy ([`EventTable`]) is loaded with one read of every listable row and then answers
//! any range without SQLite. It is current exactly when the store's version of
//! `calendar_events` (the calendar module's watch of the table, [`crate::store::Store::watch`],
//! bumped after every committed write that changed a row) equals the version it was loaded at. The caller reads
//! that version before the read transaction that lists (or reloads), so a copy is never
//! labelled with a version newer than its rows. A sync that changes nothing bumps nothing, so
//! the copy survives the periodic incremental syncs.
//!
//! Loading the copy costs ≈ 2.5 µs a stored event (25 ms for 10,000), several times one
//! month's listing from SQLite, so no listing waits for it: a listing that finds the copy
//! stale (or missing, after open) reads its range from SQLite and has the copy reloaded in the
//! background ([`EventCache::start_loading`]). The sync job reloads an existing copy itself
//! before it announces its end, so the listing the app runs on that announcement finds it
//! current; a process that never lists events never holds a copy.
//!
//! Past [`MAX_CACHED_ROWS`] stored events the copy would cost more memory than it saves time
//! (≈ 0.5 KB an event), so listings read only their range from SQLite, through the same table
//! type and the same selection.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rusqlite::{params, Connection};
use serde_json::Value;

use super::accounts::EventQuery;
use super::event_list::EventList;
use super::event_table::{Calendars, EventFilter, EventTable, TableBuilder, SELECT_COLUMNS};
use crate::error::Result;
use crate::store::{lock, Store, TableWatch};

/// Stored events above which listings read SQLite instead of keeping a copy.
pub const MAX_CACHED_ROWS: i64 = 50_000;

/// The copy of the event rows and the version it was loaded at.
#[derive(Default)]
pub struct EventCache {
    slot: Mutex<Option<Cached>>,
    /// A background reload is under way.
    loading: AtomicBool,
    /// [`MAX_CACHED_ROWS`], lower in tests.
    max_rows: Option<i64>,
}

struct Cached {
    version: u64,
    /// `None`: the table had too many rows to copy at this version.
    table: Option<Arc<EventTable>>,
}

impl EventCache {
    /// A cache that keeps no copy beyond `max_rows` stored events (tests).
    pub fn with_max_rows(max_rows: i64) -> EventCache {
        EventCache {
            max_rows: Some(max_rows),
            ..EventCache::default()
        }
    }

    /// The database version the copy was loaded at, if there is one.
    pub fn version(&self) -> Option<u64> {
        lock(&self.slot)
            .as_ref()
            .filter(|c| c.table.is_some())
            .map(|c| c.version)
    }

    /// Drops the copy (the backend closes).
    pub fn clear(&self) {
        lock(&self.slot).take();
    }

    /// Brings the copy up to `version`, the store's current version of `calendar_events`
    /// read before this call (a no-op when the copy is current).
    pub fn refresh(&self, conn: &Connection, version: u64) -> Result<()> {
        let tx =
            rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Deferred)?;
        self.table(&tx, version).map(drop)
    }

    /// True when a listing has loaded a copy (current or not) since the backend opened.
    pub fn is_loaded(&self) -> bool {
        lock(&self.slot).is_some()
    }

    /// True when the copy is at `version` (or the store was too large to copy at it).
    pub fn is_current(&self, version: u64) -> bool {
        self.current(version).is_some()
    }

    /// Reloads the copy to the store's current version on the blocking pool (never on an async
    /// worker: ≈ 25 ms for 10,000 events), unless it is current or a reload is already under
    /// way. Returns at once; failures only leave the copy stale (listings keep reading SQLite).
    pub fn start_loading(self: &Arc<Self>, store: &Arc<Store>, table: &TableWatch) {
        let version = table.version();
        if self.is_current(version) || self.loading.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.loading.store(false, Ordering::Release);
            return;
        };
        let (cache, store) = (Arc::clone(self), Arc::clone(store));
        runtime.spawn(async move {
            let loader = Arc::clone(&cache);
            // Whatever the outcome (a closed store, an error), a later listing may try again.
            let _ = store.read_slow(move |c| loader.refresh(c, version)).await;
            cache.loading.store(false, Ordering::Release);
        });
    }

    /// The copy at `version` if it is current: `Some(None)` when the store was too large to
    /// copy at that version, `None` when the copy is stale or missing.
    fn current(&self, version: u64) -> Option<Option<Arc<EventTable>>> {
        lock(&self.slot)
            .as_ref()
            .filter(|c| c.version == version)
            .map(|c| c.table.clone())
    }

    /// The copy at `version`, loading it when stale; `None` when the store is too large to
    /// copy. Runs inside the caller's read transaction, begun after `version` was read.
    fn table(&self, conn: &Connection, version: u64) -> Result<Option<Arc<EventTable>>> {
        if let Some(table) = self.current(version) {
            return Ok(table);
        }
        let count: i64 = conn
            .prepare_cached("SELECT COUNT(*) FROM calendar_events")?
            .query_row([], |r| r.get(0))?;
        let table = if count > self.max_rows.unwrap_or(MAX_CACHED_ROWS) {
            None
        } else {
            Some(Arc::new(load_all(conn)?))
        };
        let mut slot = lock(&self.slot);
        // Two listings may load at once; the copy of the newer version stays.
        if slot.as_ref().is_none_or(|c| c.version <= version) {
            *slot = Some(Cached {
                version,
                table: table.clone(),
            });
        }
        Ok(table)
    }
}

/// Events overlapping `[start, end)`, not cancelled, with a calendar row (the contract's inner
/// join), by start: from `cache` when it is at the given version of `calendar_events` (read
/// before this call), else from SQLite (never waiting for the copy to load). One read
/// transaction, so the calendars and events agree.
pub fn list_events(
    conn: &Connection,
    q: &EventQuery,
    cache: Option<(&EventCache, u64)>,
) -> Result<EventList> {
    let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Deferred)?;
    let calendars = read_calendars(&tx)?;
    let cached = match cache {
        Some((cache, version)) => cache.current(version).flatten(),
        None => None,
    };
    let table = match cached {
        Some(table) => table,
        None => Arc::new(load_range(&tx, q)?),
    };
    let filter = EventFilter {
        start: q.start,
        end: q.end,
        account_id: q.account_id.as_deref(),
        calendar_ids: q.calendar_ids.as_deref(),
        selected_only: q.selected_only,
    };
    Ok(table.select(&filter, calendars))
}

/// The calendar rows (a handful: joined in memory rather than per event row).
fn read_calendars(conn: &Connection) -> Result<Calendars> {
    let mut stmt = conn.prepare_cached(
        "SELECT account_id, calendar_id, background_color, name, selected FROM calendar_calendars",
    )?;
    let mut rows = stmt.query([])?;
    let mut calendars = Calendars {
        keys: Default::default(),
        infos: Vec::new(),
    };
    while let Some(r) = rows.next()? {
        let selected = r.get::<_, Option<i64>>(4)?.unwrap_or(1) != 0;
        let index = calendars.infos.len() as u32;
        calendars
            .keys
            .insert((r.get(0)?, r.get(1)?), (index, selected));
        calendars.infos.push((r.get(2)?, r.get(3)?));
    }
    Ok(calendars)
}

/// Every listable row (timed, not cancelled), by start. The order is `idx_calendar_events_range`
/// (start, end, rowid) in both loads, so a cached and an uncached answer list ties alike.
fn load_all(conn: &Connection) -> Result<EventTable> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {SELECT_COLUMNS} FROM calendar_events
         WHERE start_ts IS NOT NULL AND end_ts IS NOT NULL
           AND (status IS NULL OR status != 'cancelled')
         ORDER BY start_ts, end_ts, rowid"
    ))?;
    let rows = stmt.query([])?;
    TableBuilder::collect(rows)
}

/// The rows of one query's range and filters, by start. `idx_calendar_events_range` gives the
/// rows in order (no sort step), scanned only from `start - longest duration` (read from
/// `idx_calendar_events_span`): no event starting earlier can reach into the range.
fn load_range(conn: &Connection, q: &EventQuery) -> Result<EventTable> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {SELECT_COLUMNS} FROM calendar_events
         WHERE start_ts < ?2
           AND start_ts >= ?1 - (SELECT COALESCE(MAX(end_ts - start_ts), 0) FROM calendar_events)
           AND end_ts > ?1
           AND (status IS NULL OR status != 'cancelled')
           AND (?3 IS NULL OR account_id = ?3)
           AND (?4 IS NULL OR calendar_id IN (SELECT value FROM json_each(?4)))
         ORDER BY start_ts, end_ts, rowid"
    ))?;
    let ids = ids_json(q.calendar_ids.as_deref());
    let rows = stmt.query(params![q.start, q.end, q.account_id, ids])?;
    TableBuilder::collect(rows)
}

/// A JSON array of calendar ids, for SQL's `json_each`; `None` for no filter.
fn ids_json(ids: Option<&[String]>) -> Option<String> {
    ids.filter(|ids| !ids.is_empty())
        .map(|ids| Value::from(ids.to_vec()).to_string())
}

/// A migrated database and rows in it, for the tests of the listing.
#[cfg(test)]
pub(super) mod testing {
    use rusqlite::{params, Connection};

    use super::super::accounts::EventQuery;

    /// A fresh, fully migrated in-memory database.
    pub fn db() -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        crate::store::migrate(&mut c).unwrap();
        c
    }

    /// A calendar row.
    pub fn calendar(
        c: &Connection,
        account: &str,
        calendar: &str,
        color: Option<&str>,
        name: &str,
        selected: bool,
    ) {
        c.execute(
            "INSERT INTO calendar_calendars (account_id, calendar_id, provider, name,
               background_color, selected, created_at, updated_at)
             VALUES (?1, ?2, 'google', ?3, ?4, ?5, 'c', 'u')",
            params![account, calendar, name, color, selected as i64],
        )
        .unwrap();
    }

    /// A plain confirmed event of `[start, end)`.
    pub fn event(c: &Connection, account: &str, calendar: &str, id: &str, start: i64, end: i64) {
        c.execute(
            "INSERT OR REPLACE INTO calendar_events (account_id, calendar_id, event_id, title,
               start_time, end_time, start_ts, end_ts, all_day, status, organizer_json,
               html_link, time_zone, created_at, updated_at)
             VALUES (?1, ?2, ?3, 'title of ' || ?3, 's', 'e', ?4, ?5, 0, 'confirmed',
               '{\"email\":\"me@x\",\"self\":true}', 'https://cal/' || ?3, 'UTC', 'c', 'u')",
            params![account, calendar, id, start, end],
        )
        .unwrap();
    }

    /// A query of `[start, end)` without filters.
    pub fn range(start: i64, end: i64) -> EventQuery {
        EventQuery {
            start,
            end,
            account_id: None,
            calendar_ids: None,
            selected_only: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{calendar, event, range};
    use super::*;

    /// A store in a fresh directory (the directory lives as long as the store is used).
    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("index.db")).unwrap();
        store.watch(super::super::EVENTS_TABLE).unwrap();
        (dir, store)
    }

    /// The store's version of the event table (the watch `store()` installed).
    fn version_of(store: &Store) -> u64 {
        store.watch(super::super::EVENTS_TABLE).unwrap().version()
    }

    /// Runs `sql` on the writer.
    fn write(store: &Store, sql: &str) {
        store.write_blocking(|c| Ok(c.execute_batch(sql)?)).unwrap();
    }

    /// The listing from the copy at the store's version, checked against the listing read
    /// from SQLite in the same read transaction's state.
    fn listed(store: &Store, q: &EventQuery, cache: &EventCache) -> Vec<String> {
        let version = version_of(store);
        let (cached, direct) = store
            .read_blocking(|c| {
                cache.refresh(c, version)?;
                Ok((
                    list_events(c, q, Some((cache, version)))?,
                    list_events(c, q, None)?,
                ))
            })
            .unwrap();
        let value = serde_json::to_value(&cached).unwrap();
        assert_eq!(value, serde_json::to_value(&direct).unwrap());
        value
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event_id"].as_str().unwrap().to_string())
            .collect()
    }

    fn copy(cache: &EventCache) -> Option<Arc<EventTable>> {
        lock(&cache.slot).as_ref().and_then(|c| c.table.clone())
    }

    #[test]
    fn the_copy_is_reused_until_a_committed_write_changes_an_event_row() {
        let (_dir, s) = store();
        let cache = EventCache::default();
        s.write_blocking(|c| {
            calendar(c, "a", "cal", None, "Cal", true);
            event(c, "a", "cal", "e1", 100, 200);
            Ok(())
        })
        .unwrap();
        assert!(!cache.is_current(version_of(&s)));
        assert_eq!(listed(&s, &range(0, 1000), &cache), ["e1"]);
        let first = copy(&cache).unwrap();
        // Listings, calendar changes and other tables' writes leave the copy as it is.
        let before = version_of(&s);
        assert_eq!(listed(&s, &range(150, 160), &cache), ["e1"]);
        write(&s, "UPDATE calendar_calendars SET name = 'New'");
        write(&s, "INSERT INTO sync_state (connector) VALUES ('x')");
        assert_eq!(version_of(&s), before);
        let named = s
            .read_blocking(|c| list_events(c, &range(0, 1000), Some((&cache, before))))
            .unwrap();
        assert_eq!(
            named.to_events().unwrap()[0].calendar_name.as_deref(),
            Some("New")
        );
        assert!(Arc::ptr_eq(&first, &copy(&cache).unwrap()));

        // Insert, update and delete each make the next listing read the rows again.
        s.write_blocking(|c| {
            event(c, "a", "cal", "e2", 300, 400);
            Ok(())
        })
        .unwrap();
        let version = version_of(&s);
        assert!(version > before);
        assert!(!cache.is_current(version));
        // A stale copy is never used: this listing reads SQLite and leaves the copy alone.
        let fresh = s
            .read_blocking(|c| list_events(c, &range(0, 1000), Some((&cache, version))))
            .unwrap();
        assert_eq!(fresh.len(), 2);
        assert!(Arc::ptr_eq(&first, &copy(&cache).unwrap()));
        assert_eq!(listed(&s, &range(0, 1000), &cache), ["e1", "e2"]);
        assert!(cache.is_current(version));
        assert!(!Arc::ptr_eq(&first, &copy(&cache).unwrap()));
        write(
            &s,
            "UPDATE calendar_events SET start_ts = 500, end_ts = 600 WHERE event_id = 'e1'",
        );
        assert_eq!(listed(&s, &range(0, 1000), &cache), ["e2", "e1"]);
        write(
            &s,
            "UPDATE calendar_events SET status = 'cancelled' WHERE event_id = 'e2'",
        );
        assert_eq!(listed(&s, &range(0, 1000), &cache), ["e1"]);
        write(&s, "DELETE FROM calendar_events WHERE account_id = 'a'");
        assert!(listed(&s, &range(0, 1000), &cache).is_empty());
        // A rolled-back change is no change.
        let v = version_of(&s);
        write(
            &s,
            "BEGIN; INSERT INTO calendar_events (account_id, calendar_id, event_id, start_ts,
               end_ts) VALUES ('a', 'cal', 'gone', 1, 2); ROLLBACK;",
        );
        assert_eq!(version_of(&s), v);
        // So is a failed write.
        let failed = s.write_blocking(|c| {
            let tx = c.transaction()?;
            event(&tx, "a", "cal", "never", 1, 2);
            Err::<(), _>(crate::Error::internal("fails before commit"))
        });
        assert!(failed.is_err());
        assert_eq!(version_of(&s), v);
        assert!(listed(&s, &range(0, 1000), &cache).is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stale_copy_is_reloaded_in_the_background() {
        let (_dir, s) = store();
        let s = Arc::new(s);
        let cache = Arc::new(EventCache::default());
        s.write_blocking(|c| {
            calendar(c, "a", "cal", None, "Cal", true);
            event(c, "a", "cal", "e1", 100, 200);
            Ok(())
        })
        .unwrap();
        cache.start_loading(&s, &s.watch(super::super::EVENTS_TABLE).unwrap());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !cache.is_current(version_of(&s)) || cache.loading.load(Ordering::Acquire) {
            assert!(std::time::Instant::now() < deadline, "never reloaded");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let first = copy(&cache).unwrap();
        assert_eq!(first.len(), 1);
        // Nothing changed since: nothing is reloaded.
        cache.start_loading(&s, &s.watch(super::super::EVENTS_TABLE).unwrap());
        assert!(!cache.loading.load(Ordering::Acquire));
        assert!(Arc::ptr_eq(&first, &copy(&cache).unwrap()));
    }

    #[test]
    fn filters_and_overlap_match_the_sql_listing() {
        let (_dir, s) = store();
        let cache = EventCache::default();
        s.write_blocking(|c| {
            calendar(c, "a", "work", Some("#111"), "Work", true);
            calendar(c, "a", "home", Some("#111"), "Home", false);
            calendar(c, "b", "work", None, "B work", true);
            // A long event that started well before the range still overlaps it.
            event(c, "a", "work", "long", 0, 10_000);
            event(c, "a", "work", "before", 100, 1000);
            event(c, "a", "work", "touching-end", 900, 1000);
            event(c, "a", "work", "inside", 1500, 1600);
            event(c, "a", "work", "at-end", 2000, 2100);
            event(c, "a", "home", "hidden", 1500, 1600);
            event(c, "b", "work", "other-account", 1200, 1300);
            event(c, "a", "orphan", "no-calendar-row", 1500, 1600);
            c.execute(
                "INSERT INTO calendar_events (account_id, calendar_id, event_id, start_ts)
                 VALUES ('a', 'work', 'no-end', 1500)",
                [],
            )?;
            Ok(())
        })
        .unwrap();
        let q = range(1000, 2000);
        assert_eq!(listed(&s, &q, &cache), ["long", "other-account", "inside"]);
        let all = EventQuery {
            selected_only: false,
            ..range(1000, 2000)
        };
        assert_eq!(
            listed(&s, &all, &cache),
            ["long", "other-account", "inside", "hidden"]
        );
        let account = EventQuery {
            account_id: Some("a".into()),
            ..range(1000, 2000)
        };
        assert_eq!(listed(&s, &account, &cache), ["long", "inside"]);
        let calendars = EventQuery {
            calendar_ids: Some(vec!["home".into(), "nope".into()]),
            selected_only: false,
            ..range(1000, 2000)
        };
        assert_eq!(listed(&s, &calendars, &cache), ["hidden"]);
        let none = EventQuery {
            account_id: Some("zzz".into()),
            ..range(1000, 2000)
        };
        assert!(listed(&s, &none, &cache).is_empty());
        assert!(listed(&s, &range(20_000, 30_000), &cache).is_empty());
        // Colors shared by two calendars and a missing color come through.
        let version = version_of(&s);
        let listing = s
            .read_blocking(|c| list_events(c, &all, Some((&cache, version))))
            .unwrap()
            .to_events()
            .unwrap();
        let hidden = listing.iter().find(|e| e.event_id == "hidden").unwrap();
        assert_eq!(hidden.calendar_color.as_deref(), Some("#111"));
        assert_eq!(hidden.calendar_name.as_deref(), Some("Home"));
        let other = listing
            .iter()
            .find(|e| e.event_id == "other-account")
            .unwrap();
        assert_eq!(other.calendar_color, None);
    }

    #[test]
    fn a_store_too_large_to_copy_is_listed_from_sqlite() {
        let (_dir, s) = store();
        let cache = EventCache::with_max_rows(2);
        s.write_blocking(|c| {
            calendar(c, "a", "cal", None, "Cal", true);
            for k in 0..3 {
                event(c, "a", "cal", &format!("e{k}"), 10 * k, 10 * k + 5);
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(listed(&s, &range(0, 100), &cache), ["e0", "e1", "e2"]);
        assert!(copy(&cache).is_none());
        write(&s, "DELETE FROM calendar_events WHERE event_id = 'e2'");
        assert_eq!(listed(&s, &range(0, 100), &cache), ["e0", "e1"]);
        assert_eq!(copy(&cache).map(|t| t.len()), Some(2));
        assert_eq!(cache.version(), Some(version_of(&s)));
    }

    #[test]
    fn only_cancelled_or_untimed_rows_list_nothing() {
        let (_dir, s) = store();
        let cache = EventCache::default();
        s.write_blocking(|c| {
            calendar(c, "a", "cal", None, "Cal", true);
            event(c, "a", "cal", "x", 10, 20);
            c.execute("UPDATE calendar_events SET status = 'cancelled'", [])?;
            c.execute(
                "INSERT INTO calendar_events (account_id, calendar_id, event_id)
                 VALUES ('a', 'cal', 'untimed')",
                [],
            )?;
            Ok(())
        })
        .unwrap();
        assert!(listed(&s, &range(0, 100), &cache).is_empty());
        assert_eq!(copy(&cache).map(|t| t.is_empty()), Some(true));
    }
}

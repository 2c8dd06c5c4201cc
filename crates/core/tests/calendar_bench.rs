//! Issue 4's benchmarks against the local fake (ignored by default; run on a release build with
//! `cargo test -p enttok-core --release --test calendar_bench -- --ignored --nocapture`).
//! Figures only: nothing here asserts on time.
//!
//! 1. **Full sync** of 10,000 events across 5 calendars (2,000 each, 8 pages of 250, so 40 event
//!    pages, pretty-printed as Google sends them). Timed from `syncCalendarAccount` to the
//!    terminal `job.status` event a subscriber receives: the job's real duration including
//!    enqueue, claim, every progress write and the final write. The fake's own answering time
//!    is printed beside it.
//! 2. **Incremental sync without changes** (5 calendars, each answering an empty page with a
//!    new sync token), timed the same way and repeated: p50 and best. The earlier figure
//!    (≈ 80 ms) polled `getJob` every 25 ms, so it measured the polling period, not the sync;
//!    the polled figure is still printed for comparison.
//! 3. **`listCalendarEvents` for a month** with 10,000 stored events. How many rows a month
//!    holds depends on how the 10,000 events are spread, so three spreads are measured:
//!    - *sync window* (the headline): 10,000 events spread evenly over the contract's full-sync
//!      window (30 days back, 90 ahead): the densest store one full sync leaves with that count;
//!      a month then holds ≈ 2,500 rows (≈ 83 events a day over 5 calendars);
//!    - *two-year history*: 10,000 events accumulated over 2 years (past syncs keep events
//!      outside the window): ≈ 410 rows a month, a busy person's calendar;
//!    - *worst case*: all 10,000 in the month.
//!
//!    Each is timed here in Rust up to the JSON text the JS binding hands to JS (the facade
//!    call plus `serde_json::to_string`, what `src/ops.rs` does); `bench/calendar.js` measures
//!    the same from JS, where the string crossing and `JSON.parse` come on top.

mod calendar_fake;

use std::time::{Duration, Instant};

use calendar_fake as fake;
use chrono::{DateTime, Utc};
use enttok_core::Backend;
use serde_json::{json, Value};

const CALENDARS: usize = 5;
const EVENTS: i64 = 10_000;

fn iso(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A fake holding 10,000 events spread evenly over `[from, from + span)`, event k in calendar
/// k mod 5, each lasting 30 minutes; returns the fake, a backend synced from it and the
/// full-sync figures.
async fn seeded(
    dir: &std::path::Path,
    from: DateTime<Utc>,
    span: chrono::Duration,
) -> (fake::Shared, Backend, String) {
    let (sim, base) = fake::start().await;
    {
        let mut s = sim.lock().unwrap();
        s.valid_tokens.insert("at-1".into());
        let step = span.num_seconds() / EVENTS;
        let mut lists: Vec<Vec<Value>> = vec![Vec::new(); CALENDARS];
        for k in 0..EVENTS {
            let start = from + chrono::Duration::seconds(k * step);
            let end = start + chrono::Duration::minutes(30);
            let c = (k as usize) % CALENDARS;
            lists[c].push(fake::timed(
                &format!("c{c}e{k}"),
                "event",
                &iso(start),
                &iso(end),
            ));
        }
        for (c, full) in lists.into_iter().enumerate() {
            let id = format!("cal{c}@example.com");
            s.calendars
                .push(fake::calendar(&id, &format!("C{c}"), "UTC", c == 0));
            s.cals.insert(
                id,
                fake::Cal {
                    full,
                    next_token: format!("t{c}"),
                    ..Default::default()
                },
            );
        }
    }
    let b = fake::open(dir, &base, None).await;
    let account = fake::google_account(&b, fake::fresh_creds("at-1")).await;
    (sim, b, account)
}

/// Runs a sync of `account` and returns the time until a subscriber saw its terminal
/// `job.status`, with the job as stored.
async fn timed_sync(b: &Backend, account: &str) -> (Duration, enttok_core::jobs::JobRecord) {
    let mut sub = b.subscribe().unwrap();
    let t = Instant::now();
    let created = b.sync_calendar_account(account, &json!({})).await.unwrap();
    loop {
        let raw = sub.recv().await.unwrap();
        let e: Value = serde_json::from_str(&raw).unwrap();
        if e["type"] == "job.status"
            && e["job_id"] == created.job_id.as_str()
            && matches!(
                e["status"].as_str(),
                Some("succeeded" | "failed" | "canceled")
            )
        {
            let took = t.elapsed();
            return (took, b.get_job(&created.job_id).await.unwrap());
        }
    }
}

/// p50 and p95 of `listCalendarEvents(month)` up to the JSON text (as the JS binding
/// serializes it), and the row count.
async fn month_reads(b: &Backend, month: &Value) -> (Duration, Duration, usize, usize) {
    // `CAL_PLAN=1` also prints where the time goes: the facade call, the serialization, the
    // listing inside the read closure (no thread hop), and SQLite alone reading the columns.
    if std::env::var_os("CAL_PLAN").is_some() {
        let mut a = Vec::new();
        let mut z = Vec::new();
        for _ in 0..30 {
            let t = Instant::now();
            let events = b.list_calendar_events(month).await.unwrap();
            a.push(t.elapsed());
            let t = Instant::now();
            let text = serde_json::to_string(&events).unwrap();
            z.push(t.elapsed());
            assert!(!text.is_empty());
        }
        a.sort();
        z.sort();
        println!("SPLIT list {:?} to_string {:?}", a[15], z[15]);
        let (s0, e0) = (
            enttok_core::time::parse_iso(month["start"].as_str().unwrap()).unwrap(),
            enttok_core::time::parse_iso(month["end"].as_str().unwrap()).unwrap(),
        );
        let inner = b
            .store()
            .read(move |c| {
                let q = enttok_core::calendar::accounts::EventQuery {
                    start: s0,
                    end: e0,
                    account_id: None,
                    calendar_ids: None,
                    selected_only: true,
                };
                let mut t = Vec::new();
                for _ in 0..30 {
                    let i = Instant::now();
                    enttok_core::calendar::accounts::list_events(c, &q)?;
                    t.push(i.elapsed());
                }
                t.sort();
                let mut st = c.prepare("SELECT account_id, event_id, calendar_id, title, description, start_time, end_time,
                start_ts, end_ts, all_day, location, conference_url, visibility, status,
                organizer_json, attendees_json, html_link, time_zone, created_at, updated_at
         FROM calendar_events WHERE start_ts < ?2 AND start_ts >= ?1 - (SELECT COALESCE(MAX(end_ts - start_ts), 0) FROM calendar_events) AND end_ts > ?1 ORDER BY start_ts")?;
                let mut u = Vec::new();
                for _ in 0..30 {
                    let i = Instant::now();
                    let mut rows = st.query(rusqlite::params![s0, e0])?;
                    let mut total = 0usize;
                    while let Some(r) = rows.next()? {
                        for k in 0..20 {
                            if let Ok(s) = r.get_ref(k)?.as_str() { total += s.len(); }
                        }
                    }
                    assert!(total > 0);
                    u.push(i.elapsed());
                }
                u.sort();
                println!("SPLIT sql + column refs only {:?}", u[15]);
                Ok(t[15])
            })
            .await
            .unwrap();
        println!("SPLIT list_events inside the closure {inner:?}");
    }
    let mut samples = Vec::new();
    let (mut rows, mut bytes) = (0, 0);
    for i in 0..60 {
        let t = Instant::now();
        let events = b.list_calendar_events(month).await.unwrap();
        let text = serde_json::to_string(&events).unwrap();
        if i >= 10 {
            samples.push(t.elapsed());
        }
        rows = events.len();
        bytes = text.len();
    }
    samples.sort();
    (
        samples[samples.len() / 2],
        samples[samples.len() * 95 / 100],
        rows,
        bytes,
    )
}

fn month_from(start: DateTime<Utc>) -> Value {
    json!({
        "start": iso(start),
        "end": iso(start + chrono::Duration::days(30)),
        "selected_only": true,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn bench_full_incremental_and_reads() {
    let now = Utc::now();
    // The contract's full-sync window: 30 days back, 90 ahead.
    let window_start = now - chrono::Duration::days(30);
    let dir = tempfile::tempdir().unwrap();
    let (sim, b, account) = seeded(dir.path(), window_start, chrono::Duration::days(120)).await;

    let (full, job) = timed_sync(&b, &account).await;
    assert_eq!(job.status, "succeeded", "{:?}", job.error);
    assert_eq!(job.result["synced_events"], EVENTS);
    let fake_busy = std::mem::take(&mut sim.lock().unwrap().busy);
    println!(
        "full sync 10,000 events / 5 calendars: {full:.2?} (the fake spent {fake_busy:.2?} answering)"
    );

    let mut incremental = Vec::new();
    for _ in 0..30 {
        let (took, job) = timed_sync(&b, &account).await;
        assert_eq!(job.result["synced_events"], 0);
        incremental.push(took);
    }
    incremental.sort();
    let t = Instant::now();
    let job = fake::sync(&b, &account).await;
    let polled = t.elapsed();
    assert_eq!(job.result["synced_events"], 0);
    println!(
        "incremental sync, no changes, create → terminal job.status: p50 {:.2?}, best {:.2?} \
         (30 runs); polled every 25 ms as before: {polled:.2?}",
        incremental[incremental.len() / 2],
        incremental[0]
    );

    // Spread 1: the sync window; the month starting now.
    let (p50, p95, rows, bytes) = month_reads(&b, &month_from(now)).await;
    println!(
        "listCalendarEvents month, 10,000 events over the sync window: p50 {p50:.2?}, p95 {p95:.2?} \
         ({rows} rows, {} KB JSON)",
        bytes / 1024
    );
    fake::assert_clean(&sim);
    b.close().await.unwrap();

    // Spread 2: two years of history up to the end of the window.
    let dir = tempfile::tempdir().unwrap();
    let span = chrono::Duration::days(730);
    let (sim, b, account) = seeded(dir.path(), now + chrono::Duration::days(90) - span, span).await;
    let (_, job) = timed_sync(&b, &account).await;
    assert_eq!(job.result["synced_events"], EVENTS);
    let (p50, p95, rows, bytes) = month_reads(&b, &month_from(now)).await;
    println!(
        "listCalendarEvents month, 10,000 events over 2 years: p50 {p50:.2?}, p95 {p95:.2?} \
         ({rows} rows, {} KB JSON)",
        bytes / 1024
    );
    fake::assert_clean(&sim);
    b.close().await.unwrap();

    // Spread 3 (worst case): all 10,000 in the month.
    let dir = tempfile::tempdir().unwrap();
    let (sim, b, account) = seeded(dir.path(), now, chrono::Duration::days(30)).await;
    let (_, job) = timed_sync(&b, &account).await;
    assert_eq!(job.result["synced_events"], EVENTS);
    let (p50, p95, rows, bytes) = month_reads(&b, &month_from(now)).await;
    println!(
        "listCalendarEvents month, all 10,000 events in it (worst case): p50 {p50:.2?}, \
         p95 {p95:.2?} ({rows} rows, {} KB JSON)",
        bytes / 1024
    );
    fake::assert_clean(&sim);
    b.close().await.unwrap();
}

//! Issue 4's benchmarks against the local fake (ignored by default; run with
//! `cargo test -p enttok-core --release --test calendar_bench -- --ignored --nocapture`):
//! a full sync of 10,000 events across 5 calendars, an incremental sync without changes, and
//! `listCalendarEvents` for a month over 10,000 stored events.

mod calendar_fake;

use std::time::Instant;

use calendar_fake as fake;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn bench_full_incremental_and_reads() {
    let (sim, base) = fake::start().await;
    let now = chrono::Utc::now();
    {
        let mut s = sim.lock().unwrap();
        s.valid_tokens.insert("at-1".into());
        for c in 0..5 {
            let id = format!("cal{c}@example.com");
            s.calendars
                .push(fake::calendar(&id, &format!("C{c}"), "UTC", c == 0));
            let full = (0..2000)
                .map(|i| {
                    let start = now + chrono::Duration::minutes(i * 60 - 20 * 24 * 60);
                    let end = start + chrono::Duration::minutes(30);
                    let f = |t: chrono::DateTime<chrono::Utc>| {
                        t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
                    };
                    fake::timed(&format!("c{c}e{i}"), "event", &f(start), &f(end))
                })
                .collect();
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
    let dir = tempfile::tempdir().unwrap();
    let b = fake::open(dir.path(), &base, None).await;
    let account = fake::google_account(&b, fake::fresh_creds("at-1")).await;

    let t = Instant::now();
    let job = fake::sync(&b, &account).await;
    let full = t.elapsed();
    assert_eq!(job.result["synced_events"], 10_000);

    let t = Instant::now();
    let job = fake::sync(&b, &account).await;
    let incremental = t.elapsed();
    assert_eq!(job.result["synced_events"], 0);

    let month = json!({
        "start": now.format("%Y-%m-%dT00:00:00Z").to_string(),
        "end": (now + chrono::Duration::days(30)).format("%Y-%m-%dT00:00:00Z").to_string(),
        "selected_only": false,
    });
    let mut samples = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        let events = b.list_calendar_events(&month).await.unwrap();
        samples.push(t.elapsed());
        assert!(!events.is_empty());
    }
    samples.sort();
    println!(
        "full sync 10k/5 calendars: {full:?}; incremental (no changes, includes job polling): {incremental:?}; \
         listCalendarEvents month p50: {:?}",
        samples[samples.len() / 2]
    );
    fake::assert_clean(&sim);
    b.close().await.unwrap();
}

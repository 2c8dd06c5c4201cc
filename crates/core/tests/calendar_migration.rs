//! Migration 3 (`idx_calendar_events_span`) on calendar rows the Python backend left: the
//! index is created, and `listCalendarEvents` — which bounds its range scan with the longest
//! stored duration — still finds a long event that started well before the asked range, and
//! hands out the stored organizer/attendee JSON (Python's spaced `json.dumps`, or text that is
//! not JSON) with the same shapes as before.

use enttok_core::{store, Backend, Config};
use rusqlite::{params, Connection};
use serde_json::{json, Value};

const DAY: i64 = 86_400;
/// 2024-03-01T00:00:00Z.
const MARCH_1: i64 = 1_709_251_200;

fn original_database(path: &std::path::Path) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(store::original_ddl()).unwrap();
    conn.execute(
        "INSERT INTO calendar_accounts (account_id, provider, email, display_name,
             credentials_json, config_json, created_at, updated_at)
         VALUES ('cal_1', 'google', 'me@example.com', 'Me', '{}', '{}', '2024-01-01T00:00:00Z',
                 '2024-01-01T00:00:00Z')",
        [],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO calendar_calendars (account_id, calendar_id, provider, name, is_primary,
             background_color, selected, created_at, updated_at)
         VALUES ('cal_1', 'me@example.com', 'google', 'Me', 1, '#123456', 1,
                 '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z')",
        [],
    )
    .unwrap();
    let events: [(&str, i64, i64, Option<&str>); 4] = [
        // A year-long event that started in 2023: it overlaps March 2024.
        (
            "long",
            MARCH_1 - 300 * DAY,
            MARCH_1 + 65 * DAY,
            Some(r#"{"email": "boss@example.com", "self": false}"#),
        ),
        (
            "march",
            MARCH_1 + 2 * DAY,
            MARCH_1 + 2 * DAY + 3600,
            Some("not json"),
        ),
        // Ends exactly where March starts: outside (the range is exclusive).
        ("before", MARCH_1 - 3600, MARCH_1, None),
        ("april", MARCH_1 + 40 * DAY, MARCH_1 + 40 * DAY + 3600, None),
    ];
    for (id, start, end, organizer) in events {
        conn.execute(
            "INSERT INTO calendar_events (account_id, calendar_id, event_id, title, start_time,
                 end_time, start_ts, end_ts, all_day, status, organizer_json, attendees_json)
             VALUES ('cal_1', 'me@example.com', ?1, ?1, '', '', ?2, ?3, 0, 'confirmed', ?4,
                     '[{\"email\": \"a@example.com\"}]')",
            params![id, start, end, organizer],
        )
        .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migration_3_keeps_long_events_and_stored_json() {
    let dir = tempfile::tempdir().unwrap();
    original_database(&dir.path().join("index.db"));
    let mut config = Config::new(dir.path());
    config.scheduler = false;
    let b = Backend::open(config).await.unwrap();

    let march = json!({"start": "2024-03-01T00:00:00Z", "end": "2024-03-31T00:00:00Z"});
    let listed = serde_json::to_value(b.list_calendar_events(&march).await.unwrap()).unwrap();
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["long", "march"]);
    assert_eq!(
        listed[0]["organizer"],
        json!({"email": "boss@example.com", "self": false})
    );
    assert_eq!(listed[0]["attendees"], json!([{"email": "a@example.com"}]));
    assert_eq!(listed[0]["calendar_color"], "#123456");
    // Text that is not JSON is answered as a string, as before.
    assert_eq!(listed[1]["organizer"], Value::String("not json".into()));
    // A range inside the long event's span, months after it started.
    let inside = json!({"start": "2024-03-20T00:00:00Z", "end": "2024-03-21T00:00:00Z"});
    let listed = b
        .list_calendar_events(&inside)
        .await
        .unwrap()
        .to_events()
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].event_id, "long");
    b.close().await.unwrap();

    let conn = Connection::open(dir.path().join("index.db")).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, store::LATEST_VERSION);
    assert!(version >= 3);
    let plan: Vec<String> = conn
        .prepare("EXPLAIN QUERY PLAN SELECT MAX(end_ts - start_ts) FROM calendar_events")
        .unwrap()
        .query_map([], |r| r.get(3))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        plan.iter().any(|p| p.contains("idx_calendar_events_span")),
        "{plan:?}"
    );
}

//! `connector.calendar.sync` against a local fake Google: pagination, progress and events,
//! incremental sync, 410 → full resync, pruning, reads and their filters, time zones.

mod calendar_fake;

use calendar_fake as fake;
use chrono::{Duration as CDur, Utc};
use serde_json::{json, Value};

const PRIMARY: &str = "me@gmail.com";
const HOLIDAY: &str = "en.usa#holiday@group.v.calendar.google.com";
const WEATHER: &str = "p#weather@group.v.calendar.google.com";

fn at(days: i64, hour: u32) -> String {
    let d = (Utc::now() + CDur::days(days)).date_naive();
    format!("{}T{hour:02}:00:00Z", d.format("%Y-%m-%d"))
}

fn ev(id: &str, title: &str, days: i64) -> Value {
    fake::timed(id, title, &at(days, 10), &at(days, 11))
}

fn wide() -> Value {
    json!({"start": "2000-01-01T00:00:00.000Z", "end": "2100-01-01T00:00:00.000Z"})
}

fn ids(events: &[enttok_core::calendar::CalendarEvent]) -> Vec<String> {
    events.iter().map(|e| e.event_id.clone()).collect()
}

fn cursor(dir: &std::path::Path, connector: &str) -> Option<Option<String>> {
    let conn = rusqlite::Connection::open(dir.join("index.db")).unwrap();
    conn.query_row(
        "SELECT cursor FROM sync_state WHERE connector = ?1",
        [connector],
        |r| r.get(0),
    )
    .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_incremental_gone_and_prune() {
    let (sim, base) = fake::start().await;
    {
        let mut s = sim.lock().unwrap();
        s.valid_tokens.insert("at-1".into());
        s.calendar_page_size = 2;
        s.event_page_size = 2;
        s.calendars = vec![
            fake::calendar(PRIMARY, "Me", "America/Chicago", true),
            fake::calendar(HOLIDAY, "Holidays", "America/Chicago", false),
            fake::calendar(WEATHER, "Weather", "UTC", false),
            // A duplicate id (as real lists have) is stored once.
            fake::calendar(PRIMARY, "Me again", "UTC", false),
        ];
        let mut meet = ev("e1", "Standup", 1);
        meet["hangoutLink"] = json!("https://meet.google.com/abc-defg-hij");
        meet["attendees"] = json!([{"email": "x@example.com", "responseStatus": "accepted"}]);
        s.cals.insert(
            PRIMARY.into(),
            fake::Cal {
                full: vec![
                    meet,
                    ev("e2", "Two", 2),
                    ev("e3", "Three", 3),
                    ev("e4", "Four", 4),
                    ev("e5", "Five", 5),
                ],
                next_token: "sync-1".into(),
                ..Default::default()
            },
        );
        s.cals.insert(
            HOLIDAY.into(),
            fake::Cal {
                full: vec![fake::all_day("h1", &at(6, 0)[..10], &at(7, 0)[..10])],
                next_token: "hsync-1".into(),
                ..Default::default()
            },
        );
        s.cals.insert(
            WEATHER.into(),
            fake::Cal {
                full: vec![
                    ev("w1", "Sun", 1),
                    json!({"id": "nostart", "status": "confirmed", "summary": "x"}),
                ],
                next_token: "wsync-1".into(),
                ..Default::default()
            },
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let b = fake::open(dir.path(), &base, None).await;
    let account = fake::google_account(&b, fake::fresh_creds("at-1")).await;
    let mut sub = b.subscribe().unwrap();

    // A listing before the first sync leaves a copy of the (empty) rows, loaded in the
    // background; the sync then refreshes it (below).
    assert!(b.list_calendar_events(&wide()).await.unwrap().is_empty());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while b.calendar_events_copy().version().is_none() {
        assert!(std::time::Instant::now() < deadline, "copy never loaded");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let job = fake::sync(&b, &account).await;
    assert_eq!(job.status, "succeeded", "{:?}", job.error);
    assert_eq!(job.progress, Some(1.0));
    assert_eq!(
        job.message.as_deref(),
        Some("Synced 7 events across 3 calendars")
    );
    assert_eq!(
        job.result,
        json!({"account_id": account, "provider": "google", "synced_events": 7, "synced_calendars": 3})
    );
    fake::assert_clean(&sim);
    // The job refreshed the listing's copy of the rows before it announced its success.
    let version = b.calendar_events_version();
    assert!(version > 0);
    assert_eq!(b.calendar_events_copy().version(), Some(version));
    {
        let s = sim.lock().unwrap();
        let pages: Vec<Option<String>> = s
            .requests
            .iter()
            .filter(|r| r.raw_path.contains("me%40gmail.com/events"))
            .map(|r| r.q("pageToken").map(String::from))
            .collect();
        assert_eq!(pages, [None, Some("ev-2".into()), Some("ev-4".into())]);
        let lists = s
            .requests
            .iter()
            .filter(|r| r.raw_path.ends_with("calendarList"))
            .count();
        assert_eq!(lists, 2);
        assert!(s.requests.iter().any(|r| r.raw_path
            == "/calendar/v3/calendars/en.usa%23holiday%40group.v.calendar.google.com/events"));
    }

    // Progress and per-calendar events, in order.
    let events = fake::drain(&mut sub);
    let interesting: Vec<Value> = events
        .iter()
        .filter(|e| {
            e["type"] == "job.progress" || e["type"] == "calendar.sync" || e["type"] == "job.status"
        })
        .map(|e| match e["type"].as_str().unwrap() {
            "job.progress" => json!(["p", e["progress"], e["stage"]]),
            "calendar.sync" => json!(["c", e["calendar_id"], e["synced_events"], e["full_sync"]]),
            _ => json!(["s", e["status"]]),
        })
        .collect();
    let p = |i: f64| 0.2 + (i - 1.0) / 3.0 * 0.6;
    assert_eq!(
        interesting,
        vec![
            json!(["s", "running"]),
            json!(["p", 0.15, "fetching_calendars"]),
            json!(["p", p(1.0), "fetching_events"]),
            json!(["c", PRIMARY, 5, true]),
            json!(["p", p(2.0), "fetching_events"]),
            json!(["c", HOLIDAY, 1, true]),
            json!(["p", p(3.0), "fetching_events"]),
            json!(["c", WEATHER, 1, true]),
            json!(["s", "succeeded"]),
        ]
    );
    let jev = b.list_job_events(&job.job_id).await.unwrap();
    let msgs: Vec<_> = jev.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(
        msgs,
        [
            format!("calendar sync started for {account}"),
            "Synced 7 events from Google Calendar".into()
        ]
    );

    // Reads.
    let cals = b.list_calendars(&json!({})).await.unwrap();
    let names: Vec<_> = cals.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["Me", "Holidays", "Weather"]);
    assert!(cals[0].is_primary && cals.iter().all(|c| c.selected));
    let keys: Vec<_> = serde_json::to_value(&cals[0])
        .unwrap()
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(
        keys,
        [
            "account_id",
            "calendar_id",
            "provider",
            "name",
            "description",
            "is_primary",
            "access_role",
            "background_color",
            "foreground_color",
            "time_zone",
            "selected",
            "created_at",
            "updated_at"
        ]
    );
    let all = b
        .list_calendar_events(&wide())
        .await
        .unwrap()
        .to_events()
        .unwrap();
    assert_eq!(all.len(), 7);
    assert!(all.windows(2).all(|w| w[0].start_ts <= w[1].start_ts));
    let mut q = wide();
    q["calendar_ids"] = json!(format!("{PRIMARY},,"));
    let primary = b
        .list_calendar_events(&q)
        .await
        .unwrap()
        .to_events()
        .unwrap();
    assert_eq!(ids(&primary), ["e1", "e2", "e3", "e4", "e5"]);
    // The JSON as the JS and HTTP surfaces write it (straight from the list), and the same
    // events read back as structs.
    let raw = serde_json::to_value(b.list_calendar_events(&q).await.unwrap()).unwrap();
    assert_eq!(raw, serde_json::to_value(&primary).unwrap());
    let e1 = raw[0].clone();
    let keys: Vec<_> = e1.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        [
            "account_id",
            "event_id",
            "calendar_id",
            "title",
            "description",
            "start_time",
            "end_time",
            "start_ts",
            "end_ts",
            "all_day",
            "location",
            "conference_url",
            "visibility",
            "status",
            "organizer",
            "attendees",
            "html_link",
            "time_zone",
            "created_at",
            "updated_at",
            "calendar_color",
            "calendar_name"
        ]
    );
    assert_eq!(e1["conference_url"], "https://meet.google.com/abc-defg-hij");
    assert_eq!(e1["organizer"]["email"], "foo@gmail.com");
    assert_eq!(e1["attendees"][0]["responseStatus"], "accepted");
    assert_eq!(e1["calendar_name"], "Me");
    assert_eq!(e1["calendar_color"], "#42d692");
    assert_eq!(e1["created_at"], "2024-02-01T00:00:00.000Z");
    assert_eq!(
        e1["end_ts"].as_i64().unwrap() - e1["start_ts"].as_i64().unwrap(),
        3600
    );

    // selected toggles reads only.
    b.update_calendar(&account, HOLIDAY, &json!({"selected": "off"}))
        .await
        .unwrap();
    assert_eq!(b.list_calendars(&json!({})).await.unwrap().len(), 2);
    assert_eq!(
        b.list_calendars(&json!({"selected_only": false}))
            .await
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        b.list_calendar_events(&wide())
            .await
            .unwrap()
            .to_events()
            .unwrap()
            .len(),
        6
    );
    let mut q = wide();
    q["selected_only"] = json!("false");
    assert_eq!(
        b.list_calendar_events(&q)
            .await
            .unwrap()
            .to_events()
            .unwrap()
            .len(),
        7
    );
    let err = b
        .update_calendar("cal_missing", HOLIDAY, &json!({"selected": true}))
        .await
        .unwrap_err();
    assert_eq!(
        (err.status(), err.to_string().as_str()),
        (404, "calendar account not found")
    );
    let err = b
        .update_calendar(&account, HOLIDAY, &json!({}))
        .await
        .unwrap_err();
    assert_eq!(err.status(), 422);

    let acct = b.get_calendar_account(&account).await.unwrap();
    assert!(acct.last_sync_at.is_some());
    assert_eq!(
        cursor(dir.path(), &format!("calendar:{account}:{PRIMARY}")),
        Some(Some("sync-1".into()))
    );

    // Incremental: a change, a cancellation, a new event; no orderBy with syncToken.
    {
        let mut s = sim.lock().unwrap();
        let c = s.cals.get_mut(PRIMARY).unwrap();
        c.changes = vec![
            ev("e1", "Standup (moved)", 1),
            fake::cancelled("e2"),
            ev("e6", "Six", 6),
        ];
        c.next_token = "sync-2".into();
        s.requests.clear();
    }
    let job = fake::sync(&b, &account).await;
    assert_eq!(job.status, "succeeded", "{:?}", job.error);
    fake::assert_clean(&sim);
    {
        let s = sim.lock().unwrap();
        let tokens: Vec<_> = s
            .requests
            .iter()
            .filter_map(|r| r.q("syncToken").map(String::from))
            .collect();
        // Later pages repeat the same parameters (the primary's 3 changes take 2 pages).
        assert_eq!(tokens, ["sync-1", "sync-1", "hsync-1", "wsync-1"]);
    }
    let syncs: Vec<Value> = fake::drain(&mut sub)
        .into_iter()
        .filter(|e| e["type"] == "calendar.sync")
        .collect();
    assert!(syncs.iter().all(|e| e["full_sync"] == false));
    assert_eq!(syncs[0]["synced_events"], 2);
    let mut q = wide();
    q["calendar_ids"] = json!([PRIMARY]);
    let primary = b
        .list_calendar_events(&q)
        .await
        .unwrap()
        .to_events()
        .unwrap();
    assert_eq!(ids(&primary), ["e1", "e3", "e4", "e5", "e6"]);
    assert_eq!(primary[0].title.as_deref(), Some("Standup (moved)"));
    assert_eq!(
        cursor(dir.path(), &format!("calendar:{account}:{PRIMARY}")),
        Some(Some("sync-2".into()))
    );

    // 410: the expired token is dropped, the calendar redone as a full sync over the window.
    {
        let mut s = sim.lock().unwrap();
        let c = s.cals.get_mut(PRIMARY).unwrap();
        c.gone.insert("sync-2".into());
        c.full = vec![ev("e7", "Seven", 2), ev("e8", "Eight", 3)];
        c.next_token = "sync-3".into();
        s.requests.clear();
    }
    let job = fake::sync(&b, &account).await;
    assert_eq!(job.status, "succeeded", "{:?}", job.error);
    fake::assert_clean(&sim);
    let primary = b
        .list_calendar_events(&q)
        .await
        .unwrap()
        .to_events()
        .unwrap();
    assert_eq!(ids(&primary), ["e7", "e8"]);
    let syncs: Vec<Value> = fake::drain(&mut sub)
        .into_iter()
        .filter(|e| e["type"] == "calendar.sync")
        .collect();
    assert_eq!(syncs[0]["full_sync"], true);
    assert_eq!(
        cursor(dir.path(), &format!("calendar:{account}:{PRIMARY}")),
        Some(Some("sync-3".into()))
    );

    // Prune: a calendar no longer listed goes away with its events.
    sim.lock().unwrap().calendars.retain(|c| c["id"] != WEATHER);
    let job = fake::sync(&b, &account).await;
    assert_eq!(job.status, "succeeded");
    let cals = b
        .list_calendars(&json!({"selected_only": false, "account_id": account}))
        .await
        .unwrap();
    assert_eq!(cals.len(), 2);
    assert!(b
        .list_calendar_events(&wide())
        .await
        .unwrap()
        .to_events()
        .unwrap()
        .iter()
        .all(|e| e.calendar_id != WEATHER));
    assert_eq!(
        cursor(dir.path(), &format!("calendar:{account}:{WEATHER}")),
        None
    );

    // Query validation.
    let err = b
        .list_calendar_events(&json!({"end": "2024-01-01"}))
        .await
        .unwrap_err();
    assert_eq!(err.status(), 422);
    assert_eq!(err.detail()[0]["loc"], json!(["query", "start"]));
    let err = b
        .list_calendar_events(&json!({"start": "nope", "end": "2024-01-01"}))
        .await
        .unwrap_err();
    assert_eq!(
        (err.status(), err.to_string().as_str()),
        (400, "Invalid isoformat string: 'nope'")
    );
    let err = b
        .list_calendar_events(&json!({"start": "2024-02-01", "end": "2024-01-01"}))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "start must be before end");

    // Delete: one transaction removes everything of the account.
    assert_eq!(
        b.delete_calendar_account(&account).await.unwrap(),
        json!({"ok": true})
    );
    let conn = rusqlite::Connection::open(dir.path().join("index.db")).unwrap();
    for table in [
        "calendar_calendars",
        "calendar_events",
        "sync_state",
        "calendar_accounts",
    ] {
        let n: i64 = conn
            .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0, "{table}");
    }
    let err = b.delete_calendar_account(&account).await.unwrap_err();
    assert_eq!(
        (err.status(), err.to_string().as_str()),
        (404, "calendar account not found")
    );
    b.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_day_events_far_east_and_west() {
    let (sim, base) = fake::start().await;
    {
        let mut s = sim.lock().unwrap();
        s.valid_tokens.insert("at-1".into());
        s.calendars = vec![
            fake::calendar("east@example.com", "East", "Pacific/Kiritimati", true),
            fake::calendar("west@example.com", "West", "Pacific/Pago_Pago", false),
            fake::calendar("bogus@example.com", "Bogus", "Mars/Olympus", false),
        ];
        s.cals.insert(
            "east@example.com".into(),
            fake::Cal {
                full: vec![fake::all_day("east-day", "2024-03-10", "2024-03-11")],
                next_token: "t".into(),
                ..Default::default()
            },
        );
        let mut seoul = fake::all_day("seoul-day", "2024-03-10", "2024-03-12");
        seoul["start"]["timeZone"] = json!("Asia/Seoul");
        let mut floating = fake::timed(
            "floating",
            "f",
            "2024-03-10T09:00:00",
            "2024-03-10T10:00:00",
        );
        floating["start"]["timeZone"] = json!("Bad/Zone");
        floating["end"]["timeZone"] = json!("Bad/Zone");
        s.cals.insert(
            "west@example.com".into(),
            fake::Cal {
                full: vec![
                    fake::all_day("west-day", "2024-03-10", "2024-03-11"),
                    seoul,
                    floating,
                ],
                next_token: "t".into(),
                ..Default::default()
            },
        );
        s.cals.insert(
            "bogus@example.com".into(),
            fake::Cal {
                full: vec![fake::all_day("utc-day", "2024-03-10", "2024-03-11")],
                next_token: "t".into(),
                ..Default::default()
            },
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let b = fake::open(dir.path(), &base, None).await;
    let account = fake::google_account(&b, json!({"access_token": "at-1"})).await;
    let job = fake::sync(&b, &account).await;
    assert_eq!(job.status, "succeeded", "{:?}", job.error);
    let all = b
        .list_calendar_events(&json!({"start": "2024-03-01", "end": "2024-04-01"}))
        .await
        .unwrap()
        .to_events()
        .unwrap();
    let get = |id: &str| all.iter().find(|e| e.event_id == id).unwrap().clone();
    let utc_midnight = 1710028800; // 2024-03-10T00:00:00Z
    let east = get("east-day");
    assert_eq!(
        (east.start_ts, east.end_ts),
        (
            Some(utc_midnight - 14 * 3600),
            Some(utc_midnight + 10 * 3600)
        )
    );
    assert_eq!(east.time_zone.as_deref(), Some("Pacific/Kiritimati"));
    assert!(east.all_day);
    assert_eq!(east.start_time.as_deref(), Some("2024-03-10"));
    let west = get("west-day");
    assert_eq!(
        (west.start_ts, west.end_ts),
        (
            Some(utc_midnight + 11 * 3600),
            Some(utc_midnight + 35 * 3600)
        )
    );
    let seoul = get("seoul-day");
    assert_eq!(seoul.start_ts, Some(1709996400));
    assert_eq!(seoul.time_zone.as_deref(), Some("Asia/Seoul"));
    // No valid event zone: the calendar's (Samoa, UTC−11) reads the offset-less time.
    let floating = get("floating");
    assert_eq!(floating.start_ts, Some(utc_midnight + 20 * 3600));
    assert_eq!(floating.time_zone.as_deref(), Some("Pacific/Pago_Pago"));
    let utc = get("utc-day");
    assert_eq!(
        (utc.start_ts, utc.time_zone.as_deref()),
        (Some(utc_midnight), Some("UTC"))
    );
    // On the UTC day of March 9: the east all-day event and Seoul's (which starts at 15:00Z);
    // the west one starts on March 10 at 11:00Z.
    let day = |d: &str, e: &str| json!({"start": d, "end": e, "calendar_ids": "east@example.com,west@example.com"});
    let march9 = b
        .list_calendar_events(&day("2024-03-09", "2024-03-10"))
        .await
        .unwrap()
        .to_events()
        .unwrap();
    assert_eq!(ids(&march9), ["east-day", "seoul-day"]);
    fake::assert_clean(&sim);
    b.close().await.unwrap();
}

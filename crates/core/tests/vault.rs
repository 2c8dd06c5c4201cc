//! The notes vault on real files and a real SQLite index (CONTRACT.md §17): search semantics of
//! the app, own writes and the watcher keeping the index current, the three jobs, bad input.

use std::path::Path;
use std::time::{Duration, Instant};

use enttok_core::{Backend, Config};
use serde_json::{json, Value};

async fn open(dir: &Path) -> Backend {
    let mut config = Config::new(dir);
    config.scheduler = false;
    Backend::open(config).await.expect("open")
}

fn put(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn set_mtime(root: &Path, rel: &str, secs: u64) {
    let f = std::fs::File::options()
        .write(true)
        .open(root.join(rel))
        .unwrap();
    f.set_modified(std::time::UNIX_EPOCH + Duration::from_secs(secs))
        .unwrap();
}

async fn search(b: &Backend, root: &Path, q: &str, limit: Value) -> Value {
    let answer = b
        .search_notes(&json!({ "vault_path": root, "query": q, "limit": limit }))
        .await
        .expect("search");
    serde_json::to_value(answer).unwrap()
}

fn ids(answer: &Value) -> Vec<String> {
    answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["relative_path"].as_str().unwrap().to_string())
        .collect()
}

async fn wait_for(mut f: impl AsyncFnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_answers_the_apps_scores_snippets_ids_and_order() {
    let data = tempfile::tempdir().unwrap();
    let vault = tempfile::tempdir().unwrap();
    let root = vault.path();
    put(root, "aa.md", "aaaa");
    put(root, "sub/Foo.MD", "# foo\n");
    put(root, "title-only-needle.md", "nothing here");
    put(root, "tie.md", "tie");
    put(root, "tie-b.md", "tie");
    put(root, "tie/x.md", "tie");
    put(root, ".git/x.md", "tie");
    put(root, "node_modules/y.md", "tie");
    put(root, "daily/2026-01-12.md", "검색 기능");
    std::fs::write(root.join("latin1.md"), b"caf\xe9 tie").unwrap();
    std::fs::create_dir_all(root.join("dir.md")).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(root.join("nowhere"), root.join("broken.md")).unwrap();
    for rel in ["tie.md", "tie-b.md", "tie/x.md", "latin1.md"] {
        set_mtime(root, rel, 1_700_000_000);
    }
    let b = open(data.path()).await;

    let a = search(&b, root, " AA ", Value::Null).await;
    assert_eq!(a["query"], "AA");
    assert_eq!(a["results"][0]["score"], 7);
    assert_eq!(a["results"][0]["snippet"], "aaaa");

    let a = search(&b, root, "foo", Value::Null).await;
    let hit = &a["results"][0];
    assert_eq!(hit["id"], "sub%2FFoo");
    assert_eq!(hit["relative_path"], "sub/Foo");
    assert_eq!(hit["title"], "Foo");
    assert_eq!(hit["score"], 6);
    assert_eq!(hit["file_path"], root.join("sub/Foo.MD").to_str().unwrap());
    assert!(hit["updated_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(hit["updated_at"].as_str().unwrap().len(), 24);

    let a = search(&b, root, "needle", Value::Null).await;
    assert_eq!(a["results"][0]["snippet"], Value::Null);
    assert_eq!(a["results"][0]["score"], 5);

    // Equal scores and mtimes keep the walk order; skipped folders are not searched; a
    // non-UTF-8 file is found with U+FFFD.
    let a = search(&b, root, "tie", Value::Null).await;
    // (`tie-b` and `tie` score 6 with their titles, `latin1` and `tie/x` 1.)
    assert_eq!(ids(&a), ["tie-b", "tie", "latin1", "tie/x"]);
    assert_eq!(a["results"][2]["snippet"], "caf\u{FFFD} tie");
    let twice = search(&b, root, "tie tie", Value::Null).await;
    assert_eq!(twice["results"][0]["score"], 12);
    assert_eq!(twice["results"][2]["score"], 2);
    assert_eq!(ids(&search(&b, root, "tie", json!(2)).await).len(), 2);
    assert_eq!(ids(&search(&b, root, "tie", json!(0)).await).len(), 4);
    assert_eq!(ids(&search(&b, root, "tie", json!(-1)).await).len(), 4);

    // A search rooted at a subfolder answers from the vault's index, relative to it.
    let a = search(&b, &root.join("daily"), "검색", Value::Null).await;
    assert_eq!(ids(&a), ["2026-01-12"]);
    assert_eq!(a["results"][0]["id"], "2026-01-12");
    assert_eq!(b.vault_state().loaded().len(), 1);

    // Empty query, missing folder, a file as root.
    assert_eq!(
        search(&b, root, "  ", Value::Null).await["results"],
        json!([])
    );
    assert_eq!(
        search(&b, &root.join("missing"), "x", Value::Null).await["results"],
        json!([])
    );
    let err = b
        .search_notes(&json!({ "vault_path": root.join("aa.md"), "query": "x" }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "E_INVALID_INPUT");
    assert!(err.to_string().starts_with("ENOTDIR"));
    b.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_writes_and_the_watcher_keep_the_index_current() {
    let data = tempfile::tempdir().unwrap();
    let vault = tempfile::tempdir().unwrap();
    let root = vault.path().to_path_buf();
    put(&root, "a.md", "alpha");
    let b = open(data.path()).await;
    let mut sub = b.subscribe().unwrap();
    assert_eq!(ids(&search(&b, &root, "alpha", Value::Null).await), ["a"]);

    // Own write: indexed before the answer, and announced.
    let path = root.join("a.md");
    b.write_note(&json!({ "path": path, "content": "beta" }))
        .await
        .unwrap();
    assert!(ids(&search(&b, &root, "alpha", Value::Null).await).is_empty());
    assert_eq!(ids(&search(&b, &root, "beta", Value::Null).await), ["a"]);
    let read = b.read_note(&json!({ "path": path })).await.unwrap();
    assert_eq!(read.content, "beta");
    let mut saw_change = false;
    while let Ok(Some(batch)) =
        tokio::time::timeout(Duration::from_millis(200), sub.recv_batch(64)).await
    {
        saw_change |= batch.iter().any(|e| {
            e.contains(r#""type":"vault.changed""#) && e.contains(r#""changed":["a.md"]"#)
        });
        if saw_change {
            break;
        }
    }
    assert!(saw_change, "vault.changed after an own write");

    // External edits, creations and deletions reach the index through the watcher.
    put(&root, "sub/new.md", "gamma");
    std::fs::remove_file(root.join("a.md")).unwrap();
    assert!(
        wait_for(async || {
            ids(&search(&b, &root, "gamma", Value::Null).await) == ["sub/new"]
                && ids(&search(&b, &root, "beta", Value::Null).await).is_empty()
        })
        .await,
        "the watcher updated the index"
    );
    // A whole folder removed.
    std::fs::remove_dir_all(root.join("sub")).unwrap();
    assert!(
        wait_for(async || ids(&search(&b, &root, "gamma", Value::Null).await).is_empty()).await
    );
    b.close().await.unwrap();
    // Closed: every method rejects.
    let err = b
        .search_notes(&json!({ "vault_path": root, "query": "x" }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "E_CLOSED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_survives_a_restart_and_the_jobs_scan_rebuild_and_update() {
    let data = tempfile::tempdir().unwrap();
    let vault = tempfile::tempdir().unwrap();
    let root = vault.path().to_path_buf();
    for i in 0..300 {
        put(
            &root,
            &format!("f{}/n{i}.md", i % 7),
            &format!("note {i} common"),
        );
    }
    let b = open(data.path()).await;
    assert_eq!(ids(&search(&b, &root, "common", json!(0)).await).len(), 300);
    b.close().await.unwrap();
    // Changed while closed: picked up by the first use after reopening.
    put(&root, "f1/n1.md", "changed offline");
    std::fs::remove_file(root.join("f2/n2.md")).unwrap();
    let b = open(data.path()).await;
    assert_eq!(ids(&search(&b, &root, "common", json!(0)).await).len(), 298);
    assert_eq!(
        ids(&search(&b, &root, "offline", json!(0)).await),
        ["f1/n1"]
    );

    let run = async |input: Value| {
        let created = b.create_job(&input).await.unwrap();
        let id = created.job_id.clone();
        let mut job = b.get_job(&id).await.unwrap();
        for _ in 0..400 {
            if job.is_final() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            job = b.get_job(&id).await.unwrap();
        }
        job
    };
    let job =
        run(json!({"type": "vault.scan", "payload": {"vault_path": root, "force_full": true}}))
            .await;
    assert_eq!(job.status, "succeeded", "{job:?}");
    let result = job.result.clone();
    assert_eq!(result["scanned"], 299);
    assert_eq!(result["read"], 299);
    assert_eq!(result["changed_count"], 0);
    let events = b.list_job_events(&job.job_id).await.unwrap();
    assert!(!events.is_empty());

    let job = run(json!({"type": "index.rebuild", "payload": {"vault_path": root, "embedding_model": "none"}})).await;
    assert_eq!(job.status, "succeeded", "{job:?}");
    assert_eq!(job.result.clone()["changed_count"], 299);
    assert_eq!(ids(&search(&b, &root, "common", json!(0)).await).len(), 298);

    put(&root, "f3/extra.md", "zeta");
    put(&root, "..dots.md", "zeta");
    let job = run(
        json!({"type": "index.update", "payload": {"vault_path": root,
        "changed_paths": [root.join("f3/extra.md"), "f4/../f1/n1.md", "..dots.md", "../escape.md"],
        "deleted_paths": ["f1/n8.md"]}}),
    )
    .await;
    assert_eq!(job.status, "succeeded", "{job:?}");
    assert_eq!(
        ids(&search(&b, &root, "zeta", json!(0)).await),
        ["..dots", "f3/extra"]
    );

    let job = run(json!({"type": "vault.scan", "payload": {"vault_path": "relative/path"}})).await;
    assert_eq!(job.status, "failed");

    // The trigram index holds the lower-cased text.
    let vault_id = b.vault_state().loaded()[0].id;
    let hits = b
        .store()
        .read(move |c| enttok_core::vault::index::fts_candidates(c, vault_id, &["offline".into()]))
        .await
        .unwrap();
    assert_eq!(hits, Some(vec!["f1/n1.md".to_string()]));
    let short = b
        .store()
        .read(move |c| enttok_core::vault::index::fts_candidates(c, vault_id, &["of".into()]))
        .await
        .unwrap();
    assert_eq!(short, None);
    b.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notes_api_and_bad_input() {
    let data = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let vault = tempfile::tempdir().unwrap();
    let root = vault.path().to_path_buf();
    let b = open(data.path()).await;

    // createNote never overwrites unless asked.
    let note = b
        .create_note(&json!({ "folder_path": root, "title": "My note" }))
        .await
        .unwrap();
    assert_eq!(note.id, "My%20note");
    assert_eq!(
        std::fs::read_to_string(root.join("My note.md")).unwrap(),
        "# My note\n\n"
    );
    std::fs::write(root.join("My note.md"), "precious").unwrap();
    let err = b
        .create_note(&json!({ "folder_path": root, "title": "My note" }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "E_CONFLICT");
    assert_eq!(
        std::fs::read_to_string(root.join("My note.md")).unwrap(),
        "precious"
    );
    b.create_note(&json!({ "folder_path": root, "title": "My note", "overwrite": true }))
        .await
        .unwrap();
    for bad in ["a/b", "..", "", "x\u{0}y"] {
        let err = b
            .create_note(&json!({ "folder_path": root, "title": bad }))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "E_INVALID_INPUT", "{bad:?}");
    }

    // listNotes: root only, newest first, a broken link skipped.
    put(&root, "old.md", "x");
    set_mtime(&root, "old.md", 1_000_000_000);
    put(&root, "sub/deep.md", "x");
    #[cfg(unix)]
    std::os::unix::fs::symlink(root.join("nowhere"), root.join("broken.md")).unwrap();
    let list = b.list_notes(&json!({ "folder_path": root })).await.unwrap();
    let titles: Vec<&str> = list.iter().map(|n| n.title.as_str()).collect();
    assert_eq!(titles, ["My note", "old"]);
    assert_eq!(
        b.list_notes(&json!({ "folder_path": root.join("nope") }))
            .await
            .unwrap_err()
            .code(),
        "E_NOT_FOUND"
    );

    // getNotePath.
    assert_eq!(
        b.get_note_path(&json!({ "folder_path": root, "note_id": "sub%2Fdeep" }))
            .await
            .unwrap(),
        Some(root.join("sub/deep.md").to_string_lossy().into_owned())
    );
    std::fs::write(outside.path().join("secret.md"), "s").unwrap();
    let up = format!(
        "..%2F{}%2Fsecret",
        outside.path().file_name().unwrap().to_str().unwrap()
    );
    assert_eq!(
        b.get_note_path(&json!({ "folder_path": root, "note_id": up }))
            .await
            .unwrap(),
        None
    );

    // read/write only inside registered vaults: register it with a search first.
    let target = root.join("sub/deep.md");
    assert_eq!(
        b.write_note(&json!({ "path": target, "content": "x" }))
            .await
            .unwrap_err()
            .code(),
        "E_INVALID_INPUT"
    );
    search(&b, &root, "x", Value::Null).await;
    b.write_note(&json!({ "path": target, "content": "한글 ✓ 😀" }))
        .await
        .unwrap();
    assert_eq!(
        b.read_note(&json!({ "path": target }))
            .await
            .unwrap()
            .content,
        "한글 ✓ 😀"
    );
    let escapes = [
        json!("relative/x.md"),
        json!(format!("{}/../../etc/passwd", root.display())),
        json!(outside.path().join("secret.md")),
        json!(format!("{}/a\u{0}b.md", root.display())),
    ];
    for path in &escapes {
        let err = b.read_note(&json!({ "path": path })).await.unwrap_err();
        assert_eq!(err.code(), "E_INVALID_INPUT", "{path}");
        let err = b
            .write_note(&json!({ "path": path, "content": "x" }))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "E_INVALID_INPUT", "{path}");
    }
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(outside.path().join("secret.md"), root.join("out.md")).unwrap();
        let err = b
            .write_note(&json!({ "path": root.join("out.md"), "content": "x" }))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "E_INVALID_INPUT");
        assert_eq!(
            std::fs::read_to_string(outside.path().join("secret.md")).unwrap(),
            "s"
        );
        std::os::unix::fs::symlink(outside.path(), root.join("outdir")).unwrap();
        let err = b
            .write_note(&json!({ "path": root.join("outdir/new.md"), "content": "x" }))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "E_INVALID_INPUT");
    }
    // A missing parent folder is not created (as the app), and the file is not found.
    assert_eq!(
        b.write_note(&json!({ "path": root.join("no/such/x.md"), "content": "x" }))
            .await
            .unwrap_err()
            .code(),
        "E_NOT_FOUND"
    );
    assert_eq!(
        b.read_note(&json!({ "path": root.join("missing.md") }))
            .await
            .unwrap_err()
            .code(),
        "E_NOT_FOUND"
    );

    // A 10 MB query is refused with a 422 item; a relative vault is refused.
    let err = b
        .search_notes(&json!({ "vault_path": root, "query": "a ".repeat(5_000_000) }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "E_INVALID_INPUT");
    assert_eq!(err.detail()[0]["loc"], json!(["body", "query"]));
    for bad in [
        json!("rel/dir"),
        json!(""),
        json!(format!("{}\u{0}", root.display())),
    ] {
        let err = b
            .search_notes(&json!({ "vault_path": bad, "query": "x" }))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "E_INVALID_INPUT", "{bad}");
    }

    // Daily notes: the settings decide folder and template; an existing note is untouched.
    b.update_settings(&json!({ "daily_notes_folder": " journal\\daily/ ", "daily_note_template": "# {{ date }}\n" }))
        .await
        .unwrap();
    let made = b
        .create_daily_note(&json!({ "vault_path": root, "date": "2026-01-13" }))
        .await
        .unwrap();
    assert!(made.created);
    let daily = root.join("journal/daily/2026-01-13.md");
    assert_eq!(made.file_path, daily.to_string_lossy());
    assert_eq!(std::fs::read_to_string(&daily).unwrap(), "# 2026-01-13\n");
    std::fs::write(&daily, "kept").unwrap();
    let again = b
        .create_daily_note(&json!({ "vault_path": root, "date": "2026-01-13" }))
        .await
        .unwrap();
    assert!(!again.created);
    assert_eq!(std::fs::read_to_string(&daily).unwrap(), "kept");
    put(&root, "journal/daily/2026-1-3.md", "x");
    put(&root, "journal/daily/2026-01-02.md", "x");
    assert_eq!(
        b.list_daily_note_dates(&json!({ "vault_path": root }))
            .await
            .unwrap(),
        ["2026-01-02", "2026-01-13"]
    );
    assert_eq!(
        b.daily_note_path(&json!({ "vault_path": root, "date": "2026-02-01" }))
            .await
            .unwrap(),
        root.join("journal/daily/2026-02-01.md").to_string_lossy()
    );
    let err = b
        .create_daily_note(&json!({ "vault_path": root, "date": "../../x" }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "E_INVALID_INPUT");
    b.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vault_that_disappears_never_leaves_a_partial_index() {
    let data = tempfile::tempdir().unwrap();
    let vault = tempfile::tempdir().unwrap();
    let root = vault.path().join("v");
    for i in 0..50 {
        put(&root, &format!("d{i}/n.md"), "kept words");
    }
    let b = open(data.path()).await;
    assert_eq!(ids(&search(&b, &root, "kept", json!(0)).await).len(), 50);
    let vault_ref = b.vault_state().loaded()[0].clone();
    std::fs::rename(&root, vault.path().join("gone")).unwrap();
    let state = b.vault_state().clone();
    let err = enttok_core::vault::scan::scan(&state, &vault_ref, Default::default(), None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "E_NOT_FOUND");
    // The index is as it was.
    assert_eq!(vault_ref.snapshot().notes.len(), 50);
    b.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_first_scan_indexes_everything_and_restores_the_fts_settings() {
    // Over the bulk threshold: the first scan streams the notes into one transaction with a
    // larger FTS5 in-memory budget, which it sets back before the commit.
    let data = tempfile::tempdir().unwrap();
    let vault = tempfile::tempdir().unwrap();
    let root = vault.path().to_path_buf();
    let count = enttok_core::vault::index::BULK_NOTES + 200;
    for i in 0..count {
        put(
            &root,
            &format!("d{}/n{i}.md", i % 7),
            &format!("Note {i} 검색 shared{}", i % 3),
        );
    }
    let b = open(data.path()).await;
    let all = search(&b, &root, "검색", json!(0)).await;
    assert_eq!(all["results"].as_array().unwrap().len(), count);
    assert_eq!(
        search(&b, &root, "shared2", json!(0)).await["results"]
            .as_array()
            .unwrap()
            .len(),
        count / 3
    );
    let (rows, fts, hashsize) = b
        .store()
        .read(|c| {
            let rows: i64 = c.query_row("SELECT count(*) FROM vault_notes", [], |r| r.get(0))?;
            let fts: i64 = c.query_row("SELECT count(*) FROM vault_notes_fts", [], |r| r.get(0))?;
            let hashsize: Option<i64> = c
                .query_row(
                    "SELECT v FROM vault_notes_fts_config WHERE k = 'hashsize'",
                    [],
                    |r| r.get(0),
                )
                .ok();
            Ok((rows, fts, hashsize))
        })
        .await
        .unwrap();
    assert_eq!((rows, fts), (count as i64, count as i64));
    assert_eq!(
        hashsize,
        Some(1 << 20),
        "FTS5's default in-memory budget is back"
    );
    let vault_id = b.vault_state().loaded()[0].id;
    let hits = b
        .store()
        .read(move |c| enttok_core::vault::index::fts_candidates(c, vault_id, &["note 1".into()]))
        .await
        .unwrap()
        .unwrap();
    let expected = (0..count)
        .filter(|i| format!("note {i}").starts_with("note 1"))
        .count();
    assert_eq!(hits.len(), expected);
    b.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subfolder_vault_is_absorbed_when_its_parent_is_registered() {
    let data = tempfile::tempdir().unwrap();
    let vault = tempfile::tempdir().unwrap();
    let root = vault.path().canonicalize().unwrap();
    put(&root, "top.md", "alpha");
    put(&root, "sub/in.md", "alpha beta");
    put(&root, "sub/deep/x.md", "alpha");
    put(&root, ".obsidian/inner/o.md", "alpha");
    let b = open(data.path()).await;
    let sorted = |answer: Value| {
        let mut list = ids(&answer);
        list.sort();
        list
    };
    let sub = root.join("sub");
    assert_eq!(
        sorted(search(&b, &sub, "alpha", Value::Null).await),
        ["deep/x", "in"]
    );
    // A folder inside a skipped folder is a vault of its own, and stays one.
    let hidden = root.join(".obsidian/inner");
    assert_eq!(
        sorted(search(&b, &hidden, "alpha", Value::Null).await),
        ["o"]
    );
    let counts = async || {
        b.store()
            .read(|c| {
                let vaults: i64 = c.query_row("SELECT count(*) FROM vaults", [], |r| r.get(0))?;
                let notes: i64 =
                    c.query_row("SELECT count(*) FROM vault_notes", [], |r| r.get(0))?;
                Ok((vaults, notes))
            })
            .await
            .unwrap()
    };
    assert_eq!(counts().await, (2, 3));

    // The parent: it indexes the subfolder's notes, the subfolder's own vault is forgotten.
    assert_eq!(
        sorted(search(&b, &root, "alpha", Value::Null).await),
        ["sub/deep/x", "sub/in", "top"]
    );
    assert_eq!(counts().await, (2, 4));
    assert_eq!(b.vault_state().loaded().len(), 2);
    // The subfolder is answered from the parent's index, relative to itself, and kept current.
    assert_eq!(
        sorted(search(&b, &sub, "alpha", Value::Null).await),
        ["deep/x", "in"]
    );
    assert_eq!(b.vault_state().loaded().len(), 2);
    put(&root, "sub/new.md", "gamma");
    assert!(wait_for(async || ids(&search(&b, &sub, "gamma", Value::Null).await) == ["new"]).await);
    b.close().await.unwrap();
}

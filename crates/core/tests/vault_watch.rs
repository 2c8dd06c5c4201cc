//! The vault watcher on Linux: one inotify watch per folder the index enters, none in skipped
//! folders (`.git`, `node_modules`), and folders created later are watched (a note written
//! in one later still reaches the index). Alone in its test binary: it counts the process's
//! inotify watches.
#![cfg(target_os = "linux")]

use std::path::Path;
use std::time::{Duration, Instant};

use enttok_core::{Backend, Config};
use serde_json::json;

fn put(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// inotify watches held by this process (every inotify descriptor's `wd` lines).
fn inotify_watches() -> usize {
    let mut total = 0;
    for fd in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        let is_inotify =
            std::fs::read_link(fd.path()).is_ok_and(|t| t.to_string_lossy().contains("inotify"));
        if !is_inotify {
            continue;
        }
        let info = Path::new("/proc/self/fdinfo").join(fd.file_name());
        if let Ok(text) = std::fs::read_to_string(info) {
            total += text
                .lines()
                .filter(|l| l.starts_with("inotify wd:"))
                .count();
        }
    }
    total
}

async fn found(b: &Backend, root: &Path, q: &str) -> Vec<String> {
    let answer = b
        .search_notes(&json!({ "vault_path": root, "query": q }))
        .await
        .expect("search");
    answer
        .results
        .into_iter()
        .map(|r| r.relative_path)
        .collect()
}

async fn eventually(b: &Backend, root: &Path, q: &str, expected: &[&str]) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        if found(b, root, q).await == expected {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skipped_folders_are_not_watched_and_new_folders_are() {
    let data = tempfile::tempdir().unwrap();
    let vault = tempfile::tempdir().unwrap();
    let root = vault.path().canonicalize().unwrap();
    put(&root, "a.md", "alpha");
    put(&root, "sub/b.md", "beta");
    for i in 0..40 {
        put(&root, &format!("node_modules/p{i}/lib/x.md"), "alpha");
        put(&root, &format!(".git/objects/o{i}/y.md"), "alpha");
    }
    // A link to a folder is not entered by the walk, nor watched.
    std::os::unix::fs::symlink(root.join("node_modules"), root.join("linked")).unwrap();
    let mut config = Config::new(data.path());
    config.scheduler = false;
    let b = Backend::open(config).await.expect("open");
    let before = inotify_watches();
    assert_eq!(found(&b, &root, "alpha").await, ["a"]);
    let watched = inotify_watches() - before;
    // The root and `sub`; the 200 folders under `node_modules` and `.git` cost nothing.
    assert_eq!(watched, 2, "one watch per indexed folder");

    // A nested folder created later: its note is indexed, then watched for later edits.
    put(&root, "new/deeper/c.md", "gamma");
    assert!(eventually(&b, &root, "gamma", &["new/deeper/c"]).await);
    put(&root, "new/deeper/d.md", "delta");
    assert!(
        eventually(&b, &root, "delta", &["new/deeper/d"]).await,
        "a note in a folder created after the start reaches the index"
    );
    assert_eq!(inotify_watches() - before, 4);
    // Renamed: edits inside it are seen under the new name.
    std::fs::rename(root.join("new"), root.join("moved")).unwrap();
    assert!(eventually(&b, &root, "gamma", &["moved/deeper/c"]).await);
    put(&root, "moved/deeper/e.md", "epsilon");
    assert!(eventually(&b, &root, "epsilon", &["moved/deeper/e"]).await);
    b.close().await.unwrap();
}

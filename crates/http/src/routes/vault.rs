//! The notes vault routes (CONTRACT.md §17): search from the index, note files, daily notes.
//! Each calls one facade method with the body or the query, as the JS methods do.

use enttok_core::Result;
use hyper::Method;
use serde_json::Value;

use crate::router::{Call, ParamType, QueryParam, Route};
use crate::schema::{array, boolean, integer, nullable, object, object_with, string, wrapped};
use crate::Reply;

const TAG: &str = "vault";

fn note() -> Value {
    object(&[
        ("id", string()),
        ("title", string()),
        ("file_path", string()),
        ("updated_at", string()),
    ])
}

fn hit() -> Value {
    object(&[
        ("id", string()),
        ("title", string()),
        ("file_path", string()),
        ("updated_at", string()),
        ("score", integer()),
        ("snippet", nullable(string())),
        ("relative_path", string()),
    ])
}

/// The routes of this module (literal paths only).
pub fn routes() -> Vec<Route> {
    vec![
        Route::post("/vault/search", search)
            .js("searchNotes")
            .doc(TAG, "Search notes with the app's results, from the index")
            .body(object_with(
                &[
                    ("vault_path", string()),
                    ("query", string()),
                    ("limit", nullable(integer())),
                ],
                ["vault_path"],
            ))
            .returns(object(&[("query", string()), ("results", array(hit()))])),
        Route::get("/vault/notes", list_notes)
            .js("listNotes")
            .doc(TAG, "The notes of a folder (root only), newest first")
            .query(&[QueryParam::required("folder_path", ParamType::String)])
            .returns(wrapped("notes", note())),
        Route::post("/vault/notes", create_note)
            .js("createNote")
            .doc(TAG, "Create a note; never overwrites unless asked")
            .body(object_with(
                &[
                    ("folder_path", string()),
                    ("title", string()),
                    ("overwrite", boolean()),
                ],
                ["folder_path", "title"],
            ))
            .returns(note()),
        Route::get("/vault/note-path", note_path)
            .js("getNotePath")
            .doc(TAG, "The file of a note id inside a folder, or null")
            .query(&[
                QueryParam::required("folder_path", ParamType::String),
                QueryParam::required("note_id", ParamType::String),
            ])
            .returns(nullable(string())),
        Route::get("/vault/file", read_file)
            .js("readNote")
            .doc(TAG, "Read a note of a registered vault")
            .query(&[QueryParam::required("path", ParamType::String)])
            .returns(object(&[
                ("path", string()),
                ("content", string()),
                ("updated_at", string()),
            ])),
        Route::new(Method::PUT, "/vault/file", write_file)
            .js("writeNote")
            .doc(TAG, "Write a note of a registered vault atomically")
            .body(object_with(
                &[("path", string()), ("content", string())],
                ["path", "content"],
            ))
            .returns(object(&[("path", string()), ("updated_at", string())])),
        Route::get("/vault/daily/path", daily_path)
            .js("dailyNotePath")
            .doc(TAG, "The path of a daily note")
            .query(&[
                QueryParam::required("vault_path", ParamType::String),
                QueryParam::required("date", ParamType::String),
            ])
            .returns(string()),
        Route::post("/vault/daily", create_daily)
            .js("createDailyNote")
            .doc(
                TAG,
                "Create a daily note from the template unless it exists",
            )
            .body(object_with(
                &[("vault_path", string()), ("date", string())],
                ["vault_path", "date"],
            ))
            .returns(object(&[("file_path", string()), ("created", boolean())])),
        Route::get("/vault/daily/dates", daily_dates)
            .js("listDailyNoteDates")
            .doc(TAG, "The dates that have a daily note")
            .query(&[QueryParam::required("vault_path", ParamType::String)])
            .returns(wrapped("dates", string())),
    ]
}

async fn search(call: Call) -> Result<Reply> {
    Reply::json(&call.backend.search_notes(&call.body).await?)
}

async fn list_notes(call: Call) -> Result<Reply> {
    Reply::list("notes", &call.backend.list_notes(&call.query).await?)
}

async fn create_note(call: Call) -> Result<Reply> {
    Reply::json(&call.backend.create_note(&call.body).await?)
}

async fn note_path(call: Call) -> Result<Reply> {
    Reply::json(&call.backend.get_note_path(&call.query).await?)
}

async fn read_file(call: Call) -> Result<Reply> {
    Reply::json(&call.backend.read_note(&call.query).await?)
}

async fn write_file(call: Call) -> Result<Reply> {
    Reply::json(&call.backend.write_note(&call.body).await?)
}

async fn daily_path(call: Call) -> Result<Reply> {
    Reply::json(&call.backend.daily_note_path(&call.query).await?)
}

async fn create_daily(call: Call) -> Result<Reply> {
    Reply::json(&call.backend.create_daily_note(&call.body).await?)
}

async fn daily_dates(call: Call) -> Result<Reply> {
    Reply::list(
        "dates",
        &call.backend.list_daily_note_dates(&call.query).await?,
    )
}

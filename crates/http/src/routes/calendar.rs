//! The calendar routes (CONTRACT.md §4.4) and the Google OAuth routes (§4.5, §8.1).

use enttok_core::Result;
use serde_json::Value;

use crate::router::{Call, ParamType, QueryParam, Route};
use crate::schema::{
    any_object, array, boolean, integer, job_created, nullable, object, object_with, ok, one_of,
    string, wrapped,
};
use crate::Reply;

const TAG: &str = "calendar";
const OAUTH_TAG: &str = "calendar-oauth";

fn provider() -> Value {
    object(&[
        ("id", string()),
        ("label", string()),
        ("auth_method", string()),
        ("scopes", array(string())),
        ("notes", string()),
    ])
}

fn account() -> Value {
    object(&[
        ("account_id", string()),
        ("provider", one_of(&["google", "apple"])),
        ("display_name", nullable(string())),
        ("email", nullable(string())),
        ("connected", boolean()),
        ("created_at", string()),
        ("updated_at", string()),
        ("last_sync_at", nullable(string())),
        ("sync_cursor", nullable(string())),
    ])
}

fn create_account_body() -> Value {
    object_with(
        &[
            ("provider", one_of(&["google", "apple"])),
            ("display_name", nullable(string())),
            ("email", nullable(string())),
            ("credentials", any_object()),
            ("config", any_object()),
        ],
        ["provider"],
    )
}

fn calendar() -> Value {
    let text = || nullable(string());
    object(&[
        ("account_id", string()),
        ("calendar_id", string()),
        ("provider", string()),
        ("name", string()),
        ("description", text()),
        ("is_primary", boolean()),
        ("access_role", text()),
        ("background_color", text()),
        ("foreground_color", text()),
        ("time_zone", text()),
        ("selected", boolean()),
        ("created_at", string()),
        ("updated_at", string()),
    ])
}

fn event() -> Value {
    let text = || nullable(string());
    object(&[
        ("account_id", string()),
        ("event_id", string()),
        ("calendar_id", string()),
        ("title", text()),
        ("description", text()),
        ("start_time", text()),
        ("end_time", text()),
        ("start_ts", integer()),
        ("end_ts", integer()),
        ("all_day", boolean()),
        ("location", text()),
        ("conference_url", text()),
        ("visibility", text()),
        ("status", text()),
        ("organizer", nullable(any_object())),
        ("attendees", nullable(array(any_object()))),
        ("html_link", text()),
        ("time_zone", text()),
        ("created_at", string()),
        ("updated_at", string()),
        ("calendar_color", text()),
        ("calendar_name", text()),
    ])
}

fn oauth_started() -> Value {
    object(&[
        ("auth_url", string()),
        ("state", string()),
        ("redirect_uri", string()),
        ("port", integer()),
    ])
}

fn oauth_completed() -> Value {
    object(&[
        ("account", account()),
        ("success", boolean()),
        ("message", string()),
    ])
}

/// The routes of this module, literal paths before the parametric ones beside them.
pub fn routes() -> Vec<Route> {
    let mut routes = account_routes();
    routes.extend(data_routes());
    routes.extend(oauth_routes());
    routes
}

fn account_routes() -> Vec<Route> {
    vec![
        Route::get("/calendar/providers", list_providers)
            .js("listCalendarProviders")
            .doc(TAG, "The supported calendar providers")
            .returns(wrapped("providers", provider())),
        Route::post("/calendar/accounts", create_account)
            .js("createCalendarAccount")
            .doc(
                TAG,
                "Create an account (Apple; Google accounts come from OAuth)",
            )
            .body(create_account_body())
            .returns(account()),
        Route::get("/calendar/accounts", list_accounts)
            .js("listCalendarAccounts")
            .doc(TAG, "List accounts, newest first")
            .returns(wrapped("accounts", account())),
        Route::get("/calendar/accounts/{account_id}", get_account)
            .js("getCalendarAccount")
            .doc(TAG, "One account")
            .returns(account()),
        Route::delete("/calendar/accounts/{account_id}", delete_account)
            .js("deleteCalendarAccount")
            .doc(
                TAG,
                "Delete an account with its calendars, events and sync state",
            )
            .returns(ok()),
        Route::post("/calendar/accounts/{account_id}/sync", sync_account)
            .js("syncCalendarAccount")
            .doc(
                TAG,
                "Queue a connector.calendar.sync job (the path id wins)",
            )
            .body(any_object())
            .returns(job_created()),
    ]
}

fn data_routes() -> Vec<Route> {
    vec![
        Route::get("/calendar/calendars", list_calendars)
            .js("listCalendars")
            .doc(TAG, "List calendars, primary first")
            .query(&[
                QueryParam::optional("account_id", ParamType::String),
                QueryParam::optional("selected_only", ParamType::Boolean),
            ])
            .returns(wrapped("calendars", calendar())),
        Route::patch(
            "/calendar/calendars/{account_id}/{calendar_id}",
            update_calendar,
        )
        .js("updateCalendar")
        .doc(TAG, "Select or unselect a calendar")
        .body(object(&[("selected", boolean())]))
        .returns(ok()),
        Route::get("/calendar/events", list_events)
            .js("listCalendarEvents")
            .doc(TAG, "Events overlapping [start, end), by start time")
            .query(&[
                QueryParam::required("start", ParamType::String),
                QueryParam::required("end", ParamType::String),
                QueryParam::optional("account_id", ParamType::String),
                QueryParam::optional("calendar_ids", ParamType::List),
                QueryParam::optional("selected_only", ParamType::Boolean),
            ])
            .returns(wrapped("events", event())),
    ]
}

fn oauth_routes() -> Vec<Route> {
    vec![
        Route::post("/calendar/oauth/google/start", start_oauth)
            .js("startGoogleOAuth")
            .doc(
                OAUTH_TAG,
                "Prepare a PKCE flow redirecting to this server's callback",
            )
            .returns(oauth_started()),
        Route::post("/calendar/oauth/google/complete", complete_oauth)
            .js("completeGoogleOAuth")
            .doc(OAUTH_TAG, "Exchange a code captured by the client")
            .body(object(&[("code", string()), ("state", string())]))
            .returns(oauth_completed()),
        Route::get("/calendar/oauth/google/callback", oauth_callback)
            .http_only(
                "the browser's redirect target of Google OAuth; JS calls completeGoogleOAuth",
            )
            .public()
            .doc(OAUTH_TAG, "The browser's redirect target: an HTML page")
            .query(&[
                QueryParam::optional("code", ParamType::String),
                QueryParam::optional("state", ParamType::String),
                QueryParam::optional("error", ParamType::String),
            ])
            .returns(string())
            .returns_type("text/html"),
    ]
}

async fn list_providers(call: Call) -> Result<Reply> {
    Reply::list("providers", &call.backend.list_calendar_providers().await?)
}

async fn create_account(call: Call) -> Result<Reply> {
    Reply::json(&call.backend.create_calendar_account(&call.body).await?)
}

async fn list_accounts(call: Call) -> Result<Reply> {
    Reply::list("accounts", &call.backend.list_calendar_accounts().await?)
}

async fn get_account(call: Call) -> Result<Reply> {
    Reply::json(&call.backend.get_calendar_account(call.param(0)).await?)
}

async fn delete_account(call: Call) -> Result<Reply> {
    Reply::json(&call.backend.delete_calendar_account(call.param(0)).await?)
}

async fn sync_account(call: Call) -> Result<Reply> {
    Reply::json(
        &call
            .backend
            .sync_calendar_account(call.param(0), &call.body)
            .await?,
    )
}

async fn list_calendars(call: Call) -> Result<Reply> {
    Reply::list(
        "calendars",
        &call.backend.list_calendars(&call.query).await?,
    )
}

async fn update_calendar(call: Call) -> Result<Reply> {
    Reply::json(
        &call
            .backend
            .update_calendar(call.param(0), call.param(1), &call.body)
            .await?,
    )
}

async fn list_events(call: Call) -> Result<Reply> {
    Reply::list(
        "events",
        &call.backend.list_calendar_events(&call.query).await?,
    )
}

/// The redirect goes to this server's port: [`crate::start`] told the core with
/// `set_http_port`, which `start_google_oauth` reads (CONTRACT.md §8.1 step 2).
async fn start_oauth(call: Call) -> Result<Reply> {
    Reply::json(&call.backend.start_google_oauth().await?)
}

async fn complete_oauth(call: Call) -> Result<Reply> {
    Reply::json(&call.backend.complete_google_oauth(&call.body).await?)
}

/// Public: the browser arrives here without the token. The core escapes every value it puts
/// in the page and picks the status.
async fn oauth_callback(call: Call) -> Result<Reply> {
    let (status, page) = call.backend.google_oauth_callback(&call.query).await;
    Ok(Reply::html(status, page))
}

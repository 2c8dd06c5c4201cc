//! The route table: one module per capability, each with one `pub fn routes() -> Vec<Route>`.
//!
//! To add a capability (calendar, jira, confluence, activity, claude, …):
//! 1. create `src/routes/<concept>.rs` with `pub fn routes() -> Vec<Route>` and one small
//!    `async fn` per route that calls ONE facade method of `enttok_core::Backend` and wraps its
//!    answer ([`Reply::json`](crate::Reply::json), or [`Reply::list`](crate::Reply::list) for
//!    the `{"accounts":[…]}` shape);
//! 2. add `pub mod <concept>;` and one `routes.extend(<concept>::routes());` line below.
//!
//! Nothing else changes: the pipeline (Host, CORS, token, body limits and decoding), the error
//! mapping and the OpenAPI document all follow from the table. Declare literal paths before
//! parametric ones that could match the same request (the first matching route wins).

use crate::router::Route;

pub mod activity;
pub mod calendar;
pub mod claude;
pub mod confluence;
pub mod github;
pub mod health;
pub mod jira;
pub mod jobs;
pub mod memory;
pub mod meta;
pub mod settings;
pub mod suggest;
pub mod vault;

/// Every route the server answers, in matching order.
pub fn all() -> Vec<Route> {
    let mut routes = Vec::with_capacity(48);
    routes.extend(health::routes());
    routes.extend(settings::routes());
    routes.extend(jobs::routes());
    routes.extend(claude::routes());
    routes.extend(calendar::routes());
    routes.extend(jira::routes());
    routes.extend(confluence::routes());
    routes.extend(activity::routes());
    // GitHub and suggestions (CONTRACT.md §18-§19)
    routes.extend(github::routes());
    routes.extend(suggest::routes());
    routes.extend(vault::routes());
    routes.extend(memory::routes());
    routes.extend(meta::routes());
    routes
}

#[cfg(test)]
mod tests {
    use crate::router::Surface;

    /// Every route says which JS method answers the same, or why none does (issue 13: one
    /// description per method; the names are checked against the JS side by
    /// `__test__/surface.test.js`).
    #[test]
    fn every_route_declares_its_js_method() {
        let routes = super::all();
        let undeclared: Vec<String> = routes
            .iter()
            .filter(|r| r.surface == Surface::Undeclared)
            .map(|r| format!("{} {}", r.method, r.path))
            .collect();
        assert!(
            undeclared.is_empty(),
            "routes without .js()/.http_only(): {undeclared:?}"
        );
        let mut names: Vec<&str> = routes
            .iter()
            .filter_map(|r| match r.surface {
                Surface::Js(m) => Some(m),
                _ => None,
            })
            .collect();
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), n, "a JS method answers two routes");
    }
}

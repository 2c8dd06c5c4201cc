//! The route table: what each capability module declares, and how a request path finds its
//! route (CONTRACT.md §3.2 step 4).
//!
//! A [`Route`] is data: method, path pattern, whether it needs the token, its handler, and the
//! few facts the OpenAPI document prints. The [`Router`] serves exactly the routes it was built
//! from and [`crate::openapi`] describes exactly the same list, so the two cannot drift apart.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use enttok_core::{Backend, Result};
use hyper::Method;
use serde_json::Value;

use crate::reply::Reply;

/// The future a handler returns.
pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<Reply>> + Send>>;

/// A type-erased handler: one per route, shared by every request.
pub type Handler = Arc<dyn Fn(Call) -> HandlerFuture + Send + Sync>;

/// Everything a handler gets from the pipeline. The pipeline has already checked Host, Origin
/// and the token and decoded the body, so a handler only calls one facade method.
pub struct Call {
    /// The core facade.
    pub backend: Backend,
    /// Percent-decoded path parameters, in the order of the pattern (`/a/{x}/{y}` → `[x, y]`).
    pub params: Vec<String>,
    /// The query string as a JSON object of strings (a declared list parameter is an array of
    /// strings). Always an object, possibly empty. The core's lax parsing turns `"5"` into 5.
    pub query: Value,
    /// The decoded body (routes that declare one): a JSON value, a raw string for a non-JSON
    /// content type (the core answers `model_attributes_type`), or `null` when empty (the core
    /// answers `missing` where a body is required).
    pub body: Value,
    /// The port this adapter listens on (e.g. the OAuth redirect URI needs it).
    pub port: u16,
}

impl Call {
    /// The `n`-th path parameter (empty when the pattern has fewer; patterns are static, so a
    /// wrong index is a programming error that simply finds nothing).
    pub fn param(&self, n: usize) -> &str {
        self.params.get(n).map(String::as_str).unwrap_or("")
    }
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// `X-Backend-Token` required (every route but two).
    Token,
    /// No token: only the OAuth callback and `/openapi.json` (CONTRACT.md §3.2 step 5).
    Public,
}

/// What the pipeline does once a request reached the route.
#[derive(Clone)]
pub enum Action {
    /// Call a capability handler.
    Handler(Handler),
    /// Upgrade to the event WebSocket (`/events`).
    Events,
    /// Answer the OpenAPI document (built once per server from this very table).
    OpenApi,
    /// The MCP Streamable HTTP endpoint (`/mcp`, its own token rule: `crate::mcp`).
    Mcp,
}

/// The type of a declared query parameter (documentation, and list handling of repeated keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    /// A string.
    String,
    /// An integer (sent as text; the core parses it laxly).
    Integer,
    /// A boolean (lax words, CONTRACT.md §3.6).
    Boolean,
    /// A list: repeated keys are collected into an array; a comma string also works.
    List,
}

/// One declared query parameter.
#[derive(Debug, Clone, Copy)]
pub struct QueryParam {
    /// Its name.
    pub name: &'static str,
    /// Its type.
    pub kind: ParamType,
    /// Whether the core requires it (documentation only; the core validates).
    pub required: bool,
}

impl QueryParam {
    /// An optional parameter.
    pub const fn optional(name: &'static str, kind: ParamType) -> QueryParam {
        QueryParam {
            name,
            kind,
            required: false,
        }
    }

    /// A required parameter.
    pub const fn required(name: &'static str, kind: ParamType) -> QueryParam {
        QueryParam {
            name,
            kind,
            required: true,
        }
    }
}

/// One segment of a path pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    Literal(&'static str),
    Param(&'static str),
}

/// What a route is to the JS API (see [`Route::js`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// Answered by this `Backend` method too.
    Js(&'static str),
    /// HTTP only, for the reason given.
    HttpOnly(&'static str),
    /// Not declared yet: a test fails.
    Undeclared,
}

/// One route: the unit every capability module declares.
#[derive(Clone)]
pub struct Route {
    /// The HTTP method (HEAD is never implied by GET).
    pub method: Method,
    /// The path pattern, e.g. `/jobs/{job_id}/cancel`; `{name}` matches one segment.
    pub path: &'static str,
    /// Token or public.
    pub access: Access,
    /// What to do.
    pub action: Action,
    /// Whether the route reads a request body (decoded per §3.2 step 7).
    pub has_body: bool,
    /// Declared query parameters.
    pub query: Vec<QueryParam>,
    /// One-line summary for the OpenAPI document.
    pub summary: &'static str,
    /// OpenAPI tag: the capability module's name.
    pub tag: &'static str,
    /// JSON schema of the request body (documentation).
    pub body_schema: Option<Value>,
    /// JSON schema of the 200 answer (documentation).
    pub response_schema: Value,
    /// Media type of the 200 answer.
    pub response_type: &'static str,
    /// What the route is to JS: the `Backend` method answering the same (its OpenAPI
    /// `operationId`), or why there is none. Every route declares one; a test checks it, and
    /// `__test__/surface.test.js` checks the names against `index.js`, `index.d.ts` and the
    /// binding's dispatch.
    pub surface: Surface,
    pub(crate) segments: Vec<Segment>,
}

impl Route {
    /// A route calling `handler`. Prefer the shorthands [`Route::get`], [`Route::post`], ….
    pub fn new<F, Fut>(method: Method, path: &'static str, handler: F) -> Route
    where
        F: Fn(Call) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Reply>> + Send + 'static,
    {
        let handler: Handler = Arc::new(move |call| Box::pin(handler(call)) as HandlerFuture);
        Route::with_action(method, path, Action::Handler(handler))
    }

    /// A route with a special action (used by the adapter's own routes).
    pub(crate) fn with_action(method: Method, path: &'static str, action: Action) -> Route {
        Route {
            method,
            path,
            access: Access::Token,
            action,
            has_body: false,
            query: Vec::new(),
            summary: "",
            tag: "",
            body_schema: None,
            response_schema: Value::Object(Default::default()),
            response_type: "application/json",
            surface: Surface::Undeclared,
            segments: parse_pattern(path),
        }
    }

    /// `GET path`.
    pub fn get<F, Fut>(path: &'static str, handler: F) -> Route
    where
        F: Fn(Call) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Reply>> + Send + 'static,
    {
        Route::new(Method::GET, path, handler)
    }

    /// `POST path`.
    pub fn post<F, Fut>(path: &'static str, handler: F) -> Route
    where
        F: Fn(Call) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Reply>> + Send + 'static,
    {
        Route::new(Method::POST, path, handler)
    }

    /// `PATCH path`.
    pub fn patch<F, Fut>(path: &'static str, handler: F) -> Route
    where
        F: Fn(Call) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Reply>> + Send + 'static,
    {
        Route::new(Method::PATCH, path, handler)
    }

    /// `DELETE path`.
    pub fn delete<F, Fut>(path: &'static str, handler: F) -> Route
    where
        F: Fn(Call) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Reply>> + Send + 'static,
    {
        Route::new(Method::DELETE, path, handler)
    }

    /// The `Backend` method of JS that answers the same as this route.
    pub fn js(mut self, method: &'static str) -> Route {
        self.surface = Surface::Js(method);
        self
    }

    /// Declares that the route has no JS method on purpose, and why.
    pub fn http_only(mut self, why: &'static str) -> Route {
        self.surface = Surface::HttpOnly(why);
        self
    }

    /// Makes the route public (no token). Only for the two routes the contract names.
    pub fn public(mut self) -> Route {
        self.access = Access::Public;
        self
    }

    /// Declares a request body with its JSON schema; the pipeline then reads and decodes it.
    pub fn body(mut self, schema: Value) -> Route {
        self.has_body = true;
        self.body_schema = Some(schema);
        self
    }

    /// Declares the query parameters.
    pub fn query(mut self, params: &[QueryParam]) -> Route {
        self.query = params.to_vec();
        self
    }

    /// The OpenAPI summary and tag.
    pub fn doc(mut self, tag: &'static str, summary: &'static str) -> Route {
        self.tag = tag;
        self.summary = summary;
        self
    }

    /// The JSON schema of the 200 answer.
    pub fn returns(mut self, schema: Value) -> Route {
        self.response_schema = schema;
        self
    }

    /// The media type of the 200 answer (default `application/json`; the OAuth callback page
    /// is `text/html`).
    pub fn returns_type(mut self, media_type: &'static str) -> Route {
        self.response_type = media_type;
        self
    }

    /// The names of the path parameters, in order.
    pub fn path_params(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.segments.iter().filter_map(|s| match s {
            Segment::Param(name) => Some(*name),
            Segment::Literal(_) => None,
        })
    }

    /// Whether `segments` (already split, still percent-encoded) fit this pattern.
    fn fits(&self, path: &str) -> bool {
        let mut parts = split(path);
        for seg in &self.segments {
            match (seg, parts.next()) {
                (Segment::Literal(lit), Some(part)) if *lit == part => {}
                (Segment::Param(_), Some(part)) if !part.is_empty() => {}
                _ => return false,
            }
        }
        parts.next().is_none()
    }

    fn extract(&self, path: &str) -> Vec<String> {
        self.segments
            .iter()
            .zip(split(path))
            .filter(|(seg, _)| matches!(seg, Segment::Param(_)))
            .map(|(_, part)| percent_decode(part))
            .collect()
    }
}

fn parse_pattern(path: &'static str) -> Vec<Segment> {
    split(path)
        .map(
            |part| match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(name) => Segment::Param(name),
                None => Segment::Literal(part),
            },
        )
        .collect()
}

/// The segments after the leading `/` (`/` alone has one empty segment).
fn split(path: &str) -> std::str::Split<'_, char> {
    path.strip_prefix('/').unwrap_or(path).split('/')
}

/// Decodes `%XX` escapes; invalid escapes stay as they are, invalid UTF-8 is replaced.
pub(crate) fn percent_decode(text: &str) -> String {
    if !text.contains('%') {
        return text.to_string();
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex_val(bytes[i + 1]), hex_val(bytes[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The result of looking a request up.
pub(crate) enum Lookup<'r> {
    /// The route and its decoded path parameters.
    Route(&'r Route, Vec<String>),
    /// The path exists with other methods: the `allow` header value.
    MethodNotAllowed(String),
    /// The path exists without its trailing slash: redirect there.
    Redirect(String),
    /// Nothing.
    NotFound,
}

/// The routes of one server.
pub struct Router {
    routes: Vec<Route>,
}

impl Router {
    /// A router serving exactly `routes`.
    pub fn new(routes: Vec<Route>) -> Router {
        Router { routes }
    }

    /// The routes, in declaration order.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// Finds the route of `method path` (CONTRACT.md §3.2 step 4).
    pub(crate) fn find(&self, method: &Method, path: &str) -> Lookup<'_> {
        let mut allow: Vec<&str> = Vec::new();
        for route in &self.routes {
            if route.fits(path) {
                if route.method == *method {
                    return Lookup::Route(route, route.extract(path));
                }
                allow.push(route.method.as_str());
            }
        }
        if !allow.is_empty() {
            allow.sort_unstable();
            allow.dedup();
            return Lookup::MethodNotAllowed(allow.join(", "));
        }
        if path.len() > 1 {
            if let Some(trimmed) = path.strip_suffix('/') {
                if self.routes.iter().any(|r| r.fits(trimmed)) {
                    return Lookup::Redirect(trimmed.to_string());
                }
            }
        }
        Lookup::NotFound
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn ok(_call: Call) -> Result<Reply> {
        Reply::json(&serde_json::json!({}))
    }

    fn router() -> Router {
        Router::new(vec![
            Route::get("/jobs", ok),
            Route::post("/jobs", ok),
            Route::get("/jobs/{job_id}", ok),
            Route::post("/jobs/{job_id}/cancel", ok),
        ])
    }

    #[test]
    fn finds_routes_params_405_and_redirects() {
        let r = router();
        match r.find(&Method::GET, "/jobs/job%5F1") {
            Lookup::Route(route, params) => {
                assert_eq!(route.path, "/jobs/{job_id}");
                assert_eq!(params, vec!["job_1".to_string()]);
            }
            _ => panic!("expected a route"),
        }
        match r.find(&Method::DELETE, "/jobs") {
            Lookup::MethodNotAllowed(allow) => assert_eq!(allow, "GET, POST"),
            _ => panic!("expected 405"),
        }
        match r.find(&Method::GET, "/jobs/x/cancel/") {
            Lookup::Redirect(to) => assert_eq!(to, "/jobs/x/cancel"),
            _ => panic!("expected a redirect"),
        }
        assert!(matches!(r.find(&Method::GET, "/jobs//"), Lookup::NotFound));
        assert!(matches!(r.find(&Method::GET, "/nope"), Lookup::NotFound));
        assert!(matches!(r.find(&Method::GET, "/"), Lookup::NotFound));
        assert!(matches!(
            r.find(&Method::GET, "/jobs/"),
            Lookup::Redirect(_)
        ));
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Fb"), "a/b");
        assert_eq!(percent_decode("a%zzb%"), "a%zzb%");
        assert_eq!(percent_decode("%C3%A9%2"), "é%2");
        assert_eq!(percent_decode("%ff"), "\u{fffd}");
    }
}

//! The dashboard's one secret: a random token printed in its URL. The page at `/?token=T`
//! trades it for an HttpOnly, SameSite=Strict cookie and redirects to `/`, so the token leaves
//! the address bar and history at once; every other request (assets, API, WebSockets) must
//! carry the cookie or an `Authorization: Bearer T` header, and a token in any other query is
//! ignored. Anything else gets 401.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use rand::RngCore as _;

use super::App;

/// Bytes of randomness in a token (hex-encoded: 64 characters).
const TOKEN_BYTES: usize = 32;

/// The token and the name of the cookie that carries it.
pub(crate) struct Auth {
    token: String,
    /// Cookies are per host, not per port: two dashboards on 127.0.0.1 must not overwrite
    /// (or see) each other's, so the name carries the port.
    cookie_name: String,
}

impl Auth {
    /// A fresh random token for the dashboard listening on `port`.
    pub(crate) fn new(port: u16) -> Auth {
        let mut bytes = [0u8; TOKEN_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        Auth {
            token: hex::encode(bytes),
            cookie_name: format!("ai_session_ui_{port}"),
        }
    }

    pub(crate) fn token(&self) -> &str {
        &self.token
    }

    fn is_token(&self, candidate: &str) -> bool {
        constant_time_eq(self.token.as_bytes(), candidate.as_bytes())
    }

    /// True when the request carries the token in the cookie or a bearer header.
    fn authorised(&self, headers: &HeaderMap, jar: &CookieJar) -> bool {
        let from_cookie = jar
            .get(&self.cookie_name)
            .is_some_and(|c| self.is_token(c.value()));
        let from_header = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|t| self.is_token(t.trim()));
        from_cookie || from_header
    }

    fn cookie(&self) -> Cookie<'static> {
        Cookie::build((self.cookie_name.clone(), self.token.clone()))
            .http_only(true)
            .same_site(SameSite::Strict)
            .path("/")
            .build()
    }
}

/// Compares without stopping at the first difference, so timing tells nothing of the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The `token` parameter of a query string, if any.
fn query_token(uri: &Uri) -> Option<String> {
    let Query(mut params) = Query::<HashMap<String, String>>::try_from_uri(uri).ok()?;
    params.remove("token")
}

/// Middleware in front of every route.
pub(crate) async fn require_token(
    State(app): State<Arc<App>>,
    jar: CookieJar,
    request: Request,
    next: Next,
) -> Response {
    let auth = &app.auth;
    if request.uri().path() == "/"
        && let Some(token) = query_token(request.uri())
    {
        // The login step: only here is a token in the query accepted, and it is traded for
        // the cookie right away.
        if auth.is_token(&token) {
            return (jar.add(auth.cookie()), Redirect::to("/")).into_response();
        }
        return unauthorised();
    }
    if auth.authorised(request.headers(), &jar) {
        return next.run(request).await;
    }
    unauthorised()
}

fn unauthorised() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "401: this dashboard needs its token. Open the URL that `ai-session ui` printed \
         (http://127.0.0.1:PORT/?token=...).\n",
    )
        .into_response()
}

/// A WebSocket handshake must come from the dashboard's own page: a browser sends the
/// cookie with cross-site handshakes it does not block, so the `Origin` is checked too.
pub(crate) fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        // Not a browser (the bench, curl): the token is what counts.
        return true;
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    match (origin.to_str().ok(), host) {
        (Some(origin), Some(host)) => origin.strip_prefix("http://") == Some(host),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_compared_exactly() {
        let a = Auth::new(1);
        let b = Auth::new(1);
        assert_eq!(a.token().len(), 2 * TOKEN_BYTES);
        assert_ne!(a.token(), b.token());
        assert!(a.is_token(a.token()));
        assert!(!a.is_token(b.token()));
        assert!(!a.is_token(&a.token()[1..]));
        assert!(!a.is_token(""));
    }

    #[test]
    fn the_query_token_is_found_among_other_parameters() {
        let uri = |s: &str| s.parse::<Uri>().unwrap();
        assert_eq!(query_token(&uri("/?a=1&token=abc")), Some("abc".to_owned()));
        assert_eq!(query_token(&uri("/?tok=abc")), None);
        assert_eq!(query_token(&uri("/")), None);
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_named_by_port() {
        let auth = Auth::new(4242);
        let cookie = auth.cookie().to_string();
        assert!(cookie.starts_with("ai_session_ui_4242="), "{cookie}");
        assert!(cookie.contains("HttpOnly"), "{cookie}");
        assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    }

    #[test]
    fn a_websocket_from_another_origin_is_refused() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, "127.0.0.1:5000".parse().unwrap());
        assert!(same_origin(&headers));
        headers.insert(header::ORIGIN, "http://127.0.0.1:5000".parse().unwrap());
        assert!(same_origin(&headers));
        headers.insert(header::ORIGIN, "http://evil.example".parse().unwrap());
        assert!(!same_origin(&headers));
    }
}

//! The audit view's data: the home's audit log read in this process (on a blocking thread),
//! filtered like `ai-session audit query`, and the chain's verify report.

use std::sync::Arc;

use ai_session_security::audit::{self, AuditQuery, AuditResult};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::App;

/// Records returned when the page does not say how many.
const DEFAULT_LIMIT: usize = 500;
/// Most records one request returns.
const MAX_LIMIT: usize = 5_000;

/// `GET /api/audit` query; empty strings mean "any".
#[derive(Debug, Default, Deserialize)]
pub(crate) struct AuditFilter {
    #[serde(default)]
    agent: Option<String>,
    #[serde(default)]
    session: Option<String>,
    #[serde(default)]
    result: Option<String>,
    #[serde(default)]
    min_risk: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

impl AuditFilter {
    fn query(self) -> Result<(AuditQuery, usize), String> {
        let result = match non_empty(self.result).as_deref() {
            None => None,
            Some("allowed") => Some(AuditResult::Allowed),
            Some("denied") => Some(AuditResult::Denied),
            Some("succeeded") => Some(AuditResult::Succeeded),
            Some("failed") => Some(AuditResult::Failed),
            Some("info") => Some(AuditResult::Info),
            Some(other) => {
                return Err(format!(
                    "result {other:?}: expected allowed, denied, succeeded, failed or info"
                ));
            }
        };
        let min_risk = match non_empty(self.min_risk) {
            None => None,
            Some(text) => Some(
                text.trim()
                    .parse::<u8>()
                    .ok()
                    .filter(|r| *r <= 100)
                    .ok_or_else(|| format!("min_risk {text:?}: expected 0-100"))?,
            ),
        };
        let query = AuditQuery {
            session_id: non_empty(self.session),
            agent_id: non_empty(self.agent),
            min_risk,
            result,
            ..AuditQuery::default()
        };
        Ok((
            query,
            self.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT),
        ))
    }
}

/// `GET /api/audit?agent=&session=&result=&min_risk=&limit=`: matching records, newest first.
pub(crate) async fn records(
    State(app): State<Arc<App>>,
    Query(filter): Query<AuditFilter>,
) -> Response {
    let (query, limit) = match filter.query() {
        Ok(parsed) => parsed,
        Err(message) => {
            return (StatusCode::BAD_REQUEST, Json(json!({"error": message}))).into_response();
        }
    };
    let log = app.audit_log.clone();
    let found = tokio::task::spawn_blocking(move || audit::query(&log, &query)).await;
    match found {
        Ok(Ok(mut records)) => {
            let matched = records.len();
            records.reverse();
            records.truncate(limit);
            Json(json!({"log": app.audit_log, "matched": matched, "records": records}))
                .into_response()
        }
        Ok(Err(error)) => server_error(error.to_string()),
        Err(error) => server_error(error.to_string()),
    }
}

/// `GET /api/audit/verify`: the chain's verify report.
pub(crate) async fn verify(State(app): State<Arc<App>>) -> Response {
    let log = app.audit_log.clone();
    match tokio::task::spawn_blocking(move || audit::verify(&log, None)).await {
        Ok(Ok(report)) => {
            let intact = report.is_intact();
            Json(json!({"intact": intact, "report": report})).into_response()
        }
        Ok(Err(error)) => server_error(error.to_string()),
        Err(error) => server_error(error.to_string()),
    }
}

fn server_error(message: String) -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(json!({"error": message})),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_and_empty_fields_match_anything() {
        let filter = AuditFilter {
            agent: Some("builder".into()),
            session: Some(String::new()),
            result: Some("denied".into()),
            min_risk: Some("70".into()),
            limit: Some(1_000_000),
        };
        let (query, limit) = filter.query().unwrap();
        assert_eq!(query.agent_id.as_deref(), Some("builder"));
        assert_eq!(query.session_id, None);
        assert_eq!(query.result, Some(AuditResult::Denied));
        assert_eq!(query.min_risk, Some(70));
        assert_eq!(limit, MAX_LIMIT);
        let bad = AuditFilter {
            min_risk: Some("101".into()),
            ..AuditFilter::default()
        };
        assert!(bad.query().unwrap_err().contains("0-100"));
        let bad = AuditFilter {
            result: Some("maybe".into()),
            ..AuditFilter::default()
        };
        assert!(bad.query().is_err());
    }
}

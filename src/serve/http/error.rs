//! Error responses and request-body reading of the HTTP API.

use std::time::Duration;

use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::Request;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use http_body_util::BodyExt;
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use crate::error::Error;

/// An error response: a status and the body `{"error": message}`.
#[derive(Debug)]
pub(super) struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn from_query(rejection: QueryRejection) -> ApiError {
        ApiError::bad_request(format!(
            "invalid query string: {}",
            rejection.body_text()
        ))
    }

    pub fn from_path(rejection: PathRejection) -> ApiError {
        ApiError::bad_request(format!(
            "invalid path: {}",
            rejection.body_text()
        ))
    }

    /// Maps a JSON error to a message that says whether the text was not
    /// JSON at all or did not have the expected fields.
    pub fn from_json(error: serde_json::Error) -> ApiError {
        if error.is_syntax() || error.is_eof() {
            ApiError::bad_request(format!("malformed JSON in body: {error}"))
        } else {
            ApiError::bad_request(format!("invalid request body: {error}"))
        }
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> ApiError {
        let status = match &error {
            Error::UnknownUser(_) | Error::UnknownItem(_) => {
                StatusCode::NOT_FOUND
            }
            Error::Io { .. } | Error::Model { .. } => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            _ => StatusCode::BAD_REQUEST,
        };
        let message = match &error {
            Error::UnknownUser(user) => format!(
                "unknown user {user}: the model has no ratings from this \
                 user; add cold_start=popular or cold_start=bias to the \
                 query for a list that is not personalized"
            ),
            _ => error.to_string(),
        };
        ApiError::new(status, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // The request line logs every status, and a failure of the server
        // also logs its message.
        if self.status.is_server_error() {
            tracing::error!(status = self.status.as_u16(), "{}", self.message);
        }
        let body = serde_json::json!({ "error": self.message });
        (self.status, Json(body)).into_response()
    }
}

/// Bytes read and dropped past the body limit before answering 413, so
/// that a client that sends its whole body before reading the response
/// gets the response rather than a reset connection.
const DRAIN_BYTES: usize = 16 << 20;

/// Time from the start of reading a body within which all of it must
/// arrive, so that a client sending a byte now and then cannot hold a
/// request open.
const BODY_DEADLINE: Duration = Duration::from_secs(30);

/// Time without a new chunk after which reading a body stops: a body being
/// read gets 408 Request Timeout, and a body declared too large stops
/// being drained and its connection is closed. A client that declares a
/// longer body than it sends would otherwise hold the connection open.
const DRAIN_IDLE: Duration = Duration::from_secs(5);

/// Reads the body of `request`, which may be at most `limit` bytes.
///
/// A `Content-Length` above `limit` gets 413 at once, without waiting for
/// the body. The body is then drained in the background (see
/// [`drain_body`]), unless the client sent `Expect: 100-continue` and so
/// waits for the response before sending it. A body without
/// `Content-Length` (chunked) is read until it passes `limit`.
///
/// # Errors
///
/// A longer body gives 413 Payload Too Large, naming the limit, a body
/// that stops arriving for [`DRAIN_IDLE`] or takes longer than
/// [`BODY_DEADLINE`] gives 408, and a body that cannot be read gives 400.
pub(super) async fn read_body(
    request: Request,
    limit: usize,
) -> Result<Vec<u8>, ApiError> {
    let (parts, mut body) = request.into_parts();
    let declared = declared_length(&parts.headers);
    if declared.is_some_and(|length| length > limit as u64) {
        if !expects_continue(&parts.headers) {
            tokio::spawn(drain_body(body));
        }
        return Err(body_too_large(limit));
    }
    let mut data = Vec::new();
    let mut total = 0usize;
    let deadline = tokio::time::Instant::now() + BODY_DEADLINE;
    loop {
        let wait = DRAIN_IDLE.min(deadline - tokio::time::Instant::now());
        let Ok(next) = tokio::time::timeout(wait, body.frame()).await else {
            if total > limit {
                return Err(body_too_large(limit));
            }
            tracing::debug!("request body incomplete after {total} bytes");
            return Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the request body was not complete after {}: send it \
                     whole, with no pause of {} s or more and within {} s",
                    crate::plural::count(total, "byte"),
                    DRAIN_IDLE.as_secs(),
                    BODY_DEADLINE.as_secs()
                ),
            ));
        };
        let Some(frame) = next else { break };
        let frame = frame.map_err(|e| {
            ApiError::bad_request(format!("cannot read the request body: {e}"))
        })?;
        let Ok(chunk) = frame.into_data() else {
            continue;
        };
        total = total.saturating_add(chunk.len());
        if total <= limit {
            data.extend_from_slice(&chunk);
        } else if total > limit.saturating_add(DRAIN_BYTES) {
            break;
        }
    }
    if total > limit {
        return Err(body_too_large(limit));
    }
    Ok(data)
}

fn body_too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "request body is larger than the limit of {} (set by \
             --max-body-bytes)",
            crate::plural::count(limit, "byte")
        ),
    )
}

/// Returns the `Content-Length` of a request, or `None` when the header is
/// missing or not a single number. hyper 1 rejects a request with an
/// invalid or conflicting length and drops the header of a chunked one.
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    let value = headers.get(header::CONTENT_LENGTH)?;
    value.to_str().ok()?.trim().parse().ok()
}

fn expects_continue(headers: &HeaderMap) -> bool {
    headers
        .get(header::EXPECT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.trim().eq_ignore_ascii_case("100-continue"))
}

/// Reads and drops up to [`DRAIN_BYTES`] of a body that was rejected
/// before it was read. hyper sends the response meanwhile, and once the
/// body is dropped unfinished it closes the connection.
async fn drain_body(mut body: Body) {
    let mut total = 0usize;
    while total <= DRAIN_BYTES {
        let frame = match tokio::time::timeout(DRAIN_IDLE, body.frame()).await {
            Ok(Some(Ok(frame))) => frame,
            Ok(Some(Err(error))) => {
                tracing::debug!("stopped draining a rejected body: {error}");
                return;
            }
            Ok(None) => return,
            Err(_) => {
                tracing::debug!(
                    "stopped draining a rejected body after {total} bytes: \
                     no data for {} s",
                    DRAIN_IDLE.as_secs()
                );
                return;
            }
        };
        if let Ok(chunk) = frame.into_data() {
            total = total.saturating_add(chunk.len());
        }
    }
}

/// A user or item id in a JSON body: a string, or an integer taken as its
/// decimal text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Id(pub String);

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Id, D::Error> {
        struct IdVisitor;

        impl Visitor<'_> for IdVisitor {
            type Value = Id;

            fn expecting(
                &self,
                formatter: &mut std::fmt::Formatter,
            ) -> std::fmt::Result {
                formatter.write_str("an id as a string or an integer")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<Id, E> {
                Ok(Id(value.to_string()))
            }

            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Id, E> {
                Ok(Id(value.to_string()))
            }

            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Id, E> {
                Ok(Id(value.to_string()))
            }
        }

        deserializer.deserialize_any(IdVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_from_strings_and_integers() {
        let ids: Vec<Id> = serde_json::from_str(r#"["a", 42, -3]"#).unwrap();
        let texts: Vec<&str> = ids.iter().map(|id| id.0.as_str()).collect();
        assert_eq!(texts, vec!["a", "42", "-3"]);
        let error = serde_json::from_str::<Id>("1.5").unwrap_err();
        assert!(error.to_string().contains("string or an integer"));
    }

    #[test]
    fn unknown_user_hint_names_query_parameter() {
        let error = ApiError::from(Error::UnknownUser("7".into()));
        assert!(error.message.contains("cold_start=popular"));
        assert!(!error.message.contains("--cold-start"));
    }

    #[test]
    fn errors_map_to_statuses() {
        let cases = [
            (Error::UnknownUser("7".into()), StatusCode::NOT_FOUND),
            (Error::UnknownItem("7".into()), StatusCode::NOT_FOUND),
            (Error::Invalid("x".into()), StatusCode::BAD_REQUEST),
            (
                Error::model("m.dsc", "damaged"),
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
        ];
        for (error, status) in cases {
            assert_eq!(ApiError::from(error).status, status);
        }
    }
}

//! Error bodies as ConnectWise Manage sends them, and the library's own start-up error.
//!
//! Manage answers errors with `ErrorResponseMessage {code, message, errors[]}` (API-NOTES.md §9).
//! Non-validation errors carry `"errors": null`: a real 404 reads
//! `{"code":"NotFound","message":"Ticket 4078 not found","errors":null}` (67 bytes for a four-digit
//! id, the Content-Length seen in a published trace of a ticket 404), and a failed login answers 401 with code
//! `ConnectWiseApi` and an `UserNotAuthenticated` entry (christaylorcodes/ConnectWiseManageAPI#18).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::query::QueryError;

/// The JSON content type Manage answers with (seen in real response headers).
pub const JSON: &str = "application/json; charset=utf-8";

/// One entry of `errors[]` (`ValidationError` in the models catalogue).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ValidationError {
    pub code: String,
    pub message: String,
    pub resource: String,
    pub field: String,
}

impl ValidationError {
    pub fn new(code: &str, message: impl Into<String>, resource: &str, field: &str) -> Self {
        ValidationError {
            code: code.into(),
            message: message.into(),
            resource: resource.into(),
            field: field.into(),
        }
    }

    pub fn missing(resource: &str, field: &str) -> Self {
        Self::new(
            "MissingRequiredField",
            format!("The {field} field is required."),
            resource,
            field,
        )
    }
}

/// A Manage error response.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct CwError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub errors: Option<Vec<ValidationError>>,
}

#[derive(Serialize)]
struct Body<'a> {
    code: &'a str,
    message: &'a str,
    errors: &'a Option<Vec<ValidationError>>,
}

impl CwError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        CwError {
            status,
            code: code.into(),
            message: message.into(),
            errors: None,
        }
    }

    /// A record that does not exist: "Ticket 40789 not found".
    pub fn not_found(entity: &str, id: i64) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("{entity} {id} not found"),
        )
    }

    /// A path the API does not have.
    pub fn no_route(path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("The requested resource '{path}' was not found."),
        )
    }

    pub fn method_not_allowed(method: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            format!("The requested resource does not support http method '{method}'."),
        )
    }

    /// Missing or wrong credentials, or a missing clientId.
    pub fn unauthorized(detail: &str) -> Self {
        CwError {
            status: StatusCode::UNAUTHORIZED,
            code: "ConnectWiseApi".into(),
            message: "An exception has been thrown.".into(),
            errors: Some(vec![ValidationError::new(
                "UserNotAuthenticated",
                detail,
                "ConnectWiseApi",
                "",
            )]),
        }
    }

    /// `{resource} object is invalid` with the field errors (the real 400 shape).
    pub fn invalid(resource: &str, errors: Vec<ValidationError>) -> Self {
        CwError {
            status: StatusCode::BAD_REQUEST,
            code: "InvalidObject".into(),
            message: format!("{resource} object is invalid"),
            errors: Some(errors),
        }
    }

    /// A refused query parameter (`conditions`, `orderBy`, `page`, ...).
    pub fn bad_query(param: &str, err: &QueryError) -> Self {
        let field = match err {
            QueryError::UnknownField(f) => f.clone(),
            QueryError::BadParameter { name, .. } => (*name).to_string(),
            QueryError::Syntax { .. } => param.to_string(),
        };
        let code = match err {
            QueryError::UnknownField(_) => "InvalidField",
            _ => "InvalidParameter",
        };
        CwError {
            status: StatusCode::BAD_REQUEST,
            code: "InvalidObject".into(),
            message: format!("{param} is invalid"),
            errors: Some(vec![ValidationError::new(
                code,
                err.to_string(),
                param,
                &field,
            )]),
        }
    }

    pub fn bad_body(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidObject", message)
    }

    pub fn too_many_requests() -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            "Request volume exceeds capacity limits. Retry after the number of seconds in Retry-After.",
        )
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ConnectWiseApi",
            "An error has occurred.",
        )
    }

    /// The serialized body.
    pub fn body(&self) -> String {
        let body = Body {
            code: &self.code,
            message: &self.message,
            errors: &self.errors,
        };
        serde_json::to_string(&body).unwrap_or_default()
    }
}

impl IntoResponse for CwError {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.body()).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
        response
    }
}

/// Why the sandbox could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot bind 127.0.0.1:{port}: {source}; pick another --port or 0 for any free port")]
    Bind { port: u16, source: std::io::Error },
    #[error("invalid fault rule: {0}")]
    Faults(#[from] crate::faults::SpecError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_body_is_byte_for_byte_the_real_shape() {
        let body = CwError::not_found("Ticket", 4078).body();
        assert_eq!(
            body,
            r#"{"code":"NotFound","message":"Ticket 4078 not found","errors":null}"#
        );
        // 67 bytes, the Content-Length of a real 404 for a ticket in a published trace.
        assert_eq!(body.len(), 67);
    }

    #[test]
    fn validation_body_lists_field_errors() {
        let err = CwError::invalid(
            "ticket",
            vec![ValidationError::new(
                "NotFound",
                "Service Status 17 not found for Service Board 21",
                "ticket",
                "status/id",
            )],
        );
        let body: serde_json::Value = serde_json::from_str(&err.body()).unwrap();
        assert_eq!(body["code"], "InvalidObject");
        assert_eq!(body["message"], "ticket object is invalid");
        assert_eq!(body["errors"][0]["field"], "status/id");
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
    }
}

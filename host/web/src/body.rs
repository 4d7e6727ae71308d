//! Request bodies: read frame by frame under a size limit and a pause limit, and JSON
//! parsed with the position of a syntax error named.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header::CONTENT_LENGTH;
use axum::http::HeaderMap;
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;

use crate::problem::{Kind, Problem};

/// `PROVISOR_API_BODY_TIMEOUT_SECS`: the longest pause between two chunks of a body.
pub const BODY_TIMEOUT_VAR: &str = "PROVISOR_API_BODY_TIMEOUT_SECS";

fn too_large(limit: usize) -> Problem {
    Problem::new(
        Kind::PayloadTooLarge,
        format!(
            "the request body is over the limit of {limit} bytes; nothing was done: split the batch into smaller requests"
        ),
    )
}

/// Reads a body, refusing it as soon as it is known to be over `limit` (413) or when it
/// pauses longer than `pause` (408).
pub async fn read(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    pause: Duration,
) -> Result<Bytes, Problem> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large(limit));
    }
    let mut body = body;
    // Grown as data arrives: a declared length alone reserves at most 1 MiB.
    let mut buf = Vec::with_capacity(declared.unwrap_or(0).min(1 << 20) as usize);
    loop {
        let Ok(next) = tokio::time::timeout(pause, body.frame()).await else {
            return Err(Problem::new(
                Kind::RequestTimeout,
                format!(
                    "the request body stopped arriving for {} s ({BODY_TIMEOUT_VAR}); nothing was done: send it again in one go",
                    pause.as_secs()
                ),
            ));
        };
        let Some(frame) = next else { break };
        let frame = frame.map_err(|e| {
            Problem::new(
                Kind::Invalid,
                format!(
                    "the request body could not be read ({e}); nothing was done: send it again"
                ),
            )
        })?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > limit {
                return Err(too_large(limit));
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(buf))
}

/// A JSON body as `T`: a syntax error names its line and column, a wrong value the
/// field serde names.
pub fn json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    serde_json::from_slice(bytes).map_err(|e| {
        let what = match e.classify() {
            serde_json::error::Category::Data => "does not fit the request",
            _ => "is not valid JSON",
        };
        Problem::new(
            Kind::Invalid,
            format!(
                "the request body {what} at line {} column {}: {e}; nothing was done: fix the body and send it again",
                e.line(),
                e.column()
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_json_is_refused_naming_its_position() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code, reason = "only parsed")]
        struct T {
            a: u32,
        }
        let p = json::<T>(b"{\"a\": 1,\n \"b\"").unwrap_err();
        assert_eq!(p.status, 400);
        assert!(p.detail.contains("line 2 column"), "{}", p.detail);
        let p = json::<T>(b"{\"a\": \"x\"}").unwrap_err();
        assert!(p.detail.contains("does not fit"), "{}", p.detail);
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_413() {
        let p = read(
            &HeaderMap::new(),
            Body::from(vec![0u8; 11]),
            10,
            Duration::from_secs(1),
        )
        .await
        .unwrap_err();
        assert_eq!(p.status, 413);
        let ok = read(
            &HeaderMap::new(),
            Body::from(vec![0u8; 10]),
            10,
            Duration::from_secs(1),
        )
        .await
        .unwrap();
        assert_eq!(ok.len(), 10);
    }
}

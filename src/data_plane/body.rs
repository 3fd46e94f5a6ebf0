//! Reading request bodies with a size limit, so an oversized body is a clean 413 in the
//! caller's format rather than a dropped connection.

use actix_web::web;
use bytes::BytesMut;
use futures_util::StreamExt;

use crate::providers::{ErrorKind, ProviderError};

/// Reads the whole body, refusing more than `limit` bytes.
pub async fn read_limited(
    mut payload: web::Payload,
    limit: usize,
) -> Result<bytes::Bytes, ProviderError> {
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ProviderError::new(
                ErrorKind::InvalidRequest,
                format!("could not read the request body: {e}"),
            )
        })?;
        if body.len() + chunk.len() > limit {
            return Err(ProviderError::new(
                ErrorKind::RequestTooLarge,
                format!("Request body too large: the limit is {limit} bytes."),
            )
            .with_code("request_too_large"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

//! Timestamps as stored: milliseconds since the Unix epoch, UTC.

/// Milliseconds since the Unix epoch.
pub type EpochMillis = i64;

/// The current time in epoch milliseconds.
pub fn now_millis() -> EpochMillis {
    chrono::Utc::now().timestamp_millis()
}

/// Formats epoch milliseconds as RFC 3339 (UTC, second precision) for output.
pub fn to_rfc3339(millis: EpochMillis) -> String {
    chrono::DateTime::from_timestamp_millis(millis)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| millis.to_string())
}

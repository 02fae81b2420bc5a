//! Query-string helpers every list shares: keyset paging with `after` and `limit`, answered as
//! `{"items": [...], "next": ...}` where `next` is the `after` of the following page, or null.

use crate::error::ApiError;

/// Items per page when `limit` is not given.
pub const DEFAULT_LIMIT: i64 = 100;
/// The largest `limit` accepted.
pub const MAX_LIMIT: i64 = 1000;

/// The page size asked for, checked.
pub fn limit(asked: Option<i64>) -> Result<i64, ApiError> {
    match asked {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(n) => Err(invalid_query(format!(
            "`limit` must be between 1 and {MAX_LIMIT}, not {n}"
        ))),
    }
}

/// A whole-number query parameter.
pub fn number(name: &str, value: Option<String>) -> Result<Option<i64>, ApiError> {
    value
        .map(|v| {
            v.parse::<i64>()
                .map_err(|_| invalid_query(format!("`{name}` must be a whole number, not `{v}`")))
        })
        .transpose()
}

/// A 400 problem about the query string.
pub fn invalid_query(message: String) -> ApiError {
    ApiError::bad_request("INVALID_QUERY", message)
}

/// The `next` cursor of a page: the key of its last item when the page is full.
pub fn next_after<T>(items: &[T], limit: i64, key: impl Fn(&T) -> String) -> Option<String> {
    (items.len() as i64 == limit)
        .then(|| items.last().map(key))
        .flatten()
}

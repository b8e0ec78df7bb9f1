//! Query-string helpers of the list endpoints.

use boothhub_actors::store::PageRequest;
use serde::Deserialize;

use crate::error::ApiError;

/// `limit` and `cursor` of every list endpoint.
#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

impl PageQuery {
    pub fn request(self) -> Result<PageRequest, ApiError> {
        let limit = match self.limit {
            None => 50,
            Some(raw) => raw
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=200).contains(n))
                .ok_or_else(|| {
                    ApiError::invalid_query("limit must be a whole number from 1 to 200")
                })?,
        };
        let cursor = self.cursor.filter(|c| !c.is_empty());
        Ok(PageRequest { limit, cursor })
    }
}

/// An optional time in a query string (`from`, `to`): absent or empty is `None`, anything but
/// an RFC 3339 time with offset is a 400.
pub fn query_time(
    raw: Option<&str>,
    name: &str,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, ApiError> {
    match raw {
        None | Some("") => Ok(None),
        Some(raw) => crate::wire::parse_time(raw).map(Some).ok_or_else(|| {
            ApiError::invalid_query(format!("{name} must be an RFC 3339 time with offset"))
        }),
    }
}

/// An optional id in a query string: absent or empty is `None`, anything but an id is a 400.
pub fn query_id<T: std::str::FromStr>(
    raw: Option<&str>,
    name: &str,
) -> Result<Option<T>, ApiError> {
    match raw {
        None | Some("") => Ok(None),
        Some(raw) => raw
            .parse()
            .map(Some)
            .map_err(|_| ApiError::invalid_query(format!("{name} must be an id"))),
    }
}

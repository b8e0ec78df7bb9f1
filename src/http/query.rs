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

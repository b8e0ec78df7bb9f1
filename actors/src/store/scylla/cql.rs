//! A thin layer over the `scylla` driver: one session, statements prepared once and cached,
//! the keyspace substituted for `{ks}`, consistency set in one place, values as `CqlValue`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use dashmap::DashMap;
use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;
use scylla::statement::{Consistency, SerialConsistency};
use scylla::value::{CqlTimestamp, CqlValue, Row};

use crate::store::StoreError;

/// How long one request may take before it fails (the hub answers 503 then).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Cql {
    session: Session,
    keyspace: String,
    prepared: DashMap<&'static str, PreparedStatement>,
}

impl std::fmt::Debug for Cql {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cql")
            .field("keyspace", &self.keyspace)
            .finish()
    }
}

fn unavailable(err: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(err.to_string())
}

pub fn text(value: impl Into<String>) -> CqlValue {
    CqlValue::Text(value.into())
}

pub fn bigint(value: i64) -> CqlValue {
    CqlValue::BigInt(value)
}

pub fn int(value: i32) -> CqlValue {
    CqlValue::Int(value)
}

pub fn ts(at: DateTime<Utc>) -> CqlValue {
    CqlValue::Timestamp(CqlTimestamp(at.timestamp_millis()))
}

pub fn blob(value: Vec<u8>) -> CqlValue {
    CqlValue::Blob(value)
}

pub fn col_text(row: &Row, index: usize) -> Option<String> {
    match row.columns.get(index)? {
        Some(CqlValue::Text(s) | CqlValue::Ascii(s)) => Some(s.clone()),
        _ => None,
    }
}

pub fn col_bigint(row: &Row, index: usize) -> Option<i64> {
    match row.columns.get(index)? {
        Some(CqlValue::BigInt(n)) => Some(*n),
        _ => None,
    }
}

pub fn col_ts(row: &Row, index: usize) -> Option<DateTime<Utc>> {
    match row.columns.get(index)? {
        Some(CqlValue::Timestamp(CqlTimestamp(ms))) => DateTime::from_timestamp_millis(*ms),
        _ => None,
    }
}

pub fn col_blob(row: &Row, index: usize) -> Option<Vec<u8>> {
    match row.columns.get(index)? {
        Some(CqlValue::Blob(b)) => Some(b.clone()),
        _ => None,
    }
}

impl Cql {
    pub async fn connect(nodes: &[String], keyspace: &str) -> Result<Cql, StoreError> {
        let profile = ExecutionProfile::builder()
            .consistency(Consistency::Quorum)
            .serial_consistency(Some(SerialConsistency::Serial))
            .request_timeout(Some(REQUEST_TIMEOUT))
            .build();
        let session = SessionBuilder::new()
            .known_nodes(nodes)
            .connection_timeout(Duration::from_secs(5))
            .default_execution_profile_handle(profile.into_handle())
            .build()
            .await
            .map_err(|e| {
                StoreError::Unavailable(format!("cannot reach the CQL nodes {nodes:?}: {e}"))
            })?;
        Ok(Cql {
            session,
            keyspace: keyspace.to_owned(),
            prepared: DashMap::new(),
        })
    }

    pub fn keyspace(&self) -> &str {
        &self.keyspace
    }

    /// Runs schema DDL (waits for schema agreement).
    pub async fn ddl(&self, statement: &str) -> Result<(), StoreError> {
        self.session
            .query_unpaged(statement.to_owned(), ())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn statement(&self, cql: &'static str) -> Result<PreparedStatement, StoreError> {
        if let Some(prepared) = self.prepared.get(cql) {
            return Ok(prepared.clone());
        }
        let text = cql.replace("{ks}", &self.keyspace);
        let mut prepared = self.session.prepare(text).await.map_err(unavailable)?;
        // Reads may be retried by the driver on another node or after a timeout.
        prepared.set_is_idempotent(cql.starts_with("SELECT"));
        self.prepared.insert(cql, prepared.clone());
        Ok(prepared)
    }

    pub async fn exec(&self, cql: &'static str, values: Vec<CqlValue>) -> Result<(), StoreError> {
        let statement = self.statement(cql).await?;
        self.session
            .execute_unpaged(&statement, values)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// Every row (the driver pages through the result).
    pub async fn rows(
        &self,
        cql: &'static str,
        values: Vec<CqlValue>,
    ) -> Result<Vec<Row>, StoreError> {
        let statement = self.statement(cql).await?;
        self.fetch(&statement, values).await
    }

    /// Rows read at SERIAL consistency: they see every applied lightweight transaction.
    pub async fn serial_rows(
        &self,
        cql: &'static str,
        values: Vec<CqlValue>,
    ) -> Result<Vec<Row>, StoreError> {
        let mut statement = self.statement(cql).await?;
        statement.set_consistency(Consistency::Serial);
        self.fetch(&statement, values).await
    }

    async fn fetch(
        &self,
        statement: &PreparedStatement,
        values: Vec<CqlValue>,
    ) -> Result<Vec<Row>, StoreError> {
        let mut rows = vec![];
        let mut paging = scylla::response::PagingState::start();
        loop {
            let (result, next) = self
                .session
                .execute_single_page(statement, values.clone(), paging)
                .await
                .map_err(unavailable)?;
            let result = result.into_rows_result().map_err(unavailable)?;
            for row in result.rows::<Row>().map_err(unavailable)? {
                rows.push(row.map_err(unavailable)?);
            }
            match next {
                scylla::response::PagingStateResponse::HasMorePages { state } => paging = state,
                scylla::response::PagingStateResponse::NoMorePages => return Ok(rows),
            }
        }
    }

    /// A lightweight transaction; says whether it was applied (`[applied]`, column 0, in
    /// Cassandra's and Scylla's answers alike).
    pub async fn lwt(&self, cql: &'static str, values: Vec<CqlValue>) -> Result<bool, StoreError> {
        let statement = self.statement(cql).await?;
        let result = self
            .session
            .execute_unpaged(&statement, values)
            .await
            .map_err(unavailable)?;
        let rows = result.into_rows_result().map_err(unavailable)?;
        let first = rows.maybe_first_row::<Row>().map_err(unavailable)?;
        Ok(matches!(
            first.and_then(|r| r.columns.into_iter().next()).flatten(),
            Some(CqlValue::Boolean(true))
        ))
    }

    /// A logged batch: every statement applies, or none (Cassandra's batch log).
    pub async fn logged_batch(
        &self,
        statements: Vec<(&'static str, Vec<CqlValue>)>,
    ) -> Result<(), StoreError> {
        self.batch(statements, None).await.map(|_| ())
    }

    /// A logged batch whose writes carry `micros` as their timestamp, so that between two
    /// writes of one row the later timestamp wins, whenever each arrives.
    pub async fn logged_batch_at(
        &self,
        statements: Vec<(&'static str, Vec<CqlValue>)>,
        micros: i64,
    ) -> Result<(), StoreError> {
        self.batch(statements, Some(micros)).await.map(|_| ())
    }

    /// A batch of statements on one partition with a condition (a lightweight transaction);
    /// says whether it was applied.
    pub async fn conditional_batch(
        &self,
        statements: Vec<(&'static str, Vec<CqlValue>)>,
    ) -> Result<bool, StoreError> {
        let result = self.batch(statements, None).await?;
        let rows = result.into_rows_result().map_err(unavailable)?;
        let first = rows.maybe_first_row::<Row>().map_err(unavailable)?;
        Ok(matches!(
            first.and_then(|r| r.columns.into_iter().next()).flatten(),
            Some(CqlValue::Boolean(true))
        ))
    }

    async fn batch(
        &self,
        statements: Vec<(&'static str, Vec<CqlValue>)>,
        micros: Option<i64>,
    ) -> Result<scylla::response::query_result::QueryResult, StoreError> {
        let mut batch = Batch::new(BatchType::Logged);
        batch.set_timestamp(micros);
        let mut values = Vec::with_capacity(statements.len());
        for (cql, bound) in statements {
            batch.append_statement(self.statement(cql).await?);
            values.push(bound);
        }
        self.session
            .batch(&batch, values)
            .await
            .map_err(unavailable)
    }
}

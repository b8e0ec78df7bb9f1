//! The system config of contract §4: session duration and arrival tolerance, with their bounds.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::ids::UserId;
use super::validate::FieldErrors;

pub const DURATION_RANGE: std::ops::RangeInclusive<i64> = 1..=240;
pub const TOLERANCE_RANGE: std::ops::RangeInclusive<i64> = 0..=120;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemConfig {
    pub session_duration_minutes: i64,
    pub arrival_tolerance_minutes: i64,
    pub updated_at: Option<DateTime<Utc>>,
    pub updated_by: Option<UserId>,
}

impl Default for SystemConfig {
    fn default() -> Self {
        SystemConfig {
            session_duration_minutes: 15,
            arrival_tolerance_minutes: 15,
            updated_at: None,
            updated_by: None,
        }
    }
}

impl SystemConfig {
    pub fn session_duration(&self) -> Duration {
        Duration::minutes(self.session_duration_minutes)
    }

    pub fn arrival_tolerance(&self) -> Duration {
        Duration::minutes(self.arrival_tolerance_minutes)
    }

    /// Checks the bounds of contract §4; each value out of range is a field error.
    pub fn validate(duration: i64, tolerance: i64) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::default();
        if !DURATION_RANGE.contains(&duration) {
            errors.add("session_duration_minutes", "must be between 1 and 240");
        }
        if !TOLERANCE_RANGE.contains(&tolerance) {
            errors.add("arrival_tolerance_minutes", "must be between 0 and 120");
        }
        errors.into_result()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_inclusive() {
        let cases = [
            (1, 0, true),
            (240, 120, true),
            (15, 15, true),
            (0, 15, false),
            (241, 15, false),
            (15, -1, false),
            (15, 121, false),
        ];
        for (duration, tolerance, ok) in cases {
            assert_eq!(
                SystemConfig::validate(duration, tolerance).is_ok(),
                ok,
                "{duration} {tolerance}"
            );
        }
    }
}

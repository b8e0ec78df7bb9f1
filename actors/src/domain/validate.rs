//! Field errors for 422 answers: which field, and what is wrong with it.

use std::collections::BTreeMap;

/// Field name → message, in a stable order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldErrors(pub BTreeMap<String, String>);

impl FieldErrors {
    pub fn add(&mut self, field: &str, message: &str) {
        self.0
            .entry(field.to_owned())
            .or_insert_with(|| message.to_owned());
    }

    pub fn single(field: &str, message: &str) -> Self {
        let mut errors = FieldErrors::default();
        errors.add(field, message);
        errors
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_result(self) -> Result<(), FieldErrors> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }
}

/// A plausible e-mail address: one `@`, a non-empty local part, a dotted domain, no spaces.
pub fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && s.len() <= 254
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// 6–20 characters of digits, spaces, `+` and `-`, with at least one digit.
pub fn is_phone(s: &str) -> bool {
    let len = s.chars().count();
    (6..=20).contains(&len)
        && s.chars()
            .all(|c| c.is_ascii_digit() || c == ' ' || c == '+' || c == '-')
        && s.chars().any(|c| c.is_ascii_digit())
}

/// A non-blank string of at most `max` characters.
pub fn is_text(s: &str, max: usize) -> bool {
    !s.trim().is_empty() && s.chars().count() <= max
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        for ok in ["a@b.co", "ops.team+x@booth.id"] {
            assert!(is_email(ok), "{ok}");
        }
        for bad in [
            "", "a", "@b.co", "a@b", "a@.co", "a@b.", "a b@c.de", "a@b@c.de",
        ] {
            assert!(!is_email(bad), "{bad}");
        }
    }

    #[test]
    fn phones() {
        for ok in ["081234", "+62 812-3456-7890", "12345678901234567890"] {
            assert!(is_phone(ok), "{ok}");
        }
        for bad in [
            "12345",
            "123456789012345678901",
            "0812abc",
            "------",
            "+62(812)345",
        ] {
            assert!(!is_phone(bad), "{bad}");
        }
    }
}

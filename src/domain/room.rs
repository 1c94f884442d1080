//! Rooms: titles, kinds, statuses.

use super::DomainError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomKind {
    Normal,
    Pk,
}

impl RoomKind {
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        match s {
            "normal" => Ok(Self::Normal),
            "pk" => Ok(Self::Pk),
            _ => Err(DomainError::field("kind", "kind must be normal or pk")),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::Pk => "pk",
        }
    }
}

pub const LIVE: &str = "live";
pub const CLOSED: &str = "closed";

/// 1..=60 characters after trimming.
pub fn parse_title(s: &str) -> Result<String, DomainError> {
    let t = s.trim();
    let n = t.chars().count();
    if n == 0 || n > 60 || t.chars().any(char::is_control) {
        return Err(DomainError::field("title", "title must be 1 to 60 characters"));
    }
    Ok(t.to_owned())
}

pub fn parse_mute_seconds(s: i64) -> Result<i64, DomainError> {
    if (10..=86_400).contains(&s) {
        Ok(s)
    } else {
        Err(DomainError::field("seconds", "seconds must be 10 to 86400"))
    }
}

pub fn parse_slow_mode(s: i64) -> Result<i64, DomainError> {
    if (0..=300).contains(&s) {
        Ok(s)
    } else {
        Err(DomainError::field("seconds", "seconds must be 0 to 300"))
    }
}

pub fn parse_like_count(c: Option<i64>) -> Result<i64, DomainError> {
    let c = c.unwrap_or(1);
    if (1..=50).contains(&c) {
        Ok(c)
    } else {
        Err(DomainError::field("count", "count must be 1 to 50"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    #[test]
    fn rules() {
        assert!(parse_title(" x ").is_ok());
        assert!(parse_title(&"x".repeat(61)).is_err());
        assert!(RoomKind::parse("PK").is_err());
        assert!(parse_mute_seconds(9).is_err() && parse_mute_seconds(10).is_ok());
        assert!(parse_slow_mode(301).is_err() && parse_slow_mode(0).is_ok());
        assert!(parse_like_count(Some(51)).is_err() && parse_like_count(None) == Ok(1));
    }
}

//! Users: phone numbers, nicknames, avatars and roles.

use super::DomainError;

/// A mainland mobile number: 11 digits starting with 1.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Phone(String);

impl Phone {
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let ok = s.len() == 11 && s.starts_with('1') && s.bytes().all(|b| b.is_ascii_digit());
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(DomainError::field("phone", "phone must be 11 digits starting with 1"))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// `138****0000`: the form shown to anyone, the owner included.
    pub fn masked(&self) -> String {
        mask_phone(&self.0)
    }
}

pub fn mask_phone(p: &str) -> String {
    if p.len() == 11 && p.is_ascii() {
        format!("{}****{}", &p[..3], &p[7..])
    } else {
        "***".into()
    }
}

/// A login code: 4 to 8 digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginCode(String);

impl LoginCode {
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        if (4..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(s.to_owned()))
        } else {
            Err(DomainError::field("code", "code must be 4 to 8 digits"))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// 1..=20 characters after trimming, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nickname(String);

impl Nickname {
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let t = s.trim();
        let n = t.chars().count();
        if n == 0 || n > 20 {
            return Err(DomainError::field("nickname", "nickname must be 1 to 20 characters"));
        }
        if t.chars().any(char::is_control) {
            return Err(DomainError::field("nickname", "nickname must not contain control characters"));
        }
        Ok(Self(t.to_owned()))
    }
    pub fn into_inner(self) -> String {
        self.0
    }
}

/// An https URL of at most 300 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvatarUrl(String);

impl AvatarUrl {
    /// An https URL of at most 300 characters, or empty: no picture (clients draw an initial).
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        if s.is_empty() {
            return Ok(Self(String::new()));
        }
        let ok = s.len() <= 300
            && s.starts_with("https://")
            && s.len() > "https://".len()
            && !s.chars().any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '<' || c == '>');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(DomainError::field(
                "avatar",
                "avatar must be an https URL of at most 300 characters, or empty for none",
            ))
        }
    }
    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A generated nickname for a first login, e.g. `viewer_0042`.
pub fn default_nickname(phone: &Phone) -> String {
    format!("user_{}", &phone.as_str()[7..])
}

/// A user as frames and lists show them: `{"id","nickname"}`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema, PartialEq, Eq)]
pub struct UserRef {
    pub id: i64,
    pub nickname: String,
}

/// A room's anchor as rooms show them: `{"id","nickname","avatar"}`.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema, PartialEq)]
pub struct AnchorRef {
    pub id: i64,
    pub nickname: String,
    pub avatar: String,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn phones_are_eleven_digits_starting_with_one() {
        assert!(Phone::parse("13800000000").is_ok());
        for bad in ["", "1380000000", "138000000000", "23800000000", "1380000000a", "１3800000000"] {
            assert!(Phone::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Phone::parse("13812345678").unwrap().masked(), "138****5678");
    }

    #[test]
    fn nicknames_are_trimmed_and_bounded() {
        assert_eq!(Nickname::parse("  ann ").unwrap().into_inner(), "ann");
        assert!(Nickname::parse("   ").is_err());
        assert!(Nickname::parse(&"好".repeat(20)).is_ok());
        assert!(Nickname::parse(&"好".repeat(21)).is_err());
        assert!(Nickname::parse("a\u{0}b").is_err());
    }

    #[test]
    fn avatars_are_https() {
        assert!(AvatarUrl::parse("https://x.test/a.png").is_ok());
        assert!(AvatarUrl::parse("http://x.test/a.png").is_err());
        assert!(AvatarUrl::parse(&format!("https://{}", "a".repeat(300))).is_err());
        assert!(AvatarUrl::parse("https://").is_err());
        assert_eq!(AvatarUrl::parse("").unwrap().into_inner(), "", "empty: no picture");
    }
}

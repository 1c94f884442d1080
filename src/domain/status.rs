//! Stored statuses as types. Each is text in its table (and in the contract's JSON) and one of
//! these enums everywhere else; `status_enum!` declares one with its names and parsing.

/// A status kept as text: its names, and the way back from them.
pub trait Status: Copy + Eq + std::fmt::Debug + Send + Sync + 'static {
    /// Every value, in the contract's order (the order an error lists them in).
    const ALL: &'static [Self];
    /// What has this status, as messages name it (`order`, `product`, ...).
    const WHAT: &'static str;

    fn as_str(self) -> &'static str;

    fn parse(s: &str) -> Result<Self, UnknownStatus> {
        Self::ALL
            .iter()
            .copied()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| UnknownStatus { what: Self::WHAT, value: s.to_owned() })
    }

    /// `a, b, c`: the names, for messages.
    fn names() -> String {
        Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
    }
}

/// A text that names none of a status's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} status {value:?}")]
pub struct UnknownStatus {
    pub what: &'static str,
    pub value: String,
}

/// Declares a status enum: `status_enum! { /// doc  pub enum OrderStatus("order") { Pending =
/// "pending", ... } }`. The enum gets `as_str`, `parse` and `Display` of its own, and
/// implements [`Status`].
macro_rules! status_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident($what:literal) {
            $($(#[$vmeta:meta])* $variant:ident = $text:literal,)*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)*
                }
            }

            pub fn parse(s: &str) -> Result<Self, $crate::domain::status::UnknownStatus> {
                <Self as $crate::domain::status::Status>::parse(s)
            }
        }

        impl $crate::domain::status::Status for $name {
            const ALL: &'static [Self] = &[$(Self::$variant,)*];
            const WHAT: &'static str = $what;

            fn as_str(self) -> &'static str {
                $name::as_str(self)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use status_enum;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    status_enum! {
        enum Light("light") {
            Red = "red",
            Green = "green",
        }
    }

    #[test]
    fn names_round_trip() {
        for l in Light::ALL {
            assert_eq!(Light::parse(l.as_str()).unwrap(), *l);
            assert_eq!(l.to_string(), l.as_str());
        }
        assert_eq!(Light::parse("blue").unwrap_err().to_string(), r#"unknown light status "blue""#);
        assert_eq!(Light::names(), "red, green");
    }
}

//! Chat text: trimmed, 1..=200 characters, passed through the word filter.

use super::DomainError;

pub const MAX_CHAT_CHARS: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatText(String);

impl ChatText {
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let t = s.trim();
        let n = t.chars().count();
        if n == 0 || n > MAX_CHAT_CHARS {
            return Err(DomainError::field("text", "chat text must be 1 to 200 characters"));
        }
        Ok(Self(t.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn into_inner(self) -> String {
        self.0
    }
}

/// Replaces configured words with `*` (one per character), case-insensitively.
#[derive(Debug, Clone, Default)]
pub struct WordFilter {
    /// Lower-cased words, longest first so a longer match wins over its prefix.
    words: Vec<Vec<char>>,
}

impl WordFilter {
    pub fn new<I: IntoIterator<Item = S>, S: AsRef<str>>(words: I) -> Self {
        let mut words: Vec<Vec<char>> = words
            .into_iter()
            .map(|w| w.as_ref().trim().to_lowercase().chars().collect::<Vec<_>>())
            .filter(|w| !w.is_empty())
            .collect();
        words.sort_by_key(|w| std::cmp::Reverse(w.len()));
        Self { words }
    }

    pub fn apply(&self, text: &str) -> String {
        if self.words.is_empty() {
            return text.to_owned();
        }
        let chars: Vec<char> = text.chars().collect();
        // Lower-case char by char so indices stay aligned with the original.
        let lower: Vec<char> = chars.iter().map(|c| c.to_lowercase().next().unwrap_or(*c)).collect();
        let mut out = String::with_capacity(text.len());
        let mut i = 0;
        while i < chars.len() {
            let hit = self.words.iter().find(|w| lower.len() - i >= w.len() && lower[i..i + w.len()] == w[..]);
            match hit {
                Some(w) => {
                    out.extend(std::iter::repeat_n('*', w.len()));
                    i += w.len();
                }
                None => {
                    out.push(chars[i]);
                    i += 1;
                }
            }
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn chat_is_trimmed_and_bounded() {
        assert_eq!(ChatText::parse("  hi ").unwrap().as_str(), "hi");
        assert!(ChatText::parse(" \n ").is_err());
        assert!(ChatText::parse(&"字".repeat(200)).is_ok());
        assert!(ChatText::parse(&"字".repeat(201)).is_err());
    }

    #[test]
    fn filter_masks_case_insensitively() {
        let f = WordFilter::new(["bad", "badword", "坏"]);
        assert_eq!(f.apply("a BAD thing"), "a *** thing");
        assert_eq!(f.apply("BadWord!"), "*******!");
        assert_eq!(f.apply("好坏"), "好*");
        assert_eq!(f.apply("fine"), "fine");
    }
}

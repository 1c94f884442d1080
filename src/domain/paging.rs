//! Page parameters of every list: `page` from 1, `page_size` 1..=100.

use super::DomainError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub page: u64,
    pub page_size: u64,
}

impl Page {
    pub fn parse(page: Option<i64>, page_size: Option<i64>) -> Result<Self, DomainError> {
        let page = page.unwrap_or(1);
        let page_size = page_size.unwrap_or(20);
        if !(1..=1_000_000).contains(&page) {
            return Err(DomainError::field("page", "page must be at least 1"));
        }
        if !(1..=100).contains(&page_size) {
            return Err(DomainError::field("page_size", "page_size must be 1 to 100"));
        }
        Ok(Self { page: page as u64, page_size: page_size as u64 })
    }
    pub fn offset(&self) -> u64 {
        (self.page - 1) * self.page_size
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    #[test]
    fn defaults_and_bounds() {
        assert_eq!(Page::parse(None, None).unwrap(), Page { page: 1, page_size: 20 });
        assert!(Page::parse(Some(0), None).is_err());
        assert!(Page::parse(None, Some(101)).is_err());
        assert!(Page::parse(None, Some(0)).is_err());
        assert_eq!(Page::parse(Some(3), Some(10)).unwrap().offset(), 20);
    }
}

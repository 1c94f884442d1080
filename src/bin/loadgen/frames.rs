//! Frames: the server's encoder writes `{"type":"chat","seq":N,"data":{..."text":"t=..."}}` and
//! `{"type":"gift","seq":N,"data":{"at":"<RFC 3339>",...}}`, so a scan is enough (a full JSON
//! parse per frame would cost the generator a core at 500k frames/s).

const CHAT_PREFIX: &str = r#"{"type":"chat","seq":"#;
const GIFT_PREFIX: &str = r#"{"type":"gift","seq":"#;

fn digits(s: &str) -> Option<u64> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    s[..end].parse().ok()
}

/// (seq, send time in unix micros) of a chat frame from this generator.
pub(crate) fn parse_chat(t: &str) -> Option<(u64, Option<u64>)> {
    let rest = t.strip_prefix(CHAT_PREFIX)?;
    let seq = digits(rest)?;
    let sent = rest.find(r#""text":"t="#).and_then(|i| digits(&rest[i + 10..]));
    Some((seq, sent))
}

/// (seq, commit time in unix micros) of a gift frame.
pub(crate) fn parse_gift(t: &str) -> Option<(u64, Option<u64>)> {
    let rest = t.strip_prefix(GIFT_PREFIX)?;
    let seq = digits(rest)?;
    let at = rest.find(r#""at":""#).and_then(|i| {
        let s = &rest[i + 6..];
        let end = s.find('"')?;
        let ts = chrono::DateTime::parse_from_rfc3339(&s[..end]).ok()?;
        u64::try_from(ts.timestamp_micros()).ok()
    });
    Some((seq, at))
}

pub(crate) const PING: &str = r#"{"type":"ping"}"#;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn chat_frames_are_scanned() {
        let f = r#"{"type":"chat","seq":42,"data":{"at":"x","from":{"id":1,"nickname":"n"},"text":"t=1234 s=0 n=1"}}"#;
        assert_eq!(parse_chat(f), Some((42, Some(1234))));
        assert_eq!(parse_chat(r#"{"type":"online","data":{"count":3}}"#), None);
    }

    #[test]
    fn gift_frames_are_scanned() {
        let f = r#"{"type":"gift","seq":7,"data":{"at":"1970-01-01T00:00:01.500Z","count":1}}"#;
        assert_eq!(parse_gift(f), Some((7, Some(1_500_000))));
        assert_eq!(parse_gift(r#"{"type":"chat","seq":1,"data":{}}"#), None);
    }
}

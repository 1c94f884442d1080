//! Frames: the server's encoder writes `{"type":"chat","seq":N,"data":{..."text":"t=..."}}`, so a
//! scan is enough (a full JSON parse per frame would cost the generator a core at 500k frames/s).

const CHAT_PREFIX: &str = r#"{"type":"chat","seq":"#;

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
}

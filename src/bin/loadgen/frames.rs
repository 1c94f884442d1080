//! Frames: the server's encoder writes `{"type":"chat","seq":N,"data":{..."text":"t=..."}}` and
//! `{"type":"gift","seq":N,"data":{"at":"<RFC 3339>",...}}` (and a busy room's
//! `{"type":"gifts","seq":N,"data":{"gifts":[{"at":...},...]}}`), so a scan is enough (a full JSON
//! parse per frame would cost the generator a core at 500k frames/s).

const CHAT_PREFIX: &str = r#"{"type":"chat","seq":"#;
const GIFT_PREFIX: &str = r#"{"type":"gift","seq":"#;
const GIFTS_PREFIX: &str = r#"{"type":"gifts","seq":"#;

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

/// Unix micros of an RFC 3339 UTC time as the server writes it (`2026-11-30T22:06:39.123Z`),
/// at the start of `s`; a hand parser, since chrono's costs the generator at a million frames a
/// second.
fn utc_micros(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let d = b.get(r)?;
        d.iter().try_fold(0i64, |n, c| c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0')))
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut micros = 0i64;
    if b.get(19) == Some(&b'.') {
        let mut scale = 100_000;
        for c in b[20..].iter().take_while(|c| c.is_ascii_digit()) {
            micros += i64::from(c - b'0') * scale;
            scale /= 10;
        }
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(((days * 86_400 + hh * 3600 + mm * 60 + ss) * 1_000_000) + micros).ok()
}

/// One gift's data (from its `"at":` on): how many paid gifts it stands for (`sends`: a combo
/// merges several), and when the first of them committed (`first_at`, else `at`), in unix
/// micros. Keys come sorted (`at`, `count`, `first_at`, `from`, ..., `sends`, `to`), so each is
/// looked for only where it can be: no scan of the whole gift.
fn gift(data: &str) -> (u64, Option<u64>) {
    let at = data.strip_prefix(r#""at":""#).and_then(utc_micros);
    // `"at":"<24 chars>","count":N,` then maybe `"first_at":"`.
    let after_count = data.find(r#""count":"#).map(|i| &data[i + 8..]);
    let first_at = after_count
        .and_then(|c| c.find(',').map(|j| &c[j + 1..]))
        .and_then(|c| c.strip_prefix(r#""first_at":""#))
        .and_then(utc_micros);
    // `...,"sends":S,"to":T` at the end.
    let head = &data[..data.rfind(r#","to":"#).unwrap_or(data.len())];
    let near = &head.as_bytes()[head.len().saturating_sub(30)..];
    let sends = near
        .windows(8)
        .position(|w| w == br#""sends":"#)
        .and_then(|i| std::str::from_utf8(&near[i + 8..]).ok())
        .and_then(digits);
    (sends.unwrap_or(1), first_at.or(at))
}

/// A `gift` or `gifts` frame: its seq, and `(sends, first_at)` of every gift in it (see
/// `gift`), read as they are asked for. Each gift of a `gifts` frame ends where `},{"at":"`
/// starts the next: names and nicknames cannot hold an unescaped quote.
pub(crate) fn parse_gifts(t: &str) -> Option<(u64, impl Iterator<Item = (u64, Option<u64>)> + '_)> {
    let (rest, many) = match t.strip_prefix(GIFT_PREFIX) {
        Some(rest) => (rest, false),
        None => (t.strip_prefix(GIFTS_PREFIX)?, true),
    };
    let seq = digits(rest)?;
    // What is left to read, from the next gift's `"at":` on; empty when nothing is.
    let mut left = if many {
        rest[rest.find(r#""gifts":["#)? + 9..].strip_prefix('{').unwrap_or("")
    } else {
        &rest[rest.find(r#""data":{"#)? + 8..]
    };
    let gifts = std::iter::from_fn(move || {
        if left.is_empty() {
            return None;
        }
        let (this, next) = match left.find(r#"},{"at":""#).filter(|_| many) {
            Some(end) => (&left[..end], &left[end + 3..]),
            None => (left, ""),
        };
        left = next;
        Some(gift(this))
    });
    Some((seq, gifts))
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

    /// (sends, first_at) of each gift in a frame.
    type Gifts = Vec<(u64, Option<u64>)>;

    fn scan(t: &str) -> Option<(u64, Gifts)> {
        parse_gifts(t).map(|(seq, gifts)| (seq, gifts.collect()))
    }

    #[test]
    fn gift_frames_are_scanned() {
        let f = r#"{"type":"gift","seq":7,"data":{"at":"1970-01-01T00:00:01.500Z","count":1}}"#;
        assert_eq!(scan(f), Some((7, vec![(1, Some(1_500_000))])));
        let combo = r#"{"type":"gift","seq":8,"data":{"at":"1970-01-01T00:00:02Z","count":6,"first_at":"1970-01-01T00:00:01.250Z","from":{},"sends":3,"to":1}}"#;
        assert_eq!(scan(combo), Some((8, vec![(3, Some(1_250_000))])));
        for ts in ["2026-11-30T22:06:39.123Z", "2024-02-29T00:00:00Z", "1999-12-31T23:59:59.999Z"] {
            let want = chrono::DateTime::parse_from_rfc3339(ts).unwrap().timestamp_micros() as u64;
            assert_eq!(utc_micros(ts), Some(want), "{ts}");
        }
        assert_eq!(scan(r#"{"type":"chat","seq":1,"data":{}}"#), None);
    }

    #[test]
    fn a_gifts_frame_is_scanned_gift_by_gift() {
        let f = r#"{"type":"gifts","seq":9,"data":{"gifts":[{"at":"1970-01-01T00:00:02Z","count":6,"first_at":"1970-01-01T00:00:01.250Z","from":{"id":1,"nickname":"a,"to":5"},"gift":{"effect":"e","id":1,"name":"n","price":1},"sends":3,"to":1},{"at":"1970-01-01T00:00:03Z","count":1,"from":{"id":2,"nickname":"b"},"gift":{"effect":"e","id":1,"name":"n","price":1},"to":1}]}}"#;
        assert_eq!(scan(f), Some((9, vec![(3, Some(1_250_000)), (1, Some(3_000_000))])));
        assert_eq!(scan(r#"{"type":"gifts","seq":10,"data":{"gifts":[]}}"#), Some((10, vec![])));
    }
}

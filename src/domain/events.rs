//! Room events: what a room numbers (`seq`), records for `resume` and sends to every viewer as
//! `{"type", "seq", "data"}`.
//!
//! They live in `domain`, not beside the room actor, because they are plain data: no actix, no
//! socket, no storage row. The services that cause them (PK, rain, gifts, products), the room
//! that sends them, and, later, another process that relays them all share these types; that
//! is also why each is `Serialize + Deserialize + Clone`.
//!
//! Every struct declares its fields in alphabetical order: the frames they give are byte for
//! byte what the untyped `json!` objects (sorted maps) gave before.

use super::pk::PkView;
use super::user::UserRef;
use serde::{Deserialize, Serialize};

/// A viewer's chat line (`chat`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatLine {
    /// RFC 3339.
    pub at: String,
    pub from: UserRef,
    /// The text after the word filter.
    pub text: String,
}

/// A user was muted (`muted`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserMuted {
    /// RFC 3339.
    pub until: String,
    pub user_id: i64,
}

/// Slow mode changed (`slow_mode`; 0 is off).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlowModeSet {
    pub seconds: i64,
}

/// A chat line was removed (`chat_deleted`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatDeleted {
    pub seq: u64,
}

/// The room closed (`room_closed`); its data is `{}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomClosed {}

/// A product's live stock (`stock`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockChanged {
    pub left: i64,
    pub product_id: i64,
}

/// A gift from the catalog, as a `gift` event shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GiftItem {
    pub effect: String,
    pub id: i64,
    pub name: String,
    pub price: i64,
}

/// A gift was sent (`gift`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GiftSent {
    /// When its debit committed (RFC 3339, ms).
    #[serde(default)]
    pub at: String,
    /// Gifts in all: the sum of the paid gifts' counts when a combo merged several
    /// (`actors::room::combo`).
    pub count: i64,
    /// When the first of the paid gifts a combo merged committed; absent for one paid gift.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_at: Option<String>,
    pub from: UserRef,
    pub gift: GiftItem,
    /// How many paid gifts (requests) the frame stands for; absent when one.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub sends: i64,
    /// The user it went to: the anchor, or a side of a running PK.
    pub to: i64,
}

/// Gifts that a busy room held for its gift window, sent together (`gifts`): each as a `gift`
/// frame's data would show it, in the order they were paid, a sender's quick gifts of one kind
/// to one anchor merged into one (`actors::room::combo`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GiftsSent {
    pub gifts: Vec<GiftSent>,
}

fn one() -> i64 {
    1
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_one(n: &i64) -> bool {
    *n == 1
}

/// A product on an anchor's shelf, as the room shows it (`products`, and a room's `products`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShelfItem {
    pub anchor_id: i64,
    pub id: i64,
    pub left: i64,
    pub name: String,
    pub price: i64,
    pub status: String,
    pub stock: i64,
}

/// The anchor's shelf changed (`products`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductsChanged {
    pub items: Vec<ShelfItem>,
}

/// A PK started (`pk_started`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PkStarted {
    pub pk: PkView,
}

/// A PK's score moved (`pk_progress`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PkProgress {
    pub pk: PkView,
}

/// A PK ended (`pk_ended`); `winner` is `null` for a draw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PkEnded {
    pub pk: PkView,
    pub winner: Option<i64>,
}

/// A rain started (`rain_started`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RainStarted {
    /// RFC 3339.
    pub ends_at: Option<String>,
    pub packets: i64,
    pub rain_id: i64,
}

/// A rain ended (`rain_ended`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RainEnded {
    /// Coins handed out.
    pub coins: i64,
    /// Packets handed out.
    pub handed_out: i64,
    pub rain_id: i64,
    /// Coins that went back to the anchor.
    pub refunded: i64,
}

/// Defines `RoomEvent` with one variant per event and its `type`, and `EventData`, which
/// serialises a variant's data without the tag (the frame puts `seq` between the two).
macro_rules! room_events {
    ($($(#[$doc:meta])* $variant:ident($ty:ty) = $kind:literal,)*) => {
        /// Every room event. Serialised on its own (between processes) it is
        /// `{"type": .., "data": ..}`, as a frame without its `seq`.
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(tag = "type", content = "data")]
        pub enum RoomEvent {
            $($(#[$doc])* #[serde(rename = $kind)] $variant($ty),)*
        }

        impl RoomEvent {
            /// The frame's `type`.
            pub fn kind(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => $kind,)*
                }
            }
        }

        impl Serialize for EventData<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                match self.0 {
                    $(RoomEvent::$variant(d) => d.serialize(s),)*
                }
            }
        }

        $(impl From<$ty> for RoomEvent {
            fn from(d: $ty) -> Self {
                Self::$variant(d)
            }
        })*
    };
}

/// A room event's `data` alone.
pub struct EventData<'a>(pub &'a RoomEvent);

room_events! {
    Chat(ChatLine) = "chat",
    Muted(UserMuted) = "muted",
    SlowMode(SlowModeSet) = "slow_mode",
    ChatDeleted(ChatDeleted) = "chat_deleted",
    RoomClosed(RoomClosed) = "room_closed",
    Stock(StockChanged) = "stock",
    Gift(GiftSent) = "gift",
    Gifts(GiftsSent) = "gifts",
    Products(ProductsChanged) = "products",
    PkStarted(PkStarted) = "pk_started",
    PkProgress(PkProgress) = "pk_progress",
    PkEnded(PkEnded) = "pk_ended",
    RainStarted(RainStarted) = "rain_started",
    RainEnded(RainEnded) = "rain_ended",
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pk() -> PkView {
        PkView {
            challenger: None,
            challenger_coins: 0,
            ends_at: None,
            host: UserRef { id: 1, nickname: "h".into() },
            host_coins: 0,
            id: 7,
            score: 50,
            status: "waiting".into(),
            winner: None,
        }
    }

    /// The typed data gives the same bytes as the `json!` objects it replaces.
    #[test]
    fn data_is_byte_for_byte_the_old_json() {
        let cases: Vec<(RoomEvent, serde_json::Value)> = vec![
            (
                PkEnded { pk: pk(), winner: None }.into(),
                json!({"pk": {"id": 7, "host": {"id": 1, "nickname": "h"}, "challenger": null, "status": "waiting",
                    "score": 50, "host_coins": 0, "challenger_coins": 0, "ends_at": null, "winner": null}, "winner": null}),
            ),
            (RoomClosed {}.into(), json!({})),
            (
                GiftSent {
                    at: "t".into(),
                    count: 2,
                    first_at: None,
                    from: UserRef { id: 3, nickname: "f".into() },
                    gift: GiftItem { effect: "e".into(), id: 4, name: "n".into(), price: 5 },
                    sends: 1,
                    to: 1,
                }
                .into(),
                json!({"at": "t", "from": {"id": 3, "nickname": "f"}, "to": 1,
                    "gift": {"id": 4, "name": "n", "price": 5, "effect": "e"}, "count": 2}),
            ),
            (
                RainEnded { coins: 1, handed_out: 2, rain_id: 4, refunded: 3 }.into(),
                json!({"rain_id": 4, "handed_out": 2, "coins": 1, "refunded": 3}),
            ),
        ];
        for (e, old) in cases {
            assert_eq!(serde_json::to_string(&EventData(&e)).unwrap(), old.to_string(), "{}", e.kind());
        }
    }

    /// Every event's data, and the views inside, come out with sorted keys, as a `json!`
    /// object (a sorted map) did: a field declared out of order fails here.
    #[test]
    fn every_event_has_sorted_keys() {
        let who = || UserRef { id: 3, nickname: "f".into() };
        let started = PkView { challenger: Some(who()), ends_at: Some("t".into()), ..pk() };
        let combo = GiftSent {
            at: "t".into(),
            count: 3,
            first_at: Some("s".into()),
            from: who(),
            gift: GiftItem { effect: "e".into(), id: 1, name: "n".into(), price: 1 },
            sends: 2,
            to: 1,
        };
        let events: Vec<RoomEvent> = vec![
            ChatLine { at: "t".into(), from: who(), text: "x".into() }.into(),
            UserMuted { until: "t".into(), user_id: 1 }.into(),
            SlowModeSet { seconds: 1 }.into(),
            ChatDeleted { seq: 1 }.into(),
            RoomClosed {}.into(),
            StockChanged { left: 1, product_id: 2 }.into(),
            GiftSent {
                at: "t".into(),
                count: 1,
                first_at: None,
                from: who(),
                gift: GiftItem { effect: "e".into(), id: 1, name: "n".into(), price: 1 },
                sends: 1,
                to: 1,
            }
            .into(),
            combo.clone().into(),
            GiftsSent { gifts: vec![combo] }.into(),
            ProductsChanged {
                items: vec![ShelfItem {
                    anchor_id: 1,
                    id: 2,
                    left: 3,
                    name: "n".into(),
                    price: 4,
                    status: "approved".into(),
                    stock: 5,
                }],
            }
            .into(),
            PkStarted { pk: started.clone() }.into(),
            PkProgress { pk: started.clone() }.into(),
            PkEnded { pk: started, winner: Some(1) }.into(),
            RainStarted { ends_at: Some("t".into()), packets: 1, rain_id: 2 }.into(),
            RainEnded { coins: 1, handed_out: 2, rain_id: 3, refunded: 4 }.into(),
        ];
        for e in events {
            let typed = serde_json::to_string(&EventData(&e)).unwrap();
            let sorted = serde_json::to_value(EventData(&e)).unwrap().to_string();
            assert_eq!(typed, sorted, "{}", e.kind());
        }
        let rain = super::super::redpacket::RainView {
            ends_at: None,
            id: 1,
            left: 2,
            packets: 3,
            room_id: 4,
            status: "running".into(),
            total_coins: 5,
        };
        assert_eq!(serde_json::to_string(&rain).unwrap(), serde_json::to_value(&rain).unwrap().to_string());
    }

    #[test]
    fn an_event_round_trips_as_type_and_data() {
        let e: RoomEvent = StockChanged { left: 3, product_id: 9 }.into();
        let s = serde_json::to_string(&e).unwrap();
        assert_eq!(s, r#"{"type":"stock","data":{"left":3,"product_id":9}}"#);
        assert_eq!(serde_json::from_str::<RoomEvent>(&s).unwrap(), e);
        let closed: RoomEvent = serde_json::from_str(r#"{"type":"room_closed","data":{}}"#).unwrap();
        assert_eq!(closed, RoomEvent::RoomClosed(RoomClosed {}));
    }
}

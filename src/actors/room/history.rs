//! A room's recent events, for `resume`, and its recent chats, for `welcome`.

use bytestring::ByteString;
use std::collections::VecDeque;

pub struct Event {
    pub seq: u64,
    pub frame: ByteString,
    /// True for chat events (the ones `chat_deleted` can remove).
    pub is_chat: bool,
}

/// `C` is what `welcome` lists of a recent chat.
pub struct History<C> {
    events: VecDeque<Event>,
    cap: usize,
    chats: VecDeque<(u64, C)>,
    chat_cap: usize,
    /// Seq of the newest event ever added (kept when events are evicted).
    last_seq: u64,
}

/// What a reconnecting client gets.
pub enum Replay<'a> {
    Frames(Vec<&'a ByteString>),
    Resync,
}

impl<C: Clone> History<C> {
    pub fn new(cap: usize, chat_cap: usize) -> Self {
        Self {
            events: VecDeque::with_capacity(cap),
            cap,
            chats: VecDeque::with_capacity(chat_cap),
            chat_cap,
            last_seq: 0,
        }
    }

    pub fn push(&mut self, seq: u64, frame: ByteString, chat: Option<C>) {
        if self.events.len() == self.cap {
            self.events.pop_front();
        }
        self.events.push_back(Event { seq, frame, is_chat: chat.is_some() });
        if let Some(c) = chat {
            if self.chats.len() == self.chat_cap {
                self.chats.pop_front();
            }
            self.chats.push_back((seq, c));
        }
        self.last_seq = seq;
    }

    /// Removes a chat message; false when no chat has that seq any more.
    pub fn delete_chat(&mut self, seq: u64) -> bool {
        let before = self.events.len();
        self.events.retain(|e| !(e.seq == seq && e.is_chat));
        self.chats.retain(|(s, _)| *s != seq);
        before != self.events.len()
    }

    /// Events after `last_seq`, or `Resync` when some of them are gone.
    pub fn since(&self, last_seq: u64) -> Replay<'_> {
        if last_seq > self.last_seq {
            return Replay::Resync;
        }
        if last_seq == self.last_seq {
            return Replay::Frames(Vec::new());
        }
        // Evicted events make a gap; deleted chats do not (their `chat_deleted` follows).
        let oldest_kept = self.last_seq + 1 - self.retained_span();
        if last_seq + 1 < oldest_kept {
            return Replay::Resync;
        }
        Replay::Frames(self.events.iter().filter(|e| e.seq > last_seq).map(|e| &e.frame).collect())
    }

    /// How many seqs back the history reaches, counting deleted chats inside it.
    fn retained_span(&self) -> u64 {
        match self.events.front() {
            Some(e) => self.last_seq + 1 - e.seq,
            None => 0,
        }
    }

    pub fn recent_chats(&self) -> Vec<C> {
        self.chats.iter().map(|(_, v)| v.clone()).collect()
    }

    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Starts a history that joins another's at `last_seq` (a mirror of the room's home): the
    /// events before are not here (a `resume` from before answers `resync`), the recent chats are.
    pub fn start_at(&mut self, last_seq: u64, chats: impl IntoIterator<Item = (u64, C)>) {
        self.events.clear();
        self.chats = chats.into_iter().collect();
        while self.chats.len() > self.chat_cap {
            self.chats.pop_front();
        }
        self.last_seq = last_seq;
    }

    pub fn clear(&mut self) {
        self.events.clear();
        self.chats.clear();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn h(n: u64, cap: usize) -> History<Value> {
        let mut h = History::new(cap, 50);
        for s in 1..=n {
            h.push(s, ByteString::from(s.to_string()), (s % 2 == 0).then(|| Value::from(s)));
        }
        h
    }

    #[test]
    fn replays_exactly_what_was_missed() {
        let h = h(10, 200);
        match h.since(7) {
            Replay::Frames(f) => assert_eq!(f.iter().map(|b| b.to_string()).collect::<Vec<_>>(), ["8", "9", "10"]),
            Replay::Resync => panic!(),
        }
        assert!(matches!(h.since(10), Replay::Frames(ref f) if f.is_empty()));
        assert!(matches!(h.since(11), Replay::Resync));
        assert!(matches!(h.since(0), Replay::Frames(ref f) if f.len() == 10));
    }

    #[test]
    fn evicted_events_mean_resync() {
        let h = h(300, 200);
        assert!(matches!(h.since(50), Replay::Resync));
        assert!(matches!(h.since(100), Replay::Frames(ref f) if f.len() == 200));
    }

    #[test]
    fn a_history_started_at_another_s_seq_replays_only_what_it_saw() {
        let mut h: History<Value> = History::new(200, 50);
        h.start_at(40, [(38, Value::from(38))]);
        assert!(matches!(h.since(40), Replay::Frames(ref f) if f.is_empty()));
        assert!(matches!(h.since(39), Replay::Resync), "events before the start are not here");
        h.push(41, ByteString::from("41"), None);
        assert!(matches!(h.since(40), Replay::Frames(ref f) if f.len() == 1));
        assert!(matches!(h.since(39), Replay::Resync));
        assert_eq!(h.recent_chats(), vec![Value::from(38)]);
    }

    #[test]
    fn deleted_chats_leave_history_and_recent() {
        let mut h = h(10, 200);
        assert!(h.delete_chat(4));
        assert!(!h.delete_chat(4));
        assert!(!h.delete_chat(3), "3 is not a chat");
        assert!(!h.recent_chats().contains(&Value::from(4)));
        assert!(matches!(h.since(2), Replay::Frames(ref f) if f.len() == 7));
    }
}

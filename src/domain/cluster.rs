//! Which node is a room's home: rendezvous (highest random weight) hashing over the live nodes.
//! Every node computes the same answer from the same members, with no coordination, and when a
//! node leaves only its own rooms move (each to the node that ranked second for it); a node
//! that joins takes roughly its share, from every other node alike.
//!
//! The hash must be the same in every process and every build, so it is spelled out here
//! (FNV-1a of the node id, mixed with the room id by SplitMix64's finaliser) rather than taken
//! from `std`'s `DefaultHasher`, whose output is not promised to stay the same.

/// FNV-1a, 64 bits.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

/// SplitMix64's finaliser: every input bit reaches every output bit.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// How much `node` wants `room`.
pub fn weight(room: i64, node: &str) -> u64 {
    mix(fnv1a(node.as_bytes()) ^ mix(room as u64))
}

/// The home of `room` among `nodes` (None when there are none). Ties, which need two node ids
/// hashing alike, go to the smaller id, so the answer never depends on the order given.
pub fn rendezvous<'a>(room: i64, nodes: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    nodes.into_iter().max_by(|a, b| weight(room, a).cmp(&weight(room, b)).then_with(|| b.cmp(a)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const NODES: [&str; 3] = ["node-a", "node-b", "node-c"];

    #[test]
    fn every_node_finds_the_same_home_whatever_the_order() {
        for room in 0..1000 {
            let mut nodes = NODES.to_vec();
            let home = rendezvous(room, nodes.iter().copied());
            nodes.reverse();
            assert_eq!(rendezvous(room, nodes.iter().copied()), home);
        }
        assert_eq!(rendezvous(7, std::iter::empty()), None);
        // Fixed for ever: another build or process must agree.
        assert_eq!(weight(42, "node-a"), weight(42, "node-a"));
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn the_rooms_spread_evenly() {
        let mut counts = [0usize; 3];
        for room in 0..30_000 {
            let home = rendezvous(room, NODES).unwrap();
            counts[NODES.iter().position(|n| *n == home).unwrap()] += 1;
        }
        for c in counts {
            assert!((9_000..=11_000).contains(&c), "{counts:?}");
        }
    }

    #[test]
    fn when_a_node_leaves_only_its_rooms_move() {
        for room in 0..10_000 {
            let before = rendezvous(room, NODES).unwrap();
            let after = rendezvous(room, ["node-a", "node-c"]).unwrap();
            if before != "node-b" {
                assert_eq!(after, before, "room {room} moved though its home stayed");
            }
        }
    }
}

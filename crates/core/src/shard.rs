//! Which shard reconciles an Application, and which shards a replica should hold.
//!
//! Under `capstan controller --shards N`, Applications are divided over `N` shards by a stable
//! hash of their id (`<namespace>/<name>`), unless the `capstan.dev/shard` label pins one. Every
//! shard is held through a Lease of its own; the live replicas share them out, each up to its fair
//! share, and a shard stays with its holder while the holder lives.

/// The shard of the Application `namespace/name` among `shards`: the `pin` (the
/// `capstan.dev/shard` label) when it is a shard number below `shards`, else the id's stable
/// hash. One shard (or none asked for) is always shard 0.
pub fn shard_of(namespace: &str, name: &str, pin: Option<&str>, shards: u32) -> u32 {
    if shards <= 1 {
        return 0;
    }
    if let Some(pinned) = pin.and_then(|p| p.trim().parse::<u32>().ok())
        && pinned < shards
    {
        return pinned;
    }
    let hash = fnv1a(&[namespace.as_bytes(), b"/", name.as_bytes()]);
    u32::try_from(hash % u64::from(shards)).unwrap_or(0)
}

/// The shards the replica `me` should hold, given the live replicas `members` (any order;
/// duplicates ignored) and, per shard, the replica that holds its Lease now (`None`: free or
/// expired).
///
/// Each replica's fair share is `ceil(shards / replicas)`. A replica keeps the shards it holds up
/// to its share (the lowest-numbered ones) and lets the rest go; below its share it also wants
/// free shards, lowest first, up to its share. Shards stay where they are while their holder
/// lives — a replica that comes back after a pause does not take its shards back — and a dead
/// replica's shards, once their Leases expire, go to the replicas below their share. A replica
/// not among the live ones yet (its own membership is not seen) wants only what it holds.
pub fn wanted(members: &[&str], me: &str, holders: &[Option<&str>]) -> Vec<u32> {
    let mut live: Vec<&str> = members.to_vec();
    live.sort_unstable();
    live.dedup();
    let held: Vec<u32> = shards_where(holders, |h| h == Some(me));
    if !live.contains(&me) {
        return held;
    }
    let share = holders.len().div_ceil(live.len());
    let mut out: Vec<u32> = held.into_iter().take(share).collect();
    let free = shards_where(holders, |h| h.is_none_or(|h| !live.contains(&h)));
    let room = share - out.len();
    out.extend(free.into_iter().take(room));
    out.sort_unstable();
    out
}

fn shards_where(holders: &[Option<&str>], keep: impl Fn(Option<&str>) -> bool) -> Vec<u32> {
    (0..)
        .zip(holders)
        .filter(|(_, holder)| keep(**holder))
        .map(|(shard, _)| shard)
        .collect()
}

/// The 64-bit FNV-1a hash of the concatenated `parts`: small, stable across versions and
/// platforms (the shard of an Application must not move when the controller is upgraded).
fn fnv1a(parts: &[&[u8]]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    parts
        .iter()
        .flat_map(|part| part.iter())
        .fold(OFFSET, |hash, byte| {
            (hash ^ u64::from(*byte)).wrapping_mul(PRIME)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_shard_holds_every_application() {
        for (ns, name, pin) in [("a", "b", None), ("x", "y", Some("3")), ("", "", None)] {
            assert_eq!(shard_of(ns, name, pin, 1), 0);
            assert_eq!(shard_of(ns, name, pin, 0), 0);
        }
    }

    #[test]
    fn the_hash_is_the_published_fnv1a_of_the_id() {
        // FNV-1a 64 of the empty input is its offset basis; of "a" a published test vector.
        assert_eq!(fnv1a(&[]), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(&[b"a"]), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(&[b"fo", b"obar"]), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn a_pin_below_the_shard_count_wins_and_any_other_pin_is_ignored() {
        let hashed = shard_of("team", "web", None, 4);
        let cases = [
            (Some("2"), 2),
            (Some(" 3 "), 3),
            (Some("0"), 0),
            (Some("4"), hashed),
            (Some("-1"), hashed),
            (Some("two"), hashed),
            (Some(""), hashed),
            (None, hashed),
        ];
        for (pin, expected) in cases {
            assert_eq!(shard_of("team", "web", pin, 4), expected, "pin {pin:?}");
        }
    }

    #[test]
    fn applications_spread_over_every_shard() {
        let shards = 3;
        let mut counts = [0_u32; 3];
        for i in 0..300 {
            let shard = shard_of("apps", &format!("app-{i}"), None, shards);
            counts[usize::try_from(shard).unwrap_or(0)] += 1;
        }
        // Every shard gets a fair part: no shard under half of its even share.
        assert!(counts.iter().all(|c| *c >= 50), "{counts:?}");
    }

    /// Runs the replicas' choices round by round, as the Leases would settle them (a free
    /// shard wanted by several goes to the first in order), until nothing moves.
    fn settle(members: &[&str], holders: &mut [Option<String>]) {
        for _ in 0..20 {
            let before = holders.to_vec();
            for me in members {
                let now: Vec<Option<&str>> = holders.iter().map(Option::as_deref).collect();
                let mine = wanted(members, me, &now);
                for (shard, holder) in holders.iter_mut().enumerate() {
                    let wants = mine.contains(&u32::try_from(shard).unwrap_or(u32::MAX));
                    if holder.as_deref() == Some(*me) && !wants {
                        *holder = None;
                    } else if holder.is_none() && wants {
                        *holder = Some((*me).to_owned());
                    }
                }
            }
            if before == holders {
                return;
            }
        }
        panic!("the shards never settled: {holders:?}");
    }

    #[test]
    fn replicas_settle_with_every_shard_held_once_and_fairly() {
        for replicas in 1..=4_usize {
            let names: Vec<String> = (0..replicas).map(|i| format!("r{i}")).collect();
            let members: Vec<&str> = names.iter().map(String::as_str).collect();
            for shards in 1..=7_usize {
                // The first replica started alone and took everything.
                let mut holders = vec![Some("r0".to_owned()); shards];
                settle(&members, &mut holders);
                let share = shards.div_ceil(replicas);
                for me in &members {
                    let mine = holders.iter().filter(|h| h.as_deref() == Some(*me)).count();
                    assert!(
                        mine <= share,
                        "{me} holds {mine} of {shards} over {replicas}"
                    );
                }
                assert!(holders.iter().all(Option::is_some), "{holders:?}");
            }
        }
    }

    #[test]
    fn a_dead_replicas_shards_go_to_the_live_ones() {
        let mut holders = vec![
            Some("a".to_owned()),
            Some("b".to_owned()),
            Some("c".to_owned()),
        ];
        // c died: its membership and its Lease expired.
        holders[2] = None;
        settle(&["a", "b"], &mut holders);
        assert!(
            holders
                .iter()
                .all(|h| matches!(h.as_deref(), Some("a" | "b"))),
            "{holders:?}"
        );
    }

    #[test]
    fn a_replica_back_from_a_pause_does_not_take_its_shard_back() {
        // a held the only shard, paused, and b took it; a is live again.
        let holders = [Some("b")];
        assert!(wanted(&["a", "b"], "a", &holders).is_empty());
        assert_eq!(wanted(&["a", "b"], "b", &holders), vec![0]);
    }

    #[test]
    fn a_holder_that_is_not_live_counts_as_free() {
        assert_eq!(wanted(&["a"], "a", &[Some("gone")]), vec![0]);
    }

    #[test]
    fn a_replica_not_yet_seen_live_keeps_only_what_it_holds() {
        assert!(wanted(&["a", "b"], "c", &[None, None, None]).is_empty());
        assert_eq!(wanted(&["a"], "c", &[Some("c"), None]), vec![0]);
    }

    #[test]
    fn above_its_share_a_replica_keeps_its_lowest_shards() {
        let holders = [Some("a"), Some("a"), Some("a"), None];
        assert_eq!(wanted(&["a", "b"], "a", &holders), vec![0, 1]);
        assert_eq!(wanted(&["a", "b"], "b", &holders), vec![3]);
    }
}

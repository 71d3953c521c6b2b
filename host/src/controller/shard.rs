//! Sharding of keys across replicas: with `[controller.sharding]`, replica
//! `shard` of `shards` reconciles only the objects whose key hashes to it,
//! so N replicas split the work instead of one doing all of it.
//!
//! The hash is FNV-1a over the key's cluster, kind, namespace and name:
//! stable across processes, versions and restarts, so every replica agrees
//! where a key belongs without talking to the others. An owned object's
//! change is routed by its owner's key, so owner and owned stay on one
//! shard. Combine it with `[leader-election]`: each shard then elects among
//! the replicas configured with its index (the Lease name gets `-<shard>`),
//! so a standby can take a shard over.

use serde::{Deserialize, Serialize};

use crate::object::ObjectRef;

/// `[controller.sharding]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Sharding {
    /// How many shards the keys are split into (the replica count).
    pub shards: u32,
    /// Which one this replica serves, `0..shards`.
    pub shard: u32,
}

impl Sharding {
    /// Whether `key` belongs to this replica's shard.
    pub fn owns(&self, key: &ObjectRef) -> bool {
        shard_of(key, self.shards) == self.shard
    }
}

/// The shard of `key` among `shards` (at least 1).
pub fn shard_of(key: &ObjectRef, shards: u32) -> u32 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash = OFFSET;
    let parts =
        [&key.cluster, &key.api_version, &key.kind, key.namespace.as_deref().unwrap_or(""), &key.name];
    for part in parts {
        for byte in part.bytes().chain([0xff]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(PRIME);
        }
    }
    u32::try_from(hash % u64::from(shards.max(1))).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> ObjectRef {
        ObjectRef {
            cluster: "default".into(),
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            namespace: Some("ns".into()),
            name: name.into(),
        }
    }

    #[test]
    fn every_key_has_exactly_one_shard_and_the_split_is_even() {
        let shards = [
            Sharding { shards: 3, shard: 0 },
            Sharding { shards: 3, shard: 1 },
            Sharding { shards: 3, shard: 2 },
        ];
        let mut counts = [0u32; 3];
        for i in 0..3000 {
            let k = key(&format!("object-{i}"));
            let owners: Vec<usize> = (0..3).filter(|s| shards[*s].owns(&k)).collect();
            assert_eq!(owners.len(), 1);
            counts[owners[0]] += 1;
        }
        assert!(counts.iter().all(|c| (800..1200).contains(c)), "{counts:?}");
    }

    #[test]
    fn the_shard_of_a_key_never_changes() {
        // Fixed values: replicas of different builds must agree.
        assert_eq!(shard_of(&key("a"), 1000), 174);
        assert_eq!(shard_of(&key("a"), 1), 0);
        assert_ne!(shard_of(&key("a"), 1 << 30), shard_of(&key("b"), 1 << 30));
    }
}

//! The Policy object kinds the simulator manages and how a URL path maps onto them.
//!
//! A kind is a path pattern under `/infra` (`*` is an id), the `resource_type`s it
//! accepts, and the realized entity type NSX reports for it. Parsing a path once into a
//! [`Target`] keeps every handler free of string splitting.

/// A managed kind of Policy object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `/infra/tier-1s/*`
    Tier1,
    /// `/infra/tier-1s/*/locale-services/*`
    LocaleServices,
    /// `/infra/tier-1s/*/nat/*/nat-rules/*`
    NatRule,
    /// `/infra/segments/*`
    Segment,
    /// `/infra/segments/*/ports/*`
    SegmentPort,
    /// `/infra/lb-services/*`
    LbService,
    /// `/infra/lb-pools/*`
    LbPool,
    /// `/infra/lb-virtual-servers/*`
    LbVirtualServer,
    /// `/infra/ip-pools/*`
    IpPool,
    /// `/infra/ip-pools/*/ip-subnets/*`
    IpPoolSubnet,
    /// `/infra/ip-pools/*/ip-allocations/*`
    IpAllocation,
    /// `/infra/ip-blocks/*`
    IpBlock,
}

struct KindDef {
    kind: Kind,
    pattern: &'static [&'static str],
    resource_types: &'static [&'static str],
    realized_entity: &'static str,
}

const KINDS: &[KindDef] = &[
    KindDef {
        kind: Kind::Tier1,
        pattern: &["infra", "tier-1s", "*"],
        resource_types: &["Tier1"],
        realized_entity: "RealizedLogicalRouter",
    },
    KindDef {
        kind: Kind::LocaleServices,
        pattern: &["infra", "tier-1s", "*", "locale-services", "*"],
        resource_types: &["LocaleServices"],
        realized_entity: "RealizedLocaleServices",
    },
    KindDef {
        kind: Kind::NatRule,
        pattern: &["infra", "tier-1s", "*", "nat", "*", "nat-rules", "*"],
        resource_types: &["PolicyNatRule"],
        realized_entity: "RealizedNATRule",
    },
    KindDef {
        kind: Kind::Segment,
        pattern: &["infra", "segments", "*"],
        resource_types: &["Segment"],
        realized_entity: "RealizedLogicalSwitch",
    },
    KindDef {
        kind: Kind::SegmentPort,
        pattern: &["infra", "segments", "*", "ports", "*"],
        resource_types: &["SegmentPort"],
        realized_entity: "RealizedLogicalPort",
    },
    KindDef {
        kind: Kind::LbService,
        pattern: &["infra", "lb-services", "*"],
        resource_types: &["LBService"],
        realized_entity: "RealizedLBService",
    },
    KindDef {
        kind: Kind::LbPool,
        pattern: &["infra", "lb-pools", "*"],
        resource_types: &["LBPool"],
        realized_entity: "RealizedLBPool",
    },
    KindDef {
        kind: Kind::LbVirtualServer,
        pattern: &["infra", "lb-virtual-servers", "*"],
        resource_types: &["LBVirtualServer"],
        realized_entity: "RealizedLBVirtualServer",
    },
    KindDef {
        kind: Kind::IpPool,
        pattern: &["infra", "ip-pools", "*"],
        resource_types: &["IpAddressPool"],
        realized_entity: "RealizedIpPool",
    },
    KindDef {
        kind: Kind::IpPoolSubnet,
        pattern: &["infra", "ip-pools", "*", "ip-subnets", "*"],
        resource_types: &["IpAddressPoolStaticSubnet", "IpAddressPoolBlockSubnet"],
        realized_entity: "RealizedIpPoolSubnet",
    },
    KindDef {
        kind: Kind::IpAllocation,
        pattern: &["infra", "ip-pools", "*", "ip-allocations", "*"],
        resource_types: &["IpAddressAllocation"],
        realized_entity: "RealizedIpAllocation",
    },
    KindDef {
        kind: Kind::IpBlock,
        pattern: &["infra", "ip-blocks", "*"],
        resource_types: &["IpAddressBlock"],
        realized_entity: "RealizedIpBlock",
    },
];

impl Kind {
    fn def(self) -> &'static KindDef {
        // Every variant has exactly one entry; the fallback is unreachable by construction.
        KINDS.iter().find(|d| d.kind == self).unwrap_or(&KINDS[0])
    }

    /// The `resource_type`s this kind accepts; the first is the default.
    pub(crate) fn resource_types(self) -> &'static [&'static str] {
        self.def().resource_types
    }

    /// The realized entity type NSX reports for objects of this kind.
    pub(crate) fn realized_entity(self) -> &'static str {
        self.def().realized_entity
    }
}

/// An object path split into its parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ObjectPath {
    /// The kind.
    pub(crate) kind: Kind,
    /// The full path, e.g. `/infra/segments/s1/ports/p1`.
    pub(crate) path: String,
    /// The collection path (the store's collection), e.g. `/infra/segments/s1/ports`.
    pub(crate) collection: String,
    /// The id, e.g. `p1`.
    pub(crate) id: String,
}

impl ObjectPath {
    /// The path of the owning object (`/infra` for top-level objects).
    pub(crate) fn parent_path(&self) -> &str {
        match self.collection.rsplit_once('/') {
            Some((parent, _)) if !parent.is_empty() => parent,
            _ => "/infra",
        }
    }
}

/// What a request path under `/policy/api/v1` addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// One object.
    Object(ObjectPath),
    /// A collection of one kind (list).
    Collection {
        /// The kind of its members.
        kind: Kind,
        /// The collection path.
        collection: String,
    },
    /// A read-only view of one object: `…/state` or `…/detailed-status`.
    View(ObjectPath, View),
}

/// The read-only views some objects have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum View {
    /// `GET …/state` (segments, ports, Tier-1s).
    State,
    /// `GET /infra/lb-services/*/detailed-status`.
    DetailedStatus,
}

/// Parses a path such as `/infra/segments/s1` (no `/policy/api/v1` prefix).
pub(crate) fn parse(path: &str) -> Option<Target> {
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    if parts.iter().any(|p| p.is_empty()) {
        return None;
    }
    for def in KINDS {
        let n = def.pattern.len();
        if parts.len() == n && matches(def.pattern, &parts) {
            return Some(Target::Object(object_path(def.kind, &parts)));
        }
        if parts.len() == n - 1 && matches(&def.pattern[..n - 1], &parts) {
            return Some(Target::Collection { kind: def.kind, collection: format!("/{}", parts.join("/")) });
        }
        if parts.len() == n + 1 && matches(def.pattern, &parts[..n]) {
            let view = match (def.kind, parts[n]) {
                (Kind::Segment | Kind::SegmentPort | Kind::Tier1, "state") => View::State,
                (Kind::LbService, "detailed-status") => View::DetailedStatus,
                _ => continue,
            };
            return Some(Target::View(object_path(def.kind, &parts[..n]), view));
        }
    }
    None
}

/// Parses a path that must name one managed object (a `*_path` field's value).
pub(crate) fn parse_object(path: &str) -> Option<ObjectPath> {
    match parse(path) {
        Some(Target::Object(object)) => Some(object),
        _ => None,
    }
}

fn matches(pattern: &[&str], parts: &[&str]) -> bool {
    pattern.iter().zip(parts).all(|(p, part)| *p == "*" || p == part)
}

fn object_path(kind: Kind, parts: &[&str]) -> ObjectPath {
    let (id, collection) = parts.split_last().map_or(("", &[][..]), |(id, rest)| (*id, rest));
    ObjectPath {
        kind,
        path: format!("/{}", parts.join("/")),
        collection: format!("/{}", collection.join("/")),
        id: id.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_objects_collections_and_views() {
        let Some(Target::Object(port)) = parse("/infra/segments/s1/ports/p1") else { panic!() };
        assert_eq!(port.kind, Kind::SegmentPort);
        assert_eq!(port.collection, "/infra/segments/s1/ports");
        assert_eq!(port.id, "p1");
        assert_eq!(port.parent_path(), "/infra/segments/s1");
        assert_eq!(
            parse("/infra/segments"),
            Some(Target::Collection { kind: Kind::Segment, collection: "/infra/segments".into() })
        );
        assert!(matches!(
            parse("/infra/lb-services/l/detailed-status"),
            Some(Target::View(_, View::DetailedStatus))
        ));
        assert!(matches!(parse("/infra/tier-1s/t/state"), Some(Target::View(_, View::State))));
        let Some(Target::Object(seg)) = parse("/infra/segments/s1") else { panic!() };
        assert_eq!(seg.parent_path(), "/infra");
    }

    #[test]
    fn refuses_unknown_and_malformed_paths() {
        assert_eq!(parse("/infra/tier-0s/t0"), None);
        assert_eq!(parse("/infra/segments//ports"), None);
        assert_eq!(parse("/infra/lb-pools/p/state"), None);
        assert_eq!(parse_object("/infra/segments"), None);
        assert_eq!(parse_object("/infra/lb-app-profiles/default-tcp-lb-app-profile"), None);
    }
}

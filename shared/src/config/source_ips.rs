//! The optional allow-list of webhook source addresses (`PLAID_WEBHOOK_SOURCE_IPS`).
//!
//! Plaid delivers webhooks from a few published addresses (52.21.26.131, 52.21.47.157,
//! 52.41.247.19 and 52.88.82.239 at the time of writing, "subject to change"). With the list
//! set, the webhook handler compares API Gateway's `requestContext.http.sourceIp` with it before
//! anything else (no token parsing, no key fetch, no Plaid call, no write) and answers anything
//! else 401, the same answer as a bad signature, so a prober learns nothing about which check
//! failed. It is defence in depth: the signature is what proves a delivery is Plaid's, and the
//! list must follow Plaid's published addresses or genuine deliveries are refused (Plaid then
//! retries for 24 hours; reconcile catches up meanwhile). Empty (the default) turns it off.
//!
//! Entries are IPv4 or IPv6 addresses, or CIDR blocks (`52.21.26.0/24`, `2600:1f18::/32`),
//! comma-separated. The list is parsed once, at cold start; an entry that does not parse, a
//! prefix longer than the address, or a block with bits set past its prefix (`52.21.26.131/24`,
//! most likely a typo) is a configuration error that names the variable.

use std::fmt;
use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net};

/// The variable the list is read from.
pub const SOURCE_IPS_VAR: &str = "PLAID_WEBHOOK_SOURCE_IPS";

/// One entry as an `ipnet` block: a bare address is its own /32 or /128, and an IPv4-mapped
/// IPv6 entry is kept as the IPv4 block it is, as `allows` compares mapped sources.
fn parse_block(entry: &str) -> Result<IpNet, String> {
    let net = if entry.contains('/') {
        entry.parse::<IpNet>().map_err(|_| {
            format!("{entry:?} is not a CIDR block (address/prefix, prefix 0-32 or 0-128)")
        })?
    } else {
        let addr: IpAddr = entry
            .parse()
            .map_err(|_| format!("{entry:?} is not an IP address or CIDR block"))?;
        IpNet::from(addr)
    };
    if net.trunc() != net {
        return Err(format!(
            "{entry:?} has address bits set past its /{} prefix",
            net.prefix_len()
        ));
    }
    Ok(canonical(net))
}

fn canonical(net: IpNet) -> IpNet {
    match (net, net.addr().to_canonical()) {
        (IpNet::V6(v6), IpAddr::V4(v4)) if v6.prefix_len() >= 96 => {
            Ipv4Net::new(v4, v6.prefix_len() - 96).map_or(net, IpNet::V4)
        }
        _ => net,
    }
}

/// Addresses webhooks may come from; empty means any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceAllowList {
    blocks: Vec<IpNet>,
}

impl SourceAllowList {
    /// Parses a comma-separated list; blanks around entries are ignored, and an empty list
    /// (or an absent variable) turns the check off.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let blocks = raw
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(parse_block)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SourceAllowList { blocks })
    }

    /// True when the list is in force.
    pub fn is_enabled(&self) -> bool {
        !self.blocks.is_empty()
    }

    /// May a webhook come from `source` (API Gateway's `sourceIp`)? Always true when the list
    /// is off. With it on, a missing or unparsable address is refused. An IPv4-mapped IPv6
    /// address (`::ffff:52.21.26.131`) is compared as the IPv4 address it is.
    pub fn allows(&self, source: Option<&str>) -> bool {
        if !self.is_enabled() {
            return true;
        }
        let Some(ip) = source.and_then(|s| s.trim().parse::<IpAddr>().ok()) else {
            return false;
        };
        let ip = ip.to_canonical();
        self.blocks.iter().any(|b| b.contains(&ip))
    }
}

impl fmt::Display for SourceAllowList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.blocks.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{b}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAID: &str = "52.21.26.131, 52.21.47.157, 52.41.247.19, 52.88.82.239";

    #[test]
    fn empty_is_off_and_allows_anything() {
        for raw in ["", " ", ",", " , "] {
            let list = SourceAllowList::parse(raw).unwrap();
            assert!(!list.is_enabled());
            assert!(list.allows(Some("192.0.2.10")));
            assert!(list.allows(None));
        }
    }

    #[test]
    fn plaids_addresses_and_nothing_else() {
        let list = SourceAllowList::parse(PLAID).unwrap();
        assert!(list.is_enabled());
        for ok in [
            "52.21.26.131",
            "52.88.82.239",
            "::ffff:52.41.247.19",
            " 52.21.47.157 ",
        ] {
            assert!(list.allows(Some(ok)), "{ok}");
        }
        for no in [
            "52.21.26.130",
            "52.21.26.132",
            "192.0.2.10",
            "::ffff:192.0.2.10",
            "2001:db8::1",
            "::",
            "0.0.0.0",
            "",
            "52.21.26.131:443",
            "not an ip",
        ] {
            assert!(!list.allows(Some(no)), "{no}");
        }
        assert!(!list.allows(None), "no source address while the list is on");
    }

    #[test]
    fn cidr_blocks_of_both_families() {
        let list = SourceAllowList::parse("52.21.26.0/24, 2600:1f18::/32, 10.0.0.0/8").unwrap();
        assert!(list.allows(Some("52.21.26.1")));
        assert!(list.allows(Some("52.21.26.255")));
        assert!(!list.allows(Some("52.21.27.0")));
        assert!(list.allows(Some("2600:1f18:abcd::1")));
        assert!(!list.allows(Some("2600:1f19::1")));
        assert!(list.allows(Some("10.255.0.1")));
        // An IPv4 block never matches an IPv6 address outside the mapped range.
        assert!(!list.allows(Some("::34.21.26.1")));
        let everything = SourceAllowList::parse("0.0.0.0/0").unwrap();
        assert!(everything.allows(Some("203.0.113.9")));
        assert!(!everything.allows(Some("2001:db8::1")));
        assert_eq!(list.to_string(), "52.21.26.0/24,2600:1f18::/32,10.0.0.0/8");
    }

    #[test]
    fn ipv4_mapped_blocks_are_the_ipv4_blocks_they_name() {
        let list = SourceAllowList::parse("::ffff:52.21.26.0/120").unwrap();
        assert!(list.allows(Some("52.21.26.9")));
        assert!(list.allows(Some("::ffff:52.21.26.200")));
        assert!(!list.allows(Some("52.21.27.9")));
        assert_eq!(list.to_string(), "52.21.26.0/24");
    }

    #[test]
    fn bad_entries_are_refused_with_the_entry_named() {
        for bad in [
            "52.21.26.300",
            "52.21.26.0/33",
            "2600:1f18::/129",
            "52.21.26.131/24",
            "52.21.26.0/+24",
            "52.21.26.0/",
            "/8",
            "plaid.com",
            "52.21.26.131;52.21.47.157",
            "*",
            "52.21.26.131 52.21.47.157",
        ] {
            let err = SourceAllowList::parse(&format!("52.88.82.239,{bad}")).expect_err(bad);
            assert!(err.contains(bad.trim()), "{bad}: {err}");
        }
    }
}

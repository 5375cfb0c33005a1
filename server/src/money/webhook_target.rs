//! Where a user's webhook may point: the public internet only. Its host is resolved once, every address must be
//! public (not loopback, private, link-local, multicast, carrier-grade NAT or a cloud's metadata service), and
//! the delivery then connects to exactly that address, with no redirects: a webhook cannot be used to reach the
//! coordinator's own machine or network. An operator may allow named hosts (a receiver on the LAN, tests).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use url::Url;

/// Why a webhook target was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("{0:?} is not an http:// or https:// URL with a host")]
    NotHttp(String),
    #[error("the webhook's host {host} could not be resolved: {why}")]
    Unresolved { host: String, why: String },
    #[error(
        "the webhook's host {host} resolves to {address}, which is not a public internet address: webhooks must \
         reach the public internet (an operator can allow the host with ledger.webhook_allowed_hosts)"
    )]
    NotPublic { host: String, address: IpAddr },
}

/// A checked target: the URL and the one address deliveries connect to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub url: Url,
    pub host: String,
    pub address: SocketAddr,
}

/// Resolves `url`'s host and checks every address it has (or allows the host by name).
pub async fn check(url: &str, allowed_hosts: &[String]) -> Result<Target, TargetError> {
    let parsed = Url::parse(url).map_err(|_| TargetError::NotHttp(url.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(TargetError::NotHttp(url.to_string()));
    }
    let (Some(host), Some(port)) = (parsed.host_str(), parsed.port_or_known_default()) else {
        return Err(TargetError::NotHttp(url.to_string()));
    };
    let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
    let unresolved = |why: String| TargetError::Unresolved { host: host.clone(), why };
    let addresses: Vec<SocketAddr> =
        tokio::net::lookup_host((host.as_str(), port)).await.map_err(|error| unresolved(error.to_string()))?.collect();
    let Some(first) = addresses.first().copied() else { return Err(unresolved("no address".into())) };
    let allowed = allowed_hosts.iter().any(|allowed| allowed.eq_ignore_ascii_case(&host));
    if !allowed {
        // Every address, not just the first: a name with one public and one private address is refused.
        if let Some(private) = addresses.iter().find(|address| !is_public(address.ip())) {
            return Err(TargetError::NotPublic { host, address: private.ip() });
        }
    }
    Ok(Target { url: parsed, host, address: first })
}

/// Whether `ip` is an address on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // 169.254.0.0/16, cloud metadata (169.254.169.254) included
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT, 100.64.0.0/10
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments, 192.0.0.0/24
        || (a == 198 && (18..20).contains(&b)) // benchmarking, 198.18.0.0/15
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local, fc00::/7 (cloud metadata's fd00:ec2::254 included)
        || (first & 0xffc0) == 0xfe80 // link-local, fe80::/10
        || first == 0x2001 && ip.segments()[1] == 0x0db8) // documentation
}

/// An HTTP client that connects to the checked address only, never follows redirects and ignores proxies.
pub fn client_for(target: &Target) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .resolve(&target.host, target.address)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00:ec2::254",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public(private.parse().expect("an address")), "{private}");
        }
        for public in ["1.1.1.1", "93.184.216.34", "2606:4700:4700::1111", "::ffff:8.8.8.8"] {
            assert!(is_public(public.parse().expect("an address")), "{public}");
        }
    }

    #[tokio::test]
    async fn loopback_and_metadata_targets_are_refused_unless_allowed_by_name() {
        for url in
            ["http://127.0.0.1:9/hook", "http://localhost/hook", "http://169.254.169.254/latest", "http://[::1]/"]
        {
            let refused = check(url, &[]).await.expect_err(url);
            assert!(matches!(refused, TargetError::NotPublic { .. }), "{url}: {refused}");
            assert!(refused.to_string().contains("public internet"), "{refused}");
        }
        let allowed = check("http://127.0.0.1:9/hook", &["127.0.0.1".to_string()]).await.expect("allowed by name");
        assert_eq!(allowed.address, "127.0.0.1:9".parse().expect("address"));
        assert!(matches!(check("ftp://example.com/", &[]).await, Err(TargetError::NotHttp(_))));
        assert!(matches!(check("http://no-such-host.invalid/", &[]).await, Err(TargetError::Unresolved { .. })));
    }
}

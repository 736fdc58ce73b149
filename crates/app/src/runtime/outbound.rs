//! The HTTP client callbacks leave through. It never follows a redirect
//! (a 3xx is a failed delivery, as with WeChat), and in live mode it never
//! connects to loopback, private, link-local or otherwise non-public
//! addresses: `notify_url`s are chosen by merchants and providers, and a
//! payment platform must not become their way into its own network.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use crate::{Internal, Mode};

/// How long a callback may take to connect and to answer; WeChat's own
/// sender gives up after about five seconds.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The user agent WeChat's callbacks carry.
const USER_AGENT: &str = "Mozilla/4.0";

/// Why a callback was not sent at all.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("notify_url is not a valid http(s) URL")]
    BadUrl,
    #[error("notify_url resolves to a non-public address {0}; live mode sends callbacks to public addresses only")]
    PrivateAddress(IpAddr),
}

/// The outbound client and the address policy of the mode.
#[derive(Debug, Clone)]
pub struct Outbound {
    client: reqwest::Client,
    public_only: bool,
}

impl Outbound {
    pub fn new(mode: Mode) -> Result<Outbound, Internal> {
        let public_only = mode == Mode::Live;
        // No proxy from the environment (`HTTPS_PROXY` …): a proxy would
        // resolve the merchant's host itself, past the address check.
        let mut builder = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(USER_AGENT);
        if public_only {
            builder = builder.dns_resolver(Arc::new(PublicOnlyResolver));
        }
        let client = builder.build().map_err(|e| Internal::bug(format!("building the callback client: {e}")))?;
        Ok(Outbound { client, public_only })
    }

    /// A POST to `url`, or why it may not be sent. Host names are checked
    /// again when they resolve (so a name that points inside is refused
    /// too, whatever it pointed to a moment ago).
    pub fn post(&self, url: &str) -> Result<reqwest::RequestBuilder, Refused> {
        Ok(self.client.post(self.checked(url)?))
    }

    /// A GET to `url` under the same policy (the account server's URL
    /// verification).
    pub fn get(&self, url: &str) -> Result<reqwest::RequestBuilder, Refused> {
        Ok(self.client.get(self.checked(url)?))
    }

    fn checked(&self, url: &str) -> Result<reqwest::Url, Refused> {
        let parsed = reqwest::Url::parse(url).map_err(|_| Refused::BadUrl)?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Refused::BadUrl);
        }
        if self.public_only {
            let ip = match parsed.host() {
                Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
                Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
                Some(url::Host::Domain(_)) => None,
                None => return Err(Refused::BadUrl),
            };
            if let Some(ip) = ip.filter(|ip| !is_public(*ip)) {
                return Err(Refused::PrivateAddress(ip));
            }
        }
        Ok(parsed)
    }
}

/// Resolves with the system resolver and keeps public addresses only.
struct PublicOnlyResolver;

impl reqwest::dns::Resolve for PublicOnlyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = all.iter().copied().filter(|a| is_public(a.ip())).collect();
            if public.is_empty() {
                let first = all.first().map(SocketAddr::ip).unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
                return Err(Box::new(Refused::PrivateAddress(first)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Whether an address is on the public internet: not loopback, private
/// (RFC 1918, ULA, site-local), link-local, shared (CGNAT), documentation,
/// benchmarking, multicast, broadcast or unspecified. IPv6 forms that carry
/// an IPv4 address (mapped, compatible, NAT64 `64:ff9b::/96`, 6to4
/// `2002::/16`) are judged by the IPv4 address they carry.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

/// The IPv4 address an IPv6 address stands for, if it is one of the forms
/// that carry one.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let o = ip.octets();
    let tail = |a: usize| Some(Ipv4Addr::new(*o.get(a)?, *o.get(a + 1)?, *o.get(a + 2)?, *o.get(a + 3)?));
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] => tail(12),
        // IPv4-compatible (deprecated), but not `::` and `::1`.
        [0, 0, 0, 0, 0, 0, hi, _] if hi != 0 => tail(12),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => tail(12),
        [0x2002, _, _, _, _, _, _, _] => tail(2),
        _ => None,
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments().first().copied().unwrap_or(0);
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || (first & 0xffc0) == 0xfec0
        || first == 0x2001 && ip.segments().get(1).copied() == Some(0x0db8))
}

/// An error and its sources, `: `-separated (reqwest hides the useful part
/// of a connection error in its sources).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

/// `url` with `pairs` appended to its query, form-encoded.
pub fn with_query(url: &str, pairs: &[(&str, &str)]) -> String {
    let query: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{query}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_addresses_are_not_public() {
        for a in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "198.18.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "2001:db8::1",
            "::10.0.0.1",
            "64:ff9b::7f00:1",
            "fec0::1",
            "2002:c0a8:0101::1",
        ] {
            let ip: IpAddr = a.parse().unwrap_or_else(|e| panic!("{a}: {e}"));
            assert!(!is_public(ip), "{a} should not be public");
        }
        for a in [
            "8.8.8.8",
            "1.1.1.1",
            "203.0.114.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            let ip: IpAddr = a.parse().unwrap_or_else(|e| panic!("{a}: {e}"));
            assert!(is_public(ip), "{a} should be public");
        }
    }

    #[tokio::test]
    async fn live_mode_refuses_private_literals_and_sandbox_allows_them() {
        let live = Outbound::new(Mode::Live).unwrap();
        assert!(matches!(live.post("http://127.0.0.1:9/notify"), Err(Refused::PrivateAddress(_))));
        assert!(matches!(live.post("https://[::1]/n"), Err(Refused::PrivateAddress(_))));
        assert!(matches!(live.post("ftp://example.com/"), Err(Refused::BadUrl)));
        assert!(live.post("https://example.com/notify").is_ok());
        let sandbox = Outbound::new(Mode::Sandbox).unwrap();
        assert!(sandbox.post("http://127.0.0.1:9/notify").is_ok());
    }

    #[tokio::test]
    async fn live_mode_refuses_names_that_resolve_inside() {
        let live = Outbound::new(Mode::Live).unwrap();
        let req = live.post("http://localhost:9/notify").unwrap();
        let err = req.send().await.err().map(|e| super::error_chain(&e)).unwrap_or_default();
        assert!(err.contains("non-public address"), "{err}");
    }
}

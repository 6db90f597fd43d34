//! A check over HTTP(S) in git's protocol v2: one `ls-refs` request that asks only for the refs
//! a revision can name (`ref-prefix`), instead of the whole ref advertisement that libgit2 —
//! which speaks protocol v0/v1 only — downloads for every check. On a repository with thousands
//! of tags or pull-request refs, that is the difference between a few hundred bytes and hundreds
//! of kilobytes per poll.
//!
//! The request and the reply are pure ([`request_body`], [`parse_reply`]); [`list`] sends one
//! POST to `<url>/git-upload-pack` with `Git-Protocol: version=2` and the caller's credentials.
//! Whatever does not come back as a well-formed v2 reply (a server without v2, a redirect, an
//! authentication challenge, a certificate the bundled roots do not know) is `None`, and the
//! caller falls back to libgit2's listing, which reports errors as before.

use std::collections::BTreeSet;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::credentials::Credentials;
use crate::pkt::{self, Packet};

/// How an agent is configured.
type AgentConfig = ureq::config::ConfigBuilder<ureq::typestate::AgentScope>;
use crate::revision::Advertisement;
use crate::url::RepoUrl;

/// The user agent of a listing: a git client's, naming Capstan's listing (server logs tell it
/// from a fetch).
pub const USER_AGENT: &str = "git/2.0 (capstan ls-refs)";

/// How long the whole request may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The body of an `ls-refs` request for the refs under `prefixes`, with symbolic-ref targets
/// and peeled tags.
pub fn request_body(prefixes: &[String]) -> Vec<u8> {
    let mut body = Vec::new();
    pkt::write(&mut body, "command=ls-refs\n");
    pkt::write(
        &mut body,
        concat!("agent=capstan/", env!("CARGO_PKG_VERSION"), "\n"),
    );
    body.extend_from_slice(b"0001");
    pkt::write(&mut body, "peel\n");
    pkt::write(&mut body, "symrefs\n");
    for prefix in prefixes {
        pkt::write(&mut body, &format!("ref-prefix {prefix}\n"));
    }
    body.extend_from_slice(b"0000");
    body
}

/// The refs of an `ls-refs` reply, in the shape of a ref advertisement (a peeled tag as
/// `refs/tags/x^{}`); `None` when the reply is not a well-formed v2 `ls-refs` reply.
pub fn parse_reply(reply: &[u8]) -> Option<Advertisement> {
    let mut adv = Advertisement::default();
    let mut rest = reply;
    loop {
        let data = match pkt::read(&mut rest).ok()? {
            // The flush that ends the list: nothing may follow.
            Packet::Flush => return rest.is_empty().then_some(adv),
            Packet::Delimiter => return None,
            Packet::Data(data) => data,
        };
        let line = std::str::from_utf8(&data).ok()?;
        let line = line.strip_suffix('\n').unwrap_or(line);
        let mut words = line.split(' ');
        let (oid, name) = (words.next()?, words.next()?);
        // A ref name has no control characters (a v0 advertisement's first line carries its
        // capabilities after a NUL).
        if !is_oid(oid) || name.is_empty() || name.bytes().any(|b| b < b' ' || b == 0x7f) {
            return None;
        }
        adv.refs.push((name.to_owned(), oid.to_owned()));
        for attribute in words {
            if let Some(target) = attribute.strip_prefix("symref-target:") {
                if name == "HEAD" {
                    // The branch HEAD names points where HEAD does: listed too, as only `HEAD`
                    // was asked for.
                    adv.head_target = Some(target.to_owned());
                    adv.refs.push((target.to_owned(), oid.to_owned()));
                }
            } else if let Some(peeled) = attribute.strip_prefix("peeled:") {
                is_oid(peeled).then_some(())?;
                adv.refs.push((format!("{name}^{{}}"), peeled.to_owned()));
            }
        }
    }
}

fn is_oid(text: &str) -> bool {
    matches!(text.len(), 40 | 64) && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Repositories (by cache key) whose server answered an `ls-refs` request with something else
/// than a v2 reply: they are not asked again in this process.
static WITHOUT_V2: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

fn without_v2(url: &RepoUrl) -> bool {
    let known = WITHOUT_V2.lock().unwrap_or_else(PoisonError::into_inner);
    known.contains(&url.cache_key())
}

fn remember_without_v2(url: &RepoUrl) {
    let mut known = WITHOUT_V2.lock().unwrap_or_else(PoisonError::into_inner);
    known.insert(url.cache_key());
}

/// Lists the refs of `url` under `prefixes` with one v2 `ls-refs` request; `None` when the
/// server did not answer in protocol v2 (or anything else went wrong): fall back to libgit2.
/// A server that answers, but not in v2, is not asked again.
/// The request takes at most `timeout` (and never more than 30 s), so that a server that does
/// not answer holds no thread past the operation's own timeout.
pub fn list(
    url: &RepoUrl,
    creds: &Credentials,
    prefixes: &[String],
    timeout: Duration,
) -> Option<Advertisement> {
    if !matches!(url.scheme(), "http" | "https") || without_v2(url) {
        return None;
    }
    let agent = agent(creds, timeout.min(TIMEOUT))?;
    let mut response = match post(&agent, url, creds, USER_AGENT, &request_body(prefixes)) {
        Ok(response) => response,
        Err(error) => {
            // ureq's error names the URL, never a header: no credential can appear.
            tracing::debug!(url = %url.to_git_url(), %error, "no protocol v2 listing");
            return None;
        }
    };
    let kind = content_type(&response).to_owned();
    let status = response.status().as_u16();
    if status != 200 || kind != "application/x-git-upload-pack-result" {
        tracing::debug!(url = %url.to_git_url(), status, kind, "no protocol v2 listing");
        // Credentials refused, a redirect, an overloaded server: libgit2 says why; it may work
        // next time. Anything else: this server does not take v2 requests.
        if !matches!(status, 300..=399 | 401 | 403 | 407 | 408 | 429 | 502..=504) {
            remember_without_v2(url);
        }
        return None;
    }
    let reply = response
        .body_mut()
        .with_config()
        .limit(16 * 1024 * 1024)
        .read_to_vec()
        .ok()?;
    let parsed = parse_reply(&reply);
    if parsed.is_none() {
        tracing::debug!(url = %url.to_git_url(), "the reply is not a protocol v2 listing");
        remember_without_v2(url);
    }
    parsed
}

/// One protocol v2 request to `url`'s `git-upload-pack`, with the caller's credentials; Git
/// hosts serve smart HTTP to git's user agents, and `user_agent` says what Capstan asks too.
pub(crate) fn post(
    agent: &ureq::Agent,
    url: &RepoUrl,
    creds: &Credentials,
    user_agent: &str,
    body: &[u8],
) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
    let endpoint = format!("{}/git-upload-pack", url.to_git_url().trim_end_matches('/'));
    let mut request = agent
        .post(&endpoint)
        .header("Git-Protocol", "version=2")
        .header("User-Agent", user_agent)
        .header("Content-Type", "application/x-git-upload-pack-request")
        .header("Accept", "application/x-git-upload-pack-result");
    if let Some(authorization) = authorization(creds) {
        request = request.header("Authorization", &authorization);
    }
    request.send(body)
}

/// A response's content type (a v2 reply's is `application/x-git-upload-pack-result`).
pub(crate) fn content_type(response: &ureq::http::Response<ureq::Body>) -> &str {
    response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// An agent for one request: no redirects (a redirect goes back to libgit2, which knows which
/// ones to follow), statuses as responses, the caller's CA when it brings one.
fn agent(creds: &Credentials, timeout: Duration) -> Option<ureq::Agent> {
    agent_with(creds, |config| config.timeout_global(Some(timeout)))
}

/// An agent as [`agent`] makes it, with `adjust` applied to its configuration.
pub(crate) fn agent_with(
    creds: &Credentials,
    adjust: impl FnOnce(AgentConfig) -> AgentConfig,
) -> Option<ureq::Agent> {
    let mut tls = ureq::tls::TlsConfig::builder();
    if let Some(pem) = &creds.ca_cert {
        let certs: Vec<ureq::tls::Certificate<'static>> = ureq::tls::parse_pem(pem)
            .filter_map(|item| match item {
                Ok(ureq::tls::PemItem::Certificate(cert)) => Some(cert),
                _ => None,
            })
            .collect();
        if certs.is_empty() {
            return None;
        }
        tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&certs));
    }
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(TIMEOUT))
        .tls_config(tls.build());
    let config = adjust(config).build();
    Some(config.into())
}

/// The `Authorization` header the credentials make: Basic, or Bearer.
fn authorization(creds: &Credentials) -> Option<String> {
    use base64::Engine;
    match (&creds.basic, &creds.bearer_token) {
        (Some((user, password)), _) => {
            let pair = format!("{user}:{password}");
            let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
            Some(format!("Basic {encoded}"))
        }
        (None, Some(token)) => Some(format!("Bearer {token}")),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "1111111111111111111111111111111111111111";
    const B: &str = "2222222222222222222222222222222222222222";

    fn reply(lines: &[&str]) -> Vec<u8> {
        let mut out = Vec::new();
        for line in lines {
            pkt::write(&mut out, line);
        }
        out.extend_from_slice(b"0000");
        out
    }

    /// Regression: the listing waited 30 s on a server that never answered, whatever the
    /// operation's timeout, holding a blocking thread (and a runtime's shutdown) that long.
    #[test]
    fn a_server_that_never_answers_is_given_up_on_after_the_timeout() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let held = std::thread::spawn(move || listener.accept());
        let url = RepoUrl::parse(&format!("http://127.0.0.1:{port}/silent.git")).expect("url");
        let started = std::time::Instant::now();
        let listed = list(&url, &Credentials::none(), &[], Duration::from_millis(300));
        assert!(listed.is_none());
        let took = started.elapsed();
        assert!(took < Duration::from_secs(10), "gave up after {took:?}");
        drop(held);
    }

    #[test]
    fn the_request_asks_for_ls_refs_under_each_prefix() {
        let body = request_body(&["refs/heads/main".into(), "HEAD".into()]);
        let text = String::from_utf8(body).expect("ascii");
        assert!(text.starts_with("0014command=ls-refs\n"), "{text}");
        assert!(text.contains("00010009peel\n000csymrefs\n"), "{text}");
        assert!(text.contains("001fref-prefix refs/heads/main\n"), "{text}");
        assert!(text.ends_with("0014ref-prefix HEAD\n0000"), "{text}");
    }

    #[test]
    fn a_reply_becomes_an_advertisement_with_head_and_peeled_tags() {
        let head = format!("{A} HEAD symref-target:refs/heads/main\n");
        let main = format!("{A} refs/heads/main\n");
        let tag = format!("{B} refs/tags/v1 peeled:{A}\n");
        let adv = parse_reply(&reply(&[&head, &main, &tag])).expect("a v2 reply");
        assert_eq!(adv.head_target.as_deref(), Some("refs/heads/main"));
        let names: Vec<&str> = adv.refs.iter().map(|(n, _)| n.as_str()).collect();
        let expected = [
            "HEAD",
            "refs/heads/main",
            "refs/heads/main",
            "refs/tags/v1",
            "refs/tags/v1^{}",
        ];
        assert_eq!(names, expected);
        assert_eq!(adv.refs[4].1, A);
    }

    #[test]
    fn head_alone_names_its_branch_at_heads_commit() {
        let head = format!("{A} HEAD symref-target:refs/heads/trunk\n");
        let adv = parse_reply(&reply(&[&head])).expect("a v2 reply");
        let wanted = crate::revision::resolve("HEAD", &adv).expect("HEAD resolves");
        assert_eq!(
            wanted,
            crate::revision::Wanted::Ref {
                name: "refs/heads/trunk".into(),
                oid: A.into()
            }
        );
    }

    #[test]
    fn an_empty_list_is_an_empty_advertisement() {
        assert_eq!(parse_reply(b"0000"), Some(Advertisement::default()));
    }

    #[test]
    fn anything_but_a_well_formed_v2_reply_is_refused() {
        let v0 = format!("{A} HEAD\0multi_ack thin-pack side-band\n");
        let cases: Vec<Vec<u8>> = vec![
            Vec::new(),
            b"00".to_vec(),
            b"zzzz".to_vec(),
            reply(&["ERR upload-pack: not our ref\n"]),
            reply(&[&v0]),
            reply(&["deadbeef refs/heads/main\n"]),
            reply(&[&format!("{A} \n")]),
            reply(&[&format!("{A} refs/tags/v1 peeled:nope\n")]),
            [
                reply(&[&format!("{A} refs/heads/main\n")]),
                b"0000".to_vec(),
            ]
            .concat(),
            b"0000".iter().chain(b"0009peel\n").copied().collect(),
            b"0020short".to_vec(),
        ];
        for case in cases {
            assert_eq!(
                parse_reply(&case),
                None,
                "{:?}",
                String::from_utf8_lossy(&case)
            );
        }
    }
}

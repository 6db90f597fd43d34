//! SSH host-key verification against the known_hosts text a user supplied: plain and hashed
//! (`|1|salt|hmac`) host patterns, `[host]:port`, wildcards `*` `?`, negation `!`, and `@revoked`.
//! An unknown host or a key that differs is refused: there is no trust on first use.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

/// The outcome of checking a server's host key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKeyCheck {
    /// A known_hosts entry for this host lists exactly this key.
    Trusted,
    /// No entry names this host.
    UnknownHost,
    /// Entries name this host, with other keys: the key changed, or someone is in the middle.
    Mismatch,
    /// The key is marked `@revoked`.
    Revoked,
}

/// One usable known_hosts line.
#[derive(Debug)]
struct Entry {
    revoked: bool,
    patterns: Vec<String>,
    key: Vec<u8>,
}

/// Parsed known_hosts text.
#[derive(Debug, Default)]
pub struct KnownHosts {
    entries: Vec<Entry>,
}

impl KnownHosts {
    /// Parses known_hosts text. Comments, blank lines, `@cert-authority` lines and lines that do
    /// not parse are skipped (OpenSSH skips them too).
    pub fn parse(text: &str) -> Self {
        let entries = text.lines().filter_map(parse_line).collect();
        Self { entries }
    }

    /// How many entries were understood.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no entry was understood.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Checks `key` (SSH wire format, as libgit2 reports it) for `host` on `port`. For a port other
    /// than 22 the name looked up is `[host]:port`, and — as OpenSSH does — the bare host name when
    /// no entry names `[host]:port`.
    pub fn check(&self, host: &str, port: u16, key: &[u8]) -> HostKeyCheck {
        let host = host.to_ascii_lowercase();
        let names = if port == 22 {
            vec![host.clone()]
        } else {
            vec![format!("[{host}]:{port}"), host]
        };
        for name in names {
            let matching: Vec<&Entry> = self
                .entries
                .iter()
                .filter(|e| matches_host(&e.patterns, &name))
                .collect();
            if matching.iter().any(|e| e.revoked && e.key == key) {
                return HostKeyCheck::Revoked;
            }
            let known: Vec<&&Entry> = matching.iter().filter(|e| !e.revoked).collect();
            if known.is_empty() {
                continue;
            }
            return if known.iter().any(|e| e.key == key) {
                HostKeyCheck::Trusted
            } else {
                HostKeyCheck::Mismatch
            };
        }
        HostKeyCheck::UnknownHost
    }
}

fn parse_line(line: &str) -> Option<Entry> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let mut fields = line.split_whitespace();
    let mut first = fields.next()?;
    let mut revoked = false;
    if first.starts_with('@') {
        match first {
            "@revoked" => revoked = true,
            _ => return None, // @cert-authority: host certificates are not supported
        }
        first = fields.next()?;
    }
    let _key_type = fields.next()?;
    let key = STANDARD.decode(fields.next()?).ok()?;
    let patterns = first
        .split(',')
        .map(|p| {
            if p.starts_with("|1|") {
                p.to_owned()
            } else {
                p.to_ascii_lowercase()
            }
        })
        .collect();
    Some(Entry {
        revoked,
        patterns,
        key,
    })
}

/// Whether a comma-separated pattern list names `name`: some positive pattern matches and no
/// negated one does.
fn matches_host(patterns: &[String], name: &str) -> bool {
    let mut matched = false;
    for pattern in patterns {
        if let Some(negated) = pattern.strip_prefix('!') {
            if wildcard(negated, name) {
                return false;
            }
        } else if let Some(hashed) = pattern.strip_prefix("|1|") {
            matched |= hashed_matches(hashed, name);
        } else {
            matched |= wildcard(pattern, name);
        }
    }
    matched
}

/// `|1|base64(salt)|base64(HMAC-SHA1(salt, name))`.
fn hashed_matches(hashed: &str, name: &str) -> bool {
    let Some((salt, digest)) = hashed.split_once('|') else {
        return false;
    };
    let (Ok(salt), Ok(digest)) = (STANDARD.decode(salt), STANDARD.decode(digest)) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(&salt) else {
        return false;
    };
    mac.update(name.as_bytes());
    mac.verify_slice(&digest).is_ok()
}

/// Glob matching with `*` (any run) and `?` (one character).
fn wildcard(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use hmac::{Hmac, KeyInit, Mac};
    use sha1::Sha1;

    use super::{HostKeyCheck, KnownHosts, wildcard};

    const KEY_A: &[u8] =
        b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const KEY_B: &[u8] =
        b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn line(patterns: &str, key: &[u8]) -> String {
        format!("{patterns} ssh-ed25519 {}", STANDARD.encode(key))
    }

    fn hashed(name: &str) -> String {
        let salt = b"0123456789abcdefghij";
        let mut mac = Hmac::<Sha1>::new_from_slice(salt).unwrap();
        mac.update(name.as_bytes());
        format!(
            "|1|{}|{}",
            STANDARD.encode(salt),
            STANDARD.encode(mac.finalize().into_bytes())
        )
    }

    type Case<'a> = (&'a str, String, &'a str, u16, &'a [u8], HostKeyCheck);

    fn check(text: &str, host: &str, port: u16, key: &[u8]) -> HostKeyCheck {
        KnownHosts::parse(text).check(host, port, key)
    }

    #[test]
    fn host_key_checks_follow_openssh() {
        use HostKeyCheck::*;
        let cases: Vec<Case<'_>> = vec![
            (
                "plain host, same key",
                line("github.com", KEY_A),
                "github.com",
                22,
                KEY_A,
                Trusted,
            ),
            (
                "plain host, other key",
                line("github.com", KEY_A),
                "github.com",
                22,
                KEY_B,
                Mismatch,
            ),
            (
                "no entry for host",
                line("gitlab.com", KEY_A),
                "github.com",
                22,
                KEY_A,
                UnknownHost,
            ),
            (
                "host names are case-insensitive",
                line("GitHub.com", KEY_A),
                "github.COM",
                22,
                KEY_A,
                Trusted,
            ),
            (
                "port entry",
                line("[127.0.0.1]:2222", KEY_A),
                "127.0.0.1",
                2222,
                KEY_A,
                Trusted,
            ),
            (
                "port entry, other port",
                line("[127.0.0.1]:2222", KEY_A),
                "127.0.0.1",
                2223,
                KEY_A,
                UnknownHost,
            ),
            (
                "bare host covers other ports",
                line("127.0.0.1", KEY_A),
                "127.0.0.1",
                2222,
                KEY_A,
                Trusted,
            ),
            (
                "port entry wins over bare host",
                format!("{}\n{}", line("[h]:2222", KEY_B), line("h", KEY_A)),
                "h",
                2222,
                KEY_A,
                Mismatch,
            ),
            (
                "hashed host",
                line(&hashed("github.com"), KEY_A),
                "github.com",
                22,
                KEY_A,
                Trusted,
            ),
            (
                "hashed port entry",
                line(&hashed("[127.0.0.1]:2222"), KEY_A),
                "127.0.0.1",
                2222,
                KEY_A,
                Trusted,
            ),
            (
                "hashed other key",
                line(&hashed("github.com"), KEY_B),
                "github.com",
                22,
                KEY_A,
                Mismatch,
            ),
            (
                "hashed other host",
                line(&hashed("gitlab.com"), KEY_A),
                "github.com",
                22,
                KEY_A,
                UnknownHost,
            ),
            (
                "pattern list",
                line("a.example,b.example", KEY_A),
                "b.example",
                22,
                KEY_A,
                Trusted,
            ),
            (
                "wildcard",
                line("*.example.com", KEY_A),
                "git.example.com",
                22,
                KEY_A,
                Trusted,
            ),
            (
                "negation wins",
                line("*.example.com,!evil.example.com", KEY_A),
                "evil.example.com",
                22,
                KEY_A,
                UnknownHost,
            ),
            (
                "revoked key",
                format!("@revoked {}\n{}", line("*", KEY_A), line("h", KEY_A)),
                "h",
                22,
                KEY_A,
                Revoked,
            ),
            (
                "one of several keys",
                format!("{}\n{}", line("h", KEY_B), line("h", KEY_A)),
                "h",
                22,
                KEY_A,
                Trusted,
            ),
            (
                "comments and junk are skipped",
                format!("# c\n\nnot a line\n{}", line("h", KEY_A)),
                "h",
                22,
                KEY_A,
                Trusted,
            ),
            (
                "cert-authority is not a host key",
                format!("@cert-authority {}", line("h", KEY_A)),
                "h",
                22,
                KEY_A,
                UnknownHost,
            ),
            (
                "empty known_hosts",
                String::new(),
                "h",
                22,
                KEY_A,
                UnknownHost,
            ),
        ];
        for (name, text, host, port, key, expected) in cases {
            assert_eq!(check(&text, host, port, key), expected, "{name}");
        }
    }

    #[test]
    fn wildcards_match_like_openssh_globs() {
        assert!(wildcard("*", "anything"));
        assert!(wildcard("git?.example", "git1.example"));
        assert!(!wildcard("git?.example", "git12.example"));
        assert!(wildcard("*.a.*", "x.a.y"));
        assert!(!wildcard("a*b", "ac"));
        assert!(wildcard("[127.0.0.*]:22*", "[127.0.0.5]:2222"));
    }
}

//! Repository URLs: parsing (`https://`, `http://`, `ssh://`, `git://`, `file://` and scp-like
//! `user@host:path`), the normalized form that keys the fetch cache, and a display form that never
//! carries a credential.

use crate::Error;

/// A parsed repository URL, without any password or token it may have carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoUrl {
    scheme: String,
    user: Option<String>,
    host: String,
    port: Option<u16>,
    path: String,
}

impl RepoUrl {
    /// Parses `text`. A password in the URL is dropped (pass credentials as data instead).
    pub fn parse(text: &str) -> Result<Self, Error> {
        let invalid = |why: &str| Error::InvalidUrl {
            url: redact(text),
            reason: why.to_owned(),
        };
        let text = text.trim();
        if text.is_empty() {
            return Err(invalid("empty"));
        }
        if !text.contains("://") {
            return scp_like(text).ok_or_else(|| invalid("neither a URL nor user@host:path"));
        }
        let parsed = url::Url::parse(text).map_err(|e| invalid(&e.to_string()))?;
        let scheme = parsed.scheme().to_ascii_lowercase();
        if !matches!(scheme.as_str(), "https" | "http" | "ssh" | "git" | "file") {
            return Err(invalid(&format!("unsupported scheme {scheme:?}")));
        }
        let host = parsed.host_str().unwrap_or_default().to_ascii_lowercase();
        if host.is_empty() && scheme != "file" {
            return Err(invalid("no host"));
        }
        let user = Some(parsed.username())
            .filter(|u| !u.is_empty())
            .map(str::to_owned);
        Ok(Self {
            scheme,
            user,
            host,
            port: parsed.port(),
            path: parsed.path().to_owned(),
        })
    }

    /// The scheme, lowercase: `https`, `http`, `ssh`, `git` or `file`.
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// The host, lowercase.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port given in the URL, if any.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The user name given in the URL (`git` in `ssh://git@host/…`), if any.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// Whether this is an SSH URL.
    pub fn is_ssh(&self) -> bool {
        self.scheme == "ssh"
    }

    /// The URL handed to libgit2: the original form without any password.
    pub fn to_git_url(&self) -> String {
        let user = self
            .user
            .as_ref()
            .map(|u| format!("{u}@"))
            .unwrap_or_default();
        let port = self.port.map(|p| format!(":{p}")).unwrap_or_default();
        format!("{}://{user}{}{port}{}", self.scheme, self.host, self.path)
    }

    /// The cache key: scheme, host, port and path, with the user, a trailing `/` and a trailing
    /// `.git` removed, so `https://Host/org/app.git` and `https://host/org/app` share one cache.
    pub fn cache_key(&self) -> String {
        let path = self.repository_path();
        let port = self.port.map(|p| format!(":{p}")).unwrap_or_default();
        format!("{}://{}{port}{path}", self.scheme, self.host)
    }
}

impl RepoUrl {
    /// Whether `self` and `other` name the same repository on the same host, whatever the
    /// transport: scheme, user and port are ignored, and the path compared as in the cache key.
    /// A webhook names a repository one way (`https://host/org/app`) while Applications may
    /// name it another (`git@host:org/app.git`).
    pub fn same_repository(&self, other: &RepoUrl) -> bool {
        self.host.eq_ignore_ascii_case(&other.host)
            && self.repository_path() == other.repository_path()
    }

    /// The path without a trailing `/` or `.git`: one repository however it is spelled.
    fn repository_path(&self) -> &str {
        let path = self.path.trim_end_matches('/');
        path.strip_suffix(".git").unwrap_or(path)
    }
}

impl std::fmt::Display for RepoUrl {
    /// The URL as it may appear in logs, errors and status: never with a credential.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_git_url())
    }
}

/// `user@host:path` (scp-like syntax) as an `ssh://` URL.
fn scp_like(text: &str) -> Option<RepoUrl> {
    let (authority, path) = text.split_once(':')?;
    if path.starts_with("//") || authority.contains('/') {
        return None;
    }
    let (user, host) = match authority.split_once('@') {
        Some((user, host)) => (Some(user.to_owned()), host),
        None => (None, authority),
    };
    if host.is_empty() || path.is_empty() {
        return None;
    }
    let path = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    Some(RepoUrl {
        scheme: "ssh".to_owned(),
        user,
        host: host.to_ascii_lowercase(),
        port: None,
        path,
    })
}

/// `text` with any `user:password@` userinfo replaced by `user:***@`, for messages about URLs
/// that could not even be parsed.
pub fn redact(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else {
        return text.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            let masked = if userinfo.contains(':') {
                format!("{user}:***")
            } else {
                user.to_owned()
            };
            format!("{scheme}://{masked}@{host}{}", &rest[authority_end..])
        }
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::{RepoUrl, redact};

    #[test]
    fn urls_that_name_the_same_repository_share_a_cache_key() {
        let same = [
            "https://Git.Example.com/org/app.git",
            "https://git.example.com/org/app",
            "https://git.example.com/org/app/",
            "https://alice:secret@git.example.com/org/app.git",
        ];
        for url in same {
            assert_eq!(
                RepoUrl::parse(url).unwrap().cache_key(),
                "https://git.example.com/org/app",
                "{url}"
            );
        }
        let other = RepoUrl::parse("https://git.example.com:8443/org/app").unwrap();
        assert_eq!(other.cache_key(), "https://git.example.com:8443/org/app");
    }

    #[test]
    fn one_repository_is_recognized_across_transports_and_spellings() {
        let webhook = RepoUrl::parse("https://git.example.com/org/app").unwrap();
        for (url, same) in [
            ("git@git.example.com:org/app.git", true),
            ("ssh://git@Git.Example.com:2222/org/app", true),
            ("http://git.example.com/org/app.git/", true),
            ("git://git.example.com/org/app", true),
            ("https://git.example.com/org/app-two", false),
            ("https://git.example.com/other/app", false),
            ("https://mirror.example.com/org/app", false),
        ] {
            let url = RepoUrl::parse(url).unwrap();
            assert_eq!(webhook.same_repository(&url), same, "{url}");
        }
    }

    #[test]
    fn scp_like_syntax_becomes_an_ssh_url() {
        let url = RepoUrl::parse("git@github.com:org/app.git").unwrap();
        assert_eq!(url.to_git_url(), "ssh://git@github.com/org/app.git");
        assert!(url.is_ssh());
        assert_eq!(url.user(), Some("git"));
    }

    #[test]
    fn a_password_in_the_url_never_reaches_git_or_messages() {
        let url = RepoUrl::parse("https://alice:hunter2@git.example.com/org/app.git").unwrap();
        assert!(!url.to_git_url().contains("hunter2"));
        assert!(!url.to_string().contains("hunter2"));
        let err = RepoUrl::parse("ftp://alice:hunter2@host/x")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
        assert!(err.contains("unsupported scheme"), "{err}");
    }

    #[test]
    fn redact_masks_only_the_password() {
        assert_eq!(redact("https://a:b@h/p"), "https://a:***@h/p");
        assert_eq!(redact("https://a@h/p"), "https://a@h/p");
        assert_eq!(redact("https://h/p@x"), "https://h/p@x");
        assert_eq!(redact("not a url"), "not a url");
    }

    #[test]
    fn unusable_urls_are_refused_with_the_reason() {
        for (url, reason) in [
            ("", "empty"),
            ("ftp://h/x", "unsupported scheme"),
            ("nohost", "neither"),
        ] {
            let err = RepoUrl::parse(url).unwrap_err().to_string();
            assert!(err.contains(reason), "{url}: {err}");
        }
    }
}

//! The network side of git2, blocking (callers run it in `spawn_blocking`): listing a remote's
//! refs, fetching refspecs, pushing one ref. Credentials go through callbacks that give up after a
//! rejected attempt, host keys and custom CAs are checked here, and every error message is
//! scrubbed of the secrets it could carry.

use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use capstan_api::Reason;
use git2::{
    AutotagOption, CertificateCheckStatus, Cred, CredentialType, Direction, ErrorClass, ErrorCode,
    FetchOptions, PushOptions, RemoteCallbacks, RemoteRedirect, Repository,
};

use crate::known_hosts::{HostKeyCheck, KnownHosts};
use crate::revision::Advertisement;
use crate::{Credentials, Error, RepoUrl};

/// One network operation against one remote.
pub(crate) struct Session<'a> {
    pub url: &'a RepoUrl,
    pub creds: &'a Credentials,
    pub cancel: Arc<AtomicBool>,
    /// Why a callback refused (libgit2 may replace the callback's message with a generic one).
    pub refusal: RefCell<Option<(ErrorCode, String)>>,
    /// How many commits of history a fetch asks for (a shallow fetch); `None`: all.
    pub depth: Option<u32>,
}

impl<'a> Session<'a> {
    /// A session for one operation on `url`.
    pub fn new(url: &'a RepoUrl, creds: &'a Credentials, cancel: Arc<AtomicBool>) -> Self {
        Self {
            url,
            creds,
            cancel,
            refusal: RefCell::new(None),
            depth: None,
        }
    }

    /// Records why a callback refused, and returns the error for libgit2.
    fn refuse(&self, code: ErrorCode, why: String) -> git2::Error {
        let err = git2::Error::new(code, ErrorClass::Callback, &why);
        *self.refusal.borrow_mut() = Some((code, why));
        err
    }
}

/// What kind of failure a network operation met, as far as it decides whether to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoteFailure {
    /// The server could not be reached or the connection broke (name resolution, refused or
    /// reset connections, the TLS or SSH transport). Retryable.
    Connection,
    /// libgit2's connect or I/O timeout passed. Retryable.
    TimedOut,
    /// The server answered with this HTTP status instead of a git reply. Retryable for 408, 429
    /// and 500, 502, 503, 504; not for the rest (404: no such repository, 403: refused).
    HttpStatus(u16),
    /// The server's SSH host key or TLS certificate is not trusted. Not retryable: known_hosts or
    /// the CA must change first.
    Untrusted,
    /// The server's answer is not a usable git reply (a redirect, which is never followed, a
    /// wrong content type, a malformed pack). Not retryable.
    Protocol,
}

impl RemoteFailure {
    /// Classifies a libgit2 error; `refusal` is the code a callback of ours refused with, if
    /// one did (libgit2 may report a refused certificate under another code).
    pub(crate) fn of(err: &git2::Error, refusal: Option<ErrorCode>) -> RemoteFailure {
        if err.code() == ErrorCode::Certificate || refusal == Some(ErrorCode::Certificate) {
            return RemoteFailure::Untrusted;
        }
        if err.code() == ErrorCode::Timeout {
            return RemoteFailure::TimedOut;
        }
        // libgit2 gives the status of an unexpected HTTP reply only in this message (http.c).
        let status = err
            .message()
            .strip_prefix("unexpected http status code: ")
            .and_then(|code| code.trim().parse().ok());
        if let Some(status) = status {
            return RemoteFailure::HttpStatus(status);
        }
        match err.class() {
            ErrorClass::Net | ErrorClass::Os | ErrorClass::Ssl | ErrorClass::Ssh => {
                RemoteFailure::Connection
            }
            _ if err.code() == ErrorCode::Eof => RemoteFailure::Connection,
            // The server hung up (httpclient.c reports it under the HTTP class, generic code).
            ErrorClass::Http if err.message() == "unexpected EOF" => RemoteFailure::Connection,
            _ => RemoteFailure::Protocol,
        }
    }

    /// Whether trying again soon may succeed.
    pub fn is_retryable(self) -> bool {
        match self {
            RemoteFailure::Connection | RemoteFailure::TimedOut => true,
            RemoteFailure::HttpStatus(status) => matches!(status, 408 | 429 | 500 | 502..=504),
            RemoteFailure::Untrusted | RemoteFailure::Protocol => false,
        }
    }

    /// The reason to report.
    pub fn reason(self) -> Reason {
        match self {
            RemoteFailure::Connection => Reason::FetchFailed,
            RemoteFailure::TimedOut => Reason::Timeout,
            RemoteFailure::HttpStatus(401 | 403) => Reason::AuthenticationFailed,
            RemoteFailure::HttpStatus(_) if self.is_retryable() => Reason::FetchFailed,
            RemoteFailure::HttpStatus(_) | RemoteFailure::Protocol => Reason::RepositoryUnavailable,
            RemoteFailure::Untrusted => Reason::HostNotTrusted,
        }
    }
}

/// How a push ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PushOutcome {
    Pushed,
    /// The server (or libgit2, seeing the remote's tip) refused: someone else pushed first.
    Rejected(String),
}

impl Session<'_> {
    /// Lists the remote's refs, asks `decide` which refspecs to fetch, and fetches them over the
    /// same connection (no second ref advertisement, no second authentication round trip).
    /// Returns the advertisement and whether anything was fetched.
    pub fn list_and_fetch<F>(
        &self,
        repo: &Repository,
        decide: F,
    ) -> Result<(Advertisement, bool), Error>
    where
        F: FnOnce(&Advertisement) -> Result<Vec<String>, Error>,
    {
        let fail = |e: git2::Error| self.error("list refs of", &e);
        let mut remote = repo
            .remote_anonymous(&self.url.to_git_url())
            .map_err(fail)?;
        let mut connection = remote
            .connect_auth(Direction::Fetch, Some(self.callbacks()), None)
            .map_err(fail)?;
        let mut adv = Advertisement::default();
        for head in connection.list().map_err(fail)? {
            if head.name() == "HEAD" {
                adv.head_target = head.symref_target().map(str::to_owned);
            }
            adv.refs
                .push((head.name().to_owned(), head.oid().to_string()));
        }
        let refspecs = decide(&adv)?;
        if refspecs.is_empty() {
            return Ok((adv, false));
        }
        let headers = self.headers();
        let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
        let mut options = self.fetch_options(&headers);
        connection
            .remote()
            .fetch(&refspecs, Some(&mut options), None)
            .map_err(|e| self.error("fetch", &e))?;
        Ok((adv, true))
    }

    fn fetch_options<'o>(&'o self, headers: &[&str]) -> FetchOptions<'o> {
        let mut options = FetchOptions::new();
        options
            .remote_callbacks(self.callbacks())
            .download_tags(AutotagOption::None)
            .update_fetchhead(false)
            .follow_redirects(RemoteRedirect::None)
            .custom_headers(headers);
        if let Some(depth) = self.depth {
            options.depth(i32::try_from(depth).unwrap_or(i32::MAX));
        }
        options
    }

    /// Fetches `refspecs` (e.g. `+refs/heads/main:refs/heads/main`) into `repo`.
    pub fn fetch(&self, repo: &Repository, refspecs: &[String]) -> Result<(), Error> {
        let mut remote = repo
            .remote_anonymous(&self.url.to_git_url())
            .map_err(|e| self.error("fetch", &e))?;
        let headers = self.headers();
        let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
        let mut options = self.fetch_options(&headers);
        remote
            .fetch(refspecs, Some(&mut options), None)
            .map_err(|e| self.error("fetch", &e))
    }

    /// Pushes local ref `local` to remote ref `remote_ref` (fast-forward only).
    pub fn push(
        &self,
        repo: &Repository,
        local: &str,
        remote_ref: &str,
    ) -> Result<PushOutcome, Error> {
        let rejection: RefCell<Option<String>> = RefCell::new(None);
        let mut remote = repo
            .remote_anonymous(&self.url.to_git_url())
            .map_err(|e| self.error("push to", &e))?;
        let headers = self.headers();
        let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
        let mut callbacks = self.callbacks();
        callbacks.push_update_reference(|_refname, status| {
            if let Some(status) = status {
                *rejection.borrow_mut() = Some(status.to_owned());
            }
            Ok(())
        });
        let mut options = PushOptions::new();
        options
            .remote_callbacks(callbacks)
            .follow_redirects(RemoteRedirect::None)
            .custom_headers(&headers);
        let result = remote.push(&[format!("{local}:{remote_ref}")], Some(&mut options));
        drop(options);
        match result {
            Err(e) if e.code() == ErrorCode::NotFastForward => {
                Ok(PushOutcome::Rejected(e.message().to_owned()))
            }
            Err(e) => Err(self.error("push to", &e)),
            Ok(()) => Ok(match rejection.into_inner() {
                Some(reason) => PushOutcome::Rejected(reason),
                None => PushOutcome::Pushed,
            }),
        }
    }

    /// Extra HTTP headers: the bearer token, when there is one.
    fn headers(&self) -> Vec<String> {
        match (&self.creds.bearer_token, self.url.scheme()) {
            (Some(token), "https" | "http") => vec![format!("Authorization: Bearer {token}")],
            _ => Vec::new(),
        }
    }

    fn error(&self, action: &'static str, err: &git2::Error) -> Error {
        if self.cancel.load(Ordering::Relaxed) {
            return Error::Cancelled {
                action,
                url: self.url.to_string(),
            };
        }
        let refusal = self.refusal.borrow_mut().take();
        let refused =
            err.code() == ErrorCode::Auth || matches!(&refusal, Some((ErrorCode::Auth, _)));
        let kind = RemoteFailure::of(err, refusal.as_ref().map(|(code, _)| *code));
        let message = match refusal {
            Some((_, why)) if !err.message().contains(&why) => {
                format!("{why} ({})", err.message())
            }
            _ => err.message().to_owned(),
        };
        let (url, message) = (self.url.to_string(), self.creds.scrub(&message));
        if refused {
            Error::Unauthorized {
                action,
                url,
                message,
            }
        } else {
            Error::Remote {
                action,
                url,
                kind,
                message,
            }
        }
    }

    /// Callbacks for credentials (one attempt per kind), server identity and cancellation.
    fn callbacks(&self) -> RemoteCallbacks<'_> {
        let mut callbacks = RemoteCallbacks::new();
        let attempts = Cell::new(0u32);
        callbacks.credentials(move |_url, user_from_url, allowed| {
            attempts.set(attempts.get() + 1);
            self.credential(user_from_url, allowed, attempts.get())
        });
        callbacks.certificate_check(|cert, host| {
            if let Some(hostkey) = cert.as_hostkey() {
                return self.check_host_key(hostkey.hostkey().unwrap_or_default(), host);
            }
            match (cert.as_x509(), &self.creds.ca_cert) {
                (Some(x509), Some(ca)) => crate::tls::verify_server_cert(ca, x509.data(), host)
                    .map(|()| CertificateCheckStatus::CertificateOk)
                    .map_err(|why| self.refuse(ErrorCode::Certificate, why)),
                _ => Ok(CertificateCheckStatus::CertificatePassthrough),
            }
        });
        let cancel = Arc::clone(&self.cancel);
        callbacks.transfer_progress(move |_| !cancel.load(Ordering::Relaxed));
        callbacks
    }

    fn credential(
        &self,
        user_from_url: Option<&str>,
        allowed: CredentialType,
        attempt: u32,
    ) -> Result<Cred, git2::Error> {
        let auth = |message: &str| self.refuse(ErrorCode::Auth, message.to_owned());
        let user = user_from_url.or(self.url.user()).unwrap_or("git");
        if allowed.contains(CredentialType::USERNAME) {
            return Cred::username(user);
        }
        // libgit2 asks again after a rejection, forever over SSH: one try per operation.
        if attempt > 2 {
            return Err(auth("the server rejected the configured credentials"));
        }
        if allowed.contains(CredentialType::SSH_MEMORY) || allowed.contains(CredentialType::SSH_KEY)
        {
            return match &self.creds.ssh_key {
                Some(key) => {
                    Cred::ssh_key_from_memory(user, None, key, self.creds.ssh_passphrase.as_deref())
                        .map_err(|e| {
                            auth(&format!(
                                "cannot use the SSH key: {}",
                                self.creds.scrub(e.message())
                            ))
                        })
                }
                None => Err(auth(
                    "the SSH server asks for a key but no identity is configured",
                )),
            };
        }
        if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
            return match (&self.creds.basic, &self.creds.bearer_token) {
                (Some((user, password)), _) => Cred::userpass_plaintext(user, password),
                (None, Some(_)) => Err(auth("the server rejected the bearer token")),
                (None, None) => Err(auth(
                    "the server asks for credentials but none are configured",
                )),
            };
        }
        Err(auth(
            "the server asks for an unsupported kind of credentials",
        ))
    }

    fn check_host_key(
        &self,
        key: &[u8],
        host: &str,
    ) -> Result<CertificateCheckStatus, git2::Error> {
        let refuse = |why: String| Err(self.refuse(ErrorCode::Certificate, why));
        let port = self.url.port().unwrap_or(22);
        let name = if port == 22 {
            host.to_owned()
        } else {
            format!("[{host}]:{port}")
        };
        let Some(known_hosts) = &self.creds.known_hosts else {
            return refuse(format!(
                "no known_hosts is configured, so the host key of {name} cannot be verified"
            ));
        };
        match KnownHosts::parse(known_hosts).check(host, port, key) {
            HostKeyCheck::Trusted => Ok(CertificateCheckStatus::CertificateOk),
            HostKeyCheck::UnknownHost => refuse(format!(
                "host key verification failed: {name} is not in known_hosts"
            )),
            HostKeyCheck::Mismatch => refuse(format!(
                "host key verification failed: the host key of {name} does not match known_hosts (changed key or an impostor)"
            )),
            HostKeyCheck::Revoked => refuse(format!(
                "host key verification failed: the host key of {name} is revoked"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libgit2_failures_are_classified_by_what_a_retry_can_change() {
        use RemoteFailure::*;
        let (code, class) = (ErrorCode::GenericError, ErrorClass::Http);
        let cases = [
            (
                ErrorCode::GenericError,
                ErrorClass::Net,
                "failed to resolve address",
                None,
                Connection,
            ),
            (
                ErrorCode::GenericError,
                ErrorClass::Os,
                "connection refused",
                None,
                Connection,
            ),
            (
                ErrorCode::Eof,
                ErrorClass::Http,
                "unexpected EOF",
                None,
                Connection,
            ),
            // What libgit2 really reports when the server hangs up (regression: a Protocol
            // failure, never retried).
            (code, class, "unexpected EOF", None, Connection),
            (
                ErrorCode::GenericError,
                ErrorClass::Ssh,
                "handshake failed",
                None,
                Connection,
            ),
            (
                ErrorCode::Timeout,
                ErrorClass::Net,
                "timed out",
                None,
                TimedOut,
            ),
            (
                code,
                class,
                "unexpected http status code: 503",
                None,
                HttpStatus(503),
            ),
            (
                code,
                class,
                "unexpected http status code: 404",
                None,
                HttpStatus(404),
            ),
            (code, class, "unexpected redirect", None, Protocol),
            (
                code,
                class,
                "invalid content-type: 'text/html'",
                None,
                Protocol,
            ),
            (
                ErrorCode::Certificate,
                ErrorClass::Ssl,
                "invalid certificate",
                None,
                Untrusted,
            ),
            (
                ErrorCode::User,
                ErrorClass::Callback,
                "host key verification failed",
                Some(ErrorCode::Certificate),
                Untrusted,
            ),
        ];
        for (code, class, message, refusal, expected) in cases {
            let err = git2::Error::new(code, class, message);
            assert_eq!(RemoteFailure::of(&err, refusal), expected, "{message}");
        }
    }

    #[test]
    fn only_passing_remote_failures_are_retryable() {
        use RemoteFailure::*;
        let cases = [
            (Connection, true, Reason::FetchFailed),
            (TimedOut, true, Reason::Timeout),
            (HttpStatus(429), true, Reason::FetchFailed),
            (HttpStatus(502), true, Reason::FetchFailed),
            (HttpStatus(501), false, Reason::RepositoryUnavailable),
            (HttpStatus(404), false, Reason::RepositoryUnavailable),
            (HttpStatus(403), false, Reason::AuthenticationFailed),
            (Untrusted, false, Reason::HostNotTrusted),
            (Protocol, false, Reason::RepositoryUnavailable),
        ];
        for (kind, retryable, reason) in cases {
            assert_eq!(kind.is_retryable(), retryable, "{kind:?}");
            assert_eq!(kind.reason(), reason, "{kind:?}");
        }
    }
}

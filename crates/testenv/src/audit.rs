//! The test apiserver's audit log, so tests count exactly which requests an identity made.
//!
//! The apiserver writes one JSON event per line to `<control plane dir>/audit.log` under the
//! policy in `audit-policy.yaml` (Metadata level for every test identity; the control plane's own
//! components and health checks are left out). The log backend runs in `blocking` mode: the
//! apiserver writes an event to the file before the response leaves its handler chain (the
//! `ResponseComplete` event is written when the handler returns, before the server ends the
//! response), so once a client holds a complete response, [`AuditLog::read`] sees that request —
//! no flush, no marker request, no waiting. Rotation is effectively off (100 GB).
//!
//! [`Audit`] holds one [`AuditEvent`] per request, in the order the apiserver logged them: the
//! first event logged for its audit ID. That is `ResponseComplete` for an ordinary request and
//! `ResponseStarted` for a long-running one (a watch), so an open watch counts once, and a watch
//! that ends later does not count again.
//!
//! ```no_run
//! # async fn example(ctx: capstan_testenv::TestContext) -> anyhow::Result<()> {
//! let mark = ctx.audit()?.mark();
//! // … the code under test talks to the apiserver as ctx.capstan_user …
//! let capstan = ctx.audit()?.since(mark).by_user(&ctx.capstan_user);
//! assert_eq!(capstan.count(|e| e.is_write()), 0, "{capstan}");
//! assert_eq!(capstan.count(|e| e.is_dry_run()), 1, "{capstan}");
//! # Ok(())
//! # }
//! ```

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::Error;
use crate::certs::write;

/// The audit policy written next to the apiserver's other files.
const POLICY: &str = include_str!("audit-policy.yaml");

/// The size in megabytes at which the apiserver would rotate the log: far more than a test run
/// writes. (Zero would mean the rotation library's default of 100 MB.)
const MAX_SIZE_MB: u32 = 100_000;

/// Writes the policy into `dir` and returns kube-apiserver's audit flags and a reader of the log.
pub(crate) fn apiserver_flags(dir: &Path) -> Result<(Vec<String>, AuditLog), Error> {
    let policy = dir.join("audit-policy.yaml");
    write(&policy, POLICY)?;
    let log = AuditLog {
        path: dir.join("audit.log"),
    };
    let flags = vec![
        format!("--audit-policy-file={}", policy.display()),
        format!("--audit-log-path={}", log.path.display()),
        "--audit-log-format=json".to_owned(),
        "--audit-log-mode=blocking".to_owned(),
        format!("--audit-log-maxsize={MAX_SIZE_MB}"),
    ];
    Ok((flags, log))
}

/// Why the audit log could not be read.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The file could not be read.
    #[error("failed to read the audit log {}", path.display())]
    Read {
        /// The log file.
        path: PathBuf,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// A line is not an audit event.
    #[error("failed to parse line {line} of the audit log {}", path.display())]
    Parse {
        /// The log file.
        path: PathBuf,
        /// The line number, from 1.
        line: usize,
        /// The failure.
        #[source]
        source: serde_json::Error,
    },
}

/// The audit log of one control plane: a path, read on demand. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AuditLog {
    path: PathBuf,
}

impl AuditLog {
    /// The log file, one JSON event per line.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every request logged so far, one event per request. A request whose response a client
    /// has received is in it.
    pub fn read(&self) -> Result<Audit, AuditError> {
        let text = std::fs::read_to_string(&self.path).map_err(|source| AuditError::Read {
            path: self.path.clone(),
            source,
        })?;
        parse(&text, &self.path)
    }
}

/// Parses the log's complete lines. A last line without its newline is an event still being
/// written, for a request whose response has not been sent: it is left for the next read.
fn parse(text: &str, path: &Path) -> Result<Audit, AuditError> {
    let complete = text.rfind('\n').map_or("", |end| &text[..=end]);
    let mut seen = HashSet::new();
    let mut requests = Vec::new();
    for (index, line) in complete.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let mut event: AuditEvent =
            serde_json::from_str(line).map_err(|source| AuditError::Parse {
                path: path.to_owned(),
                line: index + 1,
                source,
            })?;
        if seen.insert(event.audit_id.clone()) {
            event.seq = requests.len();
            requests.push(event);
        }
    }
    Ok(Audit {
        end: requests.len(),
        requests,
    })
}

/// A point in the audit log, from [`Audit::mark`]: [`Audit::since`] keeps the requests logged
/// after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct AuditMark(usize);

/// Requests from the audit log, one [`AuditEvent`] each, in the order they were logged; narrowed
/// by the filters below, each of which returns what is left.
#[derive(Debug, Clone)]
pub struct Audit {
    requests: Vec<AuditEvent>,
    /// How many requests the whole log held when read.
    end: usize,
}

impl Audit {
    /// The end of the log as read: requests logged later are [`since`](Self::since) this mark.
    pub fn mark(&self) -> AuditMark {
        AuditMark(self.end)
    }

    /// Only the requests logged after `mark`.
    pub fn since(self, mark: AuditMark) -> Self {
        self.filter(|e| e.seq >= mark.0)
    }

    /// Only the requests made by `user` (the authenticated user name).
    pub fn by_user(self, user: &str) -> Self {
        self.filter(|e| e.user.username == user)
    }

    /// Only the requests for objects in `namespace` (cluster-wide requests have none).
    pub fn in_namespace(self, namespace: &str) -> Self {
        self.filter(|e| e.namespace() == Some(namespace))
    }

    /// Only the requests for which `keep` is true.
    pub fn filter(mut self, keep: impl Fn(&AuditEvent) -> bool) -> Self {
        self.requests.retain(|e| keep(e));
        self
    }

    /// How many requests `matches`.
    pub fn count(&self, matches: impl Fn(&AuditEvent) -> bool) -> usize {
        self.requests.iter().filter(|e| matches(e)).count()
    }

    /// How many requests there are.
    pub fn len(&self) -> usize {
        self.requests.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.requests.is_empty()
    }

    /// The requests, in log order.
    pub fn iter(&self) -> std::slice::Iter<'_, AuditEvent> {
        self.requests.iter()
    }
}

impl<'a> IntoIterator for &'a Audit {
    type Item = &'a AuditEvent;
    type IntoIter = std::slice::Iter<'a, AuditEvent>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// One request per line, for assertion messages.
impl fmt::Display for Audit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.requests.is_empty() {
            return write!(f, "(no requests)");
        }
        for event in &self.requests {
            writeln!(f, "{event}")?;
        }
        Ok(())
    }
}

/// The stage of a request an event was logged at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Stage {
    /// The request arrived (not logged by the test policy).
    RequestReceived,
    /// A long-running request's response headers were sent.
    ResponseStarted,
    /// The response was complete.
    ResponseComplete,
    /// The handler panicked.
    Panic,
}

/// The authenticated user of a request.
#[derive(Debug, Clone, Deserialize)]
pub struct User {
    /// The user name.
    #[serde(default)]
    pub username: String,
    /// Its groups.
    #[serde(default)]
    pub groups: Vec<String>,
}

/// The object a request was about.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    /// The resource, e.g. `configmaps`.
    pub resource: Option<String>,
    /// The namespace, for namespaced requests.
    pub namespace: Option<String>,
    /// The object's name, for requests about one object.
    pub name: Option<String>,
    /// The API group; empty or absent for the core group.
    pub api_group: Option<String>,
    /// The API version.
    pub api_version: Option<String>,
    /// The subresource, e.g. `status`.
    pub subresource: Option<String>,
}

/// The response's status.
#[derive(Debug, Clone, Deserialize)]
pub struct ResponseStatus {
    /// The HTTP status code.
    pub code: Option<u16>,
}

/// One request as the audit log records it at Metadata level.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    /// The request's unique ID.
    #[serde(rename = "auditID")]
    pub audit_id: String,
    /// The stage this event was logged at (see the module documentation).
    pub stage: Stage,
    /// The Kubernetes verb: `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`,
    /// `deletecollection`; for non-resource URLs the lower-case HTTP method.
    pub verb: String,
    /// Who made it: the authenticated user.
    pub user: User,
    /// Who the request was made as, when the user impersonated someone (`Impersonate-User`):
    /// the request was authorized for this user, not for [`user`](Self::user).
    #[serde(default)]
    pub impersonated_user: Option<User>,
    /// The path and query, e.g. `/api/v1/namespaces/a/configmaps/b?dryRun=All`.
    #[serde(rename = "requestURI")]
    pub request_uri: String,
    /// The object, for resource requests.
    #[serde(default)]
    pub object_ref: Option<ObjectRef>,
    /// The response's status.
    #[serde(default)]
    pub response_status: Option<ResponseStatus>,
    /// The client's User-Agent header.
    #[serde(default)]
    pub user_agent: Option<String>,
    /// The request's position in the whole log.
    #[serde(skip)]
    seq: usize,
}

impl AuditEvent {
    /// The user name.
    pub fn user(&self) -> &str {
        &self.user.username
    }

    /// The user the request was authorized as: the impersonated user, else the authenticated
    /// one.
    pub fn acting_user(&self) -> &str {
        self.impersonated_user
            .as_ref()
            .map_or(&self.user.username, |u| &u.username)
    }

    /// The namespace of the object, if any.
    pub fn namespace(&self) -> Option<&str> {
        self.object_ref.as_ref()?.namespace.as_deref()
    }

    /// The resource, e.g. `configmaps`, if any.
    pub fn resource(&self) -> Option<&str> {
        self.object_ref.as_ref()?.resource.as_deref()
    }

    /// The response's HTTP status code.
    pub fn code(&self) -> Option<u16> {
        self.response_status.as_ref()?.code
    }

    /// The values of the query parameter `key` in the request URI, as sent.
    pub fn query(&self, key: &str) -> impl Iterator<Item = &str> {
        let query = self.request_uri.split_once('?').map_or("", |(_, q)| q);
        query.split('&').filter_map(move |pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == key).then_some(v)
        })
    }

    /// Whether the request was a dry run (`dryRun=All`): the apiserver persisted nothing.
    pub fn is_dry_run(&self) -> bool {
        self.query("dryRun").any(|v| v == "All")
    }

    /// Whether the request changed stored state: create, update, patch, delete or
    /// deletecollection, not a dry run.
    pub fn is_write(&self) -> bool {
        matches!(
            self.verb.as_str(),
            "create" | "update" | "patch" | "delete" | "deletecollection"
        ) && !self.is_dry_run()
    }

    /// Whether the request read one object (a GET of a non-resource URL, such as discovery's
    /// `/api`, is not one).
    pub fn is_get(&self) -> bool {
        self.verb == "get" && self.object_ref.is_some()
    }

    /// Whether the request listed objects (not a watch).
    pub fn is_list(&self) -> bool {
        self.verb == "list" && !self.is_watch()
    }

    /// Whether the request was a watch (a LIST with `watch=true` is one).
    pub fn is_watch(&self) -> bool {
        self.verb == "watch" || self.query("watch").any(|v| v == "true" || v == "1")
    }
}

/// `user [as impersonated] VERB uri -> code`, for assertion messages.
impl fmt::Display for AuditEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = self.code().map_or("?".to_owned(), |c| c.to_string());
        let user = match &self.impersonated_user {
            Some(acting) => format!("{} as {}", self.user(), acting.username),
            None => self.user().to_owned(),
        };
        write!(
            f,
            "{user} {} {} -> {code}",
            self.verb.to_uppercase(),
            self.request_uri
        )
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::{AuditError, Stage, parse};

    /// An event line as kube-apiserver writes it at Metadata level, trimmed of fields we ignore.
    fn line(id: &str, stage: &str, verb: &str, user: &str, uri: &str, ns: Option<&str>) -> String {
        let object = ns.map_or(String::new(), |ns| {
            format!(
                r#","objectRef":{{"resource":"configmaps","namespace":"{ns}","apiVersion":"v1"}}"#
            )
        });
        format!(
            r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"{id}","stage":"{stage}","requestURI":"{uri}","verb":"{verb}","user":{{"username":"{user}","groups":["system:masters"]}},"sourceIPs":["127.0.0.1"],"userAgent":"test"{object},"responseStatus":{{"metadata":{{}},"code":200}}}}"#
        ) + "\n"
    }

    fn check(log: &str, expected: &[(&str, Stage)]) {
        let audit = parse(log, Path::new("audit.log")).unwrap();
        let got: Vec<(&str, Stage)> = audit
            .iter()
            .map(|e| (e.audit_id.as_str(), e.stage))
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn a_request_counts_once_at_its_first_event_and_a_half_written_last_line_waits() {
        let log = [
            line(
                "w",
                "ResponseStarted",
                "watch",
                "capstan",
                "/api/v1/configmaps?watch=true",
                None,
            ),
            line(
                "g",
                "ResponseComplete",
                "get",
                "capstan",
                "/api/v1/namespaces/a/configmaps/x",
                Some("a"),
            ),
            line(
                "w",
                "ResponseComplete",
                "watch",
                "capstan",
                "/api/v1/configmaps?watch=true",
                None,
            ),
        ]
        .concat();
        let partial = line("p", "ResponseComplete", "get", "capstan", "/api", None);
        let half = format!("{log}{}", &partial[..40]);
        check(
            &half,
            &[
                ("w", Stage::ResponseStarted),
                ("g", Stage::ResponseComplete),
            ],
        );
    }

    #[test]
    fn since_a_mark_leaves_out_a_watch_opened_before_it_that_ends_after_it() {
        let before = line(
            "w",
            "ResponseStarted",
            "watch",
            "capstan",
            "/api/v1/configmaps?watch=1",
            None,
        );
        let mark = parse(&before, Path::new("audit.log")).unwrap().mark();
        let after = [
            before.clone(),
            line(
                "w",
                "ResponseComplete",
                "watch",
                "capstan",
                "/api/v1/configmaps?watch=1",
                None,
            ),
            line(
                "l",
                "ResponseComplete",
                "list",
                "capstan",
                "/api/v1/namespaces/a/configmaps",
                Some("a"),
            ),
            line(
                "x",
                "ResponseComplete",
                "list",
                "admin",
                "/api/v1/namespaces/b/configmaps",
                Some("b"),
            ),
        ]
        .concat();
        let audit = parse(&after, Path::new("audit.log")).unwrap().since(mark);
        assert_eq!(audit.len(), 2, "{audit}");
        assert_eq!(audit.clone().by_user("capstan").count(|e| e.is_list()), 1);
        assert_eq!(audit.clone().in_namespace("b").len(), 1);
        assert_eq!(audit.count(|e| e.is_watch()), 0);
    }

    #[test]
    fn requests_are_classified_by_verb_and_query() {
        let cases = [
            ("get", "/api/v1/namespaces/a/configmaps/x", "get"),
            ("list", "/api/v1/namespaces/a/configmaps?limit=500", "list"),
            (
                "watch",
                "/api/v1/namespaces/a/configmaps?watch=true",
                "watch",
            ),
            (
                "list",
                "/api/v1/namespaces/a/configmaps?watch=true",
                "watch",
            ),
            (
                "patch",
                "/api/v1/namespaces/a/configmaps/x?dryRun=All&fieldManager=c",
                "dry-run",
            ),
            (
                "create",
                "/api/v1/namespaces/a/configmaps?dryRun=All",
                "dry-run",
            ),
            (
                "patch",
                "/api/v1/namespaces/a/configmaps/x?fieldManager=c",
                "write",
            ),
            ("delete", "/api/v1/namespaces/a/configmaps/x", "write"),
        ];
        for (verb, uri, expected) in cases {
            let audit = parse(
                &line("1", "ResponseComplete", verb, "u", uri, Some("a")),
                Path::new("a"),
            )
            .unwrap();
            let e = audit.iter().next().unwrap();
            let class = [
                (e.is_get(), "get"),
                (e.is_list(), "list"),
                (e.is_watch(), "watch"),
                (e.is_dry_run(), "dry-run"),
                (e.is_write(), "write"),
            ];
            let got: Vec<&str> = class
                .iter()
                .filter(|(yes, _)| *yes)
                .map(|(_, n)| *n)
                .collect();
            assert_eq!(got, [expected], "{verb} {uri}");
        }
    }

    #[test]
    fn a_line_that_is_not_an_event_is_named_by_its_number() {
        let log = format!(
            "{}not json\n",
            line("1", "ResponseComplete", "get", "u", "/api", None)
        );
        let err = parse(&log, Path::new("audit.log")).unwrap_err();
        assert!(matches!(err, AuditError::Parse { line: 2, .. }), "{err}");
        assert_eq!(
            err.to_string(),
            "failed to parse line 2 of the audit log audit.log"
        );
    }

    #[test]
    fn an_impersonated_request_acts_as_the_impersonated_user() {
        let plain = line("1", "ResponseComplete", "get", "ctl", "/api", None);
        let impersonated = plain.replacen(
            r#""sourceIPs""#,
            r#""impersonatedUser":{"username":"system:serviceaccount:a:deployer"},"sourceIPs""#,
            1,
        );
        let log = format!(
            "{plain}{}",
            impersonated.replace(r#""auditID":"1""#, r#""auditID":"2""#)
        );
        let audit = parse(&log, Path::new("audit.log")).unwrap();
        let acting: Vec<&str> = audit.iter().map(|e| e.acting_user()).collect();
        assert_eq!(acting, ["ctl", "system:serviceaccount:a:deployer"]);
        let shown = audit.iter().nth(1).unwrap().to_string();
        assert!(
            shown.starts_with("ctl as system:serviceaccount:a:deployer GET"),
            "{shown}"
        );
    }
}

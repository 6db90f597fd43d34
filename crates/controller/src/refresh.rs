//! "Refresh every Application using repository R at branch B": what a webhook receiver calls
//! when a git server announces a push, so the commit is picked up at once instead of at the next
//! repository poll. The repository is matched whatever the transport each side names it by
//! (`https://host/org/app` wakes an Application of `git@host:org/app.git`); the branch or tag
//! against each Application's `targetRevision`. Applications following `HEAD` (the default
//! branch, unknown here without asking the server) are refreshed by every push to their
//! repository; those pinned to a commit never are.

use capstan_api::application::Application;
use capstan_git::RepoUrl;
use kube::runtime::reflector::{ObjectRef, Store};
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::requests::Refreshes;

/// Wakes the Applications of a repository and branch; handed out by the running controller
/// (`Context::refresher`).
#[derive(Clone)]
pub struct Refresher {
    known: Store<Application>,
    wake: mpsc::Sender<ObjectRef<Application>>,
    refreshes: Arc<Refreshes>,
}

impl std::fmt::Debug for Refresher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Refresher").finish_non_exhaustive()
    }
}

impl Refresher {
    /// A refresher over the controller's known Applications, waking them through `wake` for
    /// a reconcile that checks the source with the server (`refreshes`).
    pub(crate) fn new(
        known: Store<Application>,
        wake: mpsc::Sender<ObjectRef<Application>>,
        refreshes: Arc<Refreshes>,
    ) -> Self {
        Refresher {
            known,
            wake,
            refreshes,
        }
    }

    /// Queues a reconcile of every Application using `repository` at `reference` (a branch or
    /// tag, short or as `refs/heads/…`/`refs/tags/…`); returns how many were queued. An
    /// unparsable repository URL is an error naming it.
    pub async fn refresh(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<usize, capstan_git::Error> {
        let repository = RepoUrl::parse(repository)?;
        let using: Vec<ObjectRef<Application>> = self
            .known
            .state()
            .iter()
            .filter(|app| uses(app, &repository, reference))
            .inspect(|app| {
                self.refreshes
                    .ask(app.metadata.uid.as_deref().unwrap_or_default())
            })
            .map(|app| ObjectRef::from_obj(app.as_ref()))
            .collect();
        let queued = using.len();
        for app in using {
            if self.wake.send(app).await.is_err() {
                break;
            }
        }
        Ok(queued)
    }
}

/// Whether `app` follows `reference` of `repository`.
pub fn uses(app: &Application, repository: &RepoUrl, reference: &str) -> bool {
    if app.spec.suspend {
        return false;
    }
    let source = &app.spec.source;
    let same = RepoUrl::parse(&source.repo_url).is_ok_and(|url| url.same_repository(repository));
    let target = source.target_revision();
    same && (target == "HEAD" || short(target) == short(reference))
}

/// A ref name without its `refs/heads/` or `refs/tags/` prefix.
fn short(reference: &str) -> &str {
    reference
        .strip_prefix("refs/heads/")
        .or_else(|| reference.strip_prefix("refs/tags/"))
        .unwrap_or(reference)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(url: &str, revision: Option<&str>, suspend: bool) -> Application {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "capstan.dev/v1alpha1", "kind": "Application",
            "metadata": {"name": "web", "namespace": "team"},
            "spec": {"source": {"repoURL": url, "targetRevision": revision},
                "destination": {}, "suspend": suspend},
        }))
        .expect("an Application")
    }

    #[test]
    fn a_push_refreshes_the_applications_following_that_branch_of_that_repository() {
        let pushed = RepoUrl::parse("https://git.example.com/org/app.git").expect("a URL");
        let ssh = "git@git.example.com:org/app.git";
        for (url, revision, suspend, reference, refreshed) in [
            (
                "https://git.example.com/org/app",
                Some("main"),
                false,
                "main",
                true,
            ),
            (ssh, Some("main"), false, "refs/heads/main", true),
            (ssh, Some("refs/heads/main"), false, "main", true),
            (ssh, None, false, "main", true),
            (ssh, Some("HEAD"), false, "release", true),
            (ssh, Some("v1.2.0"), false, "refs/tags/v1.2.0", true),
            (ssh, Some("release"), false, "main", false),
            (ssh, Some("main"), true, "main", false),
            (
                "https://git.example.com/org/other",
                Some("main"),
                false,
                "main",
                false,
            ),
            (
                "https://git.example.com/org/app",
                Some("0123456789abcdef0123456789abcdef01234567"),
                false,
                "main",
                false,
            ),
            ("not a url", Some("main"), false, "main", false),
        ] {
            let app = app(url, revision, suspend);
            assert_eq!(
                uses(&app, &pushed, reference),
                refreshed,
                "{url} at {revision:?} (suspended: {suspend}) on a push to {reference}"
            );
        }
    }
}

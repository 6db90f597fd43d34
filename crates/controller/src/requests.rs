//! Sync requests already run. A request (`operation`) is taken off the Application only after
//! its result is in status, so a reconcile that follows at once may still read, from the watch
//! cache, a version that carries it; this remembers, per Application, the versions that carried
//! the request last run, so it is not run twice. A new request always comes with a new version.
//!
//! And what asked for a fresh look at the source: a reconcile checks the repository with the
//! server when the Application is new to this process, its spec changed, or its
//! `capstan.dev/refresh` annotation is new; a periodic re-compare takes the repository poll's
//! recent check instead.

use std::collections::HashMap;
use std::sync::Mutex;

use capstan_api::application::Application;

/// The versions, per Application uid, that carried the request run last.
#[derive(Debug, Default)]
pub struct Requests(Mutex<HashMap<String, Vec<String>>>);

impl Requests {
    /// Whether `app`'s request was run already (this version of it carried a request that ran).
    pub fn ran(&self, app: &Application) -> bool {
        let (Some(uid), Some(version)) = (&app.metadata.uid, &app.metadata.resource_version) else {
            return false;
        };
        self.lock()
            .get(uid)
            .is_some_and(|seen| seen.contains(version))
    }

    /// Remembers that the request `app` carries was run, and `versions` (this version of it,
    /// any read meanwhile and the one the status patch left) all carried it until it is taken
    /// off.
    pub fn remember(&self, app: &Application, versions: Vec<String>) {
        let Some(uid) = &app.metadata.uid else {
            return;
        };
        self.lock().insert(uid.clone(), versions);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<String>>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// What an Application asked for: its generation and its refresh annotation.
type Asked = (Option<i64>, Option<String>);

/// What each Application last asked for, by uid.
#[derive(Debug, Default)]
pub struct Refreshes(Mutex<HashMap<String, Asked>>);

impl Refreshes {
    /// Whether `app` asks for a fresh check of its source — first seen, spec changed, or a new
    /// refresh annotation — remembering what it asked.
    pub fn asked(&self, app: &Application) -> bool {
        let Some(uid) = &app.metadata.uid else {
            return true;
        };
        let annotation = app.metadata.annotations.as_ref();
        let refresh = annotation
            .and_then(|a| a.get(capstan_api::REFRESH_ANNOTATION))
            .cloned();
        let now = (app.metadata.generation, refresh);
        let mut seen = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        seen.insert(uid.clone(), now.clone()) != Some(now)
    }

    /// Makes the next reconcile of the Application with `uid` check its source with the server
    /// (a push was announced for it).
    pub fn ask(&self, uid: &str) {
        let mut seen = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        seen.remove(uid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(uid: &str, version: &str) -> Application {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "capstan.dev/v1alpha1", "kind": "Application",
            "metadata": {"name": "web", "namespace": "team", "uid": uid,
                "resourceVersion": version},
            "spec": {"source": {"repoURL": "https://git.example.com/org/app"},
                "destination": {}},
        }))
        .expect("an Application")
    }

    #[test]
    fn a_fresh_check_is_asked_for_by_a_new_application_a_new_spec_or_a_new_refresh() {
        let refreshes = Refreshes::default();
        let mut web = app("a", "10");
        web.metadata.generation = Some(1);
        assert!(refreshes.asked(&web), "first seen");
        assert!(!refreshes.asked(&web), "a periodic re-compare");
        web.metadata.generation = Some(2);
        assert!(refreshes.asked(&web), "spec changed");
        assert!(!refreshes.asked(&web));
        let annotations = [(capstan_api::REFRESH_ANNOTATION.to_owned(), "t1".to_owned())];
        web.metadata.annotations = Some(annotations.into_iter().collect());
        assert!(refreshes.asked(&web), "refresh annotation set");
        assert!(!refreshes.asked(&web));
        assert!(refreshes.asked(&app("b", "10")), "another Application");
        refreshes.ask("a");
        assert!(refreshes.asked(&web), "a push announced");
    }

    #[test]
    fn a_request_is_run_once_per_version_that_carries_it_and_a_new_one_runs() {
        let requests = Requests::default();
        assert!(!requests.ran(&app("a", "10")));
        requests.remember(&app("a", "10"), vec!["10".into(), "11".into()]);
        // The version read before and the one the status patch left: both ran already.
        assert!(requests.ran(&app("a", "10")));
        assert!(requests.ran(&app("a", "11")));
        // A new request comes with a new version; another Application is not affected.
        assert!(!requests.ran(&app("a", "12")));
        assert!(!requests.ran(&app("b", "11")));
        // The next remembered request replaces the last.
        requests.remember(&app("a", "12"), vec!["12".into()]);
        assert!(!requests.ran(&app("a", "10")));
        assert!(requests.ran(&app("a", "12")));
    }
}

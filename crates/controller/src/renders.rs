//! Renders kept for re-compares: the last render of each (repository URL, path), with the commit
//! it was made from, for the most recently used ones.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use capstan_cluster::compact::CompactJson;
use serde_json::Value;

/// How many renders are kept. A compare that nothing changed for is skipped before it renders,
/// so renders are wanted while an Application is busy (a sync's waves, a rollout's health
/// changes, drift) — a few at a time — not for every Application; the least recently used go.
pub const KEPT: usize = 256;

/// The last render of each (repository URL, path), with the commit it was made from. A render
/// is served from here only after the caller's own resolve of the revision — which proves the
/// remote accepted its credentials — found that same commit, so the cache's tenant boundary
/// holds. One entry per (repository, path): a new commit replaces the old one's; past
/// [`KEPT`] entries the least recently used one goes. The objects are kept compact
/// (`CompactJson`), a fraction of the parsed objects, and read back on a hit, exactly as
/// rendered.
#[derive(Debug, Default)]
pub struct Renders {
    kept: Mutex<RenderMap>,
    hits: AtomicU64,
}

#[derive(Debug, Default)]
struct RenderMap {
    entries: HashMap<(String, String), Kept>,
    /// Counts uses, to find the least recently used entry.
    clock: u64,
}

#[derive(Debug)]
struct Kept {
    sha: String,
    text: Arc<CompactJson>,
    used: u64,
}

impl Renders {
    /// How many renders were served from here.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, RenderMap> {
        self.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The objects rendered from `dir` of `url` at `sha`, if kept.
    pub(crate) fn get(&self, url: &str, dir: &str, sha: &str) -> Option<Vec<Value>> {
        let text = {
            let mut renders = self.lock();
            renders.clock += 1;
            let now = renders.clock;
            let kept = renders.entries.get_mut(&(url.to_owned(), dir.to_owned()))?;
            if kept.sha != sha {
                return None;
            }
            kept.used = now;
            Arc::clone(&kept.text)
        };
        let hit: Option<Vec<Value>> = text.read();
        if hit.is_some() {
            self.hits.fetch_add(1, Ordering::Relaxed);
        }
        hit
    }

    /// Keeps the objects rendered from `dir` of `url` at `sha`.
    pub(crate) fn keep(&self, url: &str, dir: &str, sha: &str, objects: &[Value]) {
        let Some(text) = CompactJson::of(&objects) else {
            return;
        };
        let mut renders = self.lock();
        renders.clock += 1;
        let kept = Kept {
            sha: sha.to_owned(),
            text: Arc::new(text),
            used: renders.clock,
        };
        renders
            .entries
            .insert((url.to_owned(), dir.to_owned()), kept);
        if renders.entries.len() > KEPT {
            let oldest = renders
                .entries
                .iter()
                .min_by_key(|(_, kept)| kept.used)
                .map(|(key, _)| key.clone());
            if let Some(oldest) = oldest {
                renders.entries.remove(&oldest);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://git.example/r.git";

    #[test]
    fn a_kept_render_is_served_exactly_only_for_its_commit() {
        let objects = vec![
            serde_json::json!({"kind": "ConfigMap", "data": {"t": "grüße ✓"}, "n": [1, -2, 0.5, 3.0]}),
            serde_json::json!({"kind": "Service", "spec": {"ports": [], "x": null}}),
        ];
        let renders = Renders::default();
        renders.keep(URL, "apps/web", "abc", &objects);
        let hit = renders.get(URL, "apps/web", "abc");
        assert_eq!(hit, Some(objects));
        assert_eq!(renders.get(URL, "apps/web", "def"), None);
        assert_eq!(renders.get(URL, "apps/api", "abc"), None);
        assert_eq!(renders.hits(), 1);
    }

    #[test]
    fn past_the_limit_the_least_recently_used_render_goes() {
        let renders = Renders::default();
        let objects = [serde_json::json!({"kind": "ConfigMap"})];
        let path = |i: usize| format!("apps/app-{i}");
        for i in 0..KEPT {
            renders.keep(URL, &path(i), "abc", &objects);
        }
        // The first one is used again; the second is now the least recently used.
        assert!(renders.get(URL, &path(0), "abc").is_some());
        renders.keep(URL, &path(KEPT), "abc", &objects);
        assert!(renders.get(URL, &path(1), "abc").is_none(), "not dropped");
        for i in (0..=KEPT).filter(|&i| i != 1) {
            assert!(
                renders.get(URL, &path(i), "abc").is_some(),
                "render {i} dropped"
            );
        }
    }
}

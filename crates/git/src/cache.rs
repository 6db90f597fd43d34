//! The fetch cache: one bare repository per normalized URL, shared by every Application that uses
//! it, and so a tenant boundary: nothing in it is served to a caller unless the remote accepted
//! that caller's own credentials for that URL within the authorization bound (see `access.rs`). A
//! resolve lists the remote's refs with the caller's credentials (one small request) and fetches
//! only the wanted ref, and only when it moved. Requests for one repository are serialized; a
//! request that waited while another request with the same credentials checked the same revision —
//! a check that began after it asked — takes that result, so a burst of requests costs one check
//! per credential identity and at most one fetch. Least-recently-used repositories are removed
//! when the cache grows past its size limit.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use git2::{Oid, Repository};

use crate::access::{Access, CredentialId, Grants, MAX_AUTHORIZATION_AGE};
use crate::observer::Activity;
use crate::remote::Session;
use crate::revision::{Advertisement, Wanted, resolve};
use crate::{Credentials, Error, GitTree, RepoUrl};

/// Bounds of the cache.
#[derive(Debug, Clone)]
pub struct CacheLimits {
    /// Repositories not in use are removed, least recently used first, above this many bytes.
    pub max_bytes: u64,
    /// Every network operation (check, fetch, push) must finish within this.
    pub operation_timeout: Duration,
    /// How long the remote's acceptance of some credentials (a ref listing with them) lets the
    /// cache serve those credentials without asking the remote again; at most
    /// [`MAX_AUTHORIZATION_AGE`] (larger values are capped), and an access proof expires with it.
    pub authorization_max_age: Duration,
    /// When set, a repository's first fetch asks for only this many commits of history (a
    /// shallow clone: for long histories, where only recent commits are deployed); later fetches
    /// bring new commits on top. `None` (the default): the whole history.
    pub shallow_depth: Option<u32>,
}

impl Default for CacheLimits {
    fn default() -> Self {
        Self {
            max_bytes: 2 << 30,
            operation_timeout: Duration::from_secs(300),
            authorization_max_age: MAX_AUTHORIZATION_AGE,
            shallow_depth: None,
        }
    }
}

/// Counters, for tests and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Remote checks made (ref listings, or fetches standing in for them).
    pub checks: u64,
    /// Fetches that were needed because a wanted ref moved or a commit was missing.
    pub fetches: u64,
}

/// A commit, as reported in status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitInfo {
    /// Full SHA.
    pub sha: String,
    /// Author name.
    pub author: String,
    /// Author time, seconds since the Unix epoch.
    pub time: i64,
    /// First line of the message.
    pub subject: String,
}

/// A revision resolved to a commit that is in the cache, for one caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The ref the revision named (`refs/heads/main`), or `None` for a commit SHA.
    pub reference: Option<String>,
    /// The commit.
    pub commit: CommitInfo,
    /// Proof that the remote accepted the caller's credentials for this repository, for
    /// [`RepoCache::tree`].
    pub access: Access,
}

/// Recent results of checks, by caller identity and revision, for the callers that waited.
type Recent = HashMap<(CredentialId, String), (Instant, Resolved)>;

/// One cached repository.
#[derive(Debug)]
pub(crate) struct Slot {
    pub dir: PathBuf,
    /// Serializes the network work on this repository; holds recent results for waiters.
    pub lock: tokio::sync::Mutex<Recent>,
    /// When the remote last accepted each caller identity for this repository.
    pub grants: Grants,
    last_used: AtomicU64,
    /// Open handles on the repository, kept between uses: opening one costs a scan of every
    /// pack (a fetch adds one), and a kept handle keeps libgit2's cache of trees warm.
    repos: RepoPool,
}

/// At most this many idle handles are kept per repository.
const POOLED_HANDLES: usize = 8;

/// Idle repository handles, each used by one thread at a time.
#[derive(Default)]
struct RepoPool(Mutex<Vec<Repository>>);

impl std::fmt::Debug for RepoPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RepoPool").finish_non_exhaustive()
    }
}

impl Slot {
    /// A handle on the cached repository: an idle one, else a new one (the repository is
    /// created on first use). Give it back with [`Slot::give_back`].
    pub(crate) fn take_repo(&self) -> Result<Repository, Error> {
        let idle = self
            .repos
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop();
        match idle {
            Some(repo) => Ok(repo),
            None => open_repo(&self.dir),
        }
    }

    /// Closes the idle handles (the repository's packs changed under them).
    pub(crate) fn forget_idle(&self) {
        let mut idle = self
            .repos
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        idle.clear();
    }

    /// Keeps `repo` for the next use.
    pub(crate) fn give_back(&self, repo: Repository) {
        let mut idle = self
            .repos
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if idle.len() < POOLED_HANDLES {
            idle.push(repo);
        }
    }
}

#[derive(Debug)]
struct Inner {
    root: PathBuf,
    limits: CacheLimits,
    slots: Mutex<HashMap<String, Arc<Slot>>>,
    clock: AtomicU64,
    checks: AtomicU64,
    fetches: AtomicU64,
    observed: crate::observer::Observed,
}

/// The shared git cache. Cheap to clone.
#[derive(Debug, Clone)]
pub struct RepoCache {
    inner: Arc<Inner>,
}

impl RepoCache {
    /// A cache keeping its bare repositories under `root`.
    pub fn new(root: impl Into<PathBuf>, mut limits: CacheLimits) -> Self {
        crate::timeouts::init();
        limits.authorization_max_age = limits.authorization_max_age.min(MAX_AUTHORIZATION_AGE);
        let inner = Inner {
            root: root.into(),
            limits,
            slots: Mutex::new(HashMap::new()),
            clock: AtomicU64::new(0),
            checks: AtomicU64::new(0),
            fetches: AtomicU64::new(0),
            observed: crate::observer::Observed::default(),
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Counters since the cache was made.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            checks: self.inner.checks.load(Ordering::Relaxed),
            fetches: self.inner.fetches.load(Ordering::Relaxed),
        }
    }

    /// Tells `observer` of every remote check and fetch from now on, with its result (for
    /// metrics). Returns `false`, keeping the first, when an observer was set already.
    pub fn observe(&self, observer: crate::Observer) -> bool {
        self.inner.observed.set(observer)
    }

    /// Resolves `revision` of the repository at `url` to a commit, fetching it if needed, for a
    /// caller with `creds`. Nothing cached is served unless the remote accepted these very
    /// credentials for this repository within the authorization bound: a full SHA already in the
    /// cache is served without a network call only then, and otherwise after one ref listing with
    /// them (no fetch when the commit is already here). A refused check withdraws them at once.
    pub async fn resolve(
        &self,
        url: &str,
        creds: &Credentials,
        revision: &str,
    ) -> Result<Resolved, Error> {
        self.resolve_within(url, creds, revision, Duration::ZERO)
            .await
    }

    /// [`RepoCache::resolve`], or — when a check of `revision` with these very credentials
    /// began less than `max_age` ago and the remote's acceptance of them is within the
    /// authorization bound — that check's result, with no network call. For a periodic
    /// re-compare that a repository poll already keeps fresh; pass `Duration::ZERO` (what
    /// `resolve` does) whenever the caller must see the remote as it is now.
    #[tracing::instrument(level = "debug", skip(self, creds), fields(url = %crate::url::redact(url)))]
    pub async fn resolve_within(
        &self,
        url: &str,
        creds: &Credentials,
        revision: &str,
        max_age: Duration,
    ) -> Result<Resolved, Error> {
        let url = RepoUrl::parse(url)?;
        let identity = CredentialId::of(&url, creds);
        let bound = self.inner.limits.authorization_max_age;
        let asked = Instant::now();
        let slot = self.slot(&url);
        let mut recent = slot.lock.lock().await;
        let key = (identity, revision.to_owned());
        // A waiter takes the result of a check with its own credentials that began after it asked.
        if let Some((started, resolved)) = recent.get(&key) {
            let recent_enough = !max_age.is_zero()
                && started.elapsed() < max_age
                && slot.grants.valid_since(identity, bound).is_some();
            if *started >= asked || recent_enough {
                return Ok(resolved.clone());
            }
        }
        // Commits are immutable: a cached full SHA needs no network while the remote's acceptance
        // of these credentials is recent enough.
        if let Some(since) = slot.grants.valid_since(identity, bound)
            && is_full_sha(revision)
            && let Some(commit) = self.cached_commit(&slot, &url, revision).await?
        {
            let access = Access::new(&url, identity, since);
            return Ok(Resolved {
                reference: None,
                commit,
                access,
            });
        }
        let started = Instant::now();
        self.inner.checks.fetch_add(1, Ordering::Relaxed);
        let (pooled, creds_owned, rev, url_owned) = (
            Arc::clone(&slot),
            creds.clone(),
            revision.to_owned(),
            url.clone(),
        );
        let (depth, timeout) = (
            self.inner.limits.shallow_depth,
            self.inner.limits.operation_timeout,
        );
        let checked = self
            .blocking("fetch", &url, move |cancel| {
                let repo = pooled.take_repo()?;
                let how = (cancel, depth, timeout);
                let found = resolve_blocking(&repo, &url_owned, &creds_owned, &rev, how);
                // A fetch adds a pack: past a bound they are consolidated, and the handles that
                // knew the old packs are not used again.
                let fetched = matches!(found, Ok((_, _, true)));
                if fetched && consolidate(&repo, &url_owned) {
                    pooled.forget_idle();
                } else {
                    pooled.give_back(repo);
                }
                found
            })
            .await;
        // A missing revision is only found out after the remote accepted the listing; any other
        // failure (a refusal above all) leaves nothing that vouches for these credentials.
        match &checked {
            Ok(_) | Err(Error::RevisionNotFound { .. }) => {
                slot.grants.grant(identity, started, bound);
            }
            Err(_) => slot.grants.revoke(identity),
        }
        let observed = &self.inner.observed;
        observed.tell(
            Activity::Check,
            checked.as_ref().map(|_| ()).map_err(Error::reason),
        );
        let (reference, commit, fetched) = checked?;
        if fetched {
            self.inner.fetches.fetch_add(1, Ordering::Relaxed);
            observed.tell(Activity::Fetch, Ok(()));
        }
        let access = Access::new(&url, identity, started);
        let resolved = Resolved {
            reference,
            commit,
            access,
        };
        recent.retain(|_, (at, _)| at.elapsed() <= bound);
        recent.insert(key, (started, resolved.clone()));
        drop(recent);
        drop(slot);
        if fetched {
            // Only a fetch grows the cache; an unchanged check never walks the disk.
            self.evict().await;
        }
        Ok(resolved)
    }

    /// The commit `sha` when the cache already has it.
    async fn cached_commit(
        &self,
        slot: &Arc<Slot>,
        url: &RepoUrl,
        sha: &str,
    ) -> Result<Option<CommitInfo>, Error> {
        let slot = Arc::clone(slot);
        let wanted = Wanted::Commit {
            sha: sha.to_owned(),
        };
        self.blocking("read", url, move |_| {
            Ok(slot.take_repo().ok().and_then(|repo| {
                let found = find_commit(&repo, &wanted).ok();
                slot.give_back(repo);
                found
            }))
        })
        .await
    }

    /// The tree of `commit` (already resolved through this cache), read from the object database.
    /// `access` must come from a resolve of this repository (`url`) that is still within the
    /// authorization bound, by credentials no later check refused; otherwise the read is refused.
    pub async fn tree(&self, url: &str, access: &Access, commit: &str) -> Result<GitTree, Error> {
        let url = RepoUrl::parse(url)?;
        let slot = self.slot(&url);
        access.check(&url, &slot.grants, self.inner.limits.authorization_max_age)?;
        let sha = commit.to_owned();
        let tree_slot = Arc::clone(&slot);
        self.blocking("read", &url, move |_| GitTree::open(tree_slot, &sha))
            .await
    }

    /// How long the remote's acceptance of some credentials vouches for them.
    pub(crate) fn authorization_max_age(&self) -> Duration {
        self.inner.limits.authorization_max_age
    }

    /// The slot for `url`, created on first use.
    pub(crate) fn slot(&self, url: &RepoUrl) -> Arc<Slot> {
        let key = url.cache_key();
        let tick = self.inner.clock.fetch_add(1, Ordering::Relaxed);
        let mut slots = self
            .inner
            .slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let slot = slots.entry(key.clone()).or_insert_with(|| {
            Arc::new(Slot {
                dir: self.inner.root.join(dir_name(&key)),
                lock: tokio::sync::Mutex::new(HashMap::new()),
                grants: Grants::default(),
                last_used: AtomicU64::new(tick),
                repos: RepoPool::default(),
            })
        });
        slot.last_used.store(tick, Ordering::Relaxed);
        Arc::clone(slot)
    }

    /// Runs blocking git work on the blocking pool under the operation timeout. On timeout the
    /// work is told to stop (it checks between transfers; libgit2's own I/O timeout ends a silent
    /// connection) and the caller gets an error at once.
    pub(crate) async fn blocking<T, F>(
        &self,
        action: &'static str,
        url: &RepoUrl,
        work: F,
    ) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(Arc<AtomicBool>) -> Result<T, Error> + Send + 'static,
    {
        let cancel = Arc::new(AtomicBool::new(false));
        let task = tokio::task::spawn_blocking({
            let cancel = Arc::clone(&cancel);
            move || work(cancel)
        });
        let after = self.inner.limits.operation_timeout;
        match tokio::time::timeout(after, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(Error::local(format!("{action} {url}"), join)),
            Err(_) => {
                cancel.store(true, Ordering::Relaxed);
                Err(Error::Timeout {
                    action,
                    url: url.to_string(),
                    after,
                })
            }
        }
    }

    /// Bytes the cached repositories take on disk.
    pub fn disk_bytes(&self) -> u64 {
        dir_size(&self.inner.root)
    }

    /// Removes least-recently-used repositories that nobody uses while the cache is too large.
    /// The disk is measured on the blocking pool, outside the slot table's lock.
    pub(crate) async fn evict(&self) {
        let cache = self.clone();
        let _ = tokio::task::spawn_blocking(move || cache.evict_blocking()).await;
    }

    fn evict_blocking(&self) {
        let lock = || {
            self.inner
                .slots
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        let listed: Vec<(String, PathBuf, u64)> = lock()
            .iter()
            .map(|(key, slot)| {
                (
                    key.clone(),
                    slot.dir.clone(),
                    slot.last_used.load(Ordering::Relaxed),
                )
            })
            .collect();
        let mut sized: Vec<(String, u64, u64)> = listed
            .into_iter()
            .map(|(key, dir, used)| (key, dir_size(&dir), used))
            .collect();
        let mut total: u64 = sized.iter().map(|(_, size, _)| size).sum();
        sized.sort_by_key(|(_, _, used)| *used);
        for (key, size, _) in sized {
            if total <= self.inner.limits.max_bytes {
                break;
            }
            // The lock is held while the directory goes, so no new slot can reuse it meanwhile.
            let mut slots = lock();
            let idle = slots.get(&key).is_some_and(|s| Arc::strong_count(s) == 1);
            if idle && let Some(slot) = slots.remove(&key) {
                let _ = std::fs::remove_dir_all(&slot.dir);
                total = total.saturating_sub(size);
                tracing::info!(repository = %key, bytes = size, "evicted from the git cache");
            }
        }
    }
}

/// A directory name for a cache key: readable, unique, no path separators.
fn dir_name(key: &str) -> String {
    let readable: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let hash = key.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    });
    format!("{}-{hash:016x}", &readable[..readable.len().min(80)])
}

fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Opens the bare cache repository at `dir`, creating it on first use.
pub(crate) fn open_repo(dir: &Path) -> Result<Repository, Error> {
    Repository::open_bare(dir).or_else(|_| {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::local(format!("create {}", dir.display()), e))?;
        Repository::init_bare(dir).map_err(|e| Error::local(format!("init {}", dir.display()), e))
    })
}

/// The local ref a remote ref is fetched into.
pub(crate) fn local_ref(remote_ref: &str) -> String {
    if remote_ref == "HEAD" {
        "refs/capstan/remote-head".to_owned()
    } else {
        remote_ref.to_owned()
    }
}

/// What a check found: the ref the revision named, its commit, and whether a fetch happened.
type Found = (Option<String>, CommitInfo, bool);

/// Check with the caller's credentials, fetch if needed, resolve.
fn resolve_blocking(
    repo: &Repository,
    url: &RepoUrl,
    creds: &Credentials,
    revision: &str,
    (cancel, depth, timeout): (Arc<AtomicBool>, Option<u32>, Duration),
) -> Result<Found, Error> {
    let mut session = Session::new(url, creds, Arc::clone(&cancel));
    // Only a repository's first fetch is shallow; later ones bring what is new on top of it.
    if repo.is_empty().unwrap_or(false) {
        session.depth = depth;
    }
    // Over HTTP(S), one protocol v2 `ls-refs` request for just the refs the revision can name;
    // libgit2 (v0/v1 only) lists every ref of the remote, and fetches only what moved.
    let prefixes = crate::revision::ref_prefixes(revision);
    let listed = crate::ls_refs::list(url, creds, &prefixes, timeout);
    // The operation may have timed out while the listing waited: nothing more is asked then.
    if cancel.load(Ordering::Relaxed) {
        return Err(Error::Cancelled {
            action: "list refs of",
            url: url.to_string(),
        });
    }
    let (wanted, fetched) = if let Some(adv) = listed {
        let found = resolve(revision, &adv)?;
        let refspecs = refspecs_for(repo, &found);
        // A moved ref is one v2 `fetch` request; libgit2 fetches what that could not.
        let by_v2 = || match &found {
            Wanted::Ref { name, oid } => crate::fetch_v2::fetch(
                repo,
                url,
                creds,
                (oid, &local_ref(name)),
                (session.depth, &session.cancel),
            ),
            Wanted::Commit { .. } => None,
        };
        if !refspecs.is_empty() && by_v2().is_none() {
            session.fetch(repo, &refspecs)?;
        }
        (found, !refspecs.is_empty())
    } else if session_uses_bearer(url, creds) {
        // libgit2 cannot send a bearer token when only listing refs; a fetch of all branches and
        // tags stands in for the listing (it downloads nothing when nothing moved).
        let before = local_advertisement(repo)?;
        session.fetch(repo, &all_refspecs())?;
        let after = local_advertisement(repo)?;
        (resolve(revision, &after)?, before != after)
    } else {
        let mut wanted = None;
        let (_, fetched) = session.list_and_fetch(repo, |adv| {
            let found = resolve(revision, adv)?;
            let refspecs = refspecs_for(repo, &found);
            wanted = Some(found);
            Ok(refspecs)
        })?;
        (
            wanted.ok_or_else(|| Error::RevisionNotFound {
                revision: revision.to_owned(),
            })?,
            fetched,
        )
    };
    let commit = find_commit(repo, &wanted).map_err(|_| Error::RevisionNotFound {
        revision: revision.to_owned(),
    })?;
    let reference = match wanted {
        Wanted::Ref { name, .. } => Some(name),
        Wanted::Commit { .. } => None,
    };
    Ok((reference, commit, fetched))
}

/// Consolidates `repo`'s packs when there are many; whether it did. A failure leaves the packs
/// as they were (the next fetch tries again).
fn consolidate(repo: &Repository, url: &RepoUrl) -> bool {
    match crate::repack::consolidate(repo) {
        Ok(done) => done,
        Err(error) => {
            tracing::warn!(%error, repository = %url, "cannot consolidate the git cache's packs");
            false
        }
    }
}

fn is_full_sha(revision: &str) -> bool {
    revision.len() == 40 && revision.chars().all(|c| c.is_ascii_hexdigit())
}

/// What to fetch so that `wanted` is in the cache: nothing when it already is.
fn refspecs_for(repo: &Repository, wanted: &Wanted) -> Vec<String> {
    match wanted {
        Wanted::Ref { name, oid } => {
            let local = repo
                .refname_to_id(&local_ref(name))
                .ok()
                .map(|o| o.to_string());
            if local.as_deref() == Some(oid.as_str()) {
                Vec::new()
            } else {
                vec![format!("+{name}:{}", local_ref(name))]
            }
        }
        Wanted::Commit { .. } if find_commit(repo, wanted).is_ok() => Vec::new(),
        Wanted::Commit { .. } => all_refspecs(),
    }
}

/// Whether a session sends a bearer token (and so cannot list refs without fetching).
pub(crate) fn session_uses_bearer(url: &RepoUrl, creds: &Credentials) -> bool {
    creds.bearer_token.is_some() && matches!(url.scheme(), "https" | "http")
}

fn all_refspecs() -> Vec<String> {
    vec![
        "+refs/heads/*:refs/heads/*".to_owned(),
        "+refs/tags/*:refs/tags/*".to_owned(),
    ]
}

/// The cache's own refs as if a remote advertised them (`HEAD` is `main`, else `master`).
fn local_advertisement(repo: &Repository) -> Result<Advertisement, Error> {
    let refs = repo
        .references()
        .map_err(|e| Error::local("list cached refs", e))?;
    let mut adv = Advertisement::default();
    for reference in refs.flatten() {
        if let (Ok(name), Some(oid)) = (reference.name(), reference.target()) {
            adv.refs.push((name.to_owned(), oid.to_string()));
        }
    }
    adv.head_target = ["refs/heads/main", "refs/heads/master"]
        .into_iter()
        .find(|b| adv.refs.iter().any(|(n, _)| n == b))
        .map(str::to_owned);
    Ok(adv)
}

/// The commit a resolution points at, if it is in the cache.
pub(crate) fn find_commit(repo: &Repository, wanted: &Wanted) -> Result<CommitInfo, Error> {
    let missing = |e: git2::Error| Error::local("find commit", e);
    let commit = match wanted {
        Wanted::Ref { name, .. } => repo
            .find_reference(&local_ref(name))
            .and_then(|r| r.peel_to_commit())
            .map_err(missing)?,
        Wanted::Commit { sha } if sha.len() == 40 => repo
            .find_commit(Oid::from_str(sha).map_err(missing)?)
            .map_err(missing)?,
        Wanted::Commit { sha } => repo.find_commit_by_prefix(sha).map_err(missing)?,
    };
    Ok(commit_info(&commit))
}

/// What status reports about a commit.
pub(crate) fn commit_info(commit: &git2::Commit<'_>) -> CommitInfo {
    let author = commit.author();
    CommitInfo {
        sha: commit.id().to_string(),
        author: String::from_utf8_lossy(author.name_bytes()).into_owned(),
        time: author.when().seconds(),
        subject: commit
            .summary_bytes()
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .unwrap_or_default(),
    }
}

//! Compares desired objects with the cluster: a server-side-apply dry-run of each (bounded
//! parallelism) against its live object, plus what a prune would delete. The pure comparison is
//! `capstan_core::diff`.

use std::collections::{BTreeSet, HashMap};

use capstan_api::AppliedFingerprints;
use capstan_core::diff::{DiffState, ObjectDiff, compare, pruned};
use capstan_core::fingerprint;
use capstan_core::ignore::{self, IgnoreRule};
use capstan_core::inventory::Inventory;
use capstan_core::object::ObjectKey;
use capstan_core::object::str_at;
use capstan_core::tracking::AppId;
use kube::Client;
use serde_json::Value;

use crate::discovery::Catalog;
use crate::error::{ClusterError, is_not_found};
use crate::observed::Observed;
use crate::prepare::{Prepared, located};
use crate::prune::{Departed, departed};
use crate::{live, parallel, ssa};

/// The body Capstan sends for `object`: the desired object, with fields that `rules` ignore
/// kept at their live values (see `capstan_core::ignore::respect`).
pub fn body(object: &Prepared, live: Option<&Value>, rules: &[IgnoreRule]) -> Value {
    let mut body = object.obj.clone();
    if let Some(live) = live {
        ignore::respect(rules, &object.key, live, &mut body);
    }
    body
}

/// What differs between an application's desired objects and the cluster.
#[derive(Debug, Clone, Default)]
pub struct Differences {
    /// Changed or missing desired objects (dry-run diffs), then the owned objects that left the
    /// desired set and a prune would delete.
    pub diffs: Vec<ObjectDiff>,
    /// Inventory entries that left the desired set but whose kind the cluster does not serve:
    /// they cannot be compared, and stay in the inventory.
    pub unresolved: Vec<ObjectKey>,
}

/// What differs between an application's desired objects and the cluster: changed or missing
/// objects (dry-run diffs), then the owned objects of `previous` that a prune would delete —
/// whether or not the last sync pruned. An empty desired set shows nothing to prune, as a sync
/// without `allow_empty` would prune nothing.
pub async fn differences(
    client: &Client,
    catalog: &Catalog,
    prepared: &[Prepared],
    previous: &Inventory,
    app: &AppId,
    rules: &[IgnoreRule],
    parallelism: usize,
) -> Result<Differences, ClusterError> {
    let live = Observed::from(live::fetch(client, &located(prepared), parallelism).await?);
    let cx = Context {
        client,
        catalog,
        app,
        rules,
        parallelism,
        dry_run_missing: true,
    };
    differences_in(&cx, prepared, &live, previous).await
}

/// What a compare needs besides the objects.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    /// For dry-runs and for reading what the live state lacks.
    pub client: &'a Client,
    /// To resolve the kinds of the inventory.
    pub catalog: &'a Catalog,
    /// The application.
    pub app: &'a AppId,
    /// `ignoreDifferences`.
    pub rules: &'a [IgnoreRule],
    /// How many dry-runs or reads at once.
    pub parallelism: usize,
    /// Whether an object missing from the cluster is dry-run too — for a diff that shows what
    /// the API server would default in it. A controller, which only needs to know it is
    /// missing (its sync creates it), leaves this off and spares one request per new object.
    pub dry_run_missing: bool,
}

/// [`differences`] against live objects already in hand — from the shared watch caches
/// (`LiveCache::observe`), for a controller: while nothing changed, this makes no API call for
/// the objects the caches settle (all but Secrets and objects an `ignoreDifferences` rule
/// selects, which are read whole).
pub async fn differences_in(
    cx: &Context<'_>,
    prepared: &[Prepared],
    live: &Observed,
    previous: &Inventory,
) -> Result<Differences, ClusterError> {
    Ok(compare_app(cx, prepared, live, previous)
        .await?
        .differences(prepared))
}

/// One compare of an application, whole: each desired object's comparison, and what became of
/// the objects that left the desired set. A sync can be planned from it without reading or
/// dry-running again (`Run::from_comparison`).
#[derive(Debug, Clone)]
pub struct Comparison {
    /// Each desired object, in the order of the prepared objects.
    pub compared: Vec<Compared>,
    /// What became of the objects that left the desired set.
    pub departed: Departed,
}

impl Comparison {
    /// The differences to show: changed or missing objects, then what a prune would delete —
    /// nothing for an empty desired set, which a sync would refuse to prune.
    pub fn differences(&self, prepared: &[Prepared]) -> Differences {
        let mut diffs: Vec<ObjectDiff> = self.compared.iter().map(|c| c.diff.clone()).collect();
        diffs.retain(|d| d.state.is_difference());
        if prepared.is_empty() {
            return Differences {
                diffs,
                unresolved: Vec::new(),
            };
        }
        let owned = &self.departed.owned;
        diffs.extend(owned.iter().map(|l| pruned(&l.key, &l.live)));
        Differences {
            diffs,
            unresolved: self.departed.unresolved.clone(),
        }
    }
}

/// Compares an application against live objects in hand: see [`Comparison`]. A settled object
/// (see [`Observed`]) is in sync with the fingerprints the inventory has for it.
pub async fn compare_app(
    cx: &Context<'_>,
    prepared: &[Prepared],
    live: &Observed,
    previous: &Inventory,
) -> Result<Comparison, ClusterError> {
    let Context {
        client,
        catalog,
        app,
        rules,
        parallelism,
        dry_run_missing,
    } = *cx;
    let compares: Vec<_> = prepared
        .iter()
        .map(|object| {
            let found = if live.is_settled(&object.key) {
                Found::Settled
            } else {
                Found::Whole(live.whole.get(&object.key))
            };
            compare_one(client, object, found, rules, previous, dry_run_missing)
        })
        .collect();
    let compared = parallel::try_run(compares, parallelism).await?;
    let keys: BTreeSet<ObjectKey> = prepared.iter().map(|p| p.key.clone()).collect();
    let departed = departed(client, catalog, app, previous, &keys, parallelism).await?;
    Ok(Comparison { compared, departed })
}

/// The diff of every prepared object against `live`, in the order of `prepared`, each made
/// with a dry-run.
pub async fn diff_all(
    client: &Client,
    prepared: &[Prepared],
    live: &HashMap<ObjectKey, Value>,
    rules: &[IgnoreRule],
    parallelism: usize,
) -> Result<Vec<ObjectDiff>, ClusterError> {
    let none = Inventory::default();
    let compared = compare_all(client, prepared, live, rules, &none, parallelism).await?;
    Ok(compared.into_iter().map(|c| c.diff).collect())
}

/// How one object compares, and — when it is in sync — the fingerprints that let the next
/// compare skip it while nothing changes.
#[derive(Debug, Clone)]
pub struct Compared {
    /// The diff.
    pub diff: ObjectDiff,
    /// Set when the object is in sync: the fingerprints of its body and its live object.
    pub in_sync: Option<AppliedFingerprints>,
}

/// Compares every prepared object with `live`, in the order of `prepared`. An object whose
/// body and live object are what was applied and read back last time (`known` holds the
/// fingerprints) is in sync without a dry-run; every other one is dry-run.
pub async fn compare_all(
    client: &Client,
    prepared: &[Prepared],
    live: &HashMap<ObjectKey, Value>,
    rules: &[IgnoreRule],
    known: &Inventory,
    parallelism: usize,
) -> Result<Vec<Compared>, ClusterError> {
    let compares: Vec<_> = prepared
        .iter()
        .map(|object| {
            let found = Found::Whole(live.get(&object.key));
            compare_one(client, object, found, rules, known, true)
        })
        .collect();
    parallel::try_run(compares, parallelism).await
}

/// What a compare has of one live object.
#[derive(Clone, Copy)]
enum Found<'a> {
    /// In sync by its projection in the watch caches.
    Settled,
    /// Read whole; `None` when it does not exist.
    Whole(Option<&'a Value>),
}

/// One object: by fingerprint when it can be, else by dry-run.
async fn compare_one(
    client: &Client,
    object: &Prepared,
    found: Found<'_>,
    rules: &[IgnoreRule],
    known: &Inventory,
    dry_run_missing: bool,
) -> Result<Compared, ClusterError> {
    let key = &object.key;
    let live = match found {
        Found::Settled => return Ok(unchanged(key, known)),
        Found::Whole(live) => live,
    };
    if live.is_none() && !dry_run_missing {
        let diff = compare(key, &body(object, None, rules), None, rules);
        return Ok(Compared {
            diff,
            in_sync: None,
        });
    }
    if let Some(live) = live {
        let body = body(object, Some(live), rules);
        if fingerprint::unchanged(key, known.applied(key), &body, live) {
            return Ok(unchanged(key, known));
        }
    }
    let (diff, live) = diff_one(client, object, live, rules).await?;
    let in_sync = match (&live, diff.state) {
        (Some(live), DiffState::Unchanged) => {
            fingerprint::applied(key, &body(object, Some(live), rules), live)
        }
        _ => None,
    };
    Ok(Compared { diff, in_sync })
}

/// `key` in sync with the fingerprints `known` has for it.
fn unchanged(key: &ObjectKey, known: &Inventory) -> Compared {
    let diff = ObjectDiff {
        key: key.clone(),
        state: DiffState::Unchanged,
        diff: String::new(),
    };
    let in_sync = known.applied(key).cloned();
    Compared { diff, in_sync }
}

/// How often a dry-run is made again when the live object keeps changing under it.
const CONSISTENT_ATTEMPTS: usize = 3;

/// The diff of one object. An object that cannot be dry-run because it is missing and so is
/// something it needs (its namespace, its CRD) is reported missing with its desired content.
///
/// A dry-run result is compared only with the live object it was computed from: when the
/// resourceVersion it answers with is not the one of the live copy in hand (another writer —
/// a controller adding an annotation, say — changed the object since it was read), the object is
/// read again and, if it moved once more, dry-run again. Comparing with the stale copy would
/// report the other writer's change as a difference of Capstan's.
/// Returns the diff and the live object it was compared with.
async fn diff_one(
    client: &Client,
    object: &Prepared,
    live: Option<&Value>,
    rules: &[IgnoreRule],
) -> Result<(ObjectDiff, Option<Value>), ClusterError> {
    let Some(resource) = &object.resource else {
        let body = body(object, live, rules);
        return Ok((compare(&object.key, &body, None, rules), None));
    };
    let mut live = live.cloned();
    for _ in 0..CONSISTENT_ATTEMPTS {
        let body = body(object, live.as_ref(), rules);
        let predicted = match ssa::dry_run(client, object, resource, &body).await {
            Ok(predicted) => predicted,
            Err(err) if live.is_none() && is_not_found(&err) => {
                return Ok((compare(&object.key, &body, None, rules), None));
            }
            Err(source) => {
                return Err(ClusterError::DryRun {
                    key: Box::new(object.key.clone()),
                    source,
                });
            }
        };
        if !same_version(&predicted, live.as_ref()) {
            live = live::get(client, &object.key, resource).await?;
        }
        if same_version(&predicted, live.as_ref()) {
            let diff = compare(&object.key, &predicted, live.as_ref(), rules);
            return Ok((diff, live));
        }
    }
    Err(ClusterError::Invalid(format!(
        "{}: the live object kept changing while it was compared; try again",
        object.key
    )))
}

/// Whether a dry-run result was computed from `live`: the same resourceVersion, or no live
/// object and a result that is a creation (no resourceVersion).
fn same_version(predicted: &Value, live: Option<&Value>) -> bool {
    let version = |obj: &Value| {
        str_at(obj, &["metadata", "resourceVersion"])
            .unwrap_or_default()
            .to_owned()
    };
    version(predicted) == live.map(version).unwrap_or_default()
}

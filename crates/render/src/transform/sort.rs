//! Output order: `legacy` (kustomize's default: by kind — Namespaces and CRDs first, webhooks
//! last — then by group, version, namespace and name) or `fifo` (input order), and a
//! kustomization's `sortOptions` that chooses between them and reorders kinds.

use serde::Deserialize;
use serde_json::Value;

use crate::build::Reorder;
use crate::error::RenderError;
use crate::resource::Resource;

/// Kinds that come first in the legacy order, in this order.
pub const ORDER_FIRST: &[&str] = &[
    "Namespace",
    "ResourceQuota",
    "StorageClass",
    "CustomResourceDefinition",
    "ServiceAccount",
    "PodSecurityPolicy",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Endpoints",
    "Service",
    "LimitRange",
    "PriorityClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
];

/// Kinds that come last in the legacy order, in this order.
pub const ORDER_LAST: &[&str] = &[
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
struct SortOptions {
    order: Option<String>,
    legacy_sort_options: Option<LegacyOptions>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
struct LegacyOptions {
    order_first: Vec<String>,
    order_last: Vec<String>,
}

/// How to sort.
#[derive(Debug, Clone, Default)]
pub enum Order {
    /// Input order.
    #[default]
    Fifo,
    /// By kind with these first and last lists.
    Legacy {
        /// Kinds first.
        first: Vec<String>,
        /// Kinds last.
        last: Vec<String>,
    },
}

impl Order {
    /// The built-in legacy order.
    pub fn legacy() -> Self {
        Order::Legacy {
            first: ORDER_FIRST.iter().map(|s| s.to_string()).collect(),
            last: ORDER_LAST.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// The order for the command-line flag.
    pub fn from_flag(reorder: Reorder) -> Self {
        match reorder {
            Reorder::Legacy => Self::legacy(),
            Reorder::None => Self::Fifo,
        }
    }

    /// Reads a kustomization's `sortOptions`.
    pub fn from_sort_options(value: &Value, file: &str) -> Result<Self, RenderError> {
        let opts: SortOptions = serde_json::from_value(value.clone())
            .map_err(|e| RenderError::field(file, "sortOptions", e))?;
        match opts.order.as_deref() {
            Some("fifo") => {
                if opts.legacy_sort_options.is_some() {
                    return Err(RenderError::field(
                        file,
                        "sortOptions",
                        "the field 'sortOptions.legacySortOptions' is set but the selected sort \
                         order is 'fifo', not 'legacy'",
                    ));
                }
                Ok(Self::Fifo)
            }
            Some("legacy") => Ok(match opts.legacy_sort_options {
                Some(l) => Self::Legacy {
                    first: l.order_first,
                    last: l.order_last,
                },
                None => Self::legacy(),
            }),
            _ => Err(RenderError::field(
                file,
                "sortOptions",
                "the field 'sortOptions.order' must be one of [fifo, legacy]",
            )),
        }
    }

    /// Sorts `items` in place (stably).
    pub fn sort(&self, items: &mut [Resource]) {
        let Order::Legacy { first, last } = self else {
            return;
        };
        let rank = |kind: &str| -> (usize, usize) {
            if let Some(i) = first.iter().position(|k| k == kind) {
                (0, i)
            } else if let Some(i) = last.iter().position(|k| k == kind) {
                (2, i)
            } else {
                (1, 0)
            }
        };
        items.sort_by(|a, b| {
            let (ka, kb) = (a.kind(), b.kind());
            rank(ka)
                .cmp(&rank(kb))
                .then_with(|| gvk_string(a).cmp(&gvk_string(b)))
                .then_with(|| a.namespace().cmp(b.namespace()))
                .then_with(|| a.name().cmp(b.name()))
        });
    }
}

/// Kustomize's tie-break between kinds of the same rank: group, version, kind as text, with an
/// empty group or version written `~G` / `~V` (so the core group sorts last).
fn gvk_string(r: &Resource) -> String {
    let gvk = r.gvk();
    let group = if gvk.group.is_empty() {
        "~G"
    } else {
        &gvk.group
    };
    let version = if gvk.version.is_empty() {
        "~V"
    } else {
        &gvk.version
    };
    format!("{group}_{version}_{}", gvk.kind)
}

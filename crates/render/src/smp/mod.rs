//! Strategic merge patch as kustomize v5.8.1 applies it (kyaml's merge, lists growing at the
//! front), over `serde_json::Value`s, plus the merge-key [`Schema`] it needs.
//!
//! Semantics, as observed from kustomize:
//! - Maps merge recursively; a `null` in the patch deletes the field; an explicit `null` in the
//!   target that the patch does not touch is kept.
//! - `$patch: delete` / `$patch: replace` / `$patch: merge` work on maps and on lists (as a
//!   `{$patch: ...}` element); `$patch: delete` on a list element removes the element with the
//!   same keys. `$patch: replace` on a list *element* has no effect when that element exists in
//!   the target (kustomize puts the target's element back).
//! - `$retainKeys`, `$deleteFromPrimitiveList/...` and `$setElementOrder/...` are not
//!   directives for kustomize: they stay in the output as ordinary fields.
//! - Lists whose schema strategy contains `merge` merge element by element, keyed by
//!   `x-kubernetes-list-map-keys` (else the merge key); the result lists the patch's elements
//!   first, then the target's others. Lists of primitives with strategy `merge` are unioned the
//!   same way. Every other list, and every list of a kind the schema does not know, is replaced.
//! - Once any patch touches a resource, every merging list in it is rebuilt, with kustomize's
//!   quirks: duplicate keys collapse, and an element lacking its merge key wipes its siblings.
//!
//! The schema of the target comes from its `apiVersion`/`kind` (else the patch's), and again
//! for any nested object with both fields where the schema has nothing to say.

mod codegen;
mod list;
mod schema;
mod walk;

pub use codegen::{LEGACY_ALIASES, schema_from_openapi};
pub use schema::{BUILTIN_SCHEMA_JSON, BUILTIN_VERSION, Schema, SchemaError, SchemaNode};

use serde_json::Value;

/// Why a strategic merge failed. `path` is the field path (`spec.containers[name=web]`), `.` for
/// the object itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmpError {
    /// The target and the patch disagree on what a field is (map, list or scalar).
    #[error("merge {path}: expected a {expected} but found a {found}")]
    KindMismatch {
        /// The field.
        path: String,
        /// The kind of the first of target and patch that has a value.
        expected: &'static str,
        /// The other's kind.
        found: &'static str,
    },
    /// `$patch` has a value other than `delete`, `replace` or `merge`.
    #[error("read $patch at {path}: unknown patch strategy '{value}'")]
    UnknownDirective {
        /// The map or list carrying the directive.
        path: String,
        /// The value found.
        value: String,
    },
    /// A merging list holds an element of the wrong kind for its keys.
    #[error("merge list {path}: an element is a {found}, expected a {expected}")]
    ElementKind {
        /// The list.
        path: String,
        /// What the keys need (map for keyed lists, scalar for lists of primitives).
        expected: &'static str,
        /// What was found.
        found: &'static str,
    },
}

/// Applies `patch` to `target` by strategic merge. `None` means the patch deleted the whole
/// object (`$patch: delete` at its top). Kustomize restores the target's name, namespace and
/// kind afterwards unless the patch may change them; that is the caller's job.
pub fn merge(target: &Value, patch: &Value, schema: &Schema) -> Result<Option<Value>, SmpError> {
    walk::Walker::new(schema).merge_root(target, patch)
}

//! The one way Capstan deletes an object — for a prune and for the delete of a `Force`/`Replace`
//! recreate alike: only when the object's tracking id names this application and this very
//! object, checked on the object that is deleted. The delete carries the checked object's uid and
//! resourceVersion as preconditions, so an object that was replaced or re-annotated in between is
//! read and checked again instead of deleted blindly.

use capstan_api::Reason;
use capstan_core::object::{ObjectKey, annotation, str_at};
use capstan_core::tracking::AppId;
use kube::api::{Api, DeleteParams, DynamicObject, Preconditions, PropagationPolicy};
use serde_json::Value;

use crate::error::{api_message, classify, is_not_found};

/// How often a delete whose preconditions failed (the object changed) is read and tried again.
const ATTEMPTS: usize = 3;

/// Why an object was not deleted.
#[derive(Debug, thiserror::Error)]
pub enum DeleteError {
    /// The object's tracking id does not name this application and this object.
    #[error("not owned by application {app}: {why}")]
    NotOwned {
        /// The object.
        key: Box<ObjectKey>,
        /// The application that wanted to delete it.
        app: String,
        /// What its tracking id says instead.
        why: String,
    },
    /// The API server refused or failed the delete or the read before it.
    #[error("{}", api_message(source))]
    Api {
        /// The object.
        key: Box<ObjectKey>,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// The object kept changing between the ownership check and the delete.
    #[error("{0} kept changing while it was being deleted")]
    Contended(Box<ObjectKey>),
}

impl DeleteError {
    /// Whether trying again soon may succeed: the API server's answer says so (see
    /// [`classify`]), or the object kept changing; never for an object this application does
    /// not own.
    pub fn is_retryable(&self) -> bool {
        match self {
            DeleteError::NotOwned { .. } => false,
            DeleteError::Api { source, .. } => classify(source).is_retryable(),
            DeleteError::Contended(_) => true,
        }
    }

    /// Why the object was not deleted, for a prune's result.
    pub fn reason(&self) -> Reason {
        match self {
            DeleteError::NotOwned { .. } => Reason::NotOwned,
            DeleteError::Api { source, .. } => classify(source).reason(Reason::PruneFailed),
            DeleteError::Contended(_) => Reason::Conflict,
        }
    }
}

/// What a delete did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deleted {
    /// The object with this uid was deleted (it may still be finalizing).
    Deleted {
        /// The uid of the deleted object.
        uid: String,
    },
    /// The object was already gone.
    AlreadyGone,
}

/// Deletes `key` (background propagation) if `app` owns it. `checked` is the live object as
/// last read; when it changed since, the object is read and checked again.
pub async fn delete_owned(
    objects: &Api<DynamicObject>,
    app: &AppId,
    key: &ObjectKey,
    checked: &Value,
) -> Result<Deleted, DeleteError> {
    let api_error = |source| DeleteError::Api {
        key: Box::new(key.clone()),
        source,
    };
    let mut current = checked.clone();
    for _ in 0..ATTEMPTS {
        if !app.owns(&current, key) {
            return Err(DeleteError::NotOwned {
                key: Box::new(key.clone()),
                app: app.to_string(),
                why: owner_description(&current),
            });
        }
        let uid = str_at(&current, &["metadata", "uid"]).map(str::to_owned);
        let params = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Background),
            preconditions: Some(Preconditions {
                uid: uid.clone(),
                resource_version: str_at(&current, &["metadata", "resourceVersion"])
                    .map(str::to_owned),
            }),
            ..DeleteParams::default()
        };
        match objects.delete(&key.name, &params).await {
            Ok(_) => {
                return Ok(Deleted::Deleted {
                    uid: uid.unwrap_or_default(),
                });
            }
            Err(err) if is_not_found(&err) => return Ok(Deleted::AlreadyGone),
            Err(err) if is_conflict(&err) => match objects.get_opt(&key.name).await {
                Ok(Some(fresh)) => {
                    current = serde_json::to_value(fresh).unwrap_or(Value::Null);
                }
                Ok(None) => return Ok(Deleted::AlreadyGone),
                Err(err) => return Err(api_error(err)),
            },
            Err(err) => return Err(api_error(err)),
        }
    }
    Err(DeleteError::Contended(Box::new(key.clone())))
}

/// What an object's tracking id says, for the refusal.
fn owner_description(obj: &Value) -> String {
    match annotation(obj, capstan_api::TRACKING_ID_ANNOTATION) {
        None => "it has no tracking id: created by hand or by another tool".to_owned(),
        Some(id) => format!("its tracking id is {id}"),
    }
}

/// Whether the API server answered 409 Conflict (here: a failed precondition).
fn is_conflict(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(status) if status.code == 409)
}

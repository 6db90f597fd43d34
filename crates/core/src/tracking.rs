//! Ownership: the `capstan.dev/tracking-id` annotation that ties a live object to the
//! Application that applied it, `<app-ns>/<app-name>:<group>/<kind>:<ns>/<name>`. Prune trusts an
//! object only when this annotation names both the Application and the object itself, so a copy
//! of the annotation on another object (or on a renamed one) never makes it prunable.

use capstan_api::{APP_LABEL, TRACKING_ID_ANNOTATION, app_label_value};
use serde_json::Value;

use crate::object::{ObjectKey, annotation, set_annotation, set_label};

/// Why an application id cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrackingError {
    /// The id is empty or contains a character that would make tracking ids ambiguous.
    #[error("invalid application id {0:?}: expected NAMESPACE/NAME without ':' or whitespace")]
    InvalidAppId(String),
}

/// The identity of an Application as written into tracking ids: `namespace/name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AppId(String);

impl AppId {
    /// Checks and wraps an application id: `NAMESPACE/NAME`, no `:` and no whitespace.
    pub fn parse(id: &str) -> Result<AppId, TrackingError> {
        let valid = id
            .split_once('/')
            .is_some_and(|(ns, name)| !ns.is_empty() && !name.is_empty() && !name.contains('/'))
            && !id.contains(':')
            && !id.chars().any(char::is_whitespace);
        if valid {
            Ok(AppId(id.to_owned()))
        } else {
            Err(TrackingError::InvalidAppId(id.to_owned()))
        }
    }

    /// The id as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The tracking id of `key` under this application.
    pub fn tracking_id(&self, key: &ObjectKey) -> String {
        format!(
            "{}:{}/{}:{}/{}",
            self.0, key.group, key.kind, key.namespace, key.name
        )
    }

    /// Writes this application's tracking id for `key` onto `obj`, and the ownership label
    /// (`capstan.dev/app: <hash of the id>`) that scopes the shared watch caches; the tracking
    /// id stays the authority.
    pub fn mark(&self, obj: &mut Value, key: &ObjectKey) {
        set_annotation(obj, TRACKING_ID_ANNOTATION, &self.tracking_id(key));
        set_label(obj, APP_LABEL, &app_label_value(&self.0));
    }

    /// Whether the live object `obj`, known as `key`, carries this application's tracking id
    /// for exactly that object.
    pub fn owns(&self, obj: &Value, key: &ObjectKey) -> bool {
        annotation(obj, TRACKING_ID_ANNOTATION) == Some(self.tracking_id(key).as_str())
    }

    /// Which application the live object `obj` belongs to, by the application part of its
    /// tracking id.
    pub fn owner_of<'a>(&self, obj: &'a Value) -> Owner<'a> {
        match annotation(obj, TRACKING_ID_ANNOTATION) {
            None => Owner::Nobody,
            Some(id) => {
                let app = id.split_once(':').map_or(id, |(app, _)| app);
                if app == self.0 {
                    Owner::This
                } else {
                    Owner::Other(app)
                }
            }
        }
    }
}

/// Who a live object belongs to, as seen by one application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner<'a> {
    /// No tracking id: created by hand or by another tool; an apply may adopt it.
    Nobody,
    /// This application.
    This,
    /// Another application, by the id its tracking id names: never applied over, never deleted.
    Other(&'a str),
}

impl Owner<'_> {
    /// The refusal to apply over an object of another application, naming both applications;
    /// `None` when the object may be applied.
    pub fn conflict(&self, app: &AppId) -> Option<String> {
        match self {
            Owner::Other(other) => Some(format!(
                "owned by application {other}, not applied for application {app} \
                 (two applications must not manage one object; remove it from one of them)"
            )),
            Owner::Nobody | Owner::This => None,
        }
    }
}

impl std::fmt::Display for AppId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn key(ns: &str, name: &str) -> ObjectKey {
        ObjectKey {
            group: "apps".into(),
            kind: "Deployment".into(),
            namespace: ns.into(),
            name: name.into(),
        }
    }

    #[test]
    fn an_object_is_owned_only_when_the_id_names_the_app_and_the_object_itself() {
        let app = AppId::parse("capstan/web").unwrap();
        let mut obj = json!({"metadata": {"name": "web"}});
        app.mark(&mut obj, &key("prod", "web"));
        assert_eq!(
            annotation(&obj, TRACKING_ID_ANNOTATION),
            Some("capstan/web:apps/Deployment:prod/web")
        );
        assert_eq!(
            obj["metadata"]["labels"][APP_LABEL],
            app_label_value("capstan/web").as_str()
        );
        assert!(app.owns(&obj, &key("prod", "web")));
        assert!(!app.owns(&obj, &key("prod", "other")));
        assert!(
            !AppId::parse("capstan/api")
                .unwrap()
                .owns(&obj, &key("prod", "web"))
        );
        assert!(!app.owns(&json!({"metadata": {}}), &key("prod", "web")));
    }

    #[test]
    fn the_owner_is_the_application_part_of_the_tracking_id() {
        let web = AppId::parse("capstan/web").unwrap();
        let api = AppId::parse("capstan/api").unwrap();
        let mut obj = json!({"metadata": {"name": "web"}});
        assert_eq!(web.owner_of(&obj), Owner::Nobody);
        assert_eq!(web.owner_of(&obj).conflict(&web), None);
        web.mark(&mut obj, &key("prod", "web"));
        assert_eq!(web.owner_of(&obj), Owner::This);
        assert_eq!(api.owner_of(&obj), Owner::Other("capstan/web"));
        let conflict = api.owner_of(&obj).conflict(&api).unwrap();
        assert!(
            conflict.contains("capstan/web") && conflict.contains("capstan/api"),
            "{conflict}"
        );
    }

    #[test]
    fn application_ids_must_be_namespace_slash_name() {
        for bad in ["", "web", "/web", "ns/", "a/b/c", "ns/we:b", "ns/w b"] {
            assert!(AppId::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(AppId::parse("capstan/web-1").is_ok());
    }
}

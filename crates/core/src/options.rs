//! Sync options, as Argo CD users write them: a list of `Name=value` strings on the Application
//! (`syncPolicy.syncOptions`) and, per object, the `capstan.dev/sync-options` annotation
//! (comma-separated), whose settings win over the Application's.

use capstan_api::SYNC_OPTIONS_ANNOTATION;
use serde_json::Value;

use crate::object::annotation;

/// Why a sync option was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionsError {
    /// Not `Name=value`, an unknown name, or a value that is not `true`/`false`.
    #[error("invalid sync option {option:?} in {source_name}: {reason}")]
    Invalid {
        /// The option as written.
        option: String,
        /// Where it was written (the Application, or an object).
        source_name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// The options that shape one sync. Defaults are Argo CD's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncOptions {
    /// `Prune=false` keeps the object when it leaves the desired set (default: prune).
    pub prune: bool,
    /// `PruneLast=true`: prune after every wave has been applied, in a final step.
    pub prune_last: bool,
    /// `ApplyOutOfSyncOnly=true`: skip objects that are already in sync.
    pub apply_out_of_sync_only: bool,
    /// `CreateNamespace=true`: create the destination namespace when it is missing.
    pub create_namespace: bool,
    /// `Replace=true`: replace (delete and create) instead of server-side apply.
    pub replace: bool,
    /// `Force=true`: recreate an object whose apply fails on an immutable field.
    pub force: bool,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            prune: true,
            prune_last: false,
            apply_out_of_sync_only: false,
            create_namespace: false,
            replace: false,
            force: false,
        }
    }
}

impl SyncOptions {
    /// Reads an Application's option list over the defaults.
    pub fn parse<'a>(
        options: impl IntoIterator<Item = &'a str>,
        source_name: &str,
    ) -> Result<SyncOptions, OptionsError> {
        SyncOptions::default().with(options, source_name)
    }

    /// These options with `options` (e.g. an object's annotation) written over them.
    pub fn with<'a>(
        mut self,
        options: impl IntoIterator<Item = &'a str>,
        source_name: &str,
    ) -> Result<SyncOptions, OptionsError> {
        for option in options.into_iter().map(str::trim).filter(|o| !o.is_empty()) {
            let invalid = |reason| OptionsError::Invalid {
                option: option.to_owned(),
                source_name: source_name.to_owned(),
                reason,
            };
            let (name, value) = option
                .split_once('=')
                .ok_or(invalid("expected Name=value"))?;
            let value = match value {
                "true" => true,
                "false" => false,
                _ => return Err(invalid("the value must be true or false")),
            };
            let slot = match name {
                "Prune" => &mut self.prune,
                "PruneLast" => &mut self.prune_last,
                "ApplyOutOfSyncOnly" => &mut self.apply_out_of_sync_only,
                "CreateNamespace" => &mut self.create_namespace,
                "Replace" => &mut self.replace,
                "Force" => &mut self.force,
                "ServerSideApply" if value => continue,
                "ServerSideApply" => return Err(invalid("capstan always applies server-side")),
                _ => return Err(invalid("unknown option")),
            };
            *slot = value;
        }
        Ok(self)
    }

    /// The options for one object: these, overridden by the object's annotation.
    pub fn for_object(self, obj: &Value, object_name: &str) -> Result<SyncOptions, OptionsError> {
        match annotation(obj, SYNC_OPTIONS_ANNOTATION) {
            Some(list) => self.with(list.split(','), object_name),
            None => Ok(self),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn object_annotations_override_application_options() {
        let app = SyncOptions::parse(["PruneLast=true", "CreateNamespace=true"], "app").unwrap();
        assert!(app.prune && app.prune_last && app.create_namespace);
        let obj = json!({"metadata": {"annotations": {
            "capstan.dev/sync-options": "Prune=false, Replace=true"}}});
        let per_object = app.for_object(&obj, "ConfigMap a").unwrap();
        assert!(!per_object.prune && per_object.replace && per_object.prune_last);
    }

    #[test]
    fn bad_options_name_the_option_and_where_it_was_written() {
        for (option, reason) in [
            ("Prune", "expected Name=value"),
            ("Prune=no", "the value must be true or false"),
            ("Frobnicate=true", "unknown option"),
            (
                "ServerSideApply=false",
                "capstan always applies server-side",
            ),
        ] {
            let err = SyncOptions::parse([option], "Deployment web").unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("invalid sync option {option:?} in Deployment web: {reason}")
            );
        }
    }
}

//! The `CustomResourceDefinition` of `applications.capstan.dev`, built by pure functions from
//! the schemars schemas of the Application's parts: as data ([`application_crd`]) and as the YAML
//! text that `cargo xtask codegen` writes to `deploy/crds/` and `charts/capstan/crds/`
//! ([`application_crd_yaml`]).
//!
//! The schema is structural, as the API server requires: every subschema inlined (no `$ref`),
//! optional fields `nullable`, enums as string enums (kube-core's transforms, the ones
//! kube-derive applies), and no `x-kubernetes-preserve-unknown-fields` anywhere: every field is
//! typed.

use schemars::generate::SchemaSettings;
use schemars::transform::AddNullable;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{Value, json};

use crate::application::{ApplicationOperation, ApplicationSpec, ApplicationStatus, KIND, PLURAL};
use crate::{GROUP, VERSION};

/// The CRD's name, `applications.capstan.dev`.
pub const APPLICATION_CRD_NAME: &str = "applications.capstan.dev";

/// Short names for `kubectl get`: `capp`. Not Argo CD's `app`/`apps`: while a team moves from
/// Argo CD both CRDs are installed, and kubectl would resolve a short name the two share to
/// whichever group it lists first, silently.
pub const SHORT_NAMES: [&str; 1] = ["capp"];

/// The category: `kubectl get capstan` lists every Capstan resource.
pub const CATEGORY: &str = "capstan";

/// The command that writes the CRD files; generated files name it.
pub const CODEGEN_COMMAND: &str = "cargo xtask codegen";

/// The columns `kubectl get applications` shows, as `(name, JSON path, type, description)`.
pub const PRINTER_COLUMNS: [(&str, &str, &str, &str); 4] = [
    (
        "Sync",
        ".status.sync.status",
        "string",
        "Whether the cluster matches the source",
    ),
    (
        "Health",
        ".status.health.status",
        "string",
        "The worst health of the Application's resources",
    ),
    (
        "Revision",
        ".status.sync.revision",
        "string",
        "The commit compared with the cluster",
    ),
    ("Age", ".metadata.creationTimestamp", "date", ""),
];

/// A generator of structural schemas: OpenAPI 3 flavour, subschemas inlined, optional fields
/// nullable, enums rewritten as the API server wants them.
fn generator() -> SchemaGenerator {
    SchemaSettings::openapi3()
        .with(|settings| {
            settings.inline_subschemas = true;
            settings.meta_schema = None;
        })
        .with_transform(AddNullable::default())
        .with_transform(kube_core::schema::StructuralSchemaRewriter)
        .with_transform(kube_core::schema::OptionalEnum)
        .with_transform(kube_core::schema::OptionalIntOrString)
        .into_generator()
}

/// The structural schema of `T`, without the root's `title` and `$schema`.
fn schema_of<T: JsonSchema>(generator: &mut SchemaGenerator, description: &str) -> Value {
    let mut schema = generator.root_schema_for::<T>().to_value();
    if let Some(object) = schema.as_object_mut() {
        object.remove("title");
        object.remove("$schema");
        object.insert("description".into(), description.into());
    }
    schema
}

/// The CRD of `applications.capstan.dev`, as JSON.
pub fn application_crd() -> Value {
    let mut generator = generator();
    let spec = schema_of::<ApplicationSpec>(
        &mut generator,
        "What to deploy (a directory of a git repository), where, and how.",
    );
    let status = schema_of::<ApplicationStatus>(
        &mut generator,
        "What the controller last saw: conditions, sync and health, resources, the last \
         operation, history and inventory. Written only by the controller.",
    );
    let operation = schema_of::<ApplicationOperation>(
        &mut generator,
        "A requested operation (a sync), written by `capstan sync`; the controller runs it, \
         clears it and records the outcome in status.operationState.",
    );
    let columns: Vec<Value> = PRINTER_COLUMNS
        .iter()
        .map(|(name, path, kind, description)| {
            let mut column = json!({ "name": name, "type": kind, "jsonPath": path });
            if !description.is_empty() {
                column["description"] = (*description).into();
            }
            column
        })
        .collect();
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": { "name": APPLICATION_CRD_NAME },
        "spec": {
            "group": GROUP,
            "names": {
                "kind": KIND,
                "listKind": format!("{KIND}List"),
                "plural": PLURAL,
                "singular": KIND.to_lowercase(),
                "shortNames": SHORT_NAMES,
                "categories": [CATEGORY],
            },
            "scope": "Namespaced",
            "versions": [{
                "name": VERSION,
                "served": true,
                "storage": true,
                "subresources": { "status": {} },
                "additionalPrinterColumns": columns,
                "schema": { "openAPIV3Schema": {
                    "description": "A directory of a git repository kept applied to a cluster \
                                    by Capstan.",
                    "type": "object",
                    "required": ["spec"],
                    "properties": {
                        "apiVersion": { "type": "string" },
                        "kind": { "type": "string" },
                        "metadata": { "type": "object" },
                        "spec": spec,
                        "status": status,
                        "operation": operation,
                    },
                }},
            }],
        },
    })
}

/// The CRD as the YAML text of the generated files, with a header saying how it was made.
pub fn application_crd_yaml() -> Result<String, CrdError> {
    let body = serde_saphyr::to_string(&application_crd()).map_err(CrdError::Yaml)?;
    Ok(format!(
        "# Generated by `{CODEGEN_COMMAND}` from the types in crates/api; do not edit.\n{body}"
    ))
}

/// Why the CRD could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum CrdError {
    /// Writing YAML failed.
    #[error("render the crd as yaml")]
    Yaml(#[source] serde_saphyr::SerializeError),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every schema node of `schema`, with its path.
    fn walk<'a>(path: String, schema: &'a Value, out: &mut Vec<(String, &'a Value)>) {
        out.push((path.clone(), schema));
        if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
            for (name, property) in properties {
                walk(format!("{path}.{name}"), property, out);
            }
        }
        if let Some(items) = schema.get("items") {
            walk(format!("{path}[]"), items, out);
        }
    }

    fn nodes(crd: &Value) -> Vec<(String, &Value)> {
        let root = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
        let mut out = Vec::new();
        walk(String::new(), root, &mut out);
        out
    }

    #[test]
    fn the_schema_is_structural_with_every_node_typed_and_nothing_left_to_resolve() {
        let crd = application_crd();
        let text = crd.to_string();
        for forbidden in [
            "$ref",
            "$defs",
            "definitions",
            "$schema",
            "x-kubernetes-preserve-unknown-fields",
            "anyOf",
            "oneOf",
            "allOf",
            "additionalProperties",
            "uniqueItems",
        ] {
            assert!(!text.contains(forbidden), "{forbidden} in the CRD: {text}");
        }
        for (path, node) in nodes(&crd) {
            assert!(node.get("type").is_some(), "{path} has no type: {node}");
        }
    }

    #[test]
    fn every_field_is_described_and_optional_fields_are_nullable() {
        let crd = application_crd();
        let nodes = nodes(&crd);
        for (path, node) in &nodes {
            let top_level = ["", ".apiVersion", ".kind", ".metadata"].contains(&path.as_str());
            let item = path.ends_with("[]");
            if !top_level && !item {
                assert!(
                    node.get("description").is_some(),
                    "{path} has no description"
                );
            }
        }
        let node = |wanted: &str| {
            nodes
                .iter()
                .find(|(path, _)| path == wanted)
                .map(|(_, node)| *node)
                .unwrap_or_else(|| panic!("{wanted} not in the schema"))
        };
        assert_eq!(node(".spec.refreshInterval")["nullable"], true);
        assert_eq!(node(".spec.source.secretRef")["nullable"], true);
        assert_eq!(node(".status.operationState.finishedAt")["nullable"], true);
        assert_eq!(
            node(".status.conditions[].status")["enum"],
            json!(["True", "False", "Unknown"])
        );
        assert_eq!(node(".status.health.status")["type"], "string");
        assert_eq!(
            node(".spec.syncPolicy.retry.backoff.maxDuration")["pattern"],
            crate::duration::DURATION_PATTERN
        );
        assert_eq!(node(".spec.source.repoURL")["type"], "string");
        assert_eq!(node(".operation.sync.dryRun")["type"], "boolean");
        assert_eq!(node(".status.inventory[].names[]")["type"], "string");
    }

    #[test]
    fn the_crd_names_the_resource_its_columns_and_the_status_subresource() {
        let crd = application_crd();
        assert_eq!(crd["metadata"]["name"], APPLICATION_CRD_NAME);
        assert_eq!(crd["spec"]["names"]["shortNames"], json!(["capp"]));
        let version = &crd["spec"]["versions"][0];
        assert_eq!(version["subresources"], json!({"status": {}}));
        let columns: Vec<(&str, &str)> = version["additionalPrinterColumns"]
            .as_array()
            .expect("columns")
            .iter()
            .map(|c| {
                (
                    c["name"].as_str().unwrap_or(""),
                    c["jsonPath"].as_str().unwrap_or(""),
                )
            })
            .collect();
        assert_eq!(
            columns,
            [
                ("Sync", ".status.sync.status"),
                ("Health", ".status.health.status"),
                ("Revision", ".status.sync.revision"),
                ("Age", ".metadata.creationTimestamp")
            ]
        );
    }

    #[test]
    fn the_yaml_text_reads_back_as_the_crd_and_says_how_it_was_made() {
        let yaml = application_crd_yaml().expect("renders");
        assert!(yaml.starts_with("# Generated by `cargo xtask codegen`"));
        let back: Value = serde_saphyr::from_str(&yaml).expect("parses");
        assert_eq!(back, application_crd());
    }
}

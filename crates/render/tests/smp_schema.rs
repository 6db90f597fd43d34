//! The merge-key schema: what the built-in one knows, how a kustomization's `openapi` field
//! selects a schema, and how malformed custom documents are refused.

use capstan_render::smp::{
    BUILTIN_SCHEMA_JSON, BUILTIN_VERSION, Schema, SchemaError, schema_from_openapi,
};
use serde_json::{Value, json};

fn builtin() -> &'static Schema {
    Schema::builtin().expect("the built-in schema parses")
}

#[test]
fn the_builtin_schema_merges_containers_by_name_and_ports_by_port_and_protocol() {
    let deployment = builtin()
        .resource("apps/v1", "Deployment")
        .expect("apps/v1 Deployment is known");
    let containers = deployment
        .field("spec")
        .and_then(|s| s.field("template"))
        .and_then(|t| t.field("spec"))
        .and_then(|s| s.field("containers"))
        .expect("containers have a schema");
    assert!(containers.merges_elements());
    assert_eq!(containers.merge_keys(), ["name"]);
    let ports = containers
        .elements()
        .and_then(|c| c.field("ports"))
        .expect("ports have a schema");
    assert_eq!(ports.merge_keys(), ["containerPort", "protocol"]);
    assert_eq!(ports.list_type(), Some("map"));
}

#[test]
fn finalizers_are_a_merging_list_of_primitives() {
    let finalizers = builtin()
        .resource("v1", "ConfigMap")
        .and_then(|c| c.field("metadata"))
        .and_then(|m| m.field("finalizers"))
        .expect("finalizers have a schema");
    assert!(finalizers.merges_elements());
    assert!(finalizers.merge_keys().is_empty());
}

#[test]
fn volumes_keep_their_merge_and_retain_keys_strategy() {
    let volumes = builtin()
        .resource("v1", "Pod")
        .and_then(|p| p.field("spec"))
        .and_then(|s| s.field("volumes"))
        .expect("volumes have a schema");
    assert_eq!(volumes.patch_strategy(), Some("merge,retainKeys"));
    assert!(volumes.merges_elements());
}

#[test]
fn kinds_that_only_kustomizes_older_builtin_schema_knows_are_aliased() {
    assert!(builtin().knows_kind("batch/v1beta1", "CronJob"));
    assert!(builtin().knows_kind("policy/v1beta1", "PodDisruptionBudget"));
    assert!(!builtin().knows_kind("extensions/v1beta1", "Deployment"));
    assert!(!builtin().knows_kind("example.com/v1", "Foo"));
}

#[test]
fn regenerating_from_the_checked_in_schema_changes_nothing() {
    let doc: Value = serde_json::from_str(BUILTIN_SCHEMA_JSON).expect("json");
    assert_eq!(schema_from_openapi(&doc), BUILTIN_SCHEMA_JSON);
}

#[test]
fn the_generator_keeps_only_what_leads_to_merging_lists() {
    let doc = json!({
        "info": {"version": "9.9"},
        "definitions": {
            "a.Thing": {
                "description": "dropped",
                "properties": {
                    "spec": {"$ref": "#/definitions/a.Spec"},
                    "plain": {"type": "string"},
                    "atomic": {"type": "array", "items": {"type": "string"}},
                },
                "x-kubernetes-group-version-kind": [{"group": "a", "kind": "Thing", "version": "v1"}],
            },
            "a.Spec": {"properties": {"items": {
                "type": "array",
                "items": {"$ref": "#/definitions/a.Item"},
                "x-kubernetes-patch-strategy": "merge",
                "x-kubernetes-patch-merge-key": "id",
            }}},
            "a.Item": {"properties": {"name": {"type": "string"}}},
            "a.Unused": {"properties": {"x": {"type": "string"}}},
        }
    });
    let text = schema_from_openapi(&doc);
    let pruned: Value = serde_json::from_str(&text).expect("json");
    let defs = pruned["definitions"].as_object().expect("definitions");
    assert_eq!(
        defs.keys().collect::<Vec<_>>(),
        ["a.Spec", "a.Thing"],
        "{text}"
    );
    assert_eq!(
        defs["a.Thing"]["properties"],
        json!({"spec": {"$ref": "#/definitions/a.Spec"}})
    );
    assert!(defs["a.Spec"]["properties"]["items"].get("items").is_none());
    let schema = Schema::from_openapi(&pruned).expect("loads");
    let items = schema
        .resource("a/v1", "Thing")
        .and_then(|t| t.field("spec"))
        .and_then(|s| s.field("items"))
        .expect("items");
    assert_eq!(items.merge_keys(), ["id"]);
}

#[test]
fn no_openapi_field_or_the_builtin_version_selects_the_builtin_schema() {
    for version in [None, Some(BUILTIN_VERSION)] {
        let schema = Schema::for_kustomization(version, None).expect("selects");
        assert!(schema.knows_kind("apps/v1", "Deployment"));
    }
}

#[test]
fn an_unknown_builtin_version_is_refused() {
    let err = Schema::for_kustomization(Some("v1.99.0"), None).expect_err("refused");
    assert_eq!(
        err.to_string(),
        "the specified OpenAPI version is not built in"
    );
}

#[test]
fn a_version_and_a_custom_schema_together_are_refused() {
    let doc = json!({"definitions": {}});
    let err = Schema::for_kustomization(Some(BUILTIN_VERSION), Some(&doc)).expect_err("refused");
    assert_eq!(err, SchemaError::VersionAndPath);
    assert_eq!(
        err.to_string(),
        "builtin version and custom schema provided, cannot use both"
    );
}

#[test]
fn a_custom_schema_replaces_the_builtin_one_unless_extended() {
    let doc = json!({"definitions": {"x.Foo": {
        "x-kubernetes-group-version-kind": [{"group": "example.com", "kind": "Foo", "version": "v1"}]
    }}});
    let custom = Schema::for_kustomization(None, Some(&doc)).expect("selects");
    assert!(custom.knows_kind("example.com/v1", "Foo"));
    assert!(!custom.knows_kind("apps/v1", "Deployment"));
    let both = custom.with_builtin().expect("extends");
    assert!(both.knows_kind("example.com/v1", "Foo"));
    assert!(both.knows_kind("apps/v1", "Deployment"));
}

#[test]
fn malformed_custom_schemas_are_refused_naming_the_definition() {
    let not_object = Schema::from_openapi(&json!([1])).expect_err("refused");
    assert_eq!(not_object, SchemaError::NotAnObject);
    let bad_defs = Schema::from_openapi(&json!({"definitions": []})).expect_err("refused");
    assert_eq!(bad_defs, SchemaError::DefinitionsNotAnObject);
    let bad_gvk = Schema::from_openapi(&json!({"definitions": {"x.Foo": {
        "x-kubernetes-group-version-kind": [{"group": "g", "kind": 3, "version": "v1"}]
    }}}))
    .expect_err("refused");
    assert!(bad_gvk.to_string().contains("x.Foo"), "{bad_gvk}");
}

#[test]
fn a_document_without_definitions_is_an_empty_schema() {
    let schema = Schema::from_openapi(&json!({"swagger": "2.0"})).expect("loads");
    assert_eq!(schema.definition_count(), 0);
}

//! Pure tests of the webhook's mutation: CPU quantity parsing, patch building and the
//! `AdmissionReview` answer.

use super::*;

#[test]
fn cpu_quantities_are_read_in_millicores_rounded_up() {
    let cases = [
        (json!("1"), Some(1000)),
        (json!("0.5"), Some(500)),
        (json!(".5"), Some(500)),
        (json!("250m"), Some(250)),
        (json!("+250m"), Some(250)),
        (json!("0"), Some(0)),
        (json!("0.0001"), Some(1)),
        (json!("100u"), Some(1)),
        (json!("1500000n"), Some(2)),
        (json!("2k"), Some(2_000_000)),
        (json!("1Ki"), Some(1_024_000)),
        (json!("1e3"), Some(1_000_000)),
        (json!("15E-1"), Some(1500)),
        (json!("1E"), Some(u64::MAX)),
        (
            json!("99999999999999999999999999999999999999999"),
            Some(u64::MAX),
        ),
        (json!(2), Some(2000)),
        (json!(0.25), Some(250)),
        (json!("-1"), None),
        (json!("abc"), None),
        (json!("1x"), None),
        (json!("1.2.3"), None),
        (json!("."), None),
        (json!(""), None),
        (json!("1e"), None),
        (json!(null), None),
    ];
    for (quantity, expected) in cases {
        assert_eq!(cpu_millis(&quantity), expected, "quantity {quantity}");
    }
}

fn deployment(containers: Value, annotations: Option<Value>) -> Value {
    let mut metadata = json!({ "name": "web" });
    if let Some(annotations) = annotations {
        metadata["annotations"] = annotations;
    }
    json!({
        "metadata": metadata,
        "spec": { "template": { "spec": { "containers": containers } } },
    })
}

const ANNOTATE: &str = "/metadata/annotations/autopilot.example.com~1resource-adjustment";

#[test]
fn patch_raises_each_container_and_annotates_once() {
    let annotated = Some(json!({ ADJUSTMENT_ANNOTATION: ADJUSTMENT_VALUE }));
    let other = Some(json!({ "team": "web" }));
    let cases = [
        (
            "low request is replaced",
            deployment(
                json!([{ "resources": { "requests": { "cpu": "10m" } } }]),
                annotated.clone(),
            ),
            json!([{ "op": "replace", "path": "/spec/template/spec/containers/0/resources/requests/cpu", "value": "250m" }]),
        ),
        (
            "high request is kept",
            deployment(
                json!([{ "resources": { "requests": { "cpu": "1" } } }]),
                annotated.clone(),
            ),
            json!([]),
        ),
        (
            "missing resources are created",
            deployment(json!([{}, { "resources": null }]), annotated.clone()),
            json!([
                { "op": "add", "path": "/spec/template/spec/containers/0/resources", "value": { "requests": { "cpu": "250m" } } },
                { "op": "add", "path": "/spec/template/spec/containers/1/resources", "value": { "requests": { "cpu": "250m" } } },
            ]),
        ),
        (
            "missing requests and cpu are created",
            deployment(
                json!([{ "resources": { "limits": { "memory": "1Gi" } } }, { "resources": { "requests": { "memory": "1Gi" } } }]),
                annotated.clone(),
            ),
            json!([
                { "op": "add", "path": "/spec/template/spec/containers/0/resources/requests", "value": { "cpu": "250m" } },
                { "op": "add", "path": "/spec/template/spec/containers/1/resources/requests/cpu", "value": "250m" },
            ]),
        ),
        (
            "a limit below the floor is raised with the request",
            deployment(
                json!([{ "resources": { "requests": { "cpu": "10m" }, "limits": { "cpu": "0.1" } } }]),
                annotated.clone(),
            ),
            json!([
                { "op": "replace", "path": "/spec/template/spec/containers/0/resources/requests/cpu", "value": "250m" },
                { "op": "replace", "path": "/spec/template/spec/containers/0/resources/limits/cpu", "value": "250m" },
            ]),
        ),
        (
            "unparseable request is left alone",
            deployment(
                json!([{ "resources": { "requests": { "cpu": "lots" } } }]),
                annotated.clone(),
            ),
            json!([]),
        ),
        (
            "annotation map is created",
            deployment(json!([]), None),
            json!([{ "op": "add", "path": "/metadata/annotations", "value": { ADJUSTMENT_ANNOTATION: ADJUSTMENT_VALUE } }]),
        ),
        (
            "annotation joins existing ones with an escaped key",
            deployment(json!([]), other),
            json!([{ "op": "add", "path": ANNOTATE, "value": ADJUSTMENT_VALUE }]),
        ),
        (
            "annotation with another value is overwritten",
            deployment(json!([]), Some(json!({ ADJUSTMENT_ANNOTATION: "no" }))),
            json!([{ "op": "add", "path": ANNOTATE, "value": ADJUSTMENT_VALUE }]),
        ),
        (
            "object without metadata gets metadata",
            json!({ "spec": {} }),
            json!([{ "op": "add", "path": "/metadata", "value": { "annotations": { ADJUSTMENT_ANNOTATION: ADJUSTMENT_VALUE } } }]),
        ),
    ];
    for (case, object, expected) in cases {
        assert_eq!(
            Value::Array(mutation_patch(&object, 250)),
            expected,
            "{case}"
        );
    }
}

#[test]
fn init_containers_get_the_floor_too() {
    let object = json!({
        "metadata": { "annotations": { ADJUSTMENT_ANNOTATION: ADJUSTMENT_VALUE } },
        "spec": { "template": { "spec": { "containers": [], "initContainers": [{}] } } },
    });
    let expected = json!([{
        "op": "add",
        "path": "/spec/template/spec/initContainers/0/resources",
        "value": { "requests": { "cpu": "500m" } },
    }]);
    assert_eq!(Value::Array(mutation_patch(&object, 500)), expected);
}

#[test]
fn pointer_tokens_escape_tilde_before_slash() {
    assert_eq!(pointer_token("a/b~c"), "a~1b~0c");
}

fn review_of(body: &[u8]) -> (Value, Outcome) {
    let (review, outcome) = review(body, 250);
    assert_eq!(review["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(review["kind"], "AdmissionReview");
    assert_eq!(review["response"]["allowed"], true);
    (review["response"].clone(), outcome)
}

#[test]
fn review_answers_with_a_base64_json_patch_and_the_request_uid() {
    let object = deployment(json!([{}]), None);
    let body = json!({ "request": { "uid": "u-1", "object": object } }).to_string();
    let (response, outcome) = review_of(body.as_bytes());
    assert_eq!(outcome, Outcome::Patched(2));
    assert_eq!(response["uid"], "u-1");
    assert_eq!(response["patchType"], "JSONPatch");
    let encoded = response["patch"].as_str().unwrap_or_default();
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded);
    let patch: Value = serde_json::from_slice(&decoded.unwrap_or_default()).unwrap_or_default();
    assert_eq!(patch, Value::Array(mutation_patch(&object, 250)));
}

#[test]
fn review_of_a_compliant_object_has_no_patch() {
    let object = deployment(
        json!([]),
        Some(json!({ ADJUSTMENT_ANNOTATION: ADJUSTMENT_VALUE })),
    );
    let body = json!({ "request": { "uid": "u-2", "object": object } }).to_string();
    let (response, outcome) = review_of(body.as_bytes());
    assert_eq!(outcome, Outcome::Unchanged);
    assert_eq!(response, json!({ "uid": "u-2", "allowed": true }));
}

#[test]
fn malformed_reviews_are_allowed_without_a_patch() {
    let bodies = [
        b"not json".to_vec(),
        json!({}).to_string().into_bytes(),
        json!({ "request": { "object": {} } })
            .to_string()
            .into_bytes(),
        json!({ "request": { "uid": "u-3" } })
            .to_string()
            .into_bytes(),
        json!({ "request": { "uid": "u-4", "object": [] } })
            .to_string()
            .into_bytes(),
    ];
    for body in bodies {
        let (response, outcome) = review_of(&body);
        assert!(matches!(outcome, Outcome::Malformed(_)), "{outcome:?}");
        assert!(response.get("patch").is_none(), "{response}");
    }
}

//! What the test webhook does to an object, as pure functions over JSON: parse Kubernetes CPU
//! quantities, build the JSON patch that raises every container's CPU request to a floor and
//! marks the object with an annotation (as GKE Autopilot does), and answer an `AdmissionReview`.

use base64::Engine as _;
use serde_json::{Value, json};

/// The annotation the webhook puts on every object it admits.
pub const ADJUSTMENT_ANNOTATION: &str = "autopilot.example.com/resource-adjustment";

/// The value of [`ADJUSTMENT_ANNOTATION`].
pub const ADJUSTMENT_VALUE: &str = "cpu-raised";

/// The pod-spec lists whose containers get the CPU floor.
const CONTAINER_LISTS: [&str; 2] = ["containers", "initContainers"];

/// Decimal and binary suffixes of a Kubernetes quantity: (suffix, power of ten, power of 1024).
const SUFFIXES: [(&str, i32, u32); 15] = [
    ("n", -9, 0),
    ("u", -6, 0),
    ("m", -3, 0),
    ("k", 3, 0),
    ("M", 6, 0),
    ("G", 9, 0),
    ("T", 12, 0),
    ("P", 15, 0),
    ("E", 18, 0),
    ("Ki", 0, 1),
    ("Mi", 0, 2),
    ("Gi", 0, 3),
    ("Ti", 0, 4),
    ("Pi", 0, 5),
    ("Ei", 0, 6),
];

/// A CPU quantity (`"1"`, `"0.5"`, `"250m"`, `"1e3"`, or a JSON number) in millicores, rounded
/// up as Kubernetes does; values too large for `u64` saturate. `None` when it is not a valid
/// non-negative quantity.
pub fn cpu_millis(quantity: &Value) -> Option<u64> {
    match quantity {
        Value::String(text) => parse_millis(text),
        Value::Number(number) => parse_millis(&number.to_string()),
        _ => None,
    }
}

/// Parses the text of a quantity into millicores; see [`cpu_millis`].
fn parse_millis(text: &str) -> Option<u64> {
    let unsigned = text.strip_prefix('+').unwrap_or(text);
    let number_end = unsigned
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(unsigned.len());
    let (number, suffix) = unsigned.split_at(number_end);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits = format!("{whole}{fraction}");
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (ten, binary) = suffix_powers(suffix)?;
    let fraction_len = i32::try_from(fraction.len()).ok()?;
    let exponent = ten.checked_add(3)?.checked_sub(fraction_len)?;
    Some(scale(&digits, exponent, binary))
}

/// The powers of ten and of 1024 a quantity suffix stands for: `""`, an SI or binary suffix, or
/// a decimal exponent (`e3`, `E-2`).
fn suffix_powers(suffix: &str) -> Option<(i32, u32)> {
    if suffix.is_empty() {
        return Some((0, 0));
    }
    // An exact suffix first: `E` alone is exa, not an exponent.
    if let Some(&(_, ten, binary)) = SUFFIXES.iter().find(|(name, _, _)| *name == suffix) {
        return Some((ten, binary));
    }
    let exponent = suffix.strip_prefix(['e', 'E'])?;
    let digits = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    exponent.parse::<i32>().ok().map(|ten| (ten, 0))
}

/// `digits × 1024^binary × 10^exponent`, rounded up to a whole number and saturated to `u64`.
fn scale(digits: &str, exponent: i32, binary: u32) -> u64 {
    let significant = digits.trim_start_matches('0');
    if significant.is_empty() {
        return 0;
    }
    let Ok(mantissa) = significant.parse::<u128>() else {
        return u64::MAX;
    };
    let Some(value) = 1024u128
        .checked_pow(binary)
        .and_then(|factor| mantissa.checked_mul(factor))
    else {
        return u64::MAX;
    };
    let power = 10u128.checked_pow(exponent.unsigned_abs());
    let scaled = match power {
        Some(power) if exponent >= 0 => value.checked_mul(power),
        Some(power) => Some(value.div_ceil(power)),
        // 10^39 and beyond: a positive value divided by it rounds up to one.
        None if exponent < 0 => Some(1),
        None => None,
    };
    scaled.map_or(u64::MAX, |v| u64::try_from(v).unwrap_or(u64::MAX))
}

/// The JSON patch (RFC 6902 operations) that raises the CPU request — and a CPU limit that
/// would fall below it — of every container and init container in `spec.template.spec` to
/// `min_cpu_millis`, and sets [`ADJUSTMENT_ANNOTATION`]. Empty when the object already complies.
/// Quantities that do not parse are left alone.
pub fn mutation_patch(object: &Value, min_cpu_millis: u64) -> Vec<Value> {
    let floor = Value::String(format!("{min_cpu_millis}m"));
    let mut ops = Vec::new();
    let pod_spec = object.pointer("/spec/template/spec");
    for list in CONTAINER_LISTS {
        let containers = pod_spec
            .and_then(|spec| spec.get(list))
            .and_then(Value::as_array);
        for (index, container) in containers.into_iter().flatten().enumerate() {
            let base = format!("/spec/template/spec/{list}/{index}");
            container_ops(&base, container, min_cpu_millis, &floor, &mut ops);
        }
    }
    annotation_op(object, &mut ops);
    ops
}

/// The operations that give one container at `base` a CPU request of at least `floor`.
fn container_ops(base: &str, container: &Value, min: u64, floor: &Value, ops: &mut Vec<Value>) {
    let Some(resources) = non_null(container.get("resources")) else {
        ops.push(add(
            format!("{base}/resources"),
            json!({ "requests": { "cpu": floor } }),
        ));
        return;
    };
    match non_null(resources.get("requests")) {
        None => ops.push(add(
            format!("{base}/resources/requests"),
            json!({ "cpu": floor }),
        )),
        Some(requests) => match requests.get("cpu") {
            None | Some(Value::Null) => {
                ops.push(add(format!("{base}/resources/requests/cpu"), floor.clone()));
            }
            Some(cpu) if cpu_millis(cpu).is_some_and(|millis| millis < min) => {
                ops.push(replace(
                    format!("{base}/resources/requests/cpu"),
                    floor.clone(),
                ));
            }
            Some(_) => {}
        },
    }
    let limit = non_null(resources.get("limits")).and_then(|limits| limits.get("cpu"));
    if limit
        .and_then(cpu_millis)
        .is_some_and(|millis| millis < min)
    {
        ops.push(replace(
            format!("{base}/resources/limits/cpu"),
            floor.clone(),
        ));
    }
}

/// The operation that sets [`ADJUSTMENT_ANNOTATION`], if it is not set already.
fn annotation_op(object: &Value, ops: &mut Vec<Value>) {
    let metadata = non_null(object.get("metadata"));
    let annotations = metadata.and_then(|meta| non_null(meta.get("annotations")));
    let current = annotations.and_then(|a| a.get(ADJUSTMENT_ANNOTATION));
    if current.and_then(Value::as_str) == Some(ADJUSTMENT_VALUE) {
        return;
    }
    let one = json!({ ADJUSTMENT_ANNOTATION: ADJUSTMENT_VALUE });
    ops.push(match (metadata, annotations) {
        (None, _) => add("/metadata".to_owned(), json!({ "annotations": one })),
        (Some(_), None) => add("/metadata/annotations".to_owned(), one),
        (Some(_), Some(_)) => add(
            format!(
                "/metadata/annotations/{}",
                pointer_token(ADJUSTMENT_ANNOTATION)
            ),
            Value::String(ADJUSTMENT_VALUE.to_owned()),
        ),
    });
}

/// A value that is present and not JSON `null`.
fn non_null(value: Option<&Value>) -> Option<&Value> {
    value.filter(|v| !v.is_null())
}

/// Escapes one JSON pointer reference token (RFC 6901): `~` as `~0`, `/` as `~1`.
pub fn pointer_token(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn add(path: String, value: Value) -> Value {
    json!({ "op": "add", "path": path, "value": value })
}

fn replace(path: String, value: Value) -> Value {
    json!({ "op": "replace", "path": path, "value": value })
}

/// What the webhook did with one `AdmissionReview`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The object already complied; allowed without a patch.
    Unchanged,
    /// Allowed with a JSON patch of this many operations.
    Patched(usize),
    /// The review could not be read; allowed without a patch.
    Malformed(String),
}

/// The answer to one `admission.k8s.io/v1` `AdmissionReview` request body: always allowed,
/// with a base64 JSON patch when the object needs one (see [`mutation_patch`]).
pub fn review(body: &[u8], min_cpu_millis: u64) -> (Value, Outcome) {
    let parsed: Result<Value, _> = serde_json::from_slice(body);
    let request = parsed.as_ref().ok().and_then(|v| v.get("request"));
    let uid = request
        .and_then(|r| r.get("uid"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut response = json!({ "uid": uid, "allowed": true });
    let outcome = match (&parsed, request, request.and_then(|r| r.get("object"))) {
        (Err(err), _, _) => Outcome::Malformed(format!("body is not JSON: {err}")),
        (Ok(_), None, _) => Outcome::Malformed("no request in the review".to_owned()),
        (Ok(_), Some(_), _) if uid.is_empty() => Outcome::Malformed("request has no uid".into()),
        (Ok(_), Some(_), Some(object)) if object.is_object() => {
            let ops = mutation_patch(object, min_cpu_millis);
            if ops.is_empty() {
                Outcome::Unchanged
            } else {
                let count = ops.len();
                let patch = Value::Array(ops).to_string();
                response["patchType"] = json!("JSONPatch");
                response["patch"] = json!(base64::engine::general_purpose::STANDARD.encode(patch));
                Outcome::Patched(count)
            }
        }
        (Ok(_), Some(_), _) => Outcome::Malformed("request has no object".to_owned()),
    };
    let review = json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": response,
    });
    (review, outcome)
}

#[cfg(test)]
mod tests;

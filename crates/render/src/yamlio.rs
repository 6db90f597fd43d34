//! Reading YAML into objects for the build (a thin wrapper until the bounded parser lands).

use serde_json::Value;

use crate::error::RenderError;

/// The documents of a YAML stream, empty ones skipped.
pub fn parse_documents(text: &str, file: &str) -> Result<Vec<Value>, RenderError> {
    // Later keys win over earlier duplicates, as in kustomize.
    let options = serde_saphyr::options! {
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::LastWins,
    };
    let docs: Vec<Value> =
        serde_saphyr::from_multiple_with_options(text, options).map_err(|e| RenderError::Yaml {
            file: file.to_string(),
            message: e.to_string(),
        })?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

/// Exactly one document (`Null` for an empty text).
pub fn parse_value(text: &str, file: &str) -> Result<Value, RenderError> {
    let mut docs = parse_documents(text, file)?;
    match docs.len() {
        0 => Ok(Value::Null),
        1 => Ok(docs.remove(0)),
        n => Err(RenderError::Yaml {
            file: file.to_string(),
            message: format!("expected one YAML document, found {n}"),
        }),
    }
}

/// Prints objects as a YAML stream.
pub fn to_yaml_stream(values: &[Value]) -> String {
    let mut out = String::new();
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&serde_saphyr::to_string(v).unwrap_or_default());
    }
    out
}

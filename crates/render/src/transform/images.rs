//! `images:`: change the name, tag or digest of container images. Like kustomize, every
//! `containers[].image` and `initContainers[].image` anywhere in an object is considered, plus
//! the fields the `images` field specs name (for custom resources).

use serde_json::Value;

use crate::error::RenderError;
use crate::fieldspec::{self, FieldSpec};
use crate::kustomization::Image;
use crate::resmap::ResMap;

/// An image reference split into its parts.
#[derive(Debug, PartialEq, Eq)]
pub struct ImageRef<'a> {
    /// Registry and repository.
    pub name: &'a str,
    /// The tag, without `:`.
    pub tag: Option<&'a str>,
    /// The digest, without `@`.
    pub digest: Option<&'a str>,
}

/// Splits `image` into name, tag and digest.
pub fn parse(image: &str) -> ImageRef<'_> {
    let (rest, digest) = match image.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (image, None),
    };
    let slash = rest.rfind('/').map_or(0, |i| i + 1);
    match rest[slash..].rfind(':') {
        Some(i) => ImageRef {
            name: &rest[..slash + i],
            tag: Some(&rest[slash + i + 1..]),
            digest,
        },
        None => ImageRef {
            name: rest,
            tag: None,
            digest,
        },
    }
}

fn tag_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The new reference for `image` under `entry`, or `None` when it does not match.
pub fn rewrite(image: &str, entry: &Image) -> Option<String> {
    let parsed = parse(image);
    let wanted = parse(&entry.name);
    // `name: busybox:1.36` applies to that tag only, as in kustomize.
    if parsed.name != wanted.name || wanted.tag.is_some_and(|t| parsed.tag != Some(t)) {
        return None;
    }
    let name = entry.new_name.as_deref().unwrap_or(parsed.name);
    let new_tag = entry.new_tag.as_ref().and_then(tag_string);
    let mut out = name.to_string();
    match (&new_tag, &entry.digest) {
        (None, None) => {
            if let Some(tag) = parsed.tag {
                out = format!("{out}:{tag}");
            }
            if let Some(digest) = parsed.digest {
                out = format!("{out}@{digest}");
            }
        }
        (Some(tag), None) => out = format!("{out}:{tag}"),
        (None, Some(digest)) => out = format!("{out}@{digest}"),
        (Some(tag), Some(digest)) => out = format!("{out}:{tag}@{digest}"),
    }
    if let Some(suffix) = &entry.tag_suffix
        && entry.digest.is_none()
    {
        out.push_str(suffix);
    }
    Some(out)
}

fn update(v: &mut Value, images: &[Image]) {
    if let Some(current) = v.as_str() {
        for entry in images {
            if let Some(new) = rewrite(current, entry) {
                *v = Value::String(new);
                return;
            }
        }
    }
}

fn walk_containers(v: &mut Value, images: &[Image]) {
    match v {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                if (key == "containers" || key == "initContainers")
                    && let Value::Array(items) = child
                {
                    for item in items.iter_mut() {
                        if let Some(image) = item.get_mut("image") {
                            update(image, images);
                        }
                    }
                }
                walk_containers(child, images);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| walk_containers(i, images)),
        _ => {}
    }
}

/// Applies `images` to every resource.
pub fn apply(
    res: &mut ResMap,
    images: &[Image],
    specs: &[FieldSpec],
    file: &str,
) -> Result<(), RenderError> {
    for (i, entry) in images.iter().enumerate() {
        if entry.name.is_empty() {
            return Err(RenderError::field(
                file,
                format!("images[{i}].name"),
                "must not be empty",
            ));
        }
    }
    for r in &mut res.items {
        let gvk = r.gvk();
        walk_containers(&mut r.obj, images);
        for spec in specs.iter().filter(|f| f.matches(&gvk)) {
            let path = fieldspec::parse_path(&spec.path);
            fieldspec::walk::<RenderError>(&mut r.obj, &path, false, &mut |v| {
                update(v, images);
                Ok(())
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn image(name: &str, new_name: Option<&str>, tag: Option<&str>, digest: Option<&str>) -> Image {
        Image {
            name: name.into(),
            new_name: new_name.map(Into::into),
            new_tag: tag.map(|t| json!(t)),
            digest: digest.map(Into::into),
            tag_suffix: None,
        }
    }

    #[test]
    fn references_are_rewritten_as_kustomize_does() {
        let cases = [
            (
                "nginx:1.0",
                image("nginx", None, Some("1.2"), None),
                Some("nginx:1.2"),
            ),
            (
                "nginx:latest@sha256:zz",
                image("nginx", None, Some("1.2"), None),
                Some("nginx:1.2"),
            ),
            (
                "redis@sha256:old",
                image("redis", None, None, Some("sha256:abc")),
                Some("redis@sha256:abc"),
            ),
            (
                "x/y",
                image("x/y", Some("reg/z"), Some("t"), None),
                Some("reg/z:t"),
            ),
            (
                "localhost:5000/a:1",
                image("localhost:5000/a", Some("b"), None, None),
                Some("b:1"),
            ),
            (
                "docker.io/nginx:1",
                image("nginx", None, Some("2"), None),
                None,
            ),
        ];
        for (input, entry, want) in cases {
            assert_eq!(rewrite(input, &entry).as_deref(), want, "{input}");
        }
    }
}

//! `namePrefix` / `nameSuffix`: prepend and append to names. Like kustomize, the names of
//! CustomResourceDefinitions and core Namespaces are left alone (their names are fixed by what
//! they define or by the namespace transformer).

use crate::error::RenderError;
use crate::fieldspec::{self, FieldSpec};
use crate::resmap::ResMap;
use crate::resource::Gvk;

/// Where the prefix and the suffix go.
#[derive(Debug, Clone, Copy)]
pub struct Fields<'a> {
    /// Fields the prefix applies to.
    pub prefix: &'a [FieldSpec],
    /// Fields the suffix applies to.
    pub suffix: &'a [FieldSpec],
}

fn exempt(gvk: &Gvk) -> bool {
    gvk.kind == "CustomResourceDefinition" || (gvk.kind == "Namespace" && gvk.group.is_empty())
}

/// Applies `prefix` and `suffix` to every resource.
pub fn apply(
    res: &mut ResMap,
    prefix: &str,
    suffix: &str,
    fields: &Fields<'_>,
) -> Result<(), RenderError> {
    for r in &mut res.items {
        let gvk = r.gvk();
        if exempt(&gvk) {
            continue;
        }
        let mut renamed = false;
        for (affix, specs, is_prefix) in [
            (prefix, fields.prefix, true),
            (suffix, fields.suffix, false),
        ] {
            if affix.is_empty() {
                continue;
            }
            for spec in specs.iter().filter(|f| f.matches(&gvk)) {
                if spec.path == "metadata/name" {
                    let name = r.name().to_string();
                    let new = if is_prefix {
                        format!("{affix}{name}")
                    } else {
                        format!("{name}{affix}")
                    };
                    if !renamed {
                        r.remember_id();
                        renamed = true;
                    }
                    crate::resource::set_at(&mut r.obj, &["metadata", "name"], new.into());
                    if is_prefix {
                        r.prefixes.push(affix.to_string());
                    } else {
                        r.suffixes.push(affix.to_string());
                    }
                    continue;
                }
                let path = fieldspec::parse_path(&spec.path);
                fieldspec::walk::<RenderError>(&mut r.obj, &path, spec.create, &mut |v| {
                    if let Some(s) = v.as_str() {
                        *v = if is_prefix {
                            format!("{affix}{s}")
                        } else {
                            format!("{s}{affix}")
                        }
                        .into();
                    }
                    Ok(())
                })?;
            }
        }
    }
    Ok(())
}

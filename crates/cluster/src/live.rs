//! Reads live objects: one LIST per resource and namespace when many objects share them, a GET
//! each otherwise, with bounded parallelism. Absent objects are simply not in the result.

use std::collections::HashMap;

use capstan_core::object::ObjectKey;
use kube::Client;
use kube::api::{Api, DynamicObject, ListParams};
use serde_json::Value;

use crate::discovery::Resource;
use crate::error::{ClusterError, is_not_found};
use crate::parallel;

/// Above this many objects of one resource in one namespace, a LIST is cheaper than GETs.
const LIST_THRESHOLD: usize = 8;

/// Objects read together: apiVersion, plural, namespace.
type GroupId = (String, String, String);

/// An API handle for `resource` in `namespace` (ignored for cluster-scoped resources).
pub fn api(client: &Client, resource: &Resource, namespace: &str) -> Api<DynamicObject> {
    if resource.namespaced {
        Api::namespaced_with(client.clone(), namespace, &resource.api)
    } else {
        Api::all_with(client.clone(), &resource.api)
    }
}

/// The live objects among `wanted`, by key.
pub async fn fetch(
    client: &Client,
    wanted: &[(ObjectKey, Resource)],
    parallelism: usize,
) -> Result<HashMap<ObjectKey, Value>, ClusterError> {
    let mut groups: HashMap<GroupId, Vec<&(ObjectKey, Resource)>> = HashMap::new();
    for item in wanted {
        let (key, resource) = item;
        let id = (
            resource.api.api_version.clone(),
            resource.api.plural.clone(),
            key.namespace.clone(),
        );
        groups.entry(id).or_default().push(item);
    }
    let (listed, single): (Vec<_>, Vec<_>) = groups
        .into_values()
        .partition(|items| items.len() > LIST_THRESHOLD);
    let mut live = HashMap::new();
    for items in listed {
        let (key, resource) = items[0];
        let list = api(client, resource, &key.namespace)
            .list(&ListParams::default())
            .await
            .map_err(|source| ClusterError::Read {
                what: format!(
                    "{} in {}",
                    resource.api.plural,
                    namespace_label(&key.namespace)
                ),
                source,
            })?;
        let names: HashMap<&str, &ObjectKey> =
            items.iter().map(|(k, _)| (k.name.as_str(), k)).collect();
        for obj in list.items {
            let name = obj.metadata.name.clone().unwrap_or_default();
            if let Some(&key) = names.get(name.as_str()) {
                live.insert(key.clone(), to_value(obj, resource));
            }
        }
    }
    let gets: Vec<_> = single
        .into_iter()
        .flatten()
        .map(|(key, resource)| async move {
            Ok(get(client, key, resource)
                .await?
                .map(|obj| (key.clone(), obj)))
        })
        .collect();
    let found = parallel::try_run(gets, parallelism).await?;
    live.extend(found.into_iter().flatten());
    Ok(live)
}

/// The live object `key`, read now; `None` when it does not exist.
pub async fn get(
    client: &Client,
    key: &ObjectKey,
    resource: &Resource,
) -> Result<Option<Value>, ClusterError> {
    match api(client, resource, &key.namespace).get(&key.name).await {
        Ok(obj) => Ok(Some(to_value(obj, resource))),
        Err(err) if is_not_found(&err) => Ok(None),
        Err(source) => Err(ClusterError::Read {
            what: key.to_string(),
            source,
        }),
    }
}

/// A dynamic object as JSON, with its type fields filled in (LIST items lack them).
pub fn to_value(obj: DynamicObject, resource: &Resource) -> Value {
    let mut value = serde_json::to_value(obj).unwrap_or(Value::Null);
    if let Some(map) = value.as_object_mut() {
        map.entry("apiVersion")
            .or_insert_with(|| Value::String(resource.api.api_version.clone()));
        map.entry("kind")
            .or_insert_with(|| Value::String(resource.api.kind.clone()));
    }
    value
}

fn namespace_label(namespace: &str) -> String {
    if namespace.is_empty() {
        "the cluster".to_owned()
    } else {
        format!("namespace {namespace}")
    }
}

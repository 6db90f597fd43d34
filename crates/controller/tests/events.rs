//! Events published by the controller's `Recorder` against a real API server: an Event that
//! repeats is counted on the first one's series, another one is a new Event, and what is
//! remembered for that stays bounded.

use capstan_controller::recorder::Recorder;
use capstan_testenv::{Tier, run};
use k8s_openapi::api::core::v1::{ConfigMap, ObjectReference};
use k8s_openapi::api::events::v1::Event as K8sEvent;
use kube::Resource;
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::events::{Event, EventType};

fn event(note: &str) -> Event {
    Event {
        type_: EventType::Normal,
        reason: "Synced".into(),
        note: Some(note.into()),
        action: "Sync".into(),
        secondary: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_event_is_counted_on_the_first_and_another_is_a_new_event() -> anyhow::Result<()>
{
    run(Tier::ApiServer, "controller-events", |ctx| async move {
        let ns = ctx.namespace.clone();
        let maps: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ns);
        let map: ConfigMap = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web"}, "data": {"a": "1"}}))?;
        let map = maps.create(&PostParams::default(), &map).await?;
        let reference: ObjectReference = map.object_ref(&());

        let recorder = Recorder::new(ctx.client.clone());
        recorder
            .publish(&event("synced to a1b2"), &reference)
            .await?;
        recorder
            .publish(&event("synced to a1b2"), &reference)
            .await?;
        recorder
            .publish(&event("synced to a1b2"), &reference)
            .await?;
        recorder
            .publish(&event("synced to c3d4"), &reference)
            .await?;

        let events: Api<K8sEvent> = Api::namespaced(ctx.client.clone(), &ns);
        let mut listed = events.list(&ListParams::default()).await?.items;
        listed.sort_by_key(|e| e.note.clone());
        let seen: Vec<_> = listed
            .iter()
            .map(|e| {
                let count = e.series.as_ref().map_or(1, |s| s.count);
                (e.note.clone().unwrap_or_default(), count)
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("synced to a1b2".to_owned(), 3),
                ("synced to c3d4".to_owned(), 1)
            ],
            "{listed:#?}"
        );
        let first = &listed[0];
        assert_eq!(first.reporting_controller.as_deref(), Some("capstan"));
        assert_eq!(
            first.regarding.as_ref().and_then(|r| r.name.as_deref()),
            Some("web")
        );
        assert_eq!(first.type_.as_deref(), Some("Normal"));
        Ok(())
    })
    .await
}

//! Which Applications this replica reconciles now: the shards it holds, each with the
//! [`Fence`] its writes obey and a signal that it was lost. Without leader election
//! ([`Shards::all`]) one shard is held for ever; with it, [`crate::election`] holds and lets go
//! of shards as their Leases say.

use std::sync::Arc;

use capstan_api::SHARD_LABEL;
use capstan_api::application::Application;
use capstan_cluster::fence::Fence;
use futures::Stream;
use tokio::sync::watch;

/// The shards of one controller process.
#[derive(Debug)]
pub struct Shards {
    slots: Vec<Slot>,
    /// Counts acquisitions, so every Application is reconciled when a shard is taken.
    acquired: watch::Sender<u64>,
}

#[derive(Debug)]
struct Slot {
    fence: Fence,
    held: watch::Sender<bool>,
}

/// A shard held at the start of a reconcile: its fence, and a way to learn it was lost.
#[derive(Debug)]
pub struct Held {
    /// The fence every write of the reconcile obeys.
    pub fence: Fence,
    held: watch::Receiver<bool>,
}

impl Held {
    /// Resolves when the shard is let go or lost (at once if it already is).
    pub async fn lost(&mut self) {
        let _ = self.held.wait_for(|held| !*held).await;
    }
}

impl Shards {
    /// One shard, always held, never fenced: a controller without leader election.
    pub fn all() -> Arc<Shards> {
        let shards = Shards::new(1, Fence::open);
        shards.slots[0].held.send_replace(true);
        Arc::new(shards)
    }

    /// `count` shards (at least one), none held yet: leader election decides.
    pub fn elected(count: u32) -> Arc<Shards> {
        Arc::new(Shards::new(count.max(1), Fence::closed))
    }

    fn new(count: u32, fence: fn() -> Fence) -> Shards {
        let slots = (0..count)
            .map(|_| Slot {
                fence: fence(),
                held: watch::channel(false).0,
            })
            .collect();
        Shards {
            slots,
            acquired: watch::channel(0).0,
        }
    }

    /// How many shards the Applications are divided over.
    pub fn count(&self) -> u32 {
        u32::try_from(self.slots.len()).unwrap_or(u32::MAX)
    }

    /// The shard `app` belongs to.
    pub fn shard_of(&self, app: &Application) -> u32 {
        let namespace = app.metadata.namespace.as_deref().unwrap_or_default();
        let name = app.metadata.name.as_deref().unwrap_or_default();
        let pin = app
            .metadata
            .labels
            .as_ref()
            .and_then(|labels| labels.get(SHARD_LABEL))
            .map(String::as_str);
        capstan_core::shard::shard_of(namespace, name, pin, self.count())
    }

    /// The shard of `app` when this replica holds it and may write for it now.
    pub fn holding(&self, app: &Application) -> Option<Held> {
        let slot = self.slot(self.shard_of(app))?;
        let held = slot.held.subscribe();
        (*held.borrow() && slot.fence.is_open()).then(|| Held {
            fence: slot.fence.clone(),
            held,
        })
    }

    /// Whether this replica reconciles `app` now.
    pub fn owns(&self, app: &Application) -> bool {
        self.holding(app).is_some()
    }

    /// Whether shard `shard` is held.
    pub fn is_held(&self, shard: u32) -> bool {
        self.slot(shard).is_some_and(|slot| *slot.held.borrow())
    }

    /// The fence of shard `shard`, which leader election opens with each renewal it sees.
    pub fn fence(&self, shard: u32) -> Option<&Fence> {
        self.slot(shard).map(|slot| &slot.fence)
    }

    /// Records that shard `shard` is held or not. Letting go closes its fence first, then
    /// cancels the reconciles running for it; taking it wakes every Application.
    pub fn set_held(&self, shard: u32, held: bool) {
        let Some(slot) = self.slot(shard) else {
            return;
        };
        if !held {
            slot.fence.close();
        }
        let was = slot.held.send_replace(held);
        if held && !was {
            self.acquired.send_modify(|n| *n += 1);
        }
    }

    /// Which shards are held now, lowest first.
    pub fn held(&self) -> Vec<u32> {
        (0..self.count()).filter(|s| self.is_held(*s)).collect()
    }

    /// Yields each time a shard is taken (to reconcile every Application then).
    pub fn acquisitions(&self) -> impl Stream<Item = ()> + Send + 'static {
        let mut changes = self.acquired.subscribe();
        changes.mark_unchanged();
        futures::stream::unfold(changes, |mut changes| async move {
            changes.changed().await.ok().map(|()| ((), changes))
        })
    }

    fn slot(&self, shard: u32) -> Option<&Slot> {
        self.slots.get(usize::try_from(shard).ok()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use std::time::{Duration, SystemTime};

    fn app(name: &str, pin: Option<&str>) -> Application {
        let mut app: Application = serde_json::from_value(serde_json::json!({
            "apiVersion": "capstan.dev/v1alpha1", "kind": "Application",
            "metadata": {"name": name, "namespace": "team"},
            "spec": {"source": {"repoURL": "https://git.example/r.git"}, "destination": {}}
        }))
        .expect("a valid Application");
        if let Some(pin) = pin {
            app.metadata.labels = Some([(SHARD_LABEL.to_owned(), pin.to_owned())].into());
        }
        app
    }

    #[test]
    fn without_election_every_application_is_owned() {
        let shards = Shards::all();
        assert!(shards.owns(&app("web", None)));
        assert!(shards.owns(&app("db", Some("7"))));
    }

    #[test]
    fn an_elected_shard_is_owned_only_while_held_and_its_fence_is_open() {
        let shards = Shards::elected(2);
        let web = app("web", Some("1"));
        assert!(!shards.owns(&web), "nothing held at first");
        shards.set_held(1, true);
        assert!(!shards.owns(&web), "held, but no renewal seen yet");
        let fence = shards.fence(1).expect("shard 1");
        fence.open_until(SystemTime::now() + Duration::from_secs(30));
        assert!(shards.owns(&web));
        assert!(!shards.owns(&app("web", Some("0"))), "shard 0 is not held");
        fence.open_until(SystemTime::now() - Duration::from_secs(1));
        assert!(!shards.owns(&web), "past the renew deadline");
    }

    #[tokio::test]
    async fn letting_a_shard_go_closes_its_fence_and_cancels_its_reconciles() {
        let shards = Shards::elected(1);
        shards.set_held(0, true);
        let fence = shards.fence(0).expect("shard 0").clone();
        fence.open_until(SystemTime::now() + Duration::from_secs(30));
        let mut held = shards.holding(&app("web", None)).expect("held");
        shards.set_held(0, false);
        tokio::time::timeout(Duration::from_secs(5), held.lost())
            .await
            .expect("the reconcile learns the shard is lost");
        assert!(!fence.is_open());
    }

    #[tokio::test]
    async fn taking_a_shard_wakes_every_application_once() {
        let shards = Shards::elected(2);
        let mut woken = Box::pin(shards.acquisitions());
        shards.set_held(0, true);
        shards.set_held(0, true);
        tokio::time::timeout(Duration::from_secs(5), woken.next())
            .await
            .expect("a wake-up")
            .expect("the stream goes on");
        assert_eq!(shards.held(), vec![0]);
    }
}

//! What the cache does over the network, told to an observer as it happens: each remote check
//! (a ref listing) and each fetch, with its result — for the controller's metrics. The cache
//! holds at most one observer, set once.

use std::sync::{Arc, OnceLock};

use capstan_api::Reason;

/// A network activity of the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    /// A remote check: what does the revision point at (a ref listing).
    Check,
    /// A fetch of objects the cache lacked.
    Fetch,
}

/// Called after each activity with its result: `Ok`, or the reason it failed.
pub type Observer = Arc<dyn Fn(Activity, Result<(), Reason>) + Send + Sync>;

/// The cache's observer slot.
#[derive(Default)]
pub(crate) struct Observed(OnceLock<Observer>);

impl Observed {
    /// Sets the observer; `false` when one was set already (it stays).
    pub(crate) fn set(&self, observer: Observer) -> bool {
        self.0.set(observer).is_ok()
    }

    /// Tells the observer, if there is one.
    pub(crate) fn tell(&self, activity: Activity, result: Result<(), Reason>) {
        if let Some(observer) = self.0.get() {
            observer(activity, result);
        }
    }
}

impl std::fmt::Debug for Observed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Observed")
            .field(&self.0.get().is_some())
            .finish()
    }
}

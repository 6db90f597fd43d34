//! Why a compare or a sync stopped, or why one object failed or was left alone: a bounded set
//! of reasons for conditions, Events and metric labels. The message next to a reason carries the
//! details (which object, the API server's words); the reason alone must be enough to count,
//! alert and route. `docs/reasons.md` lists when each one is given and whether retrying helps.
//! The last few are no failures: they are the reasons of an Application's conditions when nothing
//! failed (`docs/application.md`).

use crate::names::named_enum;

named_enum! {
    /// Why a compare or a sync stopped, or why one object failed or was left alone; and, for
    /// an Application's conditions, the few reasons that name no failure (`Synced`, …).
    ///
    /// API failures are named by what they say about the cluster when that is what a user acts on
    /// (`Forbidden`, `Conflict`, `ApiUnavailable`, `Timeout`, `Unauthorized`), and otherwise by
    /// the step that failed (`DryRunFailed`, `ApplyFailed`, `PruneFailed`, …).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
    pub enum Reason {
        /// The git server could not be reached, or the connection broke.
        FetchFailed,
        /// The git server refused the credentials, or asked for credentials none were given for.
        AuthenticationFailed,
        /// The git credentials cannot be used as configured (a malformed Secret, say).
        InvalidCredentials,
        /// The git server's SSH host key or TLS certificate is not trusted.
        HostNotTrusted,
        /// The repository URL cannot be used.
        InvalidRepositoryUrl,
        /// The git server answered with something that is not a usable repository (no such
        /// repository, an unexpected redirect or reply).
        RepositoryUnavailable,
        /// The revision names no branch, tag or commit of the repository.
        RevisionNotFound,
        /// A path cannot be read from the commit (missing, outside the repository, too large).
        SourceReadFailed,
        /// The local git cache failed.
        GitCacheFailed,
        /// The commit (or annotated tag) to deploy is not signed by a key of
        /// `spec.source.verify`'s Secret: unsigned, signed by another key, or altered after
        /// signing. Nothing is read from it.
        VerificationFailed,
        /// A write-back push kept being rejected because others pushed first.
        PushRejected,
        /// The manifests could not be rendered.
        RenderFailed,
        /// A desired object is invalid (no name, declared twice, a malformed annotation).
        InvalidManifest,
        /// An object's apiVersion and kind are not served by the cluster.
        UnknownKind,
        /// Discovering the cluster's API resources failed.
        DiscoveryFailed,
        /// The destination cluster cannot be used as configured: the Secret
        /// `destination.kubeConfigSecretRef` names is missing, or holds no usable kubeconfig.
        InvalidDestination,
        /// Reading live objects failed.
        ReadFailed,
        /// The server-side-apply dry-run of an object failed.
        DryRunFailed,
        /// Applying an object failed.
        ApplyFailed,
        /// An apply changed an immutable field and neither `Force` nor `Replace` allows a
        /// delete-and-recreate.
        ImmutableField,
        /// The live object belongs to another application; it is not applied over.
        OwnedByOtherApplication,
        /// The live object's tracking id does not name this application and object; it is not
        /// deleted.
        NotOwned,
        /// A delete-and-recreate deleted the object, which did not go away in time.
        RecreateTimedOut,
        /// The destination namespace could not be created (`CreateNamespace`).
        NamespaceCreateFailed,
        /// A CustomResourceDefinition or Namespace of a step did not become established in time.
        NotEstablished,
        /// An object of a wave became Degraded, or was not healthy when the wave timed out.
        HealthCheckFailed,
        /// Pruning was refused: the desired set is empty and emptying the application was not
        /// allowed.
        PruneRefusedEmptySet,
        /// The object left the desired set and was kept: its sync option says `Prune=false`.
        PruneDisabled,
        /// Deleting an object that left the desired set failed.
        PruneFailed,
        /// The application's inventory could not be read (or is malformed).
        InventoryReadFailed,
        /// The application's inventory could not be written.
        InventoryWriteFailed,
        /// The API server refused Capstan's request for lack of permission (403).
        Forbidden,
        /// The API server did not accept Capstan's own credentials (401).
        Unauthorized,
        /// The object changed while Capstan was changing it (409), also after retries.
        Conflict,
        /// The API server is overloaded or failing (429, 5xx) or could not be reached.
        ApiUnavailable,
        /// An operation ran past its deadline (a git operation, or the API server's 504).
        Timeout,
        /// The operation was cancelled (shutdown, or a newer operation replaced it).
        Cancelled,
        /// Not a failure — a condition's reason: the cluster matches the source and every
        /// resource is healthy (`Ready` is `True`).
        Synced,
        /// Not a failure — a condition's reason: the cluster differs from the source and no
        /// automated sync will change it (`Ready` is `False`).
        OutOfSync,
        /// Not a failure — a condition's reason: a sync or a rollout is under way
        /// (`Reconciling`).
        Progressing,
        /// Not a failure — a condition's reason: an Application of `spec.dependsOn` is not Ready
        /// yet (`Reconciling`).
        DependencyNotReady,
        /// Not a failure — a condition's reason: `spec.suspend` is true (`Ready` is `False`).
        Suspended,
    }
}

#[cfg(test)]
mod tests {
    use super::Reason;

    /// Every reason, by name: a rename or a removal changes conditions, Events, metric labels
    /// and stored status that users and alerts match on, so it must show up here.
    const NAMES: [&str; 42] = [
        "FetchFailed",
        "AuthenticationFailed",
        "InvalidCredentials",
        "HostNotTrusted",
        "InvalidRepositoryUrl",
        "RepositoryUnavailable",
        "RevisionNotFound",
        "SourceReadFailed",
        "GitCacheFailed",
        "VerificationFailed",
        "PushRejected",
        "RenderFailed",
        "InvalidManifest",
        "UnknownKind",
        "DiscoveryFailed",
        "InvalidDestination",
        "ReadFailed",
        "DryRunFailed",
        "ApplyFailed",
        "ImmutableField",
        "OwnedByOtherApplication",
        "NotOwned",
        "RecreateTimedOut",
        "NamespaceCreateFailed",
        "NotEstablished",
        "HealthCheckFailed",
        "PruneRefusedEmptySet",
        "PruneDisabled",
        "PruneFailed",
        "InventoryReadFailed",
        "InventoryWriteFailed",
        "Forbidden",
        "Unauthorized",
        "Conflict",
        "ApiUnavailable",
        "Timeout",
        "Cancelled",
        "Synced",
        "OutOfSync",
        "Progressing",
        "DependencyNotReady",
        "Suspended",
    ];

    #[test]
    fn the_reasons_are_exactly_the_listed_names() {
        let names: Vec<&str> = Reason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(names, NAMES);
    }

    #[test]
    fn every_reason_round_trips_through_its_name_and_serde() {
        for reason in Reason::ALL {
            assert_eq!(Reason::parse(reason.as_str()), Some(reason));
            assert_eq!(reason.to_string(), reason.as_str());
            let json = serde_json::to_value(reason).unwrap();
            assert_eq!(json, serde_json::Value::from(reason.as_str()));
            assert_eq!(serde_json::from_value::<Reason>(json).unwrap(), reason);
        }
    }

    #[test]
    fn reasons_are_valid_condition_reasons() {
        // metav1.Condition.reason: ^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$, at most 1024.
        for reason in Reason::ALL {
            let name = reason.as_str();
            assert!(name.starts_with(|c: char| c.is_ascii_uppercase()), "{name}");
            assert!(name.chars().all(|c| c.is_ascii_alphanumeric()), "{name}");
        }
        assert_eq!(Reason::parse("fetchFailed"), None);
        assert!(serde_json::from_str::<Reason>("\"NoSuchReason\"").is_err());
    }
}

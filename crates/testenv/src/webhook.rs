//! A real mutating admission webhook for tests, served by the test process itself: it raises
//! every container's CPU request to a floor and annotates the object, as managed platforms
//! (GKE Autopilot) do — the classic cause of endless "OutOfSync" in GitOps tools. The server
//! speaks HTTPS on `127.0.0.1` with its own CA and is registered with the shared kube-apiserver
//! by a `MutatingWebhookConfiguration` that only selects namespaces carrying a given label, so
//! tests sharing the control plane are unaffected.
//!
//! ```no_run
//! # async fn example(ctx: capstan_testenv::TestContext) -> Result<(), Box<dyn std::error::Error>> {
//! use capstan_testenv::webhook::MutatingWebhook;
//! // Label ctx.namespace with capstan.test/webhook=<ctx.namespace> first.
//! let label = ("capstan.test/webhook", ctx.namespace.as_str());
//! let webhook = MutatingWebhook::start(&ctx.client, "cpu-floor", label, 250).await?;
//! // … apply Deployments in ctx.namespace: their CPU requests come back raised to 250m …
//! webhook.stop(&ctx.client).await?;
//! # Ok(())
//! # }
//! ```

pub mod mutation;
mod server;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1 as admission;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{Container, Namespace, PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::Api;
use kube::api::{DeleteParams, ObjectMeta, PostParams};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub use mutation::{ADJUSTMENT_ANNOTATION, ADJUSTMENT_VALUE};

/// The name of the one webhook inside the configuration (it must be fully qualified).
const WEBHOOK_NAME: &str = "cpu-floor.autopilot.example.com";

/// How long the apiserver may take to start or stop calling the webhook.
const EFFECT_TIMEOUT: Duration = Duration::from_secs(30);

/// How often the probe asks whether the webhook is in effect.
const PROBE_INTERVAL: Duration = Duration::from_millis(100);

/// Why the webhook could not be started or stopped.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The CA or serving certificate could not be generated.
    #[error("failed to generate the webhook's certificates")]
    Certificates(#[from] rcgen::Error),
    /// rustls rejected the serving configuration.
    #[error("failed to configure the webhook's tls")]
    Tls(#[source] tokio_rustls::rustls::Error),
    /// No port could be bound on loopback.
    #[error("failed to bind the webhook's port on 127.0.0.1")]
    Bind(#[source] std::io::Error),
    /// The name of the probe namespace could not be drawn.
    #[error("failed to name the webhook's probe namespace")]
    ProbeName(#[source] Box<crate::Error>),
    /// The labelled namespace used to probe the webhook could not be created.
    #[error("failed to create the webhook's probe namespace {name}")]
    CreateProbeNamespace {
        /// The namespace.
        name: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// The configuration could not be created.
    #[error("failed to create mutating webhook configuration {name}")]
    Register {
        /// The configuration.
        name: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// The configuration could not be deleted.
    #[error("failed to delete mutating webhook configuration {name}")]
    Delete {
        /// The configuration.
        name: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// The apiserver did not start (or stop) calling the webhook in time.
    #[error("mutating webhook {name} did not {change} within {timeout:?}; last probe: {last}")]
    Timeout {
        /// The configuration.
        name: String,
        /// `take effect` or `stop taking effect`.
        change: &'static str,
        /// How long was waited.
        timeout: Duration,
        /// What the last probe saw.
        last: String,
    },
}

/// A running webhook and its registration. Dropping it stops the server but leaves the
/// configuration in place (with `failurePolicy: Fail`, writes to labelled namespaces then fail);
/// call [`MutatingWebhook::stop`] to remove it.
#[derive(Debug)]
pub struct MutatingWebhook {
    name: String,
    url: String,
    ca_pem: String,
    probe_namespace: String,
    state: Arc<server::State>,
    server: JoinHandle<()>,
}

impl MutatingWebhook {
    /// Serves the webhook on a free loopback port, registers it as the
    /// `MutatingWebhookConfiguration` `name` for Deployments, StatefulSets and DaemonSets
    /// (CREATE and UPDATE) in namespaces labelled `namespace_label`, and returns once the
    /// apiserver really calls it: a server-side dry-run create in a labelled probe namespace comes
    /// back mutated. Mutated objects get CPU requests of at least `min_cpu_millis`.
    pub async fn start(
        client: &kube::Client,
        name: &str,
        namespace_label: (&str, &str),
        min_cpu_millis: u64,
    ) -> Result<Self, WebhookError> {
        let token = crate::certs::random_token().map_err(|e| WebhookError::ProbeName(e.into()))?;
        let tls = server::tls()?;
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(WebhookError::Bind)?;
        let port = listener.local_addr().map_err(WebhookError::Bind)?.port();
        let state = Arc::new(server::State {
            min_cpu_millis,
            ..Default::default()
        });
        let server = tokio::spawn(server::serve(listener, tls.config, Arc::clone(&state)));
        let webhook = Self {
            name: name.to_owned(),
            url: format!("https://127.0.0.1:{port}{}", server::MUTATE_PATH),
            ca_pem: tls.ca_pem,
            probe_namespace: format!(
                "webhook-probe-{}",
                token.chars().take(8).collect::<String>()
            ),
            state,
            server,
        };
        if let Err(err) = webhook.register(client, namespace_label).await {
            // Best effort: a registration left behind would fail every write it selects. There
            // is nothing to wait for: the webhook never came into effect, or never will.
            let _ = webhook.unregister(client, false).await;
            return Err(err);
        }
        Ok(webhook)
    }

    /// Admission reviews answered so far, including the probes `start` and `stop` make.
    pub fn requests_served(&self) -> usize {
        self.state.counters.served.load(Ordering::SeqCst)
    }

    /// Admission reviews that could not be read (answered `allowed` without a patch).
    pub fn errors(&self) -> usize {
        self.state.counters.errors.load(Ordering::SeqCst)
    }

    /// PEM of the webhook's CA, as given to the apiserver in `caBundle`.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The URL the apiserver calls, `https://127.0.0.1:PORT/mutate`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The name of the `MutatingWebhookConfiguration`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Deletes the configuration, waits until the apiserver no longer calls the webhook,
    /// deletes the probe namespace and stops the server.
    pub async fn stop(self, client: &kube::Client) -> Result<(), WebhookError> {
        self.unregister(client, true).await
    }

    /// Creates the probe namespace and the configuration, and waits until it is in effect.
    async fn register(
        &self,
        client: &kube::Client,
        (key, value): (&str, &str),
    ) -> Result<(), WebhookError> {
        let namespace = Namespace {
            metadata: ObjectMeta {
                name: Some(self.probe_namespace.clone()),
                labels: Some(BTreeMap::from([(key.to_owned(), value.to_owned())])),
                ..Default::default()
            },
            ..Default::default()
        };
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &namespace)
            .await
            .map_err(|source| WebhookError::CreateProbeNamespace {
                name: self.probe_namespace.clone(),
                source,
            })?;
        let configuration = configuration(&self.name, &self.url, &self.ca_pem, (key, value));
        Api::<admission::MutatingWebhookConfiguration>::all(client.clone())
            .create(&PostParams::default(), &configuration)
            .await
            .map_err(|source| WebhookError::Register {
                name: self.name.clone(),
                source,
            })?;
        self.wait_for_effect(client, true).await
    }

    /// Deletes the configuration, waits until it is out of effect (when `wait`), and deletes the
    /// probe namespace. Objects already gone count as deleted.
    async fn unregister(&self, client: &kube::Client, wait: bool) -> Result<(), WebhookError> {
        let configurations = Api::<admission::MutatingWebhookConfiguration>::all(client.clone());
        match configurations
            .delete(&self.name, &DeleteParams::default())
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.is_not_found() => {}
            Err(source) => {
                return Err(WebhookError::Delete {
                    name: self.name.clone(),
                    source,
                });
            }
        }
        let outcome = if wait {
            self.wait_for_effect(client, false).await
        } else {
            Ok(())
        };
        // The namespace finishes terminating in the background; nothing waits for it.
        let _ = Api::<Namespace>::all(client.clone())
            .delete(&self.probe_namespace, &DeleteParams::background())
            .await;
        outcome
    }

    /// Dry-runs a probe Deployment in the probe namespace until it comes back mutated
    /// (`mutated`) or untouched (`!mutated`), within [`EFFECT_TIMEOUT`].
    async fn wait_for_effect(
        &self,
        client: &kube::Client,
        mutated: bool,
    ) -> Result<(), WebhookError> {
        let deployments = Api::<Deployment>::namespaced(client.clone(), &self.probe_namespace);
        let dry_run = PostParams {
            dry_run: true,
            ..Default::default()
        };
        let probe = probe_deployment();
        let deadline = Instant::now() + EFFECT_TIMEOUT;
        loop {
            let last = match deployments.create(&dry_run, &probe).await {
                Ok(created) if is_adjusted(&created.metadata) == mutated => return Ok(()),
                Ok(created) => format!("annotations {:?}", created.metadata.annotations),
                Err(err) => format!("dry-run create failed: {err}"),
            };
            if Instant::now() >= deadline {
                return Err(WebhookError::Timeout {
                    name: self.name.clone(),
                    change: if mutated {
                        "take effect"
                    } else {
                        "stop taking effect"
                    },
                    timeout: EFFECT_TIMEOUT,
                    last,
                });
            }
            tokio::time::sleep(PROBE_INTERVAL).await;
        }
    }
}

impl Drop for MutatingWebhook {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Whether the webhook's annotation is on an object.
fn is_adjusted(metadata: &ObjectMeta) -> bool {
    metadata
        .annotations
        .as_ref()
        .and_then(|annotations| annotations.get(ADJUSTMENT_ANNOTATION))
        .is_some_and(|value| value == ADJUSTMENT_VALUE)
}

/// The Deployment the readiness probe dry-runs: one container without resources.
fn probe_deployment() -> Deployment {
    let labels = BTreeMap::from([("app".to_owned(), "webhook-probe".to_owned())]);
    let container = Container {
        name: "probe".to_owned(),
        image: Some("registry.example/probe:1".to_owned()),
        ..Default::default()
    };
    Deployment {
        metadata: ObjectMeta {
            name: Some("webhook-probe".to_owned()),
            ..Default::default()
        },
        spec: Some(DeploymentSpec {
            selector: LabelSelector {
                match_labels: Some(labels.clone()),
                match_expressions: None,
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![container],
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The `MutatingWebhookConfiguration` that sends workload writes in labelled namespaces to
/// `url`, trusting `ca_pem`. `sideEffects: None` lets dry-run requests reach it too.
fn configuration(
    name: &str,
    url: &str,
    ca_pem: &str,
    (key, value): (&str, &str),
) -> admission::MutatingWebhookConfiguration {
    let strings = |items: &[&str]| Some(items.iter().map(|&s| s.to_owned()).collect());
    let webhook = admission::MutatingWebhook {
        name: WEBHOOK_NAME.to_owned(),
        client_config: admission::WebhookClientConfig {
            url: Some(url.to_owned()),
            ca_bundle: Some(ByteString(ca_pem.as_bytes().to_vec())),
            service: None,
        },
        rules: Some(vec![admission::RuleWithOperations {
            api_groups: strings(&["apps"]),
            api_versions: strings(&["v1"]),
            operations: strings(&["CREATE", "UPDATE"]),
            resources: strings(&["deployments", "statefulsets", "daemonsets"]),
            scope: Some("Namespaced".to_owned()),
        }]),
        namespace_selector: Some(LabelSelector {
            match_labels: Some(BTreeMap::from([(key.to_owned(), value.to_owned())])),
            match_expressions: None,
        }),
        side_effects: "None".to_owned(),
        admission_review_versions: vec!["v1".to_owned()],
        failure_policy: Some("Fail".to_owned()),
        timeout_seconds: Some(5),
        reinvocation_policy: Some("Never".to_owned()),
        ..Default::default()
    };
    admission::MutatingWebhookConfiguration {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            ..Default::default()
        },
        webhooks: Some(vec![webhook]),
    }
}

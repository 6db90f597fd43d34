//! Credentials for one repository, passed in as data (from a Kubernetes Secret, with Flux's key
//! names): `username`/`password`, `bearerToken`, `identity` (+ `identity.passphrase`) with
//! `known_hosts`, and `ca.crt`. Their `Debug` output never shows a secret, and [`Credentials::scrub`]
//! removes any that a server echoed into an error message.

use std::collections::BTreeMap;

/// How to authenticate to a repository and which server identities to trust.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// HTTPS basic auth.
    pub basic: Option<(String, String)>,
    /// HTTPS bearer token (sent as `Authorization: Bearer …`).
    pub bearer_token: Option<String>,
    /// SSH private key (OpenSSH or PEM text).
    pub ssh_key: Option<String>,
    /// Passphrase of the SSH key.
    pub ssh_passphrase: Option<String>,
    /// known_hosts text the SSH server's host key must match.
    pub known_hosts: Option<String>,
    /// PEM CA bundle the HTTPS server's certificate must chain to (instead of the system roots).
    pub ca_cert: Option<Vec<u8>>,
}

impl Credentials {
    /// No credentials: anonymous access, system CA roots, and SSH refused (no known_hosts).
    pub fn none() -> Self {
        Self::default()
    }

    /// Reads the keys of a Secret's data. Unknown keys are ignored; values that are not UTF-8
    /// where text is expected give an error naming the key (never its value).
    pub fn from_secret_data(data: &BTreeMap<String, Vec<u8>>) -> Result<Self, crate::Error> {
        let text = |key: &str| -> Result<Option<String>, crate::Error> {
            data.get(key)
                .map(|v| {
                    String::from_utf8(v.clone()).map_err(|_| crate::Error::InvalidCredentials {
                        reason: format!("secret key {key:?} is not UTF-8 text"),
                    })
                })
                .transpose()
        };
        // With an SSH identity, `password` is the key's passphrase (Flux's convention).
        let has_identity = data.contains_key("identity");
        let password = if has_identity {
            None
        } else {
            text("password")?
        };
        let basic = match (text("username")?, password) {
            (Some(user), Some(password)) => Some((user, password)),
            (None, None) => None,
            _ => {
                return Err(crate::Error::InvalidCredentials {
                    reason: "secret has only one of \"username\" and \"password\"".to_owned(),
                });
            }
        };
        Ok(Self {
            basic,
            bearer_token: text("bearerToken")?,
            ssh_key: text("identity")?,
            ssh_passphrase: text("identity.passphrase")?
                .or(text("password")?.filter(|_| data.contains_key("identity"))),
            known_hosts: text("known_hosts")?,
            ca_cert: data.get("ca.crt").cloned(),
        })
    }

    /// The secret strings, longest first, for scrubbing messages.
    fn secrets(&self) -> Vec<&str> {
        let mut secrets: Vec<&str> = [
            self.basic.as_ref().map(|(_, p)| p.as_str()),
            self.bearer_token.as_deref(),
            self.ssh_passphrase.as_deref(),
            self.ssh_key.as_deref(),
        ]
        .into_iter()
        .flatten()
        .filter(|s| s.len() >= 4)
        .collect();
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets
    }

    /// `message` with every secret of these credentials replaced by `***`.
    pub fn scrub(&self, message: &str) -> String {
        self.secrets()
            .into_iter()
            .fold(message.to_owned(), |m, s| m.replace(s, "***"))
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |present: bool| if present { "<set>" } else { "<none>" };
        f.debug_struct("Credentials")
            .field(
                "basic",
                &self
                    .basic
                    .as_ref()
                    .map(|(user, _)| format!("{user}:<redacted>")),
            )
            .field("bearer_token", &set(self.bearer_token.is_some()))
            .field("ssh_key", &set(self.ssh_key.is_some()))
            .field("ssh_passphrase", &set(self.ssh_passphrase.is_some()))
            .field("known_hosts", &set(self.known_hosts.is_some()))
            .field("ca_cert", &set(self.ca_cert.is_some()))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::Credentials;

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn secret_keys_follow_flux_names() {
        let creds = Credentials::from_secret_data(&data(&[
            ("username", "alice"),
            ("password", "s3cret-pass"),
            ("known_hosts", "github.com ssh-ed25519 AAAA"),
            ("ca.crt", "-----BEGIN CERTIFICATE-----"),
        ]))
        .unwrap();
        assert_eq!(
            creds.basic,
            Some(("alice".to_owned(), "s3cret-pass".to_owned()))
        );
        assert!(creds.known_hosts.is_some() && creds.ca_cert.is_some());
        assert_eq!(
            creds.ssh_passphrase, None,
            "a password without identity is not a key passphrase"
        );

        let ssh = Credentials::from_secret_data(&data(&[("identity", "KEY"), ("password", "pp")]))
            .unwrap();
        assert_eq!(ssh.ssh_passphrase.as_deref(), Some("pp"));
    }

    #[test]
    fn half_a_basic_credential_is_an_error_that_shows_no_value() {
        let err = Credentials::from_secret_data(&data(&[("password", "s3cret-pass")])).unwrap_err();
        assert!(!err.to_string().contains("s3cret-pass"));
    }

    #[test]
    fn debug_output_and_scrubbed_messages_never_show_a_secret() {
        let creds = Credentials {
            basic: Some(("alice".to_owned(), "s3cret-pass".to_owned())),
            bearer_token: Some("tok-123456".to_owned()),
            ssh_key: Some("-----BEGIN OPENSSH PRIVATE KEY-----xyz".to_owned()),
            ssh_passphrase: Some("phrase-99".to_owned()),
            ..Credentials::none()
        };
        let debug = format!("{creds:?}");
        for secret in ["s3cret-pass", "tok-123456", "PRIVATE KEY", "phrase-99"] {
            assert!(!debug.contains(secret), "{debug}");
        }
        assert!(debug.contains("alice"));
        let scrubbed = creds.scrub("auth failed for alice:s3cret-pass with tok-123456");
        assert_eq!(scrubbed, "auth failed for alice:*** with ***");
    }
}

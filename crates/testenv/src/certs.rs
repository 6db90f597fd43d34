//! Key material for one control plane: a throw-away CA, a serving certificate for loopback signed
//! by it (used by kube-apiserver, kube-controller-manager and kube-scheduler, so clients verify TLS
//! for real), client certificates signed by the same CA (the apiserver's `--client-ca-file`, so
//! any number of identities can be made after start-up), the service-account signing key, and
//! random bearer tokens.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use crate::Error;

/// Paths of the PEM files written for a control plane, and the CA that signs client certificates.
#[derive(Debug, Clone)]
pub struct Pki {
    /// The CA certificate clients trust.
    pub ca_cert: PathBuf,
    /// Serving certificate for `127.0.0.1` and `localhost`.
    pub serving_cert: PathBuf,
    /// Key of the serving certificate.
    pub serving_key: PathBuf,
    /// Service-account token signing key (private).
    pub sa_key: PathBuf,
    /// Service-account token verification key (public).
    pub sa_pub: PathBuf,
    /// The CA, kept in memory only, to sign client certificates.
    ca: Arc<Issuer<'static, KeyPair>>,
}

impl Pki {
    /// Generates the key material and writes it under `dir`.
    pub fn generate(dir: &Path) -> Result<Self, Error> {
        let serving = LoopbackCert::generate("capstan-testenv")?;
        let sa = KeyPair::generate()?;

        let pki = Self {
            ca_cert: dir.join("ca.crt"),
            serving_cert: dir.join("serving.crt"),
            serving_key: dir.join("serving.key"),
            sa_key: dir.join("sa.key"),
            sa_pub: dir.join("sa.pub"),
            ca: Arc::new(serving.issuer),
        };
        write(&pki.ca_cert, &serving.ca_pem)?;
        write(&pki.serving_cert, &serving.cert.pem())?;
        write(&pki.serving_key, &serving.key.serialize_pem())?;
        write(&pki.sa_key, &sa.serialize_pem())?;
        write(&pki.sa_pub, &sa.public_key_pem())?;
        Ok(pki)
    }

    /// A client certificate for `user` in `group` (the subject's CN and O, as Kubernetes reads
    /// them), signed by the CA: the certificate's PEM and its key's PEM.
    pub fn client_cert(&self, user: &str, group: Option<&str>) -> Result<(String, String), Error> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(DnType::CommonName, user);
        if let Some(group) = group {
            params
                .distinguished_name
                .push(DnType::OrganizationName, group);
        }
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.signed_by(&key, &*self.ca)?;
        Ok((cert.pem(), key.serialize_pem()))
    }
}

/// A throw-away CA and a serving certificate for `127.0.0.1` and `localhost` signed by it, in
/// memory: the control plane writes them to files, the test webhook hands them to rustls.
pub struct LoopbackCert {
    /// PEM of the CA certificate clients are told to trust.
    pub ca_pem: String,
    /// The serving certificate.
    pub cert: rcgen::Certificate,
    /// Its private key.
    pub key: KeyPair,
    /// The CA, which can sign more certificates.
    pub issuer: Issuer<'static, KeyPair>,
}

impl LoopbackCert {
    /// Generates a CA named `<name>-ca` and a serving certificate named `name`.
    pub fn generate(name: &str) -> Result<Self, rcgen::Error> {
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, format!("{name}-ca"));
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca_params, ca_key);

        let key = KeyPair::generate()?;
        let mut serving =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])?;
        serving.distinguished_name.push(DnType::CommonName, name);
        serving.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        serving.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = serving.signed_by(&key, &issuer)?;
        Ok(LoopbackCert {
            ca_pem: ca_cert.pem(),
            cert,
            key,
            issuer,
        })
    }
}

/// A random bearer token: 32 hex digits from the kernel's random source.
pub fn random_token() -> Result<String, Error> {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|source| Error::Prepare {
            what: "a random token".to_owned(),
            source,
        })?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Writes a file, naming it in the error.
pub fn write(path: &Path, contents: &str) -> Result<(), Error> {
    std::fs::write(path, contents).map_err(|source| Error::Prepare {
        what: path.display().to_string(),
        source,
    })
}

//! Verifying an HTTPS server's certificate against a CA the user supplied for one repository
//! (`ca.crt` in its Secret). libgit2 has no per-remote CA setting, so the certificate callback
//! checks the server's certificate here: chain to the CA, validity period, server-auth usage and
//! the host name (or IP address).

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use webpki::{ALL_VERIFICATION_ALGS, EndEntityCert, KeyUsage};

/// Verifies the DER `leaf` certificate presented for `host` against the PEM `ca_pem` bundle.
/// Returns why it is refused, for the error message.
pub fn verify_server_cert(ca_pem: &[u8], leaf: &[u8], host: &str) -> Result<(), String> {
    let cas: Vec<CertificateDer<'_>> = CertificateDer::pem_slice_iter(ca_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("the CA bundle is not valid PEM: {e}"))?;
    if cas.is_empty() {
        return Err("the CA bundle holds no certificate".to_owned());
    }
    let anchors = cas
        .iter()
        .map(|ca| webpki::anchor_from_trusted_cert(ca).map(|a| a.to_owned()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("a CA certificate cannot be used: {e}"))?;
    let leaf = CertificateDer::from(leaf);
    let cert = EndEntityCert::try_from(&leaf)
        .map_err(|e| format!("the server certificate cannot be parsed: {e}"))?;
    cert.verify_for_usage(
        ALL_VERIFICATION_ALGS,
        &anchors,
        &[],
        UnixTime::now(),
        KeyUsage::server_auth(),
        None,
        None,
    )
    .map_err(|e| format!("the server certificate is not issued by the configured CA: {e}"))?;
    let name =
        ServerName::try_from(host).map_err(|e| format!("invalid host name {host:?}: {e}"))?;
    cert.verify_is_valid_for_subject_name(&name)
        .map_err(|e| format!("the server certificate is not valid for {host}: {e}"))
}

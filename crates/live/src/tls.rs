//! Syslog over TLS (RFC 5425): the listener's certificate and key, and with `client_ca` mutual TLS.

use std::sync::Arc;

use crate::config::Listen;

pub type Acceptor = tokio_rustls::TlsAcceptor;

/// The acceptor a `syslog-tls` listener's config describes; the error names the file.
pub fn acceptor(listen: &Listen) -> Result<Acceptor, String> {
    let (Some(certificate), Some(key)) = (&listen.certificate, &listen.key) else {
        return Err("a TLS listener needs a certificate and a key".into());
    };
    let files = secops_server::TlsFiles {
        certificate: certificate.clone(),
        key: key.clone(),
    };
    let config = secops_server::tls_config(&files, listen.client_ca.as_deref())
        .map_err(|e| e.to_string())?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

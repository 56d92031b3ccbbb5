//! The one way Tollgate builds an HTTP client (providers, the OTLP
//! exporter, the health probe).

/// A builder of HTTP clients, once the process-wide TLS provider is
/// installed: reqwest is built without one, and installing it twice is
/// harmless.
pub fn builder() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}

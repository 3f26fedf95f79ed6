use std::time::Duration;

/// A client could not be built (TLS set-up).
#[derive(Debug, thiserror::Error)]
#[error("cannot build the HTTP client: {0}")]
pub struct ClientError(String);

fn install_crypto_provider() {
    // Both calls race harmlessly: whichever installs first wins and the other gets Err.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The client for a platform's API. It carries no credentials: adapters add them per request.
pub fn api_client(user_agent: &str) -> Result<reqwest::Client, ClientError> {
    install_crypto_provider();
    reqwest::Client::builder()
        .user_agent(user_agent)
        .connect_timeout(Duration::from_secs(15))
        .timeout(Duration::from_secs(120))
        .pool_idle_timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| ClientError(e.to_string()))
}

/// The client for result downloads and uploads to storage hosts: no default headers at all, and no
/// overall timeout (a 1 GiB body takes as long as it takes), only a read timeout per chunk.
pub fn download_client(user_agent: &str) -> Result<reqwest::Client, ClientError> {
    install_crypto_provider();
    reqwest::Client::builder()
        .user_agent(user_agent)
        .connect_timeout(Duration::from_secs(15))
        .read_timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| ClientError(e.to_string()))
}

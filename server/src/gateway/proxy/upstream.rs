//! Calling the provider: one pooled HTTP client (rustls, keep-alive), or the
//! built-in mock in-process. Either way the answer comes back as a status,
//! headers and a body stream that the proxy relays without buffering.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::Duration,
};

use axum::http::{HeaderMap, StatusCode, header};
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt, stream::BoxStream};

use crate::{
    gateway::{
        format::ApiFormat,
        mock,
        proxy::catalog::{Credential, Upstream},
    },
    platform::http_client,
};

/// How long an idle pooled connection is kept for the next request.
const POOL_IDLE: Duration = Duration::from_secs(90);

pub type BodyStream = BoxStream<'static, Result<Bytes, BodyError>>;
pub type BodyError = Box<dyn std::error::Error + Send + Sync>;

pub struct UpstreamResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: BodyStream,
}

#[derive(Debug)]
pub enum SendError {
    /// Refused, reset, DNS, TLS: the provider could not be reached.
    Unreachable(String),
    /// No response head within the provider's timeout.
    Timeout,
}

/// The pooled clients. Providers share one client; a provider with its own
/// connect timeout gets a client (and pool) for that timeout, since reqwest
/// sets it per client.
#[derive(Default)]
pub struct Clients {
    by_connect_timeout: RwLock<HashMap<Duration, reqwest::Client>>,
}

impl Clients {
    fn for_timeout(&self, connect_timeout: Duration) -> Result<reqwest::Client, SendError> {
        if let Some(client) = self
            .by_connect_timeout
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&connect_timeout)
        {
            return Ok(client.clone());
        }
        let client = http_client::builder()
            .connect_timeout(connect_timeout)
            .pool_idle_timeout(POOL_IDLE)
            .tcp_nodelay(true)
            // Provider APIs answer where they are asked; following a
            // redirect would only risk sending the request elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|err| SendError::Unreachable(format!("HTTP client: {err}")))?;
        self.by_connect_timeout
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(connect_timeout, client.clone());
        Ok(client)
    }

    /// Sends `body` (already rewritten for the upstream) to the provider,
    /// at `path` (the adapter's for the request).
    pub async fn send(
        &self,
        upstream: &Arc<Upstream>,
        credential: Option<&Credential>,
        (format, path): (ApiFormat, &str),
        client_headers: &HeaderMap,
        body: Bytes,
    ) -> Result<UpstreamResponse, SendError> {
        if upstream.adapter().in_process() {
            let answer = tokio::time::timeout(upstream.timeout, mock::answer(format, path, &body))
                .await
                .map_err(|_| SendError::Timeout)?;
            let (parts, body) = answer.into_parts();
            return Ok(UpstreamResponse {
                status: parts.status,
                headers: parts.headers,
                body: body.into_data_stream().map_err(BodyError::from).boxed(),
            });
        }
        self.post(upstream, credential, path, client_headers, body)
            .await
    }

    /// Posts `body` to `path` under the provider's base URL, authenticated
    /// with `credential` (also its token counting endpoint).
    pub async fn post(
        &self,
        upstream: &Arc<Upstream>,
        credential: Option<&Credential>,
        path: &str,
        client_headers: &HeaderMap,
        body: Bytes,
    ) -> Result<UpstreamResponse, SendError> {
        let client = self.for_timeout(upstream.connect_timeout)?;
        let url = upstream.url(path).map_err(|err| {
            SendError::Unreachable(format!("the provider's URL is not valid: {err}"))
        })?;
        let mut request = client
            .post(url)
            .header(header::CONTENT_TYPE, "application/json")
            .body(body);
        if let Some(credential) = credential {
            request = request.header(credential.name.clone(), credential.value.clone());
        }
        for (name, value) in upstream.adapter().headers(client_headers) {
            request = request.header(name, value);
        }
        for (name, value) in &upstream.extra_headers {
            request = request.header(name.clone(), value.clone());
        }
        let response = tokio::time::timeout(upstream.timeout, request.send())
            .await
            .map_err(|_| SendError::Timeout)?
            .map_err(|err| {
                if err.is_timeout() {
                    SendError::Timeout
                } else {
                    // Without the URL: it may carry credentials in its query.
                    SendError::Unreachable(error_chain(&err.without_url()))
                }
            })?;
        Ok(UpstreamResponse {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.bytes_stream().map_err(BodyError::from).boxed(),
        })
    }
}

/// The error and its causes on one line ("error sending request: connection
/// refused"), for logs and the 502 message.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

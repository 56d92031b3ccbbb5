//! OpenTelemetry traces: one span per proxied request, after the GenAI
//! semantic conventions (`gen_ai.*`: operation, provider, requested and
//! answering model, token counts) and Tollgate's own (`tollgate.*`: the
//! request id, attempts, cost), exported over OTLP/HTTP.
//!
//! Off unless an endpoint is set with the standard variables
//! (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT`);
//! `OTEL_EXPORTER_OTLP_PROTOCOL` picks `http/protobuf` (the default) or
//! `http/json`, and the SDK reads the rest (`OTEL_EXPORTER_OTLP_HEADERS`,
//! `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_BSP_*`).
//!
//! A span is made when its request settles, from the usage row, with the
//! request's own start and end: nothing is added to the request's path
//! until then, and the batch processor exports on a thread of its own.

use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use opentelemetry::{
    KeyValue,
    trace::{Span, SpanKind, Status, Tracer, TracerProvider},
};
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::{
    Resource,
    trace::{SdkTracer, SdkTracerProvider},
};

use crate::platform::{
    entity::{provider::ProviderKind, usage_record},
    http_client,
};

/// What the service is called when `OTEL_SERVICE_NAME` does not say.
const SERVICE_NAME: &str = "tollgate";
/// How long an export may take.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// The tracer of proxied requests, when traces are exported.
pub struct Traces {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
}

/// What a request's span says besides its usage row.
pub struct Served<'a> {
    /// The provider called last: its name, and its kind (`None`: none was).
    pub provider: Option<(&'a str, ProviderKind)>,
    pub elapsed: Duration,
}

impl Traces {
    /// The exporter the environment asks for, or `None` when it asks for
    /// none. Must be called within the Tokio runtime, which carries the
    /// exports.
    pub fn from_env() -> anyhow::Result<Option<Self>> {
        let endpoint = [
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
        ]
        .into_iter()
        .find_map(|name| std::env::var(name).ok().filter(|value| !value.is_empty()));
        let disabled = std::env::var("OTEL_SDK_DISABLED")
            .is_ok_and(|value| value.eq_ignore_ascii_case("true"))
            || std::env::var("OTEL_TRACES_EXPORTER")
                .is_ok_and(|value| value.eq_ignore_ascii_case("none"));
        let Some(endpoint) = endpoint.filter(|_| !disabled) else {
            return Ok(None);
        };
        let protocol = [
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        ]
        .into_iter()
        .find_map(|name| std::env::var(name).ok())
        .unwrap_or_else(|| "http/protobuf".to_owned());
        let protocol = match protocol.as_str() {
            "http/protobuf" => Protocol::HttpBinary,
            "http/json" => Protocol::HttpJson,
            other => bail!(
                "OTEL_EXPORTER_OTLP_PROTOCOL={other} is not supported: use http/protobuf or http/json"
            ),
        };
        let exporter = SpanExporter::builder()
            .with_http()
            .with_protocol(protocol)
            .with_timeout(EXPORT_TIMEOUT)
            .with_http_client(OnRuntime::new()?)
            .build()
            .context("cannot set up the OTLP trace exporter")?;
        let mut resource = Resource::builder();
        if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
            resource = resource.with_service_name(SERVICE_NAME);
        }
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource.build())
            .build();
        let tracer = provider.tracer(SERVICE_NAME);
        // Its host only: an endpoint may carry credentials.
        let host = reqwest::Url::parse(&endpoint)
            .ok()
            .and_then(|url| url.host_str().map(str::to_owned))
            .unwrap_or_default();
        tracing::info!(%host, "exporting a trace span per proxied request (OTLP/HTTP)");
        Ok(Some(Self { provider, tracer }))
    }

    /// The span of a request that settled as `row` says.
    pub fn request(&self, row: &usage_record::Model, served: &Served<'_>) {
        let ended = SystemTime::now();
        let started = ended.checked_sub(served.elapsed).unwrap_or(ended);
        let mut attributes = vec![
            KeyValue::new("gen_ai.operation.name", "chat"),
            KeyValue::new("gen_ai.request.model", row.model.clone()),
            KeyValue::new("gen_ai.usage.input_tokens", row.input_tokens),
            KeyValue::new("gen_ai.usage.output_tokens", row.output_tokens),
            KeyValue::new("http.response.status_code", i64::from(row.status_code)),
            KeyValue::new("tollgate.request_id", row.id.clone()),
            KeyValue::new("tollgate.endpoint", row.endpoint.clone()),
            KeyValue::new("tollgate.streamed", row.streamed),
            KeyValue::new("tollgate.attempts", i64::from(row.attempts)),
            KeyValue::new("tollgate.usage.cache_read_tokens", row.cache_read_tokens),
            KeyValue::new("tollgate.usage.cache_write_tokens", row.cache_write_tokens),
            KeyValue::new("tollgate.usage.reasoning_tokens", row.reasoning_tokens),
            KeyValue::new("tollgate.cost_micro_credits", row.cost),
            KeyValue::new("tollgate.charged_micro_credits", row.charged),
        ];
        if let Some((name, kind)) = served.provider {
            attributes.push(KeyValue::new("gen_ai.provider.name", provider_name(kind)));
            attributes.push(KeyValue::new("tollgate.provider", name.to_owned()));
        }
        if let Some(served_model) = &row.served_model {
            attributes.push(KeyValue::new(
                "gen_ai.response.model",
                row.upstream_model.clone(),
            ));
            attributes.push(KeyValue::new("tollgate.served_model", served_model.clone()));
        }
        if let Some(ttft) = row.ttft_ms {
            attributes.push(KeyValue::new(
                "tollgate.time_to_first_byte_ms",
                i64::from(ttft),
            ));
        }
        if let Some(kind) = &row.error_kind {
            attributes.push(KeyValue::new("error.type", kind.clone()));
        }
        let mut span = self
            .tracer
            .span_builder(format!("chat {}", row.model))
            .with_kind(SpanKind::Server)
            .with_start_time(started)
            .with_attributes(attributes)
            .start(&self.tracer);
        if row.status_code >= 400 {
            let kind = row.error_kind.clone().unwrap_or_default();
            span.set_status(Status::error(kind));
        }
        span.end_with_timestamp(ended);
    }

    /// At exit: exports the spans not yet sent, waiting at most a second.
    pub async fn shutdown(&self) {
        let provider = self.provider.clone();
        let flushed = tokio::task::spawn_blocking(move || {
            provider.shutdown_with_timeout(Duration::from_secs(1))
        })
        .await;
        if let Ok(Err(err)) = flushed {
            tracing::warn!(error = %err, "not every trace span was exported before exit");
        }
    }
}

/// `gen_ai.provider.name`: the conventions' well-known names.
fn provider_name(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::Openai | ProviderKind::OpenaiResponses => "openai",
        ProviderKind::Anthropic => "anthropic",
        ProviderKind::Gemini => "gcp.gemini",
        ProviderKind::Mock => "tollgate.mock",
    }
}

/// Sends exports with the server's HTTP stack on its Tokio runtime: the
/// batch processor runs on a thread of its own, outside the runtime.
#[derive(Debug)]
struct OnRuntime {
    http: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

impl OnRuntime {
    fn new() -> anyhow::Result<Self> {
        let http = http_client::builder()
            .timeout(EXPORT_TIMEOUT)
            .build()
            .context("cannot build the OTLP exporter's HTTP client")?;
        let runtime = tokio::runtime::Handle::try_current()
            .context("the OTLP exporter needs the Tokio runtime")?;
        Ok(Self { http, runtime })
    }
}

#[async_trait::async_trait]
impl HttpClient for OnRuntime {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let request = reqwest::Request::try_from(request)?;
        let http = self.http.clone();
        let (status, headers, body) = self
            .runtime
            .spawn(async move {
                let response = http.execute(request).await?;
                let (status, headers) = (response.status(), response.headers().clone());
                let body = response.bytes().await?;
                Ok::<_, reqwest::Error>((status, headers, body))
            })
            .await??;
        let mut response = Response::new(body);
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        Ok(response)
    }
}

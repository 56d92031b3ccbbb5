//! `POST /v1/chat/completions`, `/v1/messages`, `/v1/responses` and
//! `/v1/embeddings`: check the request, hold its worst case, forward it to
//! the model's provider, relay the answer and settle its usage. Requests
//! refused before their model is known are counted in memory; every
//! request that got a model leaves a usage row, whatever happened to it,
//! and an answer completes only once its row is durable.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    body::Body,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use serde_json::Value;
use tracing::Instrument;

use crate::{
    gateway::{
        api_keys::cache::KeyCaller,
        format::{ApiFormat, ProxyError, error::ErrorKind},
        limits::{Caller, RateHeaders, Refused, SharedWindows, TokenMeter},
        metering::reader::{self, StreamMeter},
        proxy::{
            auth::ApiKeyAuth,
            catalog::{Credential, Route, Upstream},
            failover::{Candidates, Retry},
            health::{Failure, Gate},
            relay::Relay,
            request::{ClientRequest, Endpoint, InUrl, read_body},
            settle::Pending,
            upstream::{BodyStream, SendError, UpstreamResponse},
        },
        translate::{self, stream::StreamTranslator},
    },
    platform::{
        cluster::{
            OutageLog, Unavailable,
            funds::{FundsError, Reserved},
        },
        entity::shadow_model::ModelKind,
        holds::Short,
        ids,
        money::format_credits,
        plan::PlanName,
        pricing::Tokens,
        time,
    },
    state::AppState,
};

/// How much of an upstream error body is read for its message.
const MAX_ERROR_BODY: usize = 64 * 1024;
/// On an answer: the public name of the model that served it (a fallback's
/// when one did), and how many provider calls it took.
const SERVED_MODEL: &str = "x-tollgate-served-model";
const ATTEMPTS: &str = "x-tollgate-attempts";

/// OpenAI's chat completions, to any model the key may call.
#[utoipa::path(post, path = "/chat/completions", operation_id = "chat_completions", tag = "llm",
    request_body = super::spec::ChatCompletionRequest,
    responses(
        (status = 200, description = "A completion, or its events when `stream` is true",
            content((super::spec::ChatCompletion = "application/json"), (String = "text/event-stream"))),
        (status = "4XX", body = super::spec::ProviderError),
        (status = "5XX", body = super::spec::ProviderError)))]
pub async fn chat_completions(
    State(state): State<AppState>,
    ApiKeyAuth(caller): ApiKeyAuth,
    headers: HeaderMap,
    body: Body,
) -> Response {
    forward(
        &state,
        caller,
        (Endpoint::ChatCompletions, None),
        &headers,
        body,
    )
    .await
}

/// Anthropic's messages, to any model the key may call.
#[utoipa::path(post, path = "/messages", operation_id = "messages", tag = "llm",
    request_body = super::spec::MessagesRequest,
    responses(
        (status = 200, description = "A message, or its events when `stream` is true",
            content((super::spec::Message = "application/json"), (String = "text/event-stream"))),
        (status = "4XX", body = super::spec::AnthropicError),
        (status = "5XX", body = super::spec::AnthropicError)))]
pub async fn messages(
    State(state): State<AppState>,
    ApiKeyAuth(caller): ApiKeyAuth,
    headers: HeaderMap,
    body: Body,
) -> Response {
    forward(&state, caller, (Endpoint::Messages, None), &headers, body).await
}

/// OpenAI's Responses API (stateless), to any model the key may call.
#[utoipa::path(post, path = "/responses", operation_id = "responses", tag = "llm",
    request_body = super::spec::ResponsesRequest,
    responses(
        (status = 200, description = "A response, or its events when `stream` is true",
            content((super::spec::Response = "application/json"), (String = "text/event-stream"))),
        (status = "4XX", body = super::spec::ProviderError),
        (status = "5XX", body = super::spec::ProviderError)))]
pub async fn responses(
    State(state): State<AppState>,
    ApiKeyAuth(caller): ApiKeyAuth,
    headers: HeaderMap,
    body: Body,
) -> Response {
    forward(&state, caller, (Endpoint::Responses, None), &headers, body).await
}

/// OpenAI's embeddings, from any embedding model (of an OpenAI-compatible
/// provider) the key may call.
#[utoipa::path(post, path = "/embeddings", operation_id = "embeddings", tag = "llm",
    request_body = super::spec::EmbeddingsRequest,
    responses(
        (status = 200, description = "One vector per input", body = super::spec::EmbeddingList),
        (status = "4XX", body = super::spec::ProviderError),
        (status = "5XX", body = super::spec::ProviderError)))]
pub async fn embeddings(
    State(state): State<AppState>,
    ApiKeyAuth(caller): ApiKeyAuth,
    headers: HeaderMap,
    body: Body,
) -> Response {
    forward(&state, caller, (Endpoint::Embeddings, None), &headers, body).await
}

/// Answers a request to `endpoint` (whose model and stream are `in_url`
/// when its format names them there).
pub(super) async fn forward(
    state: &AppState,
    caller: Arc<KeyCaller>,
    (endpoint, in_url): (Endpoint, Option<InUrl>),
    headers: &HeaderMap,
    body: Body,
) -> Response {
    let request_id = ids::prefixed("req");
    let format = endpoint.format();
    let mut response = match effective_plan(state, &caller, format).await {
        Err(refused) => refused,
        Ok(plan) => {
            let limits = caller_limits(state, &caller, plan);
            let mut pending =
                Pending::new(request_id.clone(), state.clone(), caller.clone(), endpoint);
            let windows = match state.rate_limits.shared_windows(&limits) {
                // In Redis: taken with the hold, in one round trip.
                Some(shared) => Windows::Due(shared),
                None => match take_windows(state, &limits, format).await {
                    Ok((rate_headers, meter)) => {
                        pending.set_token_meter(meter);
                        Windows::Taken(rate_headers)
                    }
                    Err(refused) => return with_request_id(refused, endpoint, &request_id),
                },
            };
            // Every log line of the request names it, as its answer does.
            let span = tracing::warn_span!("llm", request_id = %request_id);
            let ask = Ask {
                state,
                caller: &caller,
                plan,
                format,
                in_url: in_url.as_ref(),
            };
            ask.serve(endpoint, headers, body, pending, windows)
                .instrument(span)
                .await
        }
    };
    response = with_request_id(response, endpoint, &request_id);
    response
}

/// Names the request on its answer.
fn with_request_id(mut response: Response, endpoint: Endpoint, request_id: &str) -> Response {
    if let Ok(id) = HeaderValue::from_str(request_id) {
        if endpoint == Endpoint::Messages {
            // Where Anthropic's SDKs look for it (`_request_id`).
            response.headers_mut().insert("request-id", id.clone());
        }
        response.headers_mut().insert("x-request-id", id);
    }
    response
}

/// The caller's effective plan (503 when it cannot be read).
async fn effective_plan(
    state: &AppState,
    caller: &KeyCaller,
    format: ApiFormat,
) -> Result<PlanName, Response> {
    match state.entitlements.resolve(&state.db, &caller.owner).await {
        Ok(effective) => Ok(effective.plan),
        Err(err) => Err(refuse(state, ProxyError::internal(err, format))),
    }
}

/// The rate limits a caller on `plan` is held to.
fn caller_limits<'a>(state: &AppState, caller: &'a KeyCaller, plan: PlanName) -> Caller<'a> {
    state.rate_limits.caller(
        &caller.key.id,
        (caller.key.requests_per_minute, caller.key.tokens_per_minute),
        &caller.owner.id,
        plan,
    )
}

/// Takes a request from its rate-limit windows on their own: 429 when one
/// is full (with its headers); 503 when Redis holds them and cannot be
/// reached (with priced requests refused there anyway).
async fn take_windows(
    state: &AppState,
    limits: &Caller<'_>,
    format: ApiFormat,
) -> Result<(RateHeaders, TokenMeter), Response> {
    match state.rate_limits.admit(limits).await {
        Ok((rate_headers, Ok(meter))) => Ok((rate_headers, meter)),
        Ok((rate_headers, Err(refused))) => Err(limited(state, rate_headers, &refused, format)),
        Err(err) => Err(refuse(state, shared_state_unavailable(&err, format))),
    }
}

/// The 429 of a full window.
fn limited(
    state: &AppState,
    rate_headers: RateHeaders,
    refused: &Refused,
    format: ApiFormat,
) -> Response {
    let err = ProxyError::new(ErrorKind::RateLimited, refused.message.clone(), format);
    let mut response = refuse(state, err);
    response.headers_mut().extend(refused.retry_headers());
    rate_headers.apply(response.headers_mut());
    response
}

/// What every LLM endpoint but the generating ones starts with: the
/// caller's effective plan and a request from its rate-limit windows,
/// before the body is read. A refusal (429; 503 when the plan cannot be
/// read) is counted, never recorded, so a flood costs a counter, not a
/// row. `answer` runs only when let in; the windows' headers go on every
/// answer.
pub(super) async fn within_limits<F, Fut>(
    state: &AppState,
    caller: &KeyCaller,
    format: ApiFormat,
    answer: F,
) -> Response
where
    F: FnOnce(PlanName, TokenMeter) -> Fut,
    Fut: Future<Output = Response>,
{
    let plan = match effective_plan(state, caller, format).await {
        Ok(plan) => plan,
        Err(refused) => return refused,
    };
    let limits = caller_limits(state, caller, plan);
    let (rate_headers, meter) = match take_windows(state, &limits, format).await {
        Ok(taken) => taken,
        Err(refused) => return refused,
    };
    let mut response = answer(plan, meter).await;
    rate_headers.apply(response.headers_mut());
    response
}

/// A request's rate-limit windows. This instance's are taken before the
/// body is read, so a flood of refused requests never costs a body read.
/// Windows in Redis are due until the request's hold takes them in the
/// same round trip; a request answered before it holds (a bad body, an
/// unknown model) takes them alone first, and a full one answers instead,
/// as if they had been taken first.
enum Windows {
    /// With the headers for the answer.
    Taken(RateHeaders),
    Due(SharedWindows),
}

/// Why a request is answered before it holds.
enum Early {
    /// Counted, never recorded.
    Refused(ProxyError),
    /// Recorded: the model exists and the refusal is the user's to see.
    Rejected(ProxyError),
    /// Answered already: a full rate-limit window's 429, or the 503 of
    /// windows in a Redis that cannot be reached.
    Answered(Response),
}

/// A request the rate limits let in (or will, with its hold): checked,
/// held for and forwarded.
struct Ask<'a> {
    state: &'a AppState,
    caller: &'a KeyCaller,
    plan: PlanName,
    format: ApiFormat,
    in_url: Option<&'a InUrl>,
}

/// A request ready to hold for: its candidates and their worst cost.
struct Ready {
    call: Call,
    candidates: Candidates,
}

impl Ask<'_> {
    /// Refusals before its model is known, and bad caps, are counted, not
    /// recorded; from the model on, every outcome leaves a usage row.
    async fn serve(
        &self,
        endpoint: Endpoint,
        headers: &HeaderMap,
        body: Body,
        mut pending: Pending,
        mut windows: Windows,
    ) -> Response {
        let prepared = self.prepare(endpoint, body, &mut pending).await;
        let mut response = match prepared {
            Err(early) => match self.take_due(&mut windows, &mut pending).await {
                Err(limited) => limited,
                Ok(()) => self.early(early, pending),
            },
            Ok(ready) => {
                self.hold_and_call(ready, headers, pending, &mut windows)
                    .await
            }
        };
        if let Windows::Taken(rate_headers) = &windows {
            rate_headers.apply(response.headers_mut());
        }
        response
    }

    /// Reads and checks the request, finds its model and its fallbacks.
    async fn prepare(
        &self,
        endpoint: Endpoint,
        body: Body,
        pending: &mut Pending,
    ) -> Result<Ready, Early> {
        let (state, format) = (self.state, self.format);
        // Backpressure: when the usage writer is behind (the database is
        // slow or down), new requests wait a bounded time for it, then get
        // 503.
        let wait = Duration::from_millis(state.settings.proxy.admission_wait_ms);
        if tokio::time::timeout(wait, state.usage.wait_for_room())
            .await
            .is_err()
        {
            return Err(Early::Refused(ProxyError {
                retry_after: Some(HeaderValue::from_static("1")),
                ..ProxyError::new(
                    ErrorKind::Unavailable,
                    "Tollgate is behind on recording usage; try again shortly",
                    format,
                )
            }));
        }
        let bytes = read_body(body, state.settings.proxy.max_body_bytes, format)
            .await
            .map_err(Early::Refused)?;
        let request =
            ClientRequest::parse_with(&bytes, endpoint, self.in_url).map_err(Early::Refused)?;
        pending.set_model(&request.model);
        pending.streamed = request.stream;
        let route = match route_for(state, self.caller, self.plan, &request.model, format).await {
            Ok(route) => route,
            Err(err) if err.kind == ErrorKind::PermissionDenied => {
                return Err(Early::Rejected(err));
            }
            Err(err) => return Err(Early::Refused(err)),
        };
        pending.set_route(route.clone(), 0);
        let cap = output_ceiling(state, &route, &request, format).map_err(Early::Refused)?;
        let call = Call {
            stream: request.stream,
            wants_usage: request.wants_usage,
            input_estimate: request.input_estimate,
            max_output_tokens: 0,
            public_model: request.model.clone(),
            upstream_format: format,
            custom_tools: Vec::new(),
        };
        let routes = with_fallbacks(state, self.caller, self.plan, route, cap, format).await;
        let attachment_tokens = i64::from(state.settings.credits.attachment_tokens);
        let candidates =
            Candidates::new(request, routes, format, attachment_tokens).map_err(Early::Refused)?;
        Ok(Ready { call, candidates })
    }

    /// Takes the windows still due in Redis, alone: the 429 of a full
    /// one, or the 503 of a Redis that cannot be reached (unless this
    /// instance's windows decide meanwhile).
    async fn take_due(&self, windows: &mut Windows, pending: &mut Pending) -> Result<(), Response> {
        if let Windows::Due(..) = windows {
            let limits = caller_limits(self.state, self.caller, self.plan);
            *windows = Windows::Taken(RateHeaders::default());
            let (rate_headers, meter) = take_windows(self.state, &limits, self.format).await?;
            pending.set_token_meter(meter);
            *windows = Windows::Taken(rate_headers);
        }
        Ok(())
    }

    fn early(&self, early: Early, pending: Pending) -> Response {
        match early {
            Early::Refused(err) => refuse(self.state, err),
            Early::Rejected(err) => reject(pending, err),
            Early::Answered(response) => response,
        }
    }

    /// Holds the worst case, then calls the providers on a task of its own.
    async fn hold_and_call(
        &self,
        ready: Ready,
        headers: &HeaderMap,
        mut pending: Pending,
        windows: &mut Windows,
    ) -> Response {
        let Ready {
            call,
            mut candidates,
        } = ready;
        let worst = candidates.worst_cost();
        if let Err(early) = self.admit(worst, &mut pending, windows).await {
            return self.early(early, pending);
        }
        // On a task of its own: a client that hangs up drops this handler,
        // but the provider is already working and will bill for it, so the
        // call runs to its end and the request is charged.
        let (state, headers, format) = (self.state.clone(), headers.clone(), self.format);
        // Boxed: a whole provider call's future is large, and is moved into
        // the span and then into the task.
        let call = Box::pin(async move {
            call.run(&state, candidates, format, &headers, pending)
                .await
        });
        match tokio::spawn(call.instrument(tracing::Span::current())).await {
            Ok(response) => response,
            Err(err) => {
                tracing::error!(error = %err, "the provider call's task failed");
                ProxyError::new(ErrorKind::Internal, "internal server error", format)
                    .into_response()
            }
        }
    }

    /// Reserves the request's worst case on the key's quota and the
    /// owner's balance (402 when either cannot cover it), so that requests
    /// in flight together can never spend more than either; with Redis,
    /// its rate-limit windows first, in the same round trip. The worst case
    /// is the most any model that may serve it can charge
    /// ([`Candidates::worst_cost`]).
    async fn admit(
        &self,
        worst: i64,
        pending: &mut Pending,
        windows: &mut Windows,
    ) -> Result<(), Early> {
        let (state, format) = (self.state, self.format);
        let due = match std::mem::replace(windows, Windows::Taken(RateHeaders::default())) {
            Windows::Due(shared) => Some(shared),
            taken @ Windows::Taken(_) => {
                *windows = taken;
                None
            }
        };
        let unavailable = |err: Unavailable| Early::Refused(shared_state_unavailable(&err, format));
        let asked = due.as_ref().map_or(&[][..], SharedWindows::windows);
        let hold = state
            .wallets
            .hold(&state.db, self.caller, &pending.id, worst, asked)
            .await;
        let funds = match (hold, due) {
            (Ok(reserved), None) => reserved.funds(),
            (Ok(Reserved::Taken(taken, funds)), Some(due)) => {
                let (rate_headers, meter) = due.taken(taken);
                pending.set_token_meter(meter);
                *windows = Windows::Taken(rate_headers);
                funds
            }
            (Ok(Reserved::Full(full)), Some(due)) => {
                let (rate_headers, refused) = due.full(full).map_err(unavailable)?;
                let limited = limited(state, rate_headers, &refused, format);
                return Err(Early::Answered(limited));
            }
            // Redis did not answer: whether the windows were taken (and a
            // hold made, which is being released) is unknown. A priced
            // request is refused, as money fails closed; a free one takes
            // its windows alone, as for a request answered before it holds
            // (this instance's when so configured), and holds nothing.
            (Err(FundsError::Unavailable(err)), Some(due)) if worst == 0 => {
                *windows = Windows::Due(due);
                self.take_due(windows, pending)
                    .await
                    .map_err(Early::Answered)?;
                match state
                    .wallets
                    .hold(&state.db, self.caller, &pending.id, worst, &[])
                    .await
                {
                    Ok(reserved) => reserved.funds(),
                    Err(_) => Err(FundsError::Unavailable(err)),
                }
            }
            (Err(err), _) => Err(err),
        };
        let held = funds.map_err(|err| Early::Rejected(self.funds_error(err)))?;
        match held {
            Ok(Some(holds)) => pending.set_holds(holds, worst),
            Ok(None) => {}
            Err(short) => return Err(Early::Rejected(short_of_funds(short, worst, format))),
        }
        Ok(())
    }

    /// A reservation that could not be decided.
    fn funds_error(&self, err: FundsError) -> ProxyError {
        let format = self.format;
        match err {
            FundsError::Unavailable(err) => shared_state_unavailable(&err, format),
            FundsError::Rebuilding => ProxyError {
                retry_after: Some(HeaderValue::from_static("3")),
                ..ProxyError::new(
                    ErrorKind::Unavailable,
                    "balances are being rebuilt after a restart of the shared state; try again in a few seconds",
                    format,
                )
            },
            FundsError::Database(err) => ProxyError::internal(err, format),
        }
    }
}

/// The 402 of a balance or a key quota that cannot cover `worst`.
fn short_of_funds(short: Short, worst: i64, format: ApiFormat) -> ProxyError {
    let message = match short {
        Short::Quota(remaining) => format!(
            "this API key's quota cannot cover this request: {} credits left, it may cost up to {}",
            format_credits(remaining),
            format_credits(worst)
        ),
        Short::Balance(short) if short.balance < 0 => format!(
            "your credit balance is below zero ({} credits) after a request that cost more than it held; add credits to continue",
            format_credits(short.balance)
        ),
        Short::Balance(short) => format!(
            "insufficient credits: {} available, this request may cost up to {}",
            format_credits(short.available.max(0)),
            format_credits(worst)
        ),
    };
    ProxyError::new(ErrorKind::InsufficientQuota, message, format)
}

/// The model asked for and the fallbacks this caller may use (the key and
/// the plan must allow them; disabled and deleted ones are skipped), each
/// with the output cap it is sent: the request's, at most the fallback's
/// own maximum.
async fn with_fallbacks(
    state: &AppState,
    caller: &KeyCaller,
    plan: PlanName,
    route: Arc<Route>,
    cap: i64,
    format: ApiFormat,
) -> Vec<(Arc<Route>, i64)> {
    let mut routes = Vec::with_capacity(1 + route.fallbacks.len());
    for name in &route.fallbacks {
        if let Ok(fallback) = route_for(state, caller, plan, name, format).await {
            let maximum = fallback
                .model
                .max_output_tokens
                .unwrap_or(i64::from(state.settings.credits.max_output_tokens));
            routes.push((fallback, cap.min(maximum)));
        }
    }
    routes.insert(0, (route, cap));
    routes
}

/// The output cap a request is held for and the provider is sent: the
/// client's own, which may not exceed the model's maximum, or the
/// configured default (never above that maximum); none for a format that
/// has no output (embeddings).
fn output_ceiling(
    state: &AppState,
    route: &Route,
    request: &ClientRequest,
    format: ApiFormat,
) -> Result<i64, ProxyError> {
    if format.wire().cap_fields().is_empty() {
        return Ok(0);
    }
    let credits = &state.settings.credits;
    let maximum = route
        .model
        .max_output_tokens
        .unwrap_or(i64::from(credits.max_output_tokens));
    match request.output_cap {
        Some(cap) if cap.tokens > maximum => Err(ProxyError::invalid_field(
            cap.field,
            format!(
                "{}: must be at most {maximum} for the model `{}`",
                cap.field, request.model
            ),
            format,
        )),
        Some(cap) => Ok(cap.tokens),
        None => Ok(i64::from(credits.default_max_output_tokens).min(maximum)),
    }
}

/// The model's route, if it exists (404), the key and the plan may use it
/// (403) and it is of the kind the endpoint serves (400: an embedding
/// model on a chat endpoint, or the other way round).
pub(super) async fn route_for(
    state: &AppState,
    caller: &KeyCaller,
    plan: PlanName,
    name: &str,
    format: ApiFormat,
) -> Result<Arc<Route>, ProxyError> {
    let route = state
        .catalog
        .resolve(&state.db, &state.vault, name)
        .await
        .map_err(|err| ProxyError::internal(err, format))?
        .ok_or_else(|| ProxyError {
            param: Some("model".to_owned()),
            ..ProxyError::new(
                ErrorKind::ModelNotFound,
                format!("the model `{name}` does not exist or is not enabled"),
                format,
            )
        })?;
    let allowed = &caller.allowed_models;
    if !allowed.is_empty() && !allowed.iter().any(|model| model == name) {
        return Err(ProxyError::new(
            ErrorKind::PermissionDenied,
            format!("this API key may not use the model `{name}`"),
            format,
        ));
    }
    if !route.allows_plan(plan) {
        return Err(ProxyError::new(
            ErrorKind::PermissionDenied,
            format!("your plan does not include the model `{name}`"),
            format,
        ));
    }
    let serves = match format {
        ApiFormat::Embeddings => ModelKind::Embedding,
        ApiFormat::OpenAi | ApiFormat::Anthropic | ApiFormat::Responses | ApiFormat::Gemini => {
            ModelKind::Chat
        }
    };
    if route.model.kind != serves {
        let message = match route.model.kind {
            ModelKind::Embedding => {
                format!("model: `{name}` is an embedding model: call it at /v1/embeddings")
            }
            ModelKind::Chat => format!("model: `{name}` is a chat model, not an embedding model"),
        };
        return Err(ProxyError::invalid_field("model", message, format));
    }
    Ok(route)
}

/// A provider that could not be asked: 504 when it did not answer in
/// time, 502 when it could not be reached (the cause stays in the log).
pub(super) fn send_error(err: SendError, provider: &Upstream, format: ApiFormat) -> ProxyError {
    match err {
        SendError::Timeout => ProxyError::new(
            ErrorKind::UpstreamTimeout,
            format!(
                "the provider did not answer within {} s",
                provider.timeout.as_secs()
            ),
            format,
        ),
        SendError::Unreachable(detail) => {
            tracing::warn!(provider = %provider.id, error = %detail, "provider unreachable");
            ProxyError::new(
                ErrorKind::UpstreamUnreachable,
                "could not reach the provider",
                format,
            )
        }
    }
}

/// Redis cannot be asked: money fails closed, the client may try again.
fn shared_state_unavailable(err: &Unavailable, format: ApiFormat) -> ProxyError {
    static OUTAGE: OutageLog = OutageLog::new();
    if let Some(held_back) = OUTAGE.due(time::now().timestamp_millis()) {
        tracing::error!(error = %err, held_back, "refusing priced requests: the shared state is unavailable");
    }
    ProxyError {
        retry_after: Some(HeaderValue::from_static("2")),
        ..ProxyError::new(
            ErrorKind::Unavailable,
            "Tollgate's shared state (Redis) is unavailable; try again shortly",
            format,
        )
    }
}

/// What answering a request needs once its body is ready for the provider.
struct Call {
    stream: bool,
    wants_usage: bool,
    input_estimate: i64,
    /// The output cap the serving model was asked for (and held).
    max_output_tokens: i64,
    public_model: String,
    /// The format the serving deployment speaks.
    upstream_format: ApiFormat,
    /// A translated Responses request's custom tools.
    custom_tools: Vec<String>,
}

/// One call that failed: what the client would be told, and what to do.
type Failed = (ProxyError, Retry);

impl Call {
    /// What an answer whose usage cannot be read is charged: estimated as
    /// a stream that ends unreported is, four bytes a token for the input
    /// sent and for the answer, the output at most the cap that was held.
    /// The provider billed for it, so it does not go free.
    fn unreported(&self, answer: &[u8]) -> Tokens {
        tracing::warn!(model = %self.public_model, "the provider's answer reports no usage; charging an estimate");
        let answer_tokens = i64::try_from(answer.len().div_ceil(4)).unwrap_or(i64::MAX);
        Tokens {
            input: self.input_estimate,
            output: answer_tokens.min(self.max_output_tokens),
            ..Tokens::default()
        }
    }

    /// Calls the candidates in turn, skipping those cooling down, until
    /// one answers or the attempts or their deadline run out; answers the
    /// client and settles the request. A failure moves on only when
    /// another key or deployment could do better (429, 5xx, unreachable,
    /// timed out) and nothing has reached the client yet.
    async fn run(
        mut self,
        state: &AppState,
        mut candidates: Candidates,
        format: ApiFormat,
        headers: &HeaderMap,
        mut pending: Pending,
    ) -> Response {
        let settings = &state.settings.proxy;
        let deadline = Instant::now() + Duration::from_secs(settings.attempts_deadline_secs);
        let out_of_attempts = |pending: &Pending| {
            pending.attempts >= settings.max_attempts
                || (pending.attempts > 0 && Instant::now() >= deadline)
        };
        let mut last_error: Option<ProxyError> = None;
        let mut cooling_until: Option<Instant> = None;
        'slots: for index in 0..candidates.lineup.len() {
            let slot = candidates.lineup[index];
            if out_of_attempts(&pending) {
                break;
            }
            let route = candidates.route(slot).clone();
            let deployment = &route.deployments[slot.deployment];
            let provider = &deployment.provider;
            pending.set_route(route.clone(), slot.deployment);
            if let Some(broken) = &provider.broken {
                let err = ProxyError::new(ErrorKind::UpstreamUnreachable, broken.clone(), format);
                last_error = Some(err);
                continue;
            }
            let target = deployment.id.as_str();
            if let Gate::Cooling(until) = state.health.gate(target).await {
                cooling_until = Some(cooling_until.map_or(until, |soonest| soonest.min(until)));
                continue;
            }
            let mut request = match candidates.request_for(slot) {
                Ok(request) => request,
                Err(err) => {
                    last_error = Some(err);
                    continue;
                }
            };
            self.upstream_format = provider.adapter().format(format);
            self.max_output_tokens = request.max_output_tokens;
            self.custom_tools = std::mem::take(&mut request.custom_tools);
            for (credential, key_target) in deployment.keys_in_turn() {
                if out_of_attempts(&pending) {
                    break 'slots;
                }
                if let Gate::Cooling(until) = state.health.gate(key_target).await {
                    cooling_until = Some(cooling_until.map_or(until, |soonest| soonest.min(until)));
                    continue;
                }
                pending.attempts += 1;
                let sent = self
                    .attempt(
                        state,
                        (provider, &deployment.upstream_model),
                        credential,
                        headers,
                        request.body.clone(),
                        format,
                    )
                    .await;
                let (err, retry) = match sent {
                    Ok(upstream) => {
                        state.counters.upstream_call(&provider.name, "ok");
                        state.health.succeeded(target).await;
                        state.health.succeeded(key_target).await;
                        pending.served = true;
                        let attempts = pending.attempts;
                        let mut response = self
                            .answer(state, provider, upstream, format, pending)
                            .await;
                        let headers = response.headers_mut();
                        if let Some(name) = &route.name_header {
                            headers.insert(SERVED_MODEL, name.clone());
                        }
                        headers.insert(ATTEMPTS, HeaderValue::from(attempts));
                        return response;
                    }
                    Err(failed) => failed,
                };
                pending.mark_first_byte();
                pending.failed_attempt(&err);
                state
                    .counters
                    .upstream_call(&provider.name, call_result(&err));
                match retry {
                    Retry::Never => return reject(pending, err),
                    Retry::NextKey { cool_for } => {
                        let failure = Failure::RateLimited(cool_for);
                        if state.health.failed(key_target, failure, &err.message).await {
                            state.counters.cooldown("key");
                        }
                        last_error = Some(err);
                    }
                    Retry::NextDeployment => {
                        let failure = Failure::Failed;
                        if state.health.failed(target, failure, &err.message).await {
                            state.counters.cooldown("deployment");
                        }
                        last_error = Some(err);
                        continue 'slots;
                    }
                }
            }
        }
        let err = match (last_error, cooling_until) {
            (Some(err), _) if pending.attempts > 0 => err,
            (_, Some(until)) => all_cooling(&self.public_model, until, format),
            (Some(err), None) => err,
            (None, None) => ProxyError::new(
                ErrorKind::UpstreamUnreachable,
                "no provider could be asked",
                format,
            ),
        };
        reject(pending, err)
    }

    /// One call of `provider` with `credential`: its answer when it is a
    /// success, else the error the client would get and what to do next.
    async fn attempt(
        &self,
        state: &AppState,
        (provider, upstream_model): (&Arc<Upstream>, &str),
        credential: Option<&Credential>,
        headers: &HeaderMap,
        body: Bytes,
        format: ApiFormat,
    ) -> Result<UpstreamResponse, Failed> {
        let upstream_format = self.upstream_format;
        let path = provider
            .adapter()
            .path(upstream_format, upstream_model, self.stream);
        let upstream = state
            .upstream
            .send(
                provider,
                credential,
                (upstream_format, &path),
                headers,
                body,
            )
            .await
            .map_err(|err| {
                let retry = Retry::after_send(&err);
                (send_error(err, provider, format), retry)
            })?;
        if upstream.status.is_success() {
            return Ok(upstream);
        }
        let body = collect(upstream.body, provider.timeout, MAX_ERROR_BODY)
            .await
            .unwrap_or_default();
        let mut err = upstream_error(upstream.status, &upstream.headers, &body, format);
        if upstream_format != format {
            // The provider's error type belongs to its format, not the client's.
            err.upstream_type = None;
        }
        tracing::warn!(provider = %provider.id, status = %upstream.status, message = %err.message, "provider answered an error");
        let key_refused = Duration::from_secs(state.settings.proxy.cooldown_secs);
        let retry = Retry::after_status(upstream.status, &upstream.headers, key_refused);
        Err((err, retry))
    }

    /// Relays a provider's successful answer to the client, settling the
    /// request: whatever happens from here is not retried.
    async fn answer(
        self,
        state: &AppState,
        provider: &Upstream,
        upstream: UpstreamResponse,
        format: ApiFormat,
        mut pending: Pending,
    ) -> Response {
        let upstream_format = self.upstream_format;
        let content_type = upstream.headers.get(header::CONTENT_TYPE).cloned();
        if !self.stream {
            let limit = state.settings.proxy.max_answer_bytes;
            let body = match collect(upstream.body, provider.timeout, limit).await {
                Ok(body) => body,
                Err(kind) => {
                    let (kind, message) = match kind {
                        ErrorKind::UpstreamTimeout => {
                            (kind, "the provider stopped answering".to_owned())
                        }
                        ErrorKind::PayloadTooLarge => (
                            ErrorKind::UpstreamUnreachable,
                            format!("the provider's answer is larger than {limit} bytes"),
                        ),
                        _ => (kind, "the provider's answer broke off".to_owned()),
                    };
                    return reject(pending, ProxyError::new(kind, message, format));
                }
            };
            pending.mark_first_byte();
            let (body, tokens) = if upstream_format == format {
                let tokens = reader::from_json(upstream_format, &body)
                    .unwrap_or_else(|| self.unreported(&body));
                (body, tokens)
            } else {
                // Parsed once, for the meter and the translation alike.
                let answer: Option<Value> = serde_json::from_slice(&body).ok();
                let tokens = answer
                    .as_ref()
                    .and_then(|answer| reader::from_answer(upstream_format, answer))
                    .unwrap_or_else(|| self.unreported(&body));
                let translated = answer
                    .and_then(|answer| self.translate_answer(&answer, upstream_format, format));
                match translated {
                    Some(body) => (body, tokens),
                    None => {
                        let err = ProxyError::new(
                            ErrorKind::UpstreamUnreachable,
                            "the provider's answer could not be read",
                            format,
                        );
                        // What the provider reported is charged all the same.
                        pending
                            .settle(err.status_code(), tokens, Some(err.kind.label()))
                            .durable()
                            .await;
                        return err.into_response();
                    }
                }
            };
            // The answer goes out once its charge would survive a crash.
            pending
                .settle(upstream.status, tokens, None)
                .durable()
                .await;
            let content_type = content_type.unwrap_or(HeaderValue::from_static("application/json"));
            return (
                upstream.status,
                [(header::CONTENT_TYPE, content_type)],
                body,
            )
                .into_response();
        }
        let translator = StreamTranslator::between(
            (upstream_format, format),
            &self.public_model,
            now(),
            self.wants_usage,
            self.custom_tools.clone(),
        );
        let relay = Relay::new(
            upstream.body,
            StreamMeter::new(upstream_format, self.wants_usage),
            self.input_estimate,
            (provider.timeout, state.settings.proxy.max_event_bytes),
            upstream.status,
            pending,
            translator,
        );
        let content_type = content_type.unwrap_or(HeaderValue::from_static("text/event-stream"));
        (
            upstream.status,
            [
                (header::CONTENT_TYPE, content_type),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            ],
            Body::from_stream(relay.into_stream()),
        )
            .into_response()
    }
}

impl Call {
    /// A provider's JSON answer (in `upstream` format) in the client's
    /// format, or `None` when it is not an answer.
    fn translate_answer(
        &self,
        answer: &Value,
        upstream: ApiFormat,
        client: ApiFormat,
    ) -> Option<Bytes> {
        let model = self.public_model.as_str();
        let translated = translate::answer_between(
            answer,
            (upstream, client),
            (model, now()),
            &self.custom_tools,
        )?;
        serde_json::to_vec(&translated).ok().map(Bytes::from)
    }
}

/// Now, in Unix seconds, as answers date themselves.
fn now() -> i64 {
    time::now().timestamp()
}

/// A failed provider call, as the metrics count it.
fn call_result(err: &ProxyError) -> &'static str {
    match err.kind {
        ErrorKind::RateLimited => "rate_limited",
        ErrorKind::UpstreamTimeout => "timeout",
        ErrorKind::UpstreamUnreachable => "unreachable",
        ErrorKind::Upstream(status) if status.is_server_error() || status.as_u16() == 408 => {
            "server_error"
        }
        _ => "client_error",
    }
}

/// Every deployment that could serve the request is cooling down after
/// failures: 429, to come back when the first of them may be tried.
fn all_cooling(model: &str, until: Instant, format: ApiFormat) -> ProxyError {
    let secs = until
        .saturating_duration_since(Instant::now())
        .as_secs_f64()
        .ceil()
        .max(1.0);
    ProxyError {
        retry_after: Some(HeaderValue::from(secs as u64)),
        ..ProxyError::new(
            ErrorKind::RateLimited,
            format!(
                "every provider of the model `{model}` is cooling down after errors or rate limits; try again in {secs} s"
            ),
            format,
        )
    }
}

/// Settles a request that failed before an answer came (it cost nothing),
/// and answers it.
fn reject(pending: Pending, err: ProxyError) -> Response {
    let _ = pending.settle(err.status_code(), Tokens::default(), Some(err.kind.label()));
    err.into_response()
}

/// Answers a request turned away before it was admitted: counted in
/// memory, never a usage row, so that a flood cannot fill the writer.
pub(super) fn refuse(state: &AppState, err: ProxyError) -> Response {
    state.counters.refused(err.kind.label());
    err.into_response()
}

/// The whole body, with `timeout` as the longest pause between pieces;
/// `PayloadTooLarge` past `limit` bytes (the provider does not decide how
/// much of our memory it takes).
pub(super) async fn collect(
    mut body: BodyStream,
    timeout: Duration,
    limit: usize,
) -> Result<Bytes, ErrorKind> {
    let mut collected = BytesMut::new();
    loop {
        match tokio::time::timeout(timeout, body.next()).await {
            Err(_) => return Err(ErrorKind::UpstreamTimeout),
            Ok(None) => return Ok(collected.freeze()),
            Ok(Some(Err(_))) => return Err(ErrorKind::UpstreamUnreachable),
            Ok(Some(Ok(chunk))) => {
                if collected.len() + chunk.len() > limit {
                    return Err(ErrorKind::PayloadTooLarge);
                }
                collected.extend_from_slice(&chunk);
            }
        }
    }
}

/// The provider's error, passed on with its status, type and message.
/// Except its 401 and 403: those mean the provider refused Tollgate's own
/// credentials, which the client cannot fix, and a 401 would make tools
/// like Claude Code think their Tollgate key is wrong; they become 502.
pub(super) fn upstream_error(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    format: ApiFormat,
) -> ProxyError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let detail = parsed.as_ref().and_then(|v| v.get("error"));
    let message = detail
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| {
            let text = String::from_utf8_lossy(body);
            let text: String = text.chars().take(500).collect();
            format!("the provider answered {status}: {text}")
        });
    if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
        // The provider's message stays in the log: providers quote the key
        // they were given ("Incorrect API key provided: sk-..."), and that
        // is Tollgate's upstream key, never to be shown to a client.
        tracing::warn!(%status, detail = %message, "the provider refused Tollgate's credentials");
        return ProxyError::new(
            ErrorKind::UpstreamUnreachable,
            format!("the provider refused Tollgate's credentials ({status})"),
            format,
        );
    }
    let kind = if status == StatusCode::TOO_MANY_REQUESTS {
        ErrorKind::RateLimited
    } else {
        ErrorKind::Upstream(status)
    };
    // A provider's words reach the client only where they are about the
    // client's own request (what to fix), bounded and with anything that
    // looks like a secret taken out; its other errors (overload, outages,
    // its limits) get a plain message, the details stay in the log.
    let client_fault = matches!(status.as_u16(), 400 | 404 | 413 | 422);
    let message = if client_fault {
        redact_secrets(&message.chars().take(500).collect::<String>())
    } else {
        tracing::warn!(%status, detail = %message, "the provider's error, as it said it");
        if status == StatusCode::TOO_MANY_REQUESTS {
            "the provider is rate limiting requests; try again later".to_owned()
        } else {
            format!("the provider could not answer ({status}); try again later")
        }
    };
    ProxyError {
        // Google's errors name it `status`.
        upstream_type: detail
            .and_then(|e| e.get("type").or_else(|| e.get("status")))
            .and_then(Value::as_str)
            .map(str::to_owned),
        retry_after: headers.get(header::RETRY_AFTER).cloned(),
        ..ProxyError::new(kind, message, format)
    }
}

/// `text` with every word that looks like a credential (`sk-…`, a bearer
/// token, a long run of key-like characters) replaced by `[redacted]`.
fn redact_secrets(text: &str) -> String {
    let looks_secret = |word: &str| {
        let word = word.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '_');
        let lower = word.to_ascii_lowercase();
        ["sk-", "sk_", "tg-", "key-", "bearer"]
            .iter()
            .any(|prefix| lower.starts_with(prefix) && word.len() > prefix.len() + 3)
            || (word.len() >= 32
                && word
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
    };
    text.split(' ')
        .map(|word| {
            if looks_secret(word) {
                "[redacted]"
            } else {
                word
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_client_errors_pass_the_providers_words_and_never_a_secret() {
        let body = br#"{"error":{"type":"invalid_request_error","message":"max_tokens: 9000 > 8192 for key sk-proj-abcdef123456 (org org_0123456789abcdef0123456789abcdef)"}}"#;
        let err = upstream_error(
            StatusCode::BAD_REQUEST,
            &HeaderMap::new(),
            body,
            ApiFormat::OpenAi,
        );
        assert!(
            err.message.starts_with("max_tokens: 9000 > 8192"),
            "{}",
            err.message
        );
        assert!(!err.message.contains("sk-proj"), "{}", err.message);
        assert!(
            !err.message.contains("0123456789abcdef0123"),
            "{}",
            err.message
        );
        assert_eq!(err.upstream_type.as_deref(), Some("invalid_request_error"));

        let body =
            br#"{"error":{"type":"api_error","message":"shard db-7.internal.example failed"}}"#;
        let err = upstream_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &HeaderMap::new(),
            body,
            ApiFormat::Anthropic,
        );
        assert!(!err.message.contains("internal.example"), "{}", err.message);
        assert!(err.message.contains("500"), "{}", err.message);
        assert_eq!(err.upstream_type.as_deref(), Some("api_error"));
    }
}

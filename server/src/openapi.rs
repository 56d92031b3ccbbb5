//! The OpenAPI 3.1 description of `/api` and `/v1`, served at
//! `/api/openapi.json` ([`crate::router::openapi_document`]). It is built
//! from the route table itself ([`crate::router::api_routes`],
//! [`crate::router::llm_routes`]): each
//! handler's `#[utoipa::path]` and the types it takes and answers, so a
//! route cannot be served without being described. What every route shares
//! is added here: the security schemes, the error bodies, and the `/api/v1`
//! aliases of the LLM API.

use utoipa::{
    Modify, OpenApi, ToSchema,
    openapi::{
        self, RefOr, ResponseBuilder, SecurityRequirement,
        path::Operation,
        security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
    },
};
use utoipa_axum::router::OpenApiRouter;

use crate::{
    console::auth::{cookie::SESSION_COOKIE, middleware::API_KEY_DASHBOARD_PATHS},
    platform::error::ErrorBody,
    state::AppState,
};

/// Where the LLM API is served; it is served under `/api/v1` too.
const LLM_PREFIX: &str = "/v1";
const LLM_ALIAS: &str = "/api/v1";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tollgate",
        description = "A self-hosted LLM gateway. `/api` is the dashboard API: sign in with \
            `POST /api/auth/login`, then send the session as `Authorization: Bearer <token>` \
            or its cookie; the caller's own usage, credits and profile and the dashboard's \
            figures also take an API key as `x-api-key`. `/v1` (also served as `/api/v1`) is \
            the LLM API in OpenAI's and Anthropic's formats, authenticated by a Tollgate API key.",
    ),
    security(("bearer" = []), ("session" = [])),
    tags(
        (name = "auth", description = "Registering, signing in and out"),
        (name = "users", description = "The signed-in user's account, credits and usage"),
        (name = "keys", description = "The signed-in user's API keys"),
        (name = "dashboard", description = "Figures any signed-in user may read"),
        (name = "admin", description = "Administration: users, credits, the catalog, figures"),
        (name = "llm", description = "The LLM API, by API key"),
        (name = "meta", description = "Health and this description"),
    ),
    components(schemas(ErrorBody)),
    modifiers(&Shared),
)]
struct Doc;

/// The description of the two route tables (`api` served under `/api`, `llm`
/// under `/v1`), with what every route shares added.
pub fn describe(api: OpenApiRouter<AppState>, llm: OpenApiRouter<AppState>) -> openapi::OpenApi {
    let mut document = OpenApiRouter::<AppState>::with_openapi(Doc::openapi())
        .nest("/api", api)
        .nest(LLM_PREFIX, llm)
        .into_openapi();
    complete(&mut document);
    document
}

/// The security schemes the operations name.
struct Shared;

impl Modify for Shared {
    fn modify(&self, document: &mut openapi::OpenApi) {
        let components = document.components.get_or_insert_with(Default::default);
        let bearer = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(
                "On `/api`, a session token from `POST /api/auth/login`; on `/v1`, a Tollgate \
                 API key",
            ))
            .build();
        components.add_security_scheme("bearer", SecurityScheme::Http(bearer));
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(SESSION_COOKIE))),
        );
        components.add_security_scheme(
            "x_api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "x-api-key",
                "A Tollgate API key: on `/v1`, and on the dashboard routes that take one",
            ))),
        );
    }
}

/// What the route table's own descriptions leave to one place: the
/// contract's error body on every dashboard operation, the API key as the
/// LLM API's only credential, and the `/api/v1` aliases.
fn complete(document: &mut openapi::OpenApi) {
    let error = ResponseBuilder::new()
        .description("The contract's error body")
        .content(
            "application/json",
            openapi::ContentBuilder::new()
                .schema(Some(RefOr::Ref(openapi::schema::Ref::from_schema_name(
                    ErrorBody::name(),
                ))))
                .build(),
        )
        .build();
    let requirement = |scheme: &str| SecurityRequirement::new(scheme, Vec::<String>::new());
    let api_key = vec![requirement("bearer"), requirement("x_api_key")];
    let session_or_api_key = vec![
        requirement("bearer"),
        requirement("session"),
        requirement("x_api_key"),
    ];
    let mut aliases = Vec::new();
    for (path, item) in document.paths.paths.iter_mut() {
        let llm = path.starts_with(&format!("{LLM_PREFIX}/"));
        for operation in operations(item) {
            describe_statuses(operation);
            if llm {
                operation.security = Some(api_key.clone());
            } else {
                if API_KEY_DASHBOARD_PATHS.contains(&path.as_str()) {
                    operation.security = Some(session_or_api_key.clone());
                }
                operation
                    .responses
                    .responses
                    .entry("default".to_owned())
                    .or_insert_with(|| RefOr::T(error.clone()));
            }
        }
        if llm {
            let mut alias = item.clone();
            for operation in operations(&mut alias) {
                // Operation ids are unique in a description.
                operation.operation_id =
                    operation.operation_id.take().map(|id| format!("{id}_api"));
            }
            aliases.push((format!("{LLM_ALIAS}{}", &path[LLM_PREFIX.len()..]), alias));
        }
    }
    document.paths.paths.extend(aliases);
}

/// OpenAPI requires a description on every response: where a handler
/// gives none, the status's own name.
fn describe_statuses(operation: &mut Operation) {
    for (status, response) in &mut operation.responses.responses {
        if let RefOr::T(response) = response
            && response.description.is_empty()
        {
            let reason = match status.as_str() {
                "4XX" => Some("Refused, in the format's error shape"),
                "5XX" => Some("Failed, in the format's error shape"),
                code => code
                    .parse::<u16>()
                    .ok()
                    .and_then(|code| axum::http::StatusCode::from_u16(code).ok())
                    .and_then(|code| code.canonical_reason()),
            };
            response.description = reason.unwrap_or("The answer").to_owned();
        }
    }
}

fn operations(item: &mut openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

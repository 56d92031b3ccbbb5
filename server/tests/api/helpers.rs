//! A Tollgate app on a throwaway data directory, and the requests the tests
//! send to it.

use std::path::Path;

use axum::{
    Router,
    body::{Body, Bytes},
    http::{HeaderMap, Method, Request, StatusCode, header},
};
use http_body_util::BodyExt;
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait, QueryOrder};
use secrecy::SecretString;
use serde_json::{Value, json};
use server::{
    AppState, Settings,
    console::accounts::service::{self, NewUser},
    gateway::proxy::request::Endpoint,
    platform::{
        config::{AuthSettings, DatabaseSettings, RateLimitSettings, RedisSettings},
        entity::{
            usage_record,
            user::{Plan, Role},
        },
    },
};
use tempfile::TempDir;
use tower::ServiceExt;

/// A password every test user can share: long enough to be valid.
pub const PASSWORD: &str = "correct horse battery";
pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "admin password 1234";

/// What a request answered: status, headers and the JSON body (`Null` when
/// the body is empty).
pub type Answer = (StatusCode, HeaderMap, Value);

pub struct TestApp {
    pub router: Router,
    pub state: AppState,
    /// Kept alive for as long as the app: dropping it removes the directory.
    pub data_dir: TempDir,
    /// The PostgreSQL database of this app, when not on SQLite.
    pub database_url: Option<String>,
}

/// Builds the app on a fresh database and data directory, with a generated
/// signing key. The database is a new SQLite file, or, when
/// `TOLLGATE_TEST_POSTGRES_URL` is set (scripts/with-postgres.sh), a new
/// database on that PostgreSQL server.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Like [`spawn_app`], with the settings changed by `configure` first.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    // Warnings and errors go to the test's captured output, shown when it
    // fails: a 500's cause is logged, never sent.
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("warn")
        .try_init();
    let data_dir = tempfile::tempdir().expect("cannot create a temporary data directory");
    let database_url = fresh_database_url().await;
    let mut settings = settings_for(data_dir.path(), database_url.as_deref());
    configure(&mut settings);
    let state = build_state(settings).await;
    let router = server::build_router(state.clone());
    TestApp {
        router,
        state,
        data_dir,
        database_url,
    }
}

/// The default settings, keeping everything in `dir` and generating the JWT
/// secret there; the database is `database_url` or SQLite in `dir`.
pub fn settings_for(dir: &Path, database_url: Option<&str>) -> Settings {
    Settings {
        data_dir: dir.to_path_buf(),
        auth: AuthSettings {
            jwt_secret: None,
            // Tests register many people from one address; the
            // registration-limit tests set their own.
            register_max_per_window: 1_000,
            ..AuthSettings::default()
        },
        database: DatabaseSettings {
            url: database_url.map(|url| SecretString::from(url.to_owned())),
        },
        // Tests that are not about rate limits send bursts no plan allows;
        // the rate-limit tests set their own.
        rate_limits: RateLimitSettings::unlimited(),
        redis: test_redis(),
        ..Settings::default()
    }
}

/// Shared state in Redis when `TOLLGATE_TEST_REDIS_URL` is set
/// (scripts/with-redis.sh), under a prefix of this app's own.
fn test_redis() -> RedisSettings {
    RedisSettings {
        url: std::env::var("TOLLGATE_TEST_REDIS_URL")
            .ok()
            .map(SecretString::from),
        prefix: format!("test_{}:", uuid_like()),
        ..RedisSettings::default()
    }
}

/// A new, empty PostgreSQL database when the tests run against PostgreSQL.
async fn fresh_database_url() -> Option<String> {
    let admin_url = std::env::var("TOLLGATE_TEST_POSTGRES_URL").ok()?;
    let name = format!("test_{}", uuid_like());
    let admin = sea_orm::Database::connect(&admin_url)
        .await
        .expect("cannot connect to the test PostgreSQL server");
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("cannot create a test database");
    admin.close().await.ok();
    let base = admin_url
        .rsplit_once('/')
        .map(|(base, _)| base)
        .expect("TOLLGATE_TEST_POSTGRES_URL ends with a database name");
    Some(format!("{base}/{name}"))
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "{}_{}_{}",
        std::process::id(),
        nanos,
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

pub async fn build_state(settings: Settings) -> AppState {
    AppState::build(settings)
        .await
        .expect("cannot build the app state")
}

impl TestApp {
    /// The app's database, to arrange or inspect rows directly.
    pub fn db(&self) -> &DatabaseConnection {
        &self.state.db
    }

    /// A second app on the same data directory, as after a restart.
    pub async fn restart(&self) -> Router {
        let settings = settings_for(self.data_dir.path(), self.database_url.as_deref());
        server::build_router(build_state(settings).await)
    }

    /// A second instance beside this one, with the same settings: the same
    /// database, and with Redis the same shared state. `None` when the
    /// instances would share nothing (no Redis).
    pub async fn twin(&self) -> Option<Router> {
        self.state.cluster.as_ref()?;
        let settings = (*self.state.settings).clone();
        Some(server::build_router(build_state(settings).await))
    }

    /// Sends a request to this app's router.
    pub async fn send(&self, request: Request<Body>) -> Answer {
        send_to(&self.router, request).await
    }

    /// A JSON request, optionally with a body and a bearer token.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        bearer: Option<&str>,
    ) -> Answer {
        send_to(&self.router, json_request(method, path, body, bearer)).await
    }

    /// GET `path` with a bearer token: the one-line form of [`Self::request`]
    /// most tests need, so their arrange steps read as what they do.
    pub async fn get(&self, path: &str, bearer: &str) -> Answer {
        self.request(Method::GET, path, None, Some(bearer)).await
    }

    /// POST a JSON body to `path` with a bearer token.
    pub async fn post(&self, path: &str, body: Value, bearer: &str) -> Answer {
        self.request(Method::POST, path, Some(body), Some(bearer))
            .await
    }

    /// PATCH `path` with a JSON body and a bearer token.
    pub async fn patch(&self, path: &str, body: Value, bearer: &str) -> Answer {
        self.request(Method::PATCH, path, Some(body), Some(bearer))
            .await
    }

    /// PUT a JSON body to `path` with a bearer token.
    pub async fn put(&self, path: &str, body: Value, bearer: &str) -> Answer {
        self.request(Method::PUT, path, Some(body), Some(bearer))
            .await
    }

    /// DELETE `path` with a bearer token.
    pub async fn delete(&self, path: &str, bearer: &str) -> Answer {
        self.request(Method::DELETE, path, None, Some(bearer)).await
    }

    /// GET `path`, asserting 200 OK; returns the body. The form for a
    /// request that arranges a test or reads what it did.
    pub async fn get_ok(&self, path: &str, bearer: &str) -> Value {
        body_of_ok("GET", path, self.get(path, bearer).await)
    }

    /// PATCH `path` with `body`, asserting 200 OK; returns the answer's body.
    pub async fn patch_ok(&self, path: &str, body: Value, bearer: &str) -> Value {
        body_of_ok("PATCH", path, self.patch(path, body, bearer).await)
    }

    /// POST `body` to `path`, asserting 201 Created; returns the answer's
    /// body.
    pub async fn post_created(&self, path: &str, body: Value, bearer: &str) -> Value {
        let (status, _, answer) = self.post(path, body, bearer).await;
        assert_eq!(status, StatusCode::CREATED, "POST {path}: {answer}");
        answer
    }

    /// DELETE `path`, asserting 200 OK; returns the answer's body.
    pub async fn delete_ok(&self, path: &str, bearer: &str) -> Value {
        body_of_ok("DELETE", path, self.delete(path, bearer).await)
    }

    /// A request authenticated by the session cookie only, as a browser sends
    /// it, with optional `Origin` and `Host` headers.
    pub async fn cookie_request(
        &self,
        method: Method,
        path: &str,
        token: &str,
        origin: Option<&str>,
        host: Option<&str>,
    ) -> Answer {
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header(header::COOKIE, format!("tollgate_session={token}"));
        if let Some(origin) = origin {
            builder = builder.header(header::ORIGIN, origin);
        }
        if let Some(host) = host {
            builder = builder.header(header::HOST, host);
        }
        self.send(builder.body(Body::empty()).unwrap()).await
    }

    /// POST /api/auth/register.
    pub async fn register_answer(&self, email: &str, password: &str, name: &str) -> Answer {
        let body = json!({ "email": email, "password": password, "name": name });
        self.request(Method::POST, "/api/auth/register", Some(body), None)
            .await
    }

    /// Registers a user and signs them in, as a person does next; returns
    /// their token and id.
    pub async fn register(&self, email: &str, password: &str, name: &str) -> (String, String) {
        let (status, _, body) = self.register_answer(email, password, name).await;
        assert_eq!(
            status,
            StatusCode::ACCEPTED,
            "registering {email} failed: {body}"
        );
        let (status, _, body) = self.login(email, password).await;
        assert_eq!(status, StatusCode::OK, "signing {email} in failed: {body}");
        (string_at(&body, "/token"), string_at(&body, "/user/id"))
    }

    /// Registers and signs in Grace Hopper (grace@example.com, [`PASSWORD`]),
    /// the one user most account tests need; returns her token and id.
    pub async fn register_grace(&self) -> (String, String) {
        self.register("grace@example.com", PASSWORD, "Grace Hopper")
            .await
    }

    /// POST /api/auth/login.
    pub async fn login(&self, email: &str, password: &str) -> Answer {
        let body = json!({ "email": email, "password": password });
        self.request(Method::POST, "/api/auth/login", Some(body), None)
            .await
    }

    /// POST /api/auth/login with an API key.
    pub async fn login_with_key(&self, api_key: &str) -> Answer {
        let body = json!({ "api_key": api_key });
        self.request(Method::POST, "/api/auth/login", Some(body), None)
            .await
    }

    /// POST /api/auth/logout with a bearer token, or none.
    pub async fn logout(&self, bearer: Option<&str>) -> Answer {
        self.request(Method::POST, "/api/auth/logout", None, bearer)
            .await
    }

    /// Creates an admin through the service and signs them in; returns the token.
    pub async fn create_admin(&self) -> String {
        service::create_user(
            &self.state.db,
            NewUser {
                name: "Ada Admin".into(),
                email: Some(ADMIN_EMAIL.into()),
                password: Some(ADMIN_PASSWORD.into()),
                role: Role::Admin,
                plan: Plan::Pro,
            },
        )
        .await
        .expect("cannot create the admin");
        let (status, _, body) = self.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        assert_eq!(status, StatusCode::OK, "admin login failed: {body}");
        string_at(&body, "/token")
    }

    /// GET /api/users/me with a bearer token.
    pub async fn me(&self, token: &str) -> Answer {
        self.request(Method::GET, "/api/users/me", None, Some(token))
            .await
    }

    /// The id of the user a token belongs to.
    pub async fn user_id_of(&self, token: &str) -> String {
        let (status, _, body) = self.me(token).await;
        assert_eq!(status, StatusCode::OK, "GET /api/users/me failed: {body}");
        string_at(&body, "/user/id")
    }
}

/// The body of an answer that must be 200 OK; a failure names the request.
fn body_of_ok(method: &str, path: &str, (status, _, body): Answer) -> Value {
    assert_eq!(status, StatusCode::OK, "{method} {path}: {body}");
    body
}

/// Asserts a refusal in a table-driven test: the status (naming the `case`
/// that failed), the error shape, and that the message names `field` when
/// one is given; returns the message.
pub fn assert_refused(
    case: &str,
    answer: &Answer,
    expected: StatusCode,
    field: Option<&str>,
) -> String {
    assert_eq!(answer.0, expected, "{case}: {}", answer.2);
    let message = assert_error(answer, expected);
    if let Some(field) = field {
        assert!(
            message.contains(field),
            "{case}: the message does not name {field}: {message}"
        );
    }
    message
}

/// Sends a request to any router (a fresh clone per request).
pub async fn send_to(router: &Router, request: Request<Body>) -> Answer {
    let response = router
        .clone()
        .oneshot(request)
        .await
        .expect("the router cannot fail");
    answer_of(response).await
}

/// Sends every request at once, each on its own task, as a scripted
/// client does; the answers in the requests' order.
pub async fn send_all(router: &Router, requests: Vec<Request<Body>>) -> Vec<Answer> {
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|request| {
            let router = router.clone();
            tokio::spawn(async move { send_to(&router, request).await })
        })
        .collect();
    let mut answers = Vec::with_capacity(tasks.len());
    for task in tasks {
        answers.push(task.await.expect("a request task panicked"));
    }
    answers
}

/// A response's status, headers and whole body: what [`answer_of`] reads as
/// JSON and [`ProxyApp::stream`] as text.
pub async fn read_to_end(response: axum::response::Response) -> (StatusCode, HeaderMap, Bytes) {
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("the body broke off")
        .to_bytes();
    (status, headers, bytes)
}

/// A response read to the end as an [`Answer`].
pub async fn answer_of(response: axum::response::Response) -> Answer {
    let (status, headers, bytes) = read_to_end(response).await;
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|err| {
            panic!(
                "body is not JSON ({err}): {}",
                String::from_utf8_lossy(&bytes)
            )
        })
    };
    (status, headers, body)
}

/// A request with an optional JSON body and bearer token.
pub fn json_request(
    method: Method,
    path: &str,
    body: Option<Value>,
    bearer: Option<&str>,
) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(path);
    if let Some(token) = bearer {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    match body {
        Some(value) => with_raw_json(builder.body(Body::empty()).unwrap(), &value.to_string()),
        None => builder.body(Body::empty()).unwrap(),
    }
}

/// `request` with `raw` as its JSON body, sent as typed, so that it may be
/// broken JSON.
pub fn with_raw_json(mut request: Request<Body>, raw: &str) -> Request<Body> {
    request.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    *request.body_mut() = Body::from(raw.to_owned());
    request
}

/// Asserts that `actual` has each field of `expected` with that value
/// (other fields may be there too): one line for the fields a test cares
/// about, and a failure names the field.
pub fn assert_fields(actual: &Value, expected: Value) {
    let expected = expected
        .as_object()
        .unwrap_or_else(|| panic!("the expected fields are not an object: {expected}"));
    for (field, value) in expected {
        assert_eq!(&actual[field], value, "`{field}` in {actual}");
    }
}

/// The string at a JSON pointer, or a failure naming it.
pub fn string_at(body: &Value, pointer: &str) -> String {
    body.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {pointer} in {body}"))
        .to_owned()
}

/// The string at `pointer` in each element of a JSON array: a listing's
/// names or states, in its order, to compare in one line.
pub fn strings_in(array: &Value, pointer: &str) -> Vec<String> {
    array
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {array}"))
        .iter()
        .map(|item| string_at(item, pointer))
        .collect()
}

/// The field names of a JSON object, sorted, to compare against the
/// fields a contract promises.
pub fn field_names(object: &Value) -> Vec<&str> {
    let mut names: Vec<&str> = object
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {object}"))
        .keys()
        .map(String::as_str)
        .collect();
    names.sort_unstable();
    names
}

/// Asserts the contract's error body, exactly `{"success": false, "error":
/// "<non-empty>"}`, and returns the message.
pub fn assert_error_body(body: &Value) -> String {
    let object = body
        .as_object()
        .unwrap_or_else(|| panic!("error body is not an object: {body}"));
    assert_eq!(
        object.get("success"),
        Some(&Value::Bool(false)),
        "`success` is not false in {body}"
    );
    let message = object
        .get("error")
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("`error` is not a string in {body}"));
    assert!(!message.trim().is_empty(), "`error` is empty in {body}");
    assert_eq!(object.len(), 2, "the error body has extra keys: {body}");
    message.to_owned()
}

/// Asserts the status and the error shape of an answer; returns the message.
pub fn assert_error(answer: &Answer, expected: StatusCode) -> String {
    let (status, _, body) = answer;
    assert_eq!(*status, expected, "unexpected status; body: {body}");
    assert_error_body(body)
}

/// `2025-10-28T12:34:56.789Z`: ISO 8601 in UTC with milliseconds.
pub fn assert_iso_millis(value: &str) {
    assert_eq!(value.len(), 24, "not ISO with milliseconds: {value}");
    assert!(value.ends_with('Z'), "not in UTC: {value}");
    assert_eq!(&value[19..20], ".", "no milliseconds: {value}");
    chrono::DateTime::parse_from_rfc3339(value)
        .unwrap_or_else(|err| panic!("not RFC 3339 ({err}): {value}"));
}

/// `user_<digits>_<16 hex>`.
pub fn assert_user_id(id: &str) {
    let parts: Vec<&str> = id.split('_').collect();
    assert_eq!(parts.len(), 3, "bad user id: {id}");
    assert_eq!(parts[0], "user", "bad user id: {id}");
    assert!(
        !parts[1].is_empty() && parts[1].bytes().all(|b| b.is_ascii_digit()),
        "bad user id: {id}"
    );
    assert!(
        parts[2].len() == 16
            && parts[2]
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "bad user id: {id}"
    );
}

/// Asserts a `Set-Cookie` that stores `token` in the session cookie.
pub fn assert_session_cookie(headers: &HeaderMap, token: &str) {
    let cookie = headers
        .get(header::SET_COOKIE)
        .expect("no Set-Cookie header")
        .to_str()
        .expect("Set-Cookie is not text");
    assert!(
        cookie.starts_with(&format!("tollgate_session={token};")),
        "wrong cookie: {cookie}"
    );
    let attributes: Vec<&str> = cookie.split(';').map(str::trim).collect();
    for expected in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(
            attributes.contains(&expected),
            "cookie lacks {expected}: {cookie}"
        );
    }
}

/// The users of an admin listing's body, as `(id, email)` pairs.
pub fn listed_users(body: &Value) -> Vec<(String, Option<String>)> {
    body["users"]
        .as_array()
        .unwrap_or_else(|| panic!("no users array in {body}"))
        .iter()
        .map(|user| {
            (
                string_at(user, "/id"),
                user["email"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

/// Providers and models, arranged through the admin API.
impl TestApp {
    /// POST /api/admin/providers as `admin`; asserts 201 and returns the
    /// provider object.
    pub async fn create_provider(&self, admin: &str, body: Value) -> Value {
        let answer = self.post_created("/api/admin/providers", body, admin).await;
        answer["provider"].clone()
    }

    /// POST /api/admin/models as `admin`; asserts 201 and returns the model
    /// object.
    pub async fn create_model(&self, admin: &str, body: Value) -> Value {
        let answer = self.post_created("/api/admin/models", body, admin).await;
        answer["model"].clone()
    }
}

/// `<prefix>_<16 lower-case hex>`, as provider (`prov`) and model (`model`) ids.
pub fn assert_prefixed_id(id: &str, prefix: &str) {
    let hex = id
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('_'))
        .unwrap_or_else(|| panic!("id does not start with {prefix}_: {id}"));
    assert!(
        hex.len() == 16
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "not {prefix}_<16 hex>: {id}"
    );
}

/// API keys, arranged through the key API.
impl TestApp {
    /// POST /api/keys as `token`; asserts 201 and returns the secret and
    /// the key's id.
    pub async fn create_key(&self, token: &str, body: Value) -> (String, String) {
        let answer = self.post_created("/api/keys", body, token).await;
        (string_at(&answer, "/secret"), string_at(&answer, "/key/id"))
    }
}

// The LLM proxy: a mock upstream over real HTTP, and requests to
// `/v1/chat/completions` and `/v1/messages` as SDKs send them.

/// The upstream key every test provider gets.
pub const UPSTREAM_KEY: &str = "sk-upstream-proxy-test-0123456789abcdef";
/// What the proxy tests ask: five words, five input tokens to the mock.
pub const PROMPT: &str = "one two three four five";
pub const PROMPT_TOKENS: i64 = 5;
/// The mock's answer to [`PROMPT`]: twelve words, twelve output tokens.
pub const REPLY: &str = "Hello from the Tollgate mock. You said: one two three four five";
pub const REPLY_TOKENS: i64 = 12;
/// The test models' prices, micro-credits per million tokens.
pub const INPUT_PRICE: i64 = 3_000_000;
pub const OUTPUT_PRICE: i64 = 15_000_000;
pub const CACHE_READ_PRICE: i64 = 300_000;
pub const CACHE_WRITE_PRICE: i64 = 3_750_000;
/// [`PROMPT`] and [`REPLY`] at those prices: 5 × 3 + 12 × 15 micro-credits.
pub const COST: i64 = 195;

/// Serves `router` over HTTP on a free local port for the rest of the
/// test; returns its base address, `http://127.0.0.1:<port>`.
pub async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("cannot bind a local port");
    let address = listener.local_addr().expect("no local address");
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{address}")
}

/// The mock provider (`server::gateway::mock::router()`) over HTTP.
pub async fn spawn_mock_upstream() -> String {
    serve(server::gateway::mock::router()).await
}

/// Credits every [`ProxyApp`] user starts with.
pub const STARTING_CREDITS: i64 = 1_000;

/// An app ready to proxy: an admin, a user on the trial plan with an
/// unlimited API key and [`STARTING_CREDITS`], and the mock upstream over
/// HTTP.
pub struct ProxyApp {
    pub app: TestApp,
    /// The admin's session token.
    pub admin: String,
    /// The key owner's session token.
    pub user: String,
    /// The API key's secret and id.
    pub key: String,
    pub key_id: String,
    /// The mock upstream's base address.
    pub upstream: String,
}

/// What a streamed request answered, its body read to the end.
pub struct Streamed {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl ProxyApp {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// With the settings changed by `configure` first.
    pub async fn start_with(configure: impl FnOnce(&mut Settings)) -> Self {
        let app = spawn_app_with(configure).await;
        let upstream = spawn_mock_upstream().await;
        let admin = app.create_admin().await;
        let (user, user_id) = app.register("lena@example.com", PASSWORD, "Lena").await;
        let (key, key_id) = app.create_key(&user, json!({ "name": "cli" })).await;
        // Enough for every test's requests: holds need a balance.
        let grant =
            json!({ "user_id": user_id, "amount": STARTING_CREDITS, "reason": "test funds" });
        let (status, _, body) = app
            .request(
                Method::POST,
                "/api/admin/credits/grant",
                Some(grant),
                Some(&admin),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "granting credits failed: {body}");
        Self {
            app,
            admin,
            user,
            key,
            key_id,
            upstream,
        }
    }

    /// GET `path` as the admin, asserting 200; returns the body.
    pub async fn admin_get(&self, path: &str) -> Value {
        self.app.get_ok(path, &self.admin).await
    }

    /// Grants `micros` micro-credits to a user, as the admin.
    pub async fn grant(&self, user_id: &str, micros: i64) {
        let amount = format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000);
        let body = json!({ "user_id": user_id, "amount": amount, "reason": "test" });
        let (status, _, answer) = self
            .app
            .request(
                Method::POST,
                "/api/admin/credits/grant",
                Some(body),
                Some(&self.admin),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }

    /// A provider of `kind` (`openai`, `anthropic` or `mock`) whose
    /// requests reach the mock upstream over HTTP (`mock`: in-process).
    pub async fn provider(&self, kind: &str) -> String {
        let base_url = match kind {
            "openai" | "openai_responses" => format!("{}/v1", self.upstream),
            "anthropic" => self.upstream.clone(),
            "gemini" => format!("{}/v1beta", self.upstream),
            _ => String::new(),
        };
        self.provider_with(json!({
            "name": format!("{kind} {}", uuid_like()),
            "kind": kind,
            "base_url": base_url,
            "api_keys": [UPSTREAM_KEY],
        }))
        .await
    }

    /// A provider from a full body; returns its id.
    pub async fn provider_with(&self, body: Value) -> String {
        let provider = self.app.create_provider(&self.admin, body).await;
        string_at(&provider, "/id")
    }

    /// A model at the test prices, for every plan; returns its id.
    pub async fn model(
        &self,
        provider_id: &str,
        public_name: &str,
        upstream_model: &str,
    ) -> String {
        self.model_with(json!({
            "public_name": public_name,
            "provider_id": provider_id,
            "upstream_model": upstream_model,
            "input_price": INPUT_PRICE,
            "output_price": OUTPUT_PRICE,
            "cache_read_price": CACHE_READ_PRICE,
            "cache_write_price": CACHE_WRITE_PRICE,
        }))
        .await
    }

    /// A model from a full body; returns its id.
    pub async fn model_with(&self, body: Value) -> String {
        let model = self.app.create_model(&self.admin, body).await;
        string_at(&model, "/id")
    }

    /// A provider of `kind` with one model whose public and upstream name
    /// is `name`; returns the model's id.
    pub async fn route(&self, kind: &str, name: &str) -> String {
        let provider = self.provider(kind).await;
        self.model(&provider, name, name).await
    }

    /// Sends `body` to `endpoint` with the test key, as that API's SDK
    /// does, and reads a JSON answer.
    pub async fn call(&self, endpoint: Endpoint, body: Value) -> Answer {
        self.call_with_key(endpoint, Some(&self.key), body).await
    }

    /// Asks `model` about [`PROMPT`] on `endpoint` without streaming, with
    /// the test key: the request most proxy tests send.
    pub async fn ask(&self, endpoint: Endpoint, model: &str) -> Answer {
        self.call(endpoint, llm_body(endpoint, model, false)).await
    }

    /// Like [`Self::ask`], streamed, with the body read to the end.
    pub async fn ask_streamed(&self, endpoint: Endpoint, model: &str) -> Streamed {
        self.stream(endpoint, llm_body(endpoint, model, true)).await
    }

    /// Asks `model` for a stream on `endpoint` and returns the response with
    /// its body unread, for tests that read it piece by piece.
    pub async fn open_stream(&self, endpoint: Endpoint, model: &str) -> axum::response::Response {
        let (path, body) = addressed(endpoint, llm_body(endpoint, model, true));
        self.open(&path, endpoint, &[], body).await
    }

    /// Routes `model` to a provider of `kind` and opens a stream of it on
    /// `endpoint`; returns the request's id and the response, body unread.
    pub async fn routed_stream(
        &self,
        kind: &str,
        endpoint: Endpoint,
        model: &str,
    ) -> (String, axum::response::Response) {
        self.route(kind, model).await;
        let response = self.open_stream(endpoint, model).await;
        (request_id(response.headers()), response)
    }

    /// Another key of the test user, from a full body; returns its secret
    /// and id.
    pub async fn create_key(&self, body: Value) -> (String, String) {
        self.app.create_key(&self.user, body).await
    }

    /// Like [`Self::ask`] with another key, or none.
    pub async fn ask_with_key(&self, endpoint: Endpoint, key: Option<&str>, model: &str) -> Answer {
        self.call_with_key(endpoint, key, llm_body(endpoint, model, false))
            .await
    }

    /// Like [`Self::call`] with another key, or none.
    pub async fn call_with_key(
        &self,
        endpoint: Endpoint,
        key: Option<&str>,
        body: Value,
    ) -> Answer {
        let (path, body) = addressed(endpoint, body);
        let request = llm_request(&path, endpoint, key, &[], body);
        self.app.send(request).await
    }

    /// Sends `body` to `path` (a path of `endpoint`) and returns the
    /// response with its body unread.
    pub async fn open(
        &self,
        path: &str,
        endpoint: Endpoint,
        headers: &[(&str, &str)],
        body: impl Into<Body>,
    ) -> axum::response::Response {
        let request = llm_request(path, endpoint, Some(&self.key), headers, body);
        self.app
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("the router cannot fail")
    }

    /// Sends a request as it is and returns the response, body unread.
    pub async fn open_request(&self, request: Request<Body>) -> axum::response::Response {
        self.app
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("the router cannot fail")
    }

    /// Sends a streaming request and reads its body to the end.
    pub async fn stream(&self, endpoint: Endpoint, body: Value) -> Streamed {
        let (path, body) = addressed(endpoint, body);
        let response = self.open(&path, endpoint, &[], body).await;
        let (status, headers, bytes) = read_to_end(response).await;
        let text = String::from_utf8(bytes.to_vec()).expect("the stream is not UTF-8");
        Streamed {
            status,
            headers,
            text,
        }
    }

    /// The test user's balance in micro-credits, as their session reads
    /// it, once the writer has stored every charge.
    pub async fn balance(&self) -> i64 {
        self.app.state.usage.flush().await;
        let (status, _, body) = self
            .app
            .request(Method::GET, "/api/users/me/credits", None, Some(&self.user))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["balance_micro_credits"].as_i64().unwrap()
    }

    /// Every usage row, after the writer wrote what it was handed.
    pub async fn usage_rows(&self) -> Vec<usage_record::Model> {
        self.app.state.usage.flush().await;
        usage_record::Entity::find()
            .order_by_asc(usage_record::Column::CreatedAt)
            .all(self.app.db())
            .await
            .unwrap()
    }

    /// The usage row of a request, after the writer wrote it.
    pub async fn usage_row(&self, id: &str) -> usage_record::Model {
        self.app.state.usage.flush().await;
        usage_record::Entity::find_by_id(id.to_owned())
            .one(self.app.db())
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no usage row {id}"))
    }

    /// Asserts that the request of `id` was cut (`error_kind`), charged
    /// once for what it used, and that the ledger still verifies; `case`
    /// names the request in a failure. Returns its usage row.
    pub async fn assert_cut_and_charged_once(
        &self,
        id: &str,
        error_kind: &str,
        case: &str,
    ) -> usage_record::Model {
        let row = self.usage_row(id).await;
        assert_eq!(row.error_kind.as_deref(), Some(error_kind), "{case}");
        assert!(row.cost > 0, "{case}: {row:?}");
        assert_eq!(row.charged, row.cost, "{case}");
        let problems = server::console::credits::service::verify(self.app.db())
            .await
            .unwrap();
        assert_eq!(problems, vec![], "{case}");
        row
    }

    /// Whether an answer left no usage row (a refusal before admission).
    pub async fn has_no_usage_row(&self, headers: &HeaderMap) -> bool {
        self.app.state.usage.flush().await;
        usage_record::Entity::find_by_id(request_id(headers))
            .one(self.app.db())
            .await
            .unwrap()
            .is_none()
    }

    /// The usage row of an answer, by its `x-request-id`.
    pub async fn usage_row_of(&self, headers: &HeaderMap) -> usage_record::Model {
        self.usage_row(&request_id(headers)).await
    }

    /// The test key as GET /api/keys shows it to its owner.
    pub async fn listed_key(&self) -> Value {
        let (status, _, body) = self
            .app
            .request(Method::GET, "/api/keys", None, Some(&self.user))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|key| key["id"] == self.key_id.as_str())
            .unwrap_or_else(|| panic!("the key is not listed: {body}"))
            .clone()
    }
}

/// A request to the LLM API as `endpoint`'s clients send it: OpenAI's with
/// `Authorization: Bearer`, Anthropic's with `x-api-key` and
/// `anthropic-version`.
pub fn llm_request(
    path: &str,
    endpoint: Endpoint,
    key: Option<&str>,
    headers: &[(&str, &str)],
    body: impl Into<Body>,
) -> Request<Body> {
    let mut builder = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/json");
    match endpoint {
        Endpoint::ChatCompletions | Endpoint::Responses | Endpoint::Embeddings => {
            if let Some(key) = key {
                builder = builder.header(header::AUTHORIZATION, format!("Bearer {key}"));
            }
        }
        Endpoint::Messages => {
            builder = builder.header("anthropic-version", "2023-06-01");
            if let Some(key) = key {
                builder = builder.header("x-api-key", key);
            }
        }
        Endpoint::GenerateContent => {
            if let Some(key) = key {
                builder = builder.header("x-goog-api-key", key);
            }
        }
    }
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(body.into()).unwrap()
}

/// Where `endpoint`'s clients send `body`, and the body they send: Gemini's
/// take the model and the stream out of it and into the URL (a `model` of
/// `null` is left in, for the tests of a body Google would refuse).
pub fn addressed(endpoint: Endpoint, mut body: Value) -> (String, String) {
    if endpoint != Endpoint::GenerateContent {
        return (endpoint.path().to_owned(), body.to_string());
    }
    let fields = body.as_object_mut().expect("a Gemini body is an object");
    let model = match fields.get("model") {
        Some(Value::String(model)) => model.clone(),
        _ => String::new(),
    };
    fields.remove("model");
    let stream = fields.remove("stream") == Some(Value::Bool(true));
    let method = if stream {
        "streamGenerateContent?alt=sse"
    } else {
        "generateContent"
    };
    (format!("/v1beta/models/{model}:{method}"), body.to_string())
}

/// A request body asking `model` about [`PROMPT`] (with `max_tokens`, which
/// Anthropic requires, big enough for the whole reply).
pub fn llm_body(endpoint: Endpoint, model: &str, stream: bool) -> Value {
    if endpoint == Endpoint::GenerateContent {
        return json!({ "model": model, "stream": stream,
            "contents": [{ "role": "user", "parts": [{ "text": PROMPT }] }] });
    }
    if endpoint == Endpoint::Responses {
        return json!({ "model": model, "input": PROMPT, "stream": stream });
    }
    if endpoint == Endpoint::Embeddings {
        return json!({ "model": model, "input": PROMPT });
    }
    let mut body = json!({
        "model": model,
        "messages": [{ "role": "user", "content": PROMPT }],
        "stream": stream,
    });
    if endpoint == Endpoint::Messages {
        body["max_tokens"] = json!(100);
    }
    body
}

/// The `x-request-id` of an answer, checked to be `req_<16 hex>`.
pub fn request_id(headers: &HeaderMap) -> String {
    let id = headers
        .get("x-request-id")
        .unwrap_or_else(|| panic!("no x-request-id in {headers:?}"))
        .to_str()
        .unwrap()
        .to_owned();
    assert_prefixed_id(&id, "req");
    id
}

/// The events of an SSE body, without their blank lines (`\n\n`, or
/// `\r\n\r\n` as Google's API ends them).
pub fn sse_events(text: &str) -> Vec<&str> {
    text.split("\n\n")
        .flat_map(|part| part.split("\r\n\r\n"))
        .map(|event| event.trim_start_matches(['\r', '\n']))
        .filter(|e| !e.is_empty())
        .collect()
}

/// The JSON `data:` of an event; `None` for `[DONE]` or an event without data.
pub fn sse_data(event: &str) -> Option<Value> {
    let data = event.lines().find_map(|line| line.strip_prefix("data: "))?;
    serde_json::from_str(data).ok()
}

/// The text an SSE body carried, joined from its content deltas.
pub fn streamed_text(endpoint: Endpoint, text: &str) -> String {
    sse_events(text)
        .into_iter()
        .filter_map(sse_data)
        .filter_map(|data| {
            let piece = match endpoint {
                Endpoint::ChatCompletions => data.pointer("/choices/0/delta/content"),
                Endpoint::Messages => data.pointer("/delta/text"),
                Endpoint::Responses => data
                    .get("delta")
                    .filter(|_| data["type"] == "response.output_text.delta"),
                Endpoint::Embeddings => None,
                Endpoint::GenerateContent => data
                    .pointer("/candidates/0/content/parts")
                    .and_then(Value::as_array)
                    .and_then(|parts| parts.iter().find(|part| part["thought"] != true))
                    .and_then(|part| part.get("text")),
            };
            piece.and_then(Value::as_str).map(str::to_owned)
        })
        .collect()
}

/// Asserts an OpenAI error answer, exactly `{"error": {"message", "type",
/// "param", "code"}}`, and returns the message.
pub fn assert_openai_error(
    answer: &Answer,
    status: StatusCode,
    error_type: &str,
    code: Option<&str>,
    param: Option<&str>,
) -> String {
    let (actual, _, body) = answer;
    assert_eq!(*actual, status, "unexpected status; body: {body}");
    assert_eq!(
        body.as_object().map(|o| o.len()),
        Some(1),
        "not an OpenAI error: {body}"
    );
    let error = body["error"]
        .as_object()
        .unwrap_or_else(|| panic!("not an OpenAI error: {body}"));
    let mut fields: Vec<&str> = error.keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(fields, ["code", "message", "param", "type"], "{body}");
    assert_eq!(error["type"], error_type, "{body}");
    assert_eq!(error["code"].as_str(), code, "{body}");
    assert_eq!(error["param"].as_str(), param, "{body}");
    let message = error["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "empty message: {body}");
    message.to_owned()
}

/// Asserts an Anthropic error answer, exactly `{"type": "error", "error":
/// {"type", "message"}}`, and returns the message.
pub fn assert_anthropic_error(answer: &Answer, status: StatusCode, error_type: &str) -> String {
    let (actual, _, body) = answer;
    assert_eq!(*actual, status, "unexpected status; body: {body}");
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(body.as_object().map(|o| o.len()), Some(2), "{body}");
    let error = body["error"]
        .as_object()
        .unwrap_or_else(|| panic!("not an Anthropic error: {body}"));
    assert_eq!(error.len(), 2, "{body}");
    assert_eq!(error["type"], error_type, "{body}");
    let message = error["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "empty message: {body}");
    message.to_owned()
}

/// Asserts a Google error answer, `{"error": {"code", "message", "status"}}`
/// (and `details` naming the field at fault, if any), and returns the
/// message.
pub fn assert_google_error(answer: &Answer, status: StatusCode, google_status: &str) -> String {
    let (actual, _, body) = answer;
    assert_eq!(*actual, status, "unexpected status; body: {body}");
    assert_eq!(body.as_object().map(|o| o.len()), Some(1), "{body}");
    let error = body["error"]
        .as_object()
        .unwrap_or_else(|| panic!("not a Google error: {body}"));
    let mut fields: Vec<&str> = error.keys().map(String::as_str).collect();
    fields.sort_unstable();
    fields.retain(|field| *field != "details");
    assert_eq!(fields, ["code", "message", "status"], "{body}");
    assert_eq!(error["code"], status.as_u16(), "{body}");
    assert_eq!(error["status"], google_status, "{body}");
    let message = error["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "empty message: {body}");
    message.to_owned()
}

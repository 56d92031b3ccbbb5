//! A Tollgate app on a throwaway data directory, and the requests the tests
//! send to it.

use std::path::Path;

use axum::{
    Router,
    body::Body,
    http::{HeaderMap, Method, Request, StatusCode, header},
};
use http_body_util::BodyExt;
use sea_orm::{ConnectionTrait, DatabaseConnection};
use secrecy::SecretString;
use serde_json::{Value, json};
use server::{
    AppState, Settings,
    accounts::service::{self, NewUser},
    config::{AuthSettings, DatabaseSettings},
    entity::user::{Plan, Role},
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
    let data_dir = tempfile::tempdir().expect("cannot create a temporary data directory");
    let database_url = fresh_database_url().await;
    let state = build_state(settings_for(data_dir.path(), database_url.as_deref())).await;
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
            ..AuthSettings::default()
        },
        database: DatabaseSettings {
            url: database_url.map(|url| SecretString::from(url.to_owned())),
        },
        ..Settings::default()
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

    /// A request with a raw body, sent as JSON.
    pub async fn request_raw(&self, method: Method, path: &str, body: &str) -> Answer {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_owned()))
            .unwrap();
        self.send(request).await
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

    /// Registers a user and returns their token and id.
    pub async fn register(&self, email: &str, password: &str, name: &str) -> (String, String) {
        let (status, _, body) = self.register_answer(email, password, name).await;
        assert_eq!(
            status,
            StatusCode::CREATED,
            "registering {email} failed: {body}"
        );
        (string_at(&body, "/token"), string_at(&body, "/user/id"))
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

/// Sends a request to any router (a fresh clone per request).
pub async fn send_to(router: &Router, request: Request<Body>) -> Answer {
    let response = router
        .clone()
        .oneshot(request)
        .await
        .expect("the router cannot fail");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("cannot read the body")
        .to_bytes();
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
    let body = match body {
        Some(value) => {
            builder = builder.header(header::CONTENT_TYPE, "application/json");
            Body::from(value.to_string())
        }
        None => Body::empty(),
    };
    builder.body(body).unwrap()
}

/// The string at a JSON pointer, or a failure naming it.
pub fn string_at(body: &Value, pointer: &str) -> String {
    body.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {pointer} in {body}"))
        .to_owned()
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
        let (status, _, answer) = self
            .request(
                Method::POST,
                "/api/admin/providers",
                Some(body),
                Some(admin),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::CREATED,
            "creating a provider failed: {answer}"
        );
        answer["provider"].clone()
    }

    /// POST /api/admin/models as `admin`; asserts 201 and returns the model
    /// object.
    pub async fn create_model(&self, admin: &str, body: Value) -> Value {
        let (status, _, answer) = self
            .request(Method::POST, "/api/admin/models", Some(body), Some(admin))
            .await;
        assert_eq!(
            status,
            StatusCode::CREATED,
            "creating a model failed: {answer}"
        );
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

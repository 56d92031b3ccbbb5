//! Settings hold secrets: printing them (`{:?}`, as a log line might) must
//! not show any.

use secrecy::SecretString;
use server::{
    Settings,
    platform::config::{AuthSettings, DatabaseSettings},
};

#[test]
fn settings_debug_output_never_shows_the_jwt_secret_or_the_database_password() {
    // Arrange
    let jwt_secret = "jwt-secret-that-no-log-may-ever-show-000";
    let db_password = "hunter2-db-password";
    let settings = Settings {
        database: DatabaseSettings {
            url: Some(SecretString::from(format!(
                "postgres://tollgate:{db_password}@db.internal:5432/tollgate"
            ))),
        },
        auth: AuthSettings {
            jwt_secret: Some(SecretString::from(jwt_secret)),
            ..AuthSettings::default()
        },
        ..Settings::default()
    };

    // Act
    let printed = format!("{settings:?}");
    let pretty = format!("{settings:#?}");

    // Assert
    for output in [&printed, &pretty] {
        assert!(output.contains("session_ttl_hours"), "{output}");
        assert!(!output.contains(jwt_secret), "{output}");
        assert!(!output.contains(db_password), "{output}");
        assert!(!output.contains("db.internal"), "{output}");
    }
}

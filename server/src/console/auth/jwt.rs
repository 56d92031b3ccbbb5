//! Session tokens: HS256 JWTs carrying the user id and the session's `jti`.
//! The signing key comes from config, or is generated once and kept in the
//! data directory so that a restart does not sign everyone out.

use anyhow::Context;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use crate::platform::{config::Settings, secret_file};

/// The claims of a Tollgate session token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// The session id, a row in `sessions`.
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
}

/// Keys derived from the signing secret. Deliberately no `Debug`.
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl JwtKeys {
    pub fn from_secret(secret: &[u8]) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        }
    }

    /// The configured secret, or the one persisted in `data_dir/jwt_secret`
    /// (created with mode 0600 on first start).
    pub fn load_or_create(settings: &Settings) -> anyhow::Result<Self> {
        if let Some(secret) = &settings.auth.jwt_secret {
            return Ok(Self::from_secret(secret.expose_secret().as_bytes()));
        }
        settings.ensure_data_dir()?;
        let path = settings.data_dir.join("jwt_secret");
        let secret = secret_file::read_or_create(&path)?;
        Ok(Self::from_secret(secret.as_bytes()))
    }

    pub fn issue(
        &self,
        user_id: &str,
        jti: &str,
        issued: DateTime<Utc>,
        expires: DateTime<Utc>,
    ) -> anyhow::Result<String> {
        let claims = Claims {
            sub: user_id.to_owned(),
            jti: jti.to_owned(),
            iat: issued.timestamp(),
            exp: expires.timestamp(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .context("cannot sign session token")
    }

    /// Verifies signature and expiry. `None` for any invalid token.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub", "jti"]);
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .ok()
            .map(|data| data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn a_token_round_trips_and_a_tampered_one_is_rejected() {
        let keys = JwtKeys::from_secret(b"0123456789abcdef0123456789abcdef");
        let now = Utc::now();
        let token = keys
            .issue("user_1", "jti_1", now, now + Duration::hours(1))
            .unwrap();
        let claims = keys.verify(&token).unwrap();
        assert_eq!(
            (claims.sub.as_str(), claims.jti.as_str()),
            ("user_1", "jti_1")
        );

        let other = JwtKeys::from_secret(b"another-secret-another-secret-xx");
        assert!(other.verify(&token).is_none());
    }

    #[test]
    fn an_expired_token_is_rejected() {
        let keys = JwtKeys::from_secret(b"0123456789abcdef0123456789abcdef");
        let past = Utc::now() - Duration::hours(2);
        let token = keys
            .issue("user_1", "jti_1", past, past + Duration::hours(1))
            .unwrap();
        assert!(keys.verify(&token).is_none());
    }
}

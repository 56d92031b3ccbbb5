//! What the server and the web UI share: the contract's values (roles,
//! plans, statuses, kinds and sources, each with its one wire name) and the
//! views the pages show, which the REST API sends as they are. The
//! server stores the values (SeaORM) and describes both (OpenAPI) with the
//! `server` feature; the web UI compiles this crate to WASM with serde
//! alone, so a field or value renamed here is renamed on both sides, checked
//! by the compiler.

pub mod accounts;
pub mod catalog;
pub mod credits;
pub mod entitlements;
pub mod insights;
pub mod invitations;
pub mod keys;
pub mod live;
mod time;
pub mod usage;

use std::{fmt, str::FromStr};

pub use time::Timestamp;

#[cfg(feature = "server")]
use sea_orm::entity::prelude::*;

/// An enum of the contract: its variants with their wire names (as JSON
/// and as stored), `as_str`, `ALL`, `Display` and `FromStr`.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        $name:ident stored in $len:literal {
            $( $(#[$variant_meta:meta])* $variant:ident = $wire:literal, )+
        }
    ) => {
        // Every wire name is its variant's name in snake case: said once for
        // the whole enum, which utoipa reads (it does not read a name a
        // macro passes to each variant).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        #[cfg_attr(feature = "server", derive(EnumIter, DeriveActiveEnum, utoipa::ToSchema))]
        #[cfg_attr(
            feature = "server",
            sea_orm(rs_type = "String", db_type = $len)
        )]
        $(#[$meta])*
        pub enum $name {
            $(
                $(#[$variant_meta])*
                #[cfg_attr(feature = "server", sea_orm(string_value = $wire))]
                $variant,
            )+
        }

        impl $name {
            pub const ALL: [Self; [$($wire),+].len()] = [$(Self::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $wire,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = Unknown;

            fn from_str(text: &str) -> Result<Self, Unknown> {
                Self::ALL
                    .into_iter()
                    .find(|value| value.as_str() == text)
                    .ok_or(Unknown)
            }
        }
    };
}

/// A wire name that is none of an enum's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unknown;

impl fmt::Display for Unknown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unknown value")
    }
}

impl std::error::Error for Unknown {}

wire_enum! {
    /// What a user may do: an admin also administers.
    #[cfg_attr(feature = "server", schema(as = UserRole))]
    Role stored in "String(StringLen::N(16))" {
        User = "user",
        Admin = "admin",
    }
}

wire_enum! {
    /// A user's account plan.
    #[cfg_attr(feature = "server", schema(as = UserPlan))]
    Plan stored in "String(StringLen::N(16))" {
        Trial = "trial",
        Free = "free",
        Pro = "pro",
    }
}

wire_enum! {
    /// Whether a user may sign in and call the LLM API.
    #[cfg_attr(feature = "server", schema(as = UserStatus))]
    UserStatus stored in "String(StringLen::N(16))" {
        Active = "active",
        Suspended = "suspended",
    }
}

wire_enum! {
    /// A plan a model can be offered to: the account plans, and
    /// `pro_lifetime`, the entitlement an admin grants.
    PlanName stored in "String(StringLen::N(16))" {
        Trial = "trial",
        Free = "free",
        Pro = "pro",
        ProLifetime = "pro_lifetime",
    }
}

impl From<Plan> for PlanName {
    fn from(plan: Plan) -> Self {
        match plan {
            Plan::Trial => Self::Trial,
            Plan::Free => Self::Free,
            Plan::Pro => Self::Pro,
        }
    }
}

wire_enum! {
    /// What an API key can do right now.
    KeyStatus stored in "String(StringLen::N(16))" {
        Active = "active",
        Expired = "expired",
        Revoked = "revoked",
        OverQuota = "over_quota",
    }
}

wire_enum! {
    /// Which wire format a provider speaks.
    ProviderKind stored in "String(StringLen::N(16))" {
        /// Any OpenAI-compatible API (`/chat/completions`).
        Openai = "openai",
        /// Anthropic's Messages API (`/v1/messages`).
        Anthropic = "anthropic",
        /// OpenAI itself, or an API that also speaks its Responses API
        /// (`/responses`, besides `/chat/completions`).
        OpenaiResponses = "openai_responses",
        /// Google's Gemini API (`/models/{model}:generateContent`).
        Gemini = "gemini",
        /// Tollgate's built-in provider, answering in every format.
        Mock = "mock",
    }
}

wire_enum! {
    /// What a model serves: conversations (chat completions, messages,
    /// responses) or embeddings.
    #[derive(Default)]
    ModelKind stored in "String(StringLen::N(16))" {
        #[default]
        Chat = "chat",
        Embedding = "embedding",
    }
}

wire_enum! {
    /// Why a ledger entry moved a balance.
    EntryKind stored in "String(StringLen::N(16))" {
        Grant = "grant",
        Charge = "charge",
        Refund = "refund",
        Adjustment = "adjustment",
    }
}

wire_enum! {
    /// Why an entitlement was granted, as the contract enumerates it.
    GrantSource stored in "String(StringLen::N(32))" {
        BetaComp = "beta_comp",
        ManualOverride = "manual_override",
        PartnerReferral = "partner_referral",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each value's JSON is its wire name, and both read back to it.
    fn round_trips<T>(values: &[T])
    where
        T: Copy + PartialEq + fmt::Debug + fmt::Display + FromStr + serde::Serialize,
        T: serde::de::DeserializeOwned,
        <T as FromStr>::Err: fmt::Debug,
    {
        for value in values {
            let json = serde_json::to_string(value).unwrap();
            assert_eq!(json, format!("\"{value}\""));
            assert_eq!(serde_json::from_str::<T>(&json).unwrap(), *value);
            assert_eq!(value.to_string().parse::<T>().unwrap(), *value);
        }
    }

    #[test]
    fn every_wire_name_is_the_json_of_its_value() {
        round_trips(&Role::ALL);
        round_trips(&Plan::ALL);
        round_trips(&UserStatus::ALL);
        round_trips(&PlanName::ALL);
        round_trips(&KeyStatus::ALL);
        round_trips(&ProviderKind::ALL);
        round_trips(&ModelKind::ALL);
        round_trips(&EntryKind::ALL);
        round_trips(&GrantSource::ALL);
    }

    #[test]
    fn every_value_reads_back_from_its_wire_name_as_json_and_as_text() {
        for kind in ProviderKind::ALL {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(serde_json::from_str::<ProviderKind>(&json).unwrap(), kind);
            assert_eq!(kind.as_str().parse::<ProviderKind>(), Ok(kind));
        }
        assert_eq!("over_quota".parse::<KeyStatus>(), Ok(KeyStatus::OverQuota));
        assert_eq!("platinum".parse::<Plan>(), Err(Unknown));
        assert!(serde_json::from_str::<Role>("\"root\"").is_err());
    }
}

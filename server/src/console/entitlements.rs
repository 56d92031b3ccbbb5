//! Entitlements: "Pro — Lifetime" grants, and the plan they make effective.
//! A user with an active grant is on `PRO_LIFETIME`; anyone else is on their
//! own plan, upper-cased (the admin contract's resolution). The effective
//! plan decides which models a user may call and their rate limits.
//!
//! Resolution runs on every authenticated request, the LLM API's included,
//! so active grants are kept in memory per user: loaded once, dropped at
//! once when a grant is given or revoked (on every instance, through
//! `crate::platform::cluster::bus`, when there are several).

pub mod handlers;
pub mod service;

use std::{
    collections::HashMap,
    sync::{
        RwLock,
        atomic::{AtomicU64, Ordering},
    },
};

use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use serde::Serialize;
use utoipa::ToSchema;

use crate::platform::{
    cluster::bus::{Bus, Change},
    entity::{
        entitlement::{self, GrantSource},
        user,
    },
    error::Result,
    plan::PlanName,
};

/// The plan a user is on right now, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EffectivePlan {
    pub plan: PlanName,
    /// The active grant that gives it, if any.
    pub grant: Option<ActiveGrant>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActiveGrant {
    pub id: i64,
    pub source: GrantSource,
}

/// How the effective plan is shown: `{"plan": "PRO_LIFETIME", "source":
/// "beta_comp", "grant_id": 4}`, or `{"plan": "TRIAL", "source": "billing",
/// "grant_id": null}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EffectivePlanView {
    pub plan: &'static str,
    pub source: &'static str,
    pub grant_id: Option<i64>,
}

impl EffectivePlan {
    /// Upper case, as the contract writes plans.
    pub fn label(&self) -> &'static str {
        match self.plan {
            PlanName::Trial => "TRIAL",
            PlanName::Free => "FREE",
            PlanName::Pro => "PRO",
            PlanName::ProLifetime => "PRO_LIFETIME",
        }
    }

    pub fn view(&self) -> EffectivePlanView {
        EffectivePlanView {
            plan: self.label(),
            source: match self.grant {
                Some(grant) => grant.source.as_str(),
                None => "billing",
            },
            grant_id: self.grant.map(|grant| grant.id),
        }
    }
}

/// Active grants by user id (`None`: the user has none), in memory.
#[derive(Default)]
pub struct Entitlements {
    active: RwLock<HashMap<String, Option<ActiveGrant>>>,
    /// Moves on every change, so a load that raced a change is not kept.
    generation: AtomicU64,
    /// Tells the other instances what changed here.
    bus: Bus,
}

impl Entitlements {
    /// The effective plan of `user`: from memory, or loaded once.
    pub async fn resolve(
        &self,
        db: &DatabaseConnection,
        user: &user::Model,
    ) -> Result<EffectivePlan> {
        let cached = self
            .active
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&user.id)
            .copied();
        let grant = match cached {
            Some(grant) => grant,
            None => {
                let generation = self.generation.load(Ordering::Acquire);
                let grant = load(db, &user.id).await?;
                let mut active = self.active.write().unwrap_or_else(|p| p.into_inner());
                if self.generation.load(Ordering::Acquire) == generation {
                    active.insert(user.id.clone(), grant);
                }
                grant
            }
        };
        Ok(EffectivePlan {
            plan: match grant {
                Some(_) => PlanName::ProLifetime,
                None => PlanName::from(user.plan),
            },
            grant,
        })
    }

    pub fn new(bus: Bus) -> Self {
        Self {
            bus,
            ..Self::default()
        }
    }

    /// Drops what is known of a user, after a grant or a revocation, here
    /// and on every other instance.
    pub fn forget(&self, user_id: &str) {
        self.drop_user(user_id);
        self.bus.publish(Change::Entitlements(user_id.to_owned()));
    }

    /// Drops what this instance knows of a user.
    pub fn drop_user(&self, user_id: &str) {
        let mut active = self.active.write().unwrap_or_else(|p| p.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        active.remove(user_id);
    }

    /// Drops everything this instance knows (changes may have gone unheard).
    pub fn drop_all(&self) {
        let mut active = self.active.write().unwrap_or_else(|p| p.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        active.clear();
    }
}

async fn load(db: &DatabaseConnection, user_id: &str) -> Result<Option<ActiveGrant>> {
    let grant = entitlement::Entity::find()
        .filter(entitlement::Column::UserId.eq(user_id))
        .filter(entitlement::Column::RevokedAt.is_null())
        .one(db)
        .await?;
    Ok(grant.map(|grant| ActiveGrant {
        id: grant.id,
        source: grant.source,
    }))
}

//! What a request may be served by, in the order it tries them: its
//! model's deployments (best priority first, spread by weight within a
//! priority), then each fallback model's the same way. It holds for the
//! most expensive of them and builds each attempt's body for its
//! deployment's format and upstream model.

use std::{sync::Arc, time::Duration};

use axum::http::{HeaderMap, StatusCode, header};
use rand::Rng;

use crate::{
    gateway::{
        format::{ApiFormat, ProxyError, error::ErrorKind},
        proxy::{
            catalog::{Deployment, Route},
            request::{ClientRequest, UpstreamRequest},
            upstream::SendError,
        },
    },
    platform::pricing::{Prices, Tokens},
};

/// One deployment of one of the request's models.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// Index into [`Candidates::routes`]: 0 is the model asked for.
    pub route: usize,
    pub deployment: usize,
}

/// The models that may serve a request, and its body for each.
pub struct Candidates {
    /// The model asked for, then its usable fallbacks in order.
    pub routes: Vec<Arc<Route>>,
    /// Each route's output cap (the fallback's maximum may be lower).
    caps: Vec<i64>,
    /// Every slot in the order to try them.
    pub lineup: Vec<Slot>,
    /// The request as the client sent it, to build other slots' bodies;
    /// `None` when there is one slot, whose body took it (parsed JSON is
    /// costly to copy, and the common model has one deployment).
    request: Option<ClientRequest>,
    format: ApiFormat,
    attachment_tokens: i64,
    /// The body of the first slot, built while checking the request.
    first: Option<(Slot, UpstreamRequest)>,
}

impl Candidates {
    /// Orders the slots and builds the first one's body: a request none of
    /// the slots can express is refused with the first slot's error.
    pub fn new(
        request: ClientRequest,
        routes: Vec<(Arc<Route>, i64)>,
        format: ApiFormat,
        attachment_tokens: i64,
    ) -> Result<Self, ProxyError> {
        let models: Vec<&Route> = routes.iter().map(|(route, _)| route.as_ref()).collect();
        let lineup = lineup(&models, &mut rand::rng());
        let (routes, caps) = routes.into_iter().unzip();
        let mut candidates = Self {
            routes,
            caps,
            lineup,
            request: None,
            format,
            attachment_tokens,
            first: None,
        };
        if let [only] = candidates.lineup[..] {
            let built = candidates.build_from(request, only)?;
            candidates.first = Some((only, built));
            return Ok(candidates);
        }
        candidates.request = Some(request);
        let mut first_error = None;
        let mut usable = Vec::with_capacity(candidates.lineup.len());
        for slot in std::mem::take(&mut candidates.lineup) {
            if candidates.first.is_some() {
                usable.push(slot);
                continue;
            }
            match candidates.build(slot) {
                Ok(built) => {
                    candidates.first = Some((slot, built));
                    usable.push(slot);
                }
                Err(err) => {
                    first_error.get_or_insert(err);
                }
            }
        }
        candidates.lineup = usable;
        match (&candidates.first, first_error) {
            (None, Some(err)) => Err(err),
            _ => Ok(candidates),
        }
    }

    pub fn route(&self, slot: Slot) -> &Arc<Route> {
        &self.routes[slot.route]
    }

    pub fn deployment(&self, slot: Slot) -> &Deployment {
        &self.routes[slot.route].deployments[slot.deployment]
    }

    /// The body for `slot`: the one built up front if it is that slot's.
    pub fn request_for(&mut self, slot: Slot) -> Result<UpstreamRequest, ProxyError> {
        match self.first.take() {
            Some((first, built)) if first == slot => Ok(built),
            other => {
                self.first = other;
                self.build(slot)
            }
        }
    }

    /// The most the request can cost whichever slot serves it: for each
    /// model and format it may be sent in, its input ceiling at the higher
    /// of the input and cache-write prices (input may be written to the
    /// cache) and its output cap. Slots that cannot express the request
    /// are dropped from the lineup.
    pub fn worst_cost(&mut self) -> i64 {
        let worst_of = |built: &UpstreamRequest, route: &Route| {
            let prices = Prices::from(&route.model);
            Tokens {
                input: built.max_input_tokens,
                output: built.max_output_tokens,
                ..Tokens::default()
            }
            .cost(&Prices {
                input: prices.input.max(prices.cache_write),
                ..prices
            })
        };
        let Some((first, built)) = &self.first else {
            return 0;
        };
        let mut worst = worst_of(built, &self.routes[first.route]);
        let mut seen = vec![(first.route, self.format_of(*first))];
        let mut unusable = Vec::new();
        for slot in self.lineup.clone() {
            let key = (slot.route, self.format_of(slot));
            if seen.contains(&key) {
                continue;
            }
            seen.push(key);
            match self.build(slot) {
                Ok(built) => worst = worst.max(worst_of(&built, &self.routes[slot.route])),
                Err(_) => unusable.push(key),
            }
        }
        let lineup = std::mem::take(&mut self.lineup);
        self.lineup = lineup
            .into_iter()
            .filter(|slot| !unusable.contains(&(slot.route, self.format_of(*slot))))
            .collect();
        worst
    }

    /// The output cap `slot`'s model is asked for.
    pub fn cap(&self, slot: Slot) -> i64 {
        self.caps[slot.route]
    }

    fn format_of(&self, slot: Slot) -> ApiFormat {
        self.deployment(slot).provider.adapter().format(self.format)
    }

    fn build(&self, slot: Slot) -> Result<UpstreamRequest, ProxyError> {
        match &self.request {
            Some(request) => self.build_from(request.clone(), slot),
            // One slot: its body was built up front and is never asked again.
            None => Err(ProxyError::new(
                ErrorKind::Internal,
                "the request was already sent",
                self.format,
            )),
        }
    }

    fn build_from(
        &self,
        request: ClientRequest,
        slot: Slot,
    ) -> Result<UpstreamRequest, ProxyError> {
        let deployment = self.deployment(slot);
        request.for_upstream(
            &deployment.upstream_model,
            self.format,
            self.format_of(slot),
            self.caps[slot.route],
            self.attachment_tokens,
        )
    }
}

/// Every deployment of `routes`, route by route: best priority (lowest
/// number) first, and within a priority in a random order drawn by weight,
/// so that first choices land in proportion to the weights.
pub fn lineup(routes: &[&Route], rng: &mut impl Rng) -> Vec<Slot> {
    if let [route] = routes
        && route.deployments.len() == 1
    {
        return vec![Slot {
            route: 0,
            deployment: 0,
        }];
    }
    let mut slots = Vec::new();
    for (route_index, route) in routes.iter().enumerate() {
        let mut priorities: Vec<i32> = route.deployments.iter().map(|d| d.priority).collect();
        priorities.sort_unstable();
        priorities.dedup();
        for priority in priorities {
            let mut tier: Vec<(usize, u32)> = route
                .deployments
                .iter()
                .enumerate()
                .filter(|(_, d)| d.priority == priority)
                .map(|(index, d)| (index, d.weight.max(1)))
                .collect();
            while !tier.is_empty() {
                let total: u64 = tier.iter().map(|(_, weight)| u64::from(*weight)).sum();
                let mut draw = rng.random_range(0..total);
                let picked = tier
                    .iter()
                    .position(|(_, weight)| {
                        let weight = u64::from(*weight);
                        if draw < weight {
                            true
                        } else {
                            draw -= weight;
                            false
                        }
                    })
                    .unwrap_or(0);
                let (deployment, _) = tier.remove(picked);
                slots.push(Slot {
                    route: route_index,
                    deployment,
                });
            }
        }
    }
    slots
}

/// What to do after an attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// The client's own mistake (400, 404, 413 …): answer it.
    Never,
    /// About this key (429, or the provider refused the key): skip the key
    /// for `cool_for` (`None`: the configured default) and try another.
    NextKey { cool_for: Option<Duration> },
    /// About the deployment (unreachable, timed out, 5xx): count it
    /// against the deployment and go on to the next.
    NextDeployment,
}

impl Retry {
    /// After a provider answered `status` with `headers`.
    pub fn after_status(status: StatusCode, headers: &HeaderMap, key_refused: Duration) -> Self {
        match status.as_u16() {
            429 => Self::NextKey {
                cool_for: retry_after(headers),
            },
            401 | 403 => Self::NextKey {
                cool_for: Some(key_refused),
            },
            408 | 500..=599 => Self::NextDeployment,
            _ => Self::Never,
        }
    }

    /// After the provider could not be asked.
    pub fn after_send(_: &SendError) -> Self {
        Self::NextDeployment
    }
}

/// A `Retry-After` in seconds (the HTTP-date form is rare among LLM
/// providers and is read as absent).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|secs| secs.is_finite() && *secs >= 0.0)
        .map(|secs| Duration::from_secs_f64(secs.min(3_600.0)))
}

#[cfg(test)]
mod tests {
    use rand::{SeedableRng, rngs::StdRng};

    use super::*;
    use crate::{gateway::proxy::catalog::Upstream, platform::entity::provider::ProviderKind};

    fn route(deployments: &[(u32, i32)]) -> Route {
        let provider = Arc::new(Upstream::for_tests(ProviderKind::Mock));
        Route {
            model: crate::platform::entity::shadow_model::Model {
                id: "model_1".into(),
                public_name: "m".into(),
                kind: Default::default(),
                provider_id: "p".into(),
                upstream_model: "u".into(),
                input_price: 0,
                output_price: 0,
                cache_read_price: 0,
                cache_write_price: 0,
                max_output_tokens: None,
                enabled: true,
                plans: "[]".into(),
                fallbacks: "[]".into(),
                managed_by: None,
                created_at: crate::platform::time::now(),
                updated_at: crate::platform::time::now(),
            },
            plans: Vec::new(),
            deployments: deployments
                .iter()
                .enumerate()
                .map(|(index, (weight, priority))| {
                    Deployment::new(
                        format!("d{index}"),
                        provider.clone(),
                        "u".into(),
                        *weight,
                        *priority,
                    )
                })
                .collect(),
            fallbacks: Vec::new(),
            name_header: None,
        }
    }

    #[test]
    fn first_choices_follow_the_weights_within_three_percent() {
        let route = route(&[(3, 0), (1, 0)]);
        let mut rng = StdRng::seed_from_u64(18);
        let mut firsts = 0_u32;
        let draws = 10_000;
        for _ in 0..draws {
            let order = lineup(&[&route], &mut rng);
            assert_eq!(order.len(), 2, "every deployment is in the lineup once");
            if order[0].deployment == 0 {
                firsts += 1;
            }
        }
        let share = f64::from(firsts) / f64::from(draws);
        assert!(
            (share - 0.75).abs() < 0.03,
            "the 3-weighted one came first {share}"
        );
    }

    #[test]
    fn better_priorities_come_first_then_the_fallbacks() {
        let main = route(&[(1, 1), (5, 0), (1, 0)]);
        let fallback = route(&[(1, 0)]);
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..50 {
            let order = lineup(&[&main, &fallback], &mut rng);
            let routes_and_priorities: Vec<(usize, i32)> = order
                .iter()
                .map(|slot| {
                    let route = if slot.route == 0 { &main } else { &fallback };
                    (slot.route, route.deployments[slot.deployment].priority)
                })
                .collect();
            assert_eq!(routes_and_priorities, [(0, 0), (0, 0), (0, 1), (1, 0)]);
        }
    }

    #[test]
    fn only_what_another_attempt_could_fix_is_retried() {
        let quiet = HeaderMap::new();
        let refused = Duration::from_secs(30);
        for status in [400, 404, 413, 422] {
            let status = StatusCode::from_u16(status).unwrap();
            assert_eq!(Retry::after_status(status, &quiet, refused), Retry::Never);
        }
        for status in [500, 502, 503, 504, 529] {
            let status = StatusCode::from_u16(status).unwrap();
            assert_eq!(
                Retry::after_status(status, &quiet, refused),
                Retry::NextDeployment
            );
        }
        let mut waiting = HeaderMap::new();
        waiting.insert(header::RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(
            Retry::after_status(StatusCode::TOO_MANY_REQUESTS, &waiting, refused),
            Retry::NextKey {
                cool_for: Some(Duration::from_secs(7))
            }
        );
        assert_eq!(
            Retry::after_status(StatusCode::TOO_MANY_REQUESTS, &quiet, refused),
            Retry::NextKey { cool_for: None }
        );
    }
}

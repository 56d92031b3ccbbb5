//! Token counts and what they cost, exactly, in integer micro-credits, and
//! their sums over many requests.

use sea_orm::FromQueryResult;

use crate::platform::entity::{shadow_model, usage_record};

/// Tokens of one request, normalised across providers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tokens {
    /// Input not served from (or written to) the provider's cache.
    pub input: i64,
    pub output: i64,
    pub cache_read: i64,
    pub cache_write: i64,
    /// Already counted in `output`; kept for reporting.
    pub reasoning: i64,
}

/// Micro-credits per million tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prices {
    pub input: i64,
    pub output: i64,
    pub cache_read: i64,
    pub cache_write: i64,
}

impl From<&shadow_model::Model> for Prices {
    fn from(model: &shadow_model::Model) -> Self {
        Self {
            input: model.input_price,
            output: model.output_price,
            cache_read: model.cache_read_price,
            cache_write: model.cache_write_price,
        }
    }
}

const TOKENS_PER_PRICE_UNIT: i128 = 1_000_000;

impl Tokens {
    /// Every token the provider processed, as rate limits count them:
    /// input, cached or not, and output.
    pub fn total(&self) -> u64 {
        let sum = self.input + self.output + self.cache_read + self.cache_write;
        u64::try_from(sum.max(0)).unwrap_or(0)
    }

    /// The cost in micro-credits: summed exactly, then rounded up once, so
    /// a request that used anything is never free and rounding never
    /// compounds across token kinds.
    pub fn cost(&self, prices: &Prices) -> i64 {
        let exact: i128 = i128::from(self.input) * i128::from(prices.input)
            + i128::from(self.output) * i128::from(prices.output)
            + i128::from(self.cache_read) * i128::from(prices.cache_read)
            + i128::from(self.cache_write) * i128::from(prices.cache_write);
        let rounded_up = (exact.max(0) + TOKENS_PER_PRICE_UNIT - 1) / TOKENS_PER_PRICE_UNIT;
        i64::try_from(rounded_up).unwrap_or(i64::MAX)
    }
}

/// Requests summed: what the usage writer adds to the rollups, and what the
/// reports read back (aggregates select these names).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromQueryResult)]
pub struct UsageSums {
    pub requests: i64,
    /// Requests answered with a status of 400 or more.
    pub errors: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_read_tokens: i64,
    pub cache_write_tokens: i64,
    /// Micro-credits the requests cost.
    pub cost: i64,
    /// Micro-credits the balance was charged: the cost, unless it ran out.
    pub charged: i64,
}

impl UsageSums {
    /// One request.
    pub fn of(row: &usage_record::Model) -> Self {
        Self {
            requests: 1,
            errors: i64::from(row.status_code >= 400),
            input_tokens: row.input_tokens,
            output_tokens: row.output_tokens,
            cache_read_tokens: row.cache_read_tokens,
            cache_write_tokens: row.cache_write_tokens,
            cost: row.cost,
            charged: row.charged,
        }
    }

    pub fn add(&mut self, other: &Self) {
        self.requests += other.requests;
        self.errors += other.errors;
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cache_read_tokens += other.cache_read_tokens;
        self.cache_write_tokens += other.cache_write_tokens;
        self.cost += other.cost;
        self.charged += other.charged;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SONNET: Prices = Prices {
        input: 3_000_000,
        output: 15_000_000,
        cache_read: 300_000,
        cache_write: 3_750_000,
    };

    #[test]
    fn whole_millions_cost_exactly_the_price() {
        let tokens = Tokens {
            input: 1_000_000,
            output: 2_000_000,
            ..Tokens::default()
        };
        assert_eq!(tokens.cost(&SONNET), 3_000_000 + 30_000_000);
    }

    #[test]
    fn fractions_are_summed_before_one_rounding_up() {
        // One input token costs 3 µc and one cache read 0.3 µc: 3.3 → 4.
        let tokens = Tokens {
            input: 1,
            cache_read: 1,
            ..Tokens::default()
        };
        assert_eq!(tokens.cost(&SONNET), 4);
        let tokens = Tokens {
            input: 10,
            output: 20,
            cache_read: 100,
            cache_write: 50,
            reasoning: 0,
        };
        // 30 + 300 + 30 + 187.5 = 547.5 → 548
        assert_eq!(tokens.cost(&SONNET), 548);
    }

    #[test]
    fn nothing_used_costs_nothing() {
        assert_eq!(Tokens::default().cost(&SONNET), 0);
    }

    #[test]
    fn huge_counts_do_not_overflow() {
        let tokens = Tokens {
            output: i64::MAX,
            ..Tokens::default()
        };
        assert_eq!(tokens.cost(&SONNET), i64::MAX);
    }
}

//! Rate-limit windows in Redis: the same GCRA as the in-memory windows
//! (`limits::window`), one value per window (the time it is next full), so
//! a limit of N a minute lets N through across every instance, not N per
//! instance.

use std::time::Duration;

use super::{Cluster, Op, Unavailable};

/// One window a request counts against.
#[derive(Debug, Clone)]
pub struct SharedWindow {
    key: String,
    /// Microseconds, not rounded: a limit of millions a minute is a
    /// fraction of one.
    interval_us: f64,
    pub limit: u32,
}

/// A window's state after a request was let in.
#[derive(Debug, Clone, Copy)]
pub struct Taken {
    pub remaining: u32,
    /// Until the window is full again.
    pub reset: Duration,
}

/// The first window that refused, and when to try again.
#[derive(Debug, Clone, Copy)]
pub struct Full {
    pub index: usize,
    pub retry_after: Duration,
}

impl Cluster {
    /// The window of `subject` (`k:<key>` or `u:<user>`) for one kind
    /// (`requests` or `tokens`) at `limit` a minute; a new limit is a new
    /// window, as in memory.
    pub fn window(&self, kind: &str, subject: &str, limit: u32) -> SharedWindow {
        SharedWindow {
            key: self.key("r", &format!("{kind}:{subject}:{limit}")),
            interval_us: 60_000_000.0 / f64::from(limit.max(1)),
            limit,
        }
    }

    /// Takes one cell from every window, or none; one round trip. A
    /// request that holds takes them with its hold ([`Cluster::reserve`]).
    pub async fn admit(&self, windows: &[SharedWindow]) -> Result<Decided, Unavailable> {
        if windows.is_empty() {
            return Ok(Ok(Vec::new()));
        }
        let mut invocation = self.scripts.admit.prepare_invoke();
        add_windows(&mut invocation, windows);
        let mut redis = self.connection();
        let reply: Vec<i64> = invocation.invoke_async(&mut redis).await?;
        let (decided, _) = read_windows(&reply, windows.len())?;
        Ok(decided)
    }

    /// Counts a request's tokens beyond the one it was let in with.
    pub fn add_tokens(&self, window: &SharedWindow, tokens: u64) {
        if tokens > 0 {
            self.send_optional(Op::Tokens {
                window: window.key.clone(),
                interval_us: window.interval_us,
                tokens,
            });
        }
    }
}

/// Appends `windows` to a script's keys and arguments (`windows.lua`).
pub(super) fn add_windows(invocation: &mut redis::ScriptInvocation<'_>, windows: &[SharedWindow]) {
    for window in windows {
        invocation
            .key(&window.key)
            .arg(window.interval_us)
            .arg(window.limit);
    }
}

/// What `windows.lua` decided: each window's reading, or the one that was
/// full.
pub type Decided = Result<Vec<Taken>, Full>;

/// What `windows.lua` decided for `count` windows, and the rest of the
/// script's reply.
pub(super) fn read_windows(reply: &[i64], count: usize) -> Result<(Decided, &[i64]), Unavailable> {
    let micros = |value: i64| Duration::from_micros(u64::try_from(value).unwrap_or(0));
    match reply {
        [0, rest @ ..] if rest.len() >= 2 * count => {
            let (readings, rest) = rest.split_at(2 * count);
            let taken = readings
                .chunks_exact(2)
                .map(|reading| Taken {
                    remaining: u32::try_from(reading[0].max(0)).unwrap_or(u32::MAX),
                    reset: micros(reading[1]),
                })
                .collect();
            Ok((Ok(taken), rest))
        }
        [1, index, retry] => Ok((
            Err(Full {
                index: usize::try_from(*index - 1).unwrap_or(0),
                retry_after: micros(*retry),
            }),
            &[],
        )),
        _ => Err(Unavailable(redis::RedisError::from((
            redis::ErrorKind::UnexpectedReturnType,
            "unexpected reply from a rate-limit script",
        )))),
    }
}

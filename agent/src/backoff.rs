//! Reconnection delays: 1 s doubling up to 30 s, each shortened by a random part so that many nodes cut off
//! together do not all come back in the same second.

use std::time::Duration;

const FIRST: Duration = Duration::from_secs(1);
const LONGEST: Duration = Duration::from_secs(30);
/// The share of a delay that jitter may take away.
const JITTER: f64 = 0.25;

#[derive(Debug)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { next: FIRST }
    }
}

impl Backoff {
    /// The delay before the next attempt; `random` in [0, 1) picks the jitter (a parameter, so tests choose it).
    pub fn next_delay(&mut self, random: f64) -> Duration {
        let base = self.next;
        self.next = (base * 2).min(LONGEST);
        base.mul_f64(1.0 - JITTER * random.clamp(0.0, 1.0))
    }

    /// After a success the next failure starts again from the first delay.
    pub fn reset(&mut self) {
        self.next = FIRST;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_from_one_second_up_to_thirty() {
        let mut backoff = Backoff::default();
        let secs: Vec<u64> = (0..8).map(|_| backoff.next_delay(0.0).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 30, 30, 30]);
    }

    #[test]
    fn jitter_only_shortens_a_delay_by_at_most_a_quarter() {
        let mut backoff = Backoff::default();
        assert_eq!(backoff.next_delay(0.999_999).as_millis(), 750);
        assert_eq!(backoff.next_delay(0.5), Duration::from_millis(1750));
        assert_eq!(backoff.next_delay(7.0), Duration::from_secs(3));
    }

    #[test]
    fn a_reset_starts_again_from_one_second() {
        let mut backoff = Backoff::default();
        backoff.next_delay(0.0);
        backoff.next_delay(0.0);
        backoff.reset();
        assert_eq!(backoff.next_delay(0.0), FIRST);
    }
}

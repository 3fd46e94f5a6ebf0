//! Money as integers: nano-USD (10⁻⁹ USD), so sums are exact and never drift.

use std::fmt;

/// An amount of money in nano-USD.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NanoUsd(pub i64);

/// Why a dollar amount was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MoneyError {
    #[error("`{0}` is not an amount in USD (expected a number such as 25 or 12.50)")]
    NotANumber(String),
    #[error("`{0}` must not be negative")]
    Negative(String),
    #[error("`{0}` is too large")]
    TooLarge(String),
}

impl NanoUsd {
    /// Nano-USD in one USD.
    pub const PER_USD: i64 = 1_000_000_000;

    /// Parses a non-negative USD amount such as `25` or `12.50` (at most 9 decimals are kept).
    pub fn parse_usd(text: &str) -> Result<Self, MoneyError> {
        let trimmed = text.trim().trim_start_matches('$');
        let value: f64 = trimmed
            .parse()
            .map_err(|_| MoneyError::NotANumber(text.to_owned()))?;
        if !value.is_finite() {
            return Err(MoneyError::NotANumber(text.to_owned()));
        }
        if value < 0.0 {
            return Err(MoneyError::Negative(text.to_owned()));
        }
        let nanos = (value * Self::PER_USD as f64).round();
        if nanos >= i64::MAX as f64 {
            return Err(MoneyError::TooLarge(text.to_owned()));
        }
        Ok(Self(nanos as i64))
    }

    /// The amount in USD, for display.
    pub fn as_usd(self) -> f64 {
        self.0 as f64 / Self::PER_USD as f64
    }
}

impl fmt::Display for NanoUsd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "${:.2}", self.as_usd())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dollar_amounts_exactly() {
        assert_eq!(NanoUsd::parse_usd("25"), Ok(NanoUsd(25_000_000_000)));
        assert_eq!(NanoUsd::parse_usd("0.10"), Ok(NanoUsd(100_000_000)));
        assert_eq!(NanoUsd::parse_usd("$12.5"), Ok(NanoUsd(12_500_000_000)));
        assert!(matches!(
            NanoUsd::parse_usd("-1"),
            Err(MoneyError::Negative(_))
        ));
        assert!(matches!(
            NanoUsd::parse_usd("ten"),
            Err(MoneyError::NotANumber(_))
        ));
        assert!(matches!(
            NanoUsd::parse_usd("NaN"),
            Err(MoneyError::NotANumber(_))
        ));
        assert!(matches!(
            NanoUsd::parse_usd("1e300"),
            Err(MoneyError::TooLarge(_))
        ));
    }
}

//! Budgets on the data path: which budgets a request is charged against, the period each is
//! in (UTC boundaries), and the most a request can cost, which is what gets reserved.

use chrono::{Datelike, TimeZone, Utc};

use super::snapshot::{KeyPolicy, Snapshot};
use crate::domain::time::EpochMillis;
use crate::metering::prices::Prices;
use crate::storage::spend::Charge;

/// Output tokens assumed for the reservation when the caller sets no `max_tokens`.
pub const DEFAULT_MAX_OUTPUT: u64 = 4096;

/// A budget as the snapshot keeps it.
#[derive(Clone, Debug)]
pub struct BudgetPolicy {
    pub id: String,
    pub scope_type: String,
    pub scope_id: String,
    pub period: String,
    pub limit_nusd: i64,
    /// Alert thresholds in percent of the limit.
    pub thresholds: Vec<u8>,
}

/// The start of the period containing `now` (UTC): midnight, Monday midnight, the 1st, or 0.
pub fn period_start(period: &str, now: EpochMillis) -> EpochMillis {
    period_start_in(period, now, chrono_tz::UTC)
}

/// The start of the period containing `now` in time zone `tz` (midnight, Monday midnight or
/// the 1st, local time), as a UTC instant; 0 for `total`.
pub fn period_start_in(period: &str, now: EpochMillis, tz: chrono_tz::Tz) -> EpochMillis {
    let Some(t) = Utc.timestamp_millis_opt(now).single() else {
        return 0;
    };
    let local = t.with_timezone(&tz);
    let day = local.date_naive();
    let start = match period {
        "daily" => day,
        "weekly" => day - chrono::Days::new(u64::from(local.weekday().num_days_from_monday())),
        "monthly" => day.with_day(1).unwrap_or(day),
        _ => return 0,
    };
    let Some(midnight) = start.and_hms_opt(0, 0, 0) else {
        return 0;
    };
    // Midnight can fall in a DST gap; then the period starts at the first instant after it.
    match tz.from_local_datetime(&midnight) {
        chrono::LocalResult::Single(s) | chrono::LocalResult::Ambiguous(s, _) => {
            s.timestamp_millis()
        }
        chrono::LocalResult::None => tz
            .from_local_datetime(&(midnight + chrono::Duration::hours(1)))
            .earliest()
            .map_or(0, |s| s.timestamp_millis()),
    }
}

/// Every budget the request is charged against: its tenant's, its key's team's, its key's, its
/// end user's and the requested model's.
pub fn charges(
    snapshot: &Snapshot,
    key: &KeyPolicy,
    end_user: Option<&str>,
    model: &str,
    now: EpochMillis,
) -> Vec<Charge> {
    let Some(budgets) = snapshot.budgets.get(&key.tenant_id) else {
        return Vec::new();
    };
    let tz = snapshot.tenant(&key.tenant_id).timezone;
    let mut out: Vec<Charge> = budgets
        .iter()
        .filter(|b| match b.scope_type.as_str() {
            "tenant" => b.scope_id == key.tenant_id,
            "team" => key.team_id.as_deref() == Some(b.scope_id.as_str()),
            "key" => b.scope_id == key.key_id,
            "user" => end_user == Some(b.scope_id.as_str()),
            "model" => b.scope_id == model,
            _ => false,
        })
        .map(|b| Charge {
            budget_id: b.id.clone(),
            thresholds: b.thresholds.clone(),
            tenant_id: key.tenant_id.clone(),
            scope_type: b.scope_type.clone(),
            scope_id: b.scope_id.clone(),
            period: b.period.clone(),
            period_start: period_start_in(&b.period, now, tz),
            limit_nusd: b.limit_nusd,
        })
        .collect();
    // A fixed order, so concurrent reservations lock rows in the same order.
    out.sort_by(|a, b| (&a.scope_type, &a.scope_id).cmp(&(&b.scope_type, &b.scope_id)));
    out
}

/// The most the request can cost: the prompt at the input price and the output cap at the
/// output price, for the dearest candidate.
pub fn max_cost<'a>(
    prices: impl IntoIterator<Item = Option<&'a Prices>>,
    prompt_tokens: u64,
    max_tokens: Option<u32>,
) -> i64 {
    let output = max_tokens.map_or(DEFAULT_MAX_OUTPUT, u64::from);
    prices
        .into_iter()
        .flatten()
        .map(|p| {
            let cost = i128::from(p.input) * i128::from(prompt_tokens)
                + i128::from(p.output) * i128::from(output);
            i64::try_from((cost + 999_999) / 1_000_000)
                .unwrap_or(i64::MAX)
                .saturating_add(p.per_request)
        })
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_start_on_utc_boundaries() {
        // Wednesday 2026-11-25 13:45 UTC.
        let now = Utc
            .with_ymd_and_hms(2026, 11, 25, 13, 45, 0)
            .unwrap()
            .timestamp_millis();
        let at = |y, m, d| {
            Utc.with_ymd_and_hms(y, m, d, 0, 0, 0)
                .unwrap()
                .timestamp_millis()
        };
        assert_eq!(period_start("daily", now), at(2026, 11, 25));
        assert_eq!(period_start("weekly", now), at(2026, 11, 23));
        assert_eq!(period_start("monthly", now), at(2026, 11, 1));
        assert_eq!(period_start("total", now), 0);
    }

    #[test]
    fn periods_start_at_local_midnight_in_the_tenant_time_zone() {
        // 2026-11-25 13:45 UTC is 2026-11-25 22:45 in Tokyo (UTC+9) and 08:45 in New York (UTC-5).
        let now = Utc
            .with_ymd_and_hms(2026, 11, 25, 13, 45, 0)
            .unwrap()
            .timestamp_millis();
        let tokyo: chrono_tz::Tz = "Asia/Tokyo".parse().unwrap();
        let ny: chrono_tz::Tz = "America/New_York".parse().unwrap();
        let utc = |y, m, d, h| {
            Utc.with_ymd_and_hms(y, m, d, h, 0, 0)
                .unwrap()
                .timestamp_millis()
        };
        assert_eq!(period_start_in("daily", now, tokyo), utc(2026, 11, 24, 15));
        assert_eq!(period_start_in("daily", now, ny), utc(2026, 11, 25, 5));
        assert_eq!(
            period_start_in("monthly", now, tokyo),
            utc(2026, 10, 31, 15)
        );
        // 2027-03-14 is the DST switch in New York; the week starts on Monday 2027-03-08, EST.
        let dst = utc(2027, 3, 14, 12);
        assert_eq!(period_start_in("weekly", dst, ny), utc(2027, 3, 8, 5));
    }

    #[test]
    fn the_reservation_covers_the_dearest_candidate() {
        let cheap = Prices {
            input: 1_000_000_000,
            output: 2_000_000_000,
            ..Prices::default()
        };
        let dear = Prices {
            input: 3_000_000_000,
            output: 15_000_000_000,
            ..Prices::default()
        };
        // 100 prompt tokens and 50 output tokens at $3/M and $15/M = $0.00105.
        assert_eq!(
            max_cost([Some(&cheap), Some(&dear)], 100, Some(50)),
            1_050_000
        );
        assert_eq!(max_cost([None], 100, Some(50)), 0);
        assert_eq!(max_cost([Some(&cheap)], 0, None), 8_192_000);
    }
}

//! The Usage page: spend, tokens and requests per day as SVG charts over a time range, what the
//! response cache saved, totals grouped by model, team, key or end user (with each group's
//! saving), and the same grouping as a CSV download.

use std::collections::HashMap;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::chart::{self, Chart};
use super::{Ctx, count, dashboard_page, failure, render, to_login, usd};
use crate::control_plane::api::error::ApiFailure;
use crate::control_plane::auth::principal::Principal;
use crate::control_plane::{keys, members};
use crate::domain::money::NanoUsd;
use crate::domain::time::now_millis;
use crate::state::AppState;
use crate::storage::usage::{self, GroupBy, UsageGroup};

const DAY_MS: i64 = 24 * 3_600_000;

/// `?group_by=model|team|key|user&days=7|30|90`.
#[derive(Debug, Default, Deserialize)]
pub struct UsageQuery {
    group_by: Option<String>,
    days: Option<i64>,
}

impl UsageQuery {
    fn group_by(&self) -> GroupBy {
        match self.group_by.as_deref() {
            Some("team") => GroupBy::Team,
            Some("key") => GroupBy::Key,
            Some("user") => GroupBy::User,
            _ => GroupBy::Model,
        }
    }

    fn group_name(&self) -> &'static str {
        match self.group_by() {
            GroupBy::Team => "team",
            GroupBy::Key => "key",
            GroupBy::User => "user",
            _ => "model",
        }
    }

    fn days(&self) -> i64 {
        self.days
            .filter(|d| [1, 7, 30, 90].contains(d))
            .unwrap_or(30)
    }

    /// `[from, to)`: whole UTC days ending with today.
    fn range(&self) -> (i64, i64) {
        let now = now_millis();
        let to = now - now.rem_euclid(DAY_MS) + DAY_MS;
        (to - self.days() * DAY_MS, to)
    }
}

/// A grouped row.
pub struct GroupRow {
    pub name: String,
    pub requests: String,
    pub errors: String,
    pub tokens: String,
    pub cost: String,
    pub cost_nusd: i64,
    /// What cache hits of this group saved.
    pub saved: String,
}

#[derive(Template)]
#[template(path = "dashboard/usage.html")]
struct UsagePage {
    ctx: Ctx,
    charts: Vec<Chart>,
    rows: Vec<GroupRow>,
    max_cost: i64,
    group_by: &'static str,
    group_label: &'static str,
    days: i64,
    has_usage: bool,
    /// Spend over the range.
    spend: String,
    /// What cache hits saved over the range.
    saved: String,
}

dashboard_page!(UsagePage);

/// Display names for team and key ids.
async fn names(state: &AppState, p: &Principal, by: GroupBy) -> HashMap<String, String> {
    match by {
        GroupBy::Team => members::list_teams(&state.db, &p.tenant)
            .await
            .map(|teams| teams.into_iter().map(|t| (t.id, t.name)).collect())
            .unwrap_or_default(),
        GroupBy::Key => keys::list(&state.db, &p.tenant)
            .await
            .map(|keys| {
                keys.into_iter()
                    .map(|k| (k.id, format!("{} ({})", k.name, k.display)))
                    .collect()
            })
            .unwrap_or_default(),
        _ => HashMap::new(),
    }
}

fn label(names: &HashMap<String, String>, by: GroupBy, group: &str) -> String {
    if group.is_empty() {
        return match by {
            GroupBy::Team => "(no team)".into(),
            GroupBy::User => "(no end user)".into(),
            _ => "(none)".into(),
        };
    }
    names
        .get(group)
        .cloned()
        .unwrap_or_else(|| group.to_owned())
}

async fn grouped(
    state: &AppState,
    p: &Principal,
    q: &UsageQuery,
) -> Result<Vec<UsageGroup>, ApiFailure> {
    let (from, to) = q.range();
    let mut rows = usage::grouped(&state.db, &p.tenant, q.group_by(), from, to).await?;
    rows.sort_by(|a, b| {
        b.cost_nusd
            .cmp(&a.cost_nusd)
            .then(b.requests.cmp(&a.requests))
    });
    Ok(rows)
}

fn charts(days: &[UsageGroup], from: i64, count_days: i64) -> Vec<Chart> {
    let by_day: HashMap<i64, &UsageGroup> = days
        .iter()
        .filter_map(|g| g.group.parse::<i64>().ok().map(|d| (d, g)))
        .collect();
    let series = |value: &dyn Fn(&UsageGroup) -> f64| -> Vec<(String, f64)> {
        (0..count_days)
            .map(|i| {
                let day = from + i * DAY_MS;
                let label = chrono::DateTime::from_timestamp_millis(day)
                    .map_or_else(String::new, |d| d.format("%b %d").to_string());
                (label, by_day.get(&day).map_or(0.0, |g| value(g)))
            })
            .collect()
    };
    vec![
        chart::bars(
            "spend",
            "Spend per day",
            &series(&|g| g.cost_nusd as f64),
            |v| usd(v as i64),
        ),
        chart::bars(
            "tokens",
            "Tokens per day",
            &series(&|g| (g.prompt_tokens + g.completion_tokens) as f64),
            |v| count(v as i64),
        ),
        chart::bars(
            "requests",
            "Requests per day",
            &series(&|g| g.requests as f64),
            |v| count(v as i64),
        ),
    ]
}

/// `GET /app/usage`.
pub async fn page(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Option<Principal>,
    query: web::Query<UsageQuery>,
) -> HttpResponse {
    let Some(p) = p else {
        return to_login();
    };
    let q = query.into_inner();
    let mut ctx = Ctx::new(&req, &state, &p, "Usage", "usage").await;
    let (from, to) = q.range();
    let loaded = async {
        let days = usage::grouped(&state.db, &p.tenant, GroupBy::Day, from, to).await?;
        Ok::<_, ApiFailure>((days, grouped(&state, &p, &q).await?))
    }
    .await;
    let (days, groups) = loaded.unwrap_or_else(|e| {
        ctx.error = Some(failure(&e).1);
        Default::default()
    });
    let by = q.group_by();
    let names = names(&state, &p, by).await;
    let rows: Vec<GroupRow> = groups
        .iter()
        .map(|g| GroupRow {
            name: label(&names, by, &g.group),
            requests: count(g.requests),
            errors: count(g.errors),
            tokens: count(g.prompt_tokens + g.completion_tokens),
            cost: usd(g.cost_nusd),
            cost_nusd: g.cost_nusd,
            saved: usd(g.saved_nusd),
        })
        .collect();
    let page = UsagePage {
        ctx,
        charts: charts(&days, from, q.days()),
        max_cost: rows.iter().map(|r| r.cost_nusd).max().unwrap_or(0).max(1),
        has_usage: days.iter().any(|d| d.requests > 0),
        spend: usd(days.iter().map(|d| d.cost_nusd).sum()),
        saved: usd(days.iter().map(|d| d.saved_nusd).sum()),
        rows,
        group_by: q.group_name(),
        group_label: match q.group_by() {
            GroupBy::Team => "Team",
            GroupBy::Key => "Key",
            GroupBy::User => "End user",
            _ => "Model",
        },
        days: q.days(),
    };
    render(StatusCode::OK, &page)
}

/// A CSV field: quoted when needed; a leading formula character is neutralised so the file
/// is safe to open in a spreadsheet.
fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// `GET /app/usage.csv`: the grouped totals as CSV.
pub async fn csv(
    state: web::Data<AppState>,
    p: Option<Principal>,
    query: web::Query<UsageQuery>,
) -> HttpResponse {
    let Some(p) = p else {
        return to_login();
    };
    let q = query.into_inner();
    let groups = match grouped(&state, &p, &q).await {
        Ok(groups) => groups,
        Err(e) => {
            let (status, message) = failure(&e);
            return HttpResponse::build(status).body(message);
        }
    };
    let by = q.group_by();
    let names = names(&state, &p, by).await;
    let mut out = format!(
        "{},name,requests,errors,prompt_tokens,completion_tokens,cost_usd,saved_usd\n",
        q.group_name()
    );
    for g in &groups {
        out.push_str(&format!(
            "{},{},{},{},{},{},{:.9},{:.9}\n",
            csv_field(&g.group),
            csv_field(&label(&names, by, &g.group)),
            g.requests,
            g.errors,
            g.prompt_tokens,
            g.completion_tokens,
            NanoUsd(g.cost_nusd).as_usd(),
            NanoUsd(g.saved_nusd).as_usd()
        ));
    }
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!(
                "attachment; filename=\"usage-by-{}-{}d.csv\"",
                q.group_name(),
                q.days()
            ),
        ))
        .body(out)
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(csv_field("gpt-4o"), "gpt-4o");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=cmd()"), "'=cmd()");
    }
}

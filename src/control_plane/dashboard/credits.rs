//! The Credits page: the prepaid balance and what requests in flight hold of it, the
//! low-balance threshold, the auto-recharge rule (admin+), "Add credits" through Stripe
//! Checkout (admin+; a 303 to Stripe's hosted page, which returns here), and the ledger
//! (purchases with receipt links, usage per UTC day, refunds, disputes, grants) in pages.
//! Every member of the tenant may look; only admins and owners buy or change the rule.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{Ctx, blank_none, dashboard_page, failure, render, see_other, to_login, usd};
use crate::billing;
use crate::config::Settings;
use crate::control_plane::api::activity::{read_cursor, write_cursor};
use crate::control_plane::api::credits::{origin, parse_usd, rule};
use crate::control_plane::api::error::ApiFailure;
use crate::control_plane::auth::guard::CONTENT_SECURITY_POLICY;
use crate::control_plane::auth::principal::Principal;
use crate::domain::money::NanoUsd;
use crate::domain::role::Role;
use crate::state::AppState;

/// Ledger rows per page.
const PAGE_SIZE: u64 = 25;

/// A ledger row.
pub struct LedgerRow {
    pub at: String,
    pub kind: String,
    pub description: String,
    pub amount: String,
    pub credit: bool,
    pub receipt_url: Option<String>,
}

fn kind_label(kind: &str) -> String {
    match kind {
        "purchase" => "Purchase",
        "usage" => "Usage",
        "refund" => "Refund",
        "dispute" => "Dispute",
        "trial" => "Free trial",
        "adjustment" => "Grant",
        "auto_recharge" => "Auto-recharge",
        other => other,
    }
    .to_owned()
}

#[derive(Template)]
#[template(path = "dashboard/credits.html")]
struct CreditsPage {
    ctx: Ctx,
    balance: String,
    reserved: String,
    available: String,
    low_balance: Option<String>,
    auto_recharge: Option<(String, String)>,
    purchases_enabled: bool,
    min_purchase: String,
    max_purchase: String,
    ledger: Vec<LedgerRow>,
    /// The query string of the next (older) page.
    next: Option<String>,
    /// Whether this is a later page (a link back to the newest).
    paged: bool,
    /// The form values to show again after an error.
    amount_usd: String,
    below_usd: String,
    recharge_usd: String,
}

dashboard_page!(CreditsPage);

/// The query of `GET /app/credits`.
#[derive(Debug, Default, Deserialize)]
pub struct CreditsQuery {
    /// `success` or `cancelled`: the buyer is back from Stripe Checkout.
    #[serde(default)]
    checkout: Option<String>,
    /// The ledger cursor.
    #[serde(default)]
    before: Option<String>,
}

/// The form values typed by the user, shown again with an error.
#[derive(Debug, Default)]
struct Typed {
    amount_usd: String,
    below_usd: String,
    recharge_usd: String,
}

/// The control plane's Content-Security-Policy with Stripe's hosted checkout among the
/// `form-action` sources (the "Add credits" form is redirected there, and browsers apply
/// `form-action` to redirects); the guard sends it on every control-plane response.
pub fn content_security_policy(settings: &Settings) -> String {
    let mut sources = vec![
        "'self'".to_owned(),
        "https://checkout.stripe.com".to_owned(),
    ];
    if let Ok(api) = url::Url::parse(&settings.stripe.api_base)
        && api.host_str() != Some("api.stripe.com")
    {
        // A Stripe-compatible server (tests, mocks) hosts its checkout pages itself.
        sources.push(api.origin().ascii_serialization());
    }
    CONTENT_SECURITY_POLICY.replace(
        "form-action 'self'",
        &format!("form-action {}", sources.join(" ")),
    )
}

async fn show(
    req: &HttpRequest,
    state: &AppState,
    p: &Principal,
    query: &CreditsQuery,
    outcome: Option<(StatusCode, String)>,
    typed: Typed,
) -> HttpResponse {
    let mut ctx = Ctx::new(req, state, p, "Credits", "credits").await;
    ctx.notice = match query.checkout.as_deref() {
        Some("success") => {
            Some("Payment received — credits appear once Stripe confirms it.".to_owned())
        }
        Some("cancelled") => Some("Checkout cancelled; nothing was charged.".to_owned()),
        _ => None,
    };
    let loaded = async {
        let cursor = read_cursor(query.before.as_deref())?;
        let before = cursor.as_ref().map(|(at, id)| (*at, id.as_str()));
        Ok::<_, ApiFailure>((
            billing::balance(&state.db, &p.tenant).await?,
            billing::ledger_page(&state.db, &p.tenant, before, PAGE_SIZE).await?,
        ))
    }
    .await;
    let (account, page) = match loaded {
        Ok(loaded) => (Some(loaded.0), Some(loaded.1)),
        Err(e) => {
            ctx.error = Some(failure(&e).1);
            (None, None)
        }
    };
    let status = match outcome {
        Some((code, message)) => {
            ctx.error = Some(message);
            code
        }
        None => StatusCode::OK,
    };
    let (balance, reserved) = account
        .as_ref()
        .map_or((0, 0), |a| (a.balance_nusd, a.reserved_nusd));
    let auto_recharge = account.as_ref().and_then(|a| {
        a.auto_recharge_below_nusd
            .zip(a.auto_recharge_amount_nusd)
            .map(|(below, amount)| (usd(below), usd(amount)))
    });
    let (rows, next) = page.map_or((Vec::new(), None), |p| (p.transactions, p.next));
    let ledger = rows
        .into_iter()
        .map(|t| LedgerRow {
            at: ctx.time(t.created_at),
            kind: kind_label(&t.kind),
            amount: usd(t.amount_nusd),
            credit: t.amount_nusd >= 0,
            description: t.description,
            receipt_url: t
                .receipt_url
                .filter(|u| u.starts_with("https://") || u.starts_with("http://")),
        })
        .collect();
    let settings = &state.settings;
    let page = CreditsPage {
        ctx,
        balance: usd(balance),
        reserved: usd(reserved),
        available: usd(balance - reserved),
        low_balance: settings
            .billing
            .low_balance_usd
            .map(|v| usd(billing::usd_to_nusd(v))),
        auto_recharge,
        purchases_enabled: billing::checkout::client(settings).is_ok(),
        min_purchase: NanoUsd(billing::usd_to_nusd(settings.billing.min_purchase_usd)).to_string(),
        max_purchase: NanoUsd(billing::usd_to_nusd(settings.billing.max_purchase_usd)).to_string(),
        ledger,
        next: next.map(|(at, id)| format!("before={}", write_cursor(at, &id))),
        paged: query.before.is_some(),
        amount_usd: typed.amount_usd,
        below_usd: typed.below_usd,
        recharge_usd: typed.recharge_usd,
    };
    render(status, &page)
}

/// `GET /app/credits`.
pub async fn page(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Option<Principal>,
    query: web::Query<CreditsQuery>,
) -> HttpResponse {
    match p {
        Some(p) => show(&req, &state, &p, &query, None, Typed::default()).await,
        None => to_login(),
    }
}

/// The "Add credits" form.
#[derive(Debug, Deserialize)]
pub struct CheckoutForm {
    #[serde(default)]
    amount_usd: String,
}

/// `POST /app/credits/checkout`: creates the Checkout Session and sends the buyer to Stripe.
pub async fn checkout(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Option<Principal>,
    form: web::Form<CheckoutForm>,
) -> HttpResponse {
    let Some(p) = p else {
        return to_login();
    };
    let result = async {
        p.require(Role::Admin)?;
        let amount = parse_usd("amount_usd", &form.amount_usd)?;
        Ok::<_, ApiFailure>(
            billing::checkout::checkout(
                &state.settings,
                &state.db,
                &p.tenant,
                amount,
                &origin(&req),
            )
            .await?,
        )
    }
    .await;
    match result {
        Ok(session) => see_other(&session.url),
        Err(e) => {
            let typed = Typed {
                amount_usd: form.amount_usd.clone(),
                ..Typed::default()
            };
            let outcome = Some(failure(&amount_field(e)));
            show(&req, &state, &p, &CreditsQuery::default(), outcome, typed).await
        }
    }
}

/// Names the amount field in the words of the form.
fn amount_field(e: ApiFailure) -> ApiFailure {
    match e {
        ApiFailure::Invalid {
            field: Some(field),
            message,
        } if field == "amount_usd" || field == "below_usd" => ApiFailure::Invalid {
            field: Some(if field == "amount_usd" {
                "amount".into()
            } else {
                "threshold".into()
            }),
            message,
        },
        other => other,
    }
}

/// The auto-recharge form.
#[derive(Debug, Deserialize)]
pub struct AutoRechargeForm {
    /// `on` when the box is ticked.
    #[serde(default)]
    enabled: Option<String>,
    #[serde(default)]
    below_usd: String,
    #[serde(default)]
    amount_usd: String,
}

/// `POST /app/credits/auto-recharge`.
pub async fn set_auto_recharge(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Option<Principal>,
    form: web::Form<AutoRechargeForm>,
) -> HttpResponse {
    let Some(p) = p else {
        return to_login();
    };
    let result = async {
        p.require(Role::Admin)?;
        let enabled = form.enabled.is_some();
        let below = blank_none(&form.below_usd)
            .map(|t| parse_usd("below_usd", &t))
            .transpose()?;
        let amount = blank_none(&form.amount_usd)
            .map(|t| parse_usd("amount_usd", &t))
            .transpose()?;
        let rule = rule(enabled, below, amount)?;
        billing::recharge::configure(&state.db, &p.tenant, rule, p.actor()).await?;
        Ok::<_, ApiFailure>(())
    }
    .await;
    match result {
        Ok(()) => see_other("/app/credits"),
        Err(e) => {
            let typed = Typed {
                below_usd: form.below_usd.clone(),
                recharge_usd: form.amount_usd.clone(),
                ..Typed::default()
            };
            let outcome = Some(failure(&amount_field(e)));
            show(&req, &state, &p, &CreditsQuery::default(), outcome, typed).await
        }
    }
}

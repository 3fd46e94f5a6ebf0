//! `/api/v1/credits`: the prepaid balance, its ledger, buying credits through Stripe Checkout
//! and the auto-recharge rule. Everyone in the tenant may read; admins and owners buy and
//! change auto-recharge.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::activity::{page_limit, read_cursor, write_cursor};
use super::error::ApiFailure;
use crate::billing::{self, BillingError};
use crate::config::Settings;
use crate::control_plane::auth::principal::Principal;
use crate::domain::money::NanoUsd;
use crate::domain::role::Role;
use crate::domain::time::to_rfc3339;
use crate::state::AppState;
use crate::storage::credits::{BalanceRow, TransactionRow};

impl From<BillingError> for ApiFailure {
    fn from(e: BillingError) -> Self {
        match e {
            BillingError::NotConfigured => ApiFailure::Conflict(
                "buying credits is not available: the operator has not configured Stripe".into(),
            ),
            BillingError::AmountOutOfRange { .. } | BillingError::FractionalCents => {
                ApiFailure::field("amount_usd", e.to_string())
            }
            BillingError::InvalidAutoRecharge => ApiFailure::field("auto_recharge", e.to_string()),
            BillingError::InvalidGrant => ApiFailure::field("amount", e.to_string()),
            BillingError::Stripe(_) => ApiFailure::Upstream(e.to_string()),
            BillingError::Storage(s) => s.into(),
        }
    }
}

/// A USD amount: a JSON number (`25`) or a decimal string (`"25.00"`).
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum UsdAmount {
    Number(f64),
    Text(String),
}

impl UsdAmount {
    /// The amount in nano-USD; `field` names it in the error.
    pub fn parse(&self, field: &str) -> Result<NanoUsd, ApiFailure> {
        let text = match self {
            UsdAmount::Number(n) => n.to_string(),
            UsdAmount::Text(t) => t.clone(),
        };
        parse_usd(field, &text)
    }
}

/// Reads a USD amount typed by a person (`25`, `25.00`, `$25`).
pub fn parse_usd(field: &str, text: &str) -> Result<NanoUsd, ApiFailure> {
    let text = text.trim();
    if text.is_empty() {
        return Err(ApiFailure::field(field, "enter an amount in USD"));
    }
    NanoUsd::parse_usd(text).map_err(|e| ApiFailure::field(field, e.to_string()))
}

/// The auto-recharge rule.
#[derive(Debug, Serialize, ToSchema)]
pub struct AutoRechargeView {
    /// Charge when the balance falls below this.
    pub below_nusd: i64,
    /// Charge this much (the card saved at the last Checkout).
    pub amount_nusd: i64,
    pub below_usd: f64,
    pub amount_usd: f64,
}

/// The tenant's credits.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreditsView {
    /// The balance, in nano-USD (1 USD = 10⁹).
    pub balance_nusd: i64,
    /// What requests in flight hold of it.
    pub reserved_nusd: i64,
    /// `balance − reserved`.
    pub available_nusd: i64,
    pub balance_usd: f64,
    /// The low-balance alert threshold (`[billing] low_balance_usd`), if any.
    pub low_balance_usd: Option<f64>,
    /// Off when absent.
    pub auto_recharge: Option<AutoRechargeView>,
    /// Whether credits can be bought here (Stripe is configured).
    pub purchases_enabled: bool,
}

impl CreditsView {
    /// The view of a balance row.
    pub fn new(row: &BalanceRow, settings: &Settings) -> Self {
        let auto_recharge = match (row.auto_recharge_below_nusd, row.auto_recharge_amount_nusd) {
            (Some(below), Some(amount)) => Some(AutoRechargeView {
                below_nusd: below,
                amount_nusd: amount,
                below_usd: NanoUsd(below).as_usd(),
                amount_usd: NanoUsd(amount).as_usd(),
            }),
            _ => None,
        };
        CreditsView {
            balance_nusd: row.balance_nusd,
            reserved_nusd: row.reserved_nusd,
            available_nusd: row.balance_nusd - row.reserved_nusd,
            balance_usd: NanoUsd(row.balance_nusd).as_usd(),
            low_balance_usd: settings.billing.low_balance_usd,
            auto_recharge,
            purchases_enabled: billing::checkout::client(settings).is_ok(),
        }
    }
}

/// One ledger transaction.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransactionView {
    pub id: String,
    /// `purchase`, `usage` (one per UTC day), `refund`, `dispute`, `trial`, `adjustment` or
    /// `auto_recharge`.
    pub kind: String,
    /// The change to the balance (negative for usage, refunds and disputes).
    pub amount_nusd: i64,
    pub amount_usd: f64,
    pub description: String,
    /// Stripe's receipt for a purchase, when known.
    pub receipt_url: Option<String>,
    pub created_at: String,
}

impl From<TransactionRow> for TransactionView {
    fn from(t: TransactionRow) -> Self {
        TransactionView {
            amount_usd: NanoUsd(t.amount_nusd).as_usd(),
            created_at: to_rfc3339(t.created_at),
            id: t.id,
            kind: t.kind,
            amount_nusd: t.amount_nusd,
            description: t.description,
            receipt_url: t.receipt_url,
        }
    }
}

/// A page of the ledger.
#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerPageView {
    pub data: Vec<TransactionView>,
    pub next_cursor: Option<String>,
}

/// A ledger page request: `cursor` from the previous page's `next_cursor`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct LedgerQuery {
    pub cursor: Option<String>,
    /// 1 to 200 (default 50).
    pub limit: Option<u64>,
}

/// A purchase.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutRequest {
    /// The amount of credits to buy, in USD (whole cents, within `[billing]` bounds).
    pub amount_usd: UsdAmount,
}

/// The auto-recharge rule to set.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AutoRechargeRequest {
    pub enabled: bool,
    /// Required when enabled: charge when the balance falls below this (USD).
    pub below_usd: Option<UsdAmount>,
    /// Required when enabled: how much to charge (USD, whole cents).
    pub amount_usd: Option<UsdAmount>,
}

/// The scheme and host the caller uses (for Checkout's return paths).
pub fn origin(req: &HttpRequest) -> String {
    let info = req.connection_info();
    format!("{}://{}", info.scheme(), info.host())
}

/// The tenant's balance, reservations and auto-recharge rule.
#[utoipa::path(get, path = "/api/v1/credits", tag = "credits",
    responses((status = 200, body = CreditsView)))]
pub async fn show(state: web::Data<AppState>, p: Principal) -> Result<HttpResponse, ApiFailure> {
    let row = billing::balance(&state.db, &p.tenant).await?;
    Ok(HttpResponse::Ok().json(CreditsView::new(&row, &state.settings)))
}

/// The tenant's ledger, newest first: purchases, usage per UTC day, refunds, disputes, grants.
#[utoipa::path(get, path = "/api/v1/credits/ledger", tag = "credits", params(LedgerQuery),
    responses((status = 200, body = LedgerPageView), (status = 400)))]
pub async fn ledger(
    state: web::Data<AppState>,
    p: Principal,
    query: web::Query<LedgerQuery>,
) -> Result<HttpResponse, ApiFailure> {
    let limit = page_limit(query.limit)?;
    let cursor = read_cursor(query.cursor.as_deref())?;
    let page = billing::ledger_page(
        &state.db,
        &p.tenant,
        cursor.as_ref().map(|(at, id)| (*at, id.as_str())),
        limit,
    )
    .await?;
    Ok(HttpResponse::Ok().json(LedgerPageView {
        next_cursor: page.next.map(|(at, id)| write_cursor(at, &id)),
        data: page.transactions.into_iter().map(Into::into).collect(),
    }))
}

/// Starts buying credits (admin): a Stripe Checkout Session; send the buyer to its `url`.
#[utoipa::path(post, path = "/api/v1/credits/checkout", tag = "credits",
    request_body = CheckoutRequest,
    responses((status = 201, body = crate::billing::checkout::CheckoutSession),
        (status = 400), (status = 403), (status = 409), (status = 502)))]
pub async fn checkout(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Principal,
    body: web::Json<CheckoutRequest>,
) -> Result<HttpResponse, ApiFailure> {
    p.require(Role::Admin)?;
    let amount = body.amount_usd.parse("amount_usd")?;
    let session =
        billing::checkout::checkout(&state.settings, &state.db, &p.tenant, amount, &origin(&req))
            .await?;
    Ok(HttpResponse::Created().json(session))
}

/// The rule from a request: `None` turns auto-recharge off.
pub fn rule(
    enabled: bool,
    below: Option<NanoUsd>,
    amount: Option<NanoUsd>,
) -> Result<Option<(i64, i64)>, ApiFailure> {
    if !enabled {
        return Ok(None);
    }
    let below = below.ok_or_else(|| ApiFailure::field("below_usd", "enter a threshold"))?;
    let amount = amount.ok_or_else(|| ApiFailure::field("amount_usd", "enter an amount"))?;
    if below.0 <= 0 {
        return Err(ApiFailure::field("below_usd", "must be more than $0"));
    }
    if amount.0 <= 0 {
        return Err(ApiFailure::field("amount_usd", "must be more than $0"));
    }
    if amount.0 % billing::NUSD_PER_CENT != 0 {
        return Err(ApiFailure::field(
            "amount_usd",
            "must be a whole number of cents",
        ));
    }
    Ok(Some((below.0, amount.0)))
}

/// Sets or turns off auto-recharge (admin).
#[utoipa::path(put, path = "/api/v1/credits/auto-recharge", tag = "credits",
    request_body = AutoRechargeRequest,
    responses((status = 200, body = CreditsView), (status = 400), (status = 403)))]
pub async fn set_auto_recharge(
    state: web::Data<AppState>,
    p: Principal,
    body: web::Json<AutoRechargeRequest>,
) -> Result<HttpResponse, ApiFailure> {
    p.require(Role::Admin)?;
    let below = body
        .below_usd
        .as_ref()
        .map(|v| v.parse("below_usd"))
        .transpose()?;
    let amount = body
        .amount_usd
        .as_ref()
        .map(|v| v.parse("amount_usd"))
        .transpose()?;
    let rule = rule(body.enabled, below, amount)?;
    billing::recharge::configure(&state.db, &p.tenant, rule, p.actor()).await?;
    let row = billing::balance(&state.db, &p.tenant).await?;
    Ok(HttpResponse::Ok().json(CreditsView::new(&row, &state.settings)))
}

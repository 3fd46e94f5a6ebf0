//! Prepaid credits: the cached balance with its reservations (`credit_balances`), the
//! double-entry ledger (`credit_transactions` + `credit_entries`) and the Stripe events applied
//! once (`stripe_events`).
//!
//! Every movement writes one transaction whose entries sum to zero: the tenant's `balance`
//! account against a counter account (`stripe`, `usage`, `promotions`, `adjustments`). The
//! cached `balance_nusd` changes in the same database transaction, so Σ entries of `balance`
//! always equals it. Usage is aggregated into one `usage` transaction per tenant per UTC day,
//! whose amount and entries grow in place with each settlement.

use sea_query::{Expr, ExprTrait, Iden, OnConflict, Order, Query};

use super::{Db, StorageError, Tx};

/// The tenant's spendable account in the ledger.
pub const BALANCE: &str = "balance";
/// Money that came from (or went back to) Stripe.
pub const STRIPE: &str = "stripe";
/// Credits consumed by requests.
pub const USAGE: &str = "usage";
/// Free credits (trial).
pub const PROMOTIONS: &str = "promotions";
/// Manual grants and corrections.
pub const ADJUSTMENTS: &str = "adjustments";

#[derive(Iden)]
enum CreditBalances {
    Table,
    TenantId,
    BalanceNusd,
    ReservedNusd,
    AutoRechargeBelowNusd,
    AutoRechargeAmountNusd,
    LastAutoRechargeAt,
    StripeCustomerId,
    StripePaymentMethodId,
    UpdatedAt,
}

#[derive(Iden)]
enum CreditTransactions {
    Table,
    Id,
    TenantId,
    Kind,
    AmountNusd,
    ExternalRef,
    Description,
    ReceiptUrl,
    CreatedAt,
}

#[derive(Iden)]
enum CreditEntries {
    Table,
    TransactionId,
    TenantId,
    Account,
    AmountNusd,
}

#[derive(Iden)]
enum StripeReceipts {
    Table,
    PaymentIntentId,
    TenantId,
    ReceiptUrl,
    CreatedAt,
}

#[derive(Iden)]
enum StripeEvents {
    Table,
    EventId,
    EventType,
    TenantId,
    ProcessedAt,
}

/// A tenant's balance and what requests in flight hold of it.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct BalanceRow {
    pub tenant_id: String,
    pub balance_nusd: i64,
    pub reserved_nusd: i64,
    pub auto_recharge_below_nusd: Option<i64>,
    pub auto_recharge_amount_nusd: Option<i64>,
    pub stripe_customer_id: Option<String>,
    pub updated_at: i64,
}

/// One ledger transaction.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct TransactionRow {
    pub id: String,
    pub tenant_id: String,
    /// `purchase`, `usage`, `refund`, `dispute`, `trial`, `adjustment` or `auto_recharge`.
    pub kind: String,
    /// The change to the tenant's balance (negative for usage, refunds and disputes).
    pub amount_nusd: i64,
    pub external_ref: Option<String>,
    pub description: String,
    pub receipt_url: Option<String>,
    pub created_at: i64,
}

/// One ledger entry.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct EntryRow {
    pub transaction_id: String,
    pub tenant_id: String,
    pub account: String,
    pub amount_nusd: i64,
}

/// A balance movement to record.
#[derive(Clone, Debug)]
pub struct Movement<'a> {
    pub tenant_id: &'a str,
    pub kind: &'a str,
    /// The change to the balance (credit positive, debit negative).
    pub amount_nusd: i64,
    /// The account on the other side.
    pub counter_account: &'a str,
    /// Unique reference (Stripe object id…): a second delivery is not applied twice.
    pub external_ref: Option<&'a str>,
    pub description: &'a str,
    pub receipt_url: Option<&'a str>,
    pub now: i64,
}

fn tenant_row(tenant_id: &str) -> sea_query::SimpleExpr {
    Expr::col(CreditBalances::TenantId).eq(tenant_id)
}

/// Creates the tenant's balance row (zero) if it has none.
pub async fn ensure_account(tx: &mut Tx, tenant_id: &str, now: i64) -> Result<(), StorageError> {
    tx.execute(
        Query::insert()
            .into_table(CreditBalances::Table)
            .columns([
                CreditBalances::TenantId,
                CreditBalances::BalanceNusd,
                CreditBalances::ReservedNusd,
                CreditBalances::UpdatedAt,
            ])
            .values([tenant_id.into(), 0i64.into(), 0i64.into(), now.into()])?
            .on_conflict(
                OnConflict::column(CreditBalances::TenantId)
                    .do_nothing()
                    .to_owned(),
            ),
    )
    .await?;
    Ok(())
}

/// Records a movement: the transaction, its two entries and the balance change, inside `tx`.
/// Returns false (and changes nothing) when its `external_ref` was already recorded.
pub async fn apply(tx: &mut Tx, m: &Movement<'_>) -> Result<bool, StorageError> {
    ensure_account(tx, m.tenant_id, m.now).await?;
    let id = format!("ctx_{}", uuid::Uuid::now_v7().simple());
    let inserted = tx
        .execute(
            Query::insert()
                .into_table(CreditTransactions::Table)
                .columns([
                    CreditTransactions::Id,
                    CreditTransactions::TenantId,
                    CreditTransactions::Kind,
                    CreditTransactions::AmountNusd,
                    CreditTransactions::ExternalRef,
                    CreditTransactions::Description,
                    CreditTransactions::ReceiptUrl,
                    CreditTransactions::CreatedAt,
                ])
                .values([
                    id.clone().into(),
                    m.tenant_id.into(),
                    m.kind.into(),
                    m.amount_nusd.into(),
                    m.external_ref.map(str::to_owned).into(),
                    m.description.into(),
                    m.receipt_url.map(str::to_owned).into(),
                    m.now.into(),
                ])?
                .on_conflict(
                    OnConflict::column(CreditTransactions::ExternalRef)
                        .do_nothing()
                        .to_owned(),
                ),
        )
        .await?;
    if inserted == 0 {
        return Ok(false);
    }
    insert_entries(tx, &id, m.tenant_id, m.counter_account, m.amount_nusd).await?;
    tx.execute(
        Query::update()
            .table(CreditBalances::Table)
            .value(
                CreditBalances::BalanceNusd,
                Expr::col(CreditBalances::BalanceNusd).add(m.amount_nusd),
            )
            .value(CreditBalances::UpdatedAt, m.now)
            .and_where(tenant_row(m.tenant_id)),
    )
    .await?;
    Ok(true)
}

async fn insert_entries(
    tx: &mut Tx,
    transaction_id: &str,
    tenant_id: &str,
    counter_account: &str,
    amount: i64,
) -> Result<(), StorageError> {
    tx.execute(
        Query::insert()
            .into_table(CreditEntries::Table)
            .columns([
                CreditEntries::TransactionId,
                CreditEntries::TenantId,
                CreditEntries::Account,
                CreditEntries::AmountNusd,
            ])
            .values([
                transaction_id.into(),
                tenant_id.into(),
                BALANCE.into(),
                amount.into(),
            ])?
            .values([
                transaction_id.into(),
                tenant_id.into(),
                counter_account.into(),
                (-amount).into(),
            ])?
            .on_conflict(
                OnConflict::columns([CreditEntries::TransactionId, CreditEntries::Account])
                    .do_nothing()
                    .to_owned(),
            ),
    )
    .await?;
    Ok(())
}

/// Reserves `amount` of the tenant's balance if `balance − reserved ≥ amount` (one conditional
/// update: concurrent reservations can never take more than the balance). False: not enough.
pub async fn reserve(
    db: &Db,
    tenant_id: &str,
    amount: i64,
    now: i64,
) -> Result<bool, StorageError> {
    let done = db
        .execute(
            Query::update()
                .table(CreditBalances::Table)
                .value(
                    CreditBalances::ReservedNusd,
                    Expr::col(CreditBalances::ReservedNusd).add(amount),
                )
                .value(CreditBalances::UpdatedAt, now)
                .and_where(tenant_row(tenant_id))
                .and_where(
                    Expr::col(CreditBalances::BalanceNusd)
                        .sub(Expr::col(CreditBalances::ReservedNusd))
                        .gte(amount),
                ),
        )
        .await?;
    Ok(done == 1)
}

/// The usage draw-down of one request, settled against its reservation.
#[derive(Clone, Debug)]
pub struct UsageSettlement<'a> {
    pub tenant_id: &'a str,
    pub reserved_nusd: i64,
    pub actual_nusd: i64,
    /// The UTC day (`YYYY-MM-DD`) whose usage transaction takes the draw-down.
    pub day: &'a str,
    pub now: i64,
}

/// Releases a reservation and draws the actual cost from the balance, adding it to the day's
/// `usage` transaction, in one database transaction. Returns the balance after (and the
/// auto-recharge threshold, so only settlements below it try to claim a recharge).
pub async fn settle(db: &Db, s: &UsageSettlement<'_>) -> Result<Settled, StorageError> {
    let mut tx = db.begin().await?;
    tx.execute(
        Query::update()
            .table(CreditBalances::Table)
            .value(
                CreditBalances::ReservedNusd,
                Expr::col(CreditBalances::ReservedNusd).sub(s.reserved_nusd),
            )
            .value(
                CreditBalances::BalanceNusd,
                Expr::col(CreditBalances::BalanceNusd).sub(s.actual_nusd),
            )
            .value(CreditBalances::UpdatedAt, s.now)
            .and_where(tenant_row(s.tenant_id)),
    )
    .await?;
    if s.actual_nusd != 0 {
        // The day's id is the only unique key of the row (no external_ref), so concurrent
        // first settlements of a day meet on one conflict target.
        let id = format!("ctx_usage_{}_{}", s.tenant_id, s.day);
        tx.execute(
            Query::insert()
                .into_table(CreditTransactions::Table)
                .columns([
                    CreditTransactions::Id,
                    CreditTransactions::TenantId,
                    CreditTransactions::Kind,
                    CreditTransactions::AmountNusd,
                    CreditTransactions::Description,
                    CreditTransactions::CreatedAt,
                ])
                .values([
                    id.clone().into(),
                    s.tenant_id.into(),
                    "usage".into(),
                    0i64.into(),
                    format!("Usage on {} (UTC)", s.day).into(),
                    s.now.into(),
                ])?
                .on_conflict(
                    OnConflict::column(CreditTransactions::Id)
                        .do_nothing()
                        .to_owned(),
                ),
        )
        .await?;
        insert_entries(&mut tx, &id, s.tenant_id, USAGE, 0).await?;
        tx.execute(
            Query::update()
                .table(CreditTransactions::Table)
                .value(
                    CreditTransactions::AmountNusd,
                    Expr::col(CreditTransactions::AmountNusd).sub(s.actual_nusd),
                )
                .and_where(Expr::col(CreditTransactions::Id).eq(id.as_str())),
        )
        .await?;
        for (account, delta) in [(BALANCE, -s.actual_nusd), (USAGE, s.actual_nusd)] {
            tx.execute(
                Query::update()
                    .table(CreditEntries::Table)
                    .value(
                        CreditEntries::AmountNusd,
                        Expr::col(CreditEntries::AmountNusd).add(delta),
                    )
                    .and_where(Expr::col(CreditEntries::TransactionId).eq(id.as_str()))
                    .and_where(Expr::col(CreditEntries::Account).eq(account)),
            )
            .await?;
        }
    }
    let after: Option<(i64, Option<i64>)> = tx
        .fetch_optional(
            Query::select()
                .columns([
                    CreditBalances::BalanceNusd,
                    CreditBalances::AutoRechargeBelowNusd,
                ])
                .from(CreditBalances::Table)
                .and_where(tenant_row(s.tenant_id)),
        )
        .await?;
    tx.commit().await?;
    Ok(after.map_or(
        Settled::default(),
        |(balance_nusd, auto_recharge_below_nusd)| Settled {
            balance_nusd,
            auto_recharge_below_nusd,
        },
    ))
}

/// The balance after a settlement.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Settled {
    pub balance_nusd: i64,
    /// The tenant's auto-recharge threshold, when it has one.
    pub auto_recharge_below_nusd: Option<i64>,
}

/// Records a Stripe event id inside `tx`; false when it was already recorded (a duplicate
/// delivery: the caller must change nothing).
pub async fn record_event(
    tx: &mut Tx,
    event_id: &str,
    event_type: &str,
    tenant_id: Option<&str>,
    now: i64,
) -> Result<bool, StorageError> {
    let inserted = tx
        .execute(
            Query::insert()
                .into_table(StripeEvents::Table)
                .columns([
                    StripeEvents::EventId,
                    StripeEvents::EventType,
                    StripeEvents::TenantId,
                    StripeEvents::ProcessedAt,
                ])
                .values([
                    event_id.into(),
                    event_type.into(),
                    tenant_id.map(str::to_owned).into(),
                    now.into(),
                ])?
                .on_conflict(
                    OnConflict::column(StripeEvents::EventId)
                        .do_nothing()
                        .to_owned(),
                ),
        )
        .await?;
    Ok(inserted == 1)
}

fn transaction_columns() -> [CreditTransactions; 8] {
    [
        CreditTransactions::Id,
        CreditTransactions::TenantId,
        CreditTransactions::Kind,
        CreditTransactions::AmountNusd,
        CreditTransactions::ExternalRef,
        CreditTransactions::Description,
        CreditTransactions::ReceiptUrl,
        CreditTransactions::CreatedAt,
    ]
}

/// The transaction recorded under `external_ref`.
pub async fn find_by_ref(
    tx: &mut Tx,
    external_ref: &str,
) -> Result<Option<TransactionRow>, StorageError> {
    tx.fetch_optional(
        Query::select()
            .columns(transaction_columns())
            .from(CreditTransactions::Table)
            .and_where(Expr::col(CreditTransactions::ExternalRef).eq(external_ref)),
    )
    .await
}

/// The transactions whose `external_ref` starts with `prefix` (e.g. every refund of a charge).
pub async fn find_by_ref_prefix(
    tx: &mut Tx,
    tenant_id: &str,
    prefix: &str,
) -> Result<Vec<TransactionRow>, StorageError> {
    let pattern = format!(
        "{}%",
        prefix
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    tx.fetch_all(
        Query::select()
            .columns(transaction_columns())
            .from(CreditTransactions::Table)
            .and_where(Expr::col(CreditTransactions::TenantId).eq(tenant_id))
            .and_where(
                Expr::col(CreditTransactions::ExternalRef)
                    .like(sea_query::LikeExpr::new(pattern).escape('\\')),
            ),
    )
    .await
}

/// Sets the receipt link of the transaction recorded under `external_ref`.
pub async fn set_receipt_url(
    tx: &mut Tx,
    external_ref: &str,
    url: &str,
) -> Result<(), StorageError> {
    tx.execute(
        Query::update()
            .table(CreditTransactions::Table)
            .value(CreditTransactions::ReceiptUrl, url)
            .and_where(Expr::col(CreditTransactions::ExternalRef).eq(external_ref)),
    )
    .await?;
    Ok(())
}

/// Whether the tenant has a credit account (every tenant gets one when created).
pub async fn has_account(tx: &mut Tx, tenant_id: &str) -> Result<bool, StorageError> {
    let row: Option<(String,)> = tx
        .fetch_optional(
            Query::select()
                .column(CreditBalances::TenantId)
                .from(CreditBalances::Table)
                .and_where(tenant_row(tenant_id)),
        )
        .await?;
    Ok(row.is_some())
}

/// Keeps a charge's receipt link by payment intent (whichever of the charge and the purchase
/// arrives first, the purchase ends up with it).
pub async fn remember_receipt(
    tx: &mut Tx,
    payment_intent: &str,
    tenant_id: Option<&str>,
    url: &str,
    now: i64,
) -> Result<(), StorageError> {
    tx.execute(
        Query::insert()
            .into_table(StripeReceipts::Table)
            .columns([
                StripeReceipts::PaymentIntentId,
                StripeReceipts::TenantId,
                StripeReceipts::ReceiptUrl,
                StripeReceipts::CreatedAt,
            ])
            .values([
                payment_intent.into(),
                tenant_id.map(str::to_owned).into(),
                url.into(),
                now.into(),
            ])?
            .on_conflict(
                OnConflict::column(StripeReceipts::PaymentIntentId)
                    .update_column(StripeReceipts::ReceiptUrl)
                    .to_owned(),
            ),
    )
    .await?;
    Ok(())
}

/// The receipt link kept for a payment intent.
pub async fn receipt_for(
    tx: &mut Tx,
    payment_intent: &str,
) -> Result<Option<String>, StorageError> {
    let row: Option<(String,)> = tx
        .fetch_optional(
            Query::select()
                .column(StripeReceipts::ReceiptUrl)
                .from(StripeReceipts::Table)
                .and_where(Expr::col(StripeReceipts::PaymentIntentId).eq(payment_intent)),
        )
        .await?;
    Ok(row.map(|r| r.0))
}

/// Remembers the tenant's Stripe customer.
pub async fn set_customer(
    tx: &mut Tx,
    tenant_id: &str,
    customer: &str,
) -> Result<(), StorageError> {
    tx.execute(
        Query::update()
            .table(CreditBalances::Table)
            .value(CreditBalances::StripeCustomerId, customer)
            .and_where(tenant_row(tenant_id)),
    )
    .await?;
    Ok(())
}

/// The tenant's balance row (none before its first credit).
pub async fn balance(db: &Db, tenant_id: &str) -> Result<Option<BalanceRow>, StorageError> {
    db.fetch_optional(
        Query::select()
            .columns([
                CreditBalances::TenantId,
                CreditBalances::BalanceNusd,
                CreditBalances::ReservedNusd,
                CreditBalances::AutoRechargeBelowNusd,
                CreditBalances::AutoRechargeAmountNusd,
                CreditBalances::StripeCustomerId,
                CreditBalances::UpdatedAt,
            ])
            .from(CreditBalances::Table)
            .and_where(tenant_row(tenant_id)),
    )
    .await
}

/// The tenant's ledger, newest first.
pub async fn transactions(
    db: &Db,
    tenant_id: &str,
    limit: u64,
) -> Result<Vec<TransactionRow>, StorageError> {
    db.fetch_all(
        Query::select()
            .columns(transaction_columns())
            .from(CreditTransactions::Table)
            .and_where(Expr::col(CreditTransactions::TenantId).eq(tenant_id))
            .order_by(CreditTransactions::CreatedAt, Order::Desc)
            .order_by(CreditTransactions::Id, Order::Desc)
            .limit(limit),
    )
    .await
}

/// One page of the tenant's ledger, newest first: at most `limit` transactions older than
/// `before` (`(created_at, id)` of the previous page's last row).
pub async fn transactions_page(
    db: &Db,
    tenant_id: &str,
    before: Option<(i64, &str)>,
    limit: u64,
) -> Result<Vec<TransactionRow>, StorageError> {
    let mut query = Query::select();
    query
        .columns(transaction_columns())
        .from(CreditTransactions::Table)
        .and_where(Expr::col(CreditTransactions::TenantId).eq(tenant_id));
    if let Some((at, id)) = before {
        query.and_where(
            Expr::col(CreditTransactions::CreatedAt)
                .lt(at)
                .or(Expr::col(CreditTransactions::CreatedAt)
                    .eq(at)
                    .and(Expr::col(CreditTransactions::Id).lt(id))),
        );
    }
    db.fetch_all(
        query
            .order_by(CreditTransactions::CreatedAt, Order::Desc)
            .order_by(CreditTransactions::Id, Order::Desc)
            .limit(limit),
    )
    .await
}

/// Every ledger entry of the tenant (for reconciliation).
pub async fn entries(db: &Db, tenant_id: &str) -> Result<Vec<EntryRow>, StorageError> {
    db.fetch_all(
        Query::select()
            .columns([
                CreditEntries::TransactionId,
                CreditEntries::TenantId,
                CreditEntries::Account,
                CreditEntries::AmountNusd,
            ])
            .from(CreditEntries::Table)
            .and_where(Expr::col(CreditEntries::TenantId).eq(tenant_id)),
    )
    .await
}

/// Turns auto-recharge on (`Some((below, amount))`) or off for the tenant.
pub async fn set_auto_recharge(
    tx: &mut Tx,
    tenant_id: &str,
    rule: Option<(i64, i64)>,
    now: i64,
) -> Result<(), StorageError> {
    ensure_account(tx, tenant_id, now).await?;
    tx.execute(
        Query::update()
            .table(CreditBalances::Table)
            .value(CreditBalances::AutoRechargeBelowNusd, rule.map(|r| r.0))
            .value(CreditBalances::AutoRechargeAmountNusd, rule.map(|r| r.1))
            .value(CreditBalances::UpdatedAt, now)
            .and_where(tenant_row(tenant_id)),
    )
    .await?;
    Ok(())
}

/// Remembers the customer and payment method Stripe saved for off-session charges.
pub async fn set_payment_method(
    tx: &mut Tx,
    tenant_id: &str,
    customer: &str,
    payment_method: &str,
) -> Result<(), StorageError> {
    tx.execute(
        Query::update()
            .table(CreditBalances::Table)
            .value(CreditBalances::StripeCustomerId, customer)
            .value(CreditBalances::StripePaymentMethodId, payment_method)
            .and_where(tenant_row(tenant_id)),
    )
    .await?;
    Ok(())
}

/// An auto-recharge to charge now.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct DueRecharge {
    pub auto_recharge_amount_nusd: i64,
    pub stripe_customer_id: String,
    pub stripe_payment_method_id: String,
}

/// Claims the tenant's auto-recharge when its balance is below the rule's threshold, a payment
/// method is saved and none was claimed in the last `interval_ms`: one conditional update, so
/// concurrent settlements (on any replica) claim at most one per interval.
pub async fn claim_auto_recharge(
    db: &Db,
    tenant_id: &str,
    now: i64,
    interval_ms: i64,
) -> Result<Option<DueRecharge>, StorageError> {
    let claimed = db
        .execute(
            Query::update()
                .table(CreditBalances::Table)
                .value(CreditBalances::LastAutoRechargeAt, now)
                .and_where(tenant_row(tenant_id))
                .and_where(Expr::col(CreditBalances::AutoRechargeAmountNusd).gt(0i64))
                .and_where(
                    Expr::col(CreditBalances::BalanceNusd)
                        .lt(Expr::col(CreditBalances::AutoRechargeBelowNusd)),
                )
                .and_where(Expr::col(CreditBalances::StripeCustomerId).is_not_null())
                .and_where(Expr::col(CreditBalances::StripePaymentMethodId).is_not_null())
                .and_where(
                    Expr::col(CreditBalances::LastAutoRechargeAt)
                        .is_null()
                        .or(Expr::col(CreditBalances::LastAutoRechargeAt).lte(now - interval_ms)),
                ),
        )
        .await?;
    if claimed == 0 {
        return Ok(None);
    }
    db.fetch_optional(
        Query::select()
            .columns([
                CreditBalances::AutoRechargeAmountNusd,
                CreditBalances::StripeCustomerId,
                CreditBalances::StripePaymentMethodId,
            ])
            .from(CreditBalances::Table)
            .and_where(tenant_row(tenant_id)),
    )
    .await
}

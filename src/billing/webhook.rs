//! `POST /webhooks/stripe`: Stripe's events, verified and applied exactly once.
//!
//! * The `Stripe-Signature` header (`t=…,v1=…`, HMAC-SHA256 of `"<t>.<body>"` under the
//!   endpoint's signing secret) must match and be at most 300 s old; otherwise 400 and nothing
//!   changes.
//! * Each event id is inserted into `stripe_events` in the same database transaction as its
//!   ledger change, first: a concurrent duplicate waits on that row and then does nothing.
//! * `checkout.session.completed` (and `checkout.session.async_payment_succeeded`) credit a
//!   purchase; `charge.succeeded` attaches the receipt link (kept by payment intent when it
//!   arrives before the purchase); `charge.refunded` debits what was
//!   newly refunded of the original purchase (found through its payment intent);
//!   `charge.dispute.created` debits the disputed amount; `charge.dispute.closed` with status
//!   `won` credits it back once (any other outcome changes nothing more). Other events: 200,
//!   ignored.
//! * Stripe does not order deliveries: a refund or dispute event about a payment whose purchase
//!   is not recorded yet is parked ([`crate::storage::credits_pending`]) and applied right after
//!   the purchase, so the final balance is the same whatever the order.
//! * `payment_intent.succeeded` saves the card of a Checkout that asked to keep it (for
//!   auto-recharge) and credits an auto-recharge (`metadata.purpose = auto_recharge`).
//! * A database failure answers 500, so Stripe retries the delivery.
//!
//! The signature is checked with the same scheme as our own alert webhooks
//! ([`crate::alerts::signature`]); async-stripe's `Webhook::construct_event` also parses every
//! event into its full typed object and fails on objects it does not model, which would turn a
//! valid delivery into a retry loop.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::NUSD_PER_CENT;
use super::checkout::TENANT_METADATA;
use crate::domain::time::now_millis;
use crate::state::AppState;
use crate::storage::credits::{self, Movement, TransactionRow};
use crate::storage::credits_pending::{self, PendingEvent};
use crate::storage::{Db, StorageError, Tx};

/// Where Stripe delivers events.
pub const PATH: &str = "/webhooks/stripe";
/// The signature header.
pub const SIGNATURE_HEADER: &str = "stripe-signature";
/// Largest accepted age (and clock skew) of a signature, in seconds.
pub const TOLERANCE_SECS: i64 = 300;

/// Mounts the endpoint.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(PATH, web::post().to(receive));
}

#[derive(Debug, Deserialize)]
struct Event {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    data: EventData,
}

#[derive(Debug, Deserialize)]
struct EventData {
    object: Value,
}

/// What applying an event did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The ledger changed (or the event was recorded with nothing to change).
    Applied,
    /// The event id was processed before.
    Duplicate,
    /// Not an event type we act on.
    Ignored,
}

async fn receive(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    let Some(secret) = state
        .settings
        .stripe
        .webhook_secret
        .as_ref()
        .filter(|s| !s.expose().is_empty())
    else {
        return HttpResponse::NotFound()
            .json(json!({"error": "Stripe webhooks are not configured"}));
    };
    let signature = req
        .headers()
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok());
    let now = now_millis() / 1000;
    let verified = signature.is_some_and(|header| {
        crate::alerts::signature::verify(
            secret.expose().as_bytes(),
            header,
            &body,
            now,
            TOLERANCE_SECS,
        )
    });
    if !verified {
        tracing::warn!(
            present = signature.is_some(),
            "Stripe webhook refused: missing, invalid or stale signature"
        );
        return HttpResponse::BadRequest().json(json!({"error": "invalid signature"}));
    }
    let event: Event = match serde_json::from_slice(&body) {
        Ok(event) => event,
        Err(e) => {
            return HttpResponse::BadRequest()
                .json(json!({"error": format!("not a Stripe event: {e}")}));
        }
    };
    match apply(&state.db, &event).await {
        Ok(outcome) => {
            tracing::info!(event_id = %event.id, kind = %event.kind, ?outcome, "Stripe event");
            HttpResponse::Ok().json(json!({"received": true}))
        }
        Err(e) => {
            tracing::error!(error = %e, event_id = %event.id, "Stripe event not applied; Stripe will retry");
            HttpResponse::InternalServerError().json(json!({"error": "try again later"}))
        }
    }
}

/// Applies a verified event once.
async fn apply(db: &Db, event: &Event) -> Result<Outcome, StorageError> {
    let object = &event.data.object;
    let handled = matches!(
        event.kind.as_str(),
        "checkout.session.completed"
            | "checkout.session.async_payment_succeeded"
            | "charge.succeeded"
            | "charge.refunded"
            | "charge.dispute.created"
            | "charge.dispute.closed"
            | "payment_intent.succeeded"
    );
    if !handled {
        return Ok(Outcome::Ignored);
    }
    let now = now_millis();
    let tenant_hint = text(&object["metadata"][TENANT_METADATA]);
    let mut tx = db.begin().await?;
    if !credits::record_event(&mut tx, &event.id, &event.kind, tenant_hint, now).await? {
        return Ok(Outcome::Duplicate);
    }
    match event.kind.as_str() {
        "checkout.session.completed" | "checkout.session.async_payment_succeeded" => {
            purchase(&mut tx, object, now).await?
        }
        "charge.succeeded" => receipt(&mut tx, object, now).await?,
        "payment_intent.succeeded" => payment_succeeded(&mut tx, object, now).await?,
        kind => after_purchase(&mut tx, &event.id, kind, object, now).await?,
    }
    tx.commit().await?;
    Ok(Outcome::Applied)
}

fn text(v: &Value) -> Option<&str> {
    v.as_str().filter(|s| !s.is_empty())
}

/// An expandable field: the id, or the expanded object's id.
fn id_of(v: &Value) -> Option<&str> {
    text(v).or_else(|| text(&v["id"]))
}

async fn purchase(tx: &mut Tx, session: &Value, now: i64) -> Result<(), StorageError> {
    if session["payment_status"].as_str() != Some("paid") {
        tracing::info!(session = ?session["id"], "Checkout Session not paid yet; waiting");
        return Ok(());
    }
    let tenant = text(&session["metadata"][TENANT_METADATA])
        .or_else(|| text(&session["client_reference_id"]));
    let (Some(tenant), Some(cents)) = (tenant, session["amount_total"].as_i64()) else {
        tracing::warn!(session = ?session["id"], "Checkout Session without tenant or amount; ignored");
        return Ok(());
    };
    if !credits::has_account(tx, tenant).await? {
        tracing::warn!(
            tenant_id = tenant,
            "Checkout Session for an unknown tenant; ignored"
        );
        return Ok(());
    }
    let session_id = text(&session["id"]).unwrap_or_default();
    let reference = id_of(&session["payment_intent"]).unwrap_or(session_id);
    let receipt_url = credits::receipt_for(tx, reference).await?;
    credits::apply(
        tx,
        &Movement {
            tenant_id: tenant,
            kind: "purchase",
            amount_nusd: cents.saturating_mul(NUSD_PER_CENT),
            counter_account: credits::STRIPE,
            external_ref: Some(reference),
            description: &format!("Credits bought through Stripe Checkout ({session_id})"),
            receipt_url: receipt_url.as_deref(),
            now,
        },
    )
    .await?;
    if let Some(customer) = id_of(&session["customer"]) {
        credits::set_customer(tx, tenant, customer).await?;
    }
    // Refunds and disputes that arrived first apply now, in their order of arrival.
    for parked in credits_pending::take(tx, reference).await? {
        let object: Value = serde_json::from_str(&parked.payload)
            .map_err(|e| StorageError::Corrupt(format!("parked Stripe event: {e}")))?;
        after_purchase(tx, &parked.event_id, &parked.event_type, &object, now).await?;
    }
    Ok(())
}

/// Applies a refund or dispute event to the purchase it belongs to, or parks it until that
/// purchase is recorded.
async fn after_purchase(
    tx: &mut Tx,
    event_id: &str,
    kind: &str,
    object: &Value,
    now: i64,
) -> Result<(), StorageError> {
    let Some(intent) = id_of(&object["payment_intent"]) else {
        tracing::warn!(
            event_id,
            kind,
            "Stripe event without a payment intent; ignored"
        );
        return Ok(());
    };
    let Some(original) = credits::find_by_ref(tx, intent).await? else {
        tracing::info!(
            event_id,
            kind,
            payment_intent = intent,
            "no purchase recorded for this payment yet; kept until it arrives"
        );
        let parked = PendingEvent {
            event_id: event_id.to_owned(),
            payment_intent_id: intent.to_owned(),
            event_type: kind.to_owned(),
            payload: object.to_string(),
            created_at: now,
        };
        return credits_pending::park(tx, &parked).await;
    };
    match kind {
        "charge.refunded" => refund(tx, object, &original, now).await,
        "charge.dispute.created" => dispute(tx, object, &original, now).await,
        "charge.dispute.closed" => dispute_closed(tx, object, &original, now).await,
        _ => Ok(()),
    }
}

/// Keeps the charge's receipt link and attaches it to the purchase when that is recorded.
async fn receipt(tx: &mut Tx, charge: &Value, now: i64) -> Result<(), StorageError> {
    if let (Some(intent), Some(url)) = (
        id_of(&charge["payment_intent"]),
        text(&charge["receipt_url"]),
    ) {
        let tenant = text(&charge["metadata"][TENANT_METADATA]);
        credits::remember_receipt(tx, intent, tenant, url, now).await?;
        credits::set_receipt_url(tx, intent, url).await?;
    }
    Ok(())
}

async fn refund(
    tx: &mut Tx,
    charge: &Value,
    original: &TransactionRow,
    now: i64,
) -> Result<(), StorageError> {
    let (Some(charge_id), Some(refunded_cents)) =
        (text(&charge["id"]), charge["amount_refunded"].as_i64())
    else {
        return Ok(());
    };
    receipt(tx, charge, now).await?;
    // `amount_refunded` is cumulative: debit what no earlier refund event debited.
    let prefix = format!("refund:{charge_id}:");
    let debited: i64 = credits::find_by_ref_prefix(tx, &original.tenant_id, &prefix)
        .await?
        .iter()
        .map(|t| -t.amount_nusd)
        .sum();
    let due = refunded_cents
        .saturating_mul(NUSD_PER_CENT)
        .min(original.amount_nusd)
        - debited;
    if due <= 0 {
        return Ok(());
    }
    credits::apply(
        tx,
        &Movement {
            tenant_id: &original.tenant_id,
            kind: "refund",
            amount_nusd: -due,
            counter_account: credits::STRIPE,
            external_ref: Some(&format!("{prefix}{refunded_cents}")),
            description: &format!("Refund of charge {charge_id}"),
            receipt_url: None,
            now,
        },
    )
    .await?;
    Ok(())
}

/// Debits the disputed amount (once per dispute, whichever of its events comes first).
async fn dispute(
    tx: &mut Tx,
    dispute: &Value,
    original: &TransactionRow,
    now: i64,
) -> Result<(), StorageError> {
    let (Some(dispute_id), Some(cents)) = (text(&dispute["id"]), dispute["amount"].as_i64()) else {
        return Ok(());
    };
    credits::apply(
        tx,
        &Movement {
            tenant_id: &original.tenant_id,
            kind: "dispute",
            amount_nusd: -cents
                .saturating_mul(NUSD_PER_CENT)
                .min(original.amount_nusd),
            counter_account: credits::STRIPE,
            external_ref: Some(&format!("dispute:{dispute_id}")),
            description: &format!("Dispute {dispute_id}"),
            receipt_url: None,
            now,
        },
    )
    .await?;
    Ok(())
}

/// A closed dispute: its debit stands (recorded now if its `created` event is still to come),
/// and a dispute we won credits the debited amount back, once.
async fn dispute_closed(
    tx: &mut Tx,
    closed: &Value,
    original: &TransactionRow,
    now: i64,
) -> Result<(), StorageError> {
    let Some(dispute_id) = text(&closed["id"]) else {
        return Ok(());
    };
    dispute(tx, closed, original, now).await?;
    if closed["status"].as_str() != Some("won") {
        return Ok(());
    }
    let Some(debit) = credits::find_by_ref(tx, &format!("dispute:{dispute_id}")).await? else {
        return Ok(());
    };
    credits::apply(
        tx,
        &Movement {
            tenant_id: &original.tenant_id,
            kind: "dispute",
            amount_nusd: -debit.amount_nusd,
            counter_account: credits::STRIPE,
            external_ref: Some(&format!("dispute_won:{dispute_id}")),
            description: &format!("Dispute {dispute_id} won: credits restored"),
            receipt_url: None,
            now,
        },
    )
    .await?;
    Ok(())
}

async fn payment_succeeded(tx: &mut Tx, intent: &Value, now: i64) -> Result<(), StorageError> {
    let Some(tenant) = text(&intent["metadata"][TENANT_METADATA]) else {
        return Ok(());
    };
    if !credits::has_account(tx, tenant).await? {
        return Ok(());
    }
    if intent["setup_future_usage"].as_str() == Some("off_session")
        && let (Some(customer), Some(method)) =
            (id_of(&intent["customer"]), id_of(&intent["payment_method"]))
    {
        credits::set_payment_method(tx, tenant, customer, method).await?;
    }
    if intent["metadata"][super::recharge::PURPOSE_METADATA].as_str()
        != Some(super::recharge::AUTO_RECHARGE)
    {
        return Ok(());
    }
    let (Some(id), Some(cents)) = (text(&intent["id"]), intent["amount_received"].as_i64()) else {
        return Ok(());
    };
    credits::apply(
        tx,
        &Movement {
            tenant_id: tenant,
            kind: "auto_recharge",
            amount_nusd: cents.saturating_mul(NUSD_PER_CENT),
            counter_account: credits::STRIPE,
            external_ref: Some(id),
            description: "Auto-recharge on the saved payment method",
            receipt_url: None,
            now,
        },
    )
    .await?;
    Ok(())
}

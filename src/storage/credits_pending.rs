//! Stripe events about a payment whose purchase is not recorded yet (`stripe_pending_events`):
//! Stripe does not guarantee delivery order, so a `charge.refunded` or a dispute event may
//! arrive before its `checkout.session.completed`. The webhook parks such an event here by
//! payment intent and replays it when the purchase is recorded, so the final balance is the
//! same whatever the order.

use sea_query::{Expr, ExprTrait, Iden, OnConflict, Order, Query};

use super::{StorageError, Tx};

#[derive(Iden)]
enum StripePendingEvents {
    Table,
    EventId,
    PaymentIntentId,
    EventType,
    Payload,
    CreatedAt,
}

/// A parked event.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct PendingEvent {
    pub event_id: String,
    pub payment_intent_id: String,
    pub event_type: String,
    /// The event's `data.object`, as JSON text.
    pub payload: String,
    pub created_at: i64,
}

/// Parks an event (once per event id) until the purchase of `payment_intent` is recorded.
pub async fn park(tx: &mut Tx, event: &PendingEvent) -> Result<(), StorageError> {
    tx.execute(
        Query::insert()
            .into_table(StripePendingEvents::Table)
            .columns([
                StripePendingEvents::EventId,
                StripePendingEvents::PaymentIntentId,
                StripePendingEvents::EventType,
                StripePendingEvents::Payload,
                StripePendingEvents::CreatedAt,
            ])
            .values([
                event.event_id.as_str().into(),
                event.payment_intent_id.as_str().into(),
                event.event_type.as_str().into(),
                event.payload.as_str().into(),
                event.created_at.into(),
            ])?
            .on_conflict(
                OnConflict::column(StripePendingEvents::EventId)
                    .do_nothing()
                    .to_owned(),
            ),
    )
    .await?;
    Ok(())
}

/// Removes and returns the events parked for `payment_intent`, oldest first.
pub async fn take(tx: &mut Tx, payment_intent: &str) -> Result<Vec<PendingEvent>, StorageError> {
    let rows: Vec<PendingEvent> = tx
        .fetch_all(
            Query::select()
                .columns([
                    StripePendingEvents::EventId,
                    StripePendingEvents::PaymentIntentId,
                    StripePendingEvents::EventType,
                    StripePendingEvents::Payload,
                    StripePendingEvents::CreatedAt,
                ])
                .from(StripePendingEvents::Table)
                .and_where(Expr::col(StripePendingEvents::PaymentIntentId).eq(payment_intent))
                .order_by(StripePendingEvents::CreatedAt, Order::Asc)
                .order_by(StripePendingEvents::EventId, Order::Asc),
        )
        .await?;
    if !rows.is_empty() {
        tx.execute(
            Query::delete()
                .from_table(StripePendingEvents::Table)
                .and_where(Expr::col(StripePendingEvents::PaymentIntentId).eq(payment_intent)),
        )
        .await?;
    }
    Ok(rows)
}

/// How many events wait for the purchase of `payment_intent`.
pub async fn count(tx: &mut Tx, payment_intent: &str) -> Result<i64, StorageError> {
    let row: Option<(i64,)> = tx
        .fetch_optional(
            Query::select()
                .expr(Expr::col(StripePendingEvents::EventId).count())
                .from(StripePendingEvents::Table)
                .and_where(Expr::col(StripePendingEvents::PaymentIntentId).eq(payment_intent)),
        )
        .await?;
    Ok(row.map_or(0, |r| r.0))
}

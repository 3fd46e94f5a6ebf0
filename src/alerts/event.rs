//! An alert event: what the dashboard shows and what every destination receives.

use serde_json::{Value, json};

use crate::domain::ids::{NotificationId, TenantId};
use crate::domain::time::now_millis;
use crate::storage::{Db, StorageError, Tx, alerts, notifications};

/// Something a tenant must hear about.
#[derive(Clone, Debug)]
pub struct AlertEvent {
    pub tenant_id: String,
    /// Machine name, e.g. `budget.threshold_crossed`.
    pub kind: &'static str,
    /// `info`, `warning` or `critical`.
    pub severity: &'static str,
    /// One line for people (notification title, Slack text, email subject).
    pub title: String,
    /// Event-specific fields.
    pub data: Value,
}

impl AlertEvent {
    /// The JSON every destination receives.
    pub fn payload(&self, id: &str, at: i64) -> Value {
        json!({
            "id": id,
            "type": self.kind,
            "created_at": at,
            "tenant_id": self.tenant_id,
            "severity": self.severity,
            "summary": self.title,
            "data": self.data,
        })
    }
}

/// Records the event inside `tx`: one notification and one queued delivery per destination.
pub async fn record_in(tx: &mut Tx, event: &AlertEvent) -> Result<String, StorageError> {
    let now = now_millis();
    let id = format!("evt_{}", uuid::Uuid::now_v7().simple());
    let tenant = TenantId::parse(&event.tenant_id)
        .ok_or_else(|| StorageError::Corrupt(format!("bad tenant id `{}`", event.tenant_id)))?;
    notifications::insert(
        tx,
        &notifications::NewNotification {
            id: NotificationId::generate().as_str(),
            tenant: &tenant,
            kind: event.kind,
            severity: event.severity,
            title: &event.title,
            body: "",
            data: Some(&event.data),
            now,
        },
    )
    .await?;
    alerts::enqueue(tx, &event.tenant_id, &id, &event.payload(&id, now), now).await?;
    Ok(id)
}

/// Records the event in its own transaction.
pub async fn record(db: &Db, event: &AlertEvent) -> Result<String, StorageError> {
    let mut tx = db.begin().await?;
    let id = record_in(&mut tx, event).await?;
    tx.commit().await?;
    Ok(id)
}

//! Prefixed, time-ordered identifiers (`ten_…`, `key_…`): readable in logs and URLs, sortable by
//! creation time, and impossible to confuse across types.

use std::fmt;

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The type prefix, including the underscore.
            pub const PREFIX: &'static str = $prefix;

            /// A new id: the prefix and a UUIDv7 in lower-case hex.
            pub fn generate() -> Self {
                Self(format!("{}{}", $prefix, uuid::Uuid::now_v7().simple()))
            }

            /// Wraps a stored id; `None` when it does not carry this type's prefix.
            pub fn parse(raw: &str) -> Option<Self> {
                let rest = raw.strip_prefix($prefix)?;
                (rest.len() == 32 && rest.bytes().all(|b| b.is_ascii_hexdigit()))
                    .then(|| Self(raw.to_owned()))
            }

            /// Wraps a value read back from the database, which only ever holds generated ids.
            pub fn from_db(raw: String) -> Self {
                Self(raw)
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<$name> for sea_query::Value {
            fn from(id: $name) -> Self {
                id.0.into()
            }
        }

        impl From<&$name> for sea_query::Value {
            fn from(id: &$name) -> Self {
                id.0.clone().into()
            }
        }
    };
}

prefixed_id!(
    /// A tenant (an organisation).
    TenantId, "ten_"
);
prefixed_id!(
    /// A user account, which may belong to several tenants.
    UserId, "usr_"
);
prefixed_id!(
    /// A team inside a tenant.
    TeamId, "team_"
);
prefixed_id!(
    /// An alert destination (webhook, Slack or email).
    AlertDestinationId,
    "ald_"
);
prefixed_id!(
    /// A dashboard notification.
    NotificationId,
    "ntf_"
);
prefixed_id!(
    /// One delivery of an alert to one destination.
    DeliveryId,
    "dlv_"
);
prefixed_id!(
    /// A virtual key.
    KeyId, "key_"
);
prefixed_id!(
    /// A budget.
    BudgetId, "bud_"
);
prefixed_id!(
    /// An audit-log entry.
    AuditId, "aud_"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_and_sort_by_time() {
        let a = TenantId::generate();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = TenantId::generate();
        assert!(a < b);
        assert_eq!(TenantId::parse(a.as_str()), Some(a.clone()));
        assert_eq!(KeyId::parse(a.as_str()), None);
        assert_eq!(TenantId::parse("ten_xyz"), None);
    }
}

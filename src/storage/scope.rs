//! Whose rows the current task may touch, enforced by Postgres row-level security.
//!
//! Every Postgres statement runs in a transaction that first calls `switchyard_enter(scope)`
//! (migration 0015): it switches to the non-owner, non-`BYPASSRLS` role `switchyard_app` and
//! sets `switchyard.tenant` with `SET LOCAL` semantics, so nothing outlives the transaction
//! and a pooled connection carries no tenant from one borrower to the next. The policies on
//! every tenant-owned table then show and accept only that tenant's rows.
//!
//! The scope is task-local:
//! - each HTTP request runs in a [`request_frame`], which starts as [`Scope::System`] for
//!   the lookups that find out who is calling (sessions, admin tokens, memberships) and for
//!   the handlers that act before anyone is known (sign-up, log-in, password reset, signed
//!   webhooks). Authentication then narrows it for good: a tenant member or admin token
//!   ([`Principal`](crate::control_plane::auth::principal::Principal)) or a virtual key to
//!   [`Scope::Tenant`]. Nothing in the request can widen it again, except the platform
//!   administrator's own handlers;
//! - code outside any frame — background workers, the CLI, start-up — is the platform's own
//!   and runs as [`Scope::System`];
//! - [`Scope::Anonymous`] sees no tenant row at all.
//!
//! SQLite has no row-level security; there the repositories' own `tenant_id` predicates are
//! the only guard, as they are the first guard on Postgres.

use std::cell::RefCell;
use std::future::Future;

/// What the database lets a statement see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Not authenticated yet: no tenant-owned row is visible or writable.
    Anonymous,
    /// One tenant's rows.
    Tenant(String),
    /// Every tenant's rows (the platform's own work).
    System,
}

tokio::task_local! {
    static FRAME: RefCell<Scope>;
}

impl Scope {
    /// The value of `switchyard.tenant` for this scope: the tenant id, `*` for the system and
    /// empty (matching nothing) when anonymous. Ids are checked to be plain tokens because the
    /// value is spliced into the transaction's opening statement.
    pub fn setting(&self) -> &str {
        match self {
            Scope::Tenant(id) if is_plain_token(id) => id,
            Scope::Tenant(_) | Scope::Anonymous => "",
            Scope::System => "*",
        }
    }
}

/// Letters, digits, `_`, `-`, `.` and `:` only: what tenant ids are made of.
fn is_plain_token(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
}

/// The scope of the current task ([`Scope::System`] outside any frame).
pub fn current() -> Scope {
    FRAME
        .try_with(|s| s.borrow().clone())
        .unwrap_or(Scope::System)
}

/// Runs `fut` as one HTTP request: the system's until authentication narrows it.
pub async fn request_frame<F: Future>(fut: F) -> F::Output {
    FRAME.scope(RefCell::new(Scope::System), fut).await
}

/// Runs `fut` with `scope`, whatever the surrounding frame holds; the surrounding frame is
/// unchanged afterwards.
pub async fn within<F: Future>(scope: Scope, fut: F) -> F::Output {
    FRAME.scope(RefCell::new(scope), fut).await
}

/// Narrows the current request to `tenant` (after authentication). A frame already narrowed
/// to a tenant stays on that one; outside a frame this does nothing.
pub fn narrow_to_tenant(tenant: &str) {
    let _ = FRAME.try_with(|s| {
        let mut scope = s.borrow_mut();
        if !matches!(*scope, Scope::Tenant(_)) {
            *scope = Scope::Tenant(tenant.to_owned());
        }
    });
}

/// Opens the current request to every tenant: only for a platform administrator's handlers.
pub fn widen_for_platform_admin() {
    let _ = FRAME.try_with(|s| *s.borrow_mut() = Scope::System);
}

/// The statement that opens a Postgres transaction in the current scope.
pub(crate) fn postgres_begin() -> String {
    postgres_begin_as(&current())
}

/// The statement that opens a Postgres transaction in `scope`.
pub(crate) fn postgres_begin_as(scope: &Scope) -> String {
    format!("BEGIN; SELECT switchyard_enter('{}')", scope.setting())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_narrow_once_and_do_not_leak() {
        assert_eq!(current(), Scope::System);
        request_frame(async {
            assert_eq!(current().setting(), "*");
            narrow_to_tenant("tnt_a");
            assert_eq!(current(), Scope::Tenant("tnt_a".into()));
            narrow_to_tenant("tnt_b");
            assert_eq!(current().setting(), "tnt_a");
            within(Scope::Anonymous, async {
                assert_eq!(current().setting(), "")
            })
            .await;
            assert_eq!(current(), Scope::Tenant("tnt_a".into()));
            widen_for_platform_admin();
            assert_eq!(current(), Scope::System);
        })
        .await;
        request_frame(async { assert_eq!(current(), Scope::System) }).await;
        assert_eq!(current(), Scope::System);
    }

    #[test]
    fn only_plain_ids_reach_the_statement() {
        assert_eq!(
            Scope::Tenant("tnt_01J-x.y:z".into()).setting(),
            "tnt_01J-x.y:z"
        );
        for bad in ["", "a'b", "a;b", "a b", "a\\b", "*"] {
            assert_eq!(Scope::Tenant(bad.into()).setting(), "", "{bad:?}");
        }
    }
}

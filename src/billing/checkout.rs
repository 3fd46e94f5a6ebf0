//! Buying credits: a Stripe Checkout Session (mode `payment`) for an amount in USD, tagged with
//! the tenant (`client_reference_id` and `metadata.tenant_id`) so the webhook can credit it.

use std::collections::HashMap;
use std::str::FromStr;

use stripe_checkout::CheckoutSessionMode;
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionCustomerCreation, CreateCheckoutSessionLineItems,
    CreateCheckoutSessionLineItemsPriceData, CreateCheckoutSessionPaymentIntentData,
    CreateCheckoutSessionPaymentIntentDataSetupFutureUsage, ProductData,
};

use super::{BillingError, NUSD_PER_CENT, usd_to_nusd};
use crate::config::Settings;
use crate::domain::ids::TenantId;
use crate::domain::money::NanoUsd;
use crate::storage::Db;

/// The metadata key naming the tenant on sessions and payment intents.
pub const TENANT_METADATA: &str = "tenant_id";
/// The metadata key holding the purchased amount in USD (e.g. `25.00`).
pub const AMOUNT_METADATA: &str = "amount_usd";

/// A created Checkout Session.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct CheckoutSession {
    pub id: String,
    /// Where to send the buyer.
    pub url: String,
}

/// A Stripe client for the configured account and API base.
pub fn client(settings: &Settings) -> Result<stripe::Client, BillingError> {
    let key = settings
        .stripe
        .secret_key
        .as_ref()
        .filter(|k| !k.expose().is_empty())
        .ok_or(BillingError::NotConfigured)?;
    stripe::ClientBuilder::new(key.expose())
        // async-stripe appends `v1/…` to the base as given.
        .url(format!(
            "{}/",
            settings.stripe.api_base.trim_end_matches('/')
        ))
        .build()
        .map_err(|e| BillingError::Stripe(e.to_string()))
}

/// Checks a purchase amount against `[billing]` bounds; returns it in cents.
pub fn purchase_cents(settings: &Settings, amount: NanoUsd) -> Result<i64, BillingError> {
    let min = usd_to_nusd(settings.billing.min_purchase_usd);
    let max = usd_to_nusd(settings.billing.max_purchase_usd);
    if amount.0 < min.max(1) || amount.0 > max {
        return Err(BillingError::AmountOutOfRange {
            min: NanoUsd(min),
            max: NanoUsd(max),
        });
    }
    if amount.0 % NUSD_PER_CENT != 0 {
        return Err(BillingError::FractionalCents);
    }
    Ok(amount.0 / NUSD_PER_CENT)
}

/// A configured return URL: absolute as given, or a path taken on `origin` (the scheme and
/// host the buyer uses the dashboard on, e.g. `https://gateway.example.com`).
pub fn return_url(configured: &str, origin: &str) -> String {
    if configured.starts_with('/') {
        format!("{}{configured}", origin.trim_end_matches('/'))
    } else {
        configured.to_owned()
    }
}

/// Creates a Checkout Session buying `amount` of credits for `tenant`; the dashboard redirects
/// the buyer to its URL, and Stripe sends the buyer back to `[stripe] success_url` or
/// `cancel_url` (paths are taken on `origin`). When the tenant has auto-recharge on, Checkout
/// also saves the card for off-session charges (on the tenant's Stripe customer, created at its
/// first purchase).
pub async fn checkout(
    settings: &Settings,
    db: &Db,
    tenant: &TenantId,
    amount: NanoUsd,
    origin: &str,
) -> Result<CheckoutSession, BillingError> {
    let cents = purchase_cents(settings, amount)?;
    let account = super::balance(db, tenant).await?;
    let client = client(settings)?;
    let currency = stripe_types::Currency::from_str(&settings.stripe.currency).map_err(|_| {
        BillingError::Stripe(format!("unknown currency {}", settings.stripe.currency))
    })?;
    let metadata = HashMap::from([
        (TENANT_METADATA.to_owned(), tenant.as_str().to_owned()),
        (
            AMOUNT_METADATA.to_owned(),
            format!("{:.2}", amount.as_usd()),
        ),
    ]);
    let mut price = CreateCheckoutSessionLineItemsPriceData::new(currency);
    price.unit_amount = Some(cents);
    price.product_data = Some(ProductData::new("Switchyard credits"));
    let mut item = CreateCheckoutSessionLineItems::new();
    item.price_data = Some(price);
    item.quantity = Some(1);
    let mut intent = CreateCheckoutSessionPaymentIntentData::new();
    intent.metadata = Some(metadata.clone());
    let auto_recharge = account.auto_recharge_amount_nusd.is_some();
    if auto_recharge {
        intent.setup_future_usage =
            Some(CreateCheckoutSessionPaymentIntentDataSetupFutureUsage::OffSession);
    }
    let mut request = CreateCheckoutSession::new();
    if let Some(customer) = &account.stripe_customer_id {
        request = request.customer(customer.as_str());
    } else if auto_recharge {
        request = request.customer_creation(CreateCheckoutSessionCustomerCreation::Always);
    }
    let session = request
        .mode(CheckoutSessionMode::Payment)
        .client_reference_id(tenant.as_str())
        .metadata(metadata)
        .line_items(vec![item])
        .payment_intent_data(intent)
        .success_url(return_url(&settings.stripe.success_url, origin))
        .cancel_url(return_url(&settings.stripe.cancel_url, origin))
        .send(&client)
        .await
        .map_err(|e| BillingError::Stripe(describe(&e)))?;
    let url = session
        .url
        .ok_or_else(|| BillingError::Stripe("the Checkout Session has no URL".into()))?;
    Ok(CheckoutSession {
        id: session.id.as_str().to_owned(),
        url,
    })
}

/// A Stripe error as one line (Stripe's own message when it gave one).
fn describe(e: &stripe::StripeError) -> String {
    match e {
        stripe::StripeError::Stripe(errors, status) => format!(
            "{status}: {}",
            errors.message.as_deref().unwrap_or("no message")
        ),
        other => other.to_string(),
    }
}

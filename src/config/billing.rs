//! `[stripe]` (the Stripe account credits are bought through) and `[billing]` (prepaid credits:
//! trial amount, low-balance alert, purchase bounds).

use serde::Deserialize;

use super::{ConfigError, Secret};

/// `[stripe]`: off unless `secret_key` is set.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StripeSettings {
    /// The Stripe API base URL (tests point it at a local server).
    pub api_base: String,
    /// The secret API key (`sk_…`), usually `${STRIPE_SECRET_KEY}`.
    pub secret_key: Option<Secret>,
    /// The webhook endpoint's signing secret (`whsec_…`).
    pub webhook_secret: Option<Secret>,
    /// Where Checkout sends the buyer after paying (`{CHECKOUT_SESSION_ID}` is filled in by
    /// Stripe). A path starting with `/` is taken on the host the buyer uses the dashboard on.
    pub success_url: String,
    /// Where Checkout sends a buyer who cancels (a path: on the dashboard's host).
    pub cancel_url: String,
    /// ISO currency of purchases (credits are USD; use `usd` unless the account settles
    /// another currency at par).
    pub currency: String,
}

impl Default for StripeSettings {
    fn default() -> Self {
        Self {
            api_base: "https://api.stripe.com".into(),
            secret_key: None,
            webhook_secret: None,
            success_url: "/app/credits?checkout=success".into(),
            cancel_url: "/app/credits?checkout=cancelled".into(),
            currency: "usd".into(),
        }
    }
}

/// `[billing]`: prepaid credits.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BillingSettings {
    /// Credits granted to every new tenant, in USD.
    pub trial_credits_usd: f64,
    /// A tenant's balance falling below this raises a `credits.low_balance` alert (once per
    /// crossing); unset: no alert.
    pub low_balance_usd: Option<f64>,
    /// Smallest purchase through Checkout, in USD.
    pub min_purchase_usd: f64,
    /// Largest purchase through Checkout, in USD.
    pub max_purchase_usd: f64,
}

impl Default for BillingSettings {
    fn default() -> Self {
        Self {
            trial_credits_usd: 0.0,
            low_balance_usd: None,
            min_purchase_usd: 5.0,
            max_purchase_usd: 10_000.0,
        }
    }
}

/// Checks both sections.
pub fn validate(stripe: &StripeSettings, billing: &BillingSettings) -> Result<(), ConfigError> {
    let invalid = |key: &'static str, message: String| ConfigError::Value { key, message };
    let url = url::Url::parse(&stripe.api_base)
        .map_err(|e| invalid("stripe.api_base", format!("`{}`: {e}", stripe.api_base)))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(
            "stripe.api_base",
            format!("`{}` is not an http(s) URL", stripe.api_base),
        ));
    }
    if stripe.currency.len() != 3 || !stripe.currency.chars().all(|c| c.is_ascii_lowercase()) {
        return Err(invalid(
            "stripe.currency",
            format!(
                "`{}` is not a lower-case ISO currency code",
                stripe.currency
            ),
        ));
    }
    for (key, value) in [
        ("stripe.success_url", &stripe.success_url),
        ("stripe.cancel_url", &stripe.cancel_url),
    ] {
        let absolute = url::Url::parse(value)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host());
        let path = value.starts_with('/') && !value.starts_with("//");
        if !absolute && !path {
            return Err(invalid(
                key,
                format!("`{value}` is neither an http(s) URL nor a path starting with /"),
            ));
        }
    }
    let amounts = [
        ("billing.trial_credits_usd", Some(billing.trial_credits_usd)),
        ("billing.low_balance_usd", billing.low_balance_usd),
        ("billing.min_purchase_usd", Some(billing.min_purchase_usd)),
        ("billing.max_purchase_usd", Some(billing.max_purchase_usd)),
    ];
    for (key, value) in amounts {
        if value.is_some_and(|v| !v.is_finite() || v < 0.0) {
            return Err(invalid(key, "must be a non-negative amount".into()));
        }
    }
    if billing.min_purchase_usd > billing.max_purchase_usd {
        return Err(invalid(
            "billing.min_purchase_usd",
            "must not exceed billing.max_purchase_usd".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::config::{Billing, ConfigError, Settings, Sources, load};

    fn load_text(text: &str) -> Result<Settings, ConfigError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("switchyard.toml");
        std::fs::write(&path, text).expect("write");
        load(&Sources {
            file: Some(&path),
            search_dir: None,
            env: &BTreeMap::new(),
        })
    }

    const PROVIDER: &str = "[[providers]]\nname = \"p\"\nkind = \"openai-compatible\"\nbase_url = \"http://127.0.0.1:1/v1\"\n";

    #[test]
    fn models_default_to_byok_and_take_credits_with_markup() {
        let settings = load_text(&format!(
            "{PROVIDER}[[models]]\nname = \"a\"\nprovider = \"p\"\n\
             [[models]]\nname = \"b\"\nprovider = \"p\"\nbilling = \"credits\"\n\
             markup_pct = 12.5\ninput_usd_per_mtok = 1.0\noutput_usd_per_mtok = 2.0\n\
             [stripe]\nsecret_key = \"sk_test\"\nwebhook_secret = \"whsec\"\n\
             [billing]\ntrial_credits_usd = 5\nlow_balance_usd = 1.5\n"
        ))
        .expect("loads");
        assert_eq!(settings.models[0].billing, Billing::Byok);
        assert_eq!(settings.models[1].billing, Billing::Credits);
        assert_eq!(settings.models[1].markup_bps(), 1250);
        assert_eq!(settings.stripe.api_base, "https://api.stripe.com");
        assert_eq!(settings.stripe.currency, "usd");
        assert_eq!(settings.billing.trial_credits_usd, 5.0);
        assert_eq!(settings.billing.low_balance_usd, Some(1.5));
    }

    #[test]
    fn unpriced_credits_models_and_bad_values_are_refused() {
        let unpriced = load_text(&format!(
            "{PROVIDER}[[models]]\nname = \"b\"\nprovider = \"p\"\nbilling = \"credits\"\n"
        ));
        assert!(matches!(
            unpriced,
            Err(ConfigError::Value {
                key: "models.billing",
                ..
            })
        ));
        let unknown = load_text(&format!(
            "{PROVIDER}[[models]]\nname = \"b\"\nprovider = \"p\"\nbilling = \"free\"\n"
        ));
        assert!(unknown.is_err());
        let negative = load_text("[billing]\nmin_purchase_usd = -1\n");
        assert!(matches!(
            negative,
            Err(ConfigError::Value {
                key: "billing.min_purchase_usd",
                ..
            })
        ));
        let currency = load_text("[stripe]\ncurrency = \"US Dollar\"\n");
        assert!(matches!(
            currency,
            Err(ConfigError::Value {
                key: "stripe.currency",
                ..
            })
        ));
        let typo = load_text("[stripe]\nsecret = \"sk\"\n");
        assert!(typo.is_err(), "unknown keys are refused");
    }
}

//! A local server speaking Stripe's API as its clients see it: form-encoded requests
//! authenticated with `Authorization: Bearer <secret key>`, JSON objects shaped as Stripe
//! returns them, errors as `{"error": {"type", "message", "param"}}`. It serves Checkout
//! Sessions and builds the events Stripe would deliver about them, signed like Stripe signs
//! webhooks.
//!
//! Like Stripe, it also hosts the checkout page at each session's `url`: a browser can "pay"
//! there (a form), after which the server delivers the signed `charge.succeeded`,
//! `checkout.session.completed` and `payment_intent.succeeded` events to the webhook endpoint
//! configured with [`StripeServer::deliver_webhooks_to`] and redirects the browser to the
//! session's `success_url`. Charges carry a `receipt_url` served here (`/receipts/{charge}`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::dev::ServerHandle;
use actix_web::{HttpRequest, HttpResponse, web};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::mock_provider::serve_mock;

/// The secret key tests configure.
pub const SECRET_KEY: &str = "sk_test_switchyard_local";
/// The webhook signing secret tests configure.
pub const WEBHOOK_SECRET: &str = "whsec_test_switchyard_local";

/// A Checkout Session the server created, with the form it was created from.
#[derive(Clone, Debug)]
pub struct CreatedSession {
    pub form: HashMap<String, String>,
    pub object: Value,
}

/// A PaymentIntent the server created, with the form it was created from.
#[derive(Clone, Debug)]
pub struct CreatedIntent {
    pub form: HashMap<String, String>,
    pub object: Value,
}

/// A webhook delivery the hosted checkout made: the event type and the endpoint's status.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub kind: String,
    pub status: u16,
}

#[derive(Default)]
struct Shared {
    sessions: Mutex<Vec<CreatedSession>>,
    intents: Mutex<Vec<CreatedIntent>>,
    /// This server's own base URL (for session and receipt URLs).
    base_url: std::sync::OnceLock<String>,
    /// Where events go (a webhook endpoint, as configured in Stripe's dashboard).
    endpoint: Mutex<Option<String>>,
    deliveries: Mutex<Vec<Delivery>>,
}

/// The running server.
pub struct StripeServer {
    /// The API base to configure (`[stripe] api_base`).
    pub base_url: String,
    shared: Arc<Shared>,
    handle: ServerHandle,
}

impl Drop for StripeServer {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

fn stripe_error(status: u16, kind: &str, message: &str, param: Option<&str>) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(status).expect("status");
    HttpResponse::build(status).json(json!({
        "error": { "type": kind, "message": message, "param": param }
    }))
}

fn authorized(req: &HttpRequest) -> bool {
    req.headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {SECRET_KEY}"))
}

fn random_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

fn metadata_of(form: &HashMap<String, String>) -> Value {
    let map: serde_json::Map<String, Value> = form
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("metadata[")
                .and_then(|k| k.strip_suffix(']'))
                .map(|k| (k.to_owned(), Value::from(v.clone())))
        })
        .collect();
    Value::Object(map)
}

async fn create_session(
    req: HttpRequest,
    body: web::Bytes,
    shared: web::Data<Arc<Shared>>,
) -> HttpResponse {
    if !authorized(&req) {
        return stripe_error(
            401,
            "invalid_request_error",
            "Invalid API Key provided.",
            None,
        );
    }
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let Some(mode) = form.get("mode") else {
        return stripe_error(
            400,
            "invalid_request_error",
            "Missing required param: mode.",
            Some("mode"),
        );
    };
    let Some(cents) = form
        .get("line_items[0][price_data][unit_amount]")
        .and_then(|v| v.parse::<i64>().ok())
    else {
        return stripe_error(
            400,
            "invalid_request_error",
            "You must provide line_items[0][price_data][unit_amount].",
            Some("line_items"),
        );
    };
    let quantity: i64 = form
        .get("line_items[0][quantity]")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let id = random_id("cs_test");
    let now = chrono::Utc::now().timestamp();
    let object = json!({
        "id": id,
        "object": "checkout.session",
        "amount_subtotal": cents * quantity,
        "amount_total": cents * quantity,
        "automatic_tax": { "enabled": false, "liability": null, "provider": null, "status": null },
        "cancel_url": form.get("cancel_url"),
        "client_reference_id": form.get("client_reference_id"),
        "created": now,
        "currency": form.get("line_items[0][price_data][currency]"),
        "custom_fields": [],
        "custom_text": { "after_submit": null, "shipping_address": null, "submit": null, "terms_of_service_acceptance": null },
        "customer": null,
        "customer_email": null,
        "expires_at": now + 86_400,
        "livemode": false,
        "metadata": metadata_of(&form),
        "mode": mode,
        "payment_intent": null,
        "payment_method_types": ["card"],
        "payment_status": "unpaid",
        "shipping_options": [],
        "status": "open",
        "success_url": form.get("success_url"),
        "url": format!("{}/c/pay/{id}", shared.base_url.get().map_or("", String::as_str)),
    });
    shared
        .sessions
        .lock()
        .expect("sessions")
        .push(CreatedSession {
            form,
            object: object.clone(),
        });
    HttpResponse::Ok().json(object)
}

async fn create_intent(
    req: HttpRequest,
    body: web::Bytes,
    shared: web::Data<Arc<Shared>>,
) -> HttpResponse {
    if !authorized(&req) {
        return stripe_error(
            401,
            "invalid_request_error",
            "Invalid API Key provided.",
            None,
        );
    }
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let (Some(amount), Some(currency)) = (
        form.get("amount").and_then(|v| v.parse::<i64>().ok()),
        form.get("currency"),
    ) else {
        return stripe_error(
            400,
            "invalid_request_error",
            "Missing required param: amount.",
            Some("amount"),
        );
    };
    let confirmed = form.get("confirm").map(String::as_str) == Some("true");
    let object = json!({
        "id": random_id("pi"),
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_received": if confirmed { amount } else { 0 },
        "capture_method": "automatic",
        "confirmation_method": "automatic",
        "created": chrono::Utc::now().timestamp(),
        "currency": currency,
        "customer": form.get("customer"),
        "description": form.get("description"),
        "livemode": false,
        "metadata": metadata_of(&form),
        "payment_method": form.get("payment_method"),
        "payment_method_types": ["card"],
        "setup_future_usage": null,
        "status": if confirmed { "succeeded" } else { "requires_confirmation" },
    });
    shared.intents.lock().expect("intents").push(CreatedIntent {
        form,
        object: object.clone(),
    });
    HttpResponse::Ok().json(object)
}

impl StripeServer {
    /// Starts the server on a random loopback port.
    pub async fn start() -> StripeServer {
        let shared = Arc::new(Shared::default());
        let data = web::Data::new(shared.clone());
        let (port, handle) = serve_mock(move |cfg: &mut web::ServiceConfig| {
            cfg.app_data(data.clone())
                .route("/v1/checkout/sessions", web::post().to(create_session))
                .route("/v1/payment_intents", web::post().to(create_intent))
                .route("/c/pay/{id}", web::get().to(hosted_page))
                .route("/c/pay/{id}", web::post().to(hosted_pay))
                .route("/receipts/{charge}", web::get().to(receipt_page));
        });
        let base_url = format!("http://127.0.0.1:{port}");
        shared.base_url.set(base_url.clone()).expect("set once");
        StripeServer {
            base_url,
            shared,
            handle,
        }
    }

    /// Delivers the hosted checkout's events to `url` (the gateway's `/webhooks/stripe`),
    /// signed with [`WEBHOOK_SECRET`].
    pub fn deliver_webhooks_to(&self, url: &str) {
        *self.shared.endpoint.lock().expect("endpoint") = Some(url.to_owned());
    }

    /// The webhook deliveries made so far.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.shared.deliveries.lock().expect("deliveries").clone()
    }

    /// The payment intents created so far.
    pub fn intents(&self) -> Vec<CreatedIntent> {
        self.shared.intents.lock().expect("intents").clone()
    }

    /// The sessions created so far.
    pub fn sessions(&self) -> Vec<CreatedSession> {
        self.shared.sessions.lock().expect("sessions").clone()
    }
}

/// A `checkout.session.completed` event for a paid session: the session object as Stripe sends
/// it once the buyer paid (payment intent and customer set, `payment_status` `paid`).
pub fn session_completed(session: &Value, payment_intent: &str) -> Value {
    let mut object = session.clone();
    object["payment_intent"] = json!(payment_intent);
    object["payment_status"] = json!("paid");
    object["status"] = json!("complete");
    object["customer"] = json!(random_id("cus"));
    event("checkout.session.completed", object)
}

/// A `checkout.session.completed` event for a session of `tenant` paying `cents`.
pub fn paid_session(tenant: &str, cents: i64, payment_intent: &str) -> Value {
    let session = json!({
        "id": random_id("cs_test"),
        "object": "checkout.session",
        "amount_total": cents,
        "client_reference_id": tenant,
        "currency": "usd",
        "metadata": { "tenant_id": tenant },
        "mode": "payment",
        "payment_status": "unpaid",
    });
    session_completed(&session, payment_intent)
}

/// A `payment_intent.succeeded` event for `intent` (a PaymentIntent object).
pub fn payment_intent_succeeded(intent: &Value) -> Value {
    event("payment_intent.succeeded", intent.clone())
}

/// The PaymentIntent of a Checkout that saved the buyer's card for off-session use.
pub fn checkout_intent(tenant: &str, id: &str, cents: i64, customer: &str, method: &str) -> Value {
    json!({
        "id": id,
        "object": "payment_intent",
        "amount": cents,
        "amount_received": cents,
        "currency": "usd",
        "customer": customer,
        "metadata": { "tenant_id": tenant, "amount_usd": format!("{:.2}", cents as f64 / 100.0) },
        "payment_method": method,
        "setup_future_usage": "off_session",
        "status": "succeeded",
    })
}

/// A `charge.refunded` event: `refunded_cents` is cumulative, as in Stripe's charge object.
pub fn charge_refunded(
    payment_intent: &str,
    charge: &str,
    amount: i64,
    refunded_cents: i64,
) -> Value {
    event(
        "charge.refunded",
        json!({
            "id": charge,
            "object": "charge",
            "amount": amount,
            "amount_refunded": refunded_cents,
            "currency": "usd",
            "payment_intent": payment_intent,
            "receipt_url": format!("https://pay.stripe.com/receipts/{charge}"),
            "refunded": refunded_cents == amount,
            "status": "succeeded",
        }),
    )
}

/// A `charge.succeeded` event for the charge of `payment_intent`.
pub fn charge_succeeded(payment_intent: &str, charge: &str, amount: i64) -> Value {
    event(
        "charge.succeeded",
        json!({
            "id": charge,
            "object": "charge",
            "amount": amount,
            "amount_refunded": 0,
            "currency": "usd",
            "paid": true,
            "payment_intent": payment_intent,
            "receipt_url": format!("https://pay.stripe.com/receipts/{charge}"),
            "status": "succeeded",
        }),
    )
}

/// A `charge.dispute.created` event.
pub fn dispute_created(payment_intent: &str, charge: &str, cents: i64) -> Value {
    event(
        "charge.dispute.created",
        json!({
            "id": random_id("dp"),
            "object": "dispute",
            "amount": cents,
            "charge": charge,
            "currency": "usd",
            "payment_intent": payment_intent,
            "reason": "fraudulent",
            "status": "needs_response",
        }),
    )
}

/// Wraps an object in an event envelope as Stripe delivers it.
pub fn event(kind: &str, object: Value) -> Value {
    json!({
        "id": random_id("evt"),
        "object": "event",
        "api_version": "2025-09-30.clover",
        "created": chrono::Utc::now().timestamp(),
        "data": { "object": object },
        "livemode": false,
        "pending_webhooks": 1,
        "request": { "id": null, "idempotency_key": null },
        "type": kind,
    })
}

/// The `Stripe-Signature` header Stripe sends with `payload` at `timestamp` (unix seconds):
/// `t=<timestamp>,v1=<hex HMAC-SHA256 of "<timestamp>.<payload>" under the endpoint secret>`.
pub fn signature(payload: &str, secret: &str, timestamp: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("hmac key");
    mac.update(format!("{timestamp}.{payload}").as_bytes());
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn find_session(shared: &Shared, id: &str) -> Option<(usize, CreatedSession)> {
    shared
        .sessions
        .lock()
        .expect("sessions")
        .iter()
        .enumerate()
        .find(|(_, s)| s.object["id"] == id)
        .map(|(i, s)| (i, s.clone()))
}

fn page(title: &str, body: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{title}</title><link rel=\"icon\" href=\"data:,\"></head>\
             <body style=\"font-family: sans-serif; max-width: 28rem; margin: 3rem auto\">\
             {body}</body></html>"
        ))
}

/// `GET /c/pay/{id}`: Stripe's hosted checkout page for an open session.
async fn hosted_page(id: web::Path<String>, shared: web::Data<Arc<Shared>>) -> HttpResponse {
    let Some((_, session)) = find_session(&shared, &id) else {
        return HttpResponse::NotFound().body("No such checkout session");
    };
    let cents = session.object["amount_total"].as_i64().unwrap_or(0);
    let product = session
        .form
        .get("line_items[0][price_data][product_data][name]")
        .cloned()
        .unwrap_or_default();
    let cancel = session.object["cancel_url"].as_str().unwrap_or_default();
    page(
        "Checkout (local Stripe)",
        &format!(
            "<h1>Pay ${:.2}</h1><p>{}</p><form method=\"post\" action=\"/c/pay/{}\">\
             <label>Card number <input name=\"card\" value=\"4242 4242 4242 4242\"></label>\
             <button type=\"submit\">Pay ${:.2}</button></form>\
             <p><a href=\"{}\">Cancel</a></p>",
            cents as f64 / 100.0,
            html_escape(&product),
            html_escape(&id),
            cents as f64 / 100.0,
            html_escape(cancel),
        ),
    )
}

/// `POST /c/pay/{id}`: the buyer pays. The session completes with a new payment intent, charge
/// and customer; the events go to the webhook endpoint, signed; the browser goes to
/// `success_url` (with `{CHECKOUT_SESSION_ID}` filled in).
async fn hosted_pay(id: web::Path<String>, shared: web::Data<Arc<Shared>>) -> HttpResponse {
    let Some((index, session)) = find_session(&shared, &id) else {
        return HttpResponse::NotFound().body("No such checkout session");
    };
    let success = session.object["success_url"]
        .as_str()
        .unwrap_or_default()
        .replace("{CHECKOUT_SESSION_ID}", &id);
    if session.object["status"] == "complete" {
        return HttpResponse::SeeOther()
            .insert_header(("location", success))
            .finish();
    }
    let base = shared.base_url.get().cloned().unwrap_or_default();
    let cents = session.object["amount_total"].as_i64().unwrap_or(0);
    let (intent_id, charge_id) = (random_id("pi"), random_id("ch"));
    let customer = session
        .form
        .get("customer")
        .cloned()
        .unwrap_or_else(|| random_id("cus"));
    // Metadata given for the payment intent is copied to its charge when it is confirmed.
    let intent_metadata: serde_json::Map<String, Value> = session
        .form
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("payment_intent_data[metadata][")
                .and_then(|k| k.strip_suffix(']'))
                .map(|k| (k.to_owned(), Value::from(v.clone())))
        })
        .collect();
    let charge = json!({
        "id": charge_id,
        "object": "charge",
        "amount": cents,
        "amount_captured": cents,
        "amount_refunded": 0,
        "currency": session.object["currency"],
        "customer": customer,
        "metadata": intent_metadata,
        "paid": true,
        "payment_intent": intent_id,
        "receipt_url": format!("{base}/receipts/{charge_id}"),
        "refunded": false,
        "status": "succeeded",
    });
    let intent = json!({
        "id": intent_id,
        "object": "payment_intent",
        "amount": cents,
        "amount_received": cents,
        "currency": session.object["currency"],
        "customer": customer,
        "latest_charge": charge_id,
        "metadata": intent_metadata,
        "payment_method": random_id("pm"),
        "setup_future_usage": session.form.get("payment_intent_data[setup_future_usage]"),
        "status": "succeeded",
    });
    let mut completed = session.object.clone();
    completed["payment_intent"] = json!(intent_id);
    completed["payment_status"] = json!("paid");
    completed["status"] = json!("complete");
    completed["customer"] = json!(customer);
    shared.sessions.lock().expect("sessions")[index].object = completed.clone();
    let endpoint = shared.endpoint.lock().expect("endpoint").clone();
    if let Some(endpoint) = endpoint {
        let client = reqwest::Client::new();
        for event in [
            event("charge.succeeded", charge),
            event("checkout.session.completed", completed),
            event("payment_intent.succeeded", intent),
        ] {
            let payload = event.to_string();
            let signed = signature(&payload, WEBHOOK_SECRET, chrono::Utc::now().timestamp());
            let status = client
                .post(&endpoint)
                .header("content-type", "application/json")
                .header("stripe-signature", signed)
                .body(payload)
                .send()
                .await
                .map_or(0, |r| r.status().as_u16());
            shared
                .deliveries
                .lock()
                .expect("deliveries")
                .push(Delivery {
                    kind: event["type"].as_str().unwrap_or_default().to_owned(),
                    status,
                });
        }
    }
    HttpResponse::SeeOther()
        .insert_header(("location", success))
        .finish()
}

/// `GET /receipts/{charge}`: the receipt page a charge's `receipt_url` points to.
async fn receipt_page(charge: web::Path<String>) -> HttpResponse {
    page(
        "Receipt (local Stripe)",
        &format!("<h1>Receipt</h1><p>Charge {}</p>", html_escape(&charge)),
    )
}

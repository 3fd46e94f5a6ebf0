//! Measures PII redaction of a 4 KB prompt with every detector active:
//! `cargo run --release --example pii_bench [-- ITERATIONS]`.
//! Prints the median and 99th percentile per call for a prompt with personal data (tokenized)
//! and one without (the scan alone).

use std::time::Instant;

use switchyard::policy::pii::scrub::Session;
use switchyard::policy::pii::{Action, CustomRule, Detectors, PiiPolicy, PiiType};

const PROSE: &str = "Thanks for getting back to me so quickly. I went through the quarterly \
    report again and the numbers for the northern region still look off compared to last year; \
    revenue grew to $1,204,332.18 while the order count (ORD-2024-558812 onwards) barely moved. \
    Could you check whether the release v2.14.3 changed how refunds are booked on 2024-03-15? ";

fn prompt(with_pii: bool) -> String {
    let pii = [
        "Please reply to jane.doe@example.com or call +1 415-555-0132. ",
        "The card on file is 4242 4242 4242 4242 and the IBAN DE89 3704 0044 0532 0130 00. ",
        "Her SSN is 123-45-6789; the VPN logs show 10.20.30.40 and 2001:db8::1. ",
        "Staging uses sk-proj-abcdefghijklmnopqrstuvwxyz012345 for now. ",
    ];
    let mut text = String::new();
    let mut i = 0;
    while text.len() < 4096 {
        text.push_str(PROSE);
        if with_pii {
            text.push_str(pii[i % pii.len()]);
        }
        i += 1;
    }
    text.truncate(4096);
    text
}

fn measure(detectors: &Detectors, text: &str, iterations: usize) -> (f64, f64, usize) {
    let mut found = 0;
    for _ in 0..iterations / 10 {
        found = detectors.find(text).len();
    }
    let mut samples: Vec<f64> = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let mut session = Session::default();
        let started = Instant::now();
        let out = detectors.scrub(text, &mut session);
        samples.push(started.elapsed().as_secs_f64() * 1e6);
        std::hint::black_box(out);
    }
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
    (at(0.5), at(0.99), found)
}

fn main() -> anyhow::Result<()> {
    let iterations: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(20_000);
    let mut policy = PiiPolicy::default();
    for t in PiiType::ALL {
        policy.set(t, Some(Action::Tokenize));
    }
    policy.custom.push(CustomRule {
        name: "EMPLOYEE_ID".into(),
        pattern: r"\bE-[0-9]{6}\b".into(),
        action: Action::Redact,
    });
    let detectors = Detectors::compile(&policy)
        .map_err(anyhow::Error::msg)?
        .ok_or_else(|| anyhow::anyhow!("no detector"))?;
    for (label, with_pii) in [
        ("4 KB prompt with PII", true),
        ("4 KB prompt without PII", false),
    ] {
        let text = prompt(with_pii);
        let (p50, p99, found) = measure(&detectors, &text, iterations);
        println!(
            "{label}: {} bytes, {found} findings, p50 {p50:.1} µs, p99 {p99:.1} µs ({iterations} runs)",
            text.len()
        );
    }
    Ok(())
}

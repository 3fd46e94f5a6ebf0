#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

//! The labelled PII corpus (`tests/fixtures/pii/corpus.jsonl`, built by `pii_corpus/generate.rs`):
//! precision and recall of every structured detector must be at least 0.95. Regenerate the
//! fixture with `PII_CORPUS_WRITE=1 cargo test --test pii_corpus`; `PII_CORPUS_MISSES=1` (with
//! `--nocapture`) lists every miss.

#[path = "pii_corpus/generate.rs"]
mod generate;

use std::collections::BTreeMap;

use generate::{Sample, Span};
use switchyard::policy::pii::{Action, Detectors, PiiPolicy, PiiType};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/pii/corpus.jsonl"
);
const SEED: u64 = 0x5157_17c4_2026;
const SAMPLES: usize = 600;

fn to_jsonl(samples: &[Sample]) -> String {
    samples
        .iter()
        .map(|s| serde_json::to_string(s).unwrap() + "\n")
        .collect()
}

#[test]
fn the_fixture_is_what_the_generator_builds() {
    let built = to_jsonl(&generate::corpus(SEED, SAMPLES));
    if std::env::var_os("PII_CORPUS_WRITE").is_some() {
        std::fs::write(FIXTURE, &built).unwrap();
    }
    let stored = std::fs::read_to_string(FIXTURE).expect("fixture (PII_CORPUS_WRITE=1 builds it)");
    assert!(
        stored == built,
        "the fixture is stale: regenerate it with PII_CORPUS_WRITE=1"
    );
}

#[derive(Default, Debug)]
struct Score {
    true_pos: u32,
    false_pos: u32,
    false_neg: u32,
}

#[test]
fn every_structured_type_has_precision_and_recall_of_at_least_095() {
    let stored = std::fs::read_to_string(FIXTURE).expect("fixture");
    let samples: Vec<Sample> = stored
        .lines()
        .map(|l| serde_json::from_str(l).expect("sample"))
        .collect();
    assert!(samples.len() >= 500);
    let mut policy = PiiPolicy::default();
    for t in PiiType::ALL {
        policy.set(t, Some(Action::Redact));
    }
    let detectors = Detectors::compile(&policy).unwrap().unwrap();
    let mut scores: BTreeMap<String, Score> = BTreeMap::new();
    let mut misses = Vec::new();
    for sample in &samples {
        let found: Vec<Span> = detectors
            .find(&sample.text)
            .into_iter()
            .map(|f| Span {
                kind: detectors.detectors[f.detector].key.clone(),
                start: f.start,
                end: f.end,
            })
            .collect();
        for span in &found {
            let score = scores.entry(span.kind.clone()).or_default();
            if sample.spans.contains(span) {
                score.true_pos += 1;
            } else {
                score.false_pos += 1;
                misses.push(format!(
                    "FP {} `{}` in: {}",
                    span.kind,
                    &sample.text[span.start..span.end],
                    sample.text
                ));
            }
        }
        for span in &sample.spans {
            if !found.contains(span) {
                scores.entry(span.kind.clone()).or_default().false_neg += 1;
                misses.push(format!(
                    "FN {} `{}` in: {}",
                    span.kind,
                    &sample.text[span.start..span.end],
                    sample.text
                ));
            }
        }
    }
    let mut failed = Vec::new();
    for t in PiiType::ALL {
        let s = scores.get(t.key()).expect("every type is in the corpus");
        let precision = f64::from(s.true_pos) / f64::from(s.true_pos + s.false_pos);
        let recall = f64::from(s.true_pos) / f64::from(s.true_pos + s.false_neg);
        println!(
            "{:7} n={:4} precision={precision:.3} recall={recall:.3}",
            t.key(),
            s.true_pos + s.false_neg
        );
        assert!(s.true_pos >= 30, "too few {} samples", t.key());
        if precision < 0.95 || recall < 0.95 {
            failed.push(t.key());
        }
    }
    if std::env::var_os("PII_CORPUS_MISSES").is_some() {
        println!("{}", misses.join("\n"));
    }
    assert!(
        failed.is_empty(),
        "below 0.95: {failed:?}\n{}",
        misses.join("\n")
    );
}

//! Route rules: conditions on the request that pick a rule's targets.

use actix_web::http::header::HeaderMap;
use regex::Regex;

use crate::config::Condition;

/// What rules can look at in a request.
#[derive(Debug)]
pub struct Features<'a> {
    /// From `metadata.tags` and the `x-switchyard-tags` header (comma-separated).
    pub tags: Vec<String>,
    pub headers: &'a HeaderMap,
    pub key_id: &'a str,
    pub team_id: Option<&'a str>,
    pub team_name: Option<&'a str>,
    /// The locally estimated prompt size.
    pub prompt_tokens: u64,
    pub has_tools: bool,
    pub has_images: bool,
    /// The last user message's text.
    pub last_user_text: String,
}

/// A rule condition with its pattern compiled.
#[derive(Debug)]
pub struct Matcher {
    condition: Condition,
    regex: Option<Regex>,
}

impl Matcher {
    /// Compiles a (validated) condition.
    pub fn new(condition: Condition) -> Result<Self, regex::Error> {
        let regex = condition
            .message_regex
            .as_deref()
            .map(Regex::new)
            .transpose()?;
        Ok(Self { condition, regex })
    }

    /// Whether every set condition holds.
    pub fn matches(&self, f: &Features<'_>) -> bool {
        let c = &self.condition;
        c.tag.as_ref().is_none_or(|t| f.tags.iter().any(|x| x == t))
            && c.header.as_ref().is_none_or(|h| {
                f.headers
                    .get(h.name.as_str())
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| h.value.as_ref().is_none_or(|want| v == want))
            })
            && c.key.as_ref().is_none_or(|k| k == f.key_id)
            && c.team
                .as_ref()
                .is_none_or(|t| Some(t.as_str()) == f.team_id || Some(t.as_str()) == f.team_name)
            && c.max_prompt_tokens.is_none_or(|max| f.prompt_tokens <= max)
            && c.has_tools.is_none_or(|want| want == f.has_tools)
            && c.has_images.is_none_or(|want| want == f.has_images)
            && self
                .regex
                .as_ref()
                .is_none_or(|r| r.is_match(&f.last_user_text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::HeaderCondition;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn features(headers: &HeaderMap) -> Features<'_> {
        Features {
            tags: vec!["summarize".into()],
            headers,
            key_id: "key_1",
            team_id: Some("team_1"),
            team_name: Some("research"),
            prompt_tokens: 500,
            has_tools: true,
            has_images: false,
            last_user_text: "please translate this".into(),
        }
    }

    fn m(c: Condition) -> Matcher {
        Matcher::new(c).expect("valid")
    }

    #[test]
    fn each_condition_is_checked() {
        let mut headers = HeaderMap::new();
        headers.insert(
            HeaderName::from_static("x-tier"),
            HeaderValue::from_static("gold"),
        );
        let f = features(&headers);
        assert!(
            m(Condition {
                tag: Some("summarize".into()),
                ..Default::default()
            })
            .matches(&f)
        );
        assert!(
            !m(Condition {
                tag: Some("chat".into()),
                ..Default::default()
            })
            .matches(&f)
        );
        let gold = HeaderCondition {
            name: "x-tier".into(),
            value: Some("gold".into()),
        };
        assert!(
            m(Condition {
                header: Some(gold),
                ..Default::default()
            })
            .matches(&f)
        );
        let silver = HeaderCondition {
            name: "x-tier".into(),
            value: Some("silver".into()),
        };
        assert!(
            !m(Condition {
                header: Some(silver),
                ..Default::default()
            })
            .matches(&f)
        );
        assert!(
            m(Condition {
                team: Some("research".into()),
                ..Default::default()
            })
            .matches(&f)
        );
        assert!(
            m(Condition {
                key: Some("key_1".into()),
                ..Default::default()
            })
            .matches(&f)
        );
        assert!(
            m(Condition {
                max_prompt_tokens: Some(500),
                ..Default::default()
            })
            .matches(&f)
        );
        assert!(
            !m(Condition {
                max_prompt_tokens: Some(499),
                ..Default::default()
            })
            .matches(&f)
        );
        assert!(
            m(Condition {
                has_tools: Some(true),
                ..Default::default()
            })
            .matches(&f)
        );
        assert!(
            !m(Condition {
                has_images: Some(true),
                ..Default::default()
            })
            .matches(&f)
        );
        assert!(
            m(Condition {
                message_regex: Some("(?i)translat".into()),
                ..Default::default()
            })
            .matches(&f)
        );
        let both = Condition {
            tag: Some("summarize".into()),
            has_tools: Some(false),
            ..Default::default()
        };
        assert!(!m(both).matches(&f), "all conditions must hold");
    }
}

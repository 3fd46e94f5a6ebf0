//! The one PII policy form, shown for the organisation (Settings → PII & cache), a team (its
//! page) and a key (its edit page): per type an action, custom patterns as rows, and below the
//! organisation whether the level inherits or overrides, with an "inherit" action.

use super::failure;
use crate::control_plane::api::error::ApiFailure;
use crate::control_plane::auth::principal::Principal;
use crate::control_plane::pii::{self, LevelView};
use crate::domain::role::Role;
use crate::policy::pii::{Action, CustomRule, PiiPolicy, PiiType};
use crate::state::AppState;
use crate::storage::pii_settings::Level;

/// The notice after a saved PII change.
pub const PII_SAVED: &str = "PII policy saved; it applies within a second.";

/// `?saved=…` on a page redirected to after a successful save (`pii`, or the page's own).
#[derive(Debug, serde::Deserialize)]
pub struct SavedQuery {
    pub saved: Option<String>,
}

impl SavedQuery {
    /// The notice for a saved PII change, if that is what was saved.
    pub fn pii_notice(&self) -> Option<String> {
        (self.saved.as_deref() == Some("pii")).then(|| PII_SAVED.to_owned())
    }
}

/// The actions offered per type for the organisation; `off` leaves the type alone.
pub const ACTIONS: &[&str] = &["off", "redact", "mask", "tokenize", "block"];
/// The actions offered per type for a team or a key: `inherit` takes the level above's,
/// `off` switches an inherited rule off.
pub const LOWER_ACTIONS: &[&str] = &["inherit", "off", "redact", "mask", "tokenize", "block"];
/// The actions of a custom pattern of the organisation.
const CUSTOM_ACTIONS: &[&str] = &["redact", "mask", "tokenize", "block"];
/// The actions of a custom pattern of a team or key (`off` switches an inherited one off).
const LOWER_CUSTOM_ACTIONS: &[&str] = &["off", "redact", "mask", "tokenize", "block"];

/// One built-in type's row.
pub struct TypeRow {
    pub key: &'static str,
    pub label: &'static str,
    /// The selected option.
    pub action: &'static str,
    /// What the levels above give this type (`off` when nothing).
    pub inherited: &'static str,
}

/// One custom rule's row (blank for the row that adds one).
#[derive(Default)]
pub struct CustomRow {
    pub name: String,
    pub pattern: String,
    pub action: String,
}

/// Everything the form partial (`dashboard/pii_form.html`) shows.
pub struct PiiForm {
    /// Where the form posts.
    pub action: String,
    /// Where "inherit" posts (teams and keys only).
    pub inherit_action: Option<String>,
    /// `organisation`, `team` or `key`.
    pub subject: &'static str,
    /// The levels a team or key inherits from, in words.
    pub above: &'static str,
    pub types: Vec<TypeRow>,
    pub custom: Vec<CustomRow>,
    /// Custom patterns set above this level.
    pub inherited_custom: Vec<CustomRow>,
    pub actions: &'static [&'static str],
    pub custom_actions: &'static [&'static str],
    /// Whether the level sets nothing of its own.
    pub inherits: bool,
    /// What the level sets itself, in words (type labels and custom pattern names).
    pub overrides: Vec<String>,
}

fn describe(t: PiiType) -> &'static str {
    match t {
        PiiType::Email => "Email addresses",
        PiiType::Phone => "Phone numbers",
        PiiType::Card => "Payment card numbers",
        PiiType::Ssn => "US social security numbers",
        PiiType::Iban => "IBANs",
        PiiType::Ip => "IP addresses",
        PiiType::Secret => "Secrets (API keys, tokens)",
    }
}

/// The option shown for a stored action: below the organisation an unset type inherits.
fn shown(a: Option<Action>, lower: bool) -> &'static str {
    match a {
        None if lower => "inherit",
        None | Some(Action::Allow) => "off",
        Some(other) => other.as_str(),
    }
}

fn sorted_types() -> Vec<PiiType> {
    let mut types: Vec<PiiType> = PiiType::ALL.to_vec();
    types.sort();
    types
}

fn custom_rows(rules: &[CustomRule]) -> Vec<CustomRow> {
    rules
        .iter()
        .map(|c| CustomRow {
            name: c.name.clone(),
            pattern: c.pattern.clone(),
            action: shown(Some(c.action), false).to_owned(),
        })
        .collect()
}

impl PiiForm {
    /// The form for `level` showing its stored policy.
    pub fn new(level: &Level, view: &LevelView) -> PiiForm {
        let lower = !matches!(level, Level::Tenant);
        let (action, inherit_action, subject, above) = match level {
            Level::Tenant => ("/app/settings/pii".to_owned(), None, "organisation", ""),
            Level::Team(id) => (
                format!("/app/teams/{id}/pii"),
                Some(format!("/app/teams/{id}/pii/inherit")),
                "team",
                "the organisation",
            ),
            Level::Key(id) => (
                format!("/app/keys/{id}/pii"),
                Some(format!("/app/keys/{id}/pii/inherit")),
                "key",
                "its team and the organisation",
            ),
        };
        let types = sorted_types()
            .into_iter()
            .map(|t| TypeRow {
                key: t.key(),
                label: describe(t),
                action: shown(view.policy.get(t), lower),
                inherited: shown(view.inherited.get(t), false),
            })
            .collect();
        let mut custom = custom_rows(&view.policy.custom);
        // The row that adds a pattern: redact unless another action is chosen.
        custom.push(CustomRow {
            action: "redact".to_owned(),
            ..CustomRow::default()
        });
        let mut overrides: Vec<String> = sorted_types()
            .into_iter()
            .filter(|t| view.policy.get(*t).is_some())
            .map(|t| describe(t).to_owned())
            .collect();
        overrides.extend(view.policy.custom.iter().map(|c| c.name.clone()));
        PiiForm {
            action,
            inherit_action,
            subject,
            above,
            types,
            custom,
            inherited_custom: if lower {
                custom_rows(&view.inherited.custom)
            } else {
                Vec::new()
            },
            actions: if lower { LOWER_ACTIONS } else { ACTIONS },
            custom_actions: if lower {
                LOWER_CUSTOM_ACTIONS
            } else {
                CUSTOM_ACTIONS
            },
            inherits: view.policy.is_empty(),
            overrides,
        }
    }

    /// The form for `level`, read from the database; a failure becomes the page's error.
    pub async fn load(
        state: &AppState,
        p: &Principal,
        level: &Level,
        error: &mut Option<String>,
    ) -> PiiForm {
        let view = match pii::view(&state.db, &p.tenant, level).await {
            Ok(view) => view,
            Err(e) => {
                error.get_or_insert(failure(&e.into()).1);
                LevelView::default()
            }
        };
        PiiForm::new(level, &view)
    }

    /// Shows the submitted rows again (after an error) instead of the stored ones.
    pub fn refill(&mut self, fields: &[(String, String)]) {
        let value = |name: &str| {
            fields
                .iter()
                .find(|(k, _)| k == name)
                .map_or("", |(_, v)| v.as_str())
        };
        let actions = self.actions;
        for row in &mut self.types {
            let chosen = value(&format!("pii_{}", row.key));
            row.action = actions
                .iter()
                .find(|a| **a == chosen)
                .copied()
                .unwrap_or(actions[0]);
        }
        let column = |name: &str| -> Vec<String> {
            fields
                .iter()
                .filter(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .collect()
        };
        let (names, patterns, actions) = (
            column("custom_name"),
            column("custom_pattern"),
            column("custom_action"),
        );
        self.custom = names
            .into_iter()
            .enumerate()
            .map(|(i, name)| CustomRow {
                name,
                pattern: patterns.get(i).cloned().unwrap_or_default(),
                action: actions.get(i).cloned().unwrap_or_default(),
            })
            .collect();
    }
}

/// A submitted action: blank (and `off` for the organisation, `inherit` below it) is unset;
/// `off` below the organisation is an explicit `allow`.
fn action(field: &str, text: &str, lower: bool) -> Result<Option<Action>, ApiFailure> {
    match text.trim() {
        "" | "inherit" => Ok(None),
        "off" if !lower => Ok(None),
        other => other
            .parse::<Action>()
            .map(Some)
            .map_err(|e| ApiFailure::field(field, e)),
    }
}

/// The policy a submitted form describes (repeated `custom_*` fields make one rule each).
pub fn parse_policy(fields: &[(String, String)], level: &Level) -> Result<PiiPolicy, ApiFailure> {
    let lower = !matches!(level, Level::Tenant);
    let mut policy = PiiPolicy::default();
    let value = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    };
    for t in PiiType::ALL {
        let field = format!("pii_{}", t.key());
        policy.set(t, action(&field, value(&field), lower)?);
    }
    let column = |name: &str| -> Vec<&str> {
        fields
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    let (names, patterns, actions) = (
        column("custom_name"),
        column("custom_pattern"),
        column("custom_action"),
    );
    for (i, name) in names.iter().enumerate() {
        let pattern = patterns.get(i).copied().unwrap_or_default();
        if name.trim().is_empty() && pattern.trim().is_empty() {
            continue;
        }
        if pattern.trim().is_empty() {
            return Err(ApiFailure::field(
                "custom",
                format!(
                    "the custom pattern `{}` needs a regular expression",
                    name.trim()
                ),
            ));
        }
        let rule_action = action("custom", actions.get(i).copied().unwrap_or("redact"), lower)?
            .ok_or_else(|| {
                ApiFailure::field(
                    "custom",
                    format!("choose an action for the custom pattern `{}`", name.trim()),
                )
            })?;
        policy.put_custom(CustomRule {
            name: name.trim().to_uppercase(),
            pattern: pattern.trim().to_owned(),
            action: rule_action,
        });
    }
    Ok(policy)
}

/// Saves a submitted form as the policy of `level` (admin).
pub async fn save(
    state: &AppState,
    p: &Principal,
    level: &Level,
    fields: &[(String, String)],
) -> Result<(), ApiFailure> {
    p.require(Role::Admin)?;
    let policy = parse_policy(fields, level)?;
    Ok(pii::put(&state.db, &p.tenant, level, &policy, p.actor()).await?)
}

/// Clears the policy of `level` so it inherits everything (admin).
pub async fn inherit(state: &AppState, p: &Principal, level: &Level) -> Result<(), ApiFailure> {
    p.require(Role::Admin)?;
    Ok(pii::clear(&state.db, &p.tenant, level, p.actor()).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_form_becomes_a_policy() {
        let policy = parse_policy(
            &form(&[
                ("pii_email", "redact"),
                ("pii_card", "block"),
                ("pii_phone", "off"),
                ("custom_name", "employee_id"),
                ("custom_pattern", r"EMP-\d{6}"),
                ("custom_action", "tokenize"),
                ("custom_name", ""),
                ("custom_pattern", ""),
                ("custom_action", "redact"),
            ]),
            &Level::Tenant,
        )
        .unwrap();
        assert_eq!(policy.email, Some(Action::Redact));
        assert_eq!(policy.card, Some(Action::Block));
        assert_eq!(policy.phone, None);
        assert_eq!(policy.custom.len(), 1);
        assert_eq!(policy.custom[0].name, "EMPLOYEE_ID");
        assert!(parse_policy(&form(&[("pii_email", "shred")]), &Level::Tenant).is_err());
        assert!(
            parse_policy(
                &form(&[("custom_name", "X"), ("custom_pattern", "")]),
                &Level::Tenant
            )
            .is_err()
        );
    }

    #[test]
    fn below_the_organisation_off_overrides_and_inherit_unsets() {
        let key = Level::Key("key_1".into());
        let policy = parse_policy(
            &form(&[
                ("pii_email", "off"),
                ("pii_card", "inherit"),
                ("pii_ip", "tokenize"),
                ("custom_name", "EMP"),
                ("custom_pattern", "E-1"),
                ("custom_action", "off"),
            ]),
            &key,
        )
        .unwrap();
        assert_eq!(policy.email, Some(Action::Allow));
        assert_eq!(policy.card, None);
        assert_eq!(policy.ip, Some(Action::Tokenize));
        assert_eq!(policy.custom[0].action, Action::Allow);

        let view = LevelView {
            inherits: false,
            effective: PiiPolicy::default(),
            inherited: PiiPolicy {
                card: Some(Action::Block),
                ..PiiPolicy::default()
            },
            policy,
        };
        let shown = PiiForm::new(&key, &view);
        let row = |k: &str| shown.types.iter().find(|r| r.key == k).unwrap();
        assert_eq!(
            (row("email").action, row("email").inherited),
            ("off", "off")
        );
        assert_eq!(
            (row("card").action, row("card").inherited),
            ("inherit", "block")
        );
        assert_eq!(shown.overrides, ["Email addresses", "IP addresses", "EMP"]);
        assert_eq!(
            shown.inherit_action.as_deref(),
            Some("/app/keys/key_1/pii/inherit")
        );
    }
}

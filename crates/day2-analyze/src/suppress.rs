//! Suppressions: accepted exceptions, from an inline annotation on the object or from configuration.
//!
//! - Annotation (Kubernetes) or tag (cloud): `day2.dev/ignore: "<ID>[,<ID>…] <reason>"`. The reason is required.
//! - Configuration (`suppressions:` in day2.yaml or a separate file): rule id or glob, resource id glob, owner, reason,
//!   optional expiry date (inclusive).
//!
//! A suppressed finding stays in the report with status `suppressed`; once its expiry date has passed it is active again
//! and carries the expired suppression so reports can say why it is back. Invalid entries are reported, never ignored.

use chrono::NaiveDate;
use day2_model::{Finding, FindingStatus, Inventory, Suppression};
use globset::{Glob, GlobMatcher};
use serde::{Deserialize, Serialize};

/// The annotation (or tag) key for inline suppressions.
pub const ANNOTATION: &str = "day2.dev/ignore";

/// One configured exception (`suppressions[]` in day2.yaml).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SuppressionRule {
    /// Rule id or glob: `K8S-POD-011`, `TF-S3-*`.
    pub rule: String,
    /// Resource id glob: `k8s/*/apps.Deployment/shop/*`, `tf/*/aws_s3_bucket/*`. Default `*` (every resource).
    #[serde(default = "any")]
    pub resource: String,
    /// Who owns the exception (person or team).
    pub owner: Option<String>,
    /// Why the risk is accepted. Required.
    pub reason: String,
    /// Last day the exception holds, `YYYY-MM-DD`. Omit for no expiry (not recommended).
    pub expires: Option<NaiveDate>,
}

fn any() -> String {
    "*".into()
}

/// A problem with a suppression entry or annotation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SuppressionError {
    /// A glob in a configured rule does not parse.
    #[error("suppressions[{index}]: invalid {field} glob `{glob}`: {message}")]
    Glob {
        /// Index in the list.
        index: usize,
        /// `rule` or `resource`.
        field: &'static str,
        /// The glob.
        glob: String,
        /// Parser message.
        message: String,
    },
    /// A configured rule has an empty reason.
    #[error("suppressions[{index}]: `reason` must say why the risk is accepted")]
    NoReason {
        /// Index in the list.
        index: usize,
    },
    /// An annotation without a reason.
    #[error("{resource}: annotation {ANNOTATION} must be \"<ID>[,<ID>] <reason>\", got {value:?}")]
    Annotation {
        /// Resource id.
        resource: String,
        /// The annotation value.
        value: String,
    },
}

/// Compiled suppressions, applied to findings after analysis.
#[derive(Debug)]
pub struct Suppressor {
    rules: Vec<(GlobMatcher, GlobMatcher, SuppressionRule)>,
    source: String,
}

impl Suppressor {
    /// Compiles configured rules; `source` names where they came from (`day2.yaml`).
    pub fn new(rules: &[SuppressionRule], source: &str) -> Result<Self, Vec<SuppressionError>> {
        let mut compiled = Vec::new();
        let mut errors = Vec::new();
        for (index, r) in rules.iter().enumerate() {
            if r.reason.trim().is_empty() {
                errors.push(SuppressionError::NoReason { index });
            }
            let glob = |field: &'static str, g: &str| {
                Glob::new(g).map(|g| g.compile_matcher()).map_err(|e| SuppressionError::Glob {
                    index,
                    field,
                    glob: g.to_owned(),
                    message: e.kind().to_string(),
                })
            };
            match (glob("rule", &r.rule), glob("resource", &r.resource)) {
                (Ok(rule), Ok(res)) => compiled.push((rule, res, r.clone())),
                (a, b) => errors.extend(a.err().into_iter().chain(b.err())),
            }
        }
        if errors.is_empty() { Ok(Suppressor { rules: compiled, source: source.to_owned() }) } else { Err(errors) }
    }

    /// The configured rules (index, rule glob) whose rule glob matches none of `rule_ids`: a typo or a rule that
    /// no longer exists, so the exception silences nothing.
    pub fn matching_none<'a>(&'a self, rule_ids: &[&str]) -> impl Iterator<Item = (usize, &'a str)> + 'a {
        let known: Vec<String> = rule_ids.iter().map(|id| (*id).to_owned()).collect();
        self.rules
            .iter()
            .enumerate()
            .filter(move |(_, (rule, _, _))| !known.iter().any(|id| rule.is_match(id)))
            .map(|(index, (_, _, r))| (index, r.rule.as_str()))
    }

    /// Sets each finding's status from annotations and configured rules, as of `today`. Returns annotation problems.
    pub fn apply(&self, findings: &mut [Finding], inventory: &Inventory, today: NaiveDate) -> Vec<SuppressionError> {
        let mut errors = Vec::new();
        let mut bad_annotations = std::collections::BTreeSet::new();
        for f in findings.iter_mut() {
            let inline = inventory
                .get(&f.resource)
                .and_then(|r| r.annotation(ANNOTATION).map(|v| (r.id.to_string(), v.to_owned())));
            let mut found: Option<Suppression> = None;
            if let Some((resource, value)) = inline {
                match parse_annotation(&value) {
                    Some((ids, reason)) if ids.iter().any(|id| id.eq_ignore_ascii_case(&f.rule_id) || id == "*") => {
                        found = Some(Suppression { by: "annotation".into(), owner: None, reason, expires: None });
                    }
                    Some(_) => {}
                    None => {
                        if bad_annotations.insert(resource.clone()) {
                            errors.push(SuppressionError::Annotation { resource, value });
                        }
                    }
                }
            }
            if found.is_none() {
                found = self
                    .rules
                    .iter()
                    .find(|(rule, res, _)| rule.is_match(&f.rule_id) && res.is_match(f.resource.as_str()))
                    .map(|(_, _, r)| Suppression {
                        by: format!("config:{}", self.source),
                        owner: r.owner.clone(),
                        reason: r.reason.clone(),
                        expires: r.expires,
                    });
            }
            if let Some(s) = found {
                f.status = match s.expires {
                    Some(day) if day < today => FindingStatus::Open { expired_suppression: Some(s) },
                    _ => FindingStatus::Suppressed(s),
                };
            }
        }
        errors
    }
}

/// `"K8S-POD-001,K8S-POD-011 vendor agent needs it"` → (ids, reason). None when the reason is missing.
fn parse_annotation(value: &str) -> Option<(Vec<String>, String)> {
    let (ids, reason) = value.trim().split_once(char::is_whitespace)?;
    let reason = reason.trim();
    if reason.is_empty() {
        return None;
    }
    Some((ids.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect(), reason.to_owned()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use day2_model::*;
    use serde_json::json;

    fn resource(annotation: Option<&str>) -> Resource {
        let mut r = day2_testkit::build::resource("cart", "s");
        if let Some(a) = annotation {
            r.attrs = json!({"metadata": {"name": "cart", "annotations": {ANNOTATION: a}}}).into();
        }
        r
    }

    use day2_testkit::build::finding;

    fn run(annotation: Option<&str>, rules: &[SuppressionRule], today: &str) -> (Vec<Finding>, Vec<SuppressionError>) {
        let r = resource(annotation);
        let mut inv = Inventory::default();
        inv.insert(r.clone());
        let mut findings = vec![finding("K8S-POD-001", &r), finding("K8S-POD-011", &r)];
        let errors = Suppressor::new(rules, "day2.yaml").unwrap().apply(&mut findings, &inv, today.parse().unwrap());
        (findings, errors)
    }

    #[test]
    fn annotation_suppresses_listed_rules_only() {
        let (f, e) = run(Some("K8S-POD-011 needs a writable /tmp for the JVM"), &[], "2026-11-22");
        assert!(e.is_empty());
        assert!(f[0].status.is_active());
        assert!(
            matches!(&f[1].status, FindingStatus::Suppressed(s) if s.by == "annotation" && s.reason.contains("JVM"))
        );
    }

    #[test]
    fn annotation_without_reason_is_an_error_and_suppresses_nothing() {
        let (f, e) = run(Some("K8S-POD-011"), &[], "2026-11-22");
        assert_eq!(e.len(), 1);
        assert!(f.iter().all(|f| f.status.is_active()));
    }

    #[test]
    fn configured_rule_expires_after_its_date() {
        let rule = SuppressionRule {
            rule: "K8S-POD-*".into(),
            resource: "k8s/*/apps.Deployment/shop/*".into(),
            owner: Some("payments".into()),
            reason: "migration tracked in SHOP-12".into(),
            expires: NaiveDate::from_ymd_opt(2026, 12, 31),
        };
        let (f, _) = run(None, std::slice::from_ref(&rule), "2026-12-31");
        assert!(
            f.iter()
                .all(|f| matches!(&f.status, FindingStatus::Suppressed(s) if s.owner.as_deref() == Some("payments")))
        );
        let (f, _) = run(None, &[rule], "2027-01-01");
        assert!(f.iter().all(|f| matches!(&f.status, FindingStatus::Open { expired_suppression: Some(_) })));
    }

    #[test]
    fn invalid_rules_are_reported() {
        let bad = SuppressionRule {
            rule: "K8S-[".into(),
            resource: "*".into(),
            owner: None,
            reason: " ".into(),
            expires: None,
        };
        let errors = Suppressor::new(&[bad], "day2.yaml").unwrap_err();
        assert_eq!(errors.len(), 2, "{errors:?}");
    }
}

//! Drift baselines: accept the drift that exists today so that only new drift shows (`day2 drift --write-baseline`,
//! then `--baseline`). An entry covers a finding as it was: a changed object stays covered only while the same fields
//! hold the same live values, so a further edit to an accepted object is new drift.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use day2_model::{Finding, FindingStatus, Suppression};
use serde::{Deserialize, Serialize};

/// A baseline file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// Format version.
    pub version: u32,
    /// When it was written.
    pub created_at: DateTime<Utc>,
    /// Accepted findings by id.
    pub entries: BTreeMap<String, Entry>,
}

/// One accepted finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Rule id (for people reading the file).
    pub rule: String,
    /// Resource id (for people reading the file).
    pub resource: String,
    /// Changed fields and their accepted live values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, day2_model::Attr>,
}

/// A baseline that cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    /// I/O.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// The error (once: not also as an error source, which would print it twice).
        message: String,
    },
    /// Not a baseline file.
    #[error("{path}: not a day2 drift baseline: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

impl Baseline {
    const VERSION: u32 = 1;

    /// The active drift findings of a run, as accepted drift.
    pub fn of(findings: &[Finding], now: DateTime<Utc>) -> Baseline {
        let entries = findings
            .iter()
            .filter(|f| f.analyzer == "drift" && f.status.is_active())
            .map(|f| {
                let fields = f.evidence.iter().map(|e| (e.path.clone(), e.actual.clone())).collect();
                (
                    f.id.as_str().to_owned(),
                    Entry { rule: f.rule_id.clone(), resource: f.resource.as_str().to_owned(), fields },
                )
            })
            .collect();
        Baseline { version: Self::VERSION, created_at: now, entries }
    }

    /// Reads a baseline file.
    pub fn read(path: &Path) -> Result<Baseline, BaselineError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| BaselineError::Io { path: name.clone(), message: e.to_string() })?;
        let baseline: Baseline = serde_json::from_str(&text)
            .map_err(|e| BaselineError::Invalid { path: name.clone(), message: e.to_string() })?;
        if baseline.version != Self::VERSION {
            return Err(BaselineError::Invalid {
                path: name,
                message: format!("unknown version {}", baseline.version),
            });
        }
        Ok(baseline)
    }

    /// Writes the baseline as pretty JSON (reviewable in a pull request).
    pub fn write(&self, path: &Path) -> Result<(), BaselineError> {
        let name = path.display().to_string();
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| BaselineError::Invalid { path: name.clone(), message: e.to_string() })?;
        std::fs::write(path, text + "\n").map_err(|e| BaselineError::Io { path: name, message: e.to_string() })
    }

    /// Marks the findings the baseline covers as suppressed (`by: baseline:<file>`); returns how many.
    pub fn apply(&self, findings: &mut [Finding], file: &str) -> usize {
        let mut covered = 0;
        for f in findings.iter_mut().filter(|f| f.status.is_active()) {
            let Some(entry) = self.entries.get(f.id.as_str()) else { continue };
            let same = f.evidence.iter().all(|e| entry.fields.get(&e.path) == Some(&e.actual));
            if same {
                f.status = FindingStatus::Suppressed(Suppression {
                    by: format!("baseline:{file}"),
                    owner: None,
                    reason: format!("accepted drift in the baseline of {}", self.created_at.format("%Y-%m-%d")),
                    expires: None,
                });
                covered += 1;
            }
        }
        covered
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use day2_model::{Domain, Evidence};

    fn changed(replicas: i64) -> Finding {
        let resource = day2_testkit::build::resource("cart", "manifests");
        let evidence =
            vec![Evidence { path: "/spec/replicas".into(), expected: Some(2.into()), actual: replicas.into() }];
        Finding {
            domain: Domain::Drift,
            evidence,
            ..Finding::about(&resource, "drift", "DRIFT-CHANGED", "", Utc::now())
        }
    }

    #[test]
    fn accepted_drift_is_suppressed_until_it_changes_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("baseline.json");
        Baseline::of(&[changed(4)], Utc::now()).write(&path).unwrap();
        let baseline = Baseline::read(&path).unwrap();
        let mut same = [changed(4)];
        assert_eq!(baseline.apply(&mut same, "baseline.json"), 1);
        assert!(matches!(&same[0].status, FindingStatus::Suppressed(s) if s.by == "baseline:baseline.json"));
        let mut edited_again = [changed(6)];
        assert_eq!(baseline.apply(&mut edited_again, "baseline.json"), 0, "a further edit is new drift");
        assert!(edited_again[0].status.is_active());
    }

    #[test]
    fn other_files_are_refused_with_their_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.json");
        std::fs::write(&path, "{\"hello\": 1}").unwrap();
        let e = Baseline::read(&path).unwrap_err().to_string();
        assert!(e.contains("x.json") && e.contains("not a day2 drift baseline"), "{e}");
    }
}

//! Run accounting: counters, the invariants they must satisfy, the JSON report (SPEC §6) and
//! the human summary.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::json;

use crate::transform::{Outcome, RejectReason, SkipReason};

/// Per-event counters, indexed by reason for speed on the hot path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventCounts {
    pub read: u64,
    pub emitted: u64,
    pub skipped: [u64; SkipReason::ALL.len()],
    pub rejected: [u64; RejectReason::ALL.len()],
}

impl EventCounts {
    pub fn count(&mut self, outcome: &Outcome) {
        self.read += 1;
        match outcome {
            Outcome::Emit => self.emitted += 1,
            Outcome::Skip(reason) => self.skipped[*reason as usize] += 1,
            Outcome::Reject(reason, _) => self.rejected[*reason as usize] += 1,
        }
    }

    pub fn add(&mut self, other: &EventCounts) {
        self.read += other.read;
        self.emitted += other.emitted;
        self.skipped.iter_mut().zip(other.skipped).for_each(|(a, b)| *a += b);
        self.rejected.iter_mut().zip(other.rejected).for_each(|(a, b)| *a += b);
    }

    pub fn skipped_total(&self) -> u64 {
        self.skipped.iter().sum()
    }

    pub fn rejected_total(&self) -> u64 {
        self.rejected.iter().sum()
    }

    fn skipped_map(&self) -> BTreeMap<&'static str, u64> {
        SkipReason::ALL.iter().map(|r| (r.as_str(), self.skipped[*r as usize])).filter(|(_, n)| *n > 0).collect()
    }

    fn rejected_map(&self) -> BTreeMap<&'static str, u64> {
        RejectReason::ALL.iter().map(|r| (r.as_str(), self.rejected[*r as usize])).filter(|(_, n)| *n > 0).collect()
    }
}

/// Why an emitted event did not reach Mixpanel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UploadFailure {
    /// Mixpanel's strict-mode validation refused it (400 `failed_records`, or a refused batch).
    RejectedByMixpanel,
    /// Still failing (429, 5xx, timeouts, resets) after `--max-retries` retries.
    GaveUpAfterRetries,
    /// Never sent because the run stopped (401/403, interruption, a fatal error).
    NotSent,
    /// Mixpanel answered 200 but imported fewer events than sent, even after retries.
    ImportCountMismatch,
}

impl UploadFailure {
    /// Failures a rerun may well not repeat: such files are not entered in the state ledger.
    pub fn is_transient(self) -> bool {
        !matches!(self, UploadFailure::RejectedByMixpanel)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            UploadFailure::RejectedByMixpanel => "rejected_by_mixpanel",
            UploadFailure::GaveUpAfterRetries => "gave_up_after_retries",
            UploadFailure::NotSent => "not_sent",
            UploadFailure::ImportCountMismatch => "import_count_mismatch",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UploadCounts {
    pub batches: u64,
    pub imported: u64,
    pub failed: BTreeMap<UploadFailure, u64>,
    pub retries: u64,
}

impl UploadCounts {
    pub fn failed_total(&self) -> u64 {
        self.failed.values().sum()
    }

    pub fn add_failed(&mut self, reason: UploadFailure, n: u64) {
        if n > 0 {
            *self.failed.entry(reason).or_default() += n;
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TypeCounts {
    pub read: u64,
    pub emitted: u64,
}

/// Everything a run accounts for.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub files_read: u64,
    pub files_failed: Vec<(String, String)>,
    /// Files not decoded because their type is not selected, by type.
    pub skipped_types: BTreeMap<String, u64>,
    /// Files not decoded because their `date=` hour is well before `--since`.
    pub files_pruned: u64,
    /// Files left unread because the run stopped early (interruption, fatal upload error).
    pub files_not_started: u64,
    /// Files already settled in the `--state` ledger by an earlier run.
    pub files_already_done: u64,
    pub events: EventCounts,
    pub upload: Option<UploadCounts>,
    pub by_event_type: BTreeMap<String, TypeCounts>,
    pub elapsed_seconds: f64,
    /// Why the run failed as a whole although everything was accounted for (e.g. 401).
    pub fatal: Option<String>,
    /// Extra lines for the summary (the upload destination, dry-run figures, warnings).
    pub notes: Vec<String>,
}

impl Report {
    /// Files not decoded: unselected, pruned, already done, or never started because the run
    /// stopped early (so read + failed + skipped always equals the number of input files).
    pub fn files_skipped(&self) -> u64 {
        self.skipped_types.values().sum::<u64>() + self.files_pruned + self.files_already_done + self.files_not_started
    }

    /// Whether anything was lost along the way (exit code 3).
    pub fn has_failures(&self) -> bool {
        !self.files_failed.is_empty()
            || self.events.rejected_total() > 0
            || self.upload.as_ref().is_some_and(|u| u.failed_total() > 0)
    }

    /// The accounting identities of SPEC §6; an error names the one that broke.
    pub fn check_invariants(&self) -> Result<(), String> {
        let e = &self.events;
        let accounted = e.emitted + e.skipped_total() + e.rejected_total();
        if e.read != accounted {
            return Err(format!("events.read {} != emitted + skipped + rejected {}", e.read, accounted));
        }
        if let Some(u) = &self.upload {
            let settled = u.imported + u.failed_total();
            if e.emitted != settled {
                return Err(format!("events.emitted {} != imported + failed {}", e.emitted, settled));
            }
        }
        let by_type: u64 = self.by_event_type.values().map(|t| t.read).sum();
        if by_type != e.read {
            return Err(format!("by_event_type reads {by_type} != events.read {}", e.read));
        }
        Ok(())
    }

    /// The `--report` JSON (SPEC §6), keys in the documented order.
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "files": {"read": self.files_read, "failed": self.files_failed.len(), "skipped": self.files_skipped()},
            "events": {
                "read": self.events.read,
                "emitted": self.events.emitted,
                "skipped": self.events.skipped_map(),
                "rejected": self.events.rejected_map(),
            },
            "upload": self.upload.as_ref().map(|u| json!({
                "batches": u.batches,
                "imported": u.imported,
                "failed": u.failed.iter().map(|(r, n)| (r.as_str(), *n)).collect::<BTreeMap<_, _>>(),
                "retries": u.retries,
            })),
            "by_event_type": self.by_event_type.iter()
                .map(|(t, c)| (t.clone(), json!({"read": c.read, "emitted": c.emitted})))
                .collect::<serde_json::Map<_, _>>(),
            "elapsed_seconds": (self.elapsed_seconds * 1000.0).round() / 1000.0,
        })
    }

    /// The human summary printed on stderr.
    pub fn summary(&self, command: &str) -> String {
        let e = &self.events;
        let mut s = String::new();
        let rate = if self.elapsed_seconds > 0.0 { e.read as f64 / self.elapsed_seconds } else { 0.0 };
        let _ = writeln!(
            s,
            "{command}: {} events from {} files in {:.2} s ({} events/s)",
            thousands(e.read),
            self.files_read + self.files_failed.len() as u64,
            self.elapsed_seconds,
            thousands(rate as u64)
        );
        let _ = writeln!(s, "  emitted   {:>12}", thousands(e.emitted));
        let _ = writeln!(s, "  skipped   {:>12}{}", thousands(e.skipped_total()), reasons(&e.skipped_map()));
        let _ = writeln!(s, "  rejected  {:>12}{}", thousands(e.rejected_total()), reasons(&e.rejected_map()));
        if let Some(u) = &self.upload {
            let failed: BTreeMap<&str, u64> = u.failed.iter().map(|(r, n)| (r.as_str(), *n)).collect();
            let _ = writeln!(
                s,
                "  imported  {:>12}   in {} batches, {} retries",
                thousands(u.imported),
                thousands(u.batches),
                thousands(u.retries)
            );
            let _ = writeln!(s, "  failed    {:>12}{}", thousands(u.failed_total()), reasons(&failed));
        }
        for note in &self.notes {
            let _ = writeln!(s, "  {note}");
        }
        if !self.by_event_type.is_empty() {
            let width = self.by_event_type.keys().map(String::len).max().unwrap_or(0).max(10);
            let _ = writeln!(s, "  {:<width$} {:>12} {:>12}", "event type", "read", "emitted");
            for (t, c) in &self.by_event_type {
                let _ = writeln!(s, "  {t:<width$} {:>12} {:>12}", thousands(c.read), thousands(c.emitted));
            }
        }
        let _ = writeln!(
            s,
            "  files: {} read, {} failed, {} skipped",
            self.files_read,
            self.files_failed.len(),
            self.files_skipped()
        );
        for (t, n) in &self.skipped_types {
            let _ = writeln!(s, "    skipped {n} file(s) of unselected type {t} (select it with --events)");
        }
        if self.files_pruned > 0 {
            let _ =
                writeln!(s, "    skipped {} file(s) whose date= hour is 2+ hours before --since", self.files_pruned);
        }
        if self.files_already_done > 0 {
            let _ = writeln!(s, "    skipped {} file(s) already done in the state file", self.files_already_done);
        }
        if self.files_not_started > 0 {
            let _ = writeln!(s, "    {} file(s) not read because the run stopped early", self.files_not_started);
        }
        for (path, why) in &self.files_failed {
            let _ = writeln!(s, "    FAILED {path}: {why}");
        }
        s
    }
}

fn reasons(map: &BTreeMap<&str, u64>) -> String {
    if map.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = map.iter().map(|(r, n)| format!("{r} {}", thousands(*n))).collect();
    format!("   ({})", parts.join(", "))
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Report {
        let mut r = Report { files_read: 2, ..Default::default() };
        r.events.count(&Outcome::Emit);
        r.events.count(&Outcome::Emit);
        r.events.count(&Outcome::Skip(SkipReason::NoExternalUserId));
        r.events.count(&Outcome::Reject(RejectReason::TimeOutOfRange, "x".into()));
        r.by_event_type.insert("users.messages.email.Send".into(), TypeCounts { read: 4, emitted: 2 });
        r
    }

    #[test]
    fn json_has_the_documented_shape_and_only_nonzero_reasons() {
        let json = sample().to_json();
        assert_eq!(json["files"], json!({"read": 2, "failed": 0, "skipped": 0}));
        assert_eq!(
            json["events"],
            json!({"read": 4, "emitted": 2, "skipped": {"no_external_user_id": 1}, "rejected": {"time_out_of_range": 1}})
        );
        assert!(json["upload"].is_null());
        assert_eq!(json["by_event_type"]["users.messages.email.Send"], json!({"read": 4, "emitted": 2}));
        let keys: Vec<_> = json.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["files", "events", "upload", "by_event_type", "elapsed_seconds"]);
    }

    #[test]
    fn invariants_catch_lost_events() {
        let mut r = sample();
        assert_eq!(r.check_invariants(), Ok(()));
        r.upload = Some(UploadCounts { imported: 1, ..Default::default() });
        assert!(r.check_invariants().unwrap_err().contains("imported"));
        r.upload.as_mut().unwrap().add_failed(UploadFailure::NotSent, 1);
        assert_eq!(r.check_invariants(), Ok(()));
        r.events.read += 1;
        assert!(r.check_invariants().is_err());
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}

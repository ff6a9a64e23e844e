//! Which event types are converted (SPEC §3.4): the catalogue's default set, or the types
//! matching `--events`, less those matching `--exclude-events`.

use glob::{MatchOptions, Pattern};

use crate::catalogue;

#[derive(Debug, Clone, Default)]
pub struct Selection {
    include: Vec<Pattern>,
    exclude: Vec<Pattern>,
}

/// Event types are dotted names, not paths: `*` may cross dots.
const MATCH: MatchOptions =
    MatchOptions { case_sensitive: true, require_literal_separator: false, require_literal_leading_dot: false };

impl Selection {
    pub fn new(include: &[String], exclude: &[String]) -> Result<Selection, glob::PatternError> {
        let compile = |globs: &[String]| globs.iter().map(|g| Pattern::new(g)).collect::<Result<Vec<_>, _>>();
        Ok(Selection { include: compile(include)?, exclude: compile(exclude)? })
    }

    pub fn selects(&self, event_type: &str) -> bool {
        let included = if self.include.is_empty() {
            catalogue::lookup(event_type).is_some_and(|e| e.default_on)
        } else {
            self.include.iter().any(|p| p.matches_with(event_type, MATCH))
        };
        included && !self.exclude.iter().any(|p| p.matches_with(event_type, MATCH))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(include: &[&str], exclude: &[&str]) -> Selection {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        Selection::new(&s(include), &s(exclude)).unwrap()
    }

    #[test]
    fn default_selection_is_the_catalogue_default() {
        let s = sel(&[], &[]);
        assert!(s.selects("users.messages.email.Send"));
        assert!(!s.selects("users.RandomBucketNumberUpdate"));
        assert!(!s.selects("partner.custom.Thing"));
    }

    #[test]
    fn events_replace_and_exclude_removes() {
        let s = sel(&["users.messages.email.*", "users.RandomBucketNumberUpdate", "partner.*"], &["*.Open"]);
        assert!(s.selects("users.messages.email.Send"));
        assert!(!s.selects("users.messages.email.Open"));
        assert!(s.selects("users.RandomBucketNumberUpdate"));
        assert!(s.selects("partner.custom.Thing"));
        assert!(!s.selects("users.messages.sms.Send"));
        let s = sel(&[], &["users.messages.*"]);
        assert!(!s.selects("users.messages.email.Send"));
        assert!(s.selects("users.behaviors.Purchase"));
    }
}

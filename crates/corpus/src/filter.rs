//! Quality filters: length, repetition and symbol ratio.

use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// Thresholds; `None` disables a filter. In a recipe these are the keys of the
/// `[filters]` table.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QualityFilter {
    /// Drop documents with fewer characters.
    pub min_chars: Option<usize>,
    /// Drop documents with more characters.
    pub max_chars: Option<usize>,
    /// Drop documents whose share of characters that are neither
    /// alphanumeric nor whitespace exceeds this (0–1).
    pub max_symbol_ratio: Option<f64>,
    /// Drop documents whose share of non-empty lines that repeat an earlier
    /// line exceeds this (0–1).
    pub max_repeated_lines: Option<f64>,
    /// Drop documents whose share of words that repeat an earlier word
    /// 3-gram exceeds this (0–1): catches degenerate repetition.
    pub max_repeated_trigrams: Option<f64>,
}

impl QualityFilter {
    /// True when no filter is set.
    pub fn is_empty(&self) -> bool {
        *self == QualityFilter::default()
    }

    /// `None` if the document passes, else the name of the first failed
    /// filter.
    pub fn check(&self, text: &str) -> Option<&'static str> {
        let chars = text.chars().count();
        if self.min_chars.is_some_and(|m| chars < m) {
            return Some("min_chars");
        }
        if self.max_chars.is_some_and(|m| chars > m) {
            return Some("max_chars");
        }
        if let Some(max) = self.max_symbol_ratio {
            let sym = text
                .chars()
                .filter(|c| !c.is_alphanumeric() && !c.is_whitespace())
                .count();
            if chars > 0 && sym as f64 / chars as f64 > max {
                return Some("max_symbol_ratio");
            }
        }
        if let Some(max) = self.max_repeated_lines {
            let mut seen = HashSet::new();
            let (mut total, mut rep) = (0usize, 0usize);
            for l in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
                total += 1;
                if !seen.insert(l) {
                    rep += 1;
                }
            }
            if total > 0 && rep as f64 / total as f64 > max {
                return Some("max_repeated_lines");
            }
        }
        if let Some(max) = self.max_repeated_trigrams {
            let words: Vec<&str> = text.split_whitespace().collect();
            if words.len() >= 6 {
                let mut seen = HashSet::new();
                let mut rep = 0;
                for w in words.windows(3) {
                    if !seen.insert(w) {
                        rep += 1;
                    }
                }
                if rep as f64 / (words.len() - 2) as f64 > max {
                    return Some("max_repeated_trigrams");
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_fire() {
        let f = QualityFilter {
            min_chars: Some(10),
            max_symbol_ratio: Some(0.3),
            max_repeated_lines: Some(0.5),
            max_repeated_trigrams: Some(0.5),
            ..Default::default()
        };
        assert_eq!(f.check("short"), Some("min_chars"));
        assert_eq!(f.check("#$%^&*()!@#$ ab"), Some("max_symbol_ratio"));
        assert_eq!(
            f.check("same line\nsame line\nsame line\nsame line\nother"),
            Some("max_repeated_lines")
        );
        assert_eq!(f.check(&"a b c ".repeat(20)), Some("max_repeated_trigrams"));
        assert_eq!(f.check("a perfectly ordinary sentence, with words."), None);
    }
}

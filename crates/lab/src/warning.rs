//! Warnings as values. A workflow never prints a warning: it returns them
//! in its report, and the face (CLI, Python) shows them. In the JSON
//! schemas a warning is its message (a string), as it always was.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What a warning is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningKind {
    /// Rows of the input were left out (unfinished or failed sweep runs).
    RunsLeftOut,
    /// The design of the runs cannot pin the law down (too few sizes or
    /// token counts, too narrow a range).
    Design,
    /// The fit itself: not converged, at a bound, parameters not
    /// separately identifiable.
    Fit,
    /// The bootstrap: refits that did not converge or degenerated.
    Bootstrap,
    /// A prediction or plan beyond the range of the fitted runs.
    Extrapolation,
    /// Anything else (also every warning read back from a JSON file, where
    /// only the message is kept).
    Other,
}

/// One warning: its kind and the message shown to the user.
#[derive(Clone, Debug, PartialEq)]
pub struct Warning {
    pub kind: WarningKind,
    pub message: String,
}

impl Warning {
    pub fn new(kind: WarningKind, message: impl Into<String>) -> Self {
        Warning {
            kind,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl Serialize for Warning {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.message)
    }
}

impl<'de> Deserialize<'de> for Warning {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Warning::new(WarningKind::Other, String::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_warning_is_its_message_in_json() {
        let w = Warning::new(WarningKind::Fit, "E is at its bound");
        let j = serde_json::to_string(&w).unwrap();
        assert_eq!(j, "\"E is at its bound\"");
        let back: Warning = serde_json::from_str(&j).unwrap();
        assert_eq!(back.message, w.message);
        assert_eq!(back.kind, WarningKind::Other);
    }
}

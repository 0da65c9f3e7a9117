//! CVSS vectors (v2, v3.0, v3.1, v4.0): parsed and scored again from the vector with RustSec's
//! `cvss` crate (v4.0 through FIRST's MacroVector table, which is not a closed formula), next to the
//! score the report states; and the two SSVC inputs a vector implies when nothing better is known.

use serde::{Deserialize, Serialize};

/// The CVSS versions reports carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum CvssVersion {
    #[serde(rename = "2.0")]
    V2,
    #[serde(rename = "3.0")]
    V30,
    #[serde(rename = "3.1")]
    V31,
    #[serde(rename = "4.0")]
    V40,
}

impl CvssVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            CvssVersion::V2 => "2.0",
            CvssVersion::V30 => "3.0",
            CvssVersion::V31 => "3.1",
            CvssVersion::V40 => "4.0",
        }
    }
}

/// One CVSS assessment of a finding: who made it, the vector, the score computed here from the
/// vector and the one the report states.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CvssScore {
    /// Who scored it (`nvd`, `redhat`, `nvd@nist.gov`, the scanner).
    pub source: String,
    pub version: CvssVersion,
    /// Normalised: a v2 vector without Nessus' `CVSS2#` prefix or parentheses.
    pub vector: Option<String>,
    /// The base score computed from the vector (None without a vector or when it does not parse).
    pub computed: Option<f64>,
    /// The score the report states.
    pub reported: Option<f64>,
    /// Why the vector did not parse, when it did not.
    pub problem: Option<String>,
}

impl CvssScore {
    /// An assessment from a vector and, perhaps, the report's score. The version comes from the
    /// vector (`CVSS:3.1/…`; none for v2), else from `version`.
    pub fn new(
        source: &str,
        version: Option<CvssVersion>,
        vector: Option<&str>,
        reported: Option<f64>,
    ) -> Option<CvssScore> {
        let vector = vector.map(normalise).filter(|v| !v.is_empty());
        let parsed = vector.as_deref().map(parse);
        let version = match &parsed {
            Some(Ok((v, _))) => *v,
            _ => version.or_else(|| vector.as_deref().and_then(version_of))?,
        };
        let (computed, problem) = match parsed {
            Some(Ok((_, score))) => (Some(score), None),
            Some(Err(e)) => (None, Some(e)),
            None => (None, None),
        };
        let reported = reported.filter(|s| s.is_finite() && (0.0..=10.0).contains(s));
        if vector.is_none() && reported.is_none() {
            return None;
        }
        Some(CvssScore {
            source: source.to_string(),
            version,
            vector,
            computed,
            reported,
            problem,
        })
    }

    /// The base score to rank by: the report's when it states one (what the scanner itself used),
    /// else the one computed from the vector.
    pub fn score(&self) -> Option<f64> {
        self.reported.or(self.computed)
    }

    /// A metric's value in the vector (`AV` gives `N`).
    pub fn metric(&self, name: &str) -> Option<&str> {
        self.vector.as_deref()?.split('/').find_map(|part| {
            let (key, value) = part.split_once(':')?;
            (key == name).then_some(value)
        })
    }
}

fn normalise(vector: &str) -> String {
    let v = vector.trim();
    let v = v.strip_prefix("CVSS2#").unwrap_or(v);
    let v = v.trim_start_matches('(').trim_end_matches(')');
    v.to_string()
}

fn version_of(vector: &str) -> Option<CvssVersion> {
    Some(match vector.split('/').next()? {
        "CVSS:3.0" => CvssVersion::V30,
        "CVSS:3.1" => CvssVersion::V31,
        "CVSS:4.0" => CvssVersion::V40,
        first if first.starts_with("AV:") => CvssVersion::V2,
        _ => return None,
    })
}

/// The vector's version and base score.
fn parse(vector: &str) -> Result<(CvssVersion, f64), String> {
    let parsed: cvss::Cvss = vector.parse().map_err(|e| format!("{e}"))?;
    let version = match parsed {
        cvss::Cvss::CvssV20(_) => CvssVersion::V2,
        cvss::Cvss::CvssV30(_) => CvssVersion::V30,
        cvss::Cvss::CvssV31(_) => CvssVersion::V31,
        cvss::Cvss::CvssV40(_) => CvssVersion::V40,
        _ => return Err("a CVSS version this program does not know".to_string()),
    };
    let score = parsed.score();
    if !score.is_finite() {
        return Err("no score".to_string());
    }
    Ok((version, score))
}

/// SSVC's Automatable from a vector (our fallback when no SSVC assessment is known, documented as
/// such): reachable over the network with no privileges, no user and nothing special about the
/// attack (v3 `AV:N/AC:L/PR:N/UI:N`, v4 `AV:N/AC:L/AT:N/PR:N/UI:N`), or v4's supplemental `AU:Y`.
pub fn automatable(score: &CvssScore) -> Option<bool> {
    let metric = |name| score.metric(name);
    match score.version {
        CvssVersion::V2 => None,
        CvssVersion::V30 | CvssVersion::V31 => Some(
            metric("AV")? == "N"
                && metric("AC")? == "L"
                && metric("PR")? == "N"
                && metric("UI")? == "N",
        ),
        CvssVersion::V40 => {
            if metric("AU") == Some("Y") {
                return Some(true);
            }
            Some(
                metric("AV")? == "N"
                    && metric("AC")? == "L"
                    && metric("AT")? == "N"
                    && metric("PR")? == "N"
                    && metric("UI")? == "N",
            )
        }
    }
}

/// SSVC's Technical Impact from a vector: total when confidentiality, integrity and availability
/// of the vulnerable system are all High, else partial (`Some(true)` is total).
pub fn total_impact(score: &CvssScore) -> Option<bool> {
    let metric = |name| score.metric(name);
    match score.version {
        CvssVersion::V2 => Some(metric("C")? == "C" && metric("I")? == "C" && metric("A")? == "C"),
        CvssVersion::V30 | CvssVersion::V31 => {
            Some(metric("C")? == "H" && metric("I")? == "H" && metric("A")? == "H")
        }
        CvssVersion::V40 => {
            Some(metric("VC")? == "H" && metric("VI")? == "H" && metric("VA")? == "H")
        }
    }
}

/// The assessment SSVC's fallback reads: the newest version, the first source of it.
pub fn preferred(scores: &[CvssScore]) -> Option<&CvssScore> {
    let newest = scores
        .iter()
        .filter(|s| s.vector.is_some() && s.problem.is_none() && s.version != CvssVersion::V2)
        .map(|s| s.version)
        .max()?;
    scores
        .iter()
        .find(|s| s.version == newest && s.vector.is_some() && s.problem.is_none())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score(vector: &str) -> CvssScore {
        CvssScore::new("test", None, Some(vector), None).unwrap()
    }

    #[test]
    fn scores_are_computed_from_the_vector_for_every_version() {
        // Scores as NVD and FIRST's calculators give them.
        let cases = [
            (
                "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H",
                CvssVersion::V31,
                8.8,
            ),
            (
                "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H",
                CvssVersion::V30,
                10.0,
            ),
            ("AV:N/AC:M/Au:N/C:P/I:P/A:P", CvssVersion::V2, 6.8),
            ("CVSS2#AV:N/AC:L/Au:N/C:C/I:C/A:C", CvssVersion::V2, 10.0),
            (
                "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
                CvssVersion::V40,
                9.3,
            ),
        ];
        for (vector, version, expected) in cases {
            let s = score(vector);
            assert_eq!(s.version, version, "{vector}");
            assert_eq!(s.computed, Some(expected), "{vector}");
            assert!(s.problem.is_none());
        }
    }

    #[test]
    fn a_damaged_vector_keeps_the_reported_score_and_says_why() {
        let s = CvssScore::new(
            "nvd",
            Some(CvssVersion::V31),
            Some("CVSS:3.1/AV:Q"),
            Some(7.5),
        )
        .unwrap();
        assert_eq!(s.computed, None);
        assert_eq!(s.score(), Some(7.5));
        assert!(s.problem.is_some());
    }

    #[test]
    fn ssvc_inputs_follow_the_vector() {
        let remote = score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H");
        assert_eq!(automatable(&remote), Some(true));
        assert_eq!(total_impact(&remote), Some(true));
        let user = score("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:L/A:H");
        assert_eq!(automatable(&user), Some(false));
        assert_eq!(total_impact(&user), Some(false));
        let v4 = score("CVSS:4.0/AV:L/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/AU:Y");
        assert_eq!(automatable(&v4), Some(true));
    }
}

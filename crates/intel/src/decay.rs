//! Indicator decay, MISP's polynomial model (shared/reference/ir-intel-vuln.md section 2.6):
//!
//! `score(t) = base × (1 − (t / τ)^(1/δ))`, floored at 0, with `t` in days since the later of its last
//! sighting and its source's date of it (STIX `modified`, MISP `timestamp`, else when it became valid
//! or was created; its import when the source gives no date: [`Indicator::decay_start`]), `τ` the
//! lifetime and `δ` the decay speed. A 2015 indicator imported today is already decayed, however often
//! it is imported again; a sighting in old logs never moves the clock back. An indicator
//! decays when its score falls below the model's threshold, at `t = τ × (1 − threshold / base)^δ`.
//! The base score is the indicator's confidence when its source gave one, else the model's default.
//!
//! Models come from MISP decaying-model files (`--decay-models DIR`), matched to an indicator by the
//! MISP attribute types they list; kinds no model lists use the built-in defaults below.

use std::path::Path;

use serde::Deserialize;

use crate::kind::Kind;
use crate::{Indicator, IntelError};

const DAY: f64 = 86_400e9;

/// A polynomial decay model.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub name: String,
    /// τ, in days.
    pub lifetime: f64,
    /// δ.
    pub decay_speed: f64,
    pub threshold: f64,
    pub default_base_score: f64,
    /// MISP attribute types the model is for.
    pub attribute_types: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct ModelFile {
    name: String,
    formula: String,
    parameters: Parameters,
    #[serde(default)]
    attribute_types: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Parameters {
    lifetime: f64,
    decay_speed: f64,
    threshold: f64,
    #[serde(default = "default_base")]
    default_base_score: f64,
}

fn default_base() -> f64 {
    80.0
}

impl Model {
    pub fn parse(file: &str, text: &str) -> Result<Model, IntelError> {
        let bad = |message: String| IntelError::Source {
            origin: file.to_string(),
            message,
        };
        let m: ModelFile = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        if m.formula != "Polynomial" {
            return Err(bad(format!(
                "formula {:?}: only Polynomial is supported",
                m.formula
            )));
        }
        let p = m.parameters;
        if p.lifetime <= 0.0 || p.decay_speed <= 0.0 {
            return Err(bad("lifetime and decay_speed must be positive".into()));
        }
        Ok(Model {
            name: m.name,
            lifetime: p.lifetime,
            decay_speed: p.decay_speed,
            threshold: p.threshold,
            default_base_score: p.default_base_score,
            attribute_types: m.attribute_types,
        })
    }

    /// The built-in model for a kind (our defaults: addresses change hands fastest, file hashes
    /// stay bad longest).
    pub fn builtin(kind: Kind) -> Model {
        let (lifetime, decay_speed) = match kind {
            Kind::Ip => (60.0, 2.0),
            Kind::Domain | Kind::Hostname | Kind::Url => (120.0, 2.0),
            Kind::Email => (90.0, 2.0),
            Kind::Md5 | Kind::Sha1 | Kind::Sha256 => (730.0, 1.0),
        };
        Model {
            name: format!("built-in {kind}"),
            lifetime,
            decay_speed,
            threshold: 30.0,
            default_base_score: 80.0,
            attribute_types: Vec::new(),
        }
    }

    /// The score `days` after the reference time, from `base`.
    pub fn score(&self, base: f64, days: f64) -> f64 {
        let t = days.max(0.0);
        (base * (1.0 - (t / self.lifetime).powf(1.0 / self.decay_speed))).max(0.0)
    }

    /// Days from the reference time until the score falls below the threshold (0 when it starts
    /// below it).
    pub fn days_to_decay(&self, base: f64) -> f64 {
        if base < self.threshold || base <= 0.0 {
            return 0.0;
        }
        self.lifetime * (1.0 - self.threshold / base).powf(self.decay_speed)
    }
}

/// The models in force.
#[derive(Debug, Clone, Default)]
pub struct Models {
    pub models: Vec<Model>,
}

impl Models {
    /// Every `*.json` model in `dir`.
    pub fn load(dir: &Path) -> Result<Models, IntelError> {
        let io = |e: std::io::Error| IntelError::Source {
            origin: dir.display().to_string(),
            message: e.to_string(),
        };
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .map_err(io)?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        let mut models = Vec::new();
        for file in files {
            let text = std::fs::read_to_string(&file).map_err(io)?;
            models.push(Model::parse(&file.display().to_string(), &text)?);
        }
        Ok(Models { models })
    }

    /// The model for a kind: the first loaded one listing one of its MISP types, else the built-in.
    pub fn for_kind(&self, kind: Kind) -> Model {
        self.models
            .iter()
            .find(|m| {
                kind.misp_types()
                    .iter()
                    .any(|t| m.attribute_types.iter().any(|a| a == t))
            })
            .cloned()
            .unwrap_or_else(|| Model::builtin(kind))
    }

    /// When the indicator stops matching (UTC nanoseconds): its `valid_until`, or when it decays,
    /// whichever is first.
    pub fn expires_at(&self, indicator: &Indicator) -> i64 {
        let model = self.for_kind(indicator.kind);
        let base = indicator
            .confidence
            .map_or(model.default_base_score, f64::from);
        let decay = indicator
            .decay_start()
            .saturating_add((model.days_to_decay(base) * DAY) as i64);
        indicator.valid_until.map_or(decay, |v| v.min(decay))
    }

    /// The score now (0-100).
    pub fn score_at(&self, indicator: &Indicator, now: i64) -> f64 {
        let model = self.for_kind(indicator.kind);
        let base = indicator
            .confidence
            .map_or(model.default_base_score, f64::from);
        model.score(base, (now - indicator.decay_start()) as f64 / DAY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NIDS: &str = r#"{"name": "NIDS", "formula": "Polynomial",
        "parameters": {"lifetime": 120, "decay_speed": 2, "threshold": 30, "default_base_score": 80},
        "attribute_types": ["ip-dst", "domain"]}"#;

    #[test]
    fn the_polynomial_gives_the_worked_values() {
        let m = Model::parse("nids.json", NIDS).unwrap();
        assert!((m.score(80.0, 30.0) - 40.0).abs() < 0.01);
        assert!((m.score(80.0, 60.0) - 23.43).abs() < 0.01);
        assert!((m.days_to_decay(80.0) - 46.875).abs() < 1e-9);
        assert_eq!(m.score(80.0, 500.0), 0.0);
        assert_eq!(m.days_to_decay(20.0), 0.0);
    }

    #[test]
    fn models_apply_by_type_and_expiry_takes_the_earlier_end() {
        let models = Models {
            models: vec![Model::parse("nids.json", NIDS).unwrap()],
        };
        assert_eq!(models.for_kind(Kind::Ip).name, "NIDS");
        assert_eq!(models.for_kind(Kind::Sha256).name, "built-in sha256");
        let mut ip = Indicator::new(Kind::Ip, "203.0.113.7".into(), "t");
        ip.last_seen = Some(0);
        let decays = models.expires_at(&ip);
        assert_eq!(decays, (46.875 * DAY) as i64);
        ip.valid_until = Some(DAY as i64);
        assert_eq!(models.expires_at(&ip), DAY as i64);
        let e = Model::parse("x.json", r#"{"name":"x","formula":"Linear","parameters":{"lifetime":1,"decay_speed":1,"threshold":1}}"#)
            .unwrap_err();
        assert!(e.to_string().contains("Polynomial"), "{e}");
    }
}

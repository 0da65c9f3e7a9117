//! Rules as detection engineers and analysts look them up: the loaded rules (the server's
//! `--rules`, else the bundled pack) with type, severity, ATT&CK ids and field check; the results of
//! their embedded tests; their ATT&CK coverage as a Navigator layer. Loaded once, at the first
//! request; the tests run once too (the rules do not change while the server runs).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use secops_service::ruleset::Loaded;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// The loaded rules and what is worked out from them once.
pub struct Rules {
    loaded: Loaded,
    listing: Vec<secops_service::rules::RuleSummary>,
    tests: tokio::sync::OnceCell<Arc<TestReport>>,
}

impl Rules {
    /// Every loaded rule in listing order.
    pub fn listing(&self) -> &[secops_service::rules::RuleSummary] {
        &self.listing
    }

    /// The rule files that did not load, each with why.
    pub fn rejected(&self) -> Vec<String> {
        self.loaded
            .rejected
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    /// The ATT&CK matrix with the number of rules covering each technique.
    pub fn matrix(
        &self,
        catalogue: &secops_attack::Catalogue,
    ) -> Vec<(String, Vec<secops_service::rules::MatrixCell>)> {
        secops_service::rules::coverage_matrix(catalogue, &self.loaded)
    }

    /// The investigation guide of a loaded rule.
    pub fn guide(&self, id: &str) -> Option<secops_service::rules::Guide> {
        secops_service::rules::guide(&self.loaded, id)
    }
}

impl std::fmt::Debug for Rules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rules")
            .field("rules", &self.listing.len())
            .finish_non_exhaustive()
    }
}

/// The rules, loaded on a blocking thread at the first call.
pub(crate) async fn rules(state: &AppState) -> Result<Arc<Rules>, ApiError> {
    let selection = state.settings.rules.clone();
    state
        .rules
        .get_or_try_init(|| async move {
            tokio::task::spawn_blocking(move || {
                let loaded = secops_service::ruleset::load(&selection)
                    .map_err(|e| ApiError::internal(format!("loading the rules: {e}")))?;
                let listing = secops_service::rules::summaries(&loaded);
                Ok(Arc::new(Rules {
                    loaded,
                    listing,
                    tests: tokio::sync::OnceCell::new(),
                }))
            })
            .await
            .map_err(ApiError::internal)?
        })
        .await
        .cloned()
}

/// ATT&CK, loaded at the first call; `409` when the server has none.
pub(crate) async fn attack(state: &AppState) -> Result<Arc<secops_attack::Catalogue>, ApiError> {
    let Some(path) = state.settings.attack.clone() else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            "the server has no ATT&CK data (start it with --attack PATH or SECOPS_ATTACK)",
        ));
    };
    Ok(state
        .attack
        .get_or_try_init(|| async move {
            tokio::task::spawn_blocking(move || {
                secops_attack::Catalogue::load(&path)
                    .map(Arc::new)
                    .map_err(|e| ApiError::internal(format!("ATT&CK {}: {e}", path.display())))
            })
            .await
            .map_err(ApiError::internal)?
        })
        .await?
        .clone())
}

/// A loaded rule.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub id: String,
    pub name: String,
    /// `query`, `threshold`, `eql`, ..., or `sigma`.
    pub rule_type: String,
    pub severity: String,
    pub risk_score: u8,
    pub version: u32,
    /// ATT&CK technique and sub-technique ids.
    pub techniques: Vec<String>,
    /// `proven` (every field a match needs is carried by its events) or `unverified`.
    pub field_check: String,
    /// Test cases the rule carries.
    pub tests: usize,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleList {
    pub rules: Vec<Rule>,
    /// Rule files that did not load, each with the reason.
    pub rejected: Vec<String>,
}

/// The loaded rules, with the files that did not load.
#[utoipa::path(get, path = "/api/v1/rules", tag = "rules", security(("api_key" = ["rules:read"])),
    responses((status = 200, description = "The loaded rules", body = RuleList)))]
pub async fn list(
    State(state): State<AppState>,
    Extension(_caller): Extension<Caller>,
) -> Result<Json<RuleList>, ApiError> {
    let rules = rules(&state).await?;
    Ok(Json(RuleList {
        rules: rules
            .listing
            .iter()
            .map(|r| Rule {
                id: r.id.clone(),
                name: r.name.clone(),
                rule_type: r.rule_type.clone(),
                severity: r.severity.clone(),
                risk_score: r.risk_score,
                version: r.version,
                techniques: r.techniques.clone(),
                field_check: r.field_check.clone(),
                tests: r.tests,
            })
            .collect(),
        rejected: rules
            .loaded
            .rejected
            .iter()
            .map(ToString::to_string)
            .collect(),
    }))
}

/// A rule test case's result.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestCase {
    pub rule_id: String,
    pub rule: String,
    pub test: String,
    /// `passed`, `failed` or `skipped` (its data is not present).
    pub result: String,
    /// Why it failed (expected against actual) or was skipped.
    pub details: Vec<String>,
    /// The alerts it raised, a line each (at most ten).
    pub actual: Vec<String>,
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestReport {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub cases: Vec<TestCase>,
}

/// The results of the rules' embedded test cases (run once, at the first request).
#[utoipa::path(get, path = "/api/v1/rules/tests", tag = "rules", security(("api_key" = ["rules:read"])),
    responses((status = 200, description = "Each test case's result", body = TestReport)))]
pub async fn tests(
    State(state): State<AppState>,
    Extension(_caller): Extension<Caller>,
) -> Result<Json<TestReport>, ApiError> {
    let rules = rules(&state).await?;
    let shared = state.settings.data_root.clone();
    let now = state.clock.now();
    let report = rules
        .tests
        .get_or_try_init(|| {
            let rules = rules.clone();
            async move {
                tokio::task::spawn_blocking(move || {
                    let cases: Vec<TestCase> =
                        secops_service::rules::test_results(&rules.loaded, &shared, now)
                            .into_iter()
                            .map(|c| TestCase {
                                rule_id: c.rule_id,
                                rule: c.rule,
                                test: c.test,
                                result: c.result.to_string(),
                                details: c.details,
                                actual: c.actual,
                            })
                            .collect();
                    let count = |r: &str| cases.iter().filter(|c| c.result == r).count();
                    Arc::new(TestReport {
                        passed: count("passed"),
                        failed: count("failed"),
                        skipped: count("skipped"),
                        cases,
                    })
                })
                .await
                .map_err(ApiError::internal)
            }
        })
        .await?;
    Ok(Json(TestReport::clone(report)))
}

/// The rules' ATT&CK coverage as a Navigator layer (format 4.5; a technique's score is the number
/// of rules that map it). Needs the server's ATT&CK data (`secops serve --attack`).
#[utoipa::path(get, path = "/api/v1/rules/coverage", tag = "rules", security(("api_key" = ["rules:read"])),
    responses((status = 200, description = "An ATT&CK Navigator layer", body = secops_attack::coverage::Layer),
              (status = 409, description = "The server has no ATT&CK data", body = crate::error::Problem)))]
pub async fn coverage(
    State(state): State<AppState>,
    Extension(_caller): Extension<Caller>,
) -> Result<Json<secops_attack::coverage::Layer>, ApiError> {
    let catalogue = attack(&state).await?;
    let rules = rules(&state).await?;
    let layer = tokio::task::spawn_blocking(move || {
        secops_service::rules::coverage_layer(&catalogue, &rules.loaded)
    })
    .await
    .map_err(ApiError::internal)?;
    Ok(Json(layer))
}

//! Hunts: a query of the hunt language run over the server's lake (and the store's `alerts`,
//! `cases` and `indicators` tables) within limits (rows, time, and hunts at once: one beyond is
//! refused, not queued), every query audited with who ran it and how it ended; and queries saved
//! by name for the team.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use secops_service::hunt::{HuntOptions, Limits, Output};
use secops_store::SavedHunt as SavedRecord;

use super::{as_caller, parse_time, time, Body, Path};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// Most rows a hunt through the API returns.
pub const MAX_ROWS: u32 = 10_000;
/// Longest query text.
pub const MAX_QUERY: usize = 65_536;

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HuntRequest {
    /// The query, in the hunt language (`FROM logs-* | WHERE ... | STATS ...`).
    #[schema(min_length = 1, max_length = 65536)]
    pub query: String,
    /// Rows returned at most, 1 to 10,000 (default 1,000); `capped` says whether there were more.
    #[schema(minimum = 1, maximum = 10000)]
    pub max_rows: Option<u32>,
    /// Stop after this many seconds (at most the server's limit, which is also the default).
    #[schema(minimum = 1, maximum = 3600)]
    pub timeout_seconds: Option<u32>,
    /// What `now()` means (RFC 3339; default: the server's clock).
    pub now: Option<String>,
    /// Plan a field nothing resolves as null, with a warning, instead of refusing the query.
    #[serde(default)]
    pub lenient: bool,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HuntResult {
    /// Column names, in the order of each row's cells.
    pub columns: Vec<String>,
    /// Each cell as text (numbers and times as JSON writes them, lists as JSON), null when empty.
    pub rows: Vec<Vec<Option<String>>>,
    /// There were more rows than `max_rows`.
    pub capped: bool,
    /// Fields planned as null (`lenient`), each with its place.
    pub warnings: Vec<String>,
    /// What reading the sources met.
    pub notes: Vec<String>,
}

/// A query's text within the API's bounds, or why not.
fn check_query(query: &str) -> Result<(), ApiError> {
    if query.trim().is_empty() || query.len() > MAX_QUERY {
        return Err(ApiError::invalid(format!(
            "query: 1 to {MAX_QUERY} bytes of the hunt language"
        )));
    }
    Ok(())
}

/// Runs a hunt over the server's lake within limits; the query and its outcome are audited.
#[utoipa::path(post, path = "/api/v1/hunts/run", tag = "hunts", security(("api_key" = ["hunts:run"])),
    request_body = HuntRequest,
    responses((status = 200, description = "The rows", body = HuntResult),
              (status = 408, description = "The hunt ran past its time limit", body = crate::error::Problem),
              (status = 409, description = "The server has no lake", body = crate::error::Problem),
              (status = 429, description = "As many hunts as the server allows are running", body = crate::error::Problem)))]
pub async fn run(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(request): Body<HuntRequest>,
) -> Result<Json<HuntResult>, ApiError> {
    let ran = run_audited(&state, &caller, &request).await?;
    Ok(Json(HuntResult {
        rows: ran
            .rows
            .into_iter()
            .map(|row| row.into_iter().map(|cell| cell.map(text_of)).collect())
            .collect(),
        columns: ran.columns,
        capped: ran.capped,
        warnings: ran.warnings,
        notes: ran.notes,
    }))
}

/// A hunt's rows as its JSON gave them (the console tells text from numbers by them).
#[derive(Debug)]
pub(crate) struct Ran {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<serde_json::Value>>>,
    pub capped: bool,
    pub warnings: Vec<String>,
    pub notes: Vec<String>,
}

/// A cell as text: a string as it is, numbers, times and lists as JSON writes them.
pub(crate) fn text_of(value: serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    }
}

/// Runs a hunt within the server's limits and records the query and how it ended in the audit
/// log (the API's and the console's hunts alike); a hunt whose record cannot be written returns
/// nothing.
pub(crate) async fn run_audited(
    state: &AppState,
    caller: &Caller,
    request: &HuntRequest,
) -> Result<Ran, ApiError> {
    let query = request.query.clone();
    let checked = check(state, request);
    let result = match checked {
        Ok((options, slot)) => {
            let lake = state.settings.lake.clone();
            let text = query.clone();
            let ran = tokio::task::spawn_blocking(move || {
                let _slot = slot;
                let mut out: Vec<u8> = Vec::new();
                let stats = secops_service::hunt::run(
                    &text,
                    lake.as_deref(),
                    &options,
                    Output::Jsonl,
                    &mut out,
                )?;
                Ok::<_, secops_service::ServiceError>((stats, out))
            })
            .await
            .map_err(ApiError::internal)?;
            ran.map_err(hunt_error)
        }
        Err(e) => Err(e),
    };
    let now = state.now();
    let audited = query.clone();
    let outcome: Result<secops_service::hunt::RunStats, String> = match &result {
        Ok((stats, _)) => Ok(stats.clone()),
        Err(e) => Err(e.message.clone()),
    };
    as_caller(state, caller, move |store| {
        let outcome = outcome.as_ref().map_err(String::as_str);
        Ok(secops_service::hunt::audit_query(
            store, now, &audited, outcome,
        )?)
    })
    .await?;
    let (stats, out) = result?;
    let (columns, rows) = table(&out)?;
    Ok(Ran {
        columns,
        rows,
        capped: stats.capped,
        warnings: stats.warnings,
        notes: stats.notes,
    })
}

/// The request's limits, or why it cannot run: a query naming files, a bad time, no free slot.
pub(crate) fn check(
    state: &AppState,
    request: &HuntRequest,
) -> Result<(HuntOptions, tokio::sync::OwnedSemaphorePermit), ApiError> {
    check_query(&request.query)?;
    if state.settings.lake.is_none() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            "the server has no event lake to hunt in (start it with --lake DIR|S3_URL)",
        ));
    }
    let max_rows = request.max_rows.unwrap_or(1000);
    if !(1..=MAX_ROWS).contains(&max_rows) {
        return Err(ApiError::invalid(format!("max_rows: 1 to {MAX_ROWS}")));
    }
    let files = secops_service::hunt::file_sources(&request.query)
        .map_err(|e| ApiError::invalid(format!("the query: {e}")))?;
    if !files.is_empty() {
        return Err(ApiError::invalid(format!(
            "the query reads files ({}): hunts through the API read the lake and the store",
            files.join(", ")
        )));
    }
    let now = match &request.now {
        Some(text) => Some(secops_event::Timestamp::from_unix_nanos(parse_time(
            "now", text,
        )?)),
        None => Some(state.clock.now()),
    };
    let timeout = state.settings.hunt_limit(
        request
            .timeout_seconds
            .map(|s| std::time::Duration::from_secs(s.into())),
    );
    let slot = state.hunt_slots.clone().try_acquire_owned().map_err(|_| {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "busy",
            format!(
                "{} hunt(s) are running, as many as the server allows at once; try again when one ends",
                state.settings.hunts.max(1)
            ),
        )
    })?;
    Ok((
        HuntOptions {
            now,
            lenient: request.lenient,
            store: Some(state.settings.store.clone()),
            limits: Limits {
                max_rows: Some(max_rows.into()),
                timeout: Some(timeout),
                ..Limits::default()
            },
            ..HuntOptions::default()
        },
        slot,
    ))
}

/// A hunt's failure as the caller sees it: the query's own faults are theirs (400), a stop at the
/// time limit is a 408, the rest the server's.
fn hunt_error(e: secops_service::ServiceError) -> ApiError {
    use secops_service::hunt::HuntError as h;
    match e {
        secops_service::ServiceError::Hunt(h::Stopped(why)) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "timeout",
            format!("the hunt stopped: {why}"),
        ),
        secops_service::ServiceError::Hunt(e @ (h::Parse(_) | h::Plan { .. } | h::Run(_))) => {
            ApiError::invalid(e.to_string())
        }
        other => other.into(),
    }
}

/// A row of cells (null: empty).
type Row = Vec<Option<serde_json::Value>>;

/// JSON lines into columns (in the order first met) and rows of cells.
fn table(out: &[u8]) -> Result<(Vec<String>, Vec<Row>), ApiError> {
    let mut columns: Vec<String> = Vec::new();
    let mut objects = Vec::new();
    for line in out.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(line).map_err(ApiError::internal)?;
        for key in object.keys() {
            if !columns.contains(key) {
                columns.push(key.clone());
            }
        }
        objects.push(object);
    }
    let rows = objects
        .into_iter()
        .map(|mut object| {
            columns
                .iter()
                .map(|c| match object.remove(c) {
                    None | Some(serde_json::Value::Null) => None,
                    Some(value) => Some(value),
                })
                .collect()
        })
        .collect();
    Ok((columns, rows))
}

/// Saves a query by name once its name, text and description are within bounds and it parses (the
/// API's and the console's saving alike).
pub(crate) async fn save_checked(
    state: &AppState,
    caller: &Caller,
    name: &str,
    query: String,
    description: String,
) -> Result<SavedRecord, ApiError> {
    let name = name.trim().to_string();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "name: 1 to 200 characters, no control characters",
        ));
    }
    check_query(&query)?;
    if description.chars().count() > 4000 {
        return Err(ApiError::invalid("description: at most 4,000 characters"));
    }
    secops_service::hunt::sources_needed(&query)
        .map_err(|e| ApiError::invalid(format!("the query: {e}")))?;
    let now = state.now();
    let owner = caller.principal.name.clone();
    as_caller(state, caller, move |store| {
        Ok(store.save_hunt(&name, &query, &description, &owner, now)?)
    })
    .await
}

/// A query kept by name.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SavedHunt {
    pub id: i64,
    pub name: String,
    pub query: String,
    pub description: String,
    /// Who saved it last.
    pub owner: String,
    pub created_at: String,
    pub updated_at: String,
}

impl From<SavedRecord> for SavedHunt {
    fn from(h: SavedRecord) -> Self {
        SavedHunt {
            id: h.id,
            name: h.name,
            query: h.query,
            description: h.description,
            owner: h.owner,
            created_at: time(h.created_at),
            updated_at: time(h.updated_at),
        }
    }
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SavedHunts {
    pub hunts: Vec<SavedHunt>,
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SaveHunt {
    /// 1 to 200 characters; saving under a name that exists replaces its query.
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// A query of the hunt language that parses.
    #[schema(min_length = 1, max_length = 65536)]
    pub query: String,
    #[serde(default)]
    #[schema(max_length = 4000)]
    pub description: String,
}

/// The saved hunts, by name.
#[utoipa::path(get, path = "/api/v1/hunts/saved", tag = "hunts", security(("api_key" = ["hunts:run"])),
    responses((status = 200, description = "The saved hunts", body = SavedHunts)))]
pub async fn list_saved(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<SavedHunts>, ApiError> {
    let hunts = as_caller(&state, &caller, |store| Ok(store.saved_hunts()?)).await?;
    Ok(Json(SavedHunts {
        hunts: hunts.into_iter().map(SavedHunt::from).collect(),
    }))
}

/// Saves a query under a name (replacing the query of that name); it must parse.
#[utoipa::path(post, path = "/api/v1/hunts/saved", tag = "hunts", security(("api_key" = ["hunts:save"])),
    request_body = SaveHunt,
    responses((status = 200, description = "Saved", body = SavedHunt)))]
pub async fn save(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(hunt): Body<SaveHunt>,
) -> Result<Json<SavedHunt>, ApiError> {
    let saved = save_checked(&state, &caller, &hunt.name, hunt.query, hunt.description).await?;
    Ok(Json(saved.into()))
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Deleted {
    pub id: i64,
}

/// Deletes a saved hunt.
#[utoipa::path(delete, path = "/api/v1/hunts/saved/{id}", tag = "hunts", security(("api_key" = ["hunts:save"])),
    params(("id" = i64, Path, description = "The saved hunt's id")),
    responses((status = 200, description = "Deleted", body = Deleted),
              (status = 404, description = "No such saved hunt", body = crate::error::Problem)))]
pub async fn delete_saved(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> Result<Json<Deleted>, ApiError> {
    let now = state.now();
    as_caller(&state, &caller, move |store| {
        Ok(store.delete_saved_hunt(id, now)?)
    })
    .await?;
    Ok(Json(Deleted { id }))
}

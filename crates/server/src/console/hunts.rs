//! Hunts: a query run over the server's lake within its limits (every run audited, as the API's),
//! its rows with the value actions (include, exclude, count by), saved by name for the team, and
//! attached to a case as evidence (the rows written to a file with its SHA-256, a timeline entry).

use askama::Template;
use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;
use axum::Extension;
use secops_auth::role;

use super::form::{query_fields, Fields};
use super::view::{self, html, may, shown, Chrome};
use super::PageError;
use crate::api::as_caller;
use crate::api::hunts::{check, run_audited, save_checked, text_of, HuntRequest, Ran};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// Rows a results page lays out (the rest are counted, and the run can be attached whole).
const SHOWN: usize = 500;

/// A cell with the queries its actions lead to.
pub struct Cell {
    pub text: String,
    pub null: bool,
    /// A number (set right, to compare down a column).
    pub numeric: bool,
    pub include: String,
    pub exclude: String,
    pub count: String,
}

pub struct Saved {
    pub name: String,
    pub query: String,
    pub description: String,
    pub owner: String,
    pub load: String,
}

/// Everything the hunt page shows.
pub struct HuntView {
    pub query: String,
    pub max_rows: String,
    pub ran: bool,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
    pub total: usize,
    pub hidden: usize,
    pub capped: bool,
    pub warnings: Vec<String>,
    pub notes: Vec<String>,
    pub problem: String,
    pub notice: String,
    pub saved: Vec<Saved>,
    pub has_lake: bool,
    pub can_save: bool,
    pub can_attach: bool,
    pub csrf: String,
}

#[derive(Template)]
#[template(path = "hunts.html")]
struct HuntPage<'a> {
    chrome: Chrome,
    h: &'a HuntView,
}

/// The hunt language's text for a value (a string literal, quotes, backslashes and line breaks
/// escaped).
pub(crate) fn literal(value: &str) -> String {
    let escaped: String = value
        .chars()
        .flat_map(|c| match c {
            '"' => vec!['\\', '"'],
            '\\' => vec!['\\', '\\'],
            '\n' => vec!['\\', 'n'],
            '\r' => vec!['\\', 'r'],
            '\t' => vec!['\\', 't'],
            c => vec![c],
        })
        .collect();
    format!("\"{escaped}\"")
}

/// A field or column name as the hunt language reads it (backquoted unless plain).
pub(crate) fn column(name: &str) -> String {
    if name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@'))
        && !name.is_empty()
    {
        name.to_string()
    } else {
        format!("`{}`", name.replace('`', "``"))
    }
}

fn hunt_link(query: &str) -> String {
    format!("/hunts?{}", view::query([("q", query)]))
}

/// A query's text with a step added at its end.
fn then(query: &str, step: &str) -> String {
    format!("{}\n| {step}", query.trim_end())
}

async fn saved_hunts(state: &AppState, caller: &Caller) -> Result<Vec<Saved>, PageError> {
    let saved = as_caller(state, caller, |store| Ok(store.saved_hunts()?)).await?;
    Ok(saved
        .into_iter()
        .map(|h| Saved {
            load: hunt_link(&h.query),
            name: shown(&h.name).into_owned(),
            query: shown(&h.query).into_owned(),
            description: shown(&h.description).into_owned(),
            owner: shown(&h.owner).into_owned(),
        })
        .collect())
}

fn empty_view(state: &AppState, caller: &Caller, query: String) -> HuntView {
    HuntView {
        query,
        max_rows: "1000".into(),
        ran: false,
        columns: Vec::new(),
        rows: Vec::new(),
        total: 0,
        hidden: 0,
        capped: false,
        warnings: Vec::new(),
        notes: Vec::new(),
        problem: String::new(),
        notice: String::new(),
        saved: Vec::new(),
        has_lake: state.settings.lake.is_some(),
        can_save: may(state, caller, role::HUNTS_SAVE),
        can_attach: may(state, caller, role::CASES_WRITE),
        csrf: caller.csrf.clone().unwrap_or_default(),
    }
}

fn page(state: &AppState, caller: &Caller, view: &HuntView) -> Response {
    html(&HuntPage {
        chrome: Chrome::new(state, caller, "/hunts", "Hunts"),
        h: view,
    })
}

/// `GET /hunts?q=`: the query box (filled from a pivot), the saved hunts.
pub async fn form(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    uri: Uri,
) -> Result<Response, PageError> {
    let fields = query_fields(uri.query());
    let mut view = empty_view(&state, &caller, fields.text("q"));
    view.saved = saved_hunts(&state, &caller).await?;
    view.notice = match fields.get("done").as_deref() {
        Some("saved") => "Hunt saved".into(),
        _ => String::new(),
    };
    Ok(page(&state, &caller, &view))
}

/// `POST /hunts`: runs the query; the rows, or why it could not run, on the page.
pub async fn run(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    fields: Fields,
) -> Result<Response, PageError> {
    let query = fields.text("q");
    let max_rows = match fields.number("max_rows")? {
        None => 1000,
        Some(n) if (1..=10_000).contains(&n) => n as u32,
        Some(_) => return Err(PageError::invalid("max_rows: 1 to 10,000")),
    };
    let request = HuntRequest {
        query: query.clone(),
        max_rows: Some(max_rows),
        timeout_seconds: None,
        now: None,
        lenient: fields.get("lenient").is_some(),
    };
    let mut view = empty_view(&state, &caller, query.clone());
    view.max_rows = max_rows.to_string();
    view.ran = true;
    match run_audited(&state, &caller, &request).await {
        Ok(result) => fill(&mut view, &query, result),
        // The query's own faults are shown beside it; the server's are an error page.
        Err(e) if e.status.is_client_error() => view.problem = e.message,
        Err(e) => return Err(e.into()),
    }
    view.saved = saved_hunts(&state, &caller).await?;
    Ok(page(&state, &caller, &view))
}

fn fill(view: &mut HuntView, query: &str, result: Ran) {
    view.total = result.rows.len();
    view.hidden = result.rows.len().saturating_sub(SHOWN);
    view.capped = result.capped;
    view.warnings = result
        .warnings
        .iter()
        .map(|w| shown(w).into_owned())
        .collect();
    view.notes = result.notes.iter().map(|n| shown(n).into_owned()).collect();
    view.rows = result
        .rows
        .iter()
        .take(SHOWN)
        .map(|row| {
            row.iter()
                .zip(&result.columns)
                .map(|(cell, name)| {
                    let name = column(name);
                    let (text, condition_in, condition_out) = match cell {
                        Some(value) => {
                            // Text is quoted; numbers and booleans are written as they are.
                            let written = match value {
                                serde_json::Value::Number(_) | serde_json::Value::Bool(_) => {
                                    value.to_string()
                                }
                                other => literal(&text_of(other.clone())),
                            };
                            (
                                shown(&text_of(value.clone())).into_owned(),
                                format!("WHERE {name} == {written}"),
                                format!("WHERE {name} != {written}"),
                            )
                        }
                        None => (
                            String::new(),
                            format!("WHERE {name} IS NULL"),
                            format!("WHERE {name} IS NOT NULL"),
                        ),
                    };
                    Cell {
                        null: cell.is_none(),
                        numeric: matches!(cell, Some(serde_json::Value::Number(_))),
                        text,
                        include: hunt_link(&then(query, &condition_in)),
                        exclude: hunt_link(&then(query, &condition_out)),
                        count: hunt_link(&then(
                            query,
                            &format!("STATS n = count(*) BY {name}\n| SORT n DESC"),
                        )),
                    }
                })
                .collect()
        })
        .collect();
    view.columns = result
        .columns
        .iter()
        .map(|c| shown(c).into_owned())
        .collect();
}

/// `POST /hunts/save`: the query kept by name (a name saved again is replaced).
pub async fn save(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    fields: Fields,
) -> Result<Response, PageError> {
    let name = fields.text("name");
    let query = fields.text("q");
    save_checked(
        &state,
        &caller,
        &name,
        query.clone(),
        fields.text("description"),
    )
    .await?;
    Ok(view::see_other(&format!(
        "{}&done=saved",
        hunt_link(&query)
    )))
}

/// `POST /hunts/attach`: the query run again into an evidence file on a case (needs hunts:run as
/// well as cases:write); the run is audited as every hunt is.
pub async fn attach(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    fields: Fields,
) -> Result<Response, PageError> {
    let query = fields.text("q");
    let case = super::alerts::case_number(&fields)?
        .ok_or_else(|| PageError::invalid("attach: to which case? (its number)"))?;
    if !may(&state, &caller, role::HUNTS_RUN) {
        return Err(PageError(ApiError::forbidden(format!(
            "the role {} lacks hunts:run",
            caller.principal.role
        ))));
    }
    let request = HuntRequest {
        query: query.clone(),
        max_rows: Some(crate::api::hunts::MAX_ROWS),
        timeout_seconds: None,
        now: None,
        lenient: false,
    };
    let now = state.now();
    let (options, slot) = match check(&state, &request) {
        Ok(checked) => checked,
        Err(e) => {
            // A refused query is recorded too, as the API's hunts record theirs.
            let (text, why) = (query.clone(), e.message.clone());
            as_caller(&state, &caller, move |store| {
                Ok(secops_service::hunt::audit_query(
                    store,
                    now,
                    &text,
                    Err(&why),
                )?)
            })
            .await?;
            return Err(e.into());
        }
    };
    let title = fields.get("title").unwrap_or_else(|| {
        query
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("hunt")
            .chars()
            .take(80)
            .collect()
    });
    let evidence = secops_service::hunt_evidence::EvidenceRequest {
        case,
        title,
        query: query.clone(),
        lake: state.settings.lake.clone(),
        options,
        format: secops_service::hunt_evidence::EvidenceFormat::Csv,
        dir: state.settings.evidence_dir.clone(),
        technique: fields.get("technique"),
        actor: caller.principal.name.clone(),
    };
    as_caller(&state, &caller, move |store| {
        let _slot = slot;
        let attached = secops_service::hunt_evidence::attach(&evidence, store);
        let outcome = match &attached {
            Ok(e) => Ok(secops_service::hunt::RunStats {
                rows: e.evidence.rows,
                ..Default::default()
            }),
            Err(e) => Err(e.to_string()),
        };
        secops_service::hunt::audit_query(
            store,
            now,
            &evidence.query,
            outcome.as_ref().map_err(String::as_str),
        )?;
        Ok(attached?)
    })
    .await?;
    Ok(view::see_other(&format!("/cases/{case}?done=evidence")))
}

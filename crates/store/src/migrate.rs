//! Versioned schema migrations: each runs once, in its own transaction, in order, and is recorded in
//! `schema_migrations`. Opening a database brings it up to date; a database newer than this program is
//! refused rather than misread.

use crate::backend::{Backend, Value};
use crate::StoreError;

/// One schema change. `{id}` in the statements stands for the dialect's auto-numbered key.
struct Migration {
    version: i64,
    name: &'static str,
    statements: &'static [&'static str],
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "alerts",
        statements: &[
            "CREATE TABLE alerts (
                id {id},
                rule_id TEXT NOT NULL,
                rule_name TEXT NOT NULL,
                rule_version BIGINT NOT NULL,
                severity TEXT NOT NULL,
                risk_score BIGINT NOT NULL,
                group_key TEXT NOT NULL,
                first_seen BIGINT NOT NULL,
                last_seen BIGINT NOT NULL,
                event_count BIGINT NOT NULL,
                status TEXT NOT NULL,
                resolution TEXT,
                case_id BIGINT,
                created_at BIGINT NOT NULL,
                updated_at BIGINT NOT NULL,
                document TEXT NOT NULL
            )",
            "CREATE INDEX alerts_by_rule_group ON alerts (rule_id, group_key, last_seen)",
            "CREATE INDEX alerts_by_status ON alerts (status, last_seen)",
            // Every alert ever recorded, by rule, group and first event time: a re-run over the same
            // logs finds its alerts here and adds nothing.
            "CREATE TABLE alert_fingerprints (
                fingerprint TEXT PRIMARY KEY,
                alert_id BIGINT NOT NULL REFERENCES alerts (id)
            )",
            "CREATE TABLE alert_events (
                id {id},
                alert_id BIGINT NOT NULL REFERENCES alerts (id),
                at BIGINT NOT NULL,
                actor TEXT NOT NULL,
                kind TEXT NOT NULL,
                before TEXT,
                after TEXT
            )",
            "CREATE INDEX alert_events_by_alert ON alert_events (alert_id, id)",
        ],
    },
    Migration {
        version: 2,
        name: "cases",
        statements: &[
            "CREATE TABLE counters (name TEXT PRIMARY KEY, value BIGINT NOT NULL)",
            "INSERT INTO counters (name, value) VALUES ('case_number', 0)",
            "CREATE TABLE cases (
                id {id},
                number BIGINT NOT NULL UNIQUE,
                title TEXT NOT NULL,
                description TEXT NOT NULL,
                severity TEXT NOT NULL,
                tlp TEXT NOT NULL,
                pap TEXT NOT NULL,
                state TEXT NOT NULL,
                resolution TEXT,
                root_cause TEXT,
                lessons_learned TEXT,
                assignee TEXT,
                playbook TEXT,
                tags TEXT NOT NULL,
                incident_start BIGINT,
                detected_at BIGINT,
                created_at BIGINT NOT NULL,
                updated_at BIGINT NOT NULL,
                closed_at BIGINT
            )",
            "CREATE TABLE tasks (
                id {id},
                case_id BIGINT NOT NULL REFERENCES cases (id),
                position BIGINT NOT NULL,
                task_group TEXT NOT NULL,
                title TEXT NOT NULL,
                description TEXT NOT NULL,
                status TEXT NOT NULL,
                assignee TEXT,
                created_at BIGINT NOT NULL,
                updated_at BIGINT NOT NULL
            )",
            "CREATE TABLE observables (
                id {id},
                case_id BIGINT NOT NULL REFERENCES cases (id),
                kind TEXT NOT NULL,
                value TEXT NOT NULL,
                is_ioc BIGINT NOT NULL,
                tlp TEXT NOT NULL,
                description TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                UNIQUE (case_id, kind, value)
            )",
            "CREATE TABLE timeline (
                id {id},
                case_id BIGINT NOT NULL REFERENCES cases (id),
                at BIGINT NOT NULL,
                title TEXT NOT NULL,
                body TEXT NOT NULL,
                source TEXT NOT NULL,
                tactic TEXT,
                technique TEXT,
                created_at BIGINT NOT NULL
            )",
            "CREATE TABLE comments (
                id {id},
                case_id BIGINT NOT NULL REFERENCES cases (id),
                author TEXT NOT NULL,
                body TEXT NOT NULL,
                created_at BIGINT NOT NULL
            )",
            // Append-only: who changed what, when, with the values before and after (JSON).
            "CREATE TABLE case_events (
                id {id},
                case_id BIGINT NOT NULL REFERENCES cases (id),
                at BIGINT NOT NULL,
                actor TEXT NOT NULL,
                kind TEXT NOT NULL,
                before TEXT,
                after TEXT
            )",
            "CREATE INDEX case_events_by_case ON case_events (case_id, id)",
            "CREATE TABLE users (
                name TEXT PRIMARY KEY,
                display_name TEXT NOT NULL,
                created_at BIGINT NOT NULL
            )",
        ],
    },
    Migration {
        version: 3,
        name: "indicators",
        statements: &[
            "CREATE TABLE indicators (
                id {id},
                kind TEXT NOT NULL,
                value TEXT NOT NULL,
                source TEXT NOT NULL,
                native_id TEXT,
                confidence BIGINT,
                tlp TEXT NOT NULL,
                tags TEXT NOT NULL,
                description TEXT NOT NULL,
                first_seen BIGINT,
                last_seen BIGINT,
                valid_until BIGINT,
                imported_at BIGINT NOT NULL,
                updated_at BIGINT NOT NULL,
                to_ids BIGINT NOT NULL,
                expires_at BIGINT NOT NULL,
                warninglists TEXT NOT NULL,
                UNIQUE (kind, value, source)
            )",
            "CREATE INDEX indicators_by_value ON indicators (kind, value)",
            "CREATE INDEX indicators_by_expiry ON indicators (expires_at)",
            "CREATE TABLE intel_state (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
        ],
    },
    Migration {
        version: 4,
        name: "alert paging",
        // Alerts are listed newest first and paged by (last_seen, id): one index walk per page.
        statements: &["CREATE INDEX alerts_by_last_seen ON alerts (last_seen, id)"],
    },
    Migration {
        version: 5,
        name: "indicator source dates",
        // The source's own date of an indicator: decay starts from it (or a later sighting).
        statements: &["ALTER TABLE indicators ADD COLUMN source_date BIGINT"],
    },
    Migration {
        version: 6,
        name: "entity risk",
        statements: &[
            "CREATE TABLE risk_contributions (
                id {id},
                entity_kind TEXT NOT NULL,
                entity TEXT NOT NULL,
                alert_id TEXT NOT NULL,
                rule TEXT NOT NULL,
                points_milli BIGINT NOT NULL,
                at BIGINT NOT NULL,
                tactics TEXT NOT NULL,
                UNIQUE (entity_kind, entity, alert_id)
            )",
            "CREATE INDEX risk_by_entity ON risk_contributions (entity_kind, entity, at)",
        ],
    },
    Migration {
        version: 7,
        name: "risk sources",
        // The log sources of a contribution's alert, for risk by distinct sources across runs.
        statements: &["ALTER TABLE risk_contributions ADD COLUMN sources TEXT NOT NULL DEFAULT ''"],
    },
    Migration {
        version: 8,
        name: "scheduled hunts",
        // Per scheduled hunt (and query), the end of the event time its runs have covered: the next
        // run starts there, so a gap after downtime is filled, not skipped.
        statements: &["CREATE TABLE hunt_schedule (
                hunt TEXT PRIMARY KEY,
                covered_to BIGINT NOT NULL,
                look_back BIGINT NOT NULL,
                last_run BIGINT NOT NULL,
                runs BIGINT NOT NULL,
                alerts BIGINT NOT NULL
            )"],
    },
    Migration {
        version: 9,
        name: "case evidence",
        // What a hunt (or another producer) attached to a case: what it ran, over which data, how
        // many rows, and the file that holds them with its SHA-256, so a changed file is noticed.
        statements: &[
            "CREATE TABLE evidence (
                id {id},
                case_id BIGINT NOT NULL,
                kind TEXT NOT NULL,
                title TEXT NOT NULL,
                query TEXT NOT NULL,
                data_from BIGINT,
                data_to BIGINT,
                query_now BIGINT NOT NULL,
                row_count BIGINT NOT NULL,
                path TEXT NOT NULL,
                format TEXT NOT NULL,
                sha256 TEXT NOT NULL,
                added_by TEXT NOT NULL,
                added_at BIGINT NOT NULL
            )",
            "CREATE INDEX evidence_by_case ON evidence (case_id, id)",
        ],
    },
    Migration {
        version: 10,
        name: "users and API keys",
        // Users sign in with a password (an Argon2id PHC string) and act with a role; failed logins
        // count towards a lockout. API keys are kept as the SHA-256 of the key, found by their id.
        statements: &[
            "ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'viewer'",
            "ALTER TABLE users ADD COLUMN password_hash TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE users ADD COLUMN disabled BIGINT NOT NULL DEFAULT 0",
            "ALTER TABLE users ADD COLUMN failed_logins BIGINT NOT NULL DEFAULT 0",
            "ALTER TABLE users ADD COLUMN locked_until BIGINT",
            "ALTER TABLE users ADD COLUMN last_login BIGINT",
            "ALTER TABLE users ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0",
            "CREATE TABLE api_keys (
                key_id TEXT PRIMARY KEY,
                digest TEXT NOT NULL,
                name TEXT NOT NULL,
                role TEXT NOT NULL,
                owner TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                expires_at BIGINT,
                revoked_at BIGINT,
                last_used_at BIGINT,
                last_used_from TEXT
            )",
        ],
    },
    Migration {
        version: 11,
        name: "audit log",
        // Append-only; each record's HMAC covers it and the previous record's HMAC.
        statements: &["CREATE TABLE audit_log (
                id {id},
                at BIGINT NOT NULL,
                actor TEXT NOT NULL,
                source TEXT NOT NULL,
                action TEXT NOT NULL,
                target TEXT NOT NULL,
                outcome TEXT NOT NULL,
                before TEXT,
                after TEXT,
                prev_mac TEXT NOT NULL,
                mac TEXT NOT NULL
            )"],
    },
    Migration {
        version: 12,
        name: "sessions",
        // A signed-in browser: kept as the SHA-256 of its cookie's secret; ended by revocation, by
        // idleness past the server's limit, or at its absolute expiry.
        statements: &[
            "CREATE TABLE sessions (
                id {id},
                digest TEXT NOT NULL UNIQUE,
                user_name TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                last_seen BIGINT NOT NULL,
                expires_at BIGINT NOT NULL,
                source TEXT NOT NULL,
                revoked_at BIGINT
            )",
            "CREATE INDEX sessions_user ON sessions (user_name)",
        ],
    },
    Migration {
        version: 13,
        name: "alert assignees, tags and entities",
        // What the API filters and groups alerts by. Entities (host, user, ip) are read from each
        // alert's document when it is recorded; alerts recorded before are read by the backfill.
        statements: &[
            "ALTER TABLE alerts ADD COLUMN assignee TEXT",
            "CREATE INDEX alerts_by_assignee ON alerts (assignee, last_seen)",
            "CREATE TABLE alert_tags (
                alert_id BIGINT NOT NULL,
                tag TEXT NOT NULL,
                PRIMARY KEY (alert_id, tag)
            )",
            "CREATE INDEX alert_tags_by_tag ON alert_tags (tag, alert_id)",
            "CREATE TABLE alert_entities (
                alert_id BIGINT NOT NULL,
                kind TEXT NOT NULL,
                value TEXT NOT NULL,
                PRIMARY KEY (alert_id, kind, value)
            )",
            "CREATE INDEX alert_entities_by_value ON alert_entities (kind, value, alert_id)",
            // Pages of alerts in one status, newest first, from where the last page ended (it
            // replaces the index without the id).
            "CREATE INDEX alerts_by_status_page ON alerts (status, last_seen, id)",
            "DROP INDEX alerts_by_status",
        ],
    },
    Migration {
        version: 14,
        name: "saved hunts, alerts by first seen",
        // Queries analysts keep by name to run again (the hunt library is files; these are the
        // team's, kept in the store, each change audited); alert volume over a period reads alerts
        // by when they began.
        statements: &[
            "CREATE INDEX alerts_by_first_seen ON alerts (first_seen)",
            "CREATE TABLE saved_hunts (
                id {id},
                name TEXT NOT NULL UNIQUE,
                query TEXT NOT NULL,
                description TEXT NOT NULL,
                owner TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                updated_at BIGINT NOT NULL
            )",
        ],
    },
    Migration {
        version: 15,
        name: "users' one-time passwords",
        // A TOTP secret (RFC 6238) a user's sign-in also needs a code of; one given out and not yet
        // confirmed; the last step a code was accepted for (a code is good once).
        statements: &[
            "ALTER TABLE users ADD COLUMN totp_secret TEXT",
            "ALTER TABLE users ADD COLUMN totp_pending TEXT",
            "ALTER TABLE users ADD COLUMN totp_last_step BIGINT",
        ],
    },
    Migration {
        version: 16,
        name: "the console: exceptions, tuning tickets, default views, the queue by rule",
        // Exceptions analysts add to a rule from an alert (applied when rules load, until they
        // expire), requests to detection engineering to tune a rule, each user's default view of a
        // page (its query string); the queue grouped by rule counts alerts of a status from an
        // index instead of the table.
        statements: &[
            "CREATE INDEX alerts_by_status_rule ON alerts (status, rule_name)",
            "CREATE TABLE rule_exceptions (
                id {id},
                rule_id TEXT NOT NULL,
                field TEXT NOT NULL,
                value TEXT NOT NULL,
                reason TEXT NOT NULL,
                alert_id BIGINT,
                created_by TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                expires_at BIGINT,
                removed_at BIGINT
            )",
            "CREATE INDEX rule_exceptions_by_rule ON rule_exceptions (rule_id)",
            "CREATE TABLE tuning_tickets (
                id {id},
                rule_id TEXT NOT NULL,
                rule_name TEXT NOT NULL,
                alert_id BIGINT,
                reason TEXT NOT NULL,
                opened_by TEXT NOT NULL,
                opened_at BIGINT NOT NULL,
                state TEXT NOT NULL,
                closed_by TEXT,
                closed_at BIGINT,
                outcome TEXT
            )",
            "CREATE INDEX tuning_tickets_by_state ON tuning_tickets (state, id)",
            "CREATE TABLE user_views (
                user_name TEXT NOT NULL,
                page TEXT NOT NULL,
                query TEXT NOT NULL,
                updated_at BIGINT NOT NULL,
                PRIMARY KEY (user_name, page)
            )",
        ],
    },
    Migration {
        version: 17,
        name: "live checkpoints",
        // `secops run`: per process name, the rules' state and the input positions it covers, saved in
        // the transaction that records the alerts it raised (see `live.rs`).
        statements: &["CREATE TABLE live_checkpoints (
                name TEXT PRIMARY KEY,
                state {bytes} NOT NULL,
                sequence BIGINT NOT NULL,
                saved_at BIGINT NOT NULL
            )"],
    },
    Migration {
        version: 18,
        name: "vulnerability findings",
        // Findings merged across tools and scans (`identity`), each tool's sighting of one in a
        // scope (`vuln_detections`: what a re-import of the scope closes or reopens), imports with
        // their counts, each finding's history and risk acceptances, and the catalogs `vuln
        // refresh` loads (KEV, EPSS, SSVC tables, OSV records).
        statements: &[
            "CREATE TABLE vuln_findings (
                id {id},
                identity TEXT NOT NULL UNIQUE,
                kind TEXT NOT NULL,
                primary_id TEXT NOT NULL,
                vuln_id TEXT NOT NULL,
                title TEXT NOT NULL,
                severity TEXT NOT NULL,
                fix_state TEXT NOT NULL,
                asset_kind TEXT NOT NULL,
                asset_name TEXT NOT NULL,
                asset_address TEXT,
                package TEXT,
                package_version TEXT,
                location TEXT,
                tools TEXT NOT NULL,
                status TEXT NOT NULL,
                resolution TEXT,
                first_seen BIGINT NOT NULL,
                last_seen BIGINT NOT NULL,
                closed_at BIGINT,
                sla_start BIGINT NOT NULL,
                paused BIGINT NOT NULL,
                accepted_until BIGINT,
                sla_days BIGINT,
                kev_due BIGINT,
                due_at BIGINT,
                risk DOUBLE PRECISION NOT NULL,
                vuln_risk DOUBLE PRECISION NOT NULL,
                epss DOUBLE PRECISION,
                in_kev BIGINT NOT NULL,
                timeline TEXT,
                priority TEXT NOT NULL,
                case_id BIGINT,
                document TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                updated_at BIGINT NOT NULL
            )",
            "CREATE INDEX vuln_findings_by_status_risk ON vuln_findings (status, risk)",
            "CREATE INDEX vuln_findings_by_asset ON vuln_findings (asset_name, status)",
            "CREATE INDEX vuln_findings_by_due ON vuln_findings (status, due_at)",
            "CREATE TABLE vuln_finding_cves (
                finding_id BIGINT NOT NULL REFERENCES vuln_findings (id),
                cve TEXT NOT NULL,
                PRIMARY KEY (cve, finding_id)
            )",
            "CREATE TABLE vuln_detections (
                id {id},
                finding_id BIGINT NOT NULL REFERENCES vuln_findings (id),
                tool TEXT NOT NULL,
                scope TEXT NOT NULL,
                detection_key TEXT NOT NULL,
                present BIGINT NOT NULL,
                first_seen BIGINT NOT NULL,
                last_seen BIGINT NOT NULL,
                last_import BIGINT NOT NULL,
                record TEXT NOT NULL,
                UNIQUE (tool, scope, detection_key)
            )",
            "CREATE INDEX vuln_detections_by_finding ON vuln_detections (finding_id)",
            // An import looks a batch's detections up by key: a generic plan on PostgreSQL would
            // otherwise walk the whole scope (by_scope) for each batch.
            "CREATE INDEX vuln_detections_by_key ON vuln_detections (detection_key)",
            "CREATE INDEX vuln_detections_by_scope ON vuln_detections (tool, scope, last_import)",
            "CREATE TABLE vuln_imports (
                id {id},
                at BIGINT NOT NULL,
                actor TEXT NOT NULL,
                file TEXT NOT NULL,
                format TEXT NOT NULL,
                read BIGINT NOT NULL,
                new BIGINT NOT NULL,
                merged BIGINT NOT NULL,
                rejected BIGINT NOT NULL,
                closed BIGINT NOT NULL,
                reopened BIGINT NOT NULL,
                scopes TEXT NOT NULL,
                finished_at BIGINT
            )",
            "CREATE TABLE vuln_finding_events (
                id {id},
                finding_id BIGINT NOT NULL REFERENCES vuln_findings (id),
                at BIGINT NOT NULL,
                actor TEXT NOT NULL,
                kind TEXT NOT NULL,
                before TEXT,
                after TEXT
            )",
            "CREATE INDEX vuln_finding_events_by_finding ON vuln_finding_events (finding_id, id)",
            "CREATE TABLE vuln_acceptances (
                id {id},
                finding_id BIGINT NOT NULL REFERENCES vuln_findings (id),
                owner TEXT NOT NULL,
                reason TEXT NOT NULL,
                expires_at BIGINT NOT NULL,
                created_by TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                ended_at BIGINT
            )",
            "CREATE INDEX vuln_acceptances_by_finding ON vuln_acceptances (finding_id, id)",
            "CREATE TABLE vuln_kev (
                cve TEXT PRIMARY KEY,
                vendor TEXT NOT NULL,
                product TEXT NOT NULL,
                name TEXT NOT NULL,
                date_added TEXT NOT NULL,
                due_date TEXT,
                ransomware BIGINT NOT NULL,
                required_action TEXT NOT NULL,
                catalog TEXT,
                loaded_at BIGINT NOT NULL
            )",
            "CREATE TABLE vuln_epss (
                cve TEXT PRIMARY KEY,
                score DOUBLE PRECISION NOT NULL,
                percentile DOUBLE PRECISION NOT NULL,
                scored_on TEXT NOT NULL,
                loaded_at BIGINT NOT NULL
            )",
            "CREATE TABLE vuln_catalogs (
                kind TEXT NOT NULL,
                name TEXT NOT NULL,
                document TEXT NOT NULL,
                loaded_at BIGINT NOT NULL,
                PRIMARY KEY (kind, name)
            )",
        ],
    },
    Migration {
        version: 19,
        name: "vulnerability advisories stored once",
        // The advisory text every finding of one vulnerability repeats (title, CVSS, CWEs,
        // description, references: four fifths of a finding's document) is kept once per distinct
        // content; a finding names its advisory's digest. Findings stored before keep their whole
        // document and no advisory.
        statements: &[
            "CREATE TABLE vuln_advisories (
                digest TEXT PRIMARY KEY,
                document TEXT NOT NULL
            )",
            "ALTER TABLE vuln_findings ADD COLUMN advisory TEXT",
            // The owner the inventory gave the finding's asset when it was last prioritised: the
            // SLA by owner without the inventory at hand (the server's).
            "ALTER TABLE vuln_findings ADD COLUMN owner TEXT",
            // A host's findings by its name (in lower case) or address: what alerts on it carry
            // (`vuln_exposure`) and what they add to its risk (`vuln_host_risk`), asked on every
            // commit of alerts; the queue's asset filter too.
            "DROP INDEX vuln_findings_by_asset",
            "CREATE INDEX vuln_findings_by_host ON vuln_findings (LOWER(asset_name), status)",
            "CREATE INDEX vuln_findings_by_address ON vuln_findings (asset_address, status)",
            // Whether any open finding is exposed at all (known exploited, or an EPSS probability
            // of at least 0.1): a commit of alerts asks first and skips the rest when none is.
            "CREATE INDEX vuln_findings_exposed ON vuln_findings (status) \
             WHERE in_kev = 1 OR epss >= 0.1",
        ],
    },
    Migration {
        version: 20,
        name: "response automation",
        // Every run of a response action (and of its inverse at rollback), keyed by action,
        // target and what asked for it so that a run is recorded once whatever restarts; and every
        // evaluation of one (fired, stopped by a guard, awaiting approval, a duplicate).
        statements: &[
            "CREATE TABLE response_runs (
                id {id},
                run_key TEXT NOT NULL UNIQUE,
                action_id TEXT NOT NULL,
                operation TEXT NOT NULL,
                target_kind TEXT NOT NULL,
                target TEXT NOT NULL,
                alert_id BIGINT,
                case_number BIGINT,
                workflow TEXT,
                state TEXT NOT NULL,
                dry_run INTEGER NOT NULL,
                requested_by TEXT NOT NULL,
                requested_at BIGINT NOT NULL,
                approval_due BIGINT,
                decided_by TEXT,
                decided_at BIGINT,
                decision_note TEXT,
                request TEXT,
                response TEXT,
                attempts BIGINT NOT NULL DEFAULT 0,
                started_at BIGINT,
                ended_at BIGINT,
                hold_ns BIGINT,
                rollback_at BIGINT,
                rollback_of BIGINT,
                rolled_back_by BIGINT,
                updated_at BIGINT NOT NULL
            )",
            "CREATE INDEX response_runs_by_state ON response_runs (state, rollback_at)",
            "CREATE INDEX response_runs_by_alert ON response_runs (alert_id)",
            "CREATE INDEX response_runs_by_target ON response_runs (target_kind, target, action_id, requested_at)",
            "CREATE INDEX response_runs_by_action ON response_runs (action_id, requested_at)",
            "CREATE TABLE response_evaluations (
                id {id},
                at BIGINT NOT NULL,
                alert_id BIGINT,
                case_number BIGINT,
                workflow TEXT,
                action_id TEXT NOT NULL,
                target TEXT,
                outcome TEXT NOT NULL,
                guard TEXT,
                detail TEXT NOT NULL,
                run_id BIGINT
            )",
            "CREATE INDEX response_evaluations_by_alert ON response_evaluations (alert_id)",
            // How far each long-running evaluator has read (alerts by id, case events by id).
            "CREATE TABLE response_cursors (
                name TEXT PRIMARY KEY,
                position BIGINT NOT NULL,
                updated_at BIGINT NOT NULL
            )",
        ],
    },
];

/// Work a migration needs beyond its statements, run in its transaction after them.
fn backfill(version: i64, tx: &mut dyn crate::backend::Tx) -> Result<(), StoreError> {
    if version == 13 {
        crate::alerts::backfill_entities(tx)?;
    }
    Ok(())
}

/// The newest schema version this program knows.
pub fn latest() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// Brings the database up to date; returns the versions applied.
pub fn migrate(backend: &mut dyn Backend, now: i64) -> Result<Vec<i64>, StoreError> {
    let dialect = backend.dialect();
    let mut applied = Vec::new();
    // Exclusive: two processes opening a new database at once migrate one after the other.
    backend.transaction(true, &mut |tx| {
        tx.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
            &[],
        )?;
        let current = tx
            .query_one("SELECT MAX(version) FROM schema_migrations", &[])?
            .map(|row| row.opt_int(0))
            .transpose()?
            .flatten()
            .unwrap_or(0);
        if current > latest() {
            return Err(StoreError::Newer {
                found: current,
                known: latest(),
            });
        }
        applied.clear();
        for migration in MIGRATIONS.iter().filter(|m| m.version > current) {
            for statement in migration.statements {
                tx.execute(&dialect.ddl(statement), &[])
                    .map_err(|e| StoreError::Migration {
                        version: migration.version,
                        message: e.to_string(),
                    })?;
            }
            backfill(migration.version, tx).map_err(|e| StoreError::Migration {
                version: migration.version,
                message: e.to_string(),
            })?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                &[
                    Value::Int(migration.version),
                    Value::from(migration.name),
                    Value::Int(now),
                ],
            )?;
            applied.push(migration.version);
        }
        Ok(())
    })?;
    Ok(applied)
}

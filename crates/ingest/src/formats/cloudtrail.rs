//! AWS CloudTrail records to ECS (after the field list of CloudTrail's record contents). The record's own
//! fields stay at the top level (`eventName`, `userIdentity.type`, `requestParameters...`), as Sigma's
//! CloudTrail rules name them. Files come through the JSON reader: `{"Records": [...]}` or one record per
//! line.

use secops_event::{Event, Object, Provenance, Timestamp, Value};

use super::util::insert_host;
use crate::Reason;

const FORMAT: &str = "CloudTrail";

pub(crate) fn normalize(object: Object, provenance: Provenance) -> Result<Event, Reason> {
    let time = object
        .get("eventTime")
        .and_then(Value::as_str)
        .ok_or(Reason::malformed(FORMAT, "eventTime missing"))?;
    let timestamp = Timestamp::parse_rfc3339(time)?;
    let text = |path: &str| {
        object
            .lookup(path)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let name = text("eventName").ok_or(Reason::malformed(FORMAT, "eventName missing"))?;
    let source = text("eventSource").unwrap_or_default();
    let error_code = text("errorCode");
    let login_failed = text("responseElements.ConsoleLogin").is_some_and(|r| r == "Failure");
    let identity_type = text("userIdentity.type");
    let user_name = text("userIdentity.userName")
        .or_else(|| text("userIdentity.sessionContext.sessionIssuer.userName"))
        .or_else(|| (identity_type.as_deref() == Some("Root")).then(|| "root".to_string()))
        .or_else(|| {
            text("userIdentity.arn")
                .and_then(|arn| arn.rsplit(['/', ':']).next().map(str::to_string))
        });
    let mfa_used = text("additionalEventData.MFAUsed");
    let ip = text("sourceIPAddress");

    let mut event = Event::from_fields(object, provenance);
    event.set_timestamp(timestamp);
    event.insert("event.kind", "event");
    event.insert("event.module", "aws");
    event.insert("event.dataset", "aws.cloudtrail");
    event.insert("cloud.provider", "aws");
    event.insert("event.provider", source.as_str());
    event.insert("event.action", name.as_str());
    let failed = error_code.is_some() || login_failed;
    event.insert("event.outcome", if failed { "failure" } else { "success" });
    if let Some(category) = category(&name, &source) {
        event.insert("event.category", category);
    }
    if let Some(ip) = ip {
        insert_host(&mut event, &ip, "source.ip", "source.address");
    }
    for (ecs, original) in [
        ("cloud.region", "awsRegion"),
        ("cloud.account.id", "recipientAccountId"),
        ("user_agent.original", "userAgent"),
        ("event.id", "eventID"),
        ("user.id", "userIdentity.principalId"),
        ("aws.cloudtrail.user_identity.arn", "userIdentity.arn"),
        (
            "aws.cloudtrail.user_identity.access_key_id",
            "userIdentity.accessKeyId",
        ),
        ("error.code", "errorCode"),
        ("error.message", "errorMessage"),
    ] {
        let value = event
            .get(original)
            .and_then(Value::as_str)
            .map(str::to_string);
        event.insert_opt(ecs, value);
    }
    event.insert_opt("aws.cloudtrail.user_identity.type", identity_type);
    event.insert_opt("user.name", user_name);
    event.insert_opt(
        "aws.cloudtrail.console_login.mfa_used",
        mfa_used.map(|m| m == "Yes"),
    );
    Ok(event)
}

fn category(name: &str, source: &str) -> Option<&'static str> {
    if matches!(
        name,
        "ConsoleLogin" | "GetSessionToken" | "GetFederationToken"
    ) || name.starts_with("AssumeRole")
    {
        Some("authentication")
    } else if source == "iam.amazonaws.com" {
        Some("iam")
    } else if source == "cloudtrail.amazonaws.com"
        || name.starts_with("Put")
        || name.starts_with("Update")
        || name.starts_with("Delete")
        || name.starts_with("Create")
        || name.starts_with("Authorize")
    {
        Some("configuration")
    } else {
        None
    }
}

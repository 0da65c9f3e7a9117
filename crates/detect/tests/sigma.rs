//! Sigma semantics on events: every modifier, the escape rules, keywords, null and empty values,
//! log-source routing (a Linux rule never sees Windows events), the Security 4688 field renames, the
//! Windows field model (unnamed `Data` values, EventData names with spaces), and each correlation type
//! (alert, no alert, boundary).

#![allow(clippy::unwrap_used, clippy::panic)] // test helpers outside #[test] functions

use std::path::Path;

use secops_detect::sigma::{self, Mapping};
use secops_detect::{Alert, Engine, IndicatorSet};
use secops_event::{Event, Timestamp};
use secops_ingest::{read_bytes, Format, Options};
use secops_rules::sigma::{parse_file, Placeholders, SigmaDocument};

fn docs(yaml: &str, placeholders: &Placeholders) -> Vec<SigmaDocument> {
    parse_file(Path::new("test.yml"), yaml, placeholders).unwrap_or_else(|e| panic!("{e}"))
}

fn events(jsonl: &str) -> Vec<Event> {
    let mut out = Vec::new();
    read_bytes(
        Format::Json,
        "events",
        jsonl.as_bytes(),
        &Options::default(),
        &mut |r| out.push(r.unwrap_or_else(|e| panic!("{e:?}"))),
    );
    out
}

fn alerts_for(documents: &[SigmaDocument], events: &[Event]) -> Vec<Alert> {
    let compiled = sigma::compile(documents, &Mapping::bundled());
    assert!(compiled.rejected.is_empty(), "{:?}", compiled.rejected);
    run_engine(compiled, events)
}

/// The alerts of compiled Sigma rules over the events.
fn run_engine(compiled: sigma::CompiledSigma, events: &[Event]) -> Vec<Alert> {
    let now = Timestamp::parse_rfc3339("2026-11-22T00:00:00Z").unwrap();
    let (mut engine, _) = Engine::with_sigma(&[], compiled, now, &IndicatorSet::default());
    let mut alerts = Vec::new();
    for event in events {
        engine.process(event, &mut alerts);
    }
    alerts
}

/// A Sysmon process-creation event with the given EventData fields.
fn sysmon(data: &str) -> String {
    sysmon_event(1, data)
}

/// A Sysmon event of this EventID with the given EventData fields.
fn sysmon_event(id: u32, data: &str) -> String {
    format!(
        r##"{{"Event":{{"System":{{"Provider":{{"#attributes":{{"Name":"Microsoft-Windows-Sysmon"}}}},"EventID":{id},"Channel":"Microsoft-Windows-Sysmon/Operational","Computer":"ws1","TimeCreated":{{"#attributes":{{"SystemTime":"2024-05-14T10:00:00Z"}}}}}},"EventData":{{{data}}}}}}}"##
    )
}

/// A Windows rule of this category with this detection.
fn windows_rule(category: &str, detection: &str) -> String {
    format!(
        "title: t\nid: 11111111-1111-4111-8111-111111111111\nlogsource:\n    product: windows\n    category: {category}\ndetection:\n{detection}\nlevel: high\n"
    )
}

/// Does a process_creation rule with this detection match a Sysmon event with this EventData?
fn matches(detection: &str, data: &str) -> bool {
    let yaml = windows_rule("process_creation", detection);
    !alerts_for(&docs(&yaml, &Placeholders::new()), &events(&sysmon(data))).is_empty()
}

#[test]
fn plain_values_are_case_insensitive_wildcards_with_exact_escapes() {
    let d = "    selection:\n        Image: 'C:\\Windows\\\\*\\cmd.exe'\n    condition: selection";
    assert!(matches(d, r#""Image":"c:\\windows\\system32\\CMD.EXE""#));
    assert!(!matches(d, r#""Image":"C:\\Tools\\cmd.exe""#));
    // `\*` is a literal star, `?` one character.
    let d = "    selection:\n        CommandLine: 'a\\*b?'\n    condition: selection";
    assert!(matches(d, r#""CommandLine":"A*bX""#));
    assert!(!matches(d, r#""CommandLine":"AxbX""#));
    // `\\*` is a backslash then a wildcard; `\\\*` a backslash then a literal star.
    let d = "    selection:\n        CommandLine: 'x\\\\*'\n    condition: selection";
    assert!(matches(d, r#""CommandLine":"x\\anything""#));
    let d = "    selection:\n        CommandLine: 'x\\\\\\*'\n    condition: selection";
    assert!(matches(d, r#""CommandLine":"x\\*""#));
    assert!(!matches(d, r#""CommandLine":"x\\y""#));
    // A lone backslash before a letter is a backslash.
    let d = "    selection:\n        Image|endswith: '\\rundll32.exe'\n    condition: selection";
    assert!(matches(d, r#""Image":"C:\\Windows\\rundll32.exe""#));
}

#[test]
fn position_all_cased_and_neq_modifiers() {
    let d = "    selection:\n        CommandLine|contains|all:\n            - '-nop'\n            - 'hidden'\n    condition: selection";
    assert!(matches(d, r#""CommandLine":"powershell -NoP -w HIDDEN""#));
    assert!(!matches(d, r#""CommandLine":"powershell -nop""#));
    let d = "    selection:\n        CommandLine|startswith: 'power'\n    condition: selection";
    assert!(matches(d, r#""CommandLine":"PowerShell x""#));
    assert!(!matches(d, r#""CommandLine":"x powershell""#));
    let d = "    selection:\n        Image|cased: 'Evil.exe'\n    condition: selection";
    assert!(matches(d, r#""Image":"Evil.exe""#));
    assert!(!matches(d, r#""Image":"evil.exe""#));
    let d = "    selection:\n        User|neq: 'SYSTEM'\n    condition: selection";
    assert!(matches(d, r#""User":"alice""#));
    assert!(!matches(d, r#""User":"system""#));
}

#[test]
fn re_cidr_exists_numeric_and_fieldref_modifiers() {
    let d = "    selection:\n        CommandLine|re: '-e(nc)?\\s+[A-Za-z0-9+/=]{8,}'\n    condition: selection";
    assert!(matches(
        d,
        r#""CommandLine":"powershell -enc SQBFAFgAIAAo""#
    ));
    assert!(!matches(
        d,
        r#""CommandLine":"powershell -ENC SQBFAFgAIAAo""#
    ));
    let d = "    selection:\n        CommandLine|re|i: '-ENC\\s'\n    condition: selection";
    assert!(matches(d, r#""CommandLine":"x -enc y""#));
    let d = "    selection:\n        CommandLine|re|s: 'a.b'\n    condition: selection";
    assert!(matches(d, r#""CommandLine":"a\nb""#));
    let d = "    selection:\n        CommandLine|re|m: '^b$'\n    condition: selection";
    assert!(matches(d, r#""CommandLine":"a\nb\nc""#));
    let d = "    selection:\n        SourceIp|cidr: '10.0.0.0/8'\n    condition: selection";
    let network = |data: &str| {
        let yaml = windows_rule("network_connection", d);
        !alerts_for(
            &docs(&yaml, &Placeholders::new()),
            &events(&sysmon_event(3, data)),
        )
        .is_empty()
    };
    assert!(network(r#""SourceIp":"10.2.3.4""#));
    assert!(!network(r#""SourceIp":"11.2.3.4""#));
    let d = "    selection:\n        ParentImage|exists: true\n    condition: selection";
    assert!(matches(d, r#""ParentImage":"x""#));
    assert!(!matches(d, r#""Image":"x""#));
    let d = "    selection:\n        ParentImage|exists: false\n    condition: selection";
    assert!(matches(d, r#""Image":"x""#));
    let d = "    selection:\n        ProcessId|gte: 1000\n    condition: selection";
    assert!(matches(d, r#""ProcessId":"1000""#));
    assert!(!matches(d, r#""ProcessId":"999""#));
    let d = "    selection:\n        ProcessId|lt: 10\n    condition: selection";
    assert!(matches(d, r#""ProcessId":"0x4""#));
    let d = "    selection:\n        Image|fieldref: ParentImage\n    condition: selection";
    assert!(matches(
        d,
        r#""Image":"C:\\a.exe","ParentImage":"c:\\A.EXE""#
    ));
    assert!(!matches(
        d,
        r#""Image":"C:\\a.exe","ParentImage":"C:\\b.exe""#
    ));
    let d =
        "    selection:\n        CommandLine|fieldref|endswith: Image\n    condition: selection";
    assert!(matches(d, r#""Image":"a.exe","CommandLine":"run a.exe""#));
}

#[test]
fn encoding_and_windash_modifiers() {
    // base64("whoami") = d2hvYW1p
    let d = "    selection:\n        CommandLine|base64: 'whoami'\n    condition: selection";
    assert!(matches(d, r#""CommandLine":"d2hvYW1p""#));
    assert!(
        !matches(d, r#""CommandLine":"D2HVYW1P""#),
        "encoded values are case-sensitive"
    );
    // The value at each offset inside a longer encoded text.
    let d = "    selection:\n        CommandLine|base64offset|contains: 'http://'\n    condition: selection";
    for text in ["http://x", "ahttp://x", "abhttp://x"] {
        let encoded = base64_encode(text.as_bytes());
        assert!(
            matches(d, &format!(r#""CommandLine":"-e {encoded}""#)),
            "{text}"
        );
    }
    // wide: UTF-16LE before base64 (PowerShell -EncodedCommand).
    let d = "    selection:\n        CommandLine|wide|base64offset|contains: 'iex'\n    condition: selection";
    let utf16: Vec<u8> = "x = iex (y)"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    assert!(matches(
        d,
        &format!(r#""CommandLine":"{}""#, base64_encode(&utf16))
    ));
    let d = "    selection:\n        CommandLine|utf16be|base64: 'ab'\n    condition: selection";
    assert!(matches(
        d,
        &format!(r#""CommandLine":"{}""#, base64_encode(&[0, b'a', 0, b'b']))
    ));
    let d = "    selection:\n        CommandLine|utf16|base64: 'a'\n    condition: selection";
    assert!(matches(
        d,
        &format!(
            r#""CommandLine":"{}""#,
            base64_encode(&[0xFF, 0xFE, b'a', 0])
        )
    ));
    let d = "    selection:\n        CommandLine|windash|contains: ' -exec bypass'\n    condition: selection";
    for dash in ["-", "/", "\u{2013}", "\u{2014}", "\u{2015}"] {
        assert!(
            matches(d, &format!(r#""CommandLine":"ps {dash}exec bypass""#)),
            "{dash}"
        );
    }
    assert!(!matches(d, r#""CommandLine":"ps +exec bypass""#));
}

fn base64_encode(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn keywords_null_empty_and_expand() {
    let d =
        "    keywords:\n        - 'mimikatz'\n        - 'sekurlsa*logon'\n    condition: keywords";
    assert!(matches(d, r#""CommandLine":"x SEKURLSA::logonpasswords""#));
    assert!(!matches(d, r#""CommandLine":"x""#));
    // Caseless characters (emoji) are prefiltered byte for byte, next to ASCII ignoring its case.
    let d = "    selection:\n        CommandLine|contains: '🦆x'\n    condition: selection";
    assert!(matches(d, r#""CommandLine":"a 🦆X b""#));
    assert!(!matches(d, r#""CommandLine":"a 🦆 x""#));
    let d = "    selection:\n        '|all':\n            - 'a1'\n            - 'b2'\n    condition: selection";
    assert!(matches(d, r#""CommandLine":"a1","Image":"b2""#));
    assert!(!matches(d, r#""CommandLine":"a1""#));
    let d = "    selection:\n        ParentImage: null\n    condition: selection";
    assert!(matches(d, r#""Image":"x""#));
    assert!(!matches(d, r#""ParentImage":"x""#));
    let d = "    selection:\n        CommandLine: ''\n    condition: selection";
    assert!(matches(d, r#""CommandLine":"""#));
    assert!(!matches(d, r#""CommandLine":"x""#));
    let yaml = "title: t\nlogsource:\n    product: windows\n    category: process_creation\ndetection:\n    selection:\n        User|expand: '%Admins%'\n    condition: selection\n";
    let e = parse_file(Path::new("p.yml"), yaml, &Placeholders::new()).unwrap_err();
    assert!(e.message.contains("%Admins%"), "{e}");
    let placeholders =
        Placeholders::from([("Admins".to_string(), vec!["bob".into(), "eve".into()])]);
    let found = alerts_for(
        &docs(yaml, &placeholders),
        &events(&sysmon(r#""User":"EVE""#)),
    );
    assert_eq!(found.len(), 1);
}

#[test]
fn unrunnable_rules_are_rejected_with_the_reason() {
    for (detection, needle) in [
        (
            "    selection:\n        Image|foo: x\n    condition: selection",
            "unknown modifier 'foo'",
        ),
        (
            "    selection:\n        Image: x\n    condition: selection | count() by Image > 5",
            "legacy aggregation",
        ),
        (
            "    selection:\n        Image: x\n    condition: selection and nothere",
            "'nothere'",
        ),
        (
            "    selection:\n        Image|re: '(x'\n    condition: selection",
            "invalid regular expression",
        ),
        (
            "    selection:\n        Image|all: x\n    condition: selection",
            "'all' needs a list",
        ),
        (
            "    selection:\n        Image|cidr: 'nope'\n    condition: selection",
            "invalid CIDR",
        ),
    ] {
        let yaml = format!("title: t\nlogsource:\n    product: windows\ndetection:\n{detection}\n");
        let e = parse_file(Path::new("bad.yml"), &yaml, &Placeholders::new()).unwrap_err();
        assert!(e.to_string().contains(needle), "{e}");
        assert!(e.to_string().starts_with("bad.yml"), "{e}");
    }
}

/// Compiles one rule against a mapping: its alerts on the events, or the reason it was rejected.
fn run_with(mapping: &Mapping, yaml: &str, jsonl: &str) -> Result<usize, String> {
    let compiled = sigma::compile(&docs(yaml, &Placeholders::new()), mapping);
    if let Some(r) = compiled.rejected.first() {
        return Err(r.reason.clone());
    }
    Ok(run_engine(compiled, &events(jsonl)).len())
}

#[test]
fn fields_the_log_source_never_carries_reject_or_drop_out_of_the_rule() {
    let bundled = Mapping::bundled();
    // Needed by the condition: Sysmon file events (EventID 11) carry no ParentImage.
    let needs_parent = windows_rule(
        "file_event",
        "    file:\n        TargetFilename|endswith: '\\ntds.dit'\n    parent:\n        ParentImage|endswith: '\\w3wp.exe'\n    condition: file and parent",
    );
    let enriched = sysmon_event(
        11,
        r#""Image":"C:\\x.exe","TargetFilename":"C:\\t\\ntds.dit","ParentImage":"C:\\w3wp.exe""#,
    );
    let e = run_with(&bundled, &needs_parent, &enriched).unwrap_err();
    assert!(e.contains("can never match"), "{e}");
    assert!(
        e.contains("sysmon EventID 11 events carry no ParentImage"),
        "{e}"
    );
    // A user's list of the same name adds the enriched field: the rule loads and matches.
    let user = Mapping::with_user("[event_fields]\nsysmon_11 = [\"ParentImage\"]\n").unwrap();
    assert_eq!(run_with(&user, &needs_parent, &enriched), Ok(1));

    // In a filter only, the missing field takes away nothing the rule needs: it loads and matches.
    let filtered = windows_rule(
        "network_connection",
        "    selection:\n        Image|endswith: '\\rundll32.exe'\n    filter:\n        CommandLine|endswith: 'PcaPatchSdbTask'\n    condition: selection and not filter",
    );
    let connection = sysmon_event(
        3,
        r#""Image":"C:\\Windows\\rundll32.exe","DestinationIp":"1.2.3.4""#,
    );
    assert_eq!(run_with(&bundled, &filtered, &connection), Ok(1));

    // A filter of carried fields that only acts together with a missing one is dead: rejected.
    let dead = windows_rule(
        "network_connection",
        "    selection:\n        Image|endswith: '\\werfault.exe'\n    parent:\n        ParentImage: 'C:\\svchost.exe'\n    ranges:\n        DestinationIp|cidr: '10.0.0.0/8'\n    condition: selection and not (parent and ranges)",
    );
    let e = run_with(&bundled, &dead, &connection).unwrap_err();
    assert!(
        e.contains(
            "ranges can never take effect on sysmon EventID 3 events, which carry no ParentImage"
        ),
        "{e}"
    );

    // `null` and `exists: false` hold on a field that is never there: the search is always true.
    let absent = windows_rule(
        "network_connection",
        "    selection:\n        Image|endswith: '\\rundll32.exe'\n    nocmd:\n        CommandLine: null\n    condition: selection and nocmd",
    );
    assert_eq!(run_with(&bundled, &absent, &connection), Ok(1));

    // process_creation: OriginalFileName is Sysmon's only; the rule keeps its Sysmon target.
    let original = windows_rule(
        "process_creation",
        "    selection:\n        OriginalFileName: 'Cmd.Exe'\n    condition: selection",
    );
    assert_eq!(
        run_with(
            &bundled,
            &original,
            &sysmon(r#""OriginalFileName":"Cmd.Exe""#)
        ),
        Ok(1)
    );

    // auditd: record fields by the audit field dictionary, EXECVE arguments by number.
    let auditd = |detection: &str| {
        format!("title: t\nlogsource:\n    product: linux\n    service: auditd\ndetection:\n{detection}\n")
    };
    let execve = r#"{"@timestamp":"2024-05-14T10:00:00Z","event.module":"auditd","type":"EXECVE","a0":"sh","a12":"-c"}"#;
    let args =
        auditd("    selection:\n        type: EXECVE\n        a12: '-c'\n    condition: selection");
    assert_eq!(run_with(&bundled, &args, execve), Ok(1));
    let cmdline = auditd("    selection:\n        type: SYSCALL\n        cmdline|contains: scx\n    condition: selection");
    let e = run_with(&bundled, &cmdline, execve).unwrap_err();
    assert!(
        e.contains("event.module auditd events carry no cmdline"),
        "{e}"
    );
}

#[test]
fn routing_honours_product_and_4688_renames() {
    // A Linux rule never runs on Windows events, even when its keyword is there.
    let linux = "title: l\nlogsource:\n    product: linux\ndetection:\n    keywords:\n        - 'mimikatz'\n    condition: keywords\n";
    let windows_event = events(&sysmon(r#""CommandLine":"mimikatz""#));
    assert!(alerts_for(&docs(linux, &Placeholders::new()), &windows_event).is_empty());
    let syslog = r#"{"@timestamp":"2024-05-14T10:00:00Z","event":{"module":"system"},"message":"ran mimikatz"}"#;
    assert_eq!(
        alerts_for(&docs(linux, &Placeholders::new()), &events(syslog)).len(),
        1
    );
    // Image and ParentImage are NewProcessName and ParentProcessName in Security 4688.
    let rule = "title: p\nauthor: A. Author, B. Author\ntags:\n    - attack.execution\n    - attack.t1059.001\nlogsource:\n    product: windows\n    category: process_creation\ndetection:\n    selection:\n        Image|endswith: '\\powershell.exe'\n        ParentImage|endswith: '\\winword.exe'\n    condition: selection\nlevel: high\n";
    let security = r##"{"Event":{"System":{"Provider":{"#attributes":{"Name":"Microsoft-Windows-Security-Auditing"}},"EventID":4688,"Channel":"Security","Computer":"ws1","TimeCreated":{"#attributes":{"SystemTime":"2024-05-14T10:00:00Z"}}},"EventData":{"NewProcessName":"C:\\Windows\\powershell.exe","ParentProcessName":"C:\\Office\\WINWORD.EXE"}}}"##;
    let found = alerts_for(&docs(rule, &Placeholders::new()), &events(security));
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].rule.author, ["A. Author", "B. Author"]);
    assert_eq!(found[0].rule.techniques(), ["T1059", "T1059.001"]);
    assert_eq!(found[0].rule.tactics(), ["TA0002"]);
    let sysmon_event =
        sysmon(r#""Image":"C:\\Windows\\powershell.exe","ParentImage":"C:\\Office\\winword.exe""#);
    assert_eq!(
        alerts_for(&docs(rule, &Placeholders::new()), &events(&sysmon_event)).len(),
        1
    );
    // The same fields under their Sysmon names in a 4688 event do not count.
    let wrong = security
        .replace("NewProcessName", "Image")
        .replace("ParentProcessName", "ParentImage");
    assert!(alerts_for(&docs(rule, &Placeholders::new()), &events(&wrong)).is_empty());
}

/// A Windows event of this channel, provider and EventID, with the given `EventData` members.
fn windows_event(channel: &str, provider: &str, id: u32, data: &str) -> String {
    format!(
        r##"{{"Event":{{"System":{{"Provider":{{"#attributes":{{"Name":"{provider}"}}}},"EventID":{id},"Channel":"{channel}","Computer":"sql1","TimeCreated":{{"#attributes":{{"SystemTime":"2024-05-14T10:00:00Z"}}}}}},"EventData":{{{data}}}}}}}"##
    )
}

/// The number of alerts of a Windows rule (`logsource` lines, detection) on one event.
fn fires(logsource: &str, detection: &str, event: &str) -> usize {
    let yaml = format!(
        "title: t\nid: 11111111-1111-4111-8111-111111111111\nlogsource:\n    product: windows\n{logsource}\ndetection:\n{detection}\nlevel: high\n"
    );
    alerts_for(&docs(&yaml, &Placeholders::new()), &events(event)).len()
}

/// `<Data>` elements without a `Name` (MSSQL, ESENT, classic PowerShell) reach Sigma's `Data` field as
/// their values, any of which may match: the EVTX reader renders them as `Data: {"#text": [...]}`
/// (several) or `Data: {"#text": "..."}` (one).
#[test]
fn unnamed_data_values_are_matched_as_data() {
    // MSSQL login failure, event 18456 of the Application log.
    let mssql = windows_event(
        "Application",
        "MSSQLSERVER",
        18456,
        r##""Data":{"#text":["sa"," Reason: Password did not match that for the login provided."," [CLIENT: 10.0.2.17]"]}"##,
    );
    let application = "    service: application";
    let failed = "    selection:\n        Provider_Name: 'MSSQLSERVER'\n        EventID: 18456\n        Data|contains: 'Reason: Password did not match'\n    condition: selection";
    assert_eq!(fires(application, failed, &mssql), 1);
    let client =
        "    selection:\n        Data|contains: '[CLIENT: 10.0.2.17]'\n    condition: selection";
    assert_eq!(fires(application, client, &mssql), 1, "any value matches");
    let other = "    selection:\n        Data|contains: 'Reason: Could not find a login'\n    condition: selection";
    assert_eq!(fires(application, other, &mssql), 0);
    // Classic PowerShell engine start (400): the third value holds the host application.
    let classic = windows_event(
        "Windows PowerShell",
        "PowerShell",
        400,
        r##""Data":{"#text":["Available","None","\tNewEngineState=Available\r\n\tHostApplication=powershell.exe -nop -w hidden -enc SQBFAFgA\r\n\tEngineVersion=5.1"]}"##,
    );
    let start = "    category: ps_classic_start";
    let hidden = "    selection:\n        Data|contains|all:\n            - 'HostApplication='\n            - ' -w hidden '\n    condition: selection";
    assert_eq!(fires(start, hidden, &classic), 1);
    // One unnamed value.
    let esent = windows_event(
        "Application",
        "ESENT",
        325,
        r##""Data":{"#text":"ntdsutil (1234) C:\\Temp\\ntds.dit"}"##,
    );
    let ntds = "    selection:\n        Provider_Name: 'ESENT'\n        Data|contains: '\\ntds.dit'\n    condition: selection";
    assert_eq!(fires(application, ntds, &esent), 1);
}

/// EventData names with spaces (Windows Defender) are reachable by the space-less spelling Sigma rules
/// use, and the record keeps its own names.
#[test]
fn event_data_names_with_spaces_are_reachable_without_them() {
    let channel = "Microsoft-Windows-Windows Defender/Operational";
    let provider = "Microsoft-Windows-Windows Defender";
    // 5007, the configuration changed: an exclusion added.
    let changed = windows_event(
        channel,
        provider,
        5007,
        r##""Product Name":"%%827","Old Value":"","New Value":"HKLM\\SOFTWARE\\Microsoft\\Windows Defender\\Exclusions\\Paths\\C:\\Users\\Public = 0x0""##,
    );
    let windefend = "    service: windefend";
    let exclusion = "    selection:\n        EventID: 5007\n        NewValue|contains: '\\Microsoft\\Windows Defender\\Exclusions\\'\n    condition: selection";
    assert_eq!(fires(windefend, exclusion, &changed), 1);
    let old = "    selection:\n        OldValue|contains: 'Exclusions'\n    condition: selection";
    assert_eq!(fires(windefend, old, &changed), 0);
    // 1116, malware detected: the antivirus category's Signature is the threat's name.
    let detected = windows_event(
        channel,
        provider,
        1116,
        r##""Threat Name":"Trojan:PowerShell/Powersploit.M","Process Name":"C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe","Path":"file:_C:\\AtomicRedTeam\\Get-Keystrokes.ps1""##,
    );
    let antivirus = "    category: antivirus";
    let signature =
        "    selection:\n        Signature|contains: 'Powersploit'\n    condition: selection";
    assert_eq!(fires(antivirus, signature, &detected), 1);
    let process = "    selection:\n        ProcessName|endswith: '\\powershell.exe'\n    condition: selection";
    assert_eq!(fires(windefend, process, &detected), 1);
    let event = &events(&detected)[0];
    assert_eq!(
        event.get_str("Event.EventData.Threat Name"),
        Some("Trojan:PowerShell/Powersploit.M"),
        "the record's own name is kept"
    );
}

/// A Security 4688 (version 2) event as Microsoft documents it: `dadmin` of CONTOSO starts rundll32
/// from explorer at medium integrity.
fn security_4688(subject_domain: &str, subject_user: &str, label: &str) -> String {
    windows_event(
        "Security",
        "Microsoft-Windows-Security-Auditing",
        4688,
        &format!(
            r#""SubjectUserSid":"S-1-5-21-1377283216-344919071-3415362939-500","SubjectUserName":"{subject_user}","SubjectDomainName":"{subject_domain}","SubjectLogonId":"0x4a5af0","NewProcessId":"0x2bc","NewProcessName":"C:\\Windows\\System32\\rundll32.exe","TokenElevationType":"%%1938","ProcessId":"0xe74","CommandLine":"rundll32.exe shell32.dll,Control_RunDLL","TargetUserSid":"S-1-0-0","TargetUserName":"-","TargetDomainName":"-","TargetLogonId":"0x0","ParentProcessName":"C:\\Windows\\explorer.exe","MandatoryLabel":"{label}""#
        ),
    )
}

/// Sysmon 1's field names reach Security 4688's: each rename of the mapping fires on a 4688 event, and a
/// value that differs does not.
#[test]
fn process_creation_fields_reach_security_4688_by_their_sysmon_names() {
    let creation = "    category: process_creation";
    let event = security_4688("CONTOSO", "dadmin", "S-1-16-8192");
    let rule = |selection: &str| format!("    selection:\n{selection}\n    condition: selection");
    let cases = [
        ("        Image|endswith: '\\rundll32.exe'", 1),
        ("        ParentImage|endswith: '\\explorer.exe'", 1),
        ("        ParentImage|endswith: '\\cmd.exe'", 0),
        // Integrity levels by name (as Sysmon writes them) and as SIDs (as some rules list them).
        ("        IntegrityLevel: 'Medium'", 1),
        ("        IntegrityLevel: 'medium'", 1),
        (
            "        IntegrityLevel:\n            - 'High'\n            - 'System'",
            0,
        ),
        ("        IntegrityLevel: 'S-1-16-8192'", 1),
        ("        LogonId: '0x4a5af0'", 1),
        ("        LogonId: '0x3e7'", 0),
        // Sysmon's decimal ids are 4688's hexadecimal ones: 700 is 0x2bc, 3700 0xe74.
        ("        ProcessId: 700", 1),
        ("        ProcessId: 701", 0),
        ("        ParentProcessId: 3700", 1),
        ("        ParentProcessId: 700", 0),
        ("        User: 'CONTOSO\\dadmin'", 1),
        ("        User|endswith: '\\DADMIN'", 1),
        (
            "        User|contains:\n            - 'AUTHORI'\n            - 'AUTORI'",
            0,
        ),
    ];
    for (selection, expected) in cases {
        assert_eq!(
            fires(creation, &rule(selection), &event),
            expected,
            "{selection}"
        );
    }
    // A service account's process: User is DOMAIN\name, as in Sysmon.
    let service = security_4688("NT AUTHORITY", "LOCAL SERVICE", "S-1-16-16384");
    let system = "        User|contains:\n            - 'AUTHORI'\n            - 'AUTORI'\n        IntegrityLevel: 'System'";
    assert_eq!(fires(creation, &rule(system), &service), 1);
    // A field 4688 does not carry takes the rule off 4688 (it still runs on Sysmon 1).
    let hashes = "        Hashes|contains: 'IMPHASH=0'";
    assert_eq!(fires(creation, &rule(hashes), &event), 0);
}

// ---- correlations -------------------------------------------------------------------------------

const BASE: &str = "title: Failed logon\nname: failed_logon\nlogsource:\n    product: windows\n    service: security\ndetection:\n    selection:\n        EventID: 4625\n    condition: selection\n---\ntitle: Successful logon\nname: successful_logon\nlogsource:\n    product: windows\n    service: security\ndetection:\n    selection:\n        EventID: 4624\n    condition: selection\n";

fn logon(id: u32, second: u32, user: &str, ip: &str) -> String {
    format!(
        r##"{{"Event":{{"System":{{"EventID":{id},"Channel":"Security","Computer":"dc1","TimeCreated":{{"#attributes":{{"SystemTime":"2024-05-14T10:{:02}:{:02}Z"}}}}}},"EventData":{{"TargetUserName":"{user}","IpAddress":"{ip}"}}}}}}"##,
        second / 60,
        second % 60
    )
}

fn run_correlation(correlation: &str, lines: &[String]) -> Vec<Alert> {
    let yaml = format!("{BASE}---\n{correlation}");
    alerts_for(
        &docs(&yaml, &Placeholders::new()),
        &events(&lines.join("\n")),
    )
}

#[test]
fn event_count_alerts_at_the_threshold_within_the_timespan_only() {
    let c = "title: Brute force\ncorrelation:\n    type: event_count\n    rules:\n        - failed_logon\n    group-by:\n        - TargetUserName\n    timespan: 1m\n    condition:\n        gte: 3\nlevel: high\n";
    let three = [
        logon(4625, 0, "bob", "1.1.1.1"),
        logon(4625, 20, "bob", "1.1.1.1"),
        logon(4625, 40, "bob", "1.1.1.1"),
    ];
    let alerts = run_correlation(c, &three);
    assert_eq!(
        alerts.len(),
        1,
        "only the correlation alerts (generate is false)"
    );
    assert_eq!(
        alerts[0].group,
        [("TargetUserName".to_string(), "bob".to_string())]
    );
    assert_eq!(alerts[0].count, 3);
    // Two only: no alert.
    assert!(run_correlation(c, &three[..2]).is_empty());
    // Boundary: the third event 61 s after the first falls outside the 1m window.
    let spread = [
        logon(4625, 0, "bob", "x"),
        logon(4625, 30, "bob", "x"),
        logon(4625, 61, "bob", "x"),
    ];
    assert!(run_correlation(c, &spread).is_empty());
    let edge = [
        logon(4625, 0, "bob", "x"),
        logon(4625, 30, "bob", "x"),
        logon(4625, 60, "bob", "x"),
    ];
    assert_eq!(run_correlation(c, &edge).len(), 1);
    // Other users are other groups.
    let mixed = [
        logon(4625, 0, "bob", "x"),
        logon(4625, 1, "amy", "x"),
        logon(4625, 2, "bob", "x"),
    ];
    assert!(run_correlation(c, &mixed).is_empty());
}

#[test]
fn value_count_counts_distinct_values() {
    let c = "title: Spray\ncorrelation:\n    type: value_count\n    rules:\n        - failed_logon\n    group-by:\n        - IpAddress\n    timespan: 5m\n    condition:\n        field: TargetUserName\n        gte: 3\n";
    let users = [
        logon(4625, 0, "a", "9.9.9.9"),
        logon(4625, 1, "b", "9.9.9.9"),
        logon(4625, 2, "a", "9.9.9.9"),
    ];
    assert!(run_correlation(c, &users).is_empty(), "two distinct users");
    let mut more = users.to_vec();
    more.push(logon(4625, 3, "c", "9.9.9.9"));
    assert_eq!(run_correlation(c, &more).len(), 1);
}

#[test]
fn temporal_and_temporal_ordered() {
    let t = "title: Both\ncorrelation:\n    type: temporal\n    rules:\n        - successful_logon\n        - failed_logon\n    group-by:\n        - TargetUserName\n    timespan: 1m\n";
    let success_then_fail = [logon(4624, 0, "bob", "x"), logon(4625, 10, "bob", "x")];
    assert_eq!(run_correlation(t, &success_then_fail).len(), 1, "any order");
    let far = [logon(4624, 0, "bob", "x"), logon(4625, 70, "bob", "x")];
    assert!(run_correlation(t, &far).is_empty());
    let o = "title: Fail then success\ncorrelation:\n    type: temporal_ordered\n    rules:\n        - failed_logon\n        - successful_logon\n    group-by:\n        - TargetUserName\n    timespan: 1m\n";
    assert!(
        run_correlation(o, &success_then_fail).is_empty(),
        "wrong order"
    );
    let fail_then_success = [logon(4625, 0, "bob", "x"), logon(4624, 59, "bob", "x")];
    assert_eq!(run_correlation(o, &fail_then_success).len(), 1);
    let late = [logon(4625, 0, "bob", "x"), logon(4624, 61, "bob", "x")];
    assert!(run_correlation(o, &late).is_empty());
}

#[test]
fn chained_correlation_and_aggregates() {
    // The spec's example: many failures (event_count), then a success (temporal_ordered).
    let c = "title: Many failures\nname: many_failures\ncorrelation:\n    type: event_count\n    rules:\n        - failed_logon\n    group-by:\n        - TargetUserName\n    timespan: 5m\n    condition:\n        gte: 2\n---\ntitle: Brute force then success\ncorrelation:\n    type: temporal_ordered\n    rules:\n        - many_failures\n        - successful_logon\n    group-by:\n        - TargetUserName\n    timespan: 10m\nlevel: critical\n";
    let lines = [
        logon(4625, 0, "bob", "x"),
        logon(4625, 5, "bob", "x"),
        logon(4624, 30, "bob", "x"),
    ];
    let alerts = run_correlation(c, &lines);
    assert_eq!(
        alerts.len(),
        1,
        "{:?}",
        alerts.iter().map(|a| &a.rule.name).collect::<Vec<_>>()
    );
    assert_eq!(alerts[0].rule.name, "Brute force then success");
    let one_failure = [logon(4625, 0, "bob", "x"), logon(4624, 30, "bob", "x")];
    let found = run_correlation(c, &one_failure);
    assert!(
        found.is_empty(),
        "{:?}",
        found
            .iter()
            .map(|a| (&a.rule.name, a.count))
            .collect::<Vec<_>>()
    );
    // value_sum over a numeric field.
    let s = "title: Sum\ncorrelation:\n    type: value_sum\n    rules:\n        - failed_logon\n    group-by:\n        - TargetUserName\n    timespan: 5m\n    condition:\n        field: IpAddress\n        gt: 10\n";
    let low = [logon(4625, 0, "bob", "4"), logon(4625, 1, "bob", "5")];
    assert!(run_correlation(s, &low).is_empty());
    let high = [logon(4625, 0, "bob", "4"), logon(4625, 1, "bob", "7")];
    assert_eq!(run_correlation(s, &high).len(), 1);
}

#[test]
fn correlations_that_cannot_run_are_rejected() {
    let c = "title: Few\ncorrelation:\n    type: event_count\n    rules:\n        - failed_logon\n    group-by:\n        - TargetUserName\n    timespan: 5m\n    condition:\n        lt: 2\n";
    let compiled = sigma::compile(
        &docs(&format!("{BASE}---\n{c}"), &Placeholders::new()),
        &Mapping::bundled(),
    );
    assert_eq!(compiled.rejected.len(), 1);
    assert!(compiled.rejected[0].reason.contains("upper bounds"));
    let c = "title: Dangling\ncorrelation:\n    type: event_count\n    rules:\n        - nosuch\n    timespan: 5m\n    condition:\n        gte: 2\n";
    let compiled = sigma::compile(&docs(c, &Placeholders::new()), &Mapping::bundled());
    assert!(compiled.rejected[0].reason.contains("'nosuch'"));
}

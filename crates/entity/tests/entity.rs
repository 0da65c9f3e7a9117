//! The inventory's checks, and resolution from it and from real-format log lines (Zeek DHCP, Windows
//! logons), time-aware and explainable.

#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

use secops_entity::{EvidenceKind, Inventory, Resolver, UserName};
use secops_event::Event;
use secops_ingest::{read_bytes, Format, Options};

fn events(format: Format, text: &str) -> Vec<Event> {
    let mut out = Vec::new();
    let summary = read_bytes(
        format,
        "fixture.log",
        text.as_bytes(),
        &Options::default(),
        &mut |r| out.push(r.unwrap_or_else(|e| panic!("{e}"))),
    );
    assert_eq!(summary.rejected, 0);
    out
}

fn at(text: &str) -> i64 {
    secops_event::Timestamp::parse_rfc3339(text)
        .unwrap()
        .unix_nanos()
}

const INVENTORY: &str = r#"format = 1

[[host]]
id = "ws-0042"
names = ["ws-0042.corp.example"]
criticality = "high"
owner = "alice"

[[host]]
id = "dc01"
names = ["DC01.corp.example"]
addresses = [{ ip = "10.0.0.10" }]
criticality = "critical"

[[user]]
id = "alice.smith"
aliases = ['CORP\alice', "alice@corp.example"]
vip = true

[[network]]
name = "servers"
cidr = "10.0.0.0/28"
criticality = "high"
"#;

#[test]
fn every_problem_of_an_inventory_is_reported_with_its_line() {
    let text = r#"[[host]]
id = "web1"
names = ["web1.example"]
addresses = [{ ip = "10.0.0.300" }, { ip = "10.0.0.7", from = "2026-12-02T00:00:00Z", until = "2026-12-01T00:00:00Z" }]

[[host]]
id = "web2"
names = ["WEB1.example"]
addresses = [{ ip = "10.0.0.8" }]

[[host]]
id = "web3"
addresses = [{ ip = "10.0.0.8", from = "2026-01-01T00:00:00Z" }]

[[host]]
id = "web2"

[[user]]
id = "bob"
aliases = ['CORP\bob']

[[user]]
id = "robert"
aliases = ['corp\Bob']

[[network]]
name = "bad"
cidr = "10.0.0.0/40"
"#;
    let errors = Inventory::parse("inv.toml", text).unwrap_err();
    let lines: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    for expected in [
        "inv.toml:1: host web1: \"10.0.0.300\" is not an IP address",
        "inv.toml:1: host web1: address 10.0.0.7 ends before it starts",
        "inv.toml:6: host web2: name \"WEB1.example\" also names host web1 (line 1)",
        "inv.toml:11: host web3: address 10.0.0.8 is also host web2's (line 6) over an overlapping window",
        "inv.toml:15: host web2 is also defined at line 6",
        "inv.toml:22: user robert: alias \"corp\\\\Bob\" is also user bob's (line 18)",
        "inv.toml:26: network bad: \"10.0.0.0/40\" is not an address block like 10.0.8.0/24",
    ] {
        assert!(lines.iter().any(|l| l == expected), "{expected:?} not in {lines:#?}");
    }
    let unknown = Inventory::parse(
        "inv.toml",
        "[[host]]\nid = \"a\"\nnames = []\nrole = \"x\"\n",
    )
    .unwrap_err();
    assert!(
        unknown[0]
            .to_string()
            .starts_with("inv.toml:4: unknown field `role`"),
        "{unknown:?}"
    );
    assert!(Inventory::parse("inv.toml", INVENTORY).is_ok());
}

/// Zeek `dhcp.log` (JSON, the fields Zeek's DHCP analyzer writes): 10.0.0.5 leased to ws-a for an
/// hour, then, after the lease ran out, to ws-b.
const DHCP: &str = r#"{"_path":"dhcp","ts":"2026-12-01T09:00:00Z","uids":["C1"],"client_addr":"10.0.0.5","server_addr":"10.0.0.1","mac":"00:11:22:33:44:55","host_name":"WS-A","client_fqdn":"ws-a.corp.example","domain":"corp.example","assigned_addr":"10.0.0.5","lease_time":3600.0,"msg_types":["REQUEST","ACK"]}
{"_path":"dhcp","ts":"2026-12-01T10:30:00Z","uids":["C2"],"client_addr":"10.0.0.5","server_addr":"10.0.0.1","mac":"66:77:88:99:aa:bb","host_name":"ws-b","assigned_addr":"10.0.0.5","lease_time":3600.0,"msg_types":["DISCOVER","OFFER","REQUEST","ACK"]}
"#;

#[test]
fn an_address_that_changes_hands_mid_log_belongs_to_each_host_in_turn() {
    let mut resolver = Resolver::new(Inventory::default());
    for e in events(Format::Zeek, DHCP) {
        resolver.learn(&e);
    }
    let ip = "10.0.0.5".parse().unwrap();
    let host = |t: &str| resolver.host_of_ip(ip, at(t)).map(|c| c.host.clone());
    assert_eq!(host("2026-12-01T08:59:59Z"), None);
    assert_eq!(host("2026-12-01T09:30:00Z").as_deref(), Some("ws-a"));
    assert_eq!(
        host("2026-12-01T10:00:00Z"),
        None,
        "the lease ran out at 10:00"
    );
    assert_eq!(host("2026-12-01T10:45:00Z").as_deref(), Some("ws-b"));
    let claim = resolver.host_of_ip(ip, at("2026-12-01T09:30:00Z")).unwrap();
    assert_eq!(claim.evidence.kind, EvidenceKind::Dhcp);
    assert_eq!(claim.evidence.source, "fixture.log:1");
    assert_eq!(resolver.claims(ip).len(), 2);
}

/// Windows Security 4624 events (as evtx_dump writes them): a network logon from WS-0042 at
/// 10.0.0.7, then the address reused by WS-0099.
fn logon(time: &str, record: u32, workstation: &str, ip: &str) -> String {
    format!(
        r##"{{"Event":{{"System":{{"Provider":{{"#attributes":{{"Name":"Microsoft-Windows-Security-Auditing"}}}},"EventID":4624,"TimeCreated":{{"#attributes":{{"SystemTime":"{time}"}}}},"EventRecordID":{record},"Channel":"Security","Computer":"DC01.corp.example"}},"EventData":{{"TargetUserName":"alice","TargetDomainName":"CORP","LogonType":3,"WorkstationName":"{workstation}","IpAddress":"{ip}","IpPort":"49712","AuthenticationPackageName":"Kerberos"}}}}}}
"##
    )
}

#[test]
fn logons_name_the_workstation_behind_an_address_until_another_claims_it() {
    let inventory = Inventory::parse("inv.toml", INVENTORY).unwrap();
    let mut resolver = Resolver::new(inventory);
    let text = logon("2026-12-01T09:00:00Z", 1, "WS-0042", "::ffff:10.0.0.7")
        + &logon("2026-12-01T12:00:00Z", 2, "WS-0099", "10.0.0.7");
    for e in events(Format::Json, &text) {
        resolver.learn(&e);
    }
    let ip = "10.0.0.7".parse().unwrap();
    let morning = resolver.host_of_ip(ip, at("2026-12-01T11:00:00Z")).unwrap();
    // NetBIOS WS-0042 is the inventory's ws-0042 (listed by its FQDN).
    assert_eq!(
        (morning.host.as_str(), morning.evidence.kind),
        ("ws-0042", EvidenceKind::Logon)
    );
    assert_eq!(morning.until, Some(at("2026-12-01T12:00:00Z")));
    assert_eq!(
        resolver
            .host_of_ip(ip, at("2026-12-01T13:00:00Z"))
            .unwrap()
            .host,
        "ws-0099"
    );
    // The inventory's own address wins at any time.
    assert_eq!(
        resolver
            .host_of_ip("10.0.0.10".parse().unwrap(), 0)
            .unwrap()
            .host,
        "dc01"
    );
    assert_eq!(resolver.host("dc01.CORP.example.").as_deref(), Some("dc01"));
    assert_eq!(
        resolver.times("ws-0042"),
        Some((at("2026-12-01T09:00:00Z"), at("2026-12-01T09:00:00Z")))
    );
    assert_eq!(resolver.inventory().network_of(ip).unwrap().name, "servers");
}

#[test]
fn user_spellings_join_only_where_the_inventory_says_so() {
    let spellings = ["CORP\\alice", "alice@corp.example", "alice"];
    let ids = |resolver: &Resolver| -> Vec<String> {
        spellings
            .iter()
            .map(|s| resolver.user(&UserName::parse(s).unwrap()))
            .collect()
    };
    let bare = Resolver::new(Inventory::default());
    assert_eq!(ids(&bare), ["corp\\alice", "alice@corp.example", "alice"]);
    let listed = Resolver::new(Inventory::parse("inv.toml", INVENTORY).unwrap());
    // The inventory lists the SAM and UPN spellings, not the bare name: that one stays apart.
    assert_eq!(ids(&listed), ["alice.smith", "alice.smith", "alice"]);
    assert!(listed
        .known_user(&UserName::parse("alice").unwrap())
        .is_none());
    assert!(
        listed
            .known_user(&UserName::parse("CORP\\ALICE").unwrap())
            .unwrap()
            .vip
    );
    // An id is one of its user's spellings too.
    assert_eq!(
        listed.user(&UserName::parse("Alice.Smith").unwrap()),
        "alice.smith"
    );
}

/// The TOML inventory above as three CSV files (the shape a CMDB or directory export takes): hosts
/// with one row per address, users, networks.
const HOSTS_CSV: &str = "host,names,ip,from,until,owner,criticality,exposure,vip,tags
# workstations and servers, one row per address and lease
ws-0042,ws-0042.corp.example,,,,alice,high,,,
dc01,DC01.corp.example,10.0.0.10,,,,critical,,,domain-controller
dc01,,10.0.1.10,2026-11-01T00:00:00Z,2026-12-01T00:00:00Z,,critical,,,
";
const USERS_CSV: &str = "user,aliases,criticality,vip,tags
alice.smith,CORP\\alice|alice@corp.example,,yes,
";
const NETWORKS_CSV: &str = "network,cidr,exposure,criticality
servers,10.0.0.0/28,,high
";

#[test]
fn a_csv_inventory_reads_as_the_toml_one_across_files() {
    let csv = Inventory::parse_all(&[
        ("hosts.csv", HOSTS_CSV),
        ("users.csv", USERS_CSV),
        ("networks.csv", NETWORKS_CSV),
    ])
    .unwrap_or_else(|e| panic!("{e:?}"));
    let toml = Inventory::parse("inv.toml", INVENTORY).unwrap();
    let hosts = |i: &Inventory| -> Vec<(String, Vec<String>, Option<String>, String)> {
        i.hosts
            .iter()
            .map(|h| {
                (
                    h.id.clone(),
                    h.names.clone(),
                    h.owner.clone(),
                    h.criticality.as_str().to_string(),
                )
            })
            .collect()
    };
    assert_eq!(hosts(&csv), hosts(&toml));
    let dc = &csv.hosts[1];
    assert_eq!(dc.addresses.len(), 2, "two rows, two addresses");
    assert_eq!(dc.addresses[1].from, Some(at("2026-11-01T00:00:00Z")));
    assert_eq!(dc.tags, ["domain-controller"]);
    assert_eq!(dc.place.short(), "hosts.csv:4");
    assert_eq!(csv.users[0].aliases, toml.users[0].aliases);
    assert!(csv.users[0].vip);
    assert_eq!(csv.networks[0].cidr, toml.networks[0].cidr);
    // Resolution from it is the same: both spellings are one user, and the address in its window.
    let resolver = Resolver::new(csv);
    assert_eq!(
        resolver.user(&UserName::parse("alice@CORP.example").unwrap()),
        "alice.smith"
    );
    let held = |t: &str| {
        resolver
            .host_of_ip("10.0.1.10".parse().unwrap(), at(t))
            .map(|c| (c.host.clone(), c.evidence.source.clone()))
    };
    assert_eq!(
        held("2026-11-15T00:00:00Z"),
        Some(("dc01".into(), "inventory hosts.csv:4".into()))
    );
    assert_eq!(held("2026-12-02T00:00:00Z"), None);
}

#[test]
fn every_problem_of_a_csv_inventory_is_reported_with_its_file_and_line() {
    let lines = |files: &[(&str, &str)]| -> Vec<String> {
        Inventory::parse_all(files)
            .unwrap_err()
            .iter()
            .map(|e| e.to_string())
            .collect()
    };
    let found = lines(&[(
        "hosts.csv",
        "host,ip,criticality,owner\nweb1,10.0.0.300,high,bob\nweb1,10.0.0.8,medium,carol\nweb2,10.0.0.9,urgent,\nweb3,10.0.0.9\n",
    )]);
    for expected in [
        "hosts.csv:3: host web1: criticality medium contradicts high at line 2",
        "hosts.csv:3: host web1: owner \"carol\" contradicts \"bob\" at line 2",
        "hosts.csv:4: criticality \"urgent\": use low, medium, high or critical",
        "hosts.csv:5: 2 cells where the header names 4",
    ] {
        assert!(
            found.iter().any(|l| l == expected),
            "{expected:?} not in {found:#?}"
        );
    }
    assert_eq!(
        lines(&[("assets.csv", "host,role\nweb1,proxy\n")]),
        ["assets.csv:1: unknown column \"role\" in a host inventory: use host, names, ip, from, until, owner, criticality, exposure, vip, tags"]
    );
    assert_eq!(
        lines(&[("x.csv", "name,ip\nweb1,10.0.0.1\n")]),
        ["x.csv:1: a CSV inventory holds one kind, named by a column of its header: host, user or network"]
    );
    // Checked together: an alias in the CSV that the TOML gives to someone else, and a host twice.
    let found = lines(&[
        ("inv.toml", INVENTORY),
        ("users.csv", "user,aliases\nasmith,alice@corp.example\n"),
        ("hosts.csv", "host,ip\nDC01,10.0.0.11\n"),
    ]);
    for expected in [
        "users.csv:2: user asmith: alias \"alice@corp.example\" is also user alice.smith's (inv.toml:15)",
        "hosts.csv:2: host dc01 is also defined at inv.toml:9",
    ] {
        assert!(found.iter().any(|l| l == expected), "{expected:?} not in {found:#?}");
    }
}

/// Zeek `dns.log` (JSON, the fields Zeek's DNS analyzer writes): an internal A answer, one behind a
/// CNAME, a PTR answer, an answer for a site on the internet and a failed query.
const DNS: &str = r#"{"ts":"2026-12-01T09:00:00Z","uid":"D1","id.orig_h":"10.0.0.7","id.orig_p":53211,"id.resp_h":"10.0.0.2","id.resp_p":53,"proto":"udp","trans_id":4711,"rtt":0.001,"query":"fs01.corp.example","qclass":1,"qclass_name":"C_INTERNET","qtype":1,"qtype_name":"A","rcode":0,"rcode_name":"NOERROR","AA":true,"TC":false,"RD":true,"RA":true,"Z":0,"answers":["10.0.0.20"],"TTLs":[1200.0],"rejected":false}
{"ts":"2026-12-01T09:01:00Z","uid":"D2","id.orig_h":"10.0.0.7","id.orig_p":53212,"id.resp_h":"10.0.0.2","id.resp_p":53,"proto":"udp","trans_id":4712,"query":"intranet.corp.example","qclass":1,"qclass_name":"C_INTERNET","qtype":1,"qtype_name":"A","rcode":0,"rcode_name":"NOERROR","AA":true,"TC":false,"RD":true,"RA":true,"Z":0,"answers":["web02.corp.example","10.0.0.21"],"TTLs":[3600.0,600.0],"rejected":false}
{"ts":"2026-12-01T09:02:00Z","uid":"D3","id.orig_h":"10.0.0.7","id.orig_p":53213,"id.resp_h":"10.0.0.2","id.resp_p":53,"proto":"udp","trans_id":4713,"query":"30.0.0.10.in-addr.arpa","qclass":1,"qclass_name":"C_INTERNET","qtype":12,"qtype_name":"PTR","rcode":0,"rcode_name":"NOERROR","AA":true,"TC":false,"RD":true,"RA":true,"Z":0,"answers":["PRINT01.corp.example"],"TTLs":[1200.0],"rejected":false}
{"ts":"2026-12-01T09:03:00Z","uid":"D4","id.orig_h":"10.0.0.7","id.orig_p":53214,"id.resp_h":"10.0.0.2","id.resp_p":53,"proto":"udp","trans_id":4714,"query":"www.example.com","qclass":1,"qclass_name":"C_INTERNET","qtype":1,"qtype_name":"A","rcode":0,"rcode_name":"NOERROR","AA":false,"TC":false,"RD":true,"RA":true,"Z":0,"answers":["93.184.215.14"],"TTLs":[300.0],"rejected":false}
{"ts":"2026-12-01T09:04:00Z","uid":"D5","id.orig_h":"10.0.0.7","id.orig_p":53215,"id.resp_h":"10.0.0.2","id.resp_p":53,"proto":"udp","trans_id":4715,"query":"gone.corp.example","qclass":1,"qclass_name":"C_INTERNET","qtype":1,"qtype_name":"A","rcode":3,"rcode_name":"NXDOMAIN","AA":true,"TC":false,"RD":true,"RA":true,"Z":0,"rejected":false}
"#;

#[test]
fn internal_dns_answers_name_their_addresses_for_their_ttl() {
    let mut resolver = Resolver::new(Inventory::default());
    let events = events(Format::Zeek, DNS);
    let evidence: Vec<bool> = events.iter().map(Resolver::carries_evidence).collect();
    assert_eq!(evidence, [true, true, true, false, false]);
    for e in &events {
        resolver.learn(e);
    }
    let host = |ip: &str, t: &str| {
        resolver
            .host_of_ip(ip.parse().unwrap(), at(t))
            .map(|c| (c.host.clone(), c.evidence.kind))
    };
    assert_eq!(
        host("10.0.0.20", "2026-12-01T09:10:00Z"),
        Some(("fs01".into(), EvidenceKind::Dns))
    );
    assert_eq!(
        host("10.0.0.20", "2026-12-01T09:20:00Z"),
        None,
        "1200 s TTL"
    );
    // Behind the CNAME, the address is the CNAME target's, for the address record's TTL.
    assert_eq!(
        host("10.0.0.21", "2026-12-01T09:05:00Z"),
        Some(("web02".into(), EvidenceKind::Dns))
    );
    assert_eq!(host("10.0.0.21", "2026-12-01T09:12:00Z"), None);
    assert_eq!(
        host("10.0.0.30", "2026-12-01T09:03:00Z"),
        Some(("print01".into(), EvidenceKind::Dns))
    );
    // Names on the internet are not hosts of ours.
    assert!(resolver.claims("93.184.215.14".parse().unwrap()).is_empty());
    assert_eq!(EvidenceKind::Dns.as_str(), "DNS answer");
}

/// A CloudTrail record (the fields AWS documents for `userIdentity` of an IAM user).
const CLOUDTRAIL: &str = r#"{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLEALICE","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAEXAMPLEKEY","userName":"alice"},"eventTime":"2026-12-01T10:00:00Z","eventSource":"iam.amazonaws.com","eventName":"CreateAccessKey","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.20","userAgent":"aws-cli/2.15.0","requestParameters":{"userName":"alice"},"responseElements":null,"requestID":"r-1","eventID":"e-1","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333"}
"#;

#[test]
fn a_cloud_principal_is_the_user_the_inventory_lists_it_for() {
    let mut event = events(Format::CloudTrail, CLOUDTRAIL).remove(0);
    let bare = Resolver::new(Inventory::default());
    let mut plain = event.clone();
    bare.enrich(&mut plain);
    // Not listed: the name CloudTrail gives, which meets only itself.
    assert_eq!(plain.get_str("secops.entity.user"), Some("alice"));
    let inventory = Inventory::parse(
        "inv.toml",
        "[[user]]\nid = \"alice.smith\"\naliases = ['CORP\\alice', \"arn:aws:iam::111122223333:user/alice\"]\n",
    )
    .unwrap();
    let mut resolver = Resolver::new(inventory);
    resolver.enrich(&mut event);
    assert_eq!(event.get_str("secops.entity.user"), Some("alice.smith"));
    let related = event.get("related.user").unwrap().to_string();
    assert!(
        related.contains("arn:aws:iam::111122223333:user/alice"),
        "{related}"
    );
    resolver.learn(&event);
    assert!(resolver.times("alice.smith").is_some());
}

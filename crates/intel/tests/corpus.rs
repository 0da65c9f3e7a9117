//! Every STIX, MISP and feed sample in `../shared/corpus/intel` imports, with counts per kind and a
//! reason for each record that did not become an indicator; the warninglists and decay models there
//! load and behave as MISP documents them. Skipped, with a message, without the corpus.

#![allow(clippy::unwrap_used, clippy::panic)] // test helpers

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use secops_intel::csv::Mapping;
use secops_intel::decay::Models;
use secops_intel::warninglist::Warninglists;
use secops_intel::{import_path, Import, Kind};

fn corpus() -> Option<PathBuf> {
    secops_testkit::shared("corpus/intel")
}

fn import(path: &Path) -> Import {
    let import = import_path(path, None, &Mapping::default()).unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "{}: {:?}; rejected {}; other {:?}",
        path.display(),
        import.counts(),
        import.rejected.len(),
        import.other
    );
    for r in &import.rejected {
        assert!(!r.reason.is_empty() && !r.location.is_empty());
    }
    import
}

fn counts(import: &Import) -> BTreeMap<&'static str, usize> {
    import
        .counts()
        .into_iter()
        .map(|(k, n)| (k.as_str(), n))
        .collect()
}

#[test]
fn every_stix_sample_imports_with_counts_and_reasons() {
    let Some(corpus) = corpus() else {
        return;
    };
    let stix = corpus.join("stix");
    let apt1 = import(&stix.join("apt1.json"));
    assert_eq!(
        counts(&apt1),
        BTreeMap::from([("domain", 3), ("ip", 4), ("md5", 3)])
    );
    assert_eq!(apt1.rejected.len(), 2);
    assert!(apt1
        .rejected
        .iter()
        .all(|r| r.reason.contains("AND: a compound indicator")));
    assert!(apt1.indicators.iter().any(|i| i.value == "223.166.0.0/15"));
    assert_eq!(apt1.other.get("relationship"), Some(&30));

    let c2 = import(&stix.join("indicators-for-C2-with-COA.json"));
    assert_eq!(counts(&c2), BTreeMap::from([("ip", 1), ("sha256", 1)]));
    let email = import(&stix.join("malicious-email-indicator-with-attachment.json"));
    assert!(email.indicators.is_empty());
    assert_eq!(email.rejected.len(), 2);
    assert!(
        email.rejected.iter().all(|r| r.reason.contains("MATCHES")),
        "{:?}",
        email.rejected
    );
    let infrastructure = import(&stix.join("infrastructure.json"));
    assert!(infrastructure.indicators.is_empty());
    assert_eq!(infrastructure.other.values().sum::<usize>(), 10);
    assert!(infrastructure
        .other
        .keys()
        .any(|k| k.contains("not an indicator")));
    let marking = import(&stix.join("interop-objectmarking-test.json"));
    assert_eq!(marking.other.get("campaign"), Some(&1));
    for single in [
        "indicator-for-c2-ip-address.json",
        "indicator-to-campaign-relationship.json",
    ] {
        assert_eq!(
            counts(&import(&stix.join(single))),
            BTreeMap::from([("ip", 1)])
        );
    }
}

#[test]
fn misp_events_and_the_feed_import_with_counts_and_reasons() {
    let Some(corpus) = corpus() else {
        return;
    };
    let feed = import(&corpus.join("misp-feed"));
    let total: usize = feed.counts().values().sum();
    assert!(total >= 120, "{:?}", feed.counts());
    assert!(feed.counts().contains_key(&Kind::Domain));
    assert!(feed
        .indicators
        .iter()
        .all(|i| i.source.contains("Infoblox") || i.source == "misp-feed"));
    let xorist =
        import(&corpus.join("misp-events/circl-57c4445b-c548-4654-af0b-4be3950d210f.json"));
    assert!(!xorist.indicators.is_empty());
    let cloudmensis = import(&corpus.join("misp-events/eset-cloudmensis.misp.json"));
    // Only object attributes here: the file objects' hashes; the rest is context.
    assert_eq!(
        counts(&cloudmensis),
        BTreeMap::from([("md5", 3), ("sha1", 3), ("sha256", 3)])
    );
    assert_eq!(cloudmensis.other.values().sum::<usize>(), 13);
    let oceanlotus = import(&corpus.join("misp-events/eset-oceanlotus-macOS.misp.event.json"));
    assert!(!oceanlotus.indicators.is_empty());
}

#[test]
fn the_feodo_csv_imports_every_row() {
    let Some(corpus) = corpus() else {
        return;
    };
    let feodo = import(&corpus.join("abusech/feodo-ipblocklist-2024-04-04.csv"));
    assert_eq!(counts(&feodo), BTreeMap::from([("ip", 28)]));
    assert!(feodo.rejected.is_empty());
    let first = &feodo.indicators[0];
    assert_eq!(first.value, "192.9.135.73");
    assert_eq!(first.tags, vec!["Pikabot", "online"]);
    assert!(first.first_seen.is_some() && first.last_seen.is_some());
}

#[test]
fn warninglists_and_decay_models_load_and_judge_values() {
    let Some(corpus) = corpus() else {
        return;
    };
    let (lists, report) = Warninglists::load(&corpus.join("warninglists")).unwrap();
    assert_eq!(report.loaded.len(), 12, "{:?}", report.refused);
    assert!(report.refused.is_empty());
    let names = |kind, value| -> Vec<String> {
        lists
            .hits(kind, value)
            .into_iter()
            .map(|h| h.list)
            .collect()
    };
    assert!(
        names(Kind::Ip, "8.8.8.8").iter().any(|n| n.contains("DNS")),
        "{:?}",
        names(Kind::Ip, "8.8.8.8")
    );
    assert!(!names(Kind::Ip, "10.0.0.0").is_empty());
    assert!(!names(Kind::Domain, "bit.ly").is_empty());
    assert!(!names(Kind::Md5, "d41d8cd98f00b204e9800998ecf8427e").is_empty());
    assert!(names(Kind::Domain, "hugesoft.org").is_empty());
    let models = Models::load(&corpus.join("decaying-models")).unwrap();
    assert_eq!(models.models.len(), 3);
    let nids = models
        .models
        .iter()
        .find(|m| m.name.contains("NIDS"))
        .unwrap();
    assert!((nids.days_to_decay(80.0) - 46.875).abs() < 1e-9);
    let phishing = models
        .models
        .iter()
        .find(|m| m.name.contains("Phishing"))
        .unwrap();
    assert!((phishing.days_to_decay(80.0) - 1.018).abs() < 0.001);
}

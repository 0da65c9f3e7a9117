//! Entities for operations: the asset and identity inventory read and checked, and a resolver that has
//! learned from logs what they say about hosts, addresses and users.

use std::path::Path;

use secops_entity::{Inventory, Resolver};
use secops_event::Event;
use secops_ingest::{Input, Options};

use crate::ServiceError;

/// Reads and checks an inventory file.
pub fn load_inventory(path: &Path) -> Result<Inventory, ServiceError> {
    let text = std::fs::read_to_string(path).map_err(|source| ServiceError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    Inventory::parse(&path.display().to_string(), &text).map_err(ServiceError::Inventory)
}

/// A resolver and what it learned from.
#[derive(Debug)]
pub struct Learned {
    pub resolver: Resolver,
    pub inputs: usize,
    pub events: u64,
    /// Events that carried evidence (DHCP leases, logons, Kerberos and NTLM authentications).
    pub evidence: usize,
    pub rejected: u64,
    /// Inputs that could not be read, each with the reason (the others were read).
    pub unreadable: Vec<String>,
}

/// Builds a resolver from an inventory (none: an empty one) and the logs: evidence is learned in event
/// time order across all inputs; every other event only counts for first and last seen.
pub fn learn(
    inventory: Option<&Path>,
    inputs: &[Input],
    options: &Options,
) -> Result<Learned, ServiceError> {
    let inventory = match inventory {
        Some(path) => load_inventory(path)?,
        None => Inventory::default(),
    };
    let mut learned = Learned {
        resolver: Resolver::new(inventory),
        inputs: inputs.len(),
        events: 0,
        evidence: 0,
        rejected: 0,
        unreadable: Vec::new(),
    };
    let mut evidence: Vec<Event> = Vec::new();
    for input in inputs {
        let read = secops_ingest::read_input(input, options, &mut |record| match record {
            Ok(event) => {
                learned.events += 1;
                if Resolver::carries_evidence(&event) {
                    evidence.push(event);
                } else {
                    learned.resolver.learn(&event);
                }
            }
            Err(_) => learned.rejected += 1,
        });
        if let Err(e) = read {
            learned.unreadable.push(e.to_string());
        }
    }
    evidence.sort_by_key(|e| e.timestamp().map(|t| t.unix_nanos()));
    learned.evidence = evidence.len();
    for event in &evidence {
        learned.resolver.learn(event);
    }
    Ok(learned)
}

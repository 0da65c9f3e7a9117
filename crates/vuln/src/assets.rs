//! Findings matched to the one asset and identity inventory: an image by its repository (any tag or
//! digest), a source repository by its address (any scheme, with or without `.git`), a host by any
//! of its names (or its first label) or addresses, else an address by the most specific network
//! that holds it.

use std::collections::HashMap;
use std::net::IpAddr;

use secops_entity::inventory::{
    image_repository, repository_name, Cidr, Criticality, Exposure, Inventory, Software,
};
use secops_entity::names;

use crate::finding::{Asset, AssetKind};
use crate::risk::AssetContext;

/// What the inventory says of one asset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    /// The inventory entry's id (a host's id, a network's name).
    pub id: String,
    pub owner: Option<String>,
    pub context: AssetContext,
}

/// The inventory, indexed for matching findings' assets.
#[derive(Debug, Default)]
pub struct AssetIndex {
    by_name: HashMap<String, Match>,
    by_ip: HashMap<IpAddr, Match>,
    networks: Vec<(Cidr, Match)>,
    images: HashMap<String, Match>,
    repositories: HashMap<String, Match>,
}

fn software(s: &Software) -> (String, Match) {
    let m = Match {
        id: s.name.clone(),
        owner: s.owner.clone(),
        context: AssetContext {
            criticality: Some(s.criticality),
            exposure: Some(s.exposure),
        },
    };
    (s.name.clone(), m)
}

impl AssetIndex {
    pub fn new(inventory: &Inventory) -> AssetIndex {
        let mut index = AssetIndex::default();
        for host in &inventory.hosts {
            let m = Match {
                id: host.id.clone(),
                owner: host.owner.clone(),
                context: AssetContext {
                    criticality: Some(host.criticality),
                    exposure: Some(host.exposure),
                },
            };
            for name in std::iter::once(&host.id).chain(&host.names) {
                index.by_name.insert(names::host(name), m.clone());
            }
            for lease in &host.addresses {
                index.by_ip.insert(lease.ip, m.clone());
            }
        }
        index.images = inventory.images.iter().map(software).collect();
        index.repositories = inventory.repositories.iter().map(software).collect();
        for network in &inventory.networks {
            index.networks.push((
                network.cidr,
                Match {
                    id: network.name.clone(),
                    owner: None,
                    context: AssetContext {
                        criticality: Some(network.criticality),
                        exposure: Some(network.exposure),
                    },
                },
            ));
        }
        index
    }

    /// The inventory's entry for an asset, when it lists it.
    pub fn find(&self, asset: &Asset) -> Option<&Match> {
        match asset.kind {
            AssetKind::Image => return self.images.get(&image_repository(&asset.name)),
            AssetKind::Repository => return self.repositories.get(&repository_name(&asset.name)),
            AssetKind::Host | AssetKind::Path | AssetKind::Workload => {}
        }
        if let Some(m) = self.by_name.get(&names::host(&asset.name)) {
            return Some(m);
        }
        let first_label = asset.name.split('.').next().unwrap_or("");
        let address = asset
            .address
            .as_deref()
            .and_then(|a| a.parse::<IpAddr>().ok())
            .or_else(|| asset.name.parse::<IpAddr>().ok());
        if let Some(ip) = address {
            if let Some(m) = self.by_ip.get(&ip) {
                return Some(m);
            }
        }
        if !first_label.is_empty() && first_label.len() < asset.name.len() {
            if let Some(m) = self.by_name.get(&names::host(first_label)) {
                return Some(m);
            }
        }
        let ip = address?;
        self.networks
            .iter()
            .filter(|(cidr, _)| cidr.contains(ip))
            .max_by_key(|(cidr, _)| cidr.prefix())
            .map(|(_, m)| m)
    }

    /// The asset's criticality and exposure (the inventory's defaults when it is not listed:
    /// medium, internal).
    pub fn context(&self, asset: &Asset) -> AssetContext {
        self.find(asset).map(|m| m.context).unwrap_or(AssetContext {
            criticality: None::<Criticality>,
            exposure: None::<Exposure>,
        })
    }
}

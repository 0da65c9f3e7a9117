//! Entities across log sources: which host or person an address, a name or an account spelling means.
//!
//! Read in this order: `names.rs` (host and user spellings in one normal form), `inventory.rs` (the asset
//! and identity inventory, TOML or CSV (`inventory_csv.rs`): hosts with addresses over validity windows, users with their aliases,
//! networks; criticality, exposure, owner, VIP), `resolve.rs` (the [`Resolver`]: the inventory first,
//! then what the logs say, learned in time order, each mapping with its evidence), `risk.rs` (risk per
//! entity: alerts add to their hosts' and users' scores, which decay; crossing raises a risk alert).

pub mod inventory;
mod inventory_csv;
pub mod names;
pub mod resolve;
pub mod risk;

pub use inventory::{
    Criticality, Exposure, Host, Inventory, InventoryError, Lease, Network, Place, User,
};
pub use names::{UserForm, UserName};
pub use resolve::{Claim, Evidence, EvidenceKind, Index, Resolver, Seen};
pub use risk::{Contribution, RiskCrossing, RiskLedger, RiskModel};

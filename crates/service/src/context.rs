//! What every operation is given besides its options: who acts, what time it is, whether to stop, and
//! where progress goes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use secops_event::Timestamp;

/// Who performs an operation; every change a mutating operation makes is recorded under this name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub kind: ActorKind,
    /// The name recorded: a user name, an API key's name, a service's name.
    pub name: String,
}

/// What kind of identity acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActorKind {
    /// A person (the command line's user, a signed-in analyst).
    User,
    /// A program holding an API key.
    ApiKey,
    /// The platform itself: a detection run, a listener, a worker.
    Service,
}

impl Actor {
    pub fn user(name: impl Into<String>) -> Self {
        Actor {
            kind: ActorKind::User,
            name: name.into(),
        }
    }

    pub fn api_key(name: impl Into<String>) -> Self {
        Actor {
            kind: ActorKind::ApiKey,
            name: name.into(),
        }
    }

    pub fn service(name: impl Into<String>) -> Self {
        Actor {
            kind: ActorKind::Service,
            name: name.into(),
        }
    }
}

/// The time now, injected so tests (and replays) can pin it.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> Timestamp;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that always says the same time.
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub Timestamp);

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        self.0
    }
}

/// Asks a long operation to stop; the operation returns what it did so far, marked cancelled.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    pub fn new() -> Self {
        Cancel::default()
    }

    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Where a long operation reports how far it is. Called on the operation's own thread.
pub trait Progress {
    /// The work has `total` parts (inputs to read).
    fn start(&self, _total: u64) {}
    /// One more part is done.
    fn advance(&self) {}
    /// One large part (a single input of `bytes` bytes) is being read: `counters` say how far it is.
    fn reading(&self, _counters: &std::sync::Arc<secops_ingest::Counters>, _bytes: u64) {}
    /// The work is over (finished or cancelled).
    fn finish(&self) {}
}

/// Progress nobody watches.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}

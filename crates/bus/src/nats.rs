//! The bus's use of NATS JetStream, behind a blocking interface (the engine loops that use it are
//! threads, not tasks): two streams (events, re-keyed events), durable pull consumers, a key-value
//! bucket of live workers, and publishing that never stores a subject's frames out of order.

use std::time::Duration;

use async_nats::jetstream::{self, consumer, kv, stream};
use bytes::Bytes;
use futures::StreamExt;

use crate::frame::{Frame, FrameError};

/// How to reach the bus and how its streams are laid out (the `[bus]` section).
#[derive(Debug, Clone, PartialEq)]
pub struct BusSettings {
    /// Server addresses (`nats://host:port`); a cluster's several.
    pub servers: Vec<String>,
    /// The streams' and bucket's name prefix (`SECOPS` gives `SECOPS_EVENTS`, `SECOPS_REKEY`,
    /// `SECOPS_MEMBERS`).
    pub name: String,
    /// The subjects' prefix.
    pub prefix: String,
    pub partitions: u32,
    pub replicas: usize,
    /// Each stream's size limit in bytes (the oldest frames go first; a unit further behind than
    /// this loses events, and says so).
    pub max_bytes: i64,
    /// How long a delivered frame waits for its ack before it is delivered again.
    pub ack_wait: Duration,
    /// A worker that has not said it is alive for this long has left.
    pub member_ttl: Duration,
    /// The largest frame read, decompressed.
    pub frame_limit: usize,
}

impl Default for BusSettings {
    fn default() -> Self {
        BusSettings {
            servers: vec!["nats://127.0.0.1:4222".into()],
            name: "SECOPS".into(),
            prefix: "secops".into(),
            partitions: 4,
            replicas: 1,
            max_bytes: 8 << 30,
            ack_wait: Duration::from_secs(30),
            member_ttl: Duration::from_secs(10),
            frame_limit: 64 << 20,
        }
    }
}

/// Why the bus could not be used.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("connecting to {servers}: {reason}")]
    Connect { servers: String, reason: String },
    #[error("{what}: {reason}")]
    Nats { what: String, reason: String },
    #[error("{subject}: another writer published first (expected sequence {expected})")]
    Conflict { subject: String, expected: u64 },
    #[error("{subject} sequence {sequence}: {source}")]
    Frame {
        subject: String,
        sequence: u64,
        source: FrameError,
    },
}

fn nats(what: impl Into<String>) -> impl FnOnce(String) -> BusError {
    let what = what.into();
    move |reason| BusError::Nats { what, reason }
}

/// The two streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Events,
    Rekey,
}

/// One frame delivered to a consumer.
#[derive(Debug)]
pub struct Delivery {
    pub sequence: u64,
    pub subject: String,
    pub payload: Bytes,
    /// Times delivered (more than one after a redelivery).
    pub delivered: i64,
    message: jetstream::Message,
}

/// A subject's last frame.
#[derive(Debug)]
pub struct Last {
    pub sequence: u64,
    pub message_id: Option<String>,
    pub frame: Frame,
}

/// Frames for one subject, published in order, each only if the subject's last sequence is the one
/// before (the first's: `expected`, 0 for an empty subject).
#[derive(Debug, Clone)]
pub struct Chain {
    pub subject: String,
    pub expected: u64,
    /// Message id (deduplication within the stream's window) and payload.
    pub frames: Vec<(String, Bytes)>,
}

/// What became of a chain: the sequences stored (in order), and the error that stopped it, if any.
#[derive(Debug, Default)]
pub struct Published {
    pub sequences: Vec<u64>,
    pub error: Option<BusError>,
}

/// One durable consumer as the server sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerInfo {
    pub name: String,
    /// Frames on its subjects not yet delivered.
    pub pending: u64,
    /// Frames delivered and not yet acknowledged.
    pub unacknowledged: u64,
    /// The last stream sequence delivered.
    pub delivered: u64,
}

/// A stream's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamState {
    pub frames: u64,
    pub bytes: u64,
    pub last: u64,
}

/// A durable pull consumer the caller owns.
#[derive(Debug)]
pub struct Consumer {
    pub name: String,
    stream: Subject,
    inner: consumer::PullConsumer,
}

/// A connection to the bus (see the module's documentation).
#[derive(Debug)]
pub struct Bus {
    runtime: tokio::runtime::Runtime,
    js: jetstream::Context,
    members: kv::Store,
    pub settings: BusSettings,
}

impl Bus {
    /// Connects and makes sure the streams and the bucket exist.
    pub fn connect(settings: &BusSettings, client_name: &str) -> Result<Bus, BusError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("bus")
            .enable_all()
            .build()
            .map_err(|e| BusError::Connect {
                servers: settings.servers.join(","),
                reason: e.to_string(),
            })?;
        let servers = settings.servers.join(",");
        let client = runtime.block_on(async {
            async_nats::ConnectOptions::new()
                .name(client_name)
                .connection_timeout(Duration::from_secs(5))
                .request_timeout(Some(Duration::from_secs(5)))
                .connect(settings.servers.as_slice())
                .await
        });
        let client = client.map_err(|e| BusError::Connect {
            servers: servers.clone(),
            reason: e.to_string(),
        })?;
        let js = {
            let _inside = runtime.enter();
            jetstream::new(client.clone())
        };
        // A cluster that has just started (or lost a server) may not answer at once: tried for
        // 30 seconds.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let members = loop {
            match Self::prepare(&runtime, &js, settings) {
                Ok(members) => break members,
                Err(e) if std::time::Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(500));
                }
                Err(e) => return Err(e),
            }
        };
        Ok(Bus {
            runtime,
            js,
            members,
            settings: settings.clone(),
        })
    }

    /// Makes sure the streams and the bucket exist.
    fn prepare(
        runtime: &tokio::runtime::Runtime,
        js: &jetstream::Context,
        settings: &BusSettings,
    ) -> Result<kv::Store, BusError> {
        runtime.block_on(async {
            for (kind, name) in [
                (Subject::Events, stream_name(settings, Subject::Events)),
                (Subject::Rekey, stream_name(settings, Subject::Rekey)),
            ] {
                let prefix = match kind {
                    Subject::Events => "events",
                    Subject::Rekey => "rekey",
                };
                js.get_or_create_stream(stream::Config {
                    name: name.clone(),
                    subjects: vec![format!("{}.{prefix}.>", settings.prefix)],
                    max_bytes: settings.max_bytes,
                    discard: stream::DiscardPolicy::Old,
                    storage: stream::StorageType::File,
                    num_replicas: settings.replicas,
                    duplicate_window: Duration::from_secs(120),
                    ..Default::default()
                })
                .await
                .map_err(|e| nats(format!("stream {name}"))(e.to_string()))?;
            }
            let bucket = format!("{}_MEMBERS", settings.name);
            js.create_key_value(kv::Config {
                bucket: bucket.clone(),
                history: 1,
                max_age: settings.member_ttl,
                num_replicas: settings.replicas,
                ..Default::default()
            })
            .await
            .map_err(|e| nats(format!("bucket {bucket}"))(e.to_string()))
        })
    }

    /// The subject of events partition `partition` written by ingest process `writer`.
    pub fn events_subject(&self, partition: u32, writer: &str) -> String {
        format!("{}.events.{partition}.{writer}", self.settings.prefix)
    }

    /// Every events subject of a partition.
    pub fn events_filter(&self, partition: u32) -> String {
        format!("{}.events.{partition}.>", self.settings.prefix)
    }

    /// The subject of re-key partition `partition` written by ingest process `writer`.
    pub fn rekey_subject(&self, partition: u32, writer: &str) -> String {
        format!("{}.rekey.{partition}.{writer}", self.settings.prefix)
    }

    /// Every re-key subject of a partition.
    pub fn rekey_filter(&self, partition: u32) -> String {
        format!("{}.rekey.{partition}.>", self.settings.prefix)
    }

    /// The last frame on `subject`, if any.
    pub fn last(&self, stream: Subject, subject: &str) -> Result<Option<Last>, BusError> {
        let name = stream_name(&self.settings, stream);
        let found = self.bounded(&format!("last of {subject}"), async {
            let stream = self
                .js
                .get_stream_no_info(&name)
                .await
                .map_err(|e| nats(format!("stream {name}"))(e.to_string()))?;
            match stream.get_last_raw_message_by_subject(subject).await {
                Ok(message) => Ok(Some(message)),
                Err(e) if e.kind() == stream::LastRawMessageErrorKind::NoMessageFound => Ok(None),
                Err(e) => Err(nats(format!("last of {subject}"))(e.to_string())),
            }
        })?;
        let Some(message) = found else {
            return Ok(None);
        };
        let frame = Frame::decode(&message.payload, self.settings.frame_limit).map_err(|e| {
            BusError::Frame {
                subject: subject.to_string(),
                sequence: message.sequence,
                source: e,
            }
        })?;
        let message_id = message
            .headers
            .get(async_nats::header::NATS_MESSAGE_ID)
            .map(|v| v.as_str().to_string());
        Ok(Some(Last {
            sequence: message.sequence,
            message_id,
            frame,
        }))
    }

    /// Publishes chains at once, each chain's frames one after the other (see [`Chain`]).
    pub fn publish(&self, chains: Vec<Chain>) -> Vec<Published> {
        let js = &self.js;
        self.runtime.block_on(async {
            let runs = chains.into_iter().map(|chain| async move {
                let mut out = Published::default();
                let mut expected = chain.expected;
                for (id, payload) in chain.frames {
                    let message = jetstream::message::PublishMessage::build()
                        .payload(payload)
                        .message_id(&id)
                        .expected_last_subject_sequence(expected);
                    let acked = match js.send_publish(chain.subject.clone(), message).await {
                        Ok(future) => future.await,
                        Err(e) => Err(e),
                    };
                    match acked {
                        // A duplicate (stored before under this id, an ack that never came) is
                        // stored: its sequence is the earlier copy's. Should that not be the
                        // subject's last, the next frame fails and the writer reads the subject.
                        Ok(ack) => {
                            expected = ack.sequence;
                            out.sequences.push(ack.sequence);
                        }
                        Err(e)
                            if e.kind()
                                == jetstream::context::PublishErrorKind::WrongLastSequence =>
                        {
                            out.error = Some(BusError::Conflict {
                                subject: chain.subject.clone(),
                                expected,
                            });
                            break;
                        }
                        Err(e) => {
                            out.error = Some(nats(format!("publishing to {}", chain.subject))(
                                e.to_string(),
                            ));
                            break;
                        }
                    }
                }
                out
            });
            futures::future::join_all(runs).await
        })
    }

    /// Creates the durable consumer `name` on `filter`, delivering from stream sequence `start` on
    /// (1: from the beginning), after deleting every consumer of the stream whose name starts with
    /// `family` (earlier owners' of the same unit: an owner that lost the unit finds its consumer
    /// gone, and no two owners ever share one).
    pub fn consumer(
        &self,
        stream: Subject,
        family: &str,
        name: &str,
        filter: &str,
        start: u64,
    ) -> Result<Consumer, BusError> {
        let stream_name = stream_name(&self.settings, stream);
        let ack_wait = self.settings.ack_wait;
        let inner = self.bounded(&format!("consumer {name}"), async {
            let handle = self
                .js
                .get_stream_no_info(&stream_name)
                .await
                .map_err(|e| nats(format!("stream {stream_name}"))(e.to_string()))?;
            let mut names = handle.consumer_names();
            let mut earlier = Vec::new();
            while let Some(found) = names.next().await {
                let found = found
                    .map_err(|e| nats(format!("consumers of {stream_name}"))(e.to_string()))?;
                if found.starts_with(family) {
                    earlier.push(found);
                }
            }
            // An earlier owner's consumer on a server that is down may not answer: it is
            // abandoned, and the server drops it once inactive.
            for old in earlier {
                let _ = handle.delete_consumer(&old).await;
            }
            let deliver_policy = if start <= 1 {
                consumer::DeliverPolicy::All
            } else {
                consumer::DeliverPolicy::ByStartSequence {
                    start_sequence: start,
                }
            };
            handle
                .create_consumer(consumer::pull::Config {
                    durable_name: Some(name.to_string()),
                    filter_subject: filter.to_string(),
                    deliver_policy,
                    ack_policy: consumer::AckPolicy::All,
                    ack_wait,
                    max_ack_pending: 20_000,
                    // The unit's checkpoint, not the consumer, says where it stands: one copy
                    // is enough (a new owner makes a new consumer), and one left behind goes.
                    num_replicas: 1,
                    inactive_threshold: Duration::from_secs(300),
                    ..Default::default()
                })
                .await
                .map_err(|e| nats(format!("consumer {name}"))(e.to_string()))
        })?;
        Ok(Consumer {
            name: name.to_string(),
            stream,
            inner,
        })
    }

    /// Deletes a consumer (a unit handed over).
    pub fn drop_consumer(&self, consumer: &Consumer) -> Result<(), BusError> {
        let stream_name = stream_name(&self.settings, consumer.stream);
        self.bounded(&format!("deleting consumer {}", consumer.name), async {
            let handle = self
                .js
                .get_stream_no_info(&stream_name)
                .await
                .map_err(|e| nats(format!("stream {stream_name}"))(e.to_string()))?;
            handle
                .delete_consumer(&consumer.name)
                .await
                .map(|_| ())
                .map_err(|e| nats(format!("deleting consumer {}", consumer.name))(e.to_string()))
        })
    }

    /// Up to `max` frames waiting for the consumer (none: an empty list at once). A server that
    /// does not answer within 10 seconds is an error (its consumer may be on a server that died).
    pub fn fetch(&self, consumer: &Consumer, max: usize) -> Result<Vec<Delivery>, BusError> {
        self.bounded(&format!("fetching for {}", consumer.name), async {
            let mut batch = consumer
                .inner
                .fetch()
                .max_messages(max)
                .messages()
                .await
                .map_err(|e| nats(format!("fetching for {}", consumer.name))(e.to_string()))?;
            let mut out = Vec::new();
            while let Some(message) = batch.next().await {
                let message = message
                    .map_err(|e| nats(format!("fetching for {}", consumer.name))(e.to_string()))?;
                let (sequence, delivered) = match message.info() {
                    Ok(info) => (info.stream_sequence, info.delivered),
                    Err(e) => {
                        return Err(nats(format!("delivery to {}", consumer.name))(
                            e.to_string(),
                        ))
                    }
                };
                out.push(Delivery {
                    sequence,
                    subject: message.subject.to_string(),
                    payload: message.payload.clone(),
                    delivered,
                    message,
                });
            }
            Ok(out)
        })
    }

    /// Acknowledges `delivery` and everything delivered before it to the same consumer.
    pub fn ack(&self, delivery: &Delivery) -> Result<(), BusError> {
        self.bounded("ack", async {
            delivery
                .message
                .ack()
                .await
                .map_err(|e| nats("ack")(e.to_string()))
        })
    }

    /// Says worker `id` is alive (see [`BusSettings::member_ttl`]).
    pub fn heartbeat(&self, id: &str, about: &[u8]) -> Result<(), BusError> {
        self.bounded("heartbeat", async {
            self.members
                .put(id, Bytes::copy_from_slice(about))
                .await
                .map(|_| ())
                .map_err(|e| nats("heartbeat")(e.to_string()))
        })
    }

    /// The workers alive, sorted.
    pub fn members(&self) -> Result<Vec<String>, BusError> {
        self.bounded("members", async {
            let mut keys = self
                .members
                .keys()
                .await
                .map_err(|e| nats("members")(e.to_string()))?;
            let mut out = Vec::new();
            while let Some(key) = keys.next().await {
                out.push(key.map_err(|e| nats("members")(e.to_string()))?);
            }
            out.sort();
            Ok(out)
        })
    }

    /// The workers alive, sorted, with what each said in its last heartbeat.
    pub fn members_about(&self) -> Result<Vec<(String, Bytes)>, BusError> {
        let members = self.members()?;
        self.bounded("members", async {
            let mut out = Vec::new();
            for id in members {
                // Gone between the listing and the read: left.
                if let Some(about) = self
                    .members
                    .get(&id)
                    .await
                    .map_err(|e| nats("members")(e.to_string()))?
                {
                    out.push((id, about));
                }
            }
            Ok(out)
        })
    }

    /// The durable consumers of a stream: name, frames not yet delivered, delivered but not
    /// acknowledged, and the last stream sequence delivered.
    pub fn consumers(&self, stream: Subject) -> Result<Vec<ConsumerInfo>, BusError> {
        let name = stream_name(&self.settings, stream);
        self.bounded("consumers", async {
            let stream = self
                .js
                .get_stream_no_info(&name)
                .await
                .map_err(|e| nats(format!("stream {name}"))(e.to_string()))?;
            let mut list = stream.consumers();
            let mut out = Vec::new();
            while let Some(info) = list.next().await {
                let info = info.map_err(|e| nats(format!("consumers of {name}"))(e.to_string()))?;
                out.push(ConsumerInfo {
                    name: info.name.clone(),
                    pending: info.num_pending,
                    unacknowledged: info.num_ack_pending as u64,
                    delivered: info.delivered.stream_sequence,
                });
            }
            out.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(out)
        })
    }

    /// A stream's frames, bytes and last sequence.
    pub fn stream_state(&self, stream: Subject) -> Result<StreamState, BusError> {
        let name = stream_name(&self.settings, stream);
        self.bounded("stream", async {
            // The stream as fetched carries its state: no second request.
            let stream = self
                .js
                .get_stream(&name)
                .await
                .map_err(|e| nats(format!("stream {name}"))(e.to_string()))?;
            let info = stream.cached_info();
            Ok(StreamState {
                frames: info.state.messages,
                bytes: info.state.bytes,
                last: info.state.last_sequence,
            })
        })
    }

    /// Worker `id` leaves (its units go to the others at once).
    pub fn leave(&self, id: &str) -> Result<(), BusError> {
        self.bounded("leaving", async {
            self.members
                .purge(id)
                .await
                .map_err(|e| nats("leaving")(e.to_string()))
        })
    }

    /// Runs `work` on the bus's runtime, for 10 seconds at most.
    fn bounded<T>(
        &self,
        what: &str,
        work: impl std::future::Future<Output = Result<T, BusError>>,
    ) -> Result<T, BusError> {
        self.runtime.block_on(async {
            match tokio::time::timeout(Duration::from_secs(10), work).await {
                Ok(result) => result,
                Err(_) => Err(nats(what)("no answer within 10 seconds".into())),
            }
        })
    }
}

fn stream_name(settings: &BusSettings, stream: Subject) -> String {
    match stream {
        Subject::Events => format!("{}_EVENTS", settings.name),
        Subject::Rekey => format!("{}_REKEY", settings.name),
    }
}

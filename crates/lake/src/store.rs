//! Where a lake lives: a local folder, or a bucket (and a prefix in it) of an S3-compatible object
//! store, so that several query nodes read one lake. The layout is the same in both
//! (`dt=DAY/source=SOURCE/part-....parquet` under the root); the writer, compaction and retention
//! go through [`Lake`] and never care which it is.
//!
//! A bucket is named `s3://bucket/prefix`; the store's address and credentials come from the
//! standard variables: `AWS_ENDPOINT_URL` (omit it for AWS itself), `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, and `AWS_ALLOW_HTTP=true` for an endpoint without TLS (a
//! store on loopback). An object appears whole or not at all, so files are written directly under
//! their names there; in a folder they go through a temporary name.

use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::RecordBatch;
use futures::StreamExt;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
// Reads only the footer and the columns asked for. Deprecated in parquet 59.3 in favour of a
// reader of one's own; it still does exactly this, and DataFusion 55 reads through its own.
#[allow(deprecated)]
use parquet::arrow::async_reader::ParquetObjectReader;
use parquet::arrow::async_reader::ParquetRecordBatchStreamBuilder;
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::LakeError;

/// Rows per Parquet row group (the unit files are pruned by).
const ROW_GROUP: usize = 65_536;

/// A lake's place: a folder or a bucket.
pub struct Lake {
    place: Place,
}

enum Place {
    Folder(PathBuf),
    Bucket(Bucket),
}

struct Bucket {
    store: Arc<dyn ObjectStore>,
    /// `s3://bucket`: what DataFusion registers the store under.
    base: String,
    prefix: ObjectPath,
    /// Drives the store's requests for the synchronous callers (the writer, compaction).
    runtime: tokio::runtime::Runtime,
}

impl fmt::Debug for Lake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Lake({self})")
    }
}

impl fmt::Display for Lake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.place {
            Place::Folder(path) => write!(f, "{}", path.display()),
            Place::Bucket(b) if b.prefix.as_ref().is_empty() => write!(f, "{}", b.base),
            Place::Bucket(b) => write!(f, "{}/{}", b.base, b.prefix),
        }
    }
}

/// One Parquet file of the lake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LakeFile {
    /// The partition's day (`2026-12-01`, or `unknown`) and source.
    pub day: String,
    pub source: String,
    /// The file's name in its partition.
    pub name: String,
    at: At,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum At {
    Path(PathBuf),
    Object { path: ObjectPath, size: u64 },
}

impl fmt::Display for LakeFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.at {
            At::Path(path) => write!(f, "{}", path.display()),
            At::Object { path, .. } => write!(f, "{path}"),
        }
    }
}

impl LakeFile {
    /// The file on disk, for a folder's lake.
    pub fn path(&self) -> Option<&Path> {
        match &self.at {
            At::Path(path) => Some(path),
            At::Object { .. } => None,
        }
    }
}

impl Lake {
    /// The lake at `location`: `s3://bucket[/prefix]`, or a folder (created when written to).
    pub fn open(location: &str) -> Result<Lake, LakeError> {
        Lake::open_with(location, &[])
    }

    /// [`Lake::open`], with settings of the store given here over the environment's (the same
    /// names, as `AWS_ENDPOINT_URL`).
    pub fn open_with(location: &str, settings: &[(&str, String)]) -> Result<Lake, LakeError> {
        let Some(rest) = location.strip_prefix("s3://") else {
            return Ok(Lake::folder(Path::new(location)));
        };
        let store_error = |message: String| LakeError::Store {
            location: location.to_string(),
            message,
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(store_error("no bucket after s3://".into()));
        }
        let prefix = ObjectPath::parse(prefix.trim_end_matches('/'))
            .map_err(|e| store_error(format!("the prefix: {e}")))?;
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        for (name, value) in settings {
            let key: AmazonS3ConfigKey = name
                .to_ascii_lowercase()
                .parse()
                .map_err(|e| store_error(format!("{name}: {e}")))?;
            builder = builder.with_config(key, value);
        }
        let store = builder.build().map_err(|e| store_error(e.to_string()))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| store_error(e.to_string()))?;
        Ok(Lake {
            place: Place::Bucket(Bucket {
                store: Arc::new(store),
                base: format!("s3://{bucket}"),
                prefix,
                runtime,
            }),
        })
    }

    /// The lake in the folder `root`.
    pub fn folder(root: &Path) -> Lake {
        Lake {
            place: Place::Folder(root.to_path_buf()),
        }
    }

    /// The folder, for a folder's lake.
    pub fn folder_path(&self) -> Option<&Path> {
        match &self.place {
            Place::Folder(path) => Some(path),
            Place::Bucket(_) => None,
        }
    }

    /// For a bucket's lake: the URL its store is registered under (`s3://bucket`), the store, and
    /// the lake's URL (`s3://bucket/prefix/`) for a query engine's table.
    pub fn object_store(&self) -> Option<(String, Arc<dyn ObjectStore>, String)> {
        match &self.place {
            Place::Folder(_) => None,
            Place::Bucket(b) => Some((b.base.clone(), Arc::clone(&b.store), format!("{self}/"))),
        }
    }

    fn error(&self, message: impl fmt::Display) -> LakeError {
        LakeError::Store {
            location: self.to_string(),
            message: message.to_string(),
        }
    }

    /// Runs a request to the store to its end, from any thread: on one of its own when the caller
    /// is inside an async runtime (which may not block on another).
    fn block<T: Send>(bucket: &Bucket, work: impl std::future::Future<Output = T> + Send) -> T {
        if tokio::runtime::Handle::try_current().is_ok() {
            std::thread::scope(|s| {
                match s.spawn(|| bucket.runtime.block_on(work)).join() {
                    Ok(value) => value,
                    // A request that panicked: carry the panic on (nothing of ours panics).
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            })
        } else {
            bucket.runtime.block_on(work)
        }
    }

    /// Every object under `prefix`, at any depth.
    fn objects(&self, b: &Bucket, prefix: &ObjectPath) -> Result<Vec<ObjectPath>, LakeError> {
        Self::block(b, async {
            let mut listing = b.store.list(Some(prefix));
            let mut paths = Vec::new();
            while let Some(meta) = listing.next().await {
                paths.push(meta?.location);
            }
            Ok::<_, object_store::Error>(paths)
        })
        .map_err(|e| self.error(e))
    }

    /// The names under a folder of the layout (`dt=...` under the root, `source=...` under a day)
    /// with the given prefix, without it, sorted.
    fn children(&self, parts: &[String], key: &str) -> Result<Vec<String>, LakeError> {
        let mut names = match &self.place {
            Place::Folder(root) => {
                let dir = parts.iter().fold(root.clone(), |dir, p| dir.join(p));
                crate::sorted_dirs(&dir)?
                    .into_iter()
                    .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                    .collect::<Vec<_>>()
            }
            Place::Bucket(b) => {
                // From the objects themselves: a store may keep a "folder" its objects have left
                // (SeaweedFS does), and a day without files is no day of the lake.
                let prefix = object_path(&b.prefix, parts);
                let objects = self.objects(b, &prefix)?;
                objects
                    .iter()
                    .filter_map(|path| {
                        let rest: Vec<String> = path
                            .prefix_match(&prefix)?
                            .map(|part| part.as_ref().to_string())
                            .collect();
                        // A folder below: its name and at least a file under it.
                        (rest.len() >= 2).then(|| rest.into_iter().next()).flatten()
                    })
                    .collect()
            }
        };
        names.retain(|n| n.starts_with(key));
        let mut names: Vec<String> = names
            .into_iter()
            .map(|n| n[key.len()..].to_string())
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// The partitions' days (`2026-12-01`, `unknown`), sorted.
    pub fn days(&self) -> Result<Vec<String>, LakeError> {
        self.children(&[], "dt=")
    }

    /// The sources with a partition on `day`, sorted.
    pub fn sources(&self, day: &str) -> Result<Vec<String>, LakeError> {
        self.children(&[format!("dt={day}")], "source=")
    }

    /// The Parquet files of a partition, in name order (files being written are not among them).
    pub fn files(&self, day: &str, source: &str) -> Result<Vec<LakeFile>, LakeError> {
        let file = |name: String, at: At| LakeFile {
            day: day.to_string(),
            source: source.to_string(),
            name,
            at,
        };
        let mut files: Vec<LakeFile> = match &self.place {
            Place::Folder(root) => crate::partition_files(&partition_dir(root, day, source))?
                .into_iter()
                .filter_map(|p| {
                    let name = p.file_name()?.to_string_lossy().into_owned();
                    Some(file(name, At::Path(p)))
                })
                .collect(),
            Place::Bucket(b) => {
                let prefix = object_path(&b.prefix, &partition_parts(day, source));
                let listing = Self::block(b, b.store.list_with_delimiter(Some(&prefix)))
                    .map_err(|e| self.error(e))?;
                listing
                    .objects
                    .into_iter()
                    .filter_map(|o| {
                        let name = o.location.filename()?.to_string();
                        crate::is_lake_file(&name).then(|| {
                            file(
                                name,
                                At::Object {
                                    path: o.location.clone(),
                                    size: o.size,
                                },
                            )
                        })
                    })
                    .collect()
            }
        };
        files.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(files)
    }

    /// Every Parquet file of the lake, partition by partition.
    pub fn all_files(&self) -> Result<Vec<LakeFile>, LakeError> {
        let mut files = Vec::new();
        for day in self.days()? {
            for source in self.sources(&day)? {
                files.extend(self.files(&day, &source)?);
            }
        }
        Ok(files)
    }

    /// The rows a file holds (from its footer).
    pub fn rows(&self, file: &LakeFile) -> Result<u64, LakeError> {
        let parquet = |source| LakeError::Parquet {
            path: PathBuf::from(file.to_string()),
            source,
        };
        let rows = match (&self.place, &file.at) {
            (Place::Bucket(b), At::Object { path, size }) => {
                #[allow(deprecated)]
                let reader = ParquetObjectReader::new(Arc::clone(&b.store), path.clone())
                    .with_file_size(*size);
                Self::block(b, async {
                    ParquetRecordBatchStreamBuilder::new(reader)
                        .await
                        .map(|builder| builder.metadata().file_metadata().num_rows())
                })
                .map_err(parquet)?
            }
            (_, At::Path(path)) => {
                let opened = File::open(path).map_err(|source| LakeError::Io {
                    path: path.clone(),
                    source,
                })?;
                ParquetRecordBatchReaderBuilder::try_new(opened)
                    .map_err(parquet)?
                    .metadata()
                    .file_metadata()
                    .num_rows()
            }
            (Place::Folder(_), At::Object { .. }) => return Err(self.error("not a file")),
        };
        Ok(u64::try_from(rows).unwrap_or(0))
    }

    /// A file's rows, only `columns` of them when given.
    pub fn read(
        &self,
        file: &LakeFile,
        columns: Option<&[&str]>,
    ) -> Result<Vec<RecordBatch>, LakeError> {
        let parquet = |source| LakeError::Parquet {
            path: PathBuf::from(file.to_string()),
            source,
        };
        match (&self.place, &file.at) {
            (Place::Bucket(b), At::Object { path, size }) => {
                #[allow(deprecated)]
                let reader = ParquetObjectReader::new(Arc::clone(&b.store), path.clone())
                    .with_file_size(*size);
                Self::block(b, async {
                    let mut builder = ParquetRecordBatchStreamBuilder::new(reader).await?;
                    if let Some(columns) = columns {
                        let mask = ProjectionMask::columns(
                            builder.parquet_schema(),
                            columns.iter().copied(),
                        );
                        builder = builder.with_projection(mask);
                    }
                    let mut stream = builder.build()?;
                    let mut batches = Vec::new();
                    while let Some(batch) = stream.next().await {
                        batches.push(batch?);
                    }
                    Ok(batches)
                })
                .map_err(parquet)
            }
            (_, At::Path(path)) => {
                let opened = File::open(path).map_err(|source| LakeError::Io {
                    path: path.clone(),
                    source,
                })?;
                let mut builder =
                    ParquetRecordBatchReaderBuilder::try_new(opened).map_err(parquet)?;
                if let Some(columns) = columns {
                    let mask =
                        ProjectionMask::columns(builder.parquet_schema(), columns.iter().copied());
                    builder = builder.with_projection(mask);
                }
                builder
                    .build()
                    .map_err(parquet)?
                    .map(|b| b.map_err(LakeError::Arrow))
                    .collect()
            }
            (Place::Folder(_), At::Object { .. }) => Err(self.error("not a file")),
        }
    }

    /// Writes `batch` as the file `name` of a partition (zstd, row groups of 65,536 rows), whole or
    /// not at all.
    pub fn write(
        &self,
        day: &str,
        source: &str,
        name: &str,
        batch: &RecordBatch,
    ) -> Result<(), LakeError> {
        let mut properties = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .set_max_row_group_row_count(Some(ROW_GROUP));
        // Columns whose values rarely repeat: a dictionary would be built for every page only to be
        // given up.
        for column in crate::schema::UNIQUE_VALUED {
            properties = properties.set_column_dictionary_enabled(
                parquet::schema::types::ColumnPath::from(*column),
                false,
            );
        }
        let properties = properties.build();
        match &self.place {
            Place::Folder(root) => {
                let dir = partition_dir(root, day, source);
                std::fs::create_dir_all(&dir).map_err(|source| LakeError::Io {
                    path: dir.clone(),
                    source,
                })?;
                let path = dir.join(name);
                let temporary = dir.join(format!(".{name}.tmp"));
                let opened = File::create(&temporary).map_err(|source| LakeError::Io {
                    path: temporary.clone(),
                    source,
                })?;
                let parquet = |source| LakeError::Parquet {
                    path: temporary.clone(),
                    source,
                };
                let mut writer = ArrowWriter::try_new(opened, batch.schema(), Some(properties))
                    .map_err(parquet)?;
                writer.write(batch).map_err(parquet)?;
                writer.close().map_err(parquet)?;
                std::fs::rename(&temporary, &path).map_err(|source| LakeError::Io { path, source })
            }
            Place::Bucket(b) => {
                let mut parts = partition_parts(day, source);
                parts.push(name.to_string());
                let path = object_path(&b.prefix, &parts);
                let parquet = |source| LakeError::Parquet {
                    path: PathBuf::from(path.to_string()),
                    source,
                };
                let mut bytes = Vec::new();
                let mut writer = ArrowWriter::try_new(&mut bytes, batch.schema(), Some(properties))
                    .map_err(parquet)?;
                writer.write(batch).map_err(parquet)?;
                writer.close().map_err(parquet)?;
                Self::block(b, b.store.put(&path, PutPayload::from(bytes)))
                    .map(|_| ())
                    .map_err(|e| self.error(format!("{path}: {e}")))
            }
        }
    }

    /// Removes files of the lake.
    pub fn remove(&self, files: &[LakeFile]) -> Result<(), LakeError> {
        for file in files {
            match (&self.place, &file.at) {
                (_, At::Path(path)) => {
                    std::fs::remove_file(path).map_err(|source| LakeError::Io {
                        path: path.clone(),
                        source,
                    })?
                }
                (Place::Bucket(b), At::Object { path, .. }) => Self::block(b, b.store.delete(path))
                    .map_err(|e| self.error(format!("{path}: {e}")))?,
                (Place::Folder(_), At::Object { .. }) => return Err(self.error("not a file")),
            }
        }
        Ok(())
    }

    /// Removes a day whole (its files; in a folder, its folder too).
    pub fn remove_day(&self, day: &str) -> Result<(), LakeError> {
        match &self.place {
            Place::Folder(root) => {
                let dir = root.join(format!("dt={day}"));
                std::fs::remove_dir_all(&dir).map_err(|source| LakeError::Io { path: dir, source })
            }
            Place::Bucket(b) => {
                let prefix = object_path(&b.prefix, &[format!("dt={day}")]);
                let paths = self.objects(b, &prefix)?;
                for path in paths {
                    Self::block(b, b.store.delete(&path))
                        .map_err(|e| self.error(format!("{path}: {e}")))?;
                }
                Ok(())
            }
        }
    }
}

fn partition_parts(day: &str, source: &str) -> Vec<String> {
    vec![format!("dt={day}"), format!("source={source}")]
}

fn partition_dir(root: &Path, day: &str, source: &str) -> PathBuf {
    root.join(format!("dt={day}"))
        .join(format!("source={source}"))
}

/// `prefix/part/part...` as an object path.
fn object_path(prefix: &ObjectPath, parts: &[String]) -> ObjectPath {
    parts
        .iter()
        .fold(prefix.clone(), |path, part| path.join(part.as_str()))
}

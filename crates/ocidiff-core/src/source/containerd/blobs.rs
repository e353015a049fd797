//! Blobs read straight from containerd's content store, streamed as the walk asks for them.
//!
//! The engine reads synchronously from many threads; containerd speaks async gRPC. Each blob
//! opened starts one `Content.Read` stream on the source's own runtime, which pumps chunks into
//! a small bounded channel that a blocking reader drains: the network stays a few chunks ahead
//! of decompression, and dropping the reader early cancels the stream.

use std::io::{self, Read};
use std::sync::Arc;

use tokio::runtime::Runtime;
use tokio::sync::mpsc;

use super::api::{Api, ReadContentResponse, status_text};
use crate::content::{BlobSource, ContentError};
use crate::model::Digest;

/// Chunks (of up to 1 MiB) buffered ahead of the reader.
const AHEAD: usize = 4;

/// One image's blobs in containerd.
pub struct ContentStore {
    pub(super) runtime: Arc<Runtime>,
    pub(super) api: Api,
    /// `containerd IMAGE (namespace NS at SOCKET)`, for messages.
    pub(super) name: String,
}

impl BlobSource for ContentStore {
    fn open(&self, digest: &Digest) -> Result<Box<dyn Read + Send + '_>, ContentError> {
        let key = digest.to_string();
        let io_err = |status: tonic::Status| ContentError::Io {
            digest: digest.clone(),
            source: io::Error::other(format!("{}: {}", self.name, status_text(&status))),
        };
        // Wait for the first chunk here, so that a missing blob is `NotFound` at open.
        let (stream, first) = self
            .runtime
            .block_on(async {
                let mut stream = self.api.read(&key).await?;
                let first = stream.message().await?;
                Ok((stream, first))
            })
            .map_err(|status: tonic::Status| {
                if status.code() == tonic::Code::NotFound {
                    ContentError::NotFound {
                        digest: digest.clone(),
                        source_name: self.describe(),
                    }
                } else {
                    io_err(status)
                }
            })?;
        let (tx, rx) = mpsc::channel(AHEAD);
        if let Some(first) = first {
            self.runtime.spawn(pump(stream, first, tx));
        }
        Ok(Box::new(ChunkReader {
            rx,
            chunk: Vec::new(),
            pos: 0,
        }))
    }

    /// containerd checks every blob against its digest when it commits it to the store.
    fn is_verified(&self, _digest: &Digest) -> bool {
        true
    }

    fn describe(&self) -> String {
        self.name.clone()
    }
}

/// Forwards a stream's chunks until it ends, fails, or the reader goes away.
async fn pump(
    mut stream: tonic::Streaming<ReadContentResponse>,
    first: ReadContentResponse,
    tx: mpsc::Sender<Result<Vec<u8>, tonic::Status>>,
) {
    if tx.send(Ok(first.data)).await.is_err() {
        return;
    }
    loop {
        let next = match stream.message().await {
            Ok(Some(chunk)) => Ok(chunk.data),
            Ok(None) => return,
            Err(status) => Err(status),
        };
        let failed = next.is_err();
        if tx.send(next).await.is_err() || failed {
            return;
        }
    }
}

/// The blocking end of a blob's stream.
struct ChunkReader {
    rx: mpsc::Receiver<Result<Vec<u8>, tonic::Status>>,
    chunk: Vec<u8>,
    pos: usize,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.chunk.len() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => {
                    self.chunk = chunk;
                    self.pos = 0;
                }
                Some(Err(status)) => {
                    return Err(io::Error::other(format!(
                        "containerd stopped streaming the blob: {}",
                        status_text(&status)
                    )));
                }
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

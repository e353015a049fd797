//! The few messages and calls of containerd's gRPC API that reading an image needs: images
//! (Get, List), content (Info, Read) and namespaces (List), over containerd's unix socket.
//!
//! The messages are declared here with `prost`'s derive rather than generated from containerd's
//! `.proto` files: five services' worth of generated code (and `protoc` at build time) for six
//! calls would cost more than these few structs, whose field numbers follow containerd's
//! published API definitions (`api/services/{images,content,namespaces}/v1`,
//! `api/types/descriptor.proto`; stable since containerd 1.0).

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use http::uri::PathAndQuery;
use hyper_util::rt::TokioIo;
use tonic::Status;
use tonic::client::Grpc;
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint, Uri};
use tonic_prost::ProstCodec;

/// `containerd.types.Descriptor`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Descriptor {
    #[prost(string, tag = "1")]
    pub media_type: String,
    #[prost(string, tag = "2")]
    pub digest: String,
    #[prost(int64, tag = "3")]
    pub size: i64,
    #[prost(map = "string, string", tag = "5")]
    pub annotations: HashMap<String, String>,
}

/// `containerd.services.images.v1.Image` (its timestamps left out: unknown fields are skipped).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ImageRecord {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(map = "string, string", tag = "2")]
    pub labels: HashMap<String, String>,
    #[prost(message, optional, tag = "3")]
    pub target: Option<Descriptor>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct GetImageRequest {
    #[prost(string, tag = "1")]
    name: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct GetImageResponse {
    #[prost(message, optional, tag = "1")]
    image: Option<ImageRecord>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ListImagesRequest {
    #[prost(string, repeated, tag = "1")]
    filters: Vec<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ListImagesResponse {
    #[prost(message, repeated, tag = "1")]
    images: Vec<ImageRecord>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct InfoRequest {
    #[prost(string, tag = "1")]
    digest: String,
}

/// `containerd.services.content.v1.Info`, without timestamps and labels.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ContentInfo {
    #[prost(string, tag = "1")]
    pub digest: String,
    #[prost(int64, tag = "2")]
    pub size: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
struct InfoResponse {
    #[prost(message, optional, tag = "1")]
    info: Option<ContentInfo>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ReadContentRequest {
    #[prost(string, tag = "1")]
    digest: String,
    #[prost(int64, tag = "2")]
    offset: i64,
    /// 0 reads to the end.
    #[prost(int64, tag = "3")]
    size: i64,
}

/// One chunk of a blob.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ReadContentResponse {
    #[prost(int64, tag = "1")]
    pub offset: i64,
    #[prost(bytes = "vec", tag = "2")]
    pub data: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ListNamespacesRequest {
    #[prost(string, tag = "1")]
    filter: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct NamespaceRecord {
    #[prost(string, tag = "1")]
    name: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ListNamespacesResponse {
    #[prost(message, repeated, tag = "1")]
    namespaces: Vec<NamespaceRecord>,
}

/// The metadata header that scopes every containerd call to a namespace.
const NAMESPACE_HEADER: &str = "containerd-namespace";

/// Large enough for `Images.List` on a node holding thousands of images; content chunks are
/// far smaller (containerd sends 1 MiB at most).
const MAX_MESSAGE: usize = 64 << 20;

/// A connection to containerd, scoped to one namespace. Cheap to clone.
#[derive(Clone)]
pub struct Api {
    channel: Channel,
    namespace: MetadataValue<tonic::metadata::Ascii>,
}

impl Api {
    /// Connects over the unix socket at `socket`. The `io::Error` of the first connection is
    /// returned as it is, so that the caller can tell a missing socket from a refused one.
    pub async fn connect(socket: &Path, namespace: &str) -> Result<Api, ConnectError> {
        // Probe once so that a missing or forbidden socket surfaces as its io::Error rather
        // than as a transport error that hides the cause.
        drop(
            tokio::net::UnixStream::connect(socket)
                .await
                .map_err(ConnectError::Socket)?,
        );
        let path: Arc<PathBuf> = Arc::new(socket.to_owned());
        // The URI only fills the HTTP/2 `:authority`; the connector below ignores it.
        let channel = Endpoint::from_static("http://localhost")
            .connect_with_connector(tower::service_fn(move |_: Uri| {
                let path = path.clone();
                async move {
                    let stream = tokio::net::UnixStream::connect(&*path).await?;
                    Ok::<_, io::Error>(TokioIo::new(stream))
                }
            }))
            .await
            .map_err(|e| ConnectError::Transport(error_chain(&e)))?;
        let namespace = namespace
            .parse()
            .map_err(|_| ConnectError::Namespace(namespace.to_owned()))?;
        Ok(Api { channel, namespace })
    }

    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request
            .metadata_mut()
            .insert(NAMESPACE_HEADER, self.namespace.clone());
        request
    }

    async fn grpc(&self) -> Result<Grpc<Channel>, Status> {
        let mut grpc = Grpc::new(self.channel.clone()).max_decoding_message_size(MAX_MESSAGE);
        grpc.ready()
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        Ok(grpc)
    }

    async fn unary<Req, Resp>(&self, path: &'static str, message: Req) -> Result<Resp, Status>
    where
        Req: prost::Message + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        let codec: ProstCodec<Req, Resp> = ProstCodec::default();
        let response = self
            .grpc()
            .await?
            .unary(
                self.request(message),
                PathAndQuery::from_static(path),
                codec,
            )
            .await?;
        Ok(response.into_inner())
    }

    /// The image record named `name`; `None` when the namespace has no such image.
    pub async fn get_image(&self, name: &str) -> Result<Option<ImageRecord>, Status> {
        let request = GetImageRequest {
            name: name.to_owned(),
        };
        match self
            .unary::<_, GetImageResponse>("/containerd.services.images.v1.Images/Get", request)
            .await
        {
            Ok(r) => Ok(r.image),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
            Err(s) => Err(s),
        }
    }

    /// Every image record in the namespace.
    pub async fn list_images(&self) -> Result<Vec<ImageRecord>, Status> {
        let request = ListImagesRequest { filters: vec![] };
        let response: ListImagesResponse = self
            .unary("/containerd.services.images.v1.Images/List", request)
            .await?;
        Ok(response.images)
    }

    /// What the content store knows of a blob; `None` when it does not hold it.
    pub async fn info(&self, digest: &str) -> Result<Option<ContentInfo>, Status> {
        let request = InfoRequest {
            digest: digest.to_owned(),
        };
        match self
            .unary::<_, InfoResponse>("/containerd.services.content.v1.Content/Info", request)
            .await
        {
            Ok(r) => Ok(r.info),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
            Err(s) => Err(s),
        }
    }

    /// Streams a blob from its start, in chunks.
    pub async fn read(
        &self,
        digest: &str,
    ) -> Result<tonic::Streaming<ReadContentResponse>, Status> {
        let request = ReadContentRequest {
            digest: digest.to_owned(),
            offset: 0,
            size: 0,
        };
        let codec: ProstCodec<ReadContentRequest, ReadContentResponse> = ProstCodec::default();
        let response = self
            .grpc()
            .await?
            .server_streaming(
                self.request(request),
                PathAndQuery::from_static("/containerd.services.content.v1.Content/Read"),
                codec,
            )
            .await?;
        Ok(response.into_inner())
    }

    /// The names of every namespace (namespaces are global: the header is ignored here).
    pub async fn namespaces(&self) -> Result<Vec<String>, Status> {
        let request = ListNamespacesRequest {
            filter: String::new(),
        };
        let response: ListNamespacesResponse = self
            .unary(
                "/containerd.services.namespaces.v1.Namespaces/List",
                request,
            )
            .await?;
        Ok(response.namespaces.into_iter().map(|n| n.name).collect())
    }
}

/// An error with its causes, which is where tonic keeps what went wrong ("transport error" →
/// "connection error" → the HTTP/2 protocol complaint).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

/// A status's message and, for a transport failure, its causes (tonic's `Display` of a status
/// is its debug form).
pub fn status_text(status: &Status) -> String {
    match std::error::Error::source(status) {
        Some(cause) => {
            let causes = error_chain(cause);
            if causes.starts_with(status.message()) {
                causes
            } else {
                format!("{}: {causes}", status.message())
            }
        }
        None => status.message().to_owned(),
    }
}

/// Why no connection could be made.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConnectError {
    Socket(io::Error),
    Transport(String),
    Namespace(String),
}

//! The stack's floor: `switchyard bench-floor`, a bare passthrough built from the gateway's own
//! HTTP server and client (actix-web with one worker per core, TCP_NODELAY, and the gateway's
//! pooled reqwest client per worker) and none of its work. It shows what that stack alone costs
//! per request on this machine, between nginx and the gateway.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use actix_web::http::{StatusCode, header};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use anyhow::{Context, bail};
use bytes::Bytes;

use super::process::{Managed, free_port, wait_for_port};

/// `switchyard bench-floor` options (started by `switchyard bench`).
#[derive(Debug, Clone, clap::Args)]
pub struct FloorArgs {
    /// Port to listen on (127.0.0.1).
    #[arg(long)]
    pub port: u16,
    /// The upstream's origin (`http://127.0.0.1:PORT`); the request path is appended.
    #[arg(long)]
    pub upstream: String,
}

/// A running floor.
pub struct Floor {
    pub process: Managed,
    pub port: u16,
}

/// Starts `exe bench-floor` in `dir` and waits until it accepts connections.
pub async fn start(
    exe: &Path,
    dir: &Path,
    config: &Path,
    upstream_origin: &str,
) -> anyhow::Result<Floor> {
    let port = free_port().context("finding a free port for the floor")?;
    let child = super::gateway::command(exe, dir, config)
        .args(["bench-floor", "--port", &port.to_string(), "--upstream"])
        .arg(upstream_origin)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting the floor")?;
    let mut process = Managed::new(child);
    if !wait_for_port(port, Duration::from_secs(10)).await || process.exited().is_some() {
        let exit = process.terminate(Duration::from_secs(1)).await;
        bail!("the floor did not start (exit: {exit})");
    }
    Ok(Floor { process, port })
}

/// Where the floor forwards to.
struct Upstream {
    client: reqwest::Client,
    origin: String,
}

/// Serves the passthrough until the process is stopped.
pub async fn serve(args: FloorArgs) -> anyhow::Result<()> {
    let origin = args.upstream.trim_end_matches('/').to_owned();
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    HttpServer::new(move || {
        let client = crate::data_plane::upstream::client().unwrap_or_default();
        App::new()
            .app_data(web::Data::new(Upstream {
                client,
                origin: origin.clone(),
            }))
            .default_service(web::to(forward))
    })
    .workers(workers)
    .tcp_nodelay(true)
    .bind(("127.0.0.1", args.port))
    .with_context(|| format!("binding 127.0.0.1:{}", args.port))?
    .run()
    .await?;
    Ok(())
}

/// Forwards the body and the caller's content type, authorization and accept headers; answers
/// with the upstream's status, content type and body (an event stream relayed as it arrives).
async fn forward(req: HttpRequest, body: Bytes, upstream: web::Data<Upstream>) -> HttpResponse {
    let url = format!("{}{}", upstream.origin, req.path());
    let mut call = upstream.client.post(url).body(body);
    for name in [header::CONTENT_TYPE, header::AUTHORIZATION, header::ACCEPT] {
        if let Some(value) = req.headers().get(&name) {
            call = call.header(name.as_str(), value.as_bytes());
        }
    }
    let answer = match call.send().await {
        Ok(answer) => answer,
        Err(e) => return HttpResponse::BadGateway().body(e.to_string()),
    };
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let content_type = answer
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .map(|v| v.as_bytes().to_vec())
        .unwrap_or_default();
    let mut response = HttpResponse::build(status);
    if let Ok(value) = header::HeaderValue::from_bytes(&content_type) {
        response.insert_header((header::CONTENT_TYPE, value));
    }
    if content_type.starts_with(b"text/event-stream") {
        return response.streaming(answer.bytes_stream());
    }
    match answer.bytes().await {
        Ok(bytes) => response.body(bytes),
        Err(e) => HttpResponse::BadGateway().body(e.to_string()),
    }
}

//! Serving the simulator over HTTP on the caller's tokio runtime (a `#[tokio::main]`,
//! `#[actix_web::main]` or `#[tokio::test]` program): actix's accept loop and its two
//! workers run on their own threads; the server future and the event-hook dispatcher are
//! spawned on the caller's runtime and stopped with the [`RunningSim`].

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpServer};

use crate::error::{from_json_error, ApiError, OAuthError};
use crate::hooks::delivery;
use crate::sim::{SimConfig, Simulator};
use crate::{admin, api, oauth};

/// Largest request body accepted (`413` past it).
const BODY_LIMIT: usize = 1 << 20;

/// A simulator serving HTTP. Dropping it stops the server too (without waiting).
pub struct RunningSim {
    /// `http://127.0.0.1:PORT`, without a trailing slash: the org URL.
    pub base_url: String,
    pub addr: SocketAddr,
    pub sim: Simulator,
    handle: ServerHandle,
    task: Option<tokio::task::JoinHandle<io::Result<()>>>,
    dispatcher: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for RunningSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningSim")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl RunningSim {
    /// Stops at once (requests and deliveries in flight are dropped) and waits for the
    /// server to finish.
    pub async fn stop(mut self) {
        if let Some(d) = self.dispatcher.take() {
            d.abort();
        }
        self.handle.stop(false).await;
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningSim {
    fn drop(&mut self) {
        if let Some(d) = self.dispatcher.take() {
            d.abort();
        }
        if self.task.is_some() {
            // Sends the stop command; the returned future only waits for completion.
            drop(self.handle.stop(false));
        }
    }
}

/// Builds a simulator from `cfg` and serves it on `bind` (port 0 picks a free port).
pub async fn start(cfg: SimConfig, bind: SocketAddr) -> io::Result<RunningSim> {
    let sim = Simulator::new(cfg).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    serve(sim, bind).await
}

/// Serves an existing simulator on `bind`; returns once the socket is listening.
pub async fn serve(sim: Simulator, bind: SocketAddr) -> io::Result<RunningSim> {
    let listener = TcpListener::bind(bind)?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let base_url = format!("http://{}", reachable(addr));
    sim.set_served_url(base_url.clone());
    let data = web::Data::new(sim.clone());
    let server =
        HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(
                    web::JsonConfig::default()
                        .limit(BODY_LIMIT)
                        .content_type_required(false)
                        .error_handler(|err, _req| from_json_error(err).into()),
                )
                .app_data(web::FormConfig::default().limit(BODY_LIMIT).error_handler(
                    |err, _req| {
                        OAuthError::invalid_request(format!(
                            "the body must be application/x-www-form-urlencoded: {err}"
                        ))
                        .into()
                    },
                ))
                .app_data(web::QueryConfig::default().error_handler(|err, _req| {
                    ApiError::validation("query", format!("invalid query string: {err}")).into()
                }))
                .app_data(web::PathConfig::default().error_handler(|err, _req| {
                    ApiError::validation("path", format!("invalid path: {err}")).into()
                }))
                .configure(oauth::http::configure)
                .configure(api::configure)
                .configure(admin::configure)
                .default_service(web::to(api::not_found))
        })
        .workers(2)
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener)?
        .run();
    let handle = server.handle();
    let task = tokio::spawn(server);
    let dispatcher = sim
        .take_event_receiver()
        .map(|rx| delivery::start(Arc::downgrade(sim.hub()), rx));
    Ok(RunningSim {
        base_url: sim.org_url(),
        addr,
        sim,
        handle,
        task: Some(task),
        dispatcher,
    })
}

/// The address a local client should use: loopback instead of "any".
fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), addr.port())
        }
        _ => addr,
    }
}

//! The shared test harness: spawn the real app on a random port against a fresh database
//! (SQLite always; Postgres when `TEST_DATABASE_URL` is set, and required under `CI=true`),
//! create tenants and keys, run the real binary, and start mock provider servers.

#![allow(dead_code)]

pub mod browser;
pub mod dashboard;
pub mod db;
pub mod mock_provider;
pub mod providers;
pub mod smtp;
pub mod stripe;
pub mod world;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Output};

use actix_web::dev::ServerHandle;
use switchyard::config::{self, Settings, Sources};
use switchyard::control_plane::{Actor, keys, tenants};
use switchyard::domain::ids::TenantId;
use switchyard::startup::{Application, RouteHook};
use switchyard::storage::Db;

pub use db::{Backend, TestDb};

use switchyard::config::{ModelMode, ModelSettings, ProviderSettings, Secret};
use switchyard::providers::ProviderKind;

/// Generates, for each named `async fn NAME(backend: Backend)`, a module `NAME` with a `sqlite`
/// and a `postgres` test, so every integration test runs on both backends.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::common::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::common::Backend::Postgres).await
            }
        }
    )*};
}

/// Settings for a test app: ephemeral port, two workers, quiet unless `TEST_LOG` is set.
pub fn test_settings(database_url: &str) -> Settings {
    let env = BTreeMap::from([
        ("DATABASE_URL".to_owned(), database_url.to_owned()),
        ("SWITCHYARD_LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
        ("SWITCHYARD_SERVER__WORKERS".to_owned(), "2".to_owned()),
        ("SWITCHYARD_SHUTDOWN_GRACE".to_owned(), "10s".to_owned()),
    ]);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut settings = config::load(&Sources {
        file: None,
        search_dir: Some(dir.path()),
        env: &env,
    })
    .expect("test settings");
    settings.logs.spool_path = std::env::temp_dir().join(format!(
        "switchyard-test-spool-{}.jsonl",
        uuid::Uuid::now_v7()
    ));
    settings
}

/// Installs a log subscriber when `TEST_LOG` is set (e.g. `TEST_LOG=debug`).
pub fn init_test_logging() {
    if let Ok(level) = std::env::var("TEST_LOG") {
        switchyard::telemetry::init(switchyard::config::LogFormat::Text, &level);
    }
}

/// A running application on its own fresh database.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    pub port: u16,
    pub db: Db,
    pub settings: Settings,
    pub client: reqwest::Client,
    pub test_db: TestDb,
    handle: ServerHandle,
}

/// Spawns the app; `None` when the backend is not available here (Postgres without
/// `TEST_DATABASE_URL` outside CI).
pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, |_| {}, None).await
}

/// Spawns the app with adjusted settings and optional extra routes.
pub async fn spawn_app_with(
    backend: Backend,
    adjust: impl FnOnce(&mut Settings),
    routes: Option<RouteHook>,
) -> Option<TestApp> {
    let test_db = TestDb::create(backend).await?;
    Some(spawn_app_on(test_db, adjust, routes).await)
}

/// [`spawn_app_with`] on a database the caller created.
pub async fn spawn_app_on(
    test_db: TestDb,
    adjust: impl FnOnce(&mut Settings),
    routes: Option<RouteHook>,
) -> TestApp {
    init_test_logging();
    let mut settings = test_settings(&test_db.url);
    adjust(&mut settings);
    let db = Db::connect(&test_db.url, &settings.database)
        .await
        .expect("connect test database");
    db.migrate().await.expect("migrate test database");
    let app = Application::build_with_db(settings.clone(), db.clone(), routes)
        .await
        .expect("build app");
    let port = app.port();
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        db,
        settings,
        client: reqwest::Client::new(),
        test_db,
        handle,
    }
}

impl TestApp {
    /// `GET` a path on the app.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("request to app")
    }

    /// Creates a tenant named `name` with owner `owner@<name>.test`.
    pub async fn create_tenant(&self, name: &str) -> tenants::CreatedTenant {
        tenants::create(
            &self.db,
            tenants::NewTenant {
                name: name.to_owned(),
                admin_email: format!("owner@{}.test", name.to_lowercase().replace(' ', "-")),
                admin_password: "correct horse battery staple".to_owned(),
            },
            Actor::CLI,
        )
        .await
        .expect("create tenant")
    }

    /// Mints a key for the tenant.
    pub async fn mint_key(&self, tenant: &TenantId, spec: keys::KeySpec) -> keys::IssuedKey {
        keys::create(&self.db, tenant, spec, Actor::CLI)
            .await
            .expect("mint key")
    }

    /// Whether the app's pool has been closed (as graceful shutdown does).
    pub fn db_closed(&self) -> bool {
        match &self.db {
            Db::Sqlite(pool) => pool.is_closed(),
            Db::Postgres(pool) => pool.is_closed(),
        }
    }

    /// Runs the real binary against this app's database.
    pub fn cli(&self, args: &[&str]) -> Output {
        run_binary(args, &[("DATABASE_URL", self.test_db.url.as_str())])
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Sends the stop command now; the server winds down on its own threads.
        drop(self.handle.stop(false));
    }
}

/// The compiled `switchyard` binary.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_switchyard"))
}

/// A command for the binary with a clean environment (no inherited `SWITCHYARD_*`), run in a
/// fresh temporary directory.
pub fn binary_command(envs: &[(&str, &str)]) -> (Command, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = Command::new(binary());
    cmd.env_clear().current_dir(dir.path());
    if let Ok(path) = std::env::var("PATH") {
        cmd.env("PATH", path);
    }
    for (k, v) in envs {
        cmd.env(k, v);
    }
    (cmd, dir)
}

/// Runs the binary to completion.
pub fn run_binary(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let (mut cmd, _dir) = binary_command(envs);
    cmd.args(args).output().expect("run switchyard")
}

/// Standard output as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Standard error as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Adds a provider account and its models (served under the same names) to the settings.
pub fn add_provider(
    settings: &mut Settings,
    name: &str,
    kind: ProviderKind,
    base_url: &str,
    models: &[&str],
) {
    settings.providers.push(ProviderSettings {
        name: name.to_owned(),
        kind,
        base_url: base_url.to_owned(),
        api_key: Some(Secret::new(format!("sk-upstream-{name}"))),
        api_version: (kind == ProviderKind::AzureOpenai).then(|| "2024-10-21".to_owned()),
        timeout: std::time::Duration::from_secs(30),
    });
    for model in models {
        let (mode, model) = match model.strip_prefix("embed:") {
            Some(m) => (ModelMode::Embedding, m),
            None => (ModelMode::Chat, *model),
        };
        settings.models.push(ModelSettings {
            name: (*model).to_owned(),
            provider: name.to_owned(),
            upstream: Some(format!("{model}-upstream")),
            mode,
            input_usd_per_mtok: Some(1.0),
            output_usd_per_mtok: Some(2.0),
            cached_input_usd_per_mtok: None,
            cache_write_usd_per_mtok: None,
            request_usd: None,
            max_output_tokens: Some(1024),
            context_window: None,
            allow_unpriced: false,
            billing: Default::default(),
            markup_pct: 0.0,
        });
    }
}

/// An app with a tenant and a key that may use every model.
pub struct Gateway {
    pub app: TestApp,
    pub tenant: TenantId,
    /// The virtual key's secret.
    pub key: String,
}

/// Spawns an app configured by `configure`, with tenant `Acme` and one unrestricted key.
pub async fn spawn_gateway(
    backend: Backend,
    configure: impl FnOnce(&mut Settings),
) -> Option<Gateway> {
    let app = spawn_app_with(backend, configure, None).await?;
    Some(gateway_of(app).await)
}

/// [`spawn_gateway`] on a database the caller created.
pub async fn spawn_gateway_on(test_db: TestDb, configure: impl FnOnce(&mut Settings)) -> Gateway {
    gateway_of(spawn_app_on(test_db, configure, None).await).await
}

async fn gateway_of(app: TestApp) -> Gateway {
    let tenant = app.create_tenant("Acme").await.tenant_id;
    let key = app.mint_key(&tenant, keys::KeySpec::default()).await.key;
    app.wait_for_policy().await;
    Gateway { app, tenant, key }
}

impl TestApp {
    /// Waits until the data path's snapshot has caught up with the database (one poll).
    pub async fn wait_for_policy(&self) {
        tokio::time::sleep(switchyard::policy::snapshot::POLL_INTERVAL * 3).await;
    }

    /// `POST` JSON to the app with a virtual key.
    pub async fn post_json(
        &self,
        path: &str,
        key: &str,
        body: &serde_json::Value,
    ) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.address))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .expect("request to app")
    }
}

/// Reads a whole SSE response into `(event, data)` pairs.
pub async fn sse_events(response: reqwest::Response) -> Vec<(String, String)> {
    use eventsource_stream::Eventsource;
    use futures_util::StreamExt;
    let mut events = Vec::new();
    let mut stream = response.bytes_stream().eventsource();
    while let Some(event) = stream.next().await {
        let event = event.expect("well-formed SSE");
        events.push((event.event, event.data));
    }
    events
}

//! The real binary's admin commands, on both backends.

use serde_json::Value;
use switchyard::config::DatabaseSettings;
use switchyard::domain::api_key;
use switchyard::storage::{Db, audit};

use crate::common::db::columns_containing;
use crate::common::{Backend, TestDb, run_binary, stderr, stdout};
use crate::on_both_backends;

on_both_backends!(
    tenant_and_key_creation_store_only_hashes,
    duplicate_tenant_is_a_clear_error,
    key_list_revoke_and_rotate,
    bad_key_options_are_named,
);

const PASSWORD: &str = "correct horse battery staple";

struct Cli {
    db: TestDb,
}

impl Cli {
    async fn new(backend: Backend) -> Option<Self> {
        Some(Self {
            db: TestDb::create(backend).await?,
        })
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        run_binary(args, &[("DATABASE_URL", self.db.url.as_str())])
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "{args:?} failed: {}", stderr(&out));
        stdout(&out)
    }

    fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(args)).expect("one JSON value")
    }

    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{args:?} should fail: {}",
            stdout(&out)
        );
        let err = stderr(&out);
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
        err
    }

    async fn connect(&self) -> Db {
        Db::connect(&self.db.url, &DatabaseSettings::default())
            .await
            .expect("connect")
    }

    fn tenant(&self, name: &str) {
        self.ok(&[
            "tenant",
            "create",
            name,
            "--admin-email",
            &format!("owner@{}.test", name.to_lowercase()),
            "--admin-password",
            PASSWORD,
        ]);
    }
}

async fn tenant_and_key_creation_store_only_hashes(backend: Backend) {
    let Some(cli) = Cli::new(backend).await else {
        return;
    };
    let created = cli.json(&[
        "tenant",
        "create",
        "Acme",
        "--admin-email",
        "Ada@Acme.test",
        "--admin-password",
        PASSWORD,
        "--json",
    ]);
    assert!(
        created["tenant_id"]
            .as_str()
            .expect("id")
            .starts_with("ten_")
    );
    assert_eq!(created["owner_email"], "ada@acme.test");

    let key = cli.json(&[
        "key",
        "create",
        "--tenant",
        "Acme",
        "--team",
        "default",
        "--name",
        "ci",
        "--models",
        "gpt-4o,claude-sonnet",
        "--rpm",
        "60",
        "--tpm",
        "10000",
        "--budget-usd",
        "25",
        "--budget-period",
        "daily",
        "--allowed-ips",
        "10.0.0.0/8,2001:db8::/32",
        "--allowed-referrers",
        "https://*.example.com",
        "--expires-in",
        "30d",
        "--json",
    ]);
    let id = key["id"].as_str().expect("id").to_owned();
    let secret = key["key"].as_str().expect("key").to_owned();
    assert!(id.starts_with("key_"));
    let parsed = api_key::parse(&secret).expect("a well-formed key");
    assert_eq!(key["team"], "default");
    assert!(key["expires_at"].is_string());

    let db = cli.connect().await;
    // The whole database holds neither the key nor its secret part, only the hash and prefix.
    assert_eq!(columns_containing(&db, &secret).await, Vec::<String>::new());
    let secret_part = &secret[secret.len() - 38..];
    assert_eq!(
        columns_containing(&db, secret_part).await,
        Vec::<String>::new()
    );
    assert_eq!(
        columns_containing(&db, &api_key::hash_key(&secret)).await,
        vec!["virtual_keys.secret_hash".to_owned()]
    );
    assert!(
        columns_containing(&db, parsed.public_id)
            .await
            .contains(&"virtual_keys.public_id".to_owned())
    );
    // Every option was stored.
    let listed = cli.json(&["key", "list", "--tenant", "Acme", "--json"]);
    let row = &listed[0];
    assert_eq!(
        row["models"],
        serde_json::json!(["gpt-4o", "claude-sonnet"])
    );
    assert_eq!(row["rpm"], 60);
    assert_eq!(row["tpm"], 10000);
    assert_eq!(row["budget_usd"], 25.0);
    assert_eq!(row["budget_period"], "daily");
    assert_eq!(
        row["allowed_ips"],
        serde_json::json!(["10.0.0.0/8", "2001:db8::/32"])
    );
    assert_eq!(
        row["allowed_referrers"],
        serde_json::json!(["https://*.example.com"])
    );
    assert_eq!(row["status"], "active");
    assert!(row.get("key").is_none(), "listings never carry the secret");
    db.close().await;

    // The plain output prints the secret once, alone on its line.
    let plain = cli.ok(&["key", "create", "--tenant", "Acme"]);
    let printed: Vec<&str> = plain
        .lines()
        .filter(|l| l.starts_with("sy_live_"))
        .collect();
    assert_eq!(printed.len(), 1, "{plain}");
    api_key::parse(printed[0]).expect("printed key parses");
}

async fn duplicate_tenant_is_a_clear_error(backend: Backend) {
    let Some(cli) = Cli::new(backend).await else {
        return;
    };
    cli.tenant("Acme");
    let err = cli.fails(&[
        "tenant",
        "create",
        "Acme",
        "--admin-email",
        "other@acme.test",
        "--admin-password",
        PASSWORD,
    ]);
    assert!(err.contains("tenant `Acme` already exists"), "{err}");
    let err = cli.fails(&[
        "tenant",
        "create",
        "Other",
        "--admin-email",
        "owner@acme.test",
        "--admin-password",
        PASSWORD,
    ]);
    assert!(err.contains("owner@acme.test already exists"), "{err}");
    let err = cli.fails(&[
        "tenant",
        "create",
        "Short",
        "--admin-email",
        "s@short.test",
        "--admin-password",
        "short",
    ]);
    assert!(err.contains("password"), "{err}");
    // Nothing half-written: exactly one tenant exists.
    let listed = cli.json(&["tenant", "list", "--json"]);
    assert_eq!(listed.as_array().expect("array").len(), 1);
}

async fn key_list_revoke_and_rotate(backend: Backend) {
    let Some(cli) = Cli::new(backend).await else {
        return;
    };
    cli.tenant("Acme");
    cli.tenant("Globex");
    let first = cli.json(&[
        "key", "create", "--tenant", "Acme", "--name", "first", "--json",
    ]);
    let id = first["id"].as_str().expect("id");

    let rotated = cli.json(&[
        "key", "rotate", id, "--tenant", "Acme", "--grace", "1h", "--json",
    ]);
    assert_eq!(rotated["id"], id);
    assert_ne!(rotated["key"], first["key"]);
    api_key::parse(rotated["key"].as_str().expect("key")).expect("new key parses");
    assert!(rotated["previous_secret_expires_at"].is_string());
    let listed = cli.json(&["key", "list", "--tenant", "Acme", "--json"]);
    assert_eq!(listed[0]["display"], rotated["display"]);
    assert_eq!(
        listed[0]["previous_secret_expires_at"],
        rotated["previous_secret_expires_at"]
    );

    // Another tenant cannot see or touch the key.
    let err = cli.fails(&["key", "revoke", id, "--tenant", "Globex"]);
    assert!(err.contains("not found"), "{err}");
    assert_eq!(
        cli.json(&["key", "list", "--tenant", "Globex", "--json"]),
        serde_json::json!([])
    );

    cli.ok(&["key", "revoke", id, "--tenant", "Acme"]);
    let listed = cli.json(&["key", "list", "--tenant", "Acme", "--json"]);
    assert_eq!(listed[0]["status"], "revoked");
    let err = cli.fails(&["key", "revoke", id, "--tenant", "Acme"]);
    assert!(err.contains("is revoked"), "{err}");
    let err = cli.fails(&["key", "rotate", id, "--tenant", "Acme"]);
    assert!(err.contains("is revoked"), "{err}");

    let text = cli.ok(&["key", "list", "--tenant", "Acme"]);
    assert!(text.contains("revoked") && text.contains("first"), "{text}");

    // Each action left an audit entry.
    let db = cli.connect().await;
    let tenant = switchyard::control_plane::tenants::resolve(&db, "Acme")
        .await
        .expect("query")
        .expect("tenant");
    let actions: Vec<String> = audit::recent(&db, &tenant, 10)
        .await
        .expect("audit")
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions,
        ["key.revoke", "key.rotate", "key.create", "tenant.create"]
    );
    db.close().await;
}

async fn bad_key_options_are_named(backend: Backend) {
    let Some(cli) = Cli::new(backend).await else {
        return;
    };
    cli.tenant("Acme");
    let err = cli.fails(&["key", "create", "--tenant", "Nope"]);
    assert!(err.contains("tenant `Nope` does not exist"), "{err}");
    let err = cli.fails(&["key", "create", "--tenant", "Acme", "--team", "ghosts"]);
    assert!(err.contains("team `ghosts`"), "{err}");
    let err = cli.fails(&[
        "key",
        "create",
        "--tenant",
        "Acme",
        "--allowed-ips",
        "10.0.0.0/33",
    ]);
    assert!(
        err.contains("allowed-ips") && err.contains("10.0.0.0/33"),
        "{err}"
    );
    let err = cli.fails(&[
        "key",
        "create",
        "--tenant",
        "Acme",
        "--allowed-referrers",
        "example.com",
    ]);
    assert!(err.contains("allowed-referrers"), "{err}");
    let err = cli.fails(&["key", "create", "--tenant", "Acme", "--rpm", "0"]);
    assert!(err.contains("rpm"), "{err}");
    // Malformed values are refused by the parser with a usage error naming the flag.
    let out = cli.run(&["key", "create", "--tenant", "Acme", "--budget-usd=-5"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--budget-usd"), "{}", stderr(&out));
    let out = cli.run(&["key", "create", "--tenant", "Acme", "--expires-in", "soon"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--expires-in"), "{}", stderr(&out));
    // None of the failures created a key.
    assert_eq!(
        cli.json(&["key", "list", "--tenant", "Acme", "--json"]),
        serde_json::json!([])
    );
}

#[test]
fn migrate_command_is_idempotent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("m.db").display());
    for _ in 0..2 {
        let out = run_binary(&["migrate"], &[("DATABASE_URL", url.as_str())]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(stdout(&out).contains("migrations applied"));
    }
}

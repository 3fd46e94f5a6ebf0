use super::*;

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn load_text(text: &str, vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("switchyard.toml");
    std::fs::write(&path, text).expect("write");
    load(&Sources {
        file: Some(&path),
        search_dir: None,
        env: &env(vars),
    })
}

#[test]
fn defaults_without_a_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let settings = load(&Sources {
        file: None,
        search_dir: Some(dir.path()),
        env: &BTreeMap::new(),
    })
    .expect("defaults load");
    assert_eq!(settings.listen, "127.0.0.1:8080");
    assert_eq!(settings.database_url.expose(), "sqlite://switchyard.db");
    assert_eq!(settings.keys.rotation_grace, Duration::from_secs(86_400));
}

#[test]
fn unknown_key_names_file_key_and_line() {
    let err = load_text(
        "listen = \"127.0.0.1:9000\"\n\n[database]\nmax_conections = 3\n",
        &[],
    )
    .expect_err("unknown key");
    let msg = err.to_string();
    assert!(msg.contains("switchyard.toml:4:"), "{msg}");
    assert!(msg.contains("max_conections"), "{msg}");
    assert!(!msg.contains('\n'), "one line: {msg}");
}

#[test]
fn references_resolve_and_missing_ones_are_named() {
    let ok = load_text(
        "database_url = \"postgres://u:${PGPASS}@db/x\"\nmaster_key = \"$${literal}\"\n",
        &[("PGPASS", "s3cret")],
    )
    .expect("resolves");
    assert_eq!(ok.database_url.expose(), "postgres://u:s3cret@db/x");
    assert_eq!(
        ok.master_key.as_ref().map(Secret::expose),
        Some("${literal}")
    );
    assert!(!format!("{ok:?}").contains("s3cret"));

    let err = load_text("master_key = \"${SWITCHYARD_TEST_NOPE}\"\n", &[]).expect_err("missing");
    let msg = err.to_string();
    assert!(
        msg.contains("SWITCHYARD_TEST_NOPE") && msg.contains("master_key"),
        "{msg}"
    );

    let bad = load_text("master_key = \"${oops\"\n", &[]).expect_err("malformed");
    assert!(matches!(bad, ConfigError::BadReference { .. }), "{bad}");
}

#[test]
fn environment_overrides_file_values_with_types() {
    let settings = load_text(
        "listen = \"127.0.0.1:9000\"\n[database]\nmax_connections = 3\n",
        &[
            ("SWITCHYARD_LISTEN", "0.0.0.0:7000"),
            (
                "SWITCHYARD_AUTH__JWT_SECRET",
                "0123456789abcdef0123456789abcdef",
            ),
            ("SWITCHYARD_DATABASE__MAX_CONNECTIONS", "12"),
            ("SWITCHYARD_SHUTDOWN_GRACE", "5s"),
            ("DATABASE_URL", "postgres://localhost/sy"),
            ("REDIS_URL", "redis://127.0.0.1:6379"),
            ("SWITCHYARD_CONFIG", "ignored.toml"),
            ("PATH", "/usr/bin"),
        ],
    )
    .expect("loads");
    assert_eq!(settings.listen, "0.0.0.0:7000");
    assert_eq!(settings.database.max_connections, 12);
    assert_eq!(settings.shutdown_grace, Duration::from_secs(5));
    assert_eq!(settings.database_url.expose(), "postgres://localhost/sy");
    assert!(settings.redis_url.is_some());
}

#[test]
fn numeric_looking_text_from_the_environment_stays_text() {
    let settings = load_text("", &[("SWITCHYARD_MASTER_KEY", "12345")]).expect("loads");
    assert_eq!(
        settings.master_key.as_ref().map(Secret::expose),
        Some("12345")
    );
}

#[test]
fn unknown_environment_setting_is_named() {
    let err = load_text("", &[("SWITCHYARD_LISTN", "x")]).expect_err("unknown");
    assert!(err.to_string().contains("SWITCHYARD_LISTN"), "{err}");
}

#[test]
fn bad_values_are_refused() {
    let err = load_text("listen = \"nowhere\"\n", &[]).expect_err("bad listen");
    assert!(err.to_string().contains("listen"), "{err}");
    let err = load_text("database_url = \"mysql://x\"\n", &[]).expect_err("bad url");
    assert!(err.to_string().contains("database_url"), "{err}");
    let err = load_text("shutdown_grace = \"soon\"\n", &[]).expect_err("bad duration");
    assert!(err.to_string().contains("switchyard.toml:1:"), "{err}");
}

#[test]
fn explicit_missing_file_is_an_error() {
    let err = load(&Sources {
        file: Some(Path::new("/nonexistent/switchyard.toml")),
        search_dir: None,
        env: &BTreeMap::new(),
    })
    .expect_err("missing file");
    assert!(
        err.to_string().contains("/nonexistent/switchyard.toml"),
        "{err}"
    );
}

const CATALOG: &str = r#"
[[providers]]
name = "openai"
kind = "openai"
base_url = "https://api.openai.com/v1"
api_key = "${OPENAI_API_KEY}"

[[providers]]
name = "local"
kind = "openai-compatible"
base_url = "http://127.0.0.1:11434/v1"

[[models]]
name = "gpt-4o"
provider = "openai"
upstream = "gpt-4o-2024-08-06"
input_usd_per_mtok = 2.50
output_usd_per_mtok = 10.00

[[models]]
name = "llama"
provider = "local"
"#;

#[test]
fn providers_and_models_load() {
    let settings = load_text(CATALOG, &[("OPENAI_API_KEY", "sk-test")]).expect("loads");
    assert_eq!(settings.providers.len(), 2);
    assert_eq!(
        settings.providers[0].api_key.as_ref().map(Secret::expose),
        Some("sk-test")
    );
    assert_eq!(settings.models[0].upstream_id(), "gpt-4o-2024-08-06");
    assert_eq!(settings.models[1].upstream_id(), "llama");
    let err = load_text(CATALOG, &[]).expect_err("missing key variable");
    assert!(err.to_string().contains("OPENAI_API_KEY"), "{err}");
}

#[test]
fn catalog_mistakes_are_named() {
    let bad_ref = CATALOG.replace("provider = \"local\"", "provider = \"nope\"");
    let err = load_text(&bad_ref, &[("OPENAI_API_KEY", "k")]).expect_err("bad reference");
    assert!(err.to_string().contains("`nope`"), "{err}");
    let bad_kind = CATALOG.replace("kind = \"openai-compatible\"", "kind = \"openia\"");
    let err = load_text(&bad_kind, &[("OPENAI_API_KEY", "k")]).expect_err("bad kind");
    assert!(err.to_string().contains("switchyard.toml:"), "{err}");
    let unknown = CATALOG.replace("upstream = ", "upstreem = ");
    let err = load_text(&unknown, &[("OPENAI_API_KEY", "k")]).expect_err("unknown key");
    assert!(err.to_string().contains("upstreem"), "{err}");
    let dup = format!("{CATALOG}\n[[models]]\nname = \"llama\"\nprovider = \"local\"\n");
    let err = load_text(&dup, &[("OPENAI_API_KEY", "k")]).expect_err("duplicate");
    assert!(err.to_string().contains("defined twice"), "{err}");
}

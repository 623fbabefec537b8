//! TLS to PostgreSQL (issue 14 §1). The default build compiles libpq from source with a
//! vendored OpenSSL (`bundled-libpq` in Cargo.toml); a libpq built without OpenSSL would still
//! connect in plain text where `sslmode=prefer`, and fail `sslmode=require` — so the bridge is
//! started on `sslmode=require` and each backend it uses must show `ssl = true` in
//! `pg_stat_ssl`.
//!
//! A server without TLS is given a self-signed certificate first (see `ensure_server_tls`):
//! the PostgreSQL of a fresh CI machine need not have one.

use std::time::{Duration, Instant};

use diesel::sql_types::{Bool, Nullable, Text};
use diesel::{Connection, PgConnection, RunQueryDsl};
use reqwest::Method;

use crate::harness::{send, TestApp, TestDb};
use crate::scim_support::create_user;

#[derive(diesel::QueryableByName)]
struct Setting {
    #[diesel(sql_type = Text)]
    value: String,
}

#[derive(diesel::QueryableByName)]
struct Ssl {
    #[diesel(sql_type = Bool)]
    ssl: bool,
    #[diesel(sql_type = Nullable<Text>)]
    version: Option<String>,
}

const SSL_OF_THIS_BACKEND: &str =
    "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()";

#[tokio::test]
async fn the_bridge_talks_to_postgresql_over_tls_with_sslmode_require() {
    let db = TestDb::new();
    if !db.is_postgres() {
        // Straight to the process's stderr: libtest captures `eprintln!` of passing tests,
        // and a skip must be seen.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "\nSKIPPED the_bridge_talks_to_postgresql_over_tls_with_sslmode_require: needs \
             PostgreSQL; run with TEST_DATABASE_URL=postgres://… to include it"
        );
        return;
    }
    let admin_url = std::env::var("TEST_DATABASE_URL").unwrap_or_default();
    tokio::task::spawn_blocking(move || ensure_server_tls(&admin_url))
        .await
        .expect("TLS set-up");

    let url = with_param(&db.url, "sslmode=require");
    let app = TestApp::start_on(db, &[("DATABASE_URL", &url)]).await;

    // The service works over it: a SCIM create and read (writes, reads, the outbox).
    let id = create_user(&app, "tls.user@example.com").await;
    let (status, body) = send(app.scim(Method::GET, &format!("/Users/{id}"))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["userName"], "tls.user@example.com");
    let (status, body) = send(app.raw(Method::GET, "/readyz")).await;
    assert_eq!(status, 200, "{body}");

    // Every connection the pool holds is encrypted.
    let pool = app.state.pool.clone();
    let rows = tokio::task::spawn_blocking(move || {
        let mut held = Vec::new();
        let mut rows = Vec::new();
        for _ in 0..4 {
            let mut conn = pool.get().expect("pooled connection");
            let row: Ssl = diesel::sql_query(SSL_OF_THIS_BACKEND)
                .get_result(&mut *conn)
                .expect("pg_stat_ssl");
            rows.push((row.ssl, row.version));
            held.push(conn);
        }
        rows
    })
    .await
    .expect("pool query");
    for (ssl, version) in &rows {
        assert!(*ssl, "a pooled connection is not encrypted: {rows:?}");
        assert!(
            version.as_deref().is_some_and(|v| v.starts_with("TLSv1.")),
            "{rows:?}"
        );
    }
    app.stop().await;
}

/// Makes sure the server at `admin_url` accepts TLS. Idempotent: a server that already takes
/// an `sslmode=require` connection is left alone (`SHOW ssl` is not enough: a reload that
/// could not load the key still says `on`). Otherwise (a fresh CI machine) it needs a
/// superuser connection: a self-signed certificate (rcgen, ECDSA P-256) is written into the
/// data directory by the server itself (`COPY … TO PROGRAM`, a new file under `umask 077`: the files
/// belong to the server's user with mode 0600, which PostgreSQL requires of a key file), then
/// `ALTER SYSTEM SET ssl = on` and a reload. Fails loudly when any step is refused: a TLS test
/// that silently ran in plain text would prove nothing.
fn ensure_server_tls(admin_url: &str) {
    let require = with_param(admin_url, "sslmode=require");
    if PgConnection::establish(&require).is_ok() {
        return;
    }
    let mut admin = PgConnection::establish(admin_url)
        .unwrap_or_else(|e| panic!("TEST_DATABASE_URL is unreachable: {e}"));
    let data_dir = show(&mut admin, "data_directory");
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("a self-signed certificate");
    let cert_file = format!("{data_dir}/zqb-test-server.crt");
    let key_file = format!("{data_dir}/zqb-test-server.key");
    write_server_file(&mut admin, &cert_file, &certified.cert.pem());
    write_server_file(
        &mut admin,
        &key_file,
        &certified.signing_key.serialize_pem(),
    );
    for statement in [
        format!("ALTER SYSTEM SET ssl_cert_file = '{cert_file}'"),
        format!("ALTER SYSTEM SET ssl_key_file = '{key_file}'"),
        "ALTER SYSTEM SET ssl = on".to_string(),
        "SELECT pg_reload_conf()".to_string(),
    ] {
        diesel::sql_query(&statement)
            .execute(&mut admin)
            .unwrap_or_else(|e| {
                panic!("cannot turn TLS on ({statement}): {e}; run the test as a superuser")
            });
    }
    // The reload is asynchronous: wait until a TLS connection is accepted.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let last = match PgConnection::establish(&require) {
            Ok(_) => return,
            Err(e) => e,
        };
        if Instant::now() > deadline {
            panic!(
                "PostgreSQL does not accept TLS after ssl = on and a reload ({last}); its log \
                 says why (\"SSL configuration was not reloaded\": {cert_file}, {key_file})"
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn show(conn: &mut PgConnection, setting: &str) -> String {
    diesel::sql_query(format!("SELECT current_setting('{setting}') AS value"))
        .get_result::<Setting>(conn)
        .unwrap_or_else(|e| panic!("current_setting({setting}): {e}"))
        .value
}

/// Writes `text` to `path` on the server's host, mode 0600, one line per row (COPY's text
/// format escapes newlines inside a value; PEM lines hold only base64, `-` and spaces).
fn write_server_file(conn: &mut PgConnection, path: &str, text: &str) {
    let literal = text.replace('\'', "''");
    diesel::sql_query(format!(
        "COPY (SELECT l FROM unnest(string_to_array('{literal}', E'\\n')) WITH ORDINALITY \
         AS t(l, n) WHERE l <> '' ORDER BY n) TO PROGRAM 'umask 077 && rm -f \"{path}\" && cat > \"{path}\"'"
    ))
    .execute(conn)
    .unwrap_or_else(|e| panic!("cannot write {path} on the server (needs a superuser): {e}"));
}

/// `url` with one more query parameter.
fn with_param(url: &str, param: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{param}")
}

//! A fresh database per test: a new PostgreSQL database on the local server, or a new SQLite
//! file. A missing PostgreSQL fails the test loudly; it is never skipped.

use flext_quality::store::{Dialect, Store};

/// The server tests create their databases on (`TEST_DATABASE_URL`, default the local one).
pub fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub struct TestDb {
    pub store: Store,
    pub url: String,
    pg_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

fn unique_name() -> String {
    let mut bytes = [0u8; 6];
    openssl::rand::rand_bytes(&mut bytes).unwrap();
    let suffix: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("fq_test_{suffix}")
}

impl TestDb {
    pub async fn new(dialect: Dialect) -> TestDb {
        match dialect {
            Dialect::Postgres => Self::postgres().await,
            Dialect::Sqlite => Self::sqlite().await,
        }
    }

    pub async fn postgres() -> TestDb {
        let admin = admin_url();
        let name = unique_name();
        let admin_store = Store::connect(&admin).await.unwrap_or_else(|e| {
            panic!("PostgreSQL is required for this test and is not reachable at {admin} (set TEST_DATABASE_URL): {e:#}")
        });
        admin_store
            .execute_admin(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create test database");
        admin_store.close().await;
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
        let url = format!("{base}/{name}");
        let store = Store::connect(&url)
            .await
            .expect("connect to the test database");
        store
            .migrate()
            .await
            .expect("migrations apply on PostgreSQL");
        TestDb {
            store,
            url,
            pg_name: Some(name),
            _dir: None,
        }
    }

    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
        let store = Store::connect(&url).await.expect("open SQLite");
        store.migrate().await.expect("migrations apply on SQLite");
        TestDb {
            store,
            url,
            pg_name: None,
            _dir: Some(dir),
        }
    }

    /// The PostgreSQL database's name (`None` for SQLite).
    pub fn name(&self) -> Option<String> {
        self.pg_name.clone()
    }

    /// Drops the PostgreSQL database (SQLite files go with the temp dir).
    pub async fn cleanup(self) {
        self.store.close().await;
        if let Some(name) = &self.pg_name {
            if let Ok(admin) = Store::connect(&admin_url()).await {
                let _ = admin
                    .execute_admin(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await;
                admin.close().await;
            }
        }
    }
}

/// Runs an async test body once per engine, each with its own fresh database.
#[macro_export]
macro_rules! on_both_engines {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    let db = $crate::harness::db::TestDb::postgres().await;
                    super::$name(db.store.clone()).await;
                    db.cleanup().await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let db = $crate::harness::db::TestDb::sqlite().await;
                    super::$name(db.store.clone()).await;
                    db.cleanup().await;
                }
            }
        )*
    };
}

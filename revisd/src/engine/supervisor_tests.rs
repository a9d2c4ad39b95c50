//! One actor per session, always: commands fired at a session from many tasks at once are all
//! answered, in some order, by actors that never overlap.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::exec::{LocalExecutor, TmuxServer};
use crate::states::{SessionState, StopReason};
use crate::store::{self, NewSession, Store};

use super::Engine;

const CONFIG: &str = "entry:\n  train: python train.py\nmetrics:\n  primary: loss\n";

async fn engine_with_session(dir: &Path, state: SessionState) -> (Engine, store::SessionRow) {
    let store = Store::open(&dir.join("revis.db")).await.unwrap();
    let exec = Arc::new(LocalExecutor::new(TmuxServer::Socket(dir.join("tmux.sock"))));
    let engine = Engine::new(store.clone(), crate::paths::Home::at(dir), exec);
    let config = crate::config::load_str(CONFIG, Path::new("revis.yaml")).unwrap().config;
    let sample = NewSession {
        config_json: serde_json::to_string(&config).unwrap(),
        project: dir.display().to_string(),
        ..store::sessions::sample("s", "/p")
    };
    let mut tx = store.begin().await.unwrap();
    let id = store::sessions::insert(&mut tx, &sample).await.unwrap();
    store::sessions::set_state(&mut tx, id, state, Some(StopReason::Plateau), None).await.unwrap();
    tx.commit().await.unwrap();
    let session = store::sessions::get(store.pool(), id).await.unwrap().unwrap();
    (engine, session)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_actors_never_drive_one_session() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, session) = engine_with_session(dir.path(), SessionState::Completed).await;
    let mut tasks = Vec::new();
    for i in 0..64 {
        let (engine, session) = (engine.clone(), session.clone());
        tasks.push(tokio::spawn(async move {
            if i % 4 == 0 {
                // A bare "make sure an actor runs" between the commands.
                engine.command(session.id, None);
            }
            engine.set_pull_request(&session, format!("https://example.com/pr/{i}")).await
        }));
    }
    for task in tasks {
        let answered = task.await.unwrap().unwrap();
        assert!(answered.pr_url.is_some_and(|u| u.starts_with("https://example.com/pr/")));
    }
    assert_eq!(engine.supervisor().overlaps.load(Ordering::SeqCst), 0, "two actors drove the session at once");
    // Every command was answered by the session's actor: nothing is left queued or running.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while engine.supervisor().live(session.id) {
        assert!(tokio::time::Instant::now() < deadline, "the idle actor never retired");
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn commands_are_checked_against_the_state_the_actor_owns() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, session) = engine_with_session(dir.path(), SessionState::Completed).await;
    let refused = engine.stop(&session, false).await.unwrap_err();
    assert!(refused.to_string().contains("is not running (it is completed)"), "{refused}");
    let refused = engine.approve(&session, Vec::new()).await.unwrap_err();
    assert!(refused.to_string().contains("is not waiting for an approval"), "{refused}");
    let refused = engine.resume(&session, None, Vec::new(), true).await.unwrap_err();
    assert!(refused.to_string().contains("--skip applies only then"), "{refused}");
}

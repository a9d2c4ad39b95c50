//! What `revis init` can offer to choose from: the W&B projects of an entity (or MLflow
//! experiments) and the metric keys their recent runs logged. Credentials come from the CLI's
//! environment for this call only, then the daemon's.

use revis_proto::v1::DiscoverRequest;

use crate::metrics::{mlflow, wandb};

#[derive(Debug, Default)]
pub struct Found {
    pub projects: Vec<String>,
    pub metrics: Vec<String>,
    pub error: Option<String>,
}

pub async fn discover(req: &DiscoverRequest) -> Found {
    let var = |name: &str| req.env.get(name).cloned().or_else(|| std::env::var(name).ok()).filter(|v| !v.is_empty());
    let entity = Some(req.entity.as_str()).filter(|e| !e.is_empty());
    let project = Some(req.project.as_str()).filter(|p| !p.is_empty());
    let mut found = Found::default();
    match req.source.as_str() {
        "wandb" => {
            let connection = wandb::Connection::resolve(var);
            match wandb::projects(&connection, entity).await {
                Ok(projects) => found.projects = projects,
                Err(e) => found.error = Some(e.to_string()),
            }
            if let Some(project) = project {
                match wandb::metric_keys(&connection, entity, project).await {
                    Ok(keys) => found.metrics = keys,
                    Err(e) => found.error = Some(e.to_string()),
                }
            }
        }
        "mlflow" => {
            let uri = Some(req.tracking_uri.clone()).filter(|u| !u.is_empty()).or_else(|| var("MLFLOW_TRACKING_URI"));
            let Some(uri) = uri else {
                found.error = Some("no MLflow tracking server: set MLFLOW_TRACKING_URI or give its URI".into());
                return found;
            };
            match mlflow::experiments(&uri).await {
                Ok(experiments) => found.projects = experiments,
                Err(e) => found.error = Some(e.to_string()),
            }
            if let Some(project) = project {
                match mlflow::metric_keys(&uri, project).await {
                    Ok(keys) => found.metrics = keys,
                    Err(e) => found.error = Some(e.to_string()),
                }
            }
        }
        _ => {}
    }
    found
}

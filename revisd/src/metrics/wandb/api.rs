//! W&B's GraphQL API: `POST {base}/graphql` with HTTP Basic `api:<key>`, in the query shapes of
//! wire-formats.md. Retries 5xx, 429 and connection failures with backoff; a 401/403 is final.
//!
//! Must not: decide fallbacks (the caller does), or put the key in an error message.

use serde_json::{Value, json};

use super::Timing;
use super::auth::Connection;

const RUN_QUERY: &str = "query Run($project:String!,$entity:String!,$name:String!){ project(name:$project, entityName:$entity){ run(name:$name){ id name displayName state config summaryMetrics historyLineCount } } }";
const HISTORY_QUERY: &str = "query RunHistory($project:String!,$entity:String!,$name:String!,$samples:Int!){ project(name:$project, entityName:$entity){ run(name:$name){ history(samples:$samples) } } }";
const VIEWER_QUERY: &str = "query Viewer{ viewer{ id entity username } }";
const PROJECTS_QUERY: &str = "query Projects($entity:String!,$cursor:String){ models(entityName:$entity, first:50, after:$cursor){ edges{ node{ name entityName } } pageInfo{ endCursor hasNextPage } } }";
const RUNS_QUERY: &str = "query Runs($project:String!,$entity:String!,$first:Int!){ project(name:$project, entityName:$entity){ runs(first:$first, order:\"-created_at\"){ edges{ node{ name state summaryMetrics } } } } }";

/// Longest answer body quoted in an error.
const BODY_EXCERPT: usize = 300;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("W&B rejected the API key (WANDB_API_KEY / ~/.netrc entry for {host}): HTTP {status} from {endpoint}")]
    Unauthorized { host: String, endpoint: String, status: u16 },
    #[error("W&B at {endpoint} is unreachable after {attempts} attempts: {detail}")]
    Unreachable { endpoint: String, attempts: u32, detail: String },
    #[error("W&B at {endpoint} answered HTTP {status} after {attempts} attempts: {body}")]
    Server { endpoint: String, status: u16, attempts: u32, body: String },
    #[error("W&B at {endpoint} refused the query ({what}): {message}")]
    Query { endpoint: String, what: &'static str, message: String },
    #[error("W&B at {endpoint} answered something unexpected ({what}): {detail}")]
    Invalid { endpoint: String, what: &'static str, detail: String },
}

/// The fields of one run Revis uses. `summary` is W&B's JSON-string `summaryMetrics`.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub state: String,
    pub summary: Option<String>,
    pub history_lines: Option<i64>,
}

pub struct Api {
    client: reqwest::Client,
    endpoint: String,
    host: String,
    key: String,
    timing: Timing,
}

impl Api {
    /// None when there is no key to authenticate with.
    pub fn new(connection: &Connection, timing: &Timing) -> Option<Self> {
        let key = connection.api_key.clone()?;
        Some(Self {
            client: crate::http::client(),
            endpoint: format!("{}/graphql", connection.base_url),
            host: connection.host(),
            key,
            timing: timing.clone(),
        })
    }

    /// The run, or None while W&B does not know it (the project may not exist yet either).
    pub async fn run(&self, entity: &str, project: &str, name: &str) -> Result<Option<RunInfo>, ApiError> {
        let data = self.query("run", RUN_QUERY, json!({"entity": entity, "project": project, "name": name})).await?;
        let run = &data["project"]["run"];
        if run.is_null() {
            return Ok(None);
        }
        let Some(state) = run["state"].as_str() else {
            return Err(self.invalid("run", format!("run without a state: {}", excerpt(&run.to_string()))));
        };
        Ok(Some(RunInfo {
            state: state.to_string(),
            summary: json_string(&run["summaryMetrics"]),
            history_lines: run["historyLineCount"].as_i64(),
        }))
    }

    /// History rows as JSON text, one per sampled step.
    pub async fn history(
        &self,
        entity: &str,
        project: &str,
        name: &str,
        samples: i64,
    ) -> Result<Vec<String>, ApiError> {
        let variables = json!({"entity": entity, "project": project, "name": name, "samples": samples});
        let data = self.query("history", HISTORY_QUERY, variables).await?;
        let Some(rows) = data["project"]["run"]["history"].as_array() else {
            return Err(self.invalid("history", "no history array in the answer".into()));
        };
        Ok(rows.iter().filter_map(json_string).collect())
    }

    /// The entity runs go to when none is configured: the key owner's default.
    pub async fn default_entity(&self) -> Result<String, ApiError> {
        let data = self.query("viewer", VIEWER_QUERY, json!({})).await?;
        match data["viewer"]["entity"].as_str() {
            Some(entity) if !entity.is_empty() => Ok(entity.to_string()),
            _ => Err(self.invalid("viewer", "the API key has no default entity; set metrics.entity".into())),
        }
    }

    /// One page of project names and the cursor of the next page.
    pub async fn projects_page(
        &self,
        entity: &str,
        cursor: Option<&str>,
    ) -> Result<(Vec<String>, Option<String>), ApiError> {
        let data = self.query("projects", PROJECTS_QUERY, json!({"entity": entity, "cursor": cursor})).await?;
        let models = &data["models"];
        let Some(edges) = models["edges"].as_array() else {
            return Err(self.invalid("projects", format!("no projects list for entity '{entity}'")));
        };
        let names = edges.iter().filter_map(|e| e["node"]["name"].as_str().map(str::to_string)).collect();
        let next = if models["pageInfo"]["hasNextPage"].as_bool() == Some(true) {
            models["pageInfo"]["endCursor"].as_str().map(str::to_string)
        } else {
            None
        };
        Ok((names, next))
    }

    /// Summaries (JSON text) of the most recent runs of a project.
    pub async fn recent_summaries(&self, entity: &str, project: &str, first: i64) -> Result<Vec<String>, ApiError> {
        let data =
            self.query("runs", RUNS_QUERY, json!({"entity": entity, "project": project, "first": first})).await?;
        if data["project"].is_null() {
            return Err(ApiError::Query {
                endpoint: self.endpoint.clone(),
                what: "runs",
                message: format!("project '{entity}/{project}' not found"),
            });
        }
        let edges = data["project"]["runs"]["edges"].as_array().cloned().unwrap_or_default();
        Ok(edges.iter().filter_map(|e| json_string(&e["node"]["summaryMetrics"])).collect())
    }

    /// POSTs one query; returns its `data`.
    async fn query(&self, what: &'static str, query: &str, variables: Value) -> Result<Value, ApiError> {
        let body = json!({"query": query, "variables": variables});
        let mut pause = self.timing.backoff;
        let attempts = self.timing.attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let sent = self
                .client
                .post(&self.endpoint)
                .basic_auth("api", Some(&self.key))
                .timeout(self.timing.request)
                .json(&body)
                .send()
                .await;
            let failure = match sent {
                Err(e) => ApiError::Unreachable {
                    endpoint: self.endpoint.clone(),
                    attempts: attempt,
                    detail: crate::http::error_text(&e),
                },
                Ok(response) => {
                    let status = response.status().as_u16();
                    let text = match response.text().await {
                        Ok(text) => text,
                        Err(e) => {
                            return Err(self.invalid(
                                what,
                                format!("HTTP {status} with an unreadable body: {}", crate::http::error_text(&e)),
                            ));
                        }
                    };
                    match status {
                        200..=299 => return self.data(what, &text),
                        401 | 403 => {
                            return Err(ApiError::Unauthorized {
                                host: self.host.clone(),
                                endpoint: self.endpoint.clone(),
                                status,
                            });
                        }
                        429 | 500..=599 => ApiError::Server {
                            endpoint: self.endpoint.clone(),
                            status,
                            attempts: attempt,
                            body: excerpt(&text),
                        },
                        _ => {
                            return Err(ApiError::Server {
                                endpoint: self.endpoint.clone(),
                                status,
                                attempts: attempt,
                                body: excerpt(&text),
                            });
                        }
                    }
                }
            };
            if attempt >= attempts {
                return Err(failure);
            }
            tracing::debug!(%failure, attempt, "W&B request failed; retrying");
            tokio::time::sleep(pause).await;
            pause *= 2;
        }
    }

    fn data(&self, what: &'static str, text: &str) -> Result<Value, ApiError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| self.invalid(what, format!("not JSON ({e}): {}", excerpt(text))))?;
        let data = value.get("data").cloned().unwrap_or(Value::Null);
        let messages: Vec<&str> = value["errors"]
            .as_array()
            .map(|errors| errors.iter().filter_map(|e| e["message"].as_str()).collect())
            .unwrap_or_default();
        // GraphQL may answer partial data with errors; an unknown run is null data, not an error.
        if data.is_null() || (!messages.is_empty() && data.as_object().is_none_or(|o| o.values().all(Value::is_null))) {
            if messages.is_empty() {
                return Err(self.invalid(what, format!("no data: {}", excerpt(text))));
            }
            return Err(ApiError::Query { endpoint: self.endpoint.clone(), what, message: messages.join("; ") });
        }
        Ok(data)
    }

    fn invalid(&self, what: &'static str, detail: String) -> ApiError {
        ApiError::Invalid { endpoint: self.endpoint.clone(), what, detail }
    }
}

/// W&B sends JSON-typed fields as strings; tolerate servers that send them as objects.
fn json_string(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

fn excerpt(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(BODY_EXCERPT) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

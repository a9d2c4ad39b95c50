//! The provider families with wire formats of their own, by LiteLLM's names and variables:
//! Gemini (native generateContent), Azure OpenAI (deployment paths, `api-key` or an Entra ID
//! token), Bedrock (Converse, SigV4 verified by the fake with the test's keys, from variables
//! or a profile), Vertex AI (Gemini and Claude, with a service-account key whose RS256 JWT the
//! fake token endpoint verifies, and an application-default refresh token). For each, a whole
//! session makes a config change through a tool call, against a loopback fake that checks the
//! exact request and answers in the family's shapes — a throttling answer included, retried
//! the family's way. And a family whose required setting is missing is refused before the
//! baseline, with its revis.yaml line.

use revis_tests::TestEnv;
use revis_tests::fakes::bedrock::Signer;
use revis_tests::fakes::token::{RefreshGrant, ServiceAccount, TokenServer, write_key};
use revis_tests::fakes::{FakeLlm, Reply, change, config_edit, submit, tool_call};
use revis_tests::llm::{assert_no_violations, fake_key, llm_project};
use revis_tests::session::{iteration, pretty, state};
use serde_json::json;

fn lr_change() -> Reply {
    Reply::call(submit(change(
        "lr is at the worst end of its range",
        "a smaller lr lowers val_loss",
        vec![config_edit("config.json", "lr", json!(0.01))],
    )))
}

fn loopback() -> Vec<(String, String)> {
    vec![("NO_PROXY".into(), "127.0.0.1,localhost".into()), ("no_proxy".into(), "127.0.0.1,localhost".into())]
}

/// Runs a two-iteration session with `model` and `vars`, and checks it applied the change.
fn run_session(model: &str, vars: Vec<(String, String)>, fakes: &[&FakeLlm]) -> serde_json::Value {
    let env = TestEnv::new(llm_project(&[], &format!("llm:\n  model: {model}\n  max_retries: 2\n"), &[]));
    let mut all = loopback();
    all.extend(vars);
    env.start_llm_loop("family", &["--max-iterations", "2"], &all);
    let s = env.wait_ended("family");
    assert_eq!(state(&s), "completed", "{model}: {}", pretty(&s));
    assert_no_violations(fakes);
    let it = iteration(&s, 1).unwrap_or_default();
    assert_eq!(it["state"], "succeeded", "{model}: {}", pretty(&it));
    assert!(it["change"].to_string().contains("lr"), "{model}: the change was applied: {}", pretty(&it));
    let mut s = s;
    s["status_text"] = json!(env.revis_ok(&["show", "family"]));
    s
}

fn var(name: &str, value: impl Into<String>) -> (String, String) {
    (name.to_string(), value.into())
}

#[test]
fn gemini_runs_a_session_through_generate_content_with_signatures_echoed() {
    let key = fake_key("AIza");
    let fake = FakeLlm::gemini(&key);
    fake.script([
        // A quota 429 with the API's RetryInfo: waited out, then the same request again.
        Reply::error(429, "Resource has been exhausted (e.g. check quota).").body(json!({"error": {
            "code": 429, "message": "Resource has been exhausted (e.g. check quota).", "status": "RESOURCE_EXHAUSTED",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"}]}})),
        Reply::call(tool_call("read_file", json!({"path": "config.json"}))),
        lr_change(),
    ]);
    let s = run_session(
        "gemini/gemini-2.5-flash",
        vec![var("GEMINI_API_KEY", &key), var("GEMINI_API_BASE", fake.base_url())],
        &[&fake],
    );
    let requests = fake.requests();
    assert_eq!(requests.len(), 3, "the 429 was retried once, then two turns");
    assert!(requests[1].at.duration_since(requests[0].at).as_millis() >= 900, "RetryInfo's 1s was waited");
    for r in &requests {
        assert_eq!(r.path, "/v1beta/models/gemini-2.5-flash:generateContent");
        assert_eq!(r.header("x-goog-api-key"), Some(key.as_str()));
        assert!(r.body["tools"][0]["functionDeclarations"].as_array().is_some_and(|d| !d.is_empty()));
    }
    // The second turn answered read_file and replayed the call with its signature (the fake
    // refuses a replay without it, as Gemini 3 does).
    let results = requests[2].tool_results();
    assert_eq!(results.len(), 1, "{results:?}");
    assert_eq!(results[0].name.as_deref(), Some("read_file"));
    assert!(results[0].content.contains("lr"), "{results:?}");
    assert!(requests[2].raw.contains("thoughtSignature"), "the signature went back");
    // The API sent the call without an id: none goes back (Revis's own ids stay inside).
    assert!(!requests[2].raw.contains("revis-call"), "{}", requests[2].raw);
    assert!(
        s["spend"]["llm_usd"].as_f64().is_some_and(|usd| usd > 0.0),
        "priced from the table: {}",
        pretty(&s["spend"])
    );
}

#[test]
fn azure_openai_runs_sessions_with_an_api_key_and_with_an_entra_token() {
    let key = fake_key("az");
    let fake = FakeLlm::azure(&key, "gpt4o-prod");
    fake.push(lr_change());
    let s = run_session(
        "azure/gpt4o-prod",
        vec![
            var("AZURE_API_KEY", &key),
            var("AZURE_API_BASE", fake.base_url()),
            var("AZURE_API_VERSION", "2024-10-21"),
        ],
        &[&fake],
    );
    let request = &fake.requests()[0];
    assert_eq!(request.path, "/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21");
    assert_eq!(request.header("api-key"), Some(key.as_str()));
    assert_eq!(request.header("authorization"), None, "the key goes in api-key only");
    assert!(request.body.get("max_completion_tokens").is_some(), "{}", request.raw);
    // A deployment named freely has no price: its spend is unknown, never $0.
    assert_eq!(s["spend"]["llm_unpriced_calls"], 1, "{}", pretty(&s["spend"]));
    let text = s["status_text"].as_str().unwrap_or_default();
    assert!(text.contains("unknown LLM (1 call at unknown prices"), "{text}");

    let token = fake_key("eyJ0eXAiOiJKV1Qi");
    let fake = FakeLlm::azure_entra(&token, "gpt4o-prod");
    fake.push(Reply::error(429, "Rate limit is exceeded. Try again in 1 seconds.").header("retry-after", "1"));
    fake.push(lr_change());
    run_session(
        "azure/gpt4o-prod",
        vec![var("AZURE_AD_TOKEN", &token), var("AZURE_API_BASE", fake.base_url())],
        &[&fake],
    );
    let requests = fake.requests();
    assert_eq!(requests.len(), 2, "the 429 was retried");
    assert!(requests[0].path.ends_with("?api-version=2025-02-01-preview"), "LiteLLM's default: {}", requests[0].path);
    assert_eq!(requests[1].header("authorization"), Some(format!("Bearer {token}").as_str()));
}

fn signer(session_token: Option<&str>) -> Signer {
    Signer {
        access_key_id: format!("AKIA{}", fake_key("T").len()),
        secret_access_key: fake_key("wJalrXUtnFEMI/K7MDENG"),
        session_token: session_token.map(str::to_string),
        region: "us-west-2".into(),
    }
}

#[test]
fn bedrock_runs_sessions_signed_from_variables_and_from_a_profile() {
    let keys = signer(Some("FwoGZXIvYXdzEXAMPLE"));
    let fake = FakeLlm::bedrock(keys.clone());
    fake.script([Reply::error(429, "Too many requests, please wait before trying again."), lr_change()]);
    let model = "anthropic.claude-3-5-sonnet-20240620-v1:0";
    run_session(
        &format!("bedrock/{model}"),
        vec![
            var("AWS_ACCESS_KEY_ID", &keys.access_key_id),
            var("AWS_SECRET_ACCESS_KEY", &keys.secret_access_key),
            var("AWS_SESSION_TOKEN", keys.session_token.clone().unwrap_or_default()),
            var("AWS_REGION_NAME", "us-west-2"),
            var("AWS_BEDROCK_RUNTIME_ENDPOINT", fake.base_url()),
        ],
        &[&fake],
    );
    let requests = fake.requests();
    assert_eq!(requests.len(), 2, "the ThrottlingException was retried");
    assert_eq!(requests[0].status, 429);
    assert_eq!(requests[1].path, "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse");
    assert_eq!(requests[1].model(), model);
    assert!(requests[1].header("authorization").is_some_and(|a| a.starts_with("AWS4-HMAC-SHA256 Credential=")));

    // The same from a named profile in the shared files, the region from the config file.
    let keys = signer(None);
    let fake = FakeLlm::bedrock(keys.clone());
    fake.script([Reply::error(503, "Bedrock is unable to process your request."), lr_change()]);
    let dir = tempfile::tempdir().expect("dir");
    let credentials = write_key(
        dir.path(),
        "credentials",
        &format!(
            "[default]\naws_access_key_id = AKIAWRONG\naws_secret_access_key = wrong\n\n[research]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            keys.access_key_id, keys.secret_access_key
        ),
    );
    let config = write_key(dir.path(), "config", "[profile research]\nregion = us-west-2\n");
    run_session(
        "bedrock/converse/meta.llama3-1-70b-instruct-v1:0",
        vec![
            var("AWS_PROFILE", "research"),
            var("AWS_SHARED_CREDENTIALS_FILE", credentials.display().to_string()),
            var("AWS_CONFIG_FILE", config.display().to_string()),
            var("AWS_BEDROCK_RUNTIME_ENDPOINT", fake.base_url()),
        ],
        &[&fake],
    );
    let requests = fake.requests();
    assert_eq!(requests.len(), 2, "the ServiceUnavailableException was retried");
    assert_eq!(requests[0].status, 503);
    assert_eq!(requests[1].model(), "meta.llama3-1-70b-instruct-v1:0");
}

#[test]
fn vertex_ai_runs_gemini_with_a_service_account_and_claude_with_application_default_credentials() {
    let dir = tempfile::tempdir().expect("dir");
    let account = ServiceAccount::generate(dir.path(), "revis-test@proj-vtx.iam.gserviceaccount.com");
    let access = fake_key("ya29");
    let tokens = TokenServer::start(Some(&account), None, &access);
    let key_file = write_key(dir.path(), "sa.json", &account.key_json("proj-vtx", &tokens.token_uri()));
    let fake = FakeLlm::vertex_gemini("proj-vtx", "europe-west4", &access);
    fake.script([
        // An overloaded model's 503 in Google's shape, retried with google-genai's backoff.
        Reply::error(503, "The model is overloaded. Please try again later."),
        Reply::call(tool_call("read_file", json!({"path": "config.json"}))),
        lr_change(),
    ]);
    run_session(
        "vertex_ai/gemini-2.5-pro",
        vec![
            var("GOOGLE_APPLICATION_CREDENTIALS", key_file.display().to_string()),
            var("VERTEXAI_LOCATION", "europe-west4"),
            var("VERTEXAI_API_BASE", fake.base_url()),
        ],
        &[&fake],
    );
    assert!(tokens.refused().is_empty(), "{:?}", tokens.refused());
    assert!(tokens.issued() >= 1);
    let requests = fake.requests();
    assert_eq!(requests.len(), 3, "the 503 was retried, then the tool call and the change");
    assert_eq!(requests[0].status, 503);
    assert_eq!(requests[1].raw, requests[0].raw, "the retry is the same request");
    assert_eq!(
        requests[1].path,
        "/v1/projects/proj-vtx/locations/europe-west4/publishers/google/models/gemini-2.5-pro:generateContent",
        "the project came from the key file"
    );

    let grant = RefreshGrant {
        client_id: "764086051850-fake.apps.googleusercontent.com".into(),
        client_secret: fake_key("d-FL95Q"),
        refresh_token: fake_key("1//0refresh"),
    };
    let access = fake_key("ya29.user");
    let tokens = TokenServer::start(None, Some(grant.clone()), &access);
    let fake = FakeLlm::vertex_claude("proj-user", "us-east5", &access);
    // Vertex's own quota answer is Google's error shape, not Anthropic's: retried all the same.
    let quota = "Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_base_model with base \
                 model: anthropic-claude-sonnet-4-5. Please submit a quota increase request.";
    fake.push(
        Reply::error(429, quota)
            .body(json!({"error": {"code": 429, "message": quota, "status": "RESOURCE_EXHAUSTED"}})),
    );
    fake.push(lr_change());
    run_session(
        "vertex_ai/claude-sonnet-4-5@20250929",
        vec![
            var("VERTEXAI_CREDENTIALS", grant.key_json(&tokens.token_uri())),
            var("VERTEXAI_PROJECT", "proj-user"),
            var("VERTEXAI_LOCATION", "us-east5"),
            var("VERTEXAI_API_BASE", fake.base_url()),
        ],
        &[&fake],
    );
    assert!(tokens.refused().is_empty(), "{:?}", tokens.refused());
    let requests = fake.requests();
    assert_eq!(requests.len(), 2, "the quota 429 was retried");
    assert_eq!(requests[0].status, 429);
    let request = &requests[1];
    assert_eq!(
        request.path,
        "/v1/projects/proj-user/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929:rawPredict"
    );
}

#[test]
fn a_family_missing_a_required_setting_is_refused_before_the_baseline() {
    let cases = [
        ("llm:\n  model: azure/gpt4o-prod\n", vec![var("AZURE_API_KEY", "k")], "AZURE_API_BASE", "llm.model"),
        (
            "llm:\n  model: openai/gpt-4.1\n  fallback:\n    - bedrock/anthropic.claude-3-5-haiku-20241022-v1:0\n",
            vec![var("OPENAI_API_KEY", "k"), var("AWS_ACCESS_KEY_ID", "AKIA"), var("AWS_SECRET_ACCESS_KEY", "s")],
            "AWS_REGION",
            "llm.fallback",
        ),
        (
            "llm:\n  model: vertex_ai/gemini-2.5-pro\n",
            vec![var(
                "VERTEXAI_CREDENTIALS",
                r#"{"type":"authorized_user","client_id":"c","client_secret":"s","refresh_token":"r"}"#,
            )],
            "VERTEXAI_PROJECT",
            "llm.model",
        ),
    ];
    for (yaml, vars, wanted, key) in cases {
        let env = TestEnv::new(llm_project(&[], yaml, &[]));
        let out = env.revis_env(&["loop", "--name", "never", "--advisor", "llm"], &vars);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "refused: {err}");
        assert!(err.contains("revis.yaml:") && err.contains(key) && err.contains(wanted), "{wanted}: {err}");
        let list = env.revis_ok(&["list"]);
        assert!(!list.contains("never"), "no session, no baseline: {list}");
    }
    // A missing key alone still starts (the session pauses until one is given).
    let env = TestEnv::new(llm_project(&[], "llm:\n  model: gemini/gemini-2.5-flash\n", &[]));
    let out = env.revis_env(&["loop", "--name", "keyless", "--advisor", "search"], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn the_bedrock_fake_refuses_a_wrong_key_a_changed_body_and_a_missing_token() {
    use revis_fixtures::http::HttpRequest;
    use revisd::advisor::llm::aws::Keys;
    use revisd::advisor::llm::bedrock::signature;
    let good = signer(Some("tok"));
    let request = |keys: &Keys, signed_body: &str, sent_body: &str| {
        let url = "http://127.0.0.1:9/model/m%3A0/converse";
        let mut headers =
            vec![("host".to_string(), "127.0.0.1:9".to_string()), ("content-type".into(), "application/json".into())];
        let signed =
            signature(keys, "us-west-2", url, signed_body.as_bytes(), std::time::SystemTime::now()).expect("signed");
        headers.extend(signed);
        HttpRequest {
            method: "POST".into(),
            path: "/model/m%3A0/converse".into(),
            headers,
            body: sent_body.as_bytes().to_vec(),
        }
    };
    let keys = Keys {
        access_key_id: good.access_key_id.clone(),
        secret_access_key: good.secret_access_key.clone(),
        session_token: good.session_token.clone(),
    };
    let verify = |req: &HttpRequest| revis_tests::fakes::bedrock::verify(&good, req, std::time::SystemTime::now());
    assert!(verify(&request(&keys, "{}", "{}")).is_ok());
    let wrong = Keys { secret_access_key: "other".into(), ..keys.clone() };
    assert!(verify(&request(&wrong, "{}", "{}")).is_err_and(|v| v.message.contains("does not match")));
    assert!(verify(&request(&keys, "{}", "{ }")).is_err(), "a changed body");
    let no_token = Keys { session_token: None, ..keys.clone() };
    assert!(verify(&request(&no_token, "{}", "{}")).is_err(), "no session token");
}

//! `revis ui`: the dashboard. The daemon serves it on 127.0.0.1 (starting to when asked); this
//! prints its address with the access token, as Jupyter does, and opens it in a browser.

use std::process::{Command, ExitCode, Stdio};

use clap::Args;
use revis_proto::v1::OpenUiRequest;

use super::{Context, out};
use crate::error::CliError;

/// Open the dashboard: every session live in a browser (served on 127.0.0.1 by revisd).
#[derive(Debug, Args)]
pub struct UiArgs {
    /// Serve on this port (default: the port it is served on, else a free one).
    #[arg(long)]
    pub port: Option<u16>,
    /// Print the address only; do not start a browser.
    #[arg(long)]
    pub no_open: bool,
}

pub async fn run(ctx: &Context, args: UiArgs) -> Result<ExitCode, CliError> {
    let mut conn = ctx.connect().await?;
    let request = OpenUiRequest { port: u32::from(args.port.unwrap_or(0)) };
    let reply = conn.client.open_ui(request).await?.into_inner();
    out(&format!(
        "The dashboard is served by revisd at\n    {}\nThe address carries its access token: keep it to yourself. Over SSH: ssh -L {port}:127.0.0.1:{port} <host>\n",
        reply.url,
        port = reply.port
    ))?;
    if !args.no_open
        && let Some(opener) = browser()
    {
        // A browser that fails to start is not an error: the address is printed.
        let _ = Command::new(&opener)
            .arg(&reply.url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
    }
    Ok(ExitCode::SUCCESS)
}

/// `$BROWSER`, else `xdg-open` where a display is there to open it on (or `open` on macOS).
fn browser() -> Option<String> {
    if let Some(browser) = std::env::var("BROWSER").ok().filter(|b| !b.trim().is_empty()) {
        return Some(browser);
    }
    if cfg!(target_os = "macos") {
        return Some("open".to_string());
    }
    let display = ["DISPLAY", "WAYLAND_DISPLAY"].iter().any(|v| std::env::var_os(v).is_some_and(|d| !d.is_empty()));
    display.then(|| "xdg-open".to_string())
}

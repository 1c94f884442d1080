//! The `liveroom` binary: load settings, build the app, serve until stopped.

use liveroom::{settings::Settings, startup::Application, telemetry};

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    telemetry::init();
    let settings = Settings::load()?;
    let app = Application::build(settings).await?;
    app.run_until_stopped().await?;
    Ok(())
}

//! `pictor-test-idp`: runs the test OpenID Connect provider (for the end-to-end suite and local trials).

use clap::Parser;
use pictor_test_idp::{Client, TestIdp};

/// A local OpenID Connect provider for tests. Never use it for real sign-ins.
#[derive(Parser)]
struct Args {
    /// Address to listen on; the issuer is `http://<address>`.
    #[arg(long, default_value = "127.0.0.1:3199")]
    listen: std::net::SocketAddr,
    #[arg(long, default_value = "pictor-test")]
    client_id: String,
    #[arg(long, default_value = "pictor-test-secret")]
    client_secret: String,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("pictor-test-idp: error: cannot listen on {}: {error}", args.listen);
            std::process::exit(1);
        }
    };
    match TestIdp::start(listener, Client { id: args.client_id, secret: args.client_secret }).await {
        Ok(idp) => {
            println!("test identity provider ready at {}", idp.issuer());
            idp.wait().await;
        }
        Err(error) => {
            eprintln!("pictor-test-idp: error: {error}");
            std::process::exit(1);
        }
    }
}

//! Petra (Aptos wallet) sign-in in the browser: Sign in with Aptos in one step where the wallet offers it, else
//! connect, ask the coordinator for a nonce, sign the message, verify.

/// Shown when no Aptos wallet is injected into the page.
pub const NO_WALLET: &str = "No Aptos wallet found in this browser. Install Petra from https://petra.app and reload.";

#[cfg(feature = "hydrate")]
pub use browser::sign_in_with_petra;

#[cfg(feature = "hydrate")]
mod browser {
    use gloo_net::http::Request;
    use pictor_core::signin::{SignInInput, WalletChallenge, WalletProof};
    use serde::{Deserialize, Serialize};
    use wasm_bindgen::prelude::*;
    use wasm_bindgen::JsCast;

    #[wasm_bindgen]
    extern "C" {
        /// The wallet Petra injects as `window.aptos` (older builds: `window.petra`).
        type AptosWallet;

        #[wasm_bindgen(method, catch)]
        async fn connect(this: &AptosWallet) -> Result<JsValue, JsValue>;

        #[wasm_bindgen(method, catch)]
        async fn account(this: &AptosWallet) -> Result<JsValue, JsValue>;

        #[wasm_bindgen(method, catch, js_name = signMessage)]
        async fn sign_message(this: &AptosWallet, request: JsValue) -> Result<JsValue, JsValue>;
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Account {
        address: String,
        public_key: String,
    }

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct SignMessageRequest {
        message: String,
        nonce: String,
        address: bool,
        application: bool,
        chain_id: bool,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct SignedMessage {
        full_message: String,
        signature: String,
    }

    #[derive(Deserialize)]
    struct Verified {
        redirect: String,
    }

    #[derive(Deserialize)]
    struct ErrorBody {
        error: String,
    }

    fn find_wallet() -> Option<AptosWallet> {
        let window = leptos::prelude::window();
        ["aptos", "petra"].iter().find_map(|name| {
            let value = js_sys::Reflect::get(&window, &JsValue::from_str(name)).ok()?;
            (!value.is_undefined() && !value.is_null()).then(|| value.unchecked_into::<AptosWallet>())
        })
    }

    fn wallet_error(context: &str, error: JsValue) -> String {
        let detail = js_sys::Reflect::get(&error, &JsValue::from_str("message"))
            .ok()
            .and_then(|message| message.as_string())
            .or_else(|| error.as_string())
            .unwrap_or_else(|| "the wallet refused".to_string());
        format!("{context}: {detail}")
    }

    async fn post<T: for<'de> Deserialize<'de>>(url: &str, body: &impl Serialize) -> Result<T, String> {
        let response = Request::post(url)
            .json(body)
            .map_err(|error| error.to_string())?
            .send()
            .await
            .map_err(|error| format!("cannot reach Pictor: {error}"))?;
        if response.ok() {
            response.json::<T>().await.map_err(|error| error.to_string())
        } else {
            let status = response.status();
            Err(response.json::<ErrorBody>().await.map_or_else(|_| format!("sign-in failed ({status})"), |b| b.error))
        }
    }

    /// Runs the whole wallet sign-in (or, with `link`, links the wallet to the signed-in account) and
    /// returns where to go next.
    pub async fn sign_in_with_petra(link: bool) -> Result<String, String> {
        use crate::components::aptos_sign_in::{find_sign_in_wallet, sign_in};
        if let Some(wallet) = find_sign_in_wallet() {
            let input: SignInInput = post("/auth/siwa/input", &serde_json::json!({ "link": link })).await?;
            let proof = sign_in(&wallet, &input).await?;
            let verified: Verified = post("/auth/siwa/verify", &proof).await?;
            return Ok(verified.redirect);
        }
        let wallet = find_wallet().ok_or_else(|| super::NO_WALLET.to_string())?;
        wallet.connect().await.map_err(|e| wallet_error("Petra did not connect", e))?;
        let account = wallet.account().await.map_err(|e| wallet_error("Petra did not share the account", e))?;
        let account: Account =
            serde_wasm_bindgen::from_value(account).map_err(|_| "Petra returned an account without a public key")?;
        let challenge: WalletChallenge =
            post("/auth/petra/challenge", &serde_json::json!({ "address": account.address, "link": link })).await?;
        let request = SignMessageRequest {
            message: challenge.message,
            nonce: challenge.nonce.clone(),
            address: true,
            application: true,
            chain_id: true,
        };
        let request = serde_wasm_bindgen::to_value(&request).map_err(|e| e.to_string())?;
        let signed = wallet.sign_message(request).await.map_err(|e| wallet_error("The message was not signed", e))?;
        let signed: SignedMessage =
            serde_wasm_bindgen::from_value(signed).map_err(|_| "Petra returned a signature in an unknown form")?;
        let proof = WalletProof {
            address: account.address,
            public_key: account.public_key,
            full_message: signed.full_message,
            signature: signed.signature,
            nonce: challenge.nonce,
        };
        let verified: Verified = post("/auth/petra/verify", &proof).await?;
        Ok(verified.redirect)
    }
}
